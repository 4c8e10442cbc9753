"""Stage t1_fusion: table, metrics and findings on hand-made runs; the notebook's smoke run."""

import json

import pandas as pd
import pytest
import run_stage

from avlib.balance import OGMConfig
from avlib.reference import load_reference
from avlib.stages import t1_fusion
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

OGM = OGMConfig(alpha=0.5)


def _run(label, kind, seed, acc, *, method=None, rho=None, probe=None, map_=None):
    history = [{"epoch": 0, **({"rho_audio": rho} if rho is not None else {})}]
    return RunResult(job=RunJob(RunSpec(label, kind, method), seed, TrainConfig()),
                     test={"acc": acc, "map": acc + 0.05 if map_ is None else map_}, val={"acc": acc},
                     best_epoch=0, history=history, probe={"val": {}, "test": probe or {}})


def _runs():
    runs = []
    for seed, (a, v) in enumerate([(0.70, 0.55), (0.72, 0.57)]):
        runs.append(_run("audio_only", "audio_only", seed, a, probe={"audio": a}))
        runs.append(_run("visual_only", "visual_only", seed, v, probe={"visual": v + 0.05}))
    # concat + OGM-GE beats concat by 3.0 and 3.2 points: the paired interval excludes 0
    # sum + OGM-GE: +2.0 and -1.0 points: it includes 0
    for label, kind, method, accs, vis in (("concat", "concat", None, (0.60, 0.61), (0.50, 0.52)),
                                           ("concat+ogm_ge", "concat", OGM, (0.63, 0.642), (0.55, 0.56)),
                                           ("sum", "sum", None, (0.60, 0.61), (0.50, 0.50)),
                                           ("sum+ogm_ge", "sum", OGM, (0.62, 0.60), (0.50, 0.50))):
        for seed in (0, 1):
            runs.append(_run(label, kind, seed, accs[seed], method=method, rho=2.0 + seed,
                             probe={"audio": 0.7, "visual": vis[seed]}))
    return runs


@pytest.fixture(scope="module")
def reference():
    return load_reference("ogmge_t1_fusion.csv")


def test_fusion_table_rows_and_paired_delta(reference):
    table = t1_fusion.fusion_table(_runs(), dataset="avdigits", reference=reference).set_index("method")
    delta = "Δ acc vs w/o OGM-GE (paired)"
    assert table.loc["Concatenation†", delta] == "+3.1 ± 1.3 (2/2)"  # mean 3.1, t(1) * 0.1414 / sqrt 2
    assert table.loc["Summation†", delta] == "+0.5 ± 19.1 (1/2)"
    assert table.loc["Concatenation", delta] == ""  # no Δ on a row without OGM-GE
    assert table.loc["Concatenation†", "OGM-GE"] == "α=0.5, epochs 0–last"
    assert table.loc["Concatenation†", "ours (AV-Digits) acc"] == "63.6 ± 7.6"
    assert table.loc["Concatenation†", "paper (CREMA-D) acc"] == 61.9
    assert table.loc["Concatenation", "paper (CREMA-D) acc"] == 51.7
    assert table.loc["Concatenation", "ρ_audio, last epoch"] == "2.50 ± 6.35"
    assert table.loc["Audio-only", "ρ_audio, last epoch"] == ""
    assert table.loc["Audio-only", "visual encoder probe"] == ""


def test_run_metrics_in_percent_with_the_paired_delta(reference):
    metrics = t1_fusion.run_metrics(_runs())
    ogm = metrics["concat+ogm_ge"]
    assert ogm["acc"] == pytest.approx(63.6) and ogm["acc_ci95"] == pytest.approx(7.6237, abs=1e-4)
    assert ogm["delta_acc"] == pytest.approx(3.1) and ogm["delta_acc_ci95"] == pytest.approx(1.2706, abs=1e-4)
    assert ogm["delta_acc_wins"] == 2 and ogm["visual_probe"] == pytest.approx(55.5)
    assert "delta_acc" not in metrics["concat"] and metrics["audio_only"]["audio_probe"] == pytest.approx(71.0)
    one_seed = t1_fusion.run_metrics([r for r in _runs() if r.seed == 0])
    assert "acc_ci95" not in one_seed["concat"] and "delta_acc_ci95" not in one_seed["concat+ogm_ge"]


