"""MLA(-reduced): the head-gradient projection (hand example), the alternation order, the entropy fusion
weights (hand example), the tied shared head, and one tiny end-to-end fit in each engine."""

import math

import pytest
import torch

from avlib.balance import MLAConfig, method_config
from avlib.balance.mla import entropy_fusion, mean_feature, owm_update, project
from avlib.core.runtime import seed_everything, single_threaded
from avlib.data.embedded.avdigits import AVDigits
from avlib.models import build_classifier
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig, fit
from avlib.tasks.classify.runs import RunSpec


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)


def test_projection_removes_the_component_along_the_stored_direction():
    P = owm_update(torch.eye(3), torch.tensor([2.0, 0.0, 0.0]), alpha=1e-6)
    # k = P r = (2, 0, 0); P - k k^T / (alpha + 4) = diag(1 - 4/(4 + 1e-6), 1, 1)
    torch.testing.assert_close(P, torch.diag(torch.tensor([1 - 4 / (4 + 1e-6), 1.0, 1.0])))
    grad = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (K=2, d=3)
    projected = project(grad, P)
    torch.testing.assert_close(projected, torch.tensor([[0.0, 2.0, 3.0], [0.0, 5.0, 6.0]]), atol=1e-6, rtol=0)
    # the step leaves the head's response to the stored feature unchanged: (W - lr*g') r = W r
    assert torch.allclose(projected @ torch.tensor([2.0, 0.0, 0.0]), torch.zeros(2), atol=1e-5)
    # a second, oblique direction: what remains is orthogonal to both
    P2 = owm_update(P, torch.tensor([1.0, 1.0, 0.0]), alpha=1e-6)
    out = project(grad, P2)
    assert torch.allclose(out @ torch.tensor([1.0, 0.0, 0.0]), torch.zeros(2), atol=1e-4)
    assert torch.allclose(out @ torch.tensor([0.0, 1.0, 0.0]), torch.zeros(2), atol=1e-4)
    torch.testing.assert_close(out[:, 2], grad[:, 2])
    # stacked runs: one projector per run
    Ps = owm_update(torch.eye(3).expand(2, 3, 3), torch.tensor([[2.0, 0, 0], [0, 0, 1.0]]), alpha=1e-6)
    assert torch.allclose(project(grad.expand(2, 2, 3), Ps)[1, :, 2], torch.zeros(2), atol=1e-5)


def test_mean_feature_is_read_off_the_head():
    head = torch.nn.Linear(3, 4)
    x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]])
    torch.testing.assert_close(mean_feature(head(x), head.weight), x.mean(0))


def test_entropy_fusion_weights_match_hand_computation():
    audio = torch.tensor([[2.0, 0.0]])  # confident
    visual = torch.tensor([[0.0, 0.0]])  # uniform: entropy log 2
    fused, w = entropy_fusion(audio, visual)
    p = 1 / (1 + math.exp(-2))
    e_a, e_v = -(p * math.log(p) + (1 - p) * math.log(1 - p)), math.log(2)
    lam_a = math.exp(e_v - e_a) / (math.exp(e_v - e_a) + 1)  # max entropy is visual's
    assert w[0, 0].item() == pytest.approx(lam_a) and w[1, 0].item() == pytest.approx(1 - lam_a)
    torch.testing.assert_close(fused, torch.tensor([[2 * lam_a, 0.0]]))


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % 4
    audio = torch.randn(n, 1, 16, 16, generator=g) + label.view(n, 1, 1, 1).float()
    return AVDigits.from_tensors(audio, torch.randn(n, 1, 12, 12, generator=g), label)


def _step_logs(net, balancer, steps):
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    data, logs = _data(8, 0), []
    for _ in range(steps):
        out = net(data.audio, data.visual)
        loss = balancer.loss(out, data.label, 0)
        opt.zero_grad()
        loss.backward()
        logs.append(balancer.after_backward(out, data.label, 0))
        opt.step()
    return logs


