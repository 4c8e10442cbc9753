"""t2_plugin: temporal shift, consensus, statistics pooling on hand-computed tensors; every model's output
and OGM-GE groups; the stage's checks; the notebook's smoke run."""

import json
import math
from pathlib import Path

import pytest
import torch
from fixtures.avclips import tiny_avclips

from avlib.balance import OGMConfig
from avlib.core.params import ParamError
from avlib.models.classifier import AVOutput
from avlib.models.speech_branches import IVectorExtractor, build_speech_model, statistics_pooling, utterance_frames
from avlib.models.temporal import SegmentCNN, TemporalShift, build_video_model, segment_consensus, temporal_shift
from avlib.stages import t2_plugin as stage
from avlib.tasks.classify.clips import ClipJob, ogm_for, train


def test_temporal_shift_moves_exactly_the_intended_channels():
    # x[b, t, c] = 100 t + c: one value per (segment, channel)
    x = (100 * torch.arange(3).view(1, 3, 1) + torch.arange(8).view(1, 1, 8)).float().view(3, 8, 1, 1)
    out = temporal_shift(x, segments=3, shift_div=4).view(3, 8)  # fold = 2 channels each way
    expected = torch.tensor([[100, 101, 0, 0, 4, 5, 6, 7],       # t=0: ch 0-1 from t=1, ch 2-3 padded
                             [200, 201, 2, 3, 104, 105, 106, 107],
                             [0, 0, 102, 103, 204, 205, 206, 207]]).float()  # t=2: ch 0-1 padded
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="shifts none"):
        temporal_shift(x, segments=3, shift_div=16)


def test_tsm_inserts_two_shifts_and_tsn_is_the_consensus_of_segments():
    tsm = SegmentCNN(width=4, segments=3, shift_div=4)
    assert sum(isinstance(m, TemporalShift) for m in tsm.modules()) == 2
    torch.manual_seed(0)
    tsn = SegmentCNN(width=4, segments=3).eval()
    x = torch.randn(2, 3, 1, 28, 28)
    per_segment = torch.stack([tsn.net(x[:, t]) for t in range(3)], dim=1)
    assert torch.allclose(tsn(x), per_segment.mean(1), atol=1e-6)
    assert torch.equal(segment_consensus(torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])), torch.tensor([[2.0, 4.0]]))


def test_statistics_pooling_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]]])  # (B=1, C=2, L=4)
    out = statistics_pooling(x, eps=0.0)
    assert torch.allclose(out, torch.tensor([[2.5, 2.0, math.sqrt(1.25), 0.0]]))
    audio = torch.arange(2 * 3 * 2).float().view(1, 3, 1, 2, 2)  # (B, T, 1, mels=2, F=2)
    assert utterance_frames(audio).tolist() == [[[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10, 11]]]


@pytest.mark.parametrize("kind", ["tsn_av", "tsm_av", "tbn_lite", "psp_lite", "x_vector", "i_vector"])
def test_every_model_splits_its_logits_and_takes_ogm_ge(kind):
    torch.manual_seed(0)
    audio, visual = torch.randn(6, 3, 1, 8, 12), torch.randn(6, 3, 1, 28, 28)
    if kind in ("x_vector", "i_vector"):
        net = build_speech_model(kind, n_classes=10, segments=3, n_mels=8, width=4, channels=8,
                                 train_audio=audio, components=2, rank=3)
    else:
        net = build_video_model(kind, n_classes=10, segments=3, width=4, shift_div=4, hidden=8)
    net.train()
    out = net(audio, visual)
    assert isinstance(out, AVOutput) and out.logits.shape == (6, 10)
    assert not out.audio_logits.requires_grad
    assert torch.allclose(out.audio_logits + out.visual_logits, out.logits.detach(), atol=1e-5)
    groups = ogm_for(kind, OGMConfig(alpha=0.5)).param_groups(net)
    assert groups["audio"] and groups["visual"]


def test_ivector_front_end_is_fixed_and_deterministic():
    torch.manual_seed(0)
    audio = torch.randn(10, 3, 1, 4, 6)
    a = IVectorExtractor.fit(audio, components=2, rank=2, seed=0)
    b = IVectorExtractor.fit(audio, components=2, rank=2, seed=0)
    assert torch.equal(a(audio), b(audio)) and a(audio).shape == (10, 2) and not list(a.parameters())


def _params() -> dict:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["t2_plugin"]


def test_stage_rejects_a_reported_selection_seed():
    with pytest.raises(ParamError, match="selection_seed=0"):
        stage.PARAMS.check(_params() | {"selection_seed": 0})


@pytest.mark.slow
def test_t2_notebook_smoke(tmp_path):
    import run_stage

    out = run_stage.run("t2_plugin", ["smoke=true", f"root={tiny_avclips()}", "video_rows=[tsn_av]",
                                      "speech_rows=[i_vector]"], tmp_path / "reports")
    for name in ("table.csv", "table.md", "ogm_grid.csv", "history.csv", "findings.md", "delta.png", "metrics.json",
                 "premise.md", "runs.csv"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Digits clips) acc" in table and "paper (KS) acc" in table and "not reimplemented" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"tsn_av", "tsn_av+ogm_ge", "i_vector+ogm_ge"} <= set(metrics)
    assert "single_segment_acc" in metrics["tsn_av"]
    assert "delta_acc_p_holm" in metrics["tsn_av+ogm_ge"] and "holds" in metrics["premise"]
    findings = (out / "findings.md").read_text()
    assert "Premise" in findings and "## Video side" in findings and "## Speech side" in findings


