"""Stage data_avclips: the notebook's smoke run through the real runner."""

import pytest
import run_stage


@pytest.mark.slow
def test_data_notebook_smoke(tmp_path):
    root = tmp_path / "avclips"
    out = run_stage.run("data_avclips", ["smoke=true", f"root={root}"], tmp_path / "reports")
    assert (root / "train.pt").exists()
    for name in ("splits.csv", "splits.md", "metrics.json", "examples.png", "provenance.json"):
        assert (out / name).exists(), name
