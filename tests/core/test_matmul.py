"""torch's CPU products through numpy's OpenBLAS (avlib/core/matmul.py): the same maths, routed only inside the
context, on one BLAS thread whatever the caller asked for."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from avlib.core import matmul
from avlib.core.matmul import openblas_matmuls


def _calls() -> int:
    return matmul._state["calls"]


def test_linear_forward_and_backward_match_float64_and_run_through_openblas():
    torch.manual_seed(0)
    x, layer = torch.randn(9, 6, requires_grad=True), torch.nn.Linear(6, 4)
    before = _calls()
    with openblas_matmuls():
        y = layer(x)
        y.pow(2).sum().backward()
    assert _calls() - before == 3  # addmm forward; mm for the input's and the weight's gradients
    w, b, x64 = layer.weight.double().detach(), layer.bias.double().detach(), x.double().detach()
    y64 = x64 @ w.T + b
    torch.testing.assert_close(y.double(), y64, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad.double(), 2 * y64 @ w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.weight.grad.double(), 2 * y64.T @ x64, rtol=1e-5, atol=1e-5)


def test_outside_the_context_torch_uses_its_own_kernels_again():
    a, b = torch.randn(5, 3), torch.randn(3, 2)
    with openblas_matmuls():
        inside = _calls()
        torch.mm(a, b)
        assert _calls() == inside + 1
    after = _calls()
    torch.mm(a, b), torch.bmm(a[None], b[None]), torch.addmm(torch.zeros(2), a, b)
    assert _calls() == after


def test_nested_contexts_keep_the_route_until_the_outermost_exits():
    a = torch.randn(4, 4)
    with openblas_matmuls():
        with openblas_matmuls():
            pass
        start = _calls()
        a @ a
        assert _calls() == start + 1
    start = _calls()
    a @ a
    assert _calls() == start


def test_as_a_decorator():
    @openblas_matmuls()
    def product(a, b):
        return a @ b

    start = _calls()
    product(torch.randn(3, 3), torch.randn(3, 3))
    assert _calls() == start + 1


def test_addmm_beta_alpha_and_torch_nan_rule():
    torch.manual_seed(1)
    c, a, b = torch.randn(4, 5), torch.randn(4, 3), torch.randn(3, 5)
    with openblas_matmuls():
        scaled = torch.addmm(c, a, b, beta=0.5, alpha=2.0)
        ignored = torch.addmm(torch.full((4, 5), float("nan")), a, b, beta=0)
        broadcast = torch.addmm(c[0], a, b)
    torch.testing.assert_close(scaled, 0.5 * c + 2.0 * (a @ b))
    torch.testing.assert_close(ignored, a @ b)
    torch.testing.assert_close(broadcast, c[0] + a @ b)


def test_strided_transposed_batched_and_other_dtypes():
    torch.manual_seed(2)
    a, b = torch.randn(6, 8), torch.randn(4, 5)
    x, y = torch.randn(3, 4, 5), torch.randn(3, 6, 5)
    ref_strided, ref_t = a[:, ::2] @ b, a.T[::2] @ a
    ref_bmm = torch.einsum("bij,bkj->bik", x, y)
    i, j = torch.arange(6).reshape(2, 3), torch.arange(12).reshape(3, 4)
    with openblas_matmuls():
        strided, transposed = a[:, ::2] @ b, a.T[::2] @ a
        batched = torch.einsum("bij,bkj->bik", x, y)
        doubles = a.double()[:, :4] @ b.double()
        ints = i @ j
    torch.testing.assert_close(strided, ref_strided)
    torch.testing.assert_close(transposed, ref_t)
    torch.testing.assert_close(batched, ref_bmm)
    torch.testing.assert_close(doubles, a.double()[:, :4] @ b.double())
    assert ints.dtype == torch.int64 and torch.equal(ints, torch.tensor(i.numpy() @ j.numpy()))


def test_openblas_is_held_to_one_thread_inside_whatever_the_caller_set():
    if not any(p["internal_api"] == "openblas" for p in threadpool_info()):
        pytest.skip("numpy is not built on OpenBLAS here")
    with threadpool_limits(2, user_api="blas"):
        with openblas_matmuls():
            inside = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert inside == {1}


def test_the_same_bits_as_numpy_on_one_thread():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((64, 200), dtype=np.float32), rng.standard_normal((200, 48), dtype=np.float32)
    with threadpool_limits(1, user_api="blas"):
        expected = a @ b
    with openblas_matmuls():
        got = torch.from_numpy(a) @ torch.from_numpy(b)
    assert np.array_equal(got.numpy(), expected)
