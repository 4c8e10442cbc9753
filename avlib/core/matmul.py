"""torch's CPU matrix products through numpy's OpenBLAS: the same bits on Intel and AMD at MKL's full speed.

torch's CPU `mm`, `addmm` and `bmm` (every `nn.Linear`, LSTM/GRU gate, attention `einsum`, and their gradients)
call MKL's sgemm. MKL gives Intel and AMD CPUs the same bits only on its COMPATIBLE path (`MKL_CBWR`, pinned in
`avlib/core/pins.py`), 2.6-3.8x slower per product than MKL's own choice on the AMD EPYCs here. numpy's OpenBLAS
is pinned to its Haswell kernels (`OPENBLAS_CORETYPE`), which every x86-64 CPU with AVX2 runs, and at the QA and
AV-ASR layers' shapes they run as fast as MKL's own choice. Inside `openblas_matmuls()` those three ops run there,
with OpenBLAS held to one thread: its threaded kernels split the sums differently, and change the bits with the
thread count (measured: 1 vs 2 threads, one GRU epoch). Measured by `make bench` ("MKL pin's cost", "QA training
step") and tests/core/test_cross_cpu.py (the same bits under an emulated Intel MKL; other bits without the
OpenBLAS pin).

Used by the trainings whose time is mostly matrix products: the QA, AV-ASR and event-localization families and
AV-Scenes' modality probes. The convolutional ones (the AV-Digits classifiers, Table 2's clip models, AVTS) spend
theirs in oneDNN and gained nothing. The MKL pin stays: torch also takes unary ops (tanh, sigmoid) from MKL's VML.
CUDA tensors are not touched (the override is registered for the CPU dispatch key only).
"""

import contextlib
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

NUMPY_DTYPES = (torch.float32, torch.float64)
_state = {"depth": 0, "library": None, "calls": 0}


def _blas_operand(t: torch.Tensor) -> np.ndarray:
    """`t` as an array BLAS takes without numpy's own (slower) loop: row-major or transposed row-major."""
    t = t.detach().resolve_conj().resolve_neg()
    if not (t.is_contiguous() or t.mT.is_contiguous()):
        t = t.contiguous()
    return t.numpy()


def _product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    _state["calls"] += 1
    if a.dtype in NUMPY_DTYPES and b.dtype == a.dtype:
        return torch.from_numpy(np.matmul(_blas_operand(a), _blas_operand(b)))
    # another dtype (none of the families trains in one): float64 products, cast back
    return _product(a.double(), b.double()).to(torch.promote_types(a.dtype, b.dtype))


def mm(a, b):
    return _product(a, b)


def bmm(a, b):
    return _product(a, b)


def addmm(c, a, b, *, beta=1, alpha=1):
    out = _product(a, b)
    if alpha != 1:
        out.mul_(alpha)
    if beta == 0:  # torch's rule: c is ignored, NaN included
        return out
    return out.add_(c if beta == 1 else c * beta)


OPS = {"mm": mm, "addmm": addmm, "bmm": bmm}


@contextlib.contextmanager
def openblas_matmuls():
    """Route torch's CPU mm/addmm/bmm through numpy's OpenBLAS on one thread while inside (re-entrant; also a
    decorator). The numbers differ from MKL's in the last bits, so a stage that starts using it re-runs."""
    if _state["depth"] == 0:
        library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # "Overriding a previously registered kernel": that is the point
            warnings.simplefilter("ignore", UserWarning)
            for name, fn in OPS.items():
                library.impl(name, fn, "CPU")
        _state["library"] = library
    _state["depth"] += 1
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            _state["library"]._destroy()  # MKL's kernels are back
            _state["library"] = None
