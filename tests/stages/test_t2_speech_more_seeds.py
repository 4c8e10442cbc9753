"""Stage `t2_speech_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
t2_speech's, whose seeds it extends and which reads its runs back. (The store and the read-back are the video
side's code: tests/stages/test_t2_video_more_seeds.py smokes them.)"""

import json
from pathlib import Path

import pytest
import yaml

from avlib.core.params import ParamError
from avlib.stages import t2_speech_more_seeds as stage

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["t2_speech_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t2_speech_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t2_speech_more_seeds"
    assert values == PARAMS


def test_its_knobs_are_t2_speechs_and_t2_speech_reads_it_back():
    """Otherwise its jobs are not the table's: nothing would be read back, and t2_speech would train them."""
    table = ALL["t2_speech"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke"):
            assert table[name] == value, name
    assert set(PARAMS["seeds"]) <= set(table["seeds"])
    assert table["seeds_from"] == "reports/t2_speech_more_seeds/trained_runs.json.gz"
    with pytest.raises(ParamError, match=r"t2_speech_more_seeds\.rows"):
        stage.PARAMS.check(PARAMS | {"rows": ["tsn_av"]})
