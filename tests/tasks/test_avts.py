"""AVTS: the AV-Sync generator, the negative sampler and curriculum, the contrastive loss, the mixed-conv
networks, the training jobs' determinism, and the three notebooks' smoke runs."""

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from avlib.data.embedded.avsync import AVSync, AVSyncConfig, draw_digits, draw_onsets, generate
from avlib.data.errors import DatasetError
from avlib.models.avts import AudioNet, AVTSNet, MixedConvVideoNet, contrastive_loss
from avlib.tasks.avts.cues import content_score, cue_table, timing_score
from avlib.tasks.avts.events import Events, aligned, same_content
from avlib.tasks.avts.sampling import (
    KINDS,
    Shifts,
    cut_windows,
    draw,
    epoch_counts,
    eval_pairs,
    hard_fraction,
    sample_pairs,
    switch_epoch,
)
from avlib.tasks.avts.train import (
    SELECT,
    NetConfig,
    PretrainJob,
    ProbeJob,
    ProbeResult,
    SharedStart,
    build_net,
    choose_threshold,
    decay_epoch,
    decay_epochs,
    distances,
    lr_at,
    pretrain_all,
    share_starts,
    shared_epochs,
    sync_metrics,
    train,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = AVSyncConfig(n_train=16, n_val=8, n_test=8)


@pytest.fixture(scope="module")
def tiny_avsync(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("avsync") / "avsync"
    generate(root, TINY, progress=False)
    return root


# --- data ------------------------------------------------------------------------------------------

def test_generator_is_deterministic_and_events_are_where_onsets_say(tiny_avsync, tmp_path):
    again = tmp_path / "again"
    generate(again, TINY, progress=False)
    for split in ("train", "val", "test"):
        a, b = torch.load(tiny_avsync / f"{split}.pt"), torch.load(again / f"{split}.pt")
        for key in ("video", "audio", "label", "onsets", "digits"):
            assert torch.equal(a[key], b[key]), (split, key)
    d = AVSync(tiny_avsync, "train")
    assert d.video.shape == (16, 30, 16, 16) and d.audio.shape == (16, 32, 150) and d.mel_per_frame == 5
    on = torch.zeros(d.video.shape[:2], dtype=torch.bool)
    for i, onsets in enumerate(d.onsets.tolist()):
        assert all(b - a >= TINY.min_gap_frames for a, b in zip(onsets, onsets[1:], strict=False))
        for o in onsets:
            on[i, o : o + TINY.show_frames] = True
    frame_energy = d.video.pow(2).mean(dim=(2, 3))  # a digit on screen adds energy to its frames
    assert frame_energy[on].mean() > frame_energy[~on].mean() + 0.1
    meta = json.loads((tiny_avsync / "meta.json").read_text())
    assert not set(meta["voices"]["train"]) & set(meta["voices"]["held_out"])


def test_onsets_fit_the_clip_and_keep_their_gap():
    cfg = AVSyncConfig(clip_frames=20, events_per_clip=3, show_frames=5, min_gap_frames=7)
    rng = __import__("numpy").random.default_rng(0)
    for _ in range(200):
        o = draw_onsets(cfg, rng)
        assert o[0] >= 0 and o[-1] <= 20 - 5 and (o[1:] - o[:-1] >= 7).all()


def test_bad_config_and_missing_split_name_what_is_wrong(tmp_path):
    with pytest.raises(DatasetError, match="do not fit in clip_frames"):
        AVSyncConfig(clip_frames=10, events_per_clip=3)
    with pytest.raises(DatasetError, match="hop_ms"):
        AVSyncConfig(hop_ms=30)
    with pytest.raises(DatasetError, match=r"train\.pt not found"):
        AVSync(tmp_path, "train")
    torch.save({"video": torch.zeros(2, 30, 16, 16)}, tmp_path / "val.pt")
    with pytest.raises(DatasetError, match=r"val\.pt lacks \['audio', 'digits', 'label', 'onsets', 'show_frames'"):
        AVSync(tmp_path, "val")
    with pytest.raises(DatasetError, match="label_events=1"):
        AVSyncConfig(label_events=1)


def test_events_vary_within_a_clip_and_the_class_is_the_most_frequent_digit(tiny_avsync):
    rng = __import__("numpy").random.default_rng(0)
    cfg = AVSyncConfig()
    for label in range(10):
        digits = draw_digits(cfg, label, rng).tolist()
        assert digits.count(label) == 2 and len(set(digits)) == 2  # the class twice, one other digit
    d = AVSync(tiny_avsync, "test")
    for label, digits in zip(d.label.tolist(), d.digits.tolist(), strict=True):
        assert digits.count(label) == TINY.label_events and len(set(digits)) == 2


# --- sampler and curriculum ----------------------------------------------------------------------

def _events(n=40, seed=0) -> Events:
    """Onsets and digits of `n` clips as the generator draws them (no audio or video needed)."""
    rng = __import__("numpy").random.default_rng(seed)
    cfg = AVSyncConfig()
    onsets = torch.tensor(__import__("numpy").stack([draw_onsets(cfg, rng) for _ in range(n)]))
    digits = torch.tensor(__import__("numpy").stack([draw_digits(cfg, int(rng.integers(10)), rng) for _ in range(n)]))
    return Events(onsets, digits, cfg.show_frames, cfg.clip_frames)


def test_each_kind_of_pair_has_its_shift_range_and_an_event_in_both_windows():
    shifts = Shifts(window=10, hard_min=6, superhard=(2, 3))
    events = _events()
    pairs = sample_pairs(events, {k: 3000 for k in KINDS}, shifts, torch.Generator().manual_seed(0))
    shift = pairs["start_a"] - pairs["start_v"]
    for key in ("start_v", "start_a"):
        assert pairs[key].min() >= 0 and pairs[key].max() <= 20
    kind = pairs["kind"]
    pos, easy, hard, superhard = (kind == k for k in range(4))
    assert (pairs["y"] == pos.float()).all()
    assert (pairs["clip_a"][pos] == pairs["clip_v"][pos]).all() and (shift[pos] == 0).all()
    assert (pairs["clip_a"][easy] != pairs["clip_v"][easy]).all()
    same = pairs["clip_a"] == pairs["clip_v"]
    assert same[hard].all() and (shift[hard].abs() >= 6).all()
    assert same[superhard].all() and set(shift[superhard].abs().tolist()) == {2, 3}
    assert {-6, 6, -14, 14} <= set(shift[hard].tolist())  # both directions, near and far
    assert events.has_onset(pairs["clip_v"], pairs["start_v"], 10).all()
    assert events.has_onset(pairs["clip_a"], pairs["start_a"], 10).all()


def test_hard_negatives_are_never_aligned_and_easy_ones_keep_their_chance_alignments():
    events = _events(60, seed=1)
    pairs = sample_pairs(events, {k: 2000 for k in KINDS}, Shifts(superhard=(2, 3)), torch.Generator().manual_seed(2))
    al = aligned(events, pairs, 10)
    assert al[pairs["kind"] == 0].all()  # a positive is aligned with itself
    assert not al[pairs["kind"] == 2].any() and not al[pairs["kind"] == 3].any()  # beyond the tolerance: never
    assert al[pairs["kind"] == 1].any()  # easy: chance alignments exist (reported by the cue check, not removed)
    # without the rule, far shifts would re-align some windows (another event under this one's timing)
    free = draw(events, 2000, "shift", 10, torch.Generator().manual_seed(3), (1, 20))
    assert aligned(events, free, 10).any()


def test_alignment_content_and_scores_by_hand():
    # one clip, events at frames 2 (digit 5), 9 (digit 5), 20 (digit 1); extent 5
    events = Events(torch.tensor([[2, 9, 20]]), torch.tensor([[5, 5, 1]]), 5, 30)

    def pair(v, a):
        return {"clip_v": torch.tensor([0]), "start_v": torch.tensor([v]), "clip_a": torch.tensor([0]),
                "start_a": torch.tensor([a])}

    # the window at 0 holds onsets 2, 9; at 6 it holds 2 (still on screen, relative -4) and 9 (relative 3)
    assert aligned(events, pair(0, 0), 10).item() and not aligned(events, pair(0, 6), 10).item()
    assert aligned(events, pair(0, 1), 10).item()  # one frame: within the tolerance
    assert same_content(events, pair(0, 6), 10).item()  # both windows: 5, 5
    assert not same_content(events, pair(12, 0), 10).item()  # 9 (5), 20 (1) vs 2 (5), 9 (5)
    assert content_score(events, pair(12, 0), 10).item() == pytest.approx(1 / 3)  # {5, 1} vs {5, 5}: 1 of 3
    assert timing_score(events, pair(0, 0), 10).item() == 0
    assert timing_score(events, pair(0, 2), 10).item() == pytest.approx(-2.0)


def test_cue_table_reports_no_aligned_hard_negative():
    events = _events(80, seed=4)
    pairs = sample_pairs(events, {k: 400 for k in KINDS}, Shifts(), torch.Generator().manual_seed(5))
    table = cue_table(events, pairs, 10, KINDS).set_index("negatives")
    aligned_col = [c for c in table.columns if c.startswith("timing aligned")][0]
    assert table.loc["hard", aligned_col] == 0
    assert table.loc["easy", aligned_col] > 0 and table.loc["superhard", aligned_col] > 50  # 1 frame: by design
    assert table.loc["hard", "timing-only AUC"] == 1.0 and table.loc["superhard", "timing-only AUC"] == 1.0
    assert table.loc["superhard", "content-only AUC"] < table.loc["easy", "content-only AUC"]


def test_curriculum_easy_first_then_three_easy_to_one_hard():
    frac = [hard_fraction(e, 90, "curriculum", switch_fraction=50 / 90, hard_share=0.25) for e in range(90)]
    assert switch_epoch(90, 50 / 90) == 50
    assert frac[:50] == [0.0] * 50 and frac[50:] == [0.25] * 40  # the paper: epochs 1-50, then 51-90
    assert {hard_fraction(e, 90, "mixed", switch_fraction=0.5, hard_share=0.25) for e in range(90)} == {0.25}
    assert {hard_fraction(e, 12, "easy_only", switch_fraction=0.5, hard_share=0.25) for e in range(12)} == {0.0}
    assert epoch_counts(1600, 0.25) == {"positive": 800, "easy": 600, "hard": 200}  # easy:hard 3:1
    assert epoch_counts(1600, 0.0) == {"positive": 800, "easy": 800, "hard": 0}
    with pytest.raises(ValueError, match="schedule"):
        hard_fraction(0, 10, "warmup", switch_fraction=0.5, hard_share=0.25)


def test_windows_are_the_right_slices():
    video = torch.arange(2 * 30 * 4 * 4, dtype=torch.float).view(2, 30, 4, 4)
    audio = torch.arange(2 * 3 * 150, dtype=torch.float).view(2, 3, 150)
    pairs = {"clip_v": torch.tensor([1]), "start_v": torch.tensor([7]), "clip_a": torch.tensor([0]),
             "start_a": torch.tensor([12])}
    v, a = cut_windows(video, audio, pairs, window=10, mel_per_frame=5)
    assert v.shape == (1, 1, 10, 4, 4) and a.shape == (1, 1, 3, 50)
    assert torch.equal(v[0, 0], video[1, 7:17]) and torch.equal(a[0, 0], audio[0, :, 60:110])


def test_shift_ranges_are_checked():
    with pytest.raises(ValueError, match="hard_min"):
        Shifts(window=10, hard_min=25).check(30)
    with pytest.raises(ValueError, match="superhard"):
        Shifts(window=10, hard_min=4, superhard=(2, 4)).check(30)
    with pytest.raises(ValueError, match="tolerance"):  # a hard negative must lie beyond the tolerance
        Shifts(window=10, hard_min=1, superhard=(1, 1)).check(30)
    Shifts(window=10, hard_min=6, superhard=(1, 1)).check(30)  # super-hard may sit within it


# --- loss, threshold, networks ---------------------------------------------------------------------

def test_contrastive_loss_on_hand_computed_values():
    v = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4]])
    a = torch.tensor([[0.0, 0.5], [0.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([1.0, 0.0, 0.0])
    # d = 0.5 (positive: 0.25), 5 (negative beyond the margin: 0), 0.5 (negative: (0.99 - 0.5)^2 = 0.2401)
    assert contrastive_loss(v, a, y, margin=0.99).item() == pytest.approx((0.25 + 0.0 + 0.2401) / 3, abs=1e-6)
    assert contrastive_loss(v[:1], v[:1], y[:1]).item() == pytest.approx(0.0, abs=1e-9)
    grad = torch.zeros(1, 2, requires_grad=True)
    contrastive_loss(grad, torch.zeros(1, 2), torch.zeros(1)).backward()  # d = 0: finite gradient
    assert torch.isfinite(grad.grad).all()


def test_threshold_and_balanced_accuracy_by_hand():
    d = torch.tensor([0.1, 0.2, 0.9, 0.15, 1.0, 1.2, 0.3])
    kind = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    tau = choose_threshold(d, kind)
    assert tau == pytest.approx(0.25)  # midway 0.2-0.3: keeps both positives, loses only the easy one at 0.15
    m = sync_metrics(d, kind, tau)
    assert m["acc_positive"] == 1.0 and m["acc_easy"] == 0.75 and m["acc_hard"] == 1.0 and m["acc_superhard"] == 1.0
    assert m["auc_easy"] == 0.75 and m["auc_hard"] == 1.0  # 3 of the 4 (positive, easy) pairs ordered


def test_mixed_convolution_is_3d_early_and_2d_late_and_keeps_shapes():
    net = MixedConvVideoNet(frames=10, width=4, dim=16, n_3d=2)
    kernels = [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert kernels == [(3, 3, 3), (3, 3, 3), (1, 3, 3), (1, 3, 3)]
    x = torch.randn(5, 1, 10, 16, 16)
    assert net.conv_map(x).shape == (5, 16, 10)  # time is never pooled
    assert net(x).shape == (5, 16) and net.features(x).shape == (5, 16)
    flat = MixedConvVideoNet(frames=10, width=4, dim=16, n_3d=0)
    assert {m.kernel_size for m in flat.modules() if isinstance(m, torch.nn.Conv3d)} == {(1, 3, 3)}
    audio = AudioNet(frames=10, mel_per_frame=5, n_mels=32, width=4, dim=16)
    spec = torch.randn(5, 1, 32, 50)
    assert audio.conv_map(spec).shape == (5, 16, 10) and audio(spec).shape == (5, 16)
    with pytest.raises(ValueError, match="n_3d"):
        MixedConvVideoNet(frames=10, n_3d=5)


def test_channels_last_is_the_same_model_as_nchw_in_another_layout():
    torch.manual_seed(0)
    fast = AVTSNet(frames=10, mel_per_frame=5, n_mels=32, width=4, dim=16)
    plain = AVTSNet(frames=10, mel_per_frame=5, n_mels=32, width=4, dim=16, channels_last=False)
    plain.load_state_dict(fast.state_dict())
    conv3d = next(m for m in fast.video.modules() if isinstance(m, torch.nn.Conv3d))
    conv2d = next(m for m in fast.audio.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert conv2d.weight.is_contiguous(memory_format=torch.channels_last)
    video, audio = torch.randn(6, 1, 10, 16, 16), torch.randn(6, 1, 32, 50)
    for a, b in zip(fast(video, audio), plain(video, audio), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # the same maths; float sums in another order


def test_distances_do_not_depend_on_the_batching(tiny_avsync):
    split = AVSync(tiny_avsync, "val")
    shifts = Shifts(window=10)
    torch.manual_seed(0)
    model = build_net(NetConfig(width=2, dim=8), split, shifts.window)
    pairs = eval_pairs(split, shifts)
    whole = distances(model, split, pairs, shifts.window, batch=len(pairs["y"]))
    assert len(whole) == len(pairs["y"])
    torch.testing.assert_close(distances(model, split, pairs, shifts.window, batch=3), whole)  # last batch: 1 pair


# --- training jobs ---------------------------------------------------------------------------------

SMALL = NetConfig(width=2, dim=8)


@pytest.mark.slow
def test_jobs_are_deterministic(tiny_avsync):
    data = {s: AVSync(tiny_avsync, s) for s in ("train", "val", "test")}
    job = PretrainJob(schedule="curriculum", seed=3, epochs=2, pairs_per_epoch=64, batch_size=32, net=SMALL,
                      switch_fraction=0.5)
    runs = [train(job, data) for _ in range(2)]
    assert runs[0].history == runs[1].history and runs[0].test == runs[1].test
    assert [h["hard_fraction"] for h in runs[0].history] == [0.0, 0.25]
    best = max(range(2), key=lambda e: (runs[0].history[e][SELECT], -e))  # the val-selected epoch (ties: earlier)
    assert runs[0].job == job and runs[0].best_epoch == best
    assert runs[0].val["auc_mean"] == runs[0].history[best][SELECT]
    assert set(runs[0].auc_shift) == set(range(1, 21)) and all(0 <= a <= 1 for a in runs[0].auc_shift.values())
    for m in ("video", "audio"):
        for k, v in runs[0].state[m].items():
            assert torch.equal(v, runs[1].state[m][k]), k
    other = train(replace(job, seed=4), data)
    assert other.history != runs[0].history
    probe = ProbeJob(init="curriculum", modality="audio", mode="finetune", seed=3, state=runs[0].state["audio"],
                     labelled_per_class=1, epochs=2, net=SMALL)
    a, b = train(probe, data), train(probe, data)
    assert a.history == b.history and a.test == b.test
    assert a.val["acc"] == max(h["val_acc"] for h in a.history)  # the selected epoch's val
    assert a.history[a.best_epoch]["val_acc"] == a.val["acc"]
    linear = train(replace(probe, mode="linear", modality="video", state=runs[0].state["video"]), data)
    assert 0.0 <= linear.test["acc"] <= 1.0 and linear.best_epoch is None


def test_runs_that_draw_the_same_pairs_share_their_first_epochs():
    """The curriculum and L3-style draw only easy negatives before the switch: one SharedStart per seed, forked at
    the switch; mixed (hard negatives from epoch 0) and other knobs share nothing; the longest task goes first."""
    job = PretrainJob(schedule="curriculum", seed=0, epochs=48, switch_fraction=0.5556)
    easy, mixed = replace(job, schedule="easy_only"), replace(job, schedule="mixed")
    assert shared_epochs(job, easy) == switch_epoch(48, 0.5556) == 27
    assert shared_epochs(job, mixed) == 0 and shared_epochs(job, replace(easy, seed=1)) == 0
    assert shared_epochs(easy, replace(easy, lr=0.01)) == 0 and shared_epochs(easy, easy) == 48
    jobs = [replace(j, seed=s) for j in (job, mixed, easy) for s in (0, 1)]
    tasks = share_starts(jobs)
    assert tasks[:2] == [SharedStart((jobs[0], jobs[4]), 27), SharedStart((jobs[1], jobs[5]), 27)]
    assert tasks[2:] == [jobs[2], jobs[3]]  # 27 + 2 x 21 = 69 epochs before 48


@pytest.mark.slow
def test_a_shared_start_gives_the_bits_of_each_run_alone(tiny_avsync):
    from avlib.core.runtime import single_threaded

    data = {s: AVSync(tiny_avsync, s) for s in ("train", "val", "test")}
    jobs = [PretrainJob(schedule=s, seed=seed, epochs=5, pairs_per_epoch=64, batch_size=32, net=SMALL,
                        switch_fraction=0.6, lr_decay_at=0.8) for s in ("curriculum", "mixed", "easy_only")
            for seed in (3, 4)]
    assert isinstance(share_starts(jobs)[0], SharedStart) and share_starts(jobs)[0].fork == 3
    shared = pretrain_all(jobs, data, workers=1, progress=False)
    with single_threaded():  # as the engine runs every job
        alone = [train(job, data) for job in jobs]
    for a, b in zip(shared, alone, strict=True):
        assert a.job == b.job and a.history == b.history and a.best_epoch == b.best_epoch
        assert a.val == b.val and a.test == b.test and a.auc_shift == b.auc_shift
        for m in ("video", "audio"):
            assert all(torch.equal(v, b.state[m][k]) for k, v in a.state[m].items()), (a.job, m)
    assert shared[0].history[:3] == shared[4].history[:3] and shared[0].history[3:] != shared[4].history[3:]


# --- the notebooks ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_three_notebooks_smoke_in_a_chain(tmp_path):
    import run_stage

    reports, root = tmp_path / "reports", tmp_path / "avsync"
    run_stage.run("data_avsync", ["smoke=true", f"root={root}"], reports)
    assert (root / "train.pt").exists() and (reports / "data_avsync" / "examples.png").exists()
    pre = run_stage.run("avts_pretrain", ["smoke=true", f"root={root}", "width=2", "dim=8"], reports)
    for name in ("table.md", "table.csv", "history.csv", "encoders.pt", "curves.png", "findings.md", "metrics.json"):
        assert (pre / name).exists(), name
    for name in ("runs.csv", "auc_vs_shift.csv", "auc_vs_shift.png", "cues.md"):
        assert (pre / name).exists(), name
    table = (pre / "table.md").read_text()
    assert "ours (AV-Sync) AUC, superhard" in table and "L3-style" in table and "without curriculum" in table
    assert "Holm p" in table
    more = run_stage.run("avts_more_seeds", ["smoke=true", f"root={root}", "width=2", "dim=8"], reports)
    assert (more / "encoders.pt").exists() and set(pd.read_csv(more / "runs.csv")["seed"]) == {3, 4}
    encoders = f"encoders=[{pre / 'encoders.pt'}, {more / 'encoders.pt'}]"
    probe = run_stage.run("avts_probe", ["smoke=true", f"root={root}", encoders], reports)
    assert set(pd.read_csv(probe / "runs.csv")["seed"]) == {0, 1, 3, 4}  # both stages' pretraining seeds
    table = (probe / "table.md").read_text()
    assert "paper (UCF101) top-1" in table and "89" in table and "82.3" in table and "Δ vs scratch" in table
    assert "Holm p (12 comparisons)" in table
    assert (probe / "agreement.csv").exists()
    history = pd.read_csv(probe / "history.csv")  # the fine-tuning runs' curves, for reports/convergence
    assert {"init", "modality", "seed", "epoch", "val_acc"} <= set(history.columns)
    assert set(history["epoch"]) == {0, 1}  # smoke: 2 epochs; only fine-tuning runs have epochs
    assert json.loads((probe / "provenance.json").read_text())["embedded_data"] is True


def test_the_stage_knobs_are_the_jobs_fields():
    from dataclasses import fields

    from avlib.stages import avts_pretrain
    from avlib.tasks.avts.sampling import Shifts

    for knobs, cls in ((avts_pretrain.JOB_FIELDS, PretrainJob), (avts_pretrain.SHIFT_FIELDS, Shifts),
                       (avts_pretrain.NET_FIELDS, NetConfig)):
        assert set(knobs) <= {f.name for f in fields(cls)}, cls.__name__
    assert set(avts_pretrain.NET_FIELDS) == {f.name for f in fields(NetConfig)}  # avts_probe rebuilds it


def test_bad_params_are_named_before_anything_runs(tmp_path):
    import run_stage

    from avlib.core.params import ParamError

    with pytest.raises(ParamError, match=r"avts_pretrain\.superhard"):
        run_stage.stage_params("avts_pretrain", ["superhard=[2, 12]"])
    with pytest.raises(ParamError, match=r"avts_pretrain\.schedules"):
        run_stage.stage_params("avts_pretrain", ["schedules=[mixed]"])
    from avlib.stages import avts_probe

    p = avts_probe.PARAMS.check(run_stage.stage_params("avts_probe", [f"encoders=[{tmp_path / 'none.pt'}]"]))
    with pytest.raises(ParamError, match=r"avts_probe\.encoders: .*none\.pt.*file not found"):
        avts_probe.load_encoders(p)
    with pytest.raises(ParamError, match=r"avts_probe\.encoders="):
        run_stage.stage_params("avts_probe", ["encoders=[]"])


# --- the avts_probe tie (issue #29) ----------------------------------------------------------------

def _probe(init, seed, acc, predictions):
    state = None if init == "scratch" else {"w": torch.tensor([float(len(init))])}  # different per init
    job = ProbeJob(init=init, modality="video", mode="linear", seed=seed, state=state)
    return ProbeResult(job=job, val={"acc": acc}, test={"acc": acc}, best_epoch=None, predictions=predictions)


def test_a_tie_is_told_apart_from_a_shared_probe_by_the_predictions():
    from types import SimpleNamespace

    from avlib.stages import avts_probe

    p = SimpleNamespace(inits=["curriculum", "easy_only"])
    chance = [_probe("curriculum", 0, 0.5, [0, 1, 2, 3]), _probe("easy_only", 0, 0.5, [0, 1, 3, 2]),
              _probe("scratch", 0, 0.25, [0, 0, 0, 0])]
    agree = avts_probe.agreement(chance, p)
    row = agree[agree["other"] == "easy_only"].iloc[0]
    assert row["acc_avts"] == row["acc_other"] and row["clips_predicted_differently"] == 0.5
    assert "coincidence of counts" in avts_probe._tie_note(agree, "video", "linear", "easy_only")
    same = [_probe("curriculum", 0, 0.5, [0, 1, 2, 3]), _probe("easy_only", 0, 0.5, [0, 1, 2, 3]),
            _probe("scratch", 0, 0.25, [0, 0, 0, 0])]
    assert "a bug" in avts_probe._tie_note(avts_probe.agreement(same, p), "video", "linear", "easy_only")
    assert avts_probe._tie_note(agree, "video", "linear", "scratch") == ""  # accuracies differ: no tie
    shared = [_probe("curriculum", 0, 0.5, [0, 1, 2, 3]), _probe("easy_only", 0, 0.5, [0, 1, 2, 3]),
              _probe("scratch", 0, 0.25, [0, 0, 0, 0])]
    shared[1].job = replace(shared[1].job, state=shared[0].job.state)  # a curriculum run selected before its switch
    assert "same encoder weights" in avts_probe._tie_note(avts_probe.agreement(shared, p), "video", "linear",
                                                          "easy_only")


def test_probe_comparisons_are_one_holm_family_and_resolve_only_after_it():
    """Each pretraining vs scratch and AVTS-lite vs L3-style, per modality and protocol: one family of 12 whose
    p-values are Holm-adjusted together; a Δ whose raw p is small but whose adjusted p is not stays unresolved
    in the findings (the stage once called every raw-interval gain "resolvable")."""
    from types import SimpleNamespace

    from avlib.stages import avts_probe
    from avlib.stages.shared.stats import holm

    p = SimpleNamespace(inits=["curriculum", "easy_only"], modalities=["video", "audio"],
                        modes=["linear", "finetune"], epochs=10, dataset="avsync", probe_draws=1)
    rows = []
    for modality in p.modalities:
        for mode in p.modes:
            for seed, noise in enumerate((0.00, 0.01, -0.01)):
                for init, acc in (("curriculum", 0.50), ("easy_only", 0.49), ("scratch", 0.30)):
                    lift = 0.05 if (modality, mode, init) == ("video", "linear", "easy_only") else 0.0
                    rows.append({"init": init, "modality": modality, "mode": mode, "seed": seed,
                                 "test": acc + lift + noise * (init == "curriculum"), "val": acc,
                                 "best_epoch": 9 if mode == "finetune" else None})
    runs = pd.DataFrame(rows)
    family = avts_probe.deltas(runs, p)
    assert len(family) == 12
    raw = [d.p for d, _ in family.values()]
    assert [adj for _, adj in family.values()] == holm(raw)
    findings = avts_probe.findings(runs, p, {"gain_over_scratch_points": {"UCF101": 19.9, "HMDB51": 17.7}})
    assert "Holm over 12 comparisons" in findings and "resolvable" not in findings
    first = findings.splitlines()[2]  # the summary leads: what is resolved, of the 12
    assert first.startswith("- Resolved after Holm over the 12 comparisons: ") and "the other" in first
    assert "a gain, resolved after Holm correction over 12 comparisons" in findings  # zero-spread gains
    assert "18/18 runs select an epoch in the last 20%" in findings  # every fine-tuning run picked epoch 10 of 10


def test_probe_draws_average_within_a_pretraining_seed_and_the_unit_stays_the_seed():
    """Draw k of pretraining seed s trains at probe seed s + 1000 k; a seed's accuracy is the mean over its draws
    and the paired Δ is over the pretraining seeds (n = 3 here, not the 6 runs)."""
    from types import SimpleNamespace

    from avlib.stages import avts_probe

    assert avts_probe.seed_and_draw(2) == {"seed": 2, "draw": 0}
    assert avts_probe.seed_and_draw(1002) == {"seed": 2, "draw": 1}
    p = SimpleNamespace(inits=["curriculum"], modalities=["video"], modes=["finetune"])
    rows = [{"init": init, "modality": "video", "mode": "finetune", "seed": seed, "draw": draw, "val": 0.0,
             "test": base + 0.1 * seed + (0.04 if draw else -0.04) * (init == "scratch")}
            for init, base in (("curriculum", 0.6), ("scratch", 0.4)) for seed in range(3) for draw in range(2)]
    runs = pd.DataFrame(rows)
    assert avts_probe._test(runs, "scratch", "video", "finetune") == pytest.approx([0.4, 0.5, 0.6])
    d, _ = avts_probe.deltas(runs, p)[("video", "finetune", "curriculum", "scratch")]
    assert d.n == 3 and d.mean == pytest.approx(20.0) and d.half == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_different_encoders_give_different_linear_probes(tiny_avsync):
    """The probe loads the encoder it is given: two different states, different features and predictions."""
    data = {s: AVSync(tiny_avsync, s) for s in ("train", "val", "test")}
    runs = [train(PretrainJob(schedule=s, seed=0, epochs=1, pairs_per_epoch=64, batch_size=32, net=SMALL), data)
            for s in ("mixed", "easy_only")]
    probes = [train(ProbeJob(init=r.job.schedule, modality="video", mode="linear", seed=0, state=r.state["video"],
                             labelled_per_class=1, net=SMALL), data) for r in runs]
    assert len(probes[0].predictions) == len(data["test"])
    from avlib.tasks.avts.train import _encoder

    feats = [_encoder(pr.job, data["train"]).eval().features(torch.randn(3, 1, 10, 16, 16)) for pr in probes]
    assert not torch.allclose(feats[0], feats[1])


def test_lr_decays_once_at_its_epoch():
    job = PretrainJob(schedule="curriculum", seed=0, epochs=40, lr=0.003, lr_decay_at=0.6)
    assert decay_epoch(job) == 24
    assert [lr_at(e, job) for e in (0, 23, 24, 39)] == [0.003, 0.003, 0.003 * 0.1, 0.003 * 0.1]
    constant = replace(job, lr_decay_at=1.0)  # the default: no decay, the lr of every earlier run
    assert decay_epoch(constant) is None and {lr_at(e, constant) for e in range(40)} == {0.003}
    with pytest.raises(ValueError, match="lr_decay_at=0"):
        decay_epoch(replace(job, lr_decay_at=0.0))


def test_a_second_decay_multiplies_again_from_its_epoch():
    job = PretrainJob(schedule="curriculum", seed=0, epochs=48, lr=0.003, lr_decay_at=0.6, lr_second_decay_at=0.8)
    assert decay_epochs(job) == [29, 38]
    assert [lr_at(e, job) for e in (28, 29, 37, 38, 47)] == [0.003, 0.003 * 0.1, 0.003 * 0.1, 0.003 * 0.1 ** 2,
                                                              0.003 * 0.1 ** 2]
    assert decay_epochs(replace(job, lr_second_decay_at=1.0)) == [29]  # the default: one decay, as before
    with pytest.raises(ValueError, match="lr_second_decay_at=0.5"):
        decay_epochs(replace(job, lr_second_decay_at=0.5))


@pytest.mark.slow
def test_a_decayed_run_logs_its_lr(tiny_avsync):
    data = {s: AVSync(tiny_avsync, s) for s in ("train", "val", "test")}
    job = PretrainJob(schedule="curriculum", seed=3, epochs=2, pairs_per_epoch=64, batch_size=32, net=SMALL,
                      lr=0.01, lr_decay_at=0.5)
    assert [h["lr"] for h in train(job, data).history] == [0.01, 0.01 * 0.1]


def test_the_probe_pools_the_seeds_of_several_encoder_files_and_refuses_a_mismatch(tmp_path):
    """avts_probe reads avts_pretrain's and avts_more_seeds's encoders as one set of pretraining seeds: a seed in
    two files, or files built otherwise, would pool unlike things under one seed axis."""
    from types import SimpleNamespace

    from avlib.core.params import ParamError
    from avlib.stages import avts_probe

    def blob(name, seeds, width=8):
        state = {"video": {"w": torch.zeros(1)}, "audio": {"w": torch.ones(1)}}
        torch.save({"root": "data/x", "window": 10, "net": {"width": width, "dim": 4, "n_3d": 2}, "seeds": seeds,
                    "smoke": False, "encoders": {i: dict.fromkeys(seeds, state) for i in ("curriculum", "easy_only")}},
                   tmp_path / name)
        return str(tmp_path / name)

    p = SimpleNamespace(root="data/x", inits=["curriculum", "easy_only"], encoders=[blob("a", [0, 1]), blob("b", [3])])
    merged = avts_probe.load_encoders(p)
    assert merged["seeds"] == [0, 1, 3] and sorted(merged["encoders"]["easy_only"]) == [0, 1, 3]
    p.encoders = [blob("a", [0, 1]), blob("c", [1, 2])]
    with pytest.raises(ParamError, match=r"avts_probe\.encoders: seeds \[1\] are in .*c and in an earlier file"):
        avts_probe.load_encoders(p)
    p.encoders = [blob("a", [0, 1]), blob("d", [3], width=4)]
    with pytest.raises(ParamError, match=r"avts_probe\.encoders: .*d has net="):
        avts_probe.load_encoders(p)
