"""Stage t3_imbalance's own logic on fake runs: the per-method choice on val, the table's columns and the
published numbers each row gets."""

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import run_stage
import yaml

from avlib import report
from avlib.balance import OGMConfig, method_config
from avlib.stages import t3_imbalance as stage
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"
P = SimpleNamespace(**yaml.safe_load(PARAMS_YAML.read_text())["t3_imbalance"])


class _Untouchable(dict):
    def __getitem__(self, key):
        raise AssertionError("the choice read a test metric")

    get = __getitem__


def test_each_method_keeps_its_own_best_val_point_and_never_reads_test(monkeypatch):
    p = SimpleNamespace(**vars(P))
    p.rows = ["concat", "ogm", "agm"]
    p.grids = {"ogm": {"alpha": [0.1, 0.5, 0.8]}, "agm": {"alpha": [0.05, 0.2]}}
    p.selection_seeds = [100, 101]
    vals = [0.70, 0.75, 0.75, 0.90, 0.60]  # ogm: a tie, the first wins; agm: the first
    seen = []

    value = dict(zip((s.label for s in stage.grid_specs(p)), vals, strict=True))

    def fake_run_groups(groups, data, **kwargs):
        seen.append([(s.label, seed, probe) for specs, seeds, probe in groups for s in specs for seed in seeds])
        return [[RunResult(job=RunJob(s, seed, TrainConfig()), test=_Untouchable(),
                           val={"acc": value[s.label] + seed / 1000}, best_epoch=0, probe={}) for s in specs
                 for seed in seeds] for specs, seeds, _ in groups]

    monkeypatch.setattr(stage, "run_groups", fake_run_groups)
    grid, chosen = stage.choose_methods(p, {}, None, None)
    # every point at every selection seed, no probes, all in one call (one pool)
    assert seen == [[(label, seed, False) for label in value for seed in (100, 101)]]
    assert list(grid.columns[:4]) == ["method", "setting", "val_acc_s100", "val_acc_s101"]
    assert grid["val_acc"].tolist() == pytest.approx([v + 0.1005 for v in vals])  # the mean over the seeds
    assert grid["val_acc_spread"].tolist() == pytest.approx([0.001] * 5)
    margins = stage.margins(grid)
    assert margins["ogm"]["margin"] == pytest.approx(0.0) and margins["ogm"]["within_noise"]  # a tie
    assert margins["agm"]["margin"] == pytest.approx(0.30) and not margins["agm"]["within_noise"]
    assert chosen == {"ogm": method_config("ogm", alpha=0.5), "agm": method_config("agm", alpha=0.05)}
    assert grid["chosen"].tolist() == [False, True, False, True, False]
    assert [s.method for s in stage.table_specs(p, chosen)] == [None, chosen["ogm"], chosen["agm"]]


def _run(label, method, seed, acc, cpu):
    return RunResult(job=RunJob(RunSpec(label, "concat", method), seed, TrainConfig()), test={"acc": acc, "map": acc},
                     val={"acc": acc}, best_epoch=0, cpu_s=cpu, history=[{"epoch": 0, "rho_audio": 1.5}],
                     probe={"val": {}, "test": {"audio": 0.6, "visual": 0.4}})


