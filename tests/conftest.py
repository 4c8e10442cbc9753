import os
import sys

# The kernel pins (avlib/core/pins.py) before any test module loads numpy or torch: a test module that imports
# pandas or torch before avlib would otherwise get the machine's own kernels, and its in-process numbers would
# not match the stages' (pinned) ones on an AVX-512 machine (seen on an Intel Xeon: an AVST loss 3.5041220 in
# the notebook, 3.5041222 retrained in the test process).
assert "numpy" not in sys.modules and "torch" not in sys.modules, "conftest must load before numpy and torch"
from avlib.core.pins import pin_kernels  # noqa: E402

pin_kernels()

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from fixtures.avdigits import TINY  # noqa: E402

# pyproject's [tool.pytest.ini_options] pythonpath puts the project root, tests/ and tools/ on sys.path.
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files, as under tools/run_stage.py
# Under pytest-xdist (`make test`: one test process per core) every torch would otherwise start one OpenMP thread
# per core, as would the notebook kernels and torchrun ranks the tests launch: on 2 cores that oversubscribes
# the machine and the spinning threads burn each other's CPU (a t4_ave + AVTS subset: 114 -> 71 CPU-s, 63 ->
# 50 s wall). Set before any test module imports torch; children inherit it. Tests that need more threads
# ask for them explicitly (torch.set_num_threads).
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"


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
