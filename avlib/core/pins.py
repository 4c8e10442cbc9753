"""One OpenBLAS kernel family on every x86-64 machine, so the linear probes give the same bits everywhere.

numpy's and scipy's OpenBLAS pick their kernels by CPU at load time (DYNAMIC_ARCH): on an AVX-512 machine the
SkylakeX kernels, on an AVX2 one Haswell's. Their float sums differ in the last bits, and scikit-learn's
L-BFGS logistic regression (`avlib.tasks.classify.probe`) turns that into a different prediction for one sample in a few
thousand: a probe accuracy 0.54 on one machine was 0.538 on another (seen between two of our machines,
same code, same data; torch's training was bit-identical). `OPENBLAS_CORETYPE=Haswell` makes every machine
with AVX2 use the same kernels. It must be in the environment before numpy loads: `tools/run_stage.py` sets
it before papermill starts the kernel (whose workers and torchrun ranks inherit it), and importing avlib
sets it for a process that has not loaded numpy yet. A machine without AVX2, or not x86-64, keeps its own
choice (the Haswell kernels would not run there), and a value the user set is kept.
"""

import os
import platform

CORETYPE = "Haswell"


def has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return False


def pin_kernels(environ=os.environ) -> str | None:
    """Set OPENBLAS_CORETYPE (unless already set) where Haswell kernels run; returns the value in force."""
    if "OPENBLAS_CORETYPE" not in environ and platform.machine() in ("x86_64", "AMD64") and has_avx2():
        environ["OPENBLAS_CORETYPE"] = CORETYPE
    return environ.get("OPENBLAS_CORETYPE")
