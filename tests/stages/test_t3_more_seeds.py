"""Stage `t3_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
t3_imbalance's and t3_seeds's; the read-back chain t3_seeds -> t3_more_seeds -> t3_imbalance holds; its metrics and
findings count what it read back. (Its training and read-back are t3_seeds's code: tests/stages/test_t3_seeds.py
smokes them.)"""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import t3_more_seeds as stage

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["t3_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t3_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t3_more_seeds"
    assert values == PARAMS


def test_its_knobs_are_the_tables_and_the_seeds_chain_reads_back():
    """Otherwise its jobs are not the table's: nothing would be read back, and t3_imbalance would train them."""
    table, before = ALL["t3_imbalance"], ALL["t3_seeds"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke", "seeds_from"):
            assert table[name] == value == before[name], name
    assert set(before["seeds"]) < set(PARAMS["seeds"]) <= set(table["seeds"])
    assert PARAMS["seeds_from"] == "reports/t3_seeds/trained_runs.json.gz"
    assert table["seeds_from"] == "reports/t3_more_seeds/trained_runs.json.gz"


def test_bad_params_name_this_stage():
    with pytest.raises(ParamError, match=r"t3_more_seeds\.selection_seeds=.*expected seeds outside seeds"):
        stage.PARAMS.check({**PARAMS, "seeds": [3, 100]})
    with pytest.raises(ParamError, match=r"t3_more_seeds\.seeds_from"):
        stage.PARAMS.check({k: v for k, v in PARAMS.items() if k != "seeds_from"})


def test_metrics_and_findings_count_every_run_read_back():
    runs = [SimpleNamespace(label=label, seed=seed) for label in ("concat", "ogm_ge") for seed in (3, 4, 5, 6)]
    read = {(label, seed) for label in ("concat", "ogm_ge") for seed in (3, 4)} | {("concat", 5)}
    assert stage.run_metrics(runs, read) == {"runs": {"trained": 3, "read_back": 5}}
    p = SimpleNamespace(seeds=[3, 4, 5, 6], dataset="avdigits", fusion="concat", seeds_from="reports/t3_seeds/x.gz")
    text = stage.findings(p, runs, [3, 4], read, {})
    assert "Seeds [3, 4]: read back from reports/t3_seeds/x.gz" in text
    assert "Seeds [5, 6]: trained here, 3 runs" in text and "Concatenation (ours) (seed 5)" in text
