"""The survey stages (taxonomy, trends, datasets) run end to end through the real runner with smoke=True.
No wall-time bound is asserted: under xdist on a loaded machine it measures the load, not the stage."""

import json
from pathlib import Path

import pandas as pd
import pytest
import run_stage

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "survey_taxonomy": ["taxonomy.csv", "taxonomy.md", "taxonomy.png"],
    "survey_trends": ["papers.csv", "malformed.csv", "papers_per_year.csv", "papers_per_year.md", "papers_per_year.png",
                      "versus_survey.md", "papers_per_task.md", "papers_per_task.png", "venues.md", "venues.png"],
    "survey_datasets": ["datasets.csv", "datasets.md", "points.csv", "size_vs_year.png"],
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(EXPECTED))
def test_survey_notebook_smoke(tmp_path, stage):
    out = run_stage.run(stage, ["smoke=true"], tmp_path / "reports")
    for name in EXPECTED[stage] + ["findings.md", "metrics.json", "notebook.html", "provenance.json"]:
        assert (out / name).exists(), name
    provenance = json.loads((out / "provenance.json").read_text())
    timing = json.loads((out / "timing.json").read_text())  # volatile, so not in provenance.json
    assert provenance["smoke"] is True and "wall_time_s" in timing
    metrics = json.loads((out / "metrics.json").read_text())
    if stage == "survey_trends":
        assert metrics["n_papers"] == sum(metrics["papers_per_group"].values())
        assert set(metrics["papers_per_group"]) == {"Audio-visual Boosting", "Cross-modal Perception",
                                                    "Audio-visual Collaboration"}
        assert len(metrics["source_commit"]) == 40
        assert "approx." in (out / "versus_survey.md").read_text()
    if stage == "survey_datasets":
        assert metrics["highlighted"] and "AV-Digits" in metrics["embedded"]
    if stage == "survey_taxonomy":
        assert metrics["nodes"] == {"group": 3, "task": 9, "sub-task": 17}


@pytest.mark.slow
def test_survey_trends_reparses_a_readme_given_in_params(tmp_path):
    readme = tmp_path / "list" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# Overview\n## Audio-visual Boosting\n### Audio-visual Recognition\n#### Speech Recognition\n"
                      "**[CVPR-2020]**\n[A paper](https://example.org)\n\n**[2021]\n[Broken](https://example.org)\n")
    out = run_stage.run("survey_trends", [f"readme={readme}"], tmp_path / "reports")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_papers"] == 1 and metrics["n_malformed"] == 1
    assert metrics["source_commit"].startswith("unknown")
    malformed = pd.read_csv(out / "malformed.csv")
    assert malformed["line"].tolist() == [8] and malformed["text"].tolist() == ["**[2021]"]
