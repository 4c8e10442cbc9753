"""Bilinear AV-ASR: PER, phone alignment from eSpeak NG events, the bilinear layers, AV-Speech, the stages."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avlib.core.params import ParamError
from avlib.core.runtime import single_threaded
from avlib.data import DatasetError, load_dataset
from avlib.data.embedded.avspeech import (
    STATES,
    AVSpeech,
    AVSpeechConfig,
    frame_phones,
    frame_states,
    generate,
    phone_of,
    viseme_of,
)
from avlib.models.bilinear import BilinearSoftmax, FactoredBilinearSoftmax, FrameDNN, average_log_posteriors
from avlib.tasks.asr.metrics import collapse, decode, edit_distance, phone_error_rate, phone_loop_viterbi
from avlib.tasks.asr.premise import premise_table
from avlib.tasks.asr.train import FUSED, AVASRConfig, AVASRJob, fused_networks, train

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(n_train=10, n_val=5, n_test=5)


@pytest.fixture(scope="module")
def tiny_avspeech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("avspeech") / "avspeech"
    generate(root, AVSpeechConfig(**TINY), progress=False)
    return root


# --- PER ----------------------------------------------------------------------------------------------

def test_collapse_merges_repeats_then_drops_silence():
    assert collapse([0, 0, 5, 5, 5, 0, 5, 7, 7], drop=0) == [5, 5, 7]  # the silence between keeps two 5s
    assert collapse("aabbba") == ["a", "b", "a"]


def test_edit_distance_and_per_on_hand_computed_strings():
    assert edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert edit_distance([], [1, 2]) == 2 and edit_distance([1, 2, 3], [1, 2, 3]) == 0
    # utterance 1: one deletion (of 2) out of 3; utterance 2: one insertion out of 1 -> 2 / 4
    assert phone_error_rate([[1, 2, 3], [4]], [[1, 3], [4, 5]]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="references"):
        phone_error_rate([[1]], [])


def test_viterbi_switch_penalty_removes_a_one_frame_flicker():
    log_probs = np.log(np.array([[.9, .1], [.4, .6], [.9, .1], [.2, .8], [.2, .8]]))
    assert phone_loop_viterbi(log_probs, 0.0).tolist() == [0, 1, 0, 1, 1]  # = frame-wise argmax
    assert phone_loop_viterbi(log_probs, 2.0).tolist() == [0, 0, 0, 1, 1]


def test_decode_sums_states_into_phones_per_utterance():
    groups = torch.arange(3 * STATES) // STATES  # 3 phones x 3 states; phone 0 is silence
    frames = torch.tensor([0, 0, 4, 5, 3, 7, 8, 1])  # classes: sil sil p1 p1 p1 p2 p2 sil
    log_probs = torch.log(torch.nn.functional.one_hot(frames, 9).double() * 0.98 + 0.02 / 9)
    assert decode(log_probs, [0, 5, 8], groups, 0.0) == [[1], [2]]


# --- phone alignment ------------------------------------------------------------------------------------

def test_frame_phones_from_events_by_hand():
    # 22,050 Hz events; speech 0.1 s at 16 kHz after 320 samples (2 frames) of padding
    events = [("T", 0), ("r", 441), ("'i:", 882)]  # starts at 0, 20, 40 ms of speech
    which = frame_phones(events, n_speech=1600, pad_before=320, n_frames=16, rate_in=22_050)
    # frame t's centre is 10 t ms; speech starts at 20 ms: T 20-40, r 40-60, i: 60-120, padding after
    assert which.tolist() == [-1, -1, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, -1, -1, -1, -1]
    assert frame_states(which).tolist() == [0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 2, 2, 0, 0, 1, 2]
    assert phone_of("'i:") == "i:" and phone_of("_:") == "sil" and phone_of("r-") == "r"


def test_espeak_reports_the_phones_of_an_utterance_with_their_samples():
    from avlib.data.synth.speech_events import synthesize_with_events

    (samples, events), = synthesize_with_events([dict(text="three", voice="en+m3", rate=175, pitch=50)])
    phones = [phone_of(m) for m, _ in events]
    assert phones[:3] == ["T", "r", "i:"] and set(phones[3:]) == {"sil"}
    starts = [s for _, s in events]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] <= len(samples)
    assert np.abs(samples[: starts[0]]).max() < np.abs(samples[starts[1] : starts[3]]).max()  # speech after T's start


# --- bilinear layers ------------------------------------------------------------------------------------

def test_factored_bilinear_equals_full_bilinear_at_full_rank():
    torch.manual_seed(0)
    full = BilinearSoftmax(audio_dim=4, visual_dim=3, n_classes=5)
    with torch.no_grad():
        full.W.normal_()
    factored = FactoredBilinearSoftmax.from_full(full)
    h1, h2 = torch.randn(7, 4), torch.randn(7, 3)
    assert factored.w.shape == (5, 12)
    torch.testing.assert_close(factored(h1, h2), full(h1, h2), rtol=1e-5, atol=1e-5)
    by_hand = torch.stack([h1 @ full.W[c] @ h2.T for c in range(5)], -1).diagonal().T  # h1ᵀ W_y h2 per class
    torch.testing.assert_close(full(h1, h2) - full.audio_linear(h1) - full.visual_linear(h2), by_hand, rtol=1e-5,
                               atol=1e-5)


def test_shared_factored_bilinear_shares_weights_within_a_group():
    torch.manual_seed(0)
    layer = FactoredBilinearSoftmax(audio_dim=4, visual_dim=3, n_classes=6, rank=2, groups=[0, 0, 0, 1, 1, 1])
    assert layer.w.shape == (2, 2)  # G x F, not C x F
    with torch.no_grad():
        layer.w.normal_()
    h1, h2 = torch.randn(5, 4), torch.randn(5, 3)
    bilinear = layer(h1, h2) - layer.audio_linear(h1) - layer.visual_linear(h2)
    torch.testing.assert_close(bilinear[:, 0], bilinear[:, 2])
    assert not torch.allclose(bilinear[:, 0], bilinear[:, 3])
    with pytest.raises(ValueError, match="groups"):
        FactoredBilinearSoftmax(audio_dim=4, visual_dim=3, n_classes=6, rank=2, groups=[0, 1])


def test_average_log_posteriors_is_the_log_of_the_mean():
    a, b = torch.log_softmax(torch.randn(3, 4), 1), torch.log_softmax(torch.randn(3, 4), 1)
    torch.testing.assert_close(average_log_posteriors(a, b).exp(), (a.exp() + b.exp()) / 2)


# --- AV-Speech --------------------------------------------------------------------------------------------

def test_avspeech_splits_labels_and_snr_remix(tiny_avspeech):
    meta = json.loads((tiny_avspeech / "meta.json").read_text())
    train, test = AVSpeech(tiny_avspeech, "train"), load_dataset("avspeech", tiny_avspeech, "test")
    assert train.n_utterances == 10 and train[0]["audio"].shape == (9 * 24,) and train[0]["visual"].shape == (5 * 96,)
    assert not {v.removeprefix("en+") for v in train.voice} & set(meta["voices"]["held_out"])
    assert int(train.label.max()) < train.n_classes and (train.label // STATES == 0).any()  # silence frames
    noisy = AVSpeech(tiny_avspeech, "test", snr_db=-10.0)
    assert torch.equal(noisy.visual_frames, test.visual_frames) and torch.equal(noisy.label, test.label)
    assert not torch.equal(noisy.audio_frames, test.audio_frames)
    assert torch.equal(AVSpeech(tiny_avspeech, "test", snr_db=-10.0).audio_frames, noisy.audio_frames)


def test_the_visual_stream_is_not_a_relabelled_copy_of_the_phones(tiny_avspeech):
    """A nearest-class-mean reader of one video frame, fitted on train, reads the VISEME (all that vision
    carries) of held-out speakers' frames far from perfectly: a relabelled copy of the phones (a viseme code
    plus noise) would be read almost always. One phone's frames differ (dynamics, speaker, light, noise)."""
    train, test = AVSpeech(tiny_avspeech, "train"), AVSpeech(tiny_avspeech, "test")
    names = sorted({viseme_of(p) for p in train.phones})
    viseme = torch.tensor([names.index(viseme_of(p)) for p in train.phones])
    y, y_test = viseme[train.label // STATES], viseme[test.label // STATES]
    present = y.unique()
    means = torch.stack([train.visual_frames[y == c].mean(0) for c in present])
    read = (present[torch.cdist(test.visual_frames, means).argmin(1)] == y_test).float().mean()
    assert read < 0.5
    assert float(train.visual_frames[train.label // STATES == 0].std(0).mean()) > 0.3  # silence alone moves


def test_premise_table_checks_the_four_criteria():
    import pandas as pd

    rows = [{"snr_db": snr, "seed": 0, "model": m, "val_frame_acc": acc, "val_per": per}
            for snr, m, acc, per in ((-15.0, "audio", 0.15, 0.90), (-15.0, "visual", 0.20, 0.80),
                                     (30.0, "audio", 0.55, 0.25), (30.0, "visual", 0.20, 0.80))]
    table = premise_table(pd.DataFrame(rows), chance=0.12)
    assert table.holds.tolist() == [True, True, True, True]
    rows[1]["val_per"], rows[3]["val_per"] = 0.95, 0.95  # the noisy level: audio no worse than vision
    assert premise_table(pd.DataFrame(rows), chance=0.12).holds.tolist() == [True, True, True, False]
    assert not premise_table(pd.DataFrame(rows), chance=0.18).holds.iloc[0]  # 2 points above chance only


def test_stage_table_reports_frame_error_per_and_holm_adjusted_deltas():
    import pandas as pd

    from avlib.stages import avasr_fusion

    models = ("audio", "visual", "frozen", "concat", "bilinear", "factored", "shared", "average")
    rng = np.random.default_rng(0)
    runs = pd.DataFrame([{"snr_db": 0.0, "seed": s, "model": m, "test_frame_acc": 0.5 + 0.01 * i + 0.01 * rng.random(),
                          "test_per": 0.4 - 0.01 * i + 0.01 * rng.random()} for s in range(3)
                         for i, m in enumerate(models)]).assign(test_frame_err=lambda d: 1 - d.test_frame_acc)
    p = type("P", (), {"main_snr_db": 0.0})
    table = avasr_fusion.fusion_table(runs, p=p, reference={"audio_only_per": 41, "bimodal_dnn_concat_per": 35.83})
    assert list(table.columns) == ["model", "ours (AV-Speech) frame error %", "paper (IBM AV-ASR) PER % (frame-level)",
                                   "ours (AV-Speech) PER % (edit distance)", avasr_fusion.DELTA_ERR,
                                   avasr_fusion.DELTA_PER]
    concat = table[table.model.str.startswith("Concat")].iloc[0]
    assert concat[avasr_fusion.DELTA_PER] == "–" and "p_Holm=" in table.iloc[4][avasr_fusion.DELTA_PER]
    assert len(avasr_fusion.deltas(runs, 0.0)) == 2 * len(avasr_fusion.COMPARED)  # the Holm family


def test_avspeech_generation_is_deterministic(tiny_avspeech, tmp_path):
    generate(tmp_path / "again", AVSpeechConfig(**TINY), progress=False)
    for name in ("train.pt", "val.pt", "test.pt", "meta.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny_avspeech / name).read_bytes(), name


def test_avspeech_missing_root_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"train\.pt.*data_avspeech"):
        AVSpeech(tmp_path / "nowhere", "train")


def test_train_is_deterministic_and_reports_every_model(tiny_avspeech):
    data = {0.0: {s: AVSpeech(tiny_avspeech, s) for s in ("train", "val", "test")}}
    cfg = AVASRConfig(hidden=(16,), bottleneck=8, rank=4, epochs=1, joint_epochs=1, batch_size=128,
                      penalties=(0.0, 4.0))
    with single_threaded():  # as run_tasks runs it
        first, second = (train(AVASRJob(seed=3, snr_db=0.0, config=cfg), data) for _ in range(2))
    assert (first.val, first.test, first.penalty, first.partner) == (second.val, second.test, second.penalty,
                                                                     second.partner)
    assert set(first.test) == {"audio", "visual", "frozen", "concat", "bilinear", "factored", "shared", "average"}
    for model, metrics in first.test.items():
        assert 0 <= metrics["frame_acc"] <= 1 and metrics["per"] >= 0 and first.penalty[model] in (0.0, 4.0)
    assert first.partner in ("bilinear", "factored", "shared")
    assert first.history == second.history and {h["model"] for h in first.history} == set(first.test) - {"average"}
    assert {m: first.epochs[m] for m in FUSED} == dict.fromkeys(FUSED, cfg.joint_epochs)  # the same budget


def test_every_fused_network_starts_from_the_same_towers_and_the_same_function():
    torch.manual_seed(0)
    towers = {m: FrameDNN(in_dim=d, hidden=(6,), bottleneck=4, n_classes=9) for m, d in (("audio", 5), ("visual", 7))}
    cfg = AVASRConfig(bottleneck=4, rank=3)
    nets = fused_networks(towers, cfg, n_classes=9, groups=torch.arange(9) // 3, seed=11)
    assert list(nets) == list(FUSED)
    x1, x2 = torch.randn(8, 5), torch.randn(8, 7)
    start = nets["concat"](x1, x2)
    for kind, net in nets.items():
        for m in ("audio", "visual"):
            mine, theirs = getattr(net, m).state_dict(), towers[m].state_dict()
            assert all(torch.equal(mine[k], theirs[k]) for k in theirs), (kind, m)
            assert getattr(net, m) is not towers[m]  # a copy: fine-tuning one leaves the others alone
        torch.testing.assert_close(net(x1, x2), start, rtol=0, atol=1e-6)  # the bilinear terms start at 0
    assert nets["bilinear"].head.W.abs().sum() == 0 and nets["shared"].head.w.shape == (3, 3)


def test_stage_config_knobs_are_the_config_fields():
    from dataclasses import fields

    from avlib.stages import avasr_fusion

    assert list(avasr_fusion.CONFIG_FIELDS) == [f.name for f in fields(AVASRConfig)]


def test_stage_params_reject_main_seeds_without_the_sweeps():
    import yaml

    from avlib.stages import avasr_fusion

    section = dict(yaml.safe_load((ROOT / "params.yaml").read_text())["avasr_fusion"], main_seeds=[1, 2, 3, 4])
    with pytest.raises(ParamError, match=r"avasr_fusion.main_seeds=.*\[0\] missing"):
        avasr_fusion.PARAMS.check(section)


def test_stage_params_reject_a_main_snr_outside_the_sweep():
    import yaml

    from avlib.stages import avasr_fusion

    section = dict(yaml.safe_load((ROOT / "params.yaml").read_text())["avasr_fusion"], main_snr_db=7.0)
    with pytest.raises(ParamError, match="avasr_fusion.main_snr_db=7.0"):
        avasr_fusion.PARAMS.check(section)


# --- the stages' smoke runs ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_avspeech_stages_smoke(tmp_path):
    import run_stage

    root = tmp_path / "avspeech"
    out = run_stage.run("data_avspeech", ["smoke=true", f"root={root}"], tmp_path / "reports")
    for name in ("splits.md", "phones.md", "example.png", "metrics.json", "provenance.json"):
        assert (out / name).exists(), name
    out = run_stage.run("avasr_fusion", ["smoke=true", f"root={root}"], tmp_path / "reports")
    for name in ("premise.md", "table.md", "sweep.md", "runs.csv", "snr_sweep.png", "findings.md", "metrics.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Speech) frame error %" in table and "paper (IBM AV-ASR) PER % (frame-level)" in table
    assert "35.83" in table and "ours (AV-Speech) PER % (edit distance)" in table and "p_Holm=" in table
    runs = (out / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"test_frame_err", "test_per", "best_epoch", "best_epoch_late", "epochs", "lr"} <= set(runs)
    # every trained network's val per epoch (reports/convergence reads it), its kept epoch as in runs.csv
    import pandas as pd

    history, table = pd.read_csv(out / "history.csv"), pd.read_csv(out / "runs.csv")
    assert {"snr_db", "seed", "model", "epoch", "lr", "val_frame_acc", "selected"} <= set(history.columns)
    kept = history[history["selected"]].set_index(["snr_db", "seed", "model"])["epoch"]
    trained = table.dropna(subset=["best_epoch"]).set_index(["snr_db", "seed", "model"])["best_epoch"]
    assert kept.loc[trained.index].astype(int).tolist() == trained.astype(int).tolist()
    assert json.loads((out / "provenance.json").read_text())["ran_with"]["seeds"] == [0]
    # avasr_more_seeds trains the same job in its own stage, bit for bit, and avasr_fusion reads it back
    more = run_stage.run("avasr_more_seeds", ["smoke=true", f"root={root}", "seeds=[0]"], tmp_path / "reports")
    assert (more / "runs.csv").read_text() == (out / "runs.csv").read_text()
    store = more / "trained_runs.json.gz"
    read = run_stage.run("avasr_fusion", ["smoke=true", f"root={root}", f"seeds_from={store}"], tmp_path / "read")
    assert (read / "runs.csv").read_text() == (out / "runs.csv").read_text()
    assert "trained by avasr_more_seeds" in (read / "findings.md").read_text()


def test_the_towers_lr_decays_once_at_its_epoch():
    from avlib.tasks.asr.train import AVASRConfig, tower_decay_epoch

    assert tower_decay_epoch(AVASRConfig(epochs=10, lr_decay_at=0.6)) == 6
    assert tower_decay_epoch(AVASRConfig(epochs=10)) is None  # the default: a constant lr, every earlier run's
    with pytest.raises(ValueError, match="lr_decay_at=0"):
        tower_decay_epoch(AVASRConfig(lr_decay_at=0.0))


def test_the_frozen_softmax_trains_its_own_epochs(tiny_avspeech):
    from avlib.tasks.asr.train import frozen_epochs

    assert frozen_epochs(AVASRConfig(joint_epochs=5)) == 5  # the default: the fused networks' count, as before
    assert frozen_epochs(AVASRConfig(joint_epochs=5, frozen_epochs=20)) == 20
    data = {0.0: {s: AVSpeech(tiny_avspeech, s) for s in ("train", "val", "test")}}
    cfg = AVASRConfig(hidden=(16,), bottleneck=8, rank=4, epochs=1, joint_epochs=1, frozen_epochs=3,
                      batch_size=128, penalties=(0.0,))
    with single_threaded():
        result = train(AVASRJob(seed=3, snr_db=0.0, config=cfg, models=("audio", "visual", "frozen")), data)
    assert result.epochs == {"audio": 1, "visual": 1, "frozen": 3}


def test_convergence_check_reads_each_group_at_its_own_epochs():
    import pandas as pd

    from avlib.stages.avasr_fusion import convergence_check

    rows = [("audio", 10, 9), ("visual", 10, 3), ("frozen", 20, 17), ("concat", 5, 4), ("bilinear", 5, 1),
            ("average", None, None)]
    runs = pd.DataFrame([{"model": m, "epochs": e, "best_epoch": b,
                          "best_epoch_late": None if e is None else b >= int(0.8 * e)} for m, e, b in rows])
    runs = runs.astype({"epochs": "Int64", "best_epoch": "Int64"})
    check = convergence_check(runs)
    assert list(check) == ["towers", "frozen-tower softmax", "fused network"]
    assert [check[g]["epochs"] for g in check] == [10, 20, 5]  # each sentence names its own group's epochs
    assert [check[g]["late_runs"] for g in check] == [1, 1, 1]