def test_table_pairs_with_concatenation_and_places_the_published_numbers():
    runs = [_run("concat", None, s, a, 10.0) for s, a in ((0, 0.70), (1, 0.72))]
    runs += [_run("ogm_ge", OGMConfig(alpha=0.3), s, a, 15.0) for s, a in ((0, 0.74), (1, 0.75))]
    runs += [_run("ogm", OGMConfig(alpha=0.3, ge=False), s, a, 12.0) for s, a in ((0, 0.70), (1, 0.71))]
    p = SimpleNamespace(**vars(P))
    p.paper_only_rows = ["MLA"]
    reference = report.load_reference("ogmge_t3_imbalance.csv")
    benchmark = report.load_reference("balancebenchmark_av.csv")
    table = stage.imbalance_table(runs, p=p, reference=reference, benchmark=benchmark).set_index("method")
    assert table.loc["OGM-GE", "Δ acc vs Concatenation (paired)"].startswith("+3.5 ± ")
    assert table.loc["OGM-GE", "Δ acc vs Concatenation (paired)"].endswith("(2/2)")
    assert table.loc["OGM-GE", "training time vs Concatenation"] == "1.50×"  # CPU time, not wall
    assert table.loc["OGM-GE", "paper (CREMA-D) acc"] == 61.9 and table.loc["OGM", "paper (CREMA-D) acc"] == 59.0
    # BalanceBenchmark's "OGM" row runs OGM-GE: it goes on our OGM-GE row, and OGM (no GE) has none
    assert table.loc["OGM-GE", "BalanceBenchmark (CREMA-D) acc"] == 67.76
    assert table.loc["OGM", "BalanceBenchmark (CREMA-D) acc"] != table.loc["OGM", "BalanceBenchmark (CREMA-D) acc"]
    assert table.loc["Concatenation (ours)", "BalanceBenchmark (Kinetics-Sounds) acc"] == 65.63
    assert table.loc["MLA *", "setting"] == "not reimplemented yet"
    assert table.loc["MLA *", "BalanceBenchmark (CREMA-D) acc"] == 72.3
    text = stage.findings(runs, p=p, reference=reference, benchmark=benchmark)
    assert "65.5%" in text and "61.9%" in text and "5 of 5 methods beat Concatenation" in text


@pytest.mark.parametrize("name", ["opm", "agm", "mmpareto", "gradient_blending"])
def test_every_row_has_a_display_name(name):
    assert name in stage.ROW_NAMES and stage.ROW_NAMES[name].endswith("*") == (name not in stage.IN_THE_TALK)


@pytest.mark.slow
def test_t3_notebook_smoke_is_deterministic(tmp_path, tiny_avdigits):
    outs = [run_stage.run("t3_imbalance", ["smoke=true", "workers=1", f"root={tiny_avdigits}"],
                          tmp_path / f"reports{i}") for i in range(2)]
    out = outs[0]
    for name in ("table.csv", "table.md", "grid.csv", "grid.md", "history.csv", "runs.csv", "findings.md",
                 "metrics.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    for column in ("ours (AV-Digits) acc", "Δ acc vs Concatenation", "paper (CREMA-D) acc",
                   "paper (Kinetics-Sounds) acc",
                   "BalanceBenchmark (CREMA-D) acc", "BalanceBenchmark (Kinetics-Sounds) acc", "time vs Concatenation",
                   "visual encoder probe", "ρ_audio, last epoch", "Holm p", "test acc at best TEST epoch",
                   "optimism of test selection (points)"):
        assert column in table, column
    for row in ("Concatenation", "Modality-Drop (audio)", "Modality-Drop (visual)", "Grad-Blending", "| OGM ",
                "OGM-GE", "OPM *", "AGM *", "MMPareto *", "GE alone (control) *", "OGM (at OGM-GE's α)",
                "Three-loss sum (MMPareto's control) *", "MLA-reduced *"):
        assert row in table, row
    ran = json.loads((out / "provenance.json").read_text())["ran_with"]
    assert ran["epochs"] == 1 and ran["seeds"] == [0, 1]
    # deterministic: the same numbers twice (the measured wall times aside)
    for name in ("history.csv", "grid.csv", "runs.csv"):
        assert (outs[1] / name).read_text() == (out / name).read_text(), name
    metrics = [json.loads((o / "metrics.json").read_text()) for o in outs]
    for m in metrics:
        for entry in m.values():
            entry.pop("time_ratio", None)  # convergence_check has none
    assert metrics[0] == metrics[1]
    assert "BalanceBenchmark" in (out / "findings.md").read_text()


