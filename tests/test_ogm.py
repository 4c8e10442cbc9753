import math

import pytest
import torch
from torch import nn

from avlib.models import AVOutput, build_classifier
from avlib.ogm import OGMGE, contribution_ratio, encoder_params, ogm_coefficients


def test_coefficients_match_hand_computation():
    # Batch of 2, 2 classes, targets [0, 1].
    audio = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    visual = torch.tensor([[0.0, 0.0], [0.5, 0.0]])
    targets = torch.tensor([0, 1])
    s_a = 1 / (1 + math.exp(-2)) + 1 / (1 + math.exp(-1))  # softmax prob of the true class, summed
    s_v = 0.5 + 1 / (1 + math.exp(0.5))
    rho_a, rho_v = contribution_ratio(audio, visual, targets)
    assert rho_a.item() == pytest.approx(s_a / s_v)
    assert rho_v.item() == pytest.approx(s_v / s_a)
    k_a, k_v = ogm_coefficients(audio, visual, targets, alpha=0.8)
    assert k_a.item() == pytest.approx(1 - math.tanh(0.8 * s_a / s_v))  # audio dominant: slowed
    assert k_v.item() == 1.0  # the weaker modality is left alone


def test_coefficients_swap_with_the_dominant_modality():
    strong, weak = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    targets = torch.tensor([0])
    k_a, k_v = ogm_coefficients(weak, strong, targets, alpha=0.5)
    assert k_a.item() == 1.0 and k_v.item() < 1.0


def _model_with_grads(seed=0):
    torch.manual_seed(seed)
    model = build_classifier("concat", n_classes=3, width=4)
    audio, visual = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 12, 12)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(audio, visual)
    nn.functional.cross_entropy(out.logits, targets).backward()
    return model, out, targets


def test_ogm_scales_each_encoder_by_its_k_and_leaves_the_head():
    model, out, targets = _model_with_grads()
    before = {n: p.grad.clone() for n, p in model.named_parameters()}
    ogm = OGMGE(audio_params=encoder_params(model.audio_encoder, "all"),
                visual_params=encoder_params(model.visual_encoder, "all"), alpha=0.8, ge=False)
    logs = ogm.after_backward(out, targets, epoch=0)
    for name, p in model.named_parameters():
        if name.startswith("audio_encoder"):
            expected = before[name] * logs["k_audio"]
        elif name.startswith("visual_encoder"):
            expected = before[name] * logs["k_visual"]
        else:
            expected = before[name]  # fusion head untouched
        torch.testing.assert_close(p.grad, expected, rtol=0, atol=0)
    assert min(logs["k_audio"].item(), logs["k_visual"].item()) < 1.0  # something was modulated


def test_default_params_are_conv_weights_only():
    model = build_classifier("concat", n_classes=3, width=4)
    conv = encoder_params(model.audio_encoder)
    assert conv and all(p.dim() == 4 for p in conv)
    assert len(conv) < len(list(model.audio_encoder.parameters()))
    with pytest.raises(ValueError, match="params='bias'"):
        encoder_params(model.audio_encoder, "bias")


def test_ge_noise_has_each_gradients_std():
    weights = [nn.Parameter(torch.zeros(200, 200)), nn.Parameter(torch.zeros(64, 8, 3, 3))]
    other = nn.Parameter(torch.zeros(10))
    grads = [torch.randn(200, 200) * 3.0 + 1.0, torch.randn(64, 8, 3, 3) * 0.01]  # different scales
    for w, g in zip(weights, grads, strict=True):
        w.grad = g.clone()
    other.grad = torch.zeros(10)
    out = AVOutput(torch.zeros(4, 2), torch.tensor([[5.0, 0.0]] * 4), torch.zeros(4, 2))  # audio dominant
    ogm = OGMGE(audio_params=weights, visual_params=[other], alpha=0.5, seed=1)
    logs = ogm.after_backward(out, torch.zeros(4, dtype=torch.long), epoch=0)
    for w, g in zip(weights, grads, strict=True):
        noise = w.grad - g * logs["k_audio"]
        assert noise.mean().item() == pytest.approx(0.0, abs=0.1 * g.std().item())
        assert noise.std().item() == pytest.approx(g.std().item(), rel=0.05)  # std of the unmodulated grad
    assert torch.equal(other.grad, torch.zeros(10))  # a zero gradient has zero std: no noise


def test_ge_noise_stream_is_fixed_by_the_seed():
    def noisy(seed):
        p = nn.Parameter(torch.zeros(50))
        p.grad = torch.linspace(-1, 1, 50)
        q = nn.Parameter(torch.zeros(5))
        q.grad = torch.ones(5)
        out = AVOutput(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))
        OGMGE(audio_params=[p], visual_params=[q], alpha=0.5, seed=seed).after_backward(out, torch.tensor([0]), 0)
        return p.grad

    assert torch.equal(noisy(3), noisy(3)) and not torch.equal(noisy(3), noisy(4))


def test_modulation_window_is_half_open():
    model, out, targets = _model_with_grads()
    before = [p.grad.clone() for p in model.parameters()]
    ogm = OGMGE(audio_params=encoder_params(model.audio_encoder), visual_params=encoder_params(model.visual_encoder),
                alpha=0.8, start_epoch=2, end_epoch=4)
    assert [ogm.active(e) for e in range(6)] == [False, False, True, True, False, False]
    assert ogm.after_backward(out, targets, epoch=4) == {}
    assert all(torch.equal(p.grad, b) for p, b in zip(model.parameters(), before, strict=True))


def test_ogm_rejects_bad_settings():
    p = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="alpha"):
        OGMGE(audio_params=p, visual_params=p, alpha=0)
    with pytest.raises(ValueError, match="empty"):
        OGMGE(audio_params=[], visual_params=p, alpha=0.5)
