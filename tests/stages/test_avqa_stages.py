"""The MUSIC-AVQA model stages: the pooled per-type evaluation on a hand-computed example, the tables'
columns and paired rows on fake results, parameter checks, and the notebooks' smoke runs."""

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import yaml

from avlib import report
from avlib.core.params import ParamError
from avlib.data.qa import QARecord
from avlib.stages import avqa_ablation, avqa_attention, avqa_baselines
from avlib.stages.shared.qa import chosen_lr, lr_grid_frame, template_table
from avlib.tasks.qa.metrics import pooled_accuracy, type_counts
from avlib.tasks.qa.prior import PRIOR_NAME, majority_answers, template_prior_accuracy
from avlib.tasks.qa.train import QAJob, QAResult, template_counts

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
TYPES = ["Audio/Counting", "Audio/Comparative", "Visual/Location", "Audio-Visual/Temporal"]


def test_pooled_accuracy_counts_questions_not_types():
    # Audio/Counting 3 of 4 right, Audio/Comparative 0 of 1, Visual/Location 1 of 2, Audio-Visual/Temporal 1 of 1
    type_index = torch.tensor([0, 0, 0, 0, 1, 2, 2, 3])
    correct = torch.tensor([1, 1, 1, 0, 0, 1, 0, 1], dtype=torch.bool)
    counts = type_counts(correct, type_index, TYPES)
    assert counts == {"Audio/Counting": [3, 4], "Audio/Comparative": [0, 1], "Visual/Location": [1, 2],
                      "Audio-Visual/Temporal": [1, 1]}
    acc = pooled_accuracy(counts)
    assert acc["Audio"] == pytest.approx(3 / 5)  # pooled; the mean of the type accuracies would be 0.375
    assert acc["Visual"] == pytest.approx(1 / 2) and acc["Audio-Visual"] == pytest.approx(1.0)
    assert acc["all"] == pytest.approx(5 / 8)  # not the mean of the modality accuracies (0.7)
    assert acc["Audio/Counting"] == pytest.approx(0.75)
    assert pooled_accuracy({"Visual/Location": [0, 0]})["Visual"] is None  # no questions: no number


def test_a_type_without_modality_is_refused():
    with pytest.raises(ValueError, match="'Sound/Counting'"):
        pooled_accuracy({"Sound/Counting": [1, 2]})


def test_the_shared_job_knobs_are_qajob_fields():
    from dataclasses import fields

    from avlib.stages.shared.qa import JOB_FIELDS

    assert set(JOB_FIELDS) <= {f.name for f in fields(QAJob)}


def _result(model, seed, acc):
    test = {g: acc for g in ("Audio", "Visual", "Audio-Visual", "all", *avqa_baselines.TYPE_COLUMNS)}
    return QAResult(job=QAJob(model=model, seed=seed, lr=1e-3), val=dict(test), test=test, test_counts={},
                    best_epoch=0, cpu_s=1.0)


def test_ablation_table_pairs_each_row_with_the_previous_one():
    p = SimpleNamespace(**PARAMS["avqa_ablation"])
    results = [_result(row, s, base + 0.01 * s) for row, base in (("Q", 0.4), ("A+Q", 0.5)) for s in (0, 1, 2)]
    results[3].test["all"] += 0.02  # A+Q seed 0 a bit better
    table = avqa_ablation.ablation_table(results, p=p, reference=report.load_reference("avqa_ablation.csv"))
    assert table["method"].tolist() == ["Q", "A+Q"]
    assert table["Δ all vs previous row"].tolist()[1].startswith("+10.7")  # (12 + 10 + 10) / 3 points
    assert table["paper (MUSIC-AVQA) all"].tolist() == [54.09, 64.26]
    assert "ours (AV-Scenes) audio-visual" in table


def test_baselines_table_has_every_type_and_the_paper_only_rows():
    p = SimpleNamespace(**PARAMS["avqa_baselines"])
    results = [_result(m, s, 0.5) for m in ("gru_lite", "AV+Q+TG+SG") for s in (0, 1)]
    table = avqa_baselines.baselines_table(results, p=p, reference=report.load_reference("avqa_baselines.csv"))
    assert table["method"].tolist()[:2] == ["GRU-lite (reduced)", "AVST"]
    assert "HCRN (paper only, not reimplemented)" in table["method"].tolist()
    assert "GRU (paper only, not reimplemented)" not in table["method"].tolist()
    for label in ("A counting", "V location", "AV temporal", "AV avg", "all"):
        assert f"ours (AV-Scenes) {label}" in table and f"paper (MUSIC-AVQA) {label}" in table
    assert table.loc[0, "paper (MUSIC-AVQA) all"] == 67.07


