import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files, as under tools/run_stage.py
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TINY = dict(n_train=60, n_val=30, n_test=30)


@pytest.fixture(scope="session")
def tiny_avdigits(tmp_path_factory) -> Path:
    """A small AV-Digits generated once per test session (a few seconds)."""
    from avlib.data.embedded.avdigits import AVDigitsConfig, generate

    root = tmp_path_factory.mktemp("avdigits") / "avdigits"
    generate(root, AVDigitsConfig(**TINY), progress=False)
    return root
