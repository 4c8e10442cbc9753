"""Keep freed memory in the process's heap instead of handing it back to the kernel after every step.

glibc serves a large allocation with a fresh mapping (and trims the heap's top) once it is freed, so the
activations a training step frees are faulted in and zeroed by the kernel again on the next step. Raising its
mmap and trim thresholds keeps them in the heap for reuse: a single-threaded AV-Digits concat run costs 1.14x
less (`make bench`, "per-run cost", 7 interleaved rounds, 2026-12-07) with the same trained weights.

Allocator settings only: what is computed, and so every reported number, is bit-identical. Set by `fit` in the
process that trains (a pool worker, the kernel, a torchrun rank), and by the AVTS and event-localization jobs'
`train` (1.05x and 1.02x per job there, the same results; AV-ASR's jobs gained nothing measurable and do not
call it); where there is no `mallopt` (not glibc) it does nothing. The QA family calls it with larger thresholds
(avlib/tasks/qa/memory.py).
"""

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def keep_freed_memory(mmap_bytes: int = 32 << 20, trim_bytes: int = 1 << 30) -> bool:
    """Blocks under `mmap_bytes` come from the heap; up to `trim_bytes` of free heap top is kept. True when the
    allocator took both, False where there is no `mallopt` or it refused them (nothing changes then)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, trim_bytes))