def test_lr_choice_reads_val_only(tmp_path):
    grid = lr_grid_frame([_result("AV+Q+TG+SG", 100, a) for a in (0.4, 0.6, 0.6)])
    assert grid["chosen"].tolist() == [False, True, False]
    grid.to_csv(tmp_path / "lr_grid.csv", index=False)
    assert chosen_lr(tmp_path / "lr_grid.csv") == 1e-3
    with pytest.raises(ParamError, match="run `dvc repro avqa_ablation` first"):
        chosen_lr(tmp_path / "missing.csv")


def test_bad_parameters_name_the_key():
    values = {**PARAMS["avqa_ablation"], "rows": ["AV+Q", "Q"]}
    with pytest.raises(ParamError, match="avqa_ablation.rows"):
        avqa_ablation.PARAMS.check(values)
    with pytest.raises(ParamError, match="avqa_ablation.selection_seed"):
        avqa_ablation.PARAMS.check({**PARAMS["avqa_ablation"], "selection_seed": 0})


@pytest.fixture(scope="module")
def tiny_avscenes(tmp_path_factory):
    from avlib.data.embedded.avscenes.scenes import AVScenesConfig, generate

    root = tmp_path_factory.mktemp("avscenes") / "avscenes"
    # train large enough to hold every answer of val and test (the loader requires it)
    generate(root, AVScenesConfig(n_train=60, n_val=8, n_test=8, questions_per_video=8), progress=False)
    return root


@pytest.mark.slow
def test_the_three_notebooks_smoke(tmp_path, tiny_avscenes):
    import run_stage

    reports = tmp_path / "reports"
    out = run_stage.run("avqa_ablation", ["smoke=true", f"root={tiny_avscenes}"], reports)
    for name in ("table.md", "lr_grid.csv", "ablation.png", "findings.md", "metrics.json", "runs.csv"):
        assert (out / name).exists(), name
    assert "AV+Q+TG+SG" in (out / "table.md").read_text()
    runs = pd.read_csv(out / "runs.csv")  # every run: the lr grid's and the table's, with its selected epoch
    assert set(runs["purpose"]) == {"lr selection (val only)", "table"}
    assert {"model", "seed", "lr", "best_epoch", "best_epoch_late", "val_all", "test_all"} <= set(runs.columns)
    assert "Convergence check:" in (out / "findings.md").read_text()
    grid = str(out / "lr_grid.csv")
    for stage, files in (("avqa_baselines", ("table.md", "baselines.png", "findings.md", "runs.csv",
                                             "per_template.md")),
                         ("avqa_attention", ("examples.md", "attention.png", "grounding.md", "findings.md",
                                             "runs.csv"))):
        out = run_stage.run(stage, ["smoke=true", f"root={tiny_avscenes}", f"lr_from={grid}"], reports)
        for name in files:
            assert (out / name).exists(), (stage, name)
    examples = pd.read_csv(reports / "avqa_attention" / "examples.csv")
    assert examples["type"].nunique() >= 6  # questions of different types
    assert examples["video"].nunique() >= 4  # spread over the smoke test split's ~6 videos (48 questions)
    assert "spatial hit rate" in (reports / "avqa_attention" / "findings.md").read_text()
    grounding = json.loads((reports / "avqa_attention" / "metrics.json").read_text())["grounding"]
    assert {"spatial_hit", "spatial_chance", "audio_mass", "mass_chance", "questions"} <= set(grounding)
    assert "Holm p" in (reports / "avqa_baselines" / "table.md").read_text()


def test_template_counts_and_the_per_template_table():
    records = [_record(0, "How many? ", "two"), _record(1, "How many?", "one"), _record(2, "Is it?", "yes")]
    counts = template_counts(torch.tensor([True, False, True]), records)
    assert counts == {"How many": [1, 2], "Is it": [1, 1]}  # quirks (spaces, "?") removed
    runs = [SimpleNamespace(job=SimpleNamespace(model="m"), template_counts=c)
            for c in (counts, {"How many": [2, 2], "Is it": [0, 1]})]
    table = template_table(runs, names={"m": "M"}, prior={"How many": 0.5})
    assert table["template"].tolist() == ["How many", "Is it"] and table["questions"].tolist() == [2, 1]
    assert table["M"].tolist() == [75.0, 50.0]  # mean over the runs
    assert table["template prior"].iloc[0] == 50.0 and pd.isna(table["template prior"].iloc[1])


