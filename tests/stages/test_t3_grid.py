"""Stage `t3_grid`: its schema, params.yaml and the notebook's parameters cell agree; its runs are what
t3_imbalance's choice reads back."""

import json
from pathlib import Path

import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import t3_grid as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["t3_grid"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t3_grid.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t3_grid"
    assert values == PARAMS


@pytest.mark.slow  # trains the grid's points on the tiny data (~20 s): `make test`, not the inner loop
def test_t3_imbalance_reads_the_grid_back_and_chooses_the_same(tmp_path, tiny_avdigits, monkeypatch):
    """The grid stage's runs, written to its store, are what t3_imbalance's choice reads back: no run trains
    there, and the grid table (and so the choice) is the same."""
    from avlib.stages import t3_imbalance as table

    p = stage.smoke(stage.PARAMS.check({**PARAMS, "root": str(tiny_avdigits), "workers": 1}))  # in this process
    data, train, model = stage.load_data(p), stage.train_config(p), stage.model_kwargs(p)
    runs = stage.grid_runs(p, data, train=train, model=model)
    assert len(runs) == len(table.grid_specs(p)) * len(p.selection_seeds) > 0
    stage.write_store(runs, tmp_path, data)
    grid, chosen = stage.choose(p, runs)

    def no_training(*args, **kwargs):
        raise AssertionError("t3_imbalance trained a grid run the grid stage had stored")

    monkeypatch.setattr(table, "run_groups", no_training)
    again = table.grid_runs(p, data, train=train, model=model, store=str(tmp_path / "trained_runs.json.gz"))
    assert [(r.job.spec.label, r.job.seed, r.val) for r in again] == [(r.job.spec.label, r.job.seed, r.val)
                                                                       for r in runs]
    grid_again, chosen_again = table.choose_from_runs(p, again)
    assert grid_again.equals(grid) and chosen_again == chosen


def test_a_grid_without_a_choice_is_refused():
    one_point = {name: {k: v[:1] for k, v in g.items()} for name, g in PARAMS["grids"].items()}
    with pytest.raises(ParamError, match=r"t3_grid\.grids=.*expected a grid of >= 2 points"):
        stage.PARAMS.check({**PARAMS, "grids": one_point})
