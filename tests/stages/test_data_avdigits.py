"""Stage data_avdigits: the notebook's smoke run through the real runner."""

import json
from pathlib import Path

import pytest
import run_stage

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_data_notebook_smoke(tmp_path):
    root = tmp_path / "avdigits"
    out = run_stage.run("data_avdigits", ["smoke=true", f"root={root}"], tmp_path / "reports")
    assert (root / "train.pt").exists()
    for name in ("splits.csv", "splits.md", "metrics.json", "examples.png", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["smoke"] is True
    assert provenance["ran_with"]["n_train"] == 40 and provenance["params"]["n_train"] == 3500  # what really ran
    assert "/" not in provenance.get("executable", "") and str(ROOT) not in (out / "provenance.json").read_text()