def test_ablation_findings_apply_holm_over_the_six_steps():
    p = SimpleNamespace(**PARAMS["avqa_ablation"])
    rows = ("Q", "A+Q", "V+Q", "AV+Q", "AV+Q+TG", "AV+Q+TG+SG")
    results = [_result(row, s, 0.4 + 0.02 * i + 0.001 * s * (i % 2)) for i, row in enumerate(rows) for s in range(3)]
    grid = pd.DataFrame({"lr": [1e-3], "chosen": [True]})
    text = avqa_ablation.findings(results, p=p, lr_grid=grid)
    assert text.count("over 6 comparisons") == 6


def _record(qid, template, answer, type_="Audio/Counting"):
    return QARecord(video_id="v", question_id=qid, type=type_, template=template, values=(), answer=answer,
                    deleted=False)


def test_template_prior_answers_each_template_with_its_train_majority():
    train = [_record(0, "How many?", "two"), _record(1, "How many?", "two"), _record(2, "How many?", "one"),
             _record(3, "Is it?", "yes", "Visual/Location"), _record(4, "Is it?", "no", "Visual/Location")]
    assert majority_answers(train) == {"How many?": "two", "Is it?": "no"}  # a tie: alphabetically first
    test = [_record(5, "How many?", "two"), _record(6, "How many?", "three"), _record(7, "Is it?", "yes",
            "Visual/Location"), _record(8, "Unseen?", "two")]  # a template not on train: wrong
    acc = template_prior_accuracy(train, test)
    assert acc["Audio/Counting"] == 1 / 3 and acc["Visual/Location"] == 0.0 and acc["all"] == 0.25
    assert acc["Audio"] == 1 / 3 and acc["Audio-Visual"] is None  # no question of that modality: no number
    with pytest.raises(ValueError, match="type 'Odd/Type'"):
        template_prior_accuracy(train, [_record(9, "How many?", "two", "Odd/Type")])


def test_tables_carry_the_template_prior_and_the_later_methods():
    prior = {**{t: 0.5 for t in avqa_baselines.TYPE_COLUMNS}, "Audio-Visual": None}
    p = SimpleNamespace(**PARAMS["avqa_ablation"])
    results = [_result("Q", s, 0.4) for s in (0, 1)]
    reference = report.load_reference("avqa_ablation.csv")
    table = avqa_ablation.ablation_table(results, p=p, reference=reference, prior=prior)
    assert table["method"].tolist() == [PRIOR_NAME, "Q"]
    assert table.loc[0, "ours (AV-Scenes) all"] == "50.0" and table.loc[0, "ours (AV-Scenes) audio-visual"] == "–"
    assert "answer prior" in avqa_ablation.table_note(p, results, reference)
    assert "(Q only: 40.0% here vs 54.1% in the paper)" in avqa_ablation.table_note(p, results, reference)
    p = SimpleNamespace(**PARAMS["avqa_baselines"])
    later = report.load_reference("avqa_later_models.csv")
    table = avqa_baselines.baselines_table([_result("AV+Q+TG+SG", s, 0.5) for s in (0, 1)], p=p,
                                           reference=report.load_reference("avqa_baselines.csv"), later=later,
                                           prior=prior)
    assert table["method"].tolist()[:2] == [PRIOR_NAME, "AVST"]
    rows = table.set_index("method")
    assert rows.loc["TSPM (paper only, later)", "paper (MUSIC-AVQA) all"] == 76.79
    assert "ACM MM 2024" in rows.loc["TSPM (paper only, later)", "source"]
    assert rows.loc["AVST (corrected labels) (paper only, later)", "source"] == "as cited in issue #28, not verified"
    assert later["source"].notna().all() and later["all_acc"].between(0, 100).all()
    with pytest.raises(ValueError, match="source"):
        avqa_baselines.later_rows(later.drop(columns="source"), "paper (MUSIC-AVQA)")


def test_attention_examples_come_from_different_videos():
    # questions grouped by video, as a split is: video 0 holds one question of each of the 3 types
    types = [0, 1, 2, 0, 1, 2, 2, 0, 1]
    videos = [0, 0, 0, 1, 1, 1, 2, 3, 4]
    data = SimpleNamespace(type=torch.tensor(types), video=torch.tensor(videos), types=["a", "b", "c"])
    picked = avqa_attention.pick_questions(data, 5)
    assert picked == [0, 4, 6, 7, 8]  # round 1: a@v0, b@v1 (v0 used), c@v2; round 2: a@v3, b@v4
    assert len({videos[i] for i in picked}) == 5 and {types[i] for i in picked} == {0, 1, 2}
    assert avqa_attention.pick_questions(data, 9) == [0, 4, 6, 7, 8, 2, 3, 1, 5]  # then used videos, in order
    assert avqa_attention.pick_questions(data, 9) == avqa_attention.pick_questions(data, 9)
