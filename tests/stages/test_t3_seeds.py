"""Stage `t3_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
t3_imbalance's; its runs are what t3_imbalance reads back at its seeds."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import t3_seeds as stage

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["t3_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t3_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t3_seeds"
    assert values == PARAMS


def test_its_knobs_are_t3_imbalances_and_its_seeds_are_among_the_tables():
    """Otherwise its jobs are not the table's: t3_imbalance would find nothing to read back and train them."""
    table = ALL["t3_imbalance"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke"):
            assert table[name] == value, name
    assert set(PARAMS["seeds"]) <= set(table["seeds"])
    assert table["seeds_from"] == "reports/t3_more_seeds/trained_runs.json.gz"  # which reads these back


def test_a_selection_seed_among_the_seeds_is_refused():
    with pytest.raises(ParamError, match=r"t3_seeds\.selection_seeds=.*expected seeds outside seeds"):
        stage.PARAMS.check({**PARAMS, "seeds": [3, 100]})


@pytest.mark.slow  # trains two rows at one seed on the tiny data (~10 s with the notebook): not the inner loop
def test_the_notebook_smoke_and_t3_imbalance_reads_its_runs_back(tmp_path, tiny_avdigits, monkeypatch):
    import run_stage

    from avlib.stages import t3_imbalance as table

    rows = "rows=[concat, modality_drop_audio, late_fusion]"
    out = run_stage.run("t3_seeds", ["smoke=true", "workers=1", f"root={tiny_avdigits}", rows], tmp_path / "reports")
    for name in ("trained_runs.json.gz", "runs.csv", "findings.md", "metrics.json", "notebook.html"):
        assert (out / name).exists(), name
    assert json.loads((out / "metrics.json").read_text())["runs"] == {"trained": 4, "read_back": 0}

    def no_training(*args, **kwargs):
        raise AssertionError("t3_imbalance trained a run t3_seeds had stored")

    monkeypatch.setattr(table, "run_groups", no_training)
    p = stage.smoke(stage.PARAMS.check({**PARAMS, "root": str(tiny_avdigits),
                                        "rows": ["concat", "modality_drop_audio", "late_fusion"]}))
    p.seeds_from = str(out / "trained_runs.json.gz")
    data, train, model = stage.load_data(p), stage.train_config(p), stage.model_kwargs(p)
    specs = table.table_specs(p, stage.choose(p, data, train=train, model=model))
    runs, reused, read_seeds = table.table_runs(p, specs, data, train=train, model=model)
    assert read_seeds == p.seeds == [3] and reused == []
    csv = pd.read_csv(out / "runs.csv")  # the stage's record of its runs: the runs read back are those
    assert [(r.label, r.seed) for r in runs] == list(zip(csv["label"], csv["seed"], strict=True))
    assert [r.test["acc"] for r in runs] == pytest.approx(list(csv["test_acc"]), abs=1e-9)
