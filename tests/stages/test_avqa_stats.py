"""Stages avqa_stats and avqa_compare: counts on a hand-counted tiny annotation file (the MUSIC-AVQA fixture),
the sunburst layout, the comparison row, and the notebooks' smoke runs."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from fixtures.music_avqa import write_fixture

from avlib import report
from avlib.data import DatasetError
from avlib.stages import avqa_compare, avqa_stats

ROOT = Path(__file__).resolve().parents[2]


def test_counts_on_a_hand_counted_file(tmp_path):
    root = write_fixture(tmp_path / "m")
    data = avqa_stats.load(root, "train")
    m = avqa_stats.metrics(data)
    # 9 train records, one deleted; 3 videos; answers yes, cello, piano, two, no, violin, left
    assert (m["n_questions"], m["n_videos"], m["n_answers"], m["n_templates"]) == (8, 3, 7, 8)
    assert m["questions_per_type"] == {"Audio/Counting": 1, "Audio/Comparative": 0, "Visual/Counting": 0,
                                       "Visual/Location": 2, "Audio-Visual/Existential": 0,
                                       "Audio-Visual/Counting": 1, "Audio-Visual/Location": 2,
                                       "Audio-Visual/Comparative": 0, "Audio-Visual/Temporal": 2}
    assert m["questions_per_modality"] == {"Audio": 1, "Visual": 2, "Audio-Visual": 5}
    assert data["name"] == "MUSIC-AVQA" and "videos_real" not in m
    templates = report.load_reference("avqa_templates.csv")
    table = avqa_stats.template_table(data, templates)
    assert len(table) == 33 and table["ours (MUSIC-AVQA) questions"].sum() == 8  # quirky templates matched
    formulas = avqa_stats.formulas_table(data, report.load_reference("avqa_question_formulas.csv"))
    formulas = formulas.set_index("placeholder")
    assert formulas.loc["<LR>", "questions"] == 2 and formulas.loc["<Object>", "templates"] == 4
    assert formulas.loc["<BA>", "most common values"] == "before"
    assert avqa_stats.first_words(data)[("what", "is", "the", "instrument")] == 1
    # the real/synthetic files, when present
    for split in ("train",):
        records = json.loads((root / f"avqa-{split}.json").read_text())
        (root / f"avqa-{split}_real.json").write_text(json.dumps(records[:4]))
        (root / f"avqa-{split}_fake.json").write_text(json.dumps(records[4:]))
    m = avqa_stats.metrics(avqa_stats.load(root, "train"))
    assert (m["videos_real"], m["videos_synthetic"]) == (2, 2)  # 00000001-2 real; 00000002-3 fake


def test_sunburst_wedges():
    layout = avqa_stats.wedges(Counter({("a", "b"): 2, ("a", "c"): 1, ("d", "e"): 5}), depth=2)
    assert layout[("d",)] == (0.0, 0.625) and layout[("a",)] == (0.625, 0.375)  # larger first
    assert layout[("a", "b")] == (0.625, 0.25) and layout[("a", "c")] == (0.875, 0.125)  # inside the parent
    assert layout[("d", "e")] == (0.0, 0.625)


def test_missing_root():
    with pytest.raises(DatasetError, match="not a folder"):
        avqa_stats.load("/nowhere/at/all", "all")
    with pytest.raises(DatasetError, match="avqa-train.json not found"):
        avqa_compare.avscenes_row("/nowhere/at/all")


@pytest.mark.slow
def test_avqa_notebooks_smoke(tmp_path):
    import run_stage

    data = tmp_path / "avscenes"
    out = run_stage.run("data_avscenes", ["smoke=true", f"root={data}"], tmp_path / "reports")
    for name in ("splits.md", "examples.png", "findings.md", "metrics.json"):
        assert (out / name).exists(), name
    out = run_stage.run("premise_avscenes", ["smoke=true", "workers=1", f"root={data}"], tmp_path / "reports")
    for name in ("modality_check.md", "probe_choice.md", "findings.md", "metrics.json", "runs.csv"):
        assert (out / name).exists(), name
    probes = pd.read_csv(out / "runs.csv")  # one row per probe of the grid: train (fit), held-out, val if chosen
    assert {"view", "seed", "hidden", "weight_decay", "chosen", "overall", "train overall",
            "heldout overall"} <= set(probes.columns)
    chosen = probes["chosen"]
    assert probes.loc[chosen, "overall"].notna().all() and probes.loc[~chosen, "overall"].isna().all()
    assert set(json.loads((out / "metrics.json").read_text())["generalization"]) == {"question", "audio", "visual",
                                                                                    "audio-visual"}
    out = run_stage.run("avqa_stats", [f"root={data}"], tmp_path / "reports")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "AV-Scenes" and metrics["n_videos"] == 50
    assert sum(metrics["questions_per_type"].values()) == metrics["n_questions"]
    for name in ("overview.png", "templates.png", "first_words.png", "answers.png", "formulas.md", "types.md"):
        assert (out / name).exists(), name
    out = run_stage.run("avqa_compare", [f"root={data}"], tmp_path / "reports")
    table = (out / "table.md").read_text()
    assert "AV-Scenes" in table and "paper (Table 1)" in table and "ours (computed from" in table


def test_comparison_has_every_question_kind_of_the_paper():
    reference = report.load_reference("avqa_dataset_comparison.csv")
    assert set(avqa_compare.KINDS) <= set(reference.columns)
    rows = reference.set_index("dataset")
    # the kinds that only MUSIC-AVQA asks (its novelty), and Pano-AVQA's A-V location check mark
    assert (rows[["av_comparative", "av_temporal"]] == "yes").sum().tolist() == [1, 1]
    assert rows.loc["MUSIC-AVQA", ["av_comparative", "av_temporal"]].tolist() == ["yes", "yes"]
    assert rows.loc["Pano-AVQA", "av_location"] == "yes" and rows.loc["Pano-AVQA", "av_counting"] == "no"
    ours = {"dataset": "AV-Scenes", "source": "ours", "origin": "generated", "main_sound_type": "x", "videos": "1",
            "avg_video_length": "10s", "qa_pairs": "1", **{k: "yes" for k in avqa_compare.KINDS}}
    table = avqa_compare.comparison_table(reference, ours, {"qa_pairs": 45867})
    assert {"AV comparative", "AV temporal"} <= set(table.columns) and len(table) == 6
    with pytest.raises(DatasetError, match="av_temporal"):
        avqa_compare.comparison_table(reference.drop(columns="av_temporal"), ours, {"qa_pairs": 45867})
