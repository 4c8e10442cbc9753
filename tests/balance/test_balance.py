import pytest
import torch
import torch.nn.functional as F

from avlib.balance import METHODS, Balancer, OGMConfig, cross_entropy_per_run, method_config
from avlib.models import AVOutput


def test_cross_entropy_per_run_gives_each_run_the_gradient_of_its_own_mean_loss():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 8, 5, generator=g, requires_grad=True)
    targets = torch.randint(0, 5, (3, 8), generator=g)
    loss = cross_entropy_per_run(logits, targets)
    loss.backward()
    expected_loss = sum(F.cross_entropy(logits[r], targets[r]) for r in range(3))
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-6)  # a sum over runs, not a mean
    for r in range(3):
        one = logits[r].detach().clone().requires_grad_()
        F.cross_entropy(one, targets[r]).backward()
        torch.testing.assert_close(logits.grad[r], one.grad, rtol=1e-6, atol=1e-8)  # not scaled by 1/N


def test_cross_entropy_per_run_of_one_run_is_plain_cross_entropy():
    logits, targets = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    assert cross_entropy_per_run(logits, targets).item() == pytest.approx(F.cross_entropy(logits, targets).item())
    # bf16 logits (autocast) are lifted to float32 for the loss
    assert cross_entropy_per_run(logits.bfloat16(), targets).dtype == torch.float32


def test_plain_balancer_hooks_are_no_ops():
    b = Balancer()
    a, v = torch.randn(2, 3), torch.randn(2, 4)
    assert b.features(a, v, epoch=0) == (a, v)
    assert b.features(a, v, epoch=0, targets=torch.tensor([0, 1]), unimodal=None) == (a, v)
    out = AVOutput(torch.randn(2, 3))
    targets = torch.tensor([0, 2])
    assert b.loss(out, targets, 0).item() == pytest.approx(F.cross_entropy(out.logits, targets).item())
    assert b.after_backward(out, targets, 0) == {}
    assert b.epoch_end(0, {}) is None and b.epoch_end(0, {}, predict=None) is None


def test_method_config_by_name():
    assert METHODS["ogm_ge"] is OGMConfig and "ogm" in METHODS  # the full table: tests/balance/test_methods.py
    assert method_config("ogm_ge", alpha=0.3) == OGMConfig(alpha=0.3)
    with pytest.raises(ValueError, match="unknown balancing method 'ogm_g'"):
        method_config("ogm_g")
    with pytest.raises(ValueError, match="'ogm_ge'.*beta"):
        method_config("ogm_ge", beta=1)
