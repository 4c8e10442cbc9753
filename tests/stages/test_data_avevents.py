"""Stage data_avevents: the notebook's smoke run through the real runner."""

import json

import pytest
import run_stage


@pytest.mark.slow
def test_data_notebook_smoke(tmp_path):
    root = tmp_path / "avevents"
    out = run_stage.run("data_avevents", ["smoke=true", f"root={root}"], tmp_path / "reports")
    assert (root / "visual_feature.h5").exists()
    for name in ("splits.csv", "splits.md", "classes.json", "examples.png", "metrics.json", "notebook.html"):
        assert (out / name).exists(), name
    assert json.loads((out / "metrics.json").read_text())["train"]["clips"] == 24
