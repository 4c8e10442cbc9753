"""The balancing methods beyond OGM-GE: each against a hand computation, the generic pieces they use
(per-modality heads, held-out data carved from train), and what the batched engine refuses."""

import math
from dataclasses import replace
from functools import partial

import pytest
import torch
from torch import nn

from avlib.balance import (
    AGM,
    METHODS,
    OPM,
    AGMConfig,
    GBlendConfig,
    MMParetoConfig,
    ModalityDropConfig,
    ModalityDropout,
    OGMConfig,
    OPMConfig,
    method_config,
)
from avlib.balance.agm import agm_coefficients, mono_scores
from avlib.balance.gblend import blend_weights
from avlib.balance.mmpareto import pareto_weights
from avlib.balance.opm import drop_probabilities
from avlib.core.pool import EngineError
from avlib.core.runtime import single_threaded
from avlib.data import load_splits
from avlib.models import AVOutput, build_classifier
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunSpec, build_run, run_data

TRAIN = TrainConfig(epochs=2, batch_size=16, lr=0.05, device="cpu")
MODEL = {"width": 4}


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="module")
def data(tiny_avdigits):
    return load_splits("avdigits", tiny_avdigits)


# --- modality dropout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("modality", ["audio", "visual"])
def test_dropout_removes_exactly_the_chosen_modality_at_the_asked_rate(modality):
    torch.manual_seed(0)
    a, v = torch.rand(20000, 6) + 0.5, torch.rand(20000, 5) + 0.5  # no zero entries of their own
    out_a, out_v = ModalityDropout(modality=modality, p=0.3).features(a, v, epoch=0)
    dropped, kept = (out_a, out_v) if modality == "audio" else (out_v, out_a)
    source = a if modality == "audio" else v
    torch.testing.assert_close(kept, v if modality == "audio" else a, rtol=0, atol=0)  # the other: untouched
    zero_rows = (dropped == 0).all(1)
    assert ((dropped == 0).any(1) == zero_rows).all()  # a whole feature vector or nothing
    assert zero_rows.float().mean().item() == pytest.approx(0.3, abs=0.01)  # 3 sigma = 0.0097
    torch.testing.assert_close(dropped[~zero_rows], source[~zero_rows] / 0.7)  # inverted dropout


def test_dropout_does_nothing_at_evaluation_or_with_p_zero():
    torch.manual_seed(0)
    model = build_classifier("concat", n_classes=3, width=4).eval()
    audio, visual = torch.randn(8, 1, 16, 16), torch.randn(8, 1, 12, 12)
    hook = partial(ModalityDropout(modality="audio", p=0.9).features, epoch=0)
    torch.testing.assert_close(model(audio, visual, features=hook).logits, model(audio, visual).logits, rtol=0, atol=0)
    a, v = torch.randn(4, 3), torch.randn(4, 3)
    state = torch.get_rng_state()
    assert ModalityDropout(modality="visual", p=0.0).features(a, v, epoch=0) == (a, v)
    assert torch.equal(torch.get_rng_state(), state)  # p = 0 draws nothing
    with pytest.raises(ValueError, match="p=1"):
        ModalityDropConfig(p=1)


# --- Gradient-Blending -----------------------------------------------------------------------------------

def test_blend_weights_edge_cases():
    prev = torch.tensor([0.2, 0.3, 0.5])
    # a head that got worse on held-out data gets 0; a tiny gap change is floored at min_overfit
    w = blend_weights(torch.tensor([-0.1, 0.2, 0.2]), torch.tensor([0.1, 0.0, 0.2]), prev, min_overfit=0.1)
    torch.testing.assert_close(w, torch.tensor([0.0, 20 / 25, 5 / 25]))
    # no head generalised: the previous weights stay
    torch.testing.assert_close(blend_weights(torch.tensor([-0.1, 0.0, -0.2]), torch.ones(3), prev, 0.01), prev)


def test_blend_weights_per_run_equal_the_runs_one_by_one():
    g = torch.Generator().manual_seed(1)
    gen, over = torch.rand(4, 3, generator=g) - 0.2, torch.rand(4, 3, generator=g) - 0.5
    prev = torch.full((3,), 1 / 3)
    stacked = blend_weights(gen, over, prev, 0.05)
    for r in range(4):
        torch.testing.assert_close(stacked[r], blend_weights(gen[r], over[r], prev, 0.05))