def test_findings_say_which_deltas_are_resolved_and_quote_the_reference(reference):
    text = t1_fusion.findings(_runs(), dataset="avdigits", reference=reference)
    assert "audio-only 71.0%, visual-only 56.0% (audio dominant by 15.0 points" in text
    assert "paper, CREMA-D: audio 52.5% vs visual 41.9%" in text
    # concat: differences 3.0, 3.2 -> t = 31 (df 1), p = 1 - 2 atan(31) / pi = 0.0205; Holm over 2: 0.041
    assert ("- concat: Δ +3.1 ± 1.3 (2/2) — resolved after Holm correction over 2 comparisons (adjusted p = 0.041); "
            "paper, CREMA-D: +10.2.") in text
    assert ("- sum: Δ +0.5 ± 19.1 (1/2) — not resolved (adjusted p = 0.795, Holm over 2 comparisons); paper, "
            "CREMA-D: +10.7.") in text
    assert "After Holm correction, OGM-GE helps resolvably in 1 of 2 fusions (concat) and hurts resolvably in 0" in text
    assert "not resolved: p = 0.070, a single comparison outside the table's family" in text  # the probe's Δ
    assert "concat 2.50, sum 2.50" in text and "Audio dominates in 2 of 2 fusions" in text
    assert "leaves the visual encoder under-optimized: its linear probe reaches 51.0% vs 61.0%" in text

    changed = reference.copy()
    row = (changed["method"] == "concat") & changed["ogm_ge"]
    changed.loc[row, "cremad_acc"] = 71.9
    changed.loc[(changed["method"] == "audio_only"), "cremad_acc"] = 60.0
    text2 = t1_fusion.findings(_runs(), dataset="avdigits", reference=changed)
    assert "paper, CREMA-D: +20.2." in text2 and "paper, CREMA-D: +10.2." not in text2
    assert "audio 60.0% vs visual 41.9%" in text2


def test_findings_with_one_seed_claim_no_interval(reference):
    text = t1_fusion.findings([r for r in _runs() if r.seed == 0], dataset="avdigits", reference=reference)
    assert "- concat: Δ +3.0 (1/1) — not resolved (one seed: no p-value)" in text
    assert "helps resolvably in 0 of 2 fusions" in text


@pytest.mark.slow
def test_t1_notebook_smoke(tmp_path, tiny_avdigits):
    # On the run engine's worker pool. Under torchrun (ddp=2) the same smoke took 67 s on 2 cores (five torchrun
    # starts); `ddp` reaching run_specs: tests/tasks/test_classify_engine.py; DDP against the in-process runs and
    # the launch's errors: tests/core/test_ddp.py.
    reports = tmp_path / "reports"
    out = run_stage.run("t1_fusion", ["smoke=true", "workers=1", f"root={tiny_avdigits}"], reports)
    for name in ("table.csv", "table.md", "ogm_grid.csv", "history.csv", "runs.csv", "findings.md", "imbalance.png",
                 "metrics.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Digits) acc" in table and "paper (CREMA-D) acc" in table and "Δ acc" in table
    ran = json.loads((out / "provenance.json").read_text())["ran_with"]
    assert ran["epochs"] == 1 and ran["seeds"] == [0]  # smoke's shrunk knobs are recorded, not the yaml's
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"audio_only", "concat", "concat+ogm_ge"} <= set(metrics)
    assert metrics["convergence_check"]["runs"] == len(pd.read_csv(out / "runs.csv"))
    grid = pd.read_csv(out / "ogm_grid.csv")
    assert {"val_acc_s100", "val_acc_s101", "val_acc", "val_acc_spread", "chosen"} <= set(grid.columns)
    assert "test acc at best TEST epoch" in table and "Holm p" in table and "Convergence check" in (
        out / "findings.md").read_text()
    assert sorted(p.name for p in reports.iterdir() if p.suffix != ".lock") == ["t1_fusion"]  # the lock stays

    from avlib.report.site import build_site

    page = build_site(reports).read_text()
    assert "t1_fusion" in page and "git_commit" in page


