"""A tiny AV-Digits clips dataset, generated once per test session."""

import functools
import tempfile
from pathlib import Path

TINY = dict(n_train=24, n_val=12, n_test=12, seed=0)


@functools.cache
def tiny_avclips() -> Path:
    from avlib.data.embedded.avclips import AVClipsConfig, generate

    root = Path(tempfile.mkdtemp(prefix="avclips-")) / "avclips"
    generate(root, AVClipsConfig(**TINY), progress=False)
    return root
