"""Stage `t2_speech` (Table 2, speech side): schema, params.yaml and the notebook agree; the stage's checks; the
notebook's smoke run (its own side only, MWTSM a paper-only row)."""

import json
from pathlib import Path

import pytest
import yaml
from fixtures.avclips import tiny_avclips

from avlib.core.params import ParamError
from avlib.stages import t2_speech as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["t2_speech"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t2_speech.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t2_speech"
    assert values == PARAMS


def test_stage_rejects_a_reported_selection_seed_and_a_video_model():
    with pytest.raises(ParamError, match="selection_seed=1"):
        stage.PARAMS.check(PARAMS | {"selection_seed": 1})
    with pytest.raises(ParamError, match="selection_model"):
        stage.PARAMS.check(PARAMS | {"selection_model": "tsn_av"})


@pytest.mark.slow
def test_t2_speech_notebook_smoke(tmp_path):
    import run_stage

    out = run_stage.run("t2_speech", ["smoke=true", "workers=1", f"root={tiny_avclips()}", "rows=[i_vector]",
                                      "selection_model=i_vector"], tmp_path / "reports")
    table = (out / "table.md").read_text()
    assert "paper (CREMA-D) acc" in table and "not reimplemented" in table and "KS" not in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"i_vector", "i_vector+ogm_ge"} <= set(metrics) and "premise" not in metrics
    assert metrics["i_vector+ogm_ge"]["delta_acc_p_holm"] == metrics["i_vector+ogm_ge"]["delta_acc_p"]  # a family of 1
    findings = (out / "findings.md").read_text()
    assert "## Speech side" in findings and "## Video side" not in findings and "MWTSM" in findings