def _with_test_history(runs):
    """The fixture's runs with a 3-epoch history: val selects epoch 1; test peaks at epoch 2, 2 points above."""
    for r in runs:
        acc = r.test["acc"]
        r.history = [{"epoch": 0, "val_acc": 0.1, "test_acc": acc - 0.05, "rho_audio": 2.0},
                     {"epoch": 1, "val_acc": 0.5, "test_acc": acc, "rho_audio": 2.0},
                     {"epoch": 2, "val_acc": 0.4, "test_acc": acc + 0.02, "rho_audio": 2.0}]
        r.best_epoch = 1
    return runs


def test_table_and_metrics_show_holm_p_and_the_optimism_of_test_selection(reference):
    runs = _with_test_history(_runs())
    table = t1_fusion.fusion_table(runs, dataset="avdigits", reference=reference).set_index("method")
    assert table.loc["Concatenation†", "Holm p"] == "0.041" and table.loc["Summation†", "Holm p"] == "0.795"
    assert table.loc["Concatenation", "Holm p"] == ""
    assert table.loc["Concatenation", "test acc at best TEST epoch"] == "62.5 ± 6.4"
    assert table.loc["Concatenation", "optimism of test selection (points)"] == "2.0 ± 0.0"  # +2 every seed
    metrics = t1_fusion.run_metrics(runs)
    ogm = metrics["concat+ogm_ge"]
    assert ogm["delta_acc_p"] == pytest.approx(0.020529, abs=1e-6) and ogm["delta_acc_p_holm"] == pytest.approx(
        0.041058, abs=1e-6)
    assert ogm["delta_acc_resolved"] and not metrics["sum+ogm_ge"]["delta_acc_resolved"]
    assert metrics["concat"]["test_selection_gap"] == pytest.approx(2.0)
    assert metrics["convergence_check"] == {"runs": 12, "late_runs": 0, "late_share": 0.0, "epochs": 3,
                                            "best_epoch_counts": {1: 12}}
    text = t1_fusion.findings(runs, dataset="avdigits", reference=reference)
    assert "would report 2.0 points more on average over the 6 rows" in text
    assert "Convergence check: 0 of 12 runs (0%) have their best val epoch in the last 20% of the 3 epochs" in text
    frame = t1_fusion.runs_frame(runs)
    assert len(frame) == 12 and set(frame["test_selection_gap"].round(6)) == {0.02}


def test_findings_report_the_selection_margin_and_whether_it_is_within_noise(reference):
    grid = pd.DataFrame({"setting": ["α=0.1, window=1", "α=0.5, window=1"], "val_acc_s100": [0.60, 0.70],
                         "val_acc_s101": [0.66, 0.58], "val_acc": [0.63, 0.64], "val_acc_spread": [0.06, 0.12],
                         "chosen": [False, True]})
    text = t1_fusion.findings(_runs(), dataset="avdigits", reference=reference, grid=grid)
    assert ("α=0.5, window=1 leads the runner-up α=0.1, window=1 by 1.00 val points (mean over the selection "
            "seeds) — within noise") in text
    assert "Within noise: the chosen setting's lead over the runner-up" in text  # the rule, stated


def test_selection_seeds_must_be_outside_the_reported_seeds(tmp_path):
    from avlib.core.params import ParamError

    with pytest.raises(ParamError, match=r"t1_fusion\.selection_seeds=\[2, 100\]: expected seeds outside seeds"):
        run_stage.run("t1_fusion", ["selection_seeds=[2, 100]"], tmp_path / "reports")
    with pytest.raises(ParamError, match=r"t1_fusion\.selection_seeds"):
        run_stage.run("t1_fusion", ["selection_seeds=[100, 100]"], tmp_path / "reports")
