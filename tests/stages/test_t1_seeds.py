"""Stage `t1_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are t1_main's;
its runs are what t1_main reads back at its seeds."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import t1_seeds as stage

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["t1_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t1_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t1_seeds"
    assert values == PARAMS


def test_its_knobs_are_t1_mains_and_its_seeds_among_t1_mains_extra_seeds():
    """Otherwise its jobs are not t1_main's: t1_main would find nothing to read back and train them."""
    main = ALL["t1_main"]
    for name, value in PARAMS.items():
        if name not in ("extra_seeds", "smoke"):
            assert main[name] == value, name
    for kind, seeds in PARAMS["extra_seeds"].items():
        assert set(seeds) <= set(main["extra_seeds"][kind]), kind
    assert main["seeds_from"] == "reports/t1_seeds/trained_runs.json.gz"


def test_bad_params_are_named():
    with pytest.raises(ParamError, match=r"t1_seeds\.extra_seeds\.gated"):
        stage.PARAMS.check({**PARAMS, "extra_seeds": {"gated": [3]}})  # not among fusions
    with pytest.raises(ParamError, match=r"t1_seeds\.extra_seeds=.*at least one seed"):
        stage.PARAMS.check({**PARAMS, "extra_seeds": {}})


@pytest.mark.slow  # trains one pair at one seed on the tiny data (~10 s with the notebook): not the inner loop
def test_the_notebook_smoke_and_t1_main_reads_its_runs_back(tmp_path, tiny_avdigits, monkeypatch):
    import run_stage

    from avlib.balance import OGMConfig
    from avlib.stages import t1_main

    overrides = ["smoke=true", "workers=1", f"root={tiny_avdigits}", "fusions=[concat]", "extra_seeds={concat: [14]}"]
    out = run_stage.run("t1_seeds", overrides, tmp_path / "reports")
    for name in ("trained_runs.json.gz", "runs.csv", "findings.md", "metrics.json", "notebook.html"):
        assert (out / name).exists(), name
    assert json.loads((out / "metrics.json").read_text())["runs"] == {"trained": 2, "read_back": 0}

    def no_training(*args, **kwargs):
        raise AssertionError("t1_main trained a run t1_seeds had stored")

    monkeypatch.setattr(t1_main, "run_groups", no_training)
    store = str(out / "trained_runs.json.gz")
    p = t1_main.PARAMS.check({**ALL["t1_main"], "root": str(tiny_avdigits), "fusions": ["concat"],
                              "extra_seeds": {"concat": [14]}, "epochs": 1, "seeds_from": store})
    p.seeds = []  # only the pair at seed 14: what t1_seeds trained
    data, train, model = t1_main.load_data(p), t1_main.train_config(p), t1_main.model_kwargs(p)
    chosen = t1_main.chosen_ogm(ALL["t1_main"]["ogm_grid"], epochs=1, params=p.ogm_params)
    assert isinstance(chosen, OGMConfig)
    runs, read_back = t1_main.table_runs(p, data, train=train, model=model, chosen=chosen)
    assert read_back == {p.reuse_from: 0, store: 2}
    csv = pd.read_csv(out / "runs.csv")  # the stage's record of its runs: the runs read back are those
    assert [(r.label, r.seed) for r in runs] == list(zip(csv["label"], csv["seed"], strict=True))
    assert [r.test["acc"] for r in runs] == pytest.approx(list(csv["test_acc"]), abs=1e-9)
