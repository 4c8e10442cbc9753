"""Stage `avts_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its recipe is
avts_pretrain's, knob for knob; avts_probe reads both stages' encoders; bad knobs name this stage. (Its training is
avts_pretrain's code: tests/tasks/test_avts.py smokes it, with avts_probe over two encoder files.)"""

import json
from pathlib import Path

import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import avts_more_seeds as stage

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["avts_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "avts_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/avts_more_seeds"
    assert values == PARAMS


def test_its_recipe_is_avts_pretrains_and_the_probe_reads_both():
    """Otherwise avts_probe would pool encoders pretrained two ways under one seed axis."""
    pretrain, probe = ALL["avts_pretrain"], ALL["avts_probe"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "schedules", "smoke"):
            assert pretrain[name] == value, name
    assert set(probe["inits"]) <= set(PARAMS["schedules"]) <= set(pretrain["schedules"])
    assert not set(PARAMS["seeds"]) & set(pretrain["seeds"])
    assert probe["encoders"] == ["reports/avts_pretrain/encoders.pt", "reports/avts_more_seeds/encoders.pt"]
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["avts_probe"]["deps"]
    assert {"${avts_probe.encoders[0]}", "${avts_probe.encoders[1]}"} <= set(deps)  # DVC runs both first


def test_bad_params_name_this_stage():
    import run_stage

    with pytest.raises(ParamError, match=r"avts_more_seeds\.superhard"):
        run_stage.stage_params("avts_more_seeds", ["superhard=[2, 12]"])
    with pytest.raises(ParamError, match=r"avts_more_seeds\.schedules"):
        run_stage.stage_params("avts_more_seeds", ["schedules=[easy_only]"])