def test_gradient_blending_asks_for_heads_and_held_out_data_from_train(data):
    config = GBlendConfig(holdout=0.25, holdout_seed=3)
    net, _ = build_run(RunSpec("gb", "concat", config), 10, 0, MODEL)
    assert isinstance(net.audio_head, nn.Linear) and isinstance(net.visual_head, nn.Linear)
    split = run_data(data, config)
    assert split["val"] is data["val"] and split["test"] is data["test"]  # never touched
    n = len(data["train"])
    assert len(split["holdout"]) == round(0.25 * n) and len(split["train"]) + len(split["holdout"]) == n
    rows = {tuple(x.flatten()[:20].tolist()) for x in data["train"].visual}
    held = {tuple(x.flatten()[:20].tolist()) for x in split["holdout"].visual}
    kept = {tuple(x.flatten()[:20].tolist()) for x in split["train"].visual}
    assert held <= rows and kept <= rows and not held & kept  # carved from train, disjoint
    again = run_data(data, config)
    assert torch.equal(again["holdout"].label, split["holdout"].label)  # fixed by holdout_seed
    assert run_data(data, OGMConfig()) is data  # a method without held-out data leaves the splits alone


def test_heads_change_nothing_else_in_the_model():
    torch.manual_seed(5)
    plain = build_classifier("concat", n_classes=3, width=4)
    torch.manual_seed(5)
    headed = build_classifier("concat", n_classes=3, width=4, unimodal_heads=True)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(headed.state_dict()[name], tensor), name  # same init for every shared tensor
    assert set(headed.state_dict()) - set(plain.state_dict()) == {
        "audio_head.weight", "audio_head.bias", "visual_head.weight", "visual_head.bias"}
    out = plain(torch.randn(2, 1, 16, 16), torch.randn(2, 1, 12, 12))
    assert out.audio_head is None and out.visual_head is None
    with pytest.raises(ValueError, match="unimodal_heads"):
        build_classifier("audio_only", n_classes=3, unimodal_heads=True)


# --- OPM ---------------------------------------------------------------------------------------------

def _fixed_batch():
    audio = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    visual = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 0.2]])
    return audio, visual, torch.tensor([0, 1, 0])


def _true_class_probs(logits, targets):
    rows = logits.tolist()
    return [math.exp(row[t]) / sum(math.exp(x) for x in row) for row, t in zip(rows, targets.tolist(), strict=True)]


def test_opm_drop_probabilities_match_hand_computation():
    audio, visual, targets = _fixed_batch()
    s_a, s_v = sum(_true_class_probs(audio, targets)), sum(_true_class_probs(visual, targets))
    assert s_a > s_v  # audio dominates this batch
    q = drop_probabilities(audio, visual, targets, q_base=0.4, lam=0.5)
    assert q[0].item() == pytest.approx(0.4 * (1 + 0.5 * math.tanh(s_a / s_v - 1)), rel=1e-6)
    assert q[1].item() == 0.0  # the weaker modality is never dropped
    q_swapped = drop_probabilities(visual, audio, targets, q_base=0.4, lam=0.5)
    assert q_swapped[0].item() == 0.0 and q_swapped[1].item() == pytest.approx(q[0].item())
    assert drop_probabilities(audio * 50, visual, targets, q_base=0.9, lam=1.0)[0].item() <= 1.0  # clipped


def test_opm_drops_the_dominant_feature_at_its_rate_and_rescales_both():
    torch.manual_seed(0)
    n, d_a, d_v = 20000, 6, 2
    a, v = torch.rand(n, d_a) + 0.5, torch.rand(n, d_v) + 0.5
    targets = torch.zeros(n, dtype=torch.long)
    q_a = 0.5

    def unimodal(a_, v_):  # audio certain of class 0, visual uniform: audio dominates
        return torch.tensor([[5.0, 0.0]]).expand(len(a_), 2), torch.zeros(len(v_), 2)

    opm = OPM(q_base=q_a, lam=0.0, p_exe=1.0)  # lambda 0: q_audio = q_base exactly, executed on every batch
    out_a, out_v = opm.features(a, v, epoch=0, targets=targets, unimodal=unimodal)
    theta = d_a * q_a / (d_a + d_v)
    zero = (out_a == 0).all(1)
    assert zero.float().mean().item() == pytest.approx(q_a, abs=0.015)
    torch.testing.assert_close(out_a[~zero], a[~zero] / (1 - theta + 1e-5))
    torch.testing.assert_close(out_v, v / (1 - theta + 1e-5))  # never dropped, rescaled
    logs = opm.after_backward(None, targets, 0)
    assert logs["q_audio"].item() == pytest.approx(q_a) and logs["q_visual"].item() == 0.0


