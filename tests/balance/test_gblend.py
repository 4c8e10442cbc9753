"""Gradient-Blending: weights from each branch's own G and O (hand computation), the branch copies trained
from the checkpoint without touching the run, and the weights/OGRs in the epoch logs of both engines."""

from dataclasses import replace
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from avlib.balance import GBlendConfig, GradientBlending
from avlib.balance.branches import run_handles, train_copy
from avlib.core.runtime import single_threaded
from avlib.data import load_splits
from avlib.models import AVOutput, build_classifier
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig, predict_split
from avlib.tasks.classify.runs import RunSpec

TRAIN = TrainConfig(epochs=3, batch_size=16, lr=0.05, device="cpu")
MODEL = {"width": 4}
NAMES = ("fused", "audio", "visual")


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="module")
def data(tiny_avdigits):
    return load_splits("avdigits", tiny_avdigits)


def test_weights_equal_a_hand_computation_of_each_branch_g_o_and_w():
    # losses (fused, audio, visual): the joint model's heads at the checkpoint, each branch's own head at the end
    train0, held0 = torch.tensor([1.20, 1.50, 2.00]), torch.tensor([1.40, 1.60, 2.10])
    train1, held1 = torch.tensor([0.60, 1.00, 1.70]), torch.tensor([1.10, 1.30, 1.90])
    gb = GradientBlending(super_epoch=3)
    torch.testing.assert_close(gb.weights, torch.full((3,), 1 / 3))  # before any estimate: uniform
    gb.estimate((train0, held0), (train1, held1))
    G = [1.40 - 1.10, 1.60 - 1.30, 2.10 - 1.90]  # held-out loss decrease
    gap = [(1.10 - 0.60) - (1.40 - 1.20), (1.30 - 1.00) - (1.60 - 1.50), (1.90 - 1.70) - (2.10 - 2.00)]  # .3 .2 .1
    score = [g / o**2 for g, o in zip(G, gap, strict=True)]  # 3.333, 7.5, 20
    torch.testing.assert_close(gb.weights, torch.tensor([s / sum(score) for s in score]))
    torch.testing.assert_close(gb.measured[0], torch.tensor(G))
    torch.testing.assert_close(gb.measured[1], torch.tensor(gap))
    out = AVOutput(torch.zeros(2, 3), audio_head=torch.zeros(2, 3), visual_head=torch.zeros(2, 3))
    gb.loss(out, torch.tensor([0, 1]), 0)
    logs = gb.after_backward(out, None, 0)
    for k, name in enumerate(NAMES):
        assert logs[f"w_{name}"].item() == pytest.approx(score[k] / sum(score), rel=1e-5)  # float32
        assert logs[f"gblend_ogr_{name}"].item() == pytest.approx(abs(gap[k]) / G[k], rel=1e-5)
    # fused: 3.333/30.83 = 0.108 > 1/30: not starved; a weight below the floor is flagged, never changed
    assert logs["gblend_starved_fused"].item() == 0
    gb.estimate((train0, held0), (torch.tensor([0.6, 1.0, 1.7]), torch.tensor([1.39, 1.3, 1.9])))  # fused G=.01
    logs = gb.after_backward(out, None, 0)
    assert logs["w_fused"].item() < 1 / 30 and logs["gblend_starved_fused"].item() == 1
    assert logs["w_fused"].item() > 0  # reported, not clamped


def test_blend_loss_is_the_weighted_sum_of_the_heads():
    g = torch.Generator().manual_seed(0)
    out = AVOutput(torch.randn(6, 4, generator=g), audio_head=torch.randn(6, 4, generator=g),
                   visual_head=torch.randn(6, 4, generator=g))
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    gb = GradientBlending(super_epoch=2)
    gb.weights = torch.tensor([0.5, 0.3, 0.2])
    expected = sum(w * F.cross_entropy(x, targets) for w, x in zip((0.5, 0.3, 0.2),  # noqa: B905
                                                                    (out.logits, out.audio_head, out.visual_head)))
    assert gb.loss(out, targets, 0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_branch_copy_trains_its_head_alone_and_leaves_the_run_untouched(data):
    torch.manual_seed(0)
    net = build_classifier("concat", n_classes=10, width=4, unimodal_heads=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    branch = train_copy(net, data["train"], "audio_head", steps=3, lr=0.1, momentum=0.9, weight_decay=1e-4,
                        batch_size=16, seed=0, device=torch.device("cpu"))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # the run is not touched
    moved = {k for k, v in branch.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("audio_encoder.") for k in moved) and {"audio_head.weight", "audio_head.bias"} <= moved
    params = {n for n, _ in net.named_parameters()}
    assert not any(k in params for k in moved if not k.startswith(("audio_encoder.", "audio_head.")))  # no grad
    with pytest.raises(TypeError, match="predict_split"):
        run_handles(lambda split: None)
    assert run_handles(partial(predict_split, net, {}, "cpu", False))[0] is net


def _logged(run):
    return [{k: v for k, v in h.items() if k.startswith(("w_", "gblend_"))} for h in run.history]


def test_weights_and_ogrs_appear_in_the_epoch_logs_in_workers(data):
    config = GBlendConfig(super_epoch=1, copy_epochs=0.5)
    run, = run_specs([RunSpec("gb", "concat", config)], [0], data, train=TRAIN, model=MODEL, progress=False,
                     workers=1, probe=False)
    first, second, third = _logged(run)
    assert first == {"w_fused": pytest.approx(1 / 3), "w_audio": pytest.approx(1 / 3),
                     "w_visual": pytest.approx(1 / 3)}  # epoch 0: uniform, nothing measured yet
    for record in (second, third):
        assert sum(record[f"w_{n}"] for n in NAMES) == pytest.approx(1.0)
        for n in NAMES:
            for key in ("G", "O", "ogr", "starved"):
                assert f"gblend_{key}_{n}" in record
            assert record[f"gblend_starved_{n}"] == float(record[f"w_{n}"] < 1 / 30)
    assert second["w_fused"] != pytest.approx(1 / 3) and second != third  # re-estimated every super-epoch


def test_weights_and_ogrs_are_per_run_in_the_batched_engine(data):
    config = GBlendConfig(super_epoch=1, copy_epochs=0.5)
    runs = run_specs([RunSpec("gb", "concat", config)], [0, 1], data, train=replace(TRAIN, epochs=2), model=MODEL,
                     probe=False, progress=False, engine="batched")
    logs = [_logged(r)[1] for r in runs]
    assert all("gblend_ogr_audio" in x and "gblend_G_fused" in x for x in logs)
    assert logs[0]["gblend_ogr_audio"] != logs[1]["gblend_ogr_audio"]  # each run its own branches


def test_branch_copies_follow_the_runs_step_schedule():
    from avlib.balance import GBlendConfig

    blend = GBlendConfig(super_epoch=2, lr=0.05, lr_step=15, lr_gamma=0.1).build(None, seed=0)
    # the checkpoint at the end of epoch e: the run trains on at lr * gamma ** ((e + 1) // step)
    assert [round(blend.copy_lr(e), 6) for e in (0, 13, 14, 28)] == [0.05, 0.05, 0.005, 0.005]
    assert GBlendConfig(super_epoch=2, lr=0.05).build(None, seed=0).copy_lr(20) == 0.05  # no schedule: constant
    with pytest.raises(ValueError, match="lr_step=-1"):
        GBlendConfig(super_epoch=2, lr_step=-1)
