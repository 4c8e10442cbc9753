"""Stage t3_imbalance's own logic on fake runs: the per-method choice on val, the table's columns and the
published numbers each row gets."""

import json
from pathlib import Path
from types import SimpleNamespace

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
    vals = [0.70, 0.75, 0.75, 0.90, 0.60]  # ogm: a tie, the first wins; agm: the first
    seen = []

    def fake_run_specs(specs, seeds, data, **kwargs):
        seen.append((seeds, kwargs["probe"]))
        return [RunResult(job=RunJob(s, seeds[0], TrainConfig()), test=_Untouchable(), val={"acc": v}, best_epoch=0,
                          probe={}) for s, v in zip(specs, vals, strict=True)]

    monkeypatch.setattr(stage, "run_specs", fake_run_specs)
    grid, chosen = stage.choose_methods(p, {}, None, None)
    assert seen == [([p.selection_seed], False)]  # one selection seed, no probes, all points in one call
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
    assert table.loc["Concatenation", "BalanceBenchmark (Kinetics-Sounds) acc"] == 65.63
    assert table.loc["MLA *", "setting"] == "not reimplemented yet"
    assert table.loc["MLA *", "BalanceBenchmark (CREMA-D) acc"] == 72.3
    text = stage.findings(runs, p=p, reference=reference, benchmark=benchmark)
    assert "65.5%" in text and "61.9%" in text and "5 of 5 methods beat Concatenation" in text


@pytest.mark.parametrize("name", ["opm", "agm", "mmpareto", "gradient_blending"])
def test_every_row_has_a_display_name(name):
    assert name in stage.ROW_NAMES and stage.ROW_NAMES[name].endswith("*") == (name not in stage.IN_THE_TALK)


@pytest.mark.slow
def test_t3_notebook_smoke_is_deterministic(tmp_path, tiny_avdigits):
    outs = [run_stage.run("t3_imbalance", ["smoke=true", f"root={tiny_avdigits}"], tmp_path / f"reports{i}")
            for i in range(2)]
    out = outs[0]
    for name in ("table.csv", "table.md", "grid.csv", "grid.md", "history.csv", "findings.md", "metrics.json",
                 "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    for column in ("ours (AV-Digits) acc", "Δ acc vs Concatenation", "paper (CREMA-D) acc",
                   "paper (Kinetics-Sounds) acc",
                   "BalanceBenchmark (CREMA-D) acc", "BalanceBenchmark (Kinetics-Sounds) acc", "time vs Concatenation",
                   "visual encoder probe", "ρ_audio, last epoch"):
        assert column in table, column
    for row in ("Concatenation", "Modality-Drop (audio)", "Modality-Drop (visual)", "Grad-Blending", "| OGM ",
                "OGM-GE", "OPM *", "AGM *", "MMPareto *", "MLA *", "not reimplemented yet"):
        assert row in table, row
    ran = json.loads((out / "provenance.json").read_text())["ran_with"]
    assert ran["epochs"] == 1 and ran["seeds"] == [0, 1]
    # deterministic: the same numbers twice (the measured wall times aside)
    for name in ("history.csv", "grid.csv"):
        assert (outs[1] / name).read_text() == (out / name).read_text(), name
    metrics = [json.loads((o / "metrics.json").read_text()) for o in outs]
    for m in metrics:
        for entry in m.values():
            entry.pop("time_ratio")
    assert metrics[0] == metrics[1]
    assert "BalanceBenchmark" in (out / "findings.md").read_text()