def test_holm_over_every_method_vs_concatenation_in_table_metrics_and_findings():
    runs = [_run("concat", None, s, a, 10.0) for s, a in ((0, 0.70), (1, 0.72), (2, 0.71))]
    # ogm_ge: +4.0, +4.1, +4.2 (p ~ 1e-4); ogm: +1, -1, +2 (p ~ 0.5)
    runs += [_run("ogm_ge", OGMConfig(alpha=0.3), s, a, 15.0) for s, a in ((0, 0.74), (1, 0.761), (2, 0.752))]
    runs += [_run("ogm", OGMConfig(alpha=0.3, ge=False), s, a, 12.0) for s, a in ((0, 0.71), (1, 0.71), (2, 0.73))]
    p = SimpleNamespace(**vars(P))
    p.paper_only_rows = []
    reference = report.load_reference("ogmge_t3_imbalance.csv")
    benchmark = report.load_reference("balancebenchmark_av.csv")
    from avlib.stages.shared.stats import format_p, holm, paired_difference

    d_ge = paired_difference([0.74, 0.761, 0.752], [0.70, 0.72, 0.71])
    d_ogm = paired_difference([0.71, 0.71, 0.73], [0.70, 0.72, 0.71])
    adj_ge, adj_ogm = holm([d_ge.p, d_ogm.p])
    assert adj_ge < 0.05 < adj_ogm
    table = stage.imbalance_table(runs, p=p, reference=reference, benchmark=benchmark).set_index("method")
    assert table.loc["OGM-GE", "Holm p"] == format_p(adj_ge) and table.loc["OGM", "Holm p"] == f"{adj_ogm:.3f}"
    assert table.loc["Concatenation (ours)", "Holm p"] == ""
    metrics = stage.run_metrics(runs)
    assert metrics["ogm_ge"]["delta_acc_p_holm"] == pytest.approx(adj_ge, abs=1e-6)
    assert metrics["ogm_ge"]["delta_acc_resolved"] and not metrics["ogm"]["delta_acc_resolved"]
    assert metrics["convergence_check"]["late_share"] == 1.0  # one epoch each: the best is the last
    text = stage.findings(runs, p=p, reference=reference, benchmark=benchmark)
    assert "resolved after Holm correction over 2 comparisons" in text
    assert f"not resolved (adjusted p = {adj_ogm:.3f}, Holm over 2 comparisons)" in text
    assert "resolved gains: OGM-GE; resolved losses: none" in text


def test_selection_seeds_must_be_outside_the_reported_seeds():
    from avlib.core.params import ParamError

    raw = yaml.safe_load(PARAMS_YAML.read_text())["t3_imbalance"]
    with pytest.raises(ParamError, match=r"t3_imbalance\.selection_seeds=\[1, 100\]: expected seeds outside"):
        stage.PARAMS.check(raw | {"selection_seeds": [1, 100]})
    assert stage.PARAMS.check(raw).selection_seeds == raw["selection_seeds"]


def _part(kind, seed, val_probs, test_probs, labels, best_epoch, cpu):
    import torch

    spec = RunSpec(f"late_fusion|{kind}", kind, keep_outputs=True)
    outputs = {"val": torch.tensor(val_probs), "val_labels": torch.tensor(labels),
               "test": torch.tensor(test_probs), "test_labels": torch.tensor(labels)}
    modality = kind.removesuffix("_only")
    return RunResult(job=RunJob(spec, seed, TrainConfig()), val={"acc": 0.0}, test={"acc": 0.0}, best_epoch=best_epoch,
                     history=[{"epoch": 0, "val_acc": 0.0}] * (best_epoch + 1), cpu_s=cpu, outputs=outputs,
                     probe={"val": {modality: 0.5}, "test": {modality: 0.6 if modality == "audio" else 0.3}})


def test_late_fusion_averages_the_two_models_probabilities_per_seed():
    # 3 samples, 2 classes; labels 0, 1, 1. Audio is right on samples 0 and 1, visual on 1 and 2: the average
    # follows the more confident model: sample 0 (0.9 and 0.4 for class 0 -> 0.65), sample 2 (0.4 and 0.7 for
    # class 1 -> 0.55): 3 of 3, though each model alone has 2 of 3.
    audio = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    visual = [[0.4, 0.6], [0.3, 0.7], [0.3, 0.7]]
    labels = [0, 1, 1]
    concat = _run("concat", None, 0, 0.5, 10.0)
    parts = [_part("audio_only", 0, audio, audio, labels, 4, 3.0),
             _part("visual_only", 0, visual, visual, labels, 7, 2.0)]
    table, kept = stage.late_fusion([concat, *parts])
    assert kept == parts and [r.label for r in table] == ["concat", "late_fusion"]
    late = table[1]
    assert late.test["acc"] == pytest.approx(1.0) and late.val["acc"] == pytest.approx(1.0)
    assert late.test["audio_acc"] == pytest.approx(2 / 3, abs=1e-6)
    assert late.test["visual_acc"] == pytest.approx(2 / 3, abs=1e-6)
    assert (late.best_epoch, late.cpu_s, late.history) == (7, 5.0, [])  # the later part's epoch; both parts' time
    assert late.probe["test"] == {"audio": 0.6, "visual": 0.3}  # each encoder trained alone
    assert stage.setting(late).startswith("audio-only + visual-only")
    # the convergence check counts the trained runs (the parts), never the history-less ensemble
    assert [r.label for r in stage.trained(table, kept)] == ["concat", "late_fusion|audio_only",
                                                             "late_fusion|visual_only"]
    with pytest.raises(ValueError, match="seed 0: expected runs"):
        stage.late_fusion([concat, parts[0]])