def test_a_run_is_bit_identical_for_the_same_seed():
    from avlib.core.runtime import single_threaded
    from avlib.data import load_splits
    from avlib.tasks.classify.fit import TrainConfig

    data = load_splits("avclips", tiny_avclips())
    options = dict(width=2, shift_div=2, hidden=4, tau=0.1, xvector_channels=4, ivector_components=2, ivector_rank=2)
    job = ClipJob("tsm_av", OGMConfig(alpha=0.5), 3, TrainConfig(epochs=1, batch_size=8, device="cpu"), options)
    with single_threaded():
        a, b = train(job, data), train(job, data)
    assert a.test == b.test and a.history == b.history and a.label == "tsm_av+ogm_ge"


def _fake_run(blank, *, val, audio_acc, visual_acc, rhos):
    from types import SimpleNamespace

    job = SimpleNamespace(model={"blank": blank}, label="tsn_av")
    return SimpleNamespace(job=job, label="tsn_av", val={"acc": val, "audio_acc": audio_acc, "visual_acc": visual_acc},
                           history=[{"rho_audio": r} for r in rhos])


def test_premise_reads_dominance_gap_and_room_from_synthetic_runs():
    runs = [_fake_run("", val=0.6, audio_acc=0.5, visual_acc=0.2, rhos=[1.2, 1.0, 0.8, 5.0]),
            _fake_run("", val=0.7, audio_acc=0.5, visual_acc=0.1, rhos=[1.0, 1.0, 1.0, 5.0]),
            _fake_run("visual", val=0.6, audio_acc=0.6, visual_acc=0.1, rhos=[1.0] * 4),
            _fake_run("audio", val=0.3, audio_acc=0.1, visual_acc=0.3, rhos=[1.0] * 4)]
    values = stage.premise_values(runs, early_epochs=3)
    assert values["rho_audio_early"] == pytest.approx(1.0)  # first 3 epochs only: (1.0 + 1.0) / 2
    assert values["visual_share_val"] == pytest.approx(15.0) and values["visual_only_val"] == pytest.approx(30.0)
    assert values["weak_gap"] == pytest.approx(15.0)
    checks = stage.premise_check(values, gap_min=5.0, room=[0.2, 0.9])
    assert checks == {"dominant": False, "weak_gap": True, "room": True, "holds": False}  # rho 1.0 is not > 1
    values["rho_audio_early"] = 1.05
    assert stage.premise_check(values, gap_min=20.0, room=[0.2, 0.9])["weak_gap"] is False
    assert stage.premise_check(values, gap_min=5.0, room=[0.35, 0.9])["room"] is False  # visual-only 30% < 35%
    assert stage.premise_check(values, gap_min=5.0, room=[0.2, 0.9])["holds"] is True


def test_stage_rejects_premise_seeds_that_a_table_reports():
    import yaml

    values = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["t2_plugin"]
    with pytest.raises(ParamError, match="premise_seeds"):
        stage.PARAMS.check(values | {"premise_seeds": [0, 200]})
    with pytest.raises(ParamError, match="room"):
        stage.PARAMS.check(values | {"room": [0.9, 0.2]})


def test_blanked_modality_is_zero_and_names_the_run():
    from avlib.data import load_splits
    from avlib.tasks.classify.clips import blank_modality

    data = load_splits("avclips", tiny_avclips())
    out = blank_modality(data, "audio")
    assert not out["train"].audio.any() and torch.equal(out["val"].visual, data["val"].visual)
    assert blank_modality(data, "") is data
    with pytest.raises(ValueError, match="blank"):
        blank_modality(data, "both")
    job = ClipJob("tsn_av", None, 0, None, {"blank": "visual"})
    assert job.label == "tsn_av-visual"


def test_first_pass_and_table_keep_the_table_order_while_training_longest_first(monkeypatch):
    from types import SimpleNamespace

    from avlib.stages.shared import longest_first

    handed = []

    def fake_run_tasks(task, jobs, data, **kwargs):
        handed.append([(j.kind, j.method is not None, j.seed) for j in jobs])
        return [SimpleNamespace(job=j, label=j.label, seed=j.seed) for j in jobs]

    monkeypatch.setattr(longest_first, "run_tasks", fake_run_tasks)
    monkeypatch.setattr(stage, "EPOCH_CPU_S", {"tsn_av": 1.0, "i_vector": 0.1, "tsm_av": 3.0})
    p = stage.PARAMS.check({**_params(), "video_rows": ["tsn_av", "tsm_av"], "speech_rows": ["i_vector"],
                            "seeds": [0, 1]})
    premise, grid, plain = stage.first_pass(p, {})
    assert [r.job.model.get("blank", "") for r in premise] == [b for b in stage.PREMISE_ROWS for _ in p.premise_seeds]
    assert all(r.job.method is not None and r.seed == p.selection_seed for r in grid)
    assert [(r.job.kind, r.seed) for r in plain] == [(k, s) for k in ("tsn_av", "tsm_av", "i_vector") for s in (0, 1)]
    assert handed[0][0][0] == "tsm_av" and handed[0][-1][0] == "i_vector"  # the longest handed out first
    chosen = OGMConfig(alpha=0.1, end_epoch=p.epochs)
    runs = stage.run_table(p, {}, chosen, plain)
    assert [(r.job.kind, r.job.method is not None, r.seed) for r in runs] == [
        (k, m, s) for k in ("tsn_av", "tsm_av", "i_vector") for m in (False, True) for s in (0, 1)]
