"""One kernel family per library on every x86-64 machine with AVX2: the same training and probe bits everywhere.

`PINS` below: OpenBLAS, torch's ATen, oneDNN and MKL, and numpy's SIMD loops. The story of the first pin:

numpy's and scipy's OpenBLAS pick their kernels by CPU at load time (DYNAMIC_ARCH): on an AVX-512 machine the
SkylakeX kernels, on an AVX2 one Haswell's. Their float sums differ in the last bits, and scikit-learn's
L-BFGS logistic regression (`avlib.tasks.classify.probe`) turns that into a different prediction for one sample in a few
thousand: a probe accuracy 0.54 on one machine was 0.538 on another (seen between two of our machines,
same code, same data; torch's training was bit-identical). `OPENBLAS_CORETYPE=Haswell` makes every machine
with AVX2 use the same kernels. It must be in the environment before numpy loads: `tools/run_stage.py` sets
it before papermill starts the kernel (whose workers and torchrun ranks inherit it), and importing avlib
sets it for a process that has not loaded numpy yet. A machine without AVX2, or not x86-64, keeps its own
choice (the Haswell kernels would not run there), and a value the user set is kept. The other pins work the
same way (measurements: tests/test_cross_cpu.py and the commit that added them). The generated data does not
rely on them: avlib/data/synth/dsp.py makes the data path itself machine-independent.
"""

import os
import platform
import sys
from pathlib import Path

CORETYPE = "Haswell"

# Every kernel library that picks its code by CPU at load time, and the value that makes an x86-64 machine with
# AVX2 pick the same code as any other (measured by emulation, tests/test_cross_cpu.py): without them a few
# training steps give other weights on an AVX-512 machine than on an AVX2 one (ATen, oneDNN), on an Intel CPU
# than on an AMD one (MKL's sgemm), and numpy's float64 exp/log (scikit-learn's probes) differ with AVX-512.
PINS = {
    "OPENBLAS_CORETYPE": CORETYPE,  # numpy/scipy's OpenBLAS: the linear probes (L-BFGS)
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels (Sleef, reductions)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions
    "MKL_CBWR": "COMPATIBLE",  # torch's MKL: sgemm, FFT, LAPACK take one code path on Intel and AMD
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops (float64 exp, log)
}


def has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return False


def pin_kernels(environ=os.environ, report: bool = True) -> dict:
    """Set each of PINS (unless the user set it already) where it can be honoured: x86-64 with AVX2. Returns
    {variable: value in force, or None}. Where it cannot (another CPU), nothing is set and one line on stderr
    says so; a variable the user set is kept. Must run before numpy and torch load (their kernels are picked
    then): `tools/run_stage.py` calls it before papermill starts the kernel, importing avlib calls it too."""
    if platform.machine() in ("x86_64", "AMD64") and has_avx2():
        for name, value in PINS.items():
            environ.setdefault(name, value)
    elif report and not environ.get("AVLAB_PIN_REPORTED"):
        environ["AVLAB_PIN_REPORTED"] = "1"  # one line per process tree, not one per import
        print(f"avlib: CPU kernels not pinned ({platform.machine()} without AVX2): {', '.join(PINS)} left as set "
              "(numbers may differ in the last bits from an x86-64 AVX2 machine)", file=sys.stderr)
    return {name: environ.get(name) for name in PINS}


def cpu() -> dict:
    """The CPU that computed a result, as far as its bits can depend on it: vendor and model, the vector
    extensions the pins cap (their presence, not their use) and the per-core cache sizes, which some of oneDNN's
    kernels block by (tools/cross_cpu_audit.py: the same pins, other bits on another CPU). Linux; elsewhere
    the platform's own string."""
    info = {"model": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        flags = set(fields.get("flags", "").split())
        info = {"vendor": fields.get("vendor_id", ""), "model": fields.get("model name", info["model"]),
                "extensions": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]}
        caches = Path("/sys/devices/system/cpu/cpu0/cache")
        for index in sorted(caches.glob("index*")):
            kind = (index / "type").read_text().strip()
            if kind != "Instruction":
                info[f"L{(index / 'level').read_text().strip()}"] = (index / "size").read_text().strip()
    except (OSError, ValueError):
        pass
    return info