@pytest.mark.parametrize("kind", ["concat", "sum"])
def test_alternation_order_and_the_tied_shared_head(kind):
    torch.manual_seed(0)
    net = build_classifier(kind, n_classes=4, width=4, unimodal_heads=True)
    balancer = MLAConfig(first="visual").build(net, seed=0)
    assert [balancer.modality(t) for t in range(4)] == ["visual", "audio", "visual", "audio"]
    logs = _step_logs(net, balancer, 4)
    assert [x["mla_audio_step"].item() for x in logs] == [0.0, 1.0, 0.0, 1.0]
    assert logs[0]["mla_grad_kept"].item() == pytest.approx(1.0)  # step 0: nothing stored yet
    assert logs[1]["mla_grad_kept"].item() < 1.0  # afterwards the head's gradient loses its stored part
    w, b = net.audio_head.weight, net.audio_head.bias
    assert torch.equal(net.visual_head.weight, w) and torch.equal(net.visual_head.bias, b)  # tied, bit for bit
    if kind == "concat":
        assert torch.equal(net.fusion.fc.weight, torch.cat([w, w], dim=1)) and torch.equal(net.fusion.fc.bias, 2 * b)
    else:
        assert torch.equal(net.fusion.fc_audio.weight, w) and torch.equal(net.fusion.fc_visual.bias, b)
    data = _data(8, 0)
    out = net.eval()(data.audio, data.visual)
    torch.testing.assert_close(out.logits, out.audio_head + out.visual_head)  # the reported fusion


def test_a_visual_step_trains_the_visual_encoder_only():
    torch.manual_seed(0)
    net = build_classifier("concat", n_classes=4, width=4, unimodal_heads=True)
    balancer = MLAConfig(first="visual").build(net, seed=0)
    data = _data(8, 0)
    out = net(data.audio, data.visual)
    balancer.loss(out, data.label, 0).backward()
    balancer.after_backward(out, data.label, 0)
    assert all(p.grad is None for p in net.audio_encoder.parameters())
    assert all(p.grad is not None for p in net.visual_encoder.parameters())


def test_mla_refuses_what_it_cannot_tie():
    with pytest.raises(ValueError, match="per-modality heads"):
        MLAConfig().build(build_classifier("concat", n_classes=4, width=4), seed=0)
    with pytest.raises(ValueError, match="concat or sum"):
        MLAConfig().build(build_classifier("gated", n_classes=4, width=4, unimodal_heads=True), seed=0)
    with pytest.raises(ValueError, match="first"):
        method_config("mla", first="text")
    assert method_config("mla").name == "mla" and MLAConfig().model_options() == {"unimodal_heads": True}


def test_one_epoch_fit_end_to_end():
    data = {"train": _data(48, 0), "val": _data(16, 1), "test": _data(16, 2)}
    seed_everything(0)
    config = MLAConfig()
    net = build_classifier("concat", n_classes=4, width=4, **config.model_options())
    result = fit(net, data, TrainConfig(epochs=1, batch_size=16, lr=0.05, device="cpu"),
                 balancer=config.build(net, seed=0), progress=False)
    record = result.history[0]
    assert record["mla_audio_step"] == pytest.approx(2 / 3)  # 3 steps: audio, visual, audio
    assert 0 < record["mla_grad_kept"] <= 1 and 0 <= result.test["acc"] <= 1
    assert torch.equal(net.visual_head.weight, net.audio_head.weight)


def test_batched_engine_runs_mla_per_run():
    data = {"train": _data(48, 0), "val": _data(16, 1), "test": _data(16, 2)}
    runs = run_specs([RunSpec("mla", "concat", MLAConfig())], [0, 1], data,
                     train=TrainConfig(epochs=1, batch_size=16, lr=0.05, device="cpu"), model={"width": 4},
                     probe=False, progress=False, engine="batched")
    assert runs[0].history[0]["mla_audio_step"] == pytest.approx(2 / 3)
    assert runs[0].history[0]["mla_grad_kept"] != runs[1].history[0]["mla_grad_kept"]
