"""The runtime every run starts from: seeding, the device, one thread per run.

Floor 1 of avlib (it imports nothing of avlib): `seed_everything` before a model is built, `pick_device`
for "auto", and `single_threaded` around every run on the CPU, so that a run's numerics do not depend on
how many cores the machine has or how many runs share them. The kernel pins that must be set before
numpy loads live in `avlib.core.pins`.
"""

import os
import random
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def single_threaded():
    """One intra-op thread for torch and for BLAS (scikit-learn's probe): the numerics of a run then do
    not depend on how many cores the machine has or how many runs share them."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed every generator and ask for deterministic kernels: same seed, same bits (on one device type)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism needs it
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds third-party code that draws from the legacy global RNG
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new tensor with NaN, a guard against kernels that read memory they
    # never wrote. None of ours does (the weights of a run are bit-identical with and without it, checked in
    # `make bench`, per-run cost), and the fill cost ~8% of a CPU run: every activation, page-faulted in.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = False
