"""avlib/core/memory.py: glibc keeps a run's freed memory; what a run computes does not change."""

import subprocess
import sys
from pathlib import Path

import pytest

from avlib.core.memory import keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import hashlib, sys, torch
import avlib.tasks.classify.fit as fit_module
from avlib.core.runtime import seed_everything, single_threaded
from avlib.data.embedded.avdigits import AVDigits
from avlib.models import build_classifier
if sys.argv[1] == "give_back":
    fit_module.keep_freed_memory = lambda: False  # glibc's own thresholds
g = torch.Generator().manual_seed(0)
data = {s: AVDigits.from_tensors(torch.randn(n, 1, 32, 51, generator=g), torch.randn(n, 1, 28, 28, generator=g),
                                 torch.arange(n) % 10) for s, n in (("train", 256), ("val", 64), ("test", 64))}
with single_threaded():
    seed_everything(0)
    model = build_classifier("concat", n_classes=10, encoder="small_cnn", width=8)
    result = fit_module.fit(model, data, fit_module.TrainConfig(epochs=2, batch_size=64, lr=0.05), progress=False)
weights = b"".join(t.detach().contiguous().numpy().tobytes() for t in model.state_dict().values())
print(hashlib.sha256(weights + repr(result.history).encode()).hexdigest())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_takes_the_thresholds():
    assert keep_freed_memory()


@pytest.mark.slow  # two fresh processes (~10 s): the setting is process-wide and cannot be undone in one
def test_a_run_trains_the_same_bits_whether_freed_memory_is_kept_or_given_back():
    digests = [subprocess.run([sys.executable, "-c", RUN, mode], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout.strip() for mode in ("keep", "give_back")]
    assert digests[0] == digests[1] and len(digests[0]) == 64