def test_late_fusion_specs_are_two_uni_modal_runs_that_keep_their_outputs():
    p = SimpleNamespace(**vars(P))
    p.rows = ["concat", "late_fusion"]
    specs = stage.table_specs(p, {})
    assert [(s.label, s.kind, s.keep_outputs) for s in specs] == [
        ("concat", "concat", False), ("late_fusion|audio_only", "audio_only", True),
        ("late_fusion|visual_only", "visual_only", True)]


def test_ogm_ge_takes_t1s_choice_and_refuses_a_grid_of_its_own():
    from avlib.core.params import ParamError

    raw = yaml.safe_load(PARAMS_YAML.read_text())["t3_imbalance"]
    with pytest.raises(ParamError, match=r"t3_imbalance\.grids: \['ogm_ge'\] take the setting stage t1_fusion"):
        stage.PARAMS.check(raw | {"grids": {**raw["grids"], "ogm_ge": {"alpha": [0.1]}}})
    p = stage.PARAMS.check(raw)
    _, chosen = stage.choose_methods(SimpleNamespace(**{**vars(p), "rows": ["concat", "ogm_ge"]}), {}, None, None)
    t1 = pd.read_csv(Path(__file__).resolve().parents[2] / p.ogm_grid)
    alpha = float(t1[t1["chosen"]]["setting"].iloc[0].split(",")[0].removeprefix("α="))
    assert chosen["ogm_ge"].alpha == alpha and chosen["ogm_ge"].ge


def test_starvation_is_attributed_to_g_or_to_the_largest_ogr():
    import math

    def epoch(e, w, g, o):
        row = {"epoch": e, **{f"w_{k}": w[i] for i, k in enumerate(("fused", "audio", "visual"))}}
        for i, k in enumerate(("fused", "audio", "visual")):
            row |= {f"gblend_G_{k}": g[i], f"gblend_O_{k}": o[i], f"gblend_ogr_{k}": abs(o[i]) / max(g[i], 1e-8),
                    f"gblend_starved_{k}": float(w[i] < 1 / 30)}
        return row

    history = [{"epoch": 0, "w_fused": 1 / 3, "w_audio": 1 / 3, "w_visual": 1 / 3, "gblend_starved_fused": math.nan},
               epoch(1, (0.0, 0.5, 0.5), (-0.2, 0.1, 0.1), (0.02, 0.02, 0.02)),   # fused: G <= 0
               epoch(2, (0.0, 0.5, 0.5), (-0.2, 0.1, 0.1), (0.02, 0.02, 0.02)),   # the same estimate, not recounted
               epoch(3, (0.5, 0.49, 0.01), (0.1, 0.1, 0.1), (0.01, 0.01, 0.1)),  # visual: the largest OGR
               epoch(4, (0.97, 0.01, 0.02), (1.0, 0.1, 0.1), (0.01, 0.05, 0.02))]  # audio: largest; visual: neither
    gblend = method_config("gradient_blending", super_epoch=1)
    run = RunResult(job=RunJob(RunSpec("gradient_blending", "concat", gblend), 0, TrainConfig()), val={"acc": 0.5},
                    test={"acc": 0.5}, best_epoch=0, history=history)
    text = stage.starvation_sentence([run])
    assert "(4 starved head-estimates over 3 estimates of 1 runs" in text
    assert "G/O² is 0) in 1 (25%)" in text and "largest of the three in 2 (50%)" in text
    assert "neither in 1 (25%)" in text
