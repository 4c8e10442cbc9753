import os
from pathlib import Path

import pytest
from fixtures.avdigits import TINY

# pyproject's [tool.pytest.ini_options] pythonpath puts the project root, tests/ and tools/ on sys.path.
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files, as under tools/run_stage.py


@pytest.fixture(scope="session")
def tiny_avdigits(tmp_path_factory) -> Path:
    """A small AV-Digits generated once per test session (a few seconds)."""
    from avlib.data.embedded.avdigits import AVDigitsConfig, generate

    root = tmp_path_factory.mktemp("avdigits") / "avdigits"
    generate(root, AVDigitsConfig(**TINY), progress=False)
    return root


def pytest_configure(config):
    # registered here, not in pyproject.toml: pyproject is a dependency of every pipeline stage
    config.addinivalue_line("markers", "serial: watches whole process trees die within seconds; run alone after "
                                       "the parallel suite (make test)")
