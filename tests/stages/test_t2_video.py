"""Stage `t2_video` (Table 2, video side): schema, params.yaml and the notebook agree; the stage's checks; the
first pass and the table keep the table's order while training longest first; the notebook's smoke run."""

import json
from pathlib import Path

import pytest
import yaml
from fixtures.avclips import tiny_avclips

from avlib.balance import OGMConfig
from avlib.core.params import ParamError
from avlib.stages import t2_video as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["t2_video"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t2_video.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t2_video"
    assert values == PARAMS


def test_stage_rejects_a_reported_selection_seed_and_a_speech_model():
    with pytest.raises(ParamError, match="selection_seed=0"):
        stage.PARAMS.check(PARAMS | {"selection_seed": 0})
    with pytest.raises(ParamError, match="rows"):
        stage.PARAMS.check(PARAMS | {"rows": ["tsn_av", "x_vector"]})


def test_first_pass_and_table_keep_the_table_order_while_training_longest_first(monkeypatch):
    from types import SimpleNamespace

    from avlib.stages.shared import clip_store, plugin

    handed = []

    def fake_run_tasks(task, jobs, data, **kwargs):
        handed.append([(j.kind, j.method is not None, j.seed) for j in jobs])
        return [SimpleNamespace(job=j, label=j.label, seed=j.seed) for j in jobs]

    monkeypatch.setattr(clip_store, "run_tasks", fake_run_tasks)
    monkeypatch.setattr(plugin, "EPOCH_CPU_S", {"tsn_av": 1.0, "psp_lite": 0.1, "tsm_av": 3.0})
    p = stage.PARAMS.check({**PARAMS, "rows": ["tsn_av", "tsm_av", "psp_lite"], "seeds": [0, 1]})
    grid, plain = stage.first_pass(p, {})
    assert all(r.job.method is not None and r.seed == p.selection_seed for r in grid)
    assert [(r.job.kind, r.seed) for r in plain] == [(k, s) for k in ("tsn_av", "tsm_av", "psp_lite") for s in (0, 1)]
    assert handed[0][0][0] == "tsm_av" and handed[0][-1][0] == "psp_lite"  # the longest handed out first
    assert set(plain[0].job.model) == {"width", "shift_div", "hidden", "tau", "blank"}  # the video side's options
    chosen = OGMConfig(alpha=0.1, end_epoch=p.epochs)
    runs = stage.run_table(p, {}, chosen, plain)
    assert [(r.job.kind, r.job.method is not None, r.seed) for r in runs] == [
        (k, m, s) for k in ("tsn_av", "tsm_av", "psp_lite") for m in (False, True) for s in (0, 1)]


def test_premise_stage_reads_t2_videos_schedule_at_seeds_no_table_reports():
    """The premise is read on the model as the table trains it: the same schedule and model options."""
    premise = yaml.safe_load((ROOT / "params.yaml").read_text())["premise_avclips"]
    same = ("dataset", "root", "width", "epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_decay_at",
            "lr_gamma", "shift_div", "hidden", "tau")
    assert {k: premise[k] for k in same} == {k: PARAMS[k] for k in same}
    assert not set(premise["seeds"]) & {*PARAMS["seeds"], PARAMS["selection_seed"]}


@pytest.mark.slow
def test_t2_video_notebook_smoke(tmp_path):
    import run_stage

    out = run_stage.run("t2_video", ["smoke=true", "workers=1", f"root={tiny_avclips()}", "rows=[tsn_av]"],
                        tmp_path / "reports")
    for name in ("table.csv", "table.md", "ogm_grid.csv", "history.csv", "findings.md", "delta.png", "metrics.json",
                 "runs.csv"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Digits clips) acc" in table and "paper (KS) acc" in table and "CREMA-D" not in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"tsn_av", "tsn_av+ogm_ge"} <= set(metrics) and "single_segment_acc" in metrics["tsn_av"]
    assert "delta_acc_p_holm" in metrics["tsn_av+ogm_ge"]
    assert ("premise" in metrics) == (ROOT / stage.PREMISE).exists()  # the premise stage's verdict, when it ran
    findings = (out / "findings.md").read_text()
    assert "Premise" in findings and "## Video side" in findings and "## Speech side" not in findings
