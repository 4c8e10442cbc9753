"""Keep a QA run's large tensors on the heap, where freed memory is reused, instead of in fresh mappings.

glibc serves every allocation above its mmap threshold (it adapts up to 32 MiB) with a new mapping and unmaps
it on free, so the pages of each such tensor are faulted in and zeroed by the kernel again. A QA evaluation
batch of 256 AV-Scenes questions gathers 84 MB of float32 maps (and AVST copies them once more for its
per-position projection): without this, a single-threaded AVST run spends ~9 s of its ~150 s CPU in the kernel
(issue #28, profiled per phase), a question-only run ~3 s of ~25 s. Raising the thresholds keeps those blocks
in the heap and reuses them.

Allocator settings only: what is computed, and so every reported number, is bit-identical. It lives in the QA
family, which it was measured for, and is set by `train` in the process that runs it (a pool worker or the
kernel); elsewhere (not glibc) it does nothing.
"""

from avlib.core.memory import keep_freed_memory

MMAP_THRESHOLD = 256 << 20  # above the largest block a QA run allocates on AV-Scenes (84 MB)
TRIM_THRESHOLD = 512 << 20  # free memory kept at the heap's top before it is handed back: bounds what is held


def keep_large_blocks() -> bool:
    """Raise glibc's mmap and trim thresholds for this process to the QA family's (`avlib.core.memory`); True
    when the allocator took them, False where there is no `mallopt` or it refused them (nothing changes then)."""
    return keep_freed_memory(MMAP_THRESHOLD, TRIM_THRESHOLD)