# --- AGM ---------------------------------------------------------------------------------------------

def test_agm_coefficients_match_hand_computation_and_follow_the_running_target():
    audio, visual, targets = _fixed_batch()
    s_a = -sum(math.log(x) for x in _true_class_probs(audio, targets)) / 3
    s_v = -sum(math.log(x) for x in _true_class_probs(visual, targets)) / 3
    scores = mono_scores(audio, visual, targets)
    assert scores.tolist() == pytest.approx([s_a, s_v], rel=1e-6)
    a_param, v_param = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))
    agm = AGM(audio_params=[a_param], visual_params=[v_param], alpha=0.5)
    out = AVOutput(audio + visual, audio, visual)
    # step 1: running means are 0, so the target ratio is 1
    a_param.grad, v_param.grad = torch.ones(3), torch.ones(2)
    logs = agm.after_backward(out, targets, 0)
    k_a, k_v = math.exp(0.5 * (1 - math.exp(s_v - s_a))), math.exp(0.5 * (1 - math.exp(s_a - s_v)))
    assert logs["k_audio"].item() == pytest.approx(k_a, rel=1e-6) and k_a < 1 < k_v  # audio dominant: slowed
    torch.testing.assert_close(a_param.grad, torch.full((3,), k_a))
    torch.testing.assert_close(v_param.grad, torch.full((2,), k_v))
    # step 2, same batch: the target is now this batch's own ratio, so nothing is modulated
    a_param.grad, v_param.grad = torch.ones(3), torch.ones(2)
    logs = agm.after_backward(out, targets, 0)
    assert logs["k_audio"].item() == pytest.approx(1.0, abs=1e-6)
    assert logs["k_visual"].item() == pytest.approx(1.0, abs=1e-6)


def test_agm_coefficients_per_run_equal_the_runs_one_by_one():
    g = torch.Generator().manual_seed(2)
    scores, running = torch.rand(2, 5, generator=g) * 2, torch.rand(2, 5, generator=g) * 2
    stacked = agm_coefficients(scores, running, 0.3)
    for r in range(5):
        torch.testing.assert_close(stacked[:, r], agm_coefficients(scores[:, r], running[:, r], 0.3))
    big = agm_coefficients(torch.tensor([0.0, 30.0]), torch.tensor([30.0, 0.0]), 1.0)
    # audio far stronger than its history: stopped; visual far weaker: sped up, the exponent capped at 10 alpha
    assert big[0].item() == pytest.approx(0.0, abs=1e-12) and big[1].item() == pytest.approx(math.exp(10))


# --- MMPareto ------------------------------------------------------------------------------------------

def test_pareto_weights_match_hand_computation():
    assert pareto_weights(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == (0.5, 0.5)  # no conflict
    g_m, g_u = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 2.0])  # cos < 0
    w_m, w_u = pareto_weights(g_m, g_u)
    # min over w of ||w g_m + (1-w) g_u||^2: w = (g_u.g_u - g_m.g_u) / ||g_m - g_u||^2 = (5 + 1) / 8
    assert w_m == pytest.approx(6 / 8) and w_u == pytest.approx(2 / 8)
    d = w_m * g_m + w_u * g_u
    assert float(d @ (g_m - g_u)) == pytest.approx(0.0, abs=1e-6)  # the min-norm point is orthogonal to the edge


def test_mmpareto_gradient_is_the_rescaled_pareto_combination():
    torch.manual_seed(0)
    model = build_classifier("concat", n_classes=3, width=4, unimodal_heads=True)
    method = MMParetoConfig(alpha=1.5).build(model, seed=0)
    audio, visual, targets = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 12, 12), torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(audio, visual)
    loss = method.loss(out, targets, 0)
    grads = {m: [[g.clone() for g in gs] for gs in pair] for m, pair in method._grads.items()}
    loss.backward()
    totals = [p.grad.clone() for p in method.params["audio"]]
    method.after_backward(out, targets, 0)
    g_m, g_u = grads["audio"]
    w_m, w_u = pareto_weights(torch.cat([g.flatten() for g in g_m]), torch.cat([g.flatten() for g in g_u]))
    for p, gm, gu, total in zip(method.params["audio"], g_m, g_u, totals, strict=True):
        torch.testing.assert_close(total, gm + gu)  # the plain gradient of the summed loss
        h = 2 * (w_m * gm + w_u * gu)
        expected = 1.5 * h * max(1.0, (total.norm() / h.norm()).item())
        torch.testing.assert_close(p.grad, expected)
    assert model.fusion.fc.weight.grad is not None  # heads untouched: plain gradients


