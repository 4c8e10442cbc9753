"""`ge_only`: OGM-GE's GE noise without the modulation (k = 1), and OGM-GE/OGM left exactly as they were."""

import pytest
import torch
import torch.nn.functional as F

from avlib.balance import METHODS, OGMConfig, encoder_params, method_config, ogm_coefficients

TARGETS = torch.tensor([0, 1, 2, 3, 0, 1])


def _backward(seed=3):
    """A small concat model after one backward on a fixed batch: (model, output)."""
    from avlib.models import build_classifier

    g = torch.Generator().manual_seed(0)
    audio, visual = torch.randn(6, 1, 16, 16, generator=g), torch.randn(6, 1, 12, 12, generator=g)
    torch.manual_seed(seed)
    net = build_classifier("concat", n_classes=4, width=4)
    out = net(audio, visual)
    F.cross_entropy(out.logits, TARGETS).backward()
    return net, out


def _hand(net, out, *, k_audio, k_visual, seed, ge=True):
    """Each modulated gradient as Eq. 8/10 write it: k * g + h, h = randn * std(g) drawn from a generator
    seeded by `seed`, audio's tensors first, then visual's (the order of the balancer's draws)."""
    gen = torch.Generator().manual_seed(seed)
    expected = {}
    for encoder, k in ((net.audio_encoder, k_audio), (net.visual_encoder, k_visual)):
        for p in encoder_params(encoder, "conv"):
            g = p.grad.clone()
            noise = torch.randn(g.shape, generator=gen, dtype=g.dtype).mul_(g.flatten().std(-1)) if ge else 0
            expected[id(p)] = g.mul_(k) + noise
    return expected


@pytest.mark.parametrize("ge", [True, False], ids=["ogm_ge", "ogm"])
def test_ogm_ge_and_ogm_gradients_are_unchanged(ge):
    net, out = _backward()
    k_a, k_v = ogm_coefficients(out.audio_logits, out.visual_logits, TARGETS, 0.8)
    expected = _hand(net, out, k_audio=k_a, k_visual=k_v, seed=7, ge=ge)
    OGMConfig(alpha=0.8, ge=ge).build(net, seed=7).after_backward(out, TARGETS, 0)
    for p in encoder_params(net.audio_encoder) + encoder_params(net.visual_encoder):
        assert torch.equal(p.grad, expected[id(p)])  # bit for bit
    # and pinned: the whole model's gradient as the code before `modulate` existed produced it (computed
    # with that code, commit 3f8ae0c); a tolerance, since convolution gradients may differ in the last bits elsewhere
    grads = torch.cat([p.grad.flatten() for p in net.parameters()]).double()
    pinned = {True: (-0.4596072066560737, 1.0537710997853273), False: (0.06109618349842094, 0.4854348695649586)}[ge]
    assert (grads.sum().item(), (grads**2).sum().item()) == pytest.approx(pinned, rel=1e-6)


def test_ge_only_adds_the_same_noise_with_k_one():
    net, out = _backward()
    expected = _hand(net, out, k_audio=1.0, k_visual=1.0, seed=7)
    untouched = {n: p.grad.clone() for n, p in net.named_parameters() if "encoder" not in n}
    logs = method_config("ge_only").build(net, seed=7).after_backward(out, TARGETS, 0)
    assert logs == {}
    for p in encoder_params(net.audio_encoder) + encoder_params(net.visual_encoder):
        assert torch.equal(p.grad, expected[id(p)])
    for n, p in net.named_parameters():
        if n in untouched:
            assert torch.equal(p.grad, untouched[n])  # the fusion head keeps its plain gradient


def test_ge_only_respects_the_window_and_the_run_dimension():
    net, out = _backward()
    before = {n: p.grad.clone() for n, p in net.named_parameters()}
    method_config("ge_only", start_epoch=2).build(net, seed=0).after_backward(out, TARGETS, 1)
    assert all(torch.equal(p.grad, before[n]) for n, p in net.named_parameters())  # outside [2, end)
    # stacked runs (N=2): the std is taken per run
    w = torch.zeros(2, 3, 3, requires_grad=True)
    w.grad = torch.stack([torch.ones(3, 3), torch.arange(9.0).view(3, 3)])
    from avlib.balance.ogm import OGMGE

    bal = OGMGE(audio_params=[w], visual_params=[torch.zeros(1)], alpha=1.0, modulate=False, seed=0)
    bal.after_backward(None, torch.zeros(2, 4, dtype=torch.long), 0)
    assert torch.equal(w.grad[0], torch.ones(3, 3))  # run 0's gradient has no spread: no noise
    assert not torch.equal(w.grad[1], torch.arange(9.0).view(3, 3))


def test_ge_only_is_a_named_method_with_its_fields_fixed():
    assert "ge_only" in METHODS
    config = method_config("ge_only", start_epoch=1, end_epoch=4)
    assert config == OGMConfig(modulate=False, start_epoch=1, end_epoch=4) and config.name == "ge_only"
    assert "GE noise alone" in config.describe()
    for fixed in ("ge", "modulate"):
        with pytest.raises(ValueError, match=fixed):
            method_config("ge_only", **{fixed: True})
    with pytest.raises(ValueError, match="does nothing"):
        OGMConfig(modulate=False, ge=False)
    assert OGMConfig().name == "ogm_ge" and OGMConfig(ge=False).name == "ogm"
