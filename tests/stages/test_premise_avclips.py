"""Stage `premise_avclips` (Table 2's premise): schema, params.yaml and the notebook agree; the criteria read
from synthetic runs; bad knobs refused; the notebook's smoke run."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from fixtures.avclips import tiny_avclips

from avlib.core.params import ParamError
from avlib.stages import premise_avclips as stage
from avlib.stages.shared.plugin import premise_sentence

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["premise_avclips"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "premise_avclips.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/premise_avclips"
    assert values == PARAMS


def _fake_run(blank, *, val, audio_acc, visual_acc, rhos):
    job = SimpleNamespace(model={"blank": blank}, label="tsn_av")
    return SimpleNamespace(job=job, label="tsn_av", val={"acc": val, "audio_acc": audio_acc, "visual_acc": visual_acc},
                           history=[{"rho_audio": r} for r in rhos])


def test_premise_reads_dominance_gap_and_room_from_synthetic_runs():
    runs = [_fake_run("", val=0.6, audio_acc=0.5, visual_acc=0.2, rhos=[1.2, 1.0, 0.8, 5.0]),
            _fake_run("", val=0.7, audio_acc=0.5, visual_acc=0.1, rhos=[1.0, 1.0, 1.0, 5.0]),
            _fake_run("visual", val=0.6, audio_acc=0.6, visual_acc=0.1, rhos=[1.0] * 4),
            _fake_run("audio", val=0.3, audio_acc=0.1, visual_acc=0.3, rhos=[1.0] * 4)]
    values = stage.values(runs, early_epochs=3)
    assert values["rho_audio_early"] == pytest.approx(1.0)  # first 3 epochs only: (1.0 + 1.0) / 2
    assert values["visual_share_val"] == pytest.approx(15.0) and values["visual_only_val"] == pytest.approx(30.0)
    assert values["weak_gap"] == pytest.approx(15.0)
    met = stage.checks(values, gap_min=5.0, room=[0.2, 0.9])
    assert met == {"dominant": False, "weak_gap": True, "room": True, "holds": False}  # rho 1.0 is not > 1
    sentence = premise_sentence(stage.metrics(values, met, stage.PARAMS.check(PARAMS))["premise"])
    assert "does NOT hold (dominant failed)" in sentence and "gap 15.0 points" in sentence
    values["rho_audio_early"] = 1.05
    assert stage.checks(values, gap_min=20.0, room=[0.2, 0.9])["weak_gap"] is False
    assert stage.checks(values, gap_min=5.0, room=[0.35, 0.9])["room"] is False  # visual-only 30% < 35%
    assert stage.checks(values, gap_min=5.0, room=[0.2, 0.9])["holds"] is True


def test_stage_rejects_a_room_upside_down():
    with pytest.raises(ParamError, match="room"):
        stage.PARAMS.check(PARAMS | {"room": [0.9, 0.2]})


def test_premise_jobs_blank_each_input_at_every_seed():
    p = stage.PARAMS.check(PARAMS)
    jobs = stage.jobs(p)
    assert [(j.model["blank"], j.seed) for j in jobs] == [(b, s) for b in stage.ROWS for s in p.seeds]
    assert all(j.method is None and j.kind == p.model for j in jobs)  # no OGM-GE anywhere in this stage


@pytest.mark.slow
def test_premise_avclips_notebook_smoke(tmp_path):
    import run_stage

    out = run_stage.run("premise_avclips", ["smoke=true", "workers=1", f"root={tiny_avclips()}"], tmp_path / "reports")
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"holds", "weak_gap", "checks", "model", "seeds", "epochs"} <= set(metrics["premise"])
    assert isinstance(metrics["premise"]["weak_gap"], float)  # the value, not overwritten by its check
    assert set(metrics["premise"]["checks"]) == {"dominant", "weak_gap", "room"}
    assert "Premise" in (out / "findings.md").read_text() and (out / "runs.csv").exists()
