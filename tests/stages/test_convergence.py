"""Stage `convergence` (scaffolded from `avqa_compare` by tools/new_stage.py): its schema, params.yaml and the
notebook's parameters cell agree. Add the stage's own checks here (a smoke run, its table, its findings)."""

import json
from pathlib import Path

import pytest
import yaml

from avlib.stages import convergence as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["convergence"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "convergence.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/convergence"
    assert values == PARAMS


def _history(tmp_path, curves: dict):
    rows = [{"label": label, "seed": 0, "epoch": e, "val_acc": v} for label, c in curves.items()
            for e, v in enumerate(c)]
    path = tmp_path / "history.csv"
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return {"history": str(path), "score": "val_acc", "runs": ["label", "seed"]}


def test_a_run_reads_late_and_its_last_window_gain():
    import numpy as np

    # 10 epochs: the last 20% is epochs 8-9, the 20% before 6-7
    rising = stage.run_reading(np.array([10, 20, 30, 40, 50, 60, 70, 72, 80, 81.0]))
    assert rising["late"] and rising["best_epoch"] == 9 and rising["gain"] == (80 + 81) / 2 - (70 + 72) / 2
    flat = stage.run_reading(np.array([10, 50, 60, 70, 70, 70, 71, 70, 70, 71.0]))
    assert not flat["late"] and flat["best_epoch"] == 6  # ties keep the first epoch
    assert flat["gain"] == 0.0


def test_a_stage_is_still_learning_only_when_the_gain_interval_is_above_zero(tmp_path):
    up = {f"r{i}": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.72 + i / 100, 0.8 + i / 100, 0.81] for i in range(3)}
    row = stage.stage_reading("s", _history(tmp_path, up), still_learning=0.5)
    assert row["runs"] == 3 and row["late_runs"] == 3 and row["verdict"].startswith("still learning")
    assert row["rising_share"] == 1.0
    flat = {f"r{i}": [0.1, 0.5, 0.6, 0.7, 0.7, 0.7, 0.71, 0.70, 0.70 + (i - 1) / 100, 0.71] for i in range(3)}
    row = stage.stage_reading("s", _history(tmp_path, flat), still_learning=0.5)
    assert row["verdict"].startswith("plateau") and row["last_gain"] == pytest.approx(0.0, abs=1e-9)
    assert "s: " in stage.findings([row]) and "On a plateau: s" in stage.findings([row])
    rising = stage.stage_reading("t", _history(tmp_path, up), still_learning=0.5)
    counts = stage.metrics([row, rising])["stages"]  # the headline: a count per verdict, however many stages
    assert counts == {"read": 2, "meet_80_percent": 1, "plateau": 1, "still_learning": 1}  # flat: no late picks


def test_a_missing_log_or_column_names_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv not found"):
        stage.curves({"history": str(tmp_path / "nowhere.csv"), "score": "val_acc", "runs": ["label"]})
    spec = _history(tmp_path, {"a": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"no column \['val_all'\]"):
        stage.curves({**spec, "score": "val_all"})
    with pytest.raises(Exception, match="expected keys history, score and runs"):
        stage.PARAMS.check({**PARAMS, "sources": {"x": {"history": "h.csv"}}})


def test_a_stage_whose_networks_train_different_epochs_shows_the_range(tmp_path):
    import pandas as pd

    from avlib.stages.convergence import stage_reading, table

    rows = [{"model": m, "seed": 0, "epoch": e, "acc": 0.5} for m, n in (("a", 5), ("b", 20)) for e in range(n)]
    pd.DataFrame(rows).to_csv(tmp_path / "history.csv", index=False)
    reading = stage_reading("x", {"history": str(tmp_path / "history.csv"), "score": "acc", "runs": ["model", "seed"]},
                            still_learning=0.5)
    assert (reading["epochs"], reading["epoch_range"]) == (20, "5-20")
    assert table([reading]).loc[0, "epochs"] == "5-20"
