import math

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

from avlib.balance import OGMGE, OGMConfig, contribution_ratio, encoder_params, ogm_coefficients
from avlib.models import AVOutput, build_classifier


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


def _three_runs(seed=0):
    """Logits (N=3, B=5, K=4) and targets (3, 5) where the dominant modality differs between runs:
    run 0 audio, run 1 visual, run 2 audio by far."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 4, (3, 5), generator=g)
    onehot = nn.functional.one_hot(targets, 4).float()
    audio = torch.randn(3, 5, 4, generator=g) * 0.3 + onehot * torch.tensor([1.5, 0.0, 4.0]).view(3, 1, 1)
    visual = torch.randn(3, 5, 4, generator=g) * 0.3 + onehot * torch.tensor([0.0, 2.0, 0.5]).view(3, 1, 1)
    return audio, visual, targets


def test_coefficients_with_a_run_dimension_equal_the_runs_one_by_one():
    audio, visual, targets = _three_runs()
    k_a, k_v = ogm_coefficients(audio, visual, targets, alpha=0.6)
    rho_a, rho_v = contribution_ratio(audio, visual, targets)
    assert k_a.shape == k_v.shape == rho_a.shape == (3,)
    for r in range(3):
        one_a, one_v = ogm_coefficients(audio[r], visual[r], targets[r], alpha=0.6)
        assert k_a[r].item() == pytest.approx(one_a.item(), rel=1e-6)
        assert k_v[r].item() == pytest.approx(one_v.item(), rel=1e-6)
        assert rho_a[r].item() == pytest.approx(contribution_ratio(audio[r], visual[r], targets[r])[0].item(),
                                                rel=1e-6)
    # the runs really differ: audio is slowed in runs 0 and 2, visual in run 1
    assert k_a[0] < 1 and k_v[0] == 1 and k_a[1] == 1 and k_v[1] < 1 and k_a[2] < k_a[0]
    assert rho_v[1] > 1


def _stacked_params(grad_stds):
    """One audio and one visual stacked parameter (3, ...) whose run r has a gradient of std grad_stds[r]."""
    g = torch.Generator().manual_seed(7)
    scale = torch.tensor(grad_stds).view(3, 1, 1)
    params = []
    for shape in ((3, 120, 90), (3, 60, 50)):
        p = nn.Parameter(torch.zeros(shape))
        p.grad = torch.randn(shape, generator=g) * scale
        params.append(p)
    return params


def test_stacked_after_backward_scales_each_runs_slice_by_its_own_k():
    audio, visual, targets = _three_runs()
    out = AVOutput(audio + visual, audio, visual)
    a_param, v_param = _stacked_params([1.0, 1.0, 1.0])
    before = a_param.grad.clone(), v_param.grad.clone()
    ogm = OGMGE(audio_params=[a_param], visual_params=[v_param], alpha=0.6, ge=False)
    logs = ogm.after_backward(out, targets, epoch=0)
    for r in range(3):
        k_a, k_v = ogm_coefficients(audio[r], visual[r], targets[r], alpha=0.6)
        torch.testing.assert_close(a_param.grad[r], before[0][r] * k_a, rtol=1e-6, atol=0)
        torch.testing.assert_close(v_param.grad[r], before[1][r] * k_v, rtol=1e-6, atol=0)
        assert logs["k_audio"][r].item() == pytest.approx(k_a.item(), rel=1e-6)
    assert torch.equal(v_param.grad[0], before[1][0])  # k_visual = 1 in run 0: untouched


def test_stacked_ge_noise_std_tracks_each_runs_own_gradient_std():
    audio, visual, targets = _three_runs()
    out = AVOutput(audio + visual, audio, visual)
    stds = [0.01, 1.0, 50.0]  # three orders of magnitude apart: a shared std would be off by 50x or more
    a_param, v_param = _stacked_params(stds)
    before = a_param.grad.clone(), v_param.grad.clone()
    logs = OGMGE(audio_params=[a_param], visual_params=[v_param], alpha=0.6, seed=3).after_backward(out, targets, 0)
    for param, grad, k in ((a_param, before[0], logs["k_audio"]), (v_param, before[1], logs["k_visual"])):
        for r in range(3):
            noise = param.grad[r] - grad[r] * k[r]
            assert noise.std().item() == pytest.approx(grad[r].std().item(), rel=0.05)
            assert noise.mean().item() == pytest.approx(0.0, abs=0.05 * grad[r].std().item())


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


def test_param_groups_pick_conv_weights_by_default_and_everything_with_all():
    model = build_classifier("gated", n_classes=3, width=4)
    conv_names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    groups = OGMConfig().param_groups(model)
    assert groups["audio"] == [n + ".weight" for n in conv_names if n.startswith("audio_encoder.")]
    assert groups["visual"] == [n + ".weight" for n in conv_names if n.startswith("visual_encoder.")]
    assert len(groups["audio"]) == 3  # SmallCNN: three conv blocks
    everything = OGMConfig(params="all").param_groups(model)
    for m in ("audio", "visual"):
        assert everything[m] == [n for n, _ in model.named_parameters() if n.startswith(f"{m}_encoder.")]
        assert set(groups[m]) < set(everything[m])  # BatchNorm weights and biases only in "all"
    assert not any(n.startswith("fusion.") for names in everything.values() for n in names)
    with pytest.raises(ValueError, match="two modalities"):
        OGMConfig().param_groups(build_classifier("audio_only", n_classes=3, width=4))


def test_build_on_stacked_params_modulates_the_stacked_tensors():
    models = [build_classifier("concat", n_classes=3, width=4) for _ in range(2)]
    params, _ = stack_module_state(models)
    ogm = OGMConfig(alpha=0.5).build(models[0], seed=0, params=params)
    groups = OGMConfig().param_groups(models[0])
    assert [id(p) for p in ogm.audio_params] == [id(params[n]) for n in groups["audio"]]
    assert all(p.shape[0] == 2 for p in ogm.audio_params + ogm.visual_params)


def test_describe_names_the_window_with_or_without_an_end():
    assert OGMConfig(alpha=0.5).describe() == "α=0.5, epochs 0–last"  # end_epoch None once crashed
    assert OGMConfig(alpha=0.3, start_epoch=2, end_epoch=10, ge=False).describe() == "α=0.3, epochs 2–9, no GE"


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="alpha"):
        OGMConfig(alpha=0)
    with pytest.raises(ValueError, match="params='bias'"):
        OGMConfig(params="bias")
    with pytest.raises(ValueError, match="empty"):
        OGMConfig(start_epoch=3, end_epoch=3)


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