# --- table of names, disabled methods, the batched engine ------------------------------------------------

def test_every_method_is_picked_by_name():
    assert set(METHODS) == {"modality_drop_audio", "modality_drop_visual", "gradient_blending", "ogm", "ogm_ge",
                            "ge_only", "opm", "agm", "mmpareto", "three_loss_sum", "mla"}
    for name in METHODS:
        assert method_config(name).name == name
    assert method_config("ogm", alpha=0.3) == OGMConfig(alpha=0.3, ge=False)
    with pytest.raises(ValueError, match="'ogm'"):
        method_config("ogm", ge=True)
    with pytest.raises(ValueError, match="super_epoch=0"):
        method_config("gradient_blending", super_epoch=0)


def _summary(run, keys=None):
    history = [{k: v for k, v in h.items() if keys is None or k in keys} for h in run.history]
    return run.test, run.val, run.best_epoch, history


@pytest.mark.parametrize("method", [ModalityDropConfig(modality="audio", p=0.0), AGMConfig(alpha=0.0),
                                    OGMConfig(alpha=0.5, start_epoch=5, end_epoch=6), OPMConfig(q_base=0.0)],
                         ids=["dropout p=0", "agm alpha=0", "ogm outside its window", "opm q_base=0"])
def test_a_disabled_method_leaves_training_bit_identical_to_plain_fit(data, method):
    plain, disabled = run_specs([RunSpec("plain", "concat"), RunSpec("off", "concat", method)], [0], data,
                                train=TRAIN, model=MODEL, probe=False, progress=False, workers=1)
    keys = plain.history[0].keys()
    assert _summary(disabled, keys) == _summary(plain)  # plain float equality


@pytest.mark.parametrize("method", [OPMConfig(), MMParetoConfig()])
def test_batched_engine_refuses_methods_whose_hooks_do_not_broadcast(data, method):
    with pytest.raises(EngineError, match=f"'{method.name}' cannot run batched"):
        run_specs([RunSpec("m", "concat", method)], [0, 1], data, train=TRAIN, model=MODEL, probe=False,
                  progress=False, engine="batched")


@pytest.mark.parametrize("method", [ModalityDropConfig(modality="visual", p=0.5),
                                    GBlendConfig(super_epoch=1, copy_epochs=0.5), AGMConfig(alpha=0.5)],
                         ids=["dropout", "gblend", "agm"])
def test_batched_methods_run_stacked_with_one_set_of_coefficients_per_run(data, method):
    runs = run_specs([RunSpec("m", "concat", method)], [0, 1], data, train=replace(TRAIN, epochs=3), model=MODEL,
                     probe=False, progress=False, engine="batched")
    assert [r.seed for r in runs] == [0, 1] and runs[0].history != runs[1].history
    if isinstance(method, GBlendConfig):  # estimates after epochs 0 and 1: epoch 2 runs on each run's own weights
        w = [(r.history[2]["w_fused"], r.history[2]["w_audio"]) for r in runs]
        assert w[0] != w[1] and all(x != pytest.approx(1 / 3) for x in w[0])
    if isinstance(method, AGMConfig):
        assert runs[0].history[0]["k_audio"] != runs[1].history[0]["k_audio"]


def test_three_loss_sum_is_the_plain_sum_of_the_fused_and_unimodal_losses():
    import torch

    from avlib.balance import method_config
    from avlib.balance.base import cross_entropy_per_run
    from avlib.models.classifier import AVOutput

    torch.manual_seed(0)
    heads = [torch.randn(4, 10) for _ in range(3)]
    y = torch.randint(0, 10, (4,))
    config = method_config("three_loss_sum")
    assert config.model_options() == {"unimodal_heads": True}
    out = AVOutput(logits=heads[0], audio_head=heads[1], visual_head=heads[2])
    expected = sum(cross_entropy_per_run(h, y) for h in heads)
    torch.testing.assert_close(config.build(None, seed=0).loss(out, y, 0), expected)
