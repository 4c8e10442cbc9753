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
from avlib.stages.shared import longest_first
from avlib.stages.shared import qa as shared_qa
from avlib.stages.shared import sampling as shared_sampling
from avlib.stages.shared import stats as shared_stats
from avlib.stages.shared.avst_runs import read_avst_runs, write_avst_runs
from avlib.stages.shared.qa import chosen_lr, lr_grid_frame, template_table
from avlib.tasks.qa.metrics import pooled_accuracy, type_counts
from avlib.tasks.qa.prior import PRIOR_NAME, majority_answers, template_prior_accuracy
from avlib.tasks.qa.train import MODELS, QAJob, QAResult, template_counts

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


AVST = "AV+Q+TG+SG"
SPLITS = {"train": range(96), "val": range(48), "test": range(48)}  # what the recipe reads of the data: sizes


def _avst_run(seed, p):
    """A full-AVST result with the floats a run has (thirds, sums that are not exact in binary, a None)."""
    r = _result(AVST, seed, 1 / 3 + 0.1 * seed)
    job = {k: getattr(p, k) for k in shared_qa.JOB_FIELDS}
    r.job = QAJob(model=AVST, seed=seed, lr=1e-3, **job)
    r.test["Visual/Counting"], r.val["all"] = None, 0.1 + 0.2
    r.test_counts, r.template_counts = {"Audio/Counting": [3, 7]}, {"How many": [2, 3], "Is it": [0, 1]}
    r.history = [{"epoch": 0, "loss": 2 / 3, "val_all": 0.5}, {"epoch": 1, "loss": 0.1 + 0.7, "val_all": 0.25}]
    r.wall_s, r.cpu_s = 12.345678, 23.456789
    return r


def test_avst_runs_read_back_equal_to_the_runs_written(tmp_path):
    p = SimpleNamespace(**{**PARAMS["avqa_baselines"], "seeds": [0, 1, 2]})
    runs = [_avst_run(s, p) for s in (0, 1, 2)]
    others = [_result("Q", s, 0.4) for s in (0, 1, 2)]  # the ablation's other rows are not written
    path = write_avst_runs(others + runs, tmp_path, p=p, lr=1e-3, data=SPLITS)
    assert path.name == "avst_runs.json" and json.loads(path.read_text())["seeds"] == [0, 1, 2]
    back = read_avst_runs(path, p=p, lr=1e-3, data=SPLITS)
    assert back == runs  # every field, every float bit for bit (JSON writes floats that read back the same)
    assert [r.job.seed for r in read_avst_runs(path, p=SimpleNamespace(**{**vars(p), "seeds": [2, 0]}), lr=1e-3,
                                               data=SPLITS)] == [2, 0]  # the baselines' seeds, in their order


def test_avst_runs_of_another_recipe_are_refused_naming_the_file_and_the_stage(tmp_path):
    p = SimpleNamespace(**{**PARAMS["avqa_baselines"], "seeds": [0, 1, 2]})
    path = write_avst_runs([_avst_run(s, p) for s in (0, 1)], tmp_path, p=p, lr=1e-3, data=SPLITS)
    with pytest.raises(ParamError, match=r"no such file.*avqa_ablation"):
        read_avst_runs(tmp_path / "missing.json", p=p, lr=1e-3, data=SPLITS)
    for key, value in (("epochs", 3), ("hidden", 64), ("step_size", 2), ("gamma", 0.5), ("batch_size", 32),
                       ("match_weight", 0.0), ("dataset", "music_avqa"), ("root", "elsewhere"), ("smoke", True)):
        other = SimpleNamespace(**{**vars(p), key: value})
        with pytest.raises(ParamError, match=rf"avst_runs.json.*another recipe.*{key}: avqa_ablation.*avqa_ablation"):
            read_avst_runs(path, p=other, lr=1e-3, data=SPLITS)
    with pytest.raises(ParamError, match="lr: avqa_ablation 0.001, avqa_baselines 0.003"):
        read_avst_runs(path, p=p, lr=3e-3, data=SPLITS)
    with pytest.raises(ParamError, match="questions"):  # other data at the same root
        read_avst_runs(path, p=p, lr=1e-3, data={**SPLITS, "test": range(40)})
    with pytest.raises(ParamError, match=r"no AVST run at seed\(s\) \[2\]"):
        read_avst_runs(path, p=p, lr=1e-3, data=SPLITS)  # the baselines' seeds are [0, 1, 2]
    same_root = SimpleNamespace(**{**vars(p), "seeds": [0, 1], "root": f"./{p.root}"})
    assert len(read_avst_runs(path, p=same_root, lr=1e-3, data=SPLITS)) == 2  # roots compared as paths


def test_the_baselines_train_every_model_but_avst_and_keep_the_table_order():
    p = SimpleNamespace(**{**PARAMS["avqa_baselines"], "models": ["gru_lite", AVST, "mcan_lite"], "seeds": [0, 1],
                           "lrs": {"gru_lite": 3e-3, "mcan_lite": 1e-3}})
    jobs = avqa_baselines.table_jobs(p)
    assert [(j.model, j.seed) for j in jobs] == [("gru_lite", 0), ("gru_lite", 1), ("mcan_lite", 0), ("mcan_lite", 1)]
    assert [j.lr for j in jobs] == [3e-3, 3e-3, 1e-3, 1e-3]  # each model at its own lr
    trained = [_result(j.model, j.seed, 0.5) for j in jobs]
    reused = [_avst_run(s, p) for s in (0, 1)]
    results = avqa_baselines.table_results(p, trained, reused)
    assert [(r.job.model, r.job.seed) for r in results] == [("gru_lite", 0), ("gru_lite", 1), (AVST, 0), (AVST, 1),
                                                            ("mcan_lite", 0), ("mcan_lite", 1)]
    assert avqa_baselines.reused_runs(SimpleNamespace(**{**vars(p), "models": ["gru_lite"]}), 1e-3, SPLITS) == []
    note = avqa_baselines.table_note(p, 1e-3, results)
    assert "AVST's 2 are avqa_ablation's runs" in note and "AVST 0.001" in note and "GRU-lite (reduced) 0.003" in note


def test_runs_go_out_longest_first_and_come_back_in_the_jobs_order(monkeypatch):
    submitted = []

    def fake_run_tasks(task, jobs, data, **kwargs):
        submitted.extend((j.model, j.seed) for j in jobs)
        return [f"{j.model}/{j.seed}" for j in jobs]

    monkeypatch.setattr(longest_first, "run_tasks", fake_run_tasks)
    p = SimpleNamespace(**{**PARAMS["avqa_ablation"], "seeds": [0, 1]})
    jobs = avqa_ablation.table_jobs(p, 1e-3)
    results = shared_qa.run_longest_first(jobs, None, workers=2, desc="test")
    assert results == [f"{j.model}/{j.seed}" for j in jobs]  # the table's order
    assert submitted[:2] == [(AVST, 0), (AVST, 1)] and submitted[-2:] == [("Q", 0), ("Q", 1)]
    assert set(shared_qa.RUN_CPU_S) == set(MODELS)  # every model has a cost


def test_bad_parameters_name_the_key():
    values = {**PARAMS["avqa_ablation"], "rows": ["AV+Q", "Q"]}
    with pytest.raises(ParamError, match="avqa_ablation.rows"):
        avqa_ablation.PARAMS.check(values)
    with pytest.raises(ParamError, match="avqa_ablation.selection_seed"):
        avqa_ablation.PARAMS.check({**PARAMS["avqa_ablation"], "selection_seed": 0})
    lrs = {k: v for k, v in PARAMS["avqa_baselines"]["lrs"].items() if k != "gru_lite"}
    with pytest.raises(ParamError, match=r"avqa_baselines.lrs lacks \['gru_lite'\]"):
        avqa_baselines.PARAMS.check({**PARAMS["avqa_baselines"], "lrs": lrs})


@pytest.fixture(scope="module")
def tiny_avscenes(tmp_path_factory):
    from avlib.data.embedded.avscenes.scenes import AVScenesConfig, generate

    root = tmp_path_factory.mktemp("avscenes") / "avscenes"
    # train large enough to hold every answer of val and test (the loader requires it)
    generate(root, AVScenesConfig(n_train=60, n_val=8, n_test=8, questions_per_video=8), progress=False)
    return root


@pytest.mark.slow
def test_the_four_notebooks_smoke(tmp_path, tiny_avscenes):
    import run_stage

    reports = tmp_path / "reports"
    # avqa_more_seeds trains the lr grid and seed 3; avqa_ablation reads them back and trains seed 0 itself
    more = run_stage.run("avqa_more_seeds", ["smoke=true", "workers=1", f"root={tiny_avscenes}", "seeds=[3]"], reports)
    store = more / "trained_runs.json.gz"
    out = run_stage.run("avqa_ablation", ["smoke=true", "workers=1", f"root={tiny_avscenes}", "seeds=[0,3]",
                                          f"seeds_from={store}"], reports)
    assert "The runs at seeds [3] were trained by avqa_more_seeds" in (out / "findings.md").read_text()
    stored, table_runs = pd.read_csv(more / "runs.csv"), pd.read_csv(out / "runs.csv")
    pd.testing.assert_frame_equal(table_runs[table_runs["seed"].isin([3, 100])].reset_index(drop=True), stored)
    for name in ("table.md", "lr_grid.csv", "ablation.png", "findings.md", "metrics.json", "runs.csv"):
        assert (out / name).exists(), name
    assert "AV+Q+TG+SG" in (out / "table.md").read_text()
    assert "± with test sampling" in (out / "table.md").read_text()
    runs = pd.read_csv(out / "runs.csv")  # every run: the lr grid's and the table's, with its selected epoch
    assert set(runs["purpose"]) == {"lr selection (val only)", "table"}
    assert {"model", "seed", "lr", "best_epoch", "best_epoch_late", "val_all", "test_all"} <= set(runs.columns)
    assert "Convergence check:" in (out / "findings.md").read_text()
    grid, avst = str(out / "lr_grid.csv"), str(out / "avst_runs.json")
    for stage, files in (("avqa_baselines", ("table.md", "baselines.png", "findings.md", "runs.csv",
                                             "per_template.md", "history.csv")),
                         ("avqa_attention", ("examples.md", "attention.png", "grounding.md", "findings.md",
                                             "runs.csv"))):
        reuse = [f"avst_from={avst}", "seeds=[0,3]"] if stage == "avqa_baselines" else []
        out = run_stage.run(stage, ["smoke=true", "workers=1", f"root={tiny_avscenes}", f"lr_from={grid}", *reuse],
                             reports)
        for name in files:
            assert (out / name).exists(), (stage, name)
    # the baselines' AVST row is the ablation's: the same runs, every column of runs.csv
    ablation, baselines = (_avst_table_runs(reports / stage / "runs.csv") for stage in ("avqa_ablation",
                                                                                          "avqa_baselines"))
    pd.testing.assert_frame_equal(baselines, ablation[baselines.columns])
    # every table run's per-epoch val, AVST's too (read back with its history), for reports/convergence
    history = pd.read_csv(reports / "avqa_baselines" / "history.csv")
    table = pd.read_csv(reports / "avqa_baselines" / "runs.csv")
    assert set(zip(history["model"], history["seed"], strict=True)) == set(zip(table["model"], table["seed"],
                                                                              strict=True))
    assert {"epoch", "val_all"} <= set(history.columns)
    ablation_history = pd.read_csv(reports / "avqa_ablation" / "history.csv")
    pd.testing.assert_frame_equal(history[history["model"] == AVST].reset_index(drop=True),
                                  ablation_history[ablation_history["model"] == AVST].reset_index(drop=True))
    _assert_reused_runs_are_what_a_retrain_gives(tiny_avscenes, grid, avst)
    examples = pd.read_csv(reports / "avqa_attention" / "examples.csv")
    assert examples["type"].nunique() >= 6  # questions of different types
    assert examples["video"].nunique() >= 4  # spread over the smoke test split's ~6 videos (48 questions)
    assert "spatial hit rate" in (reports / "avqa_attention" / "findings.md").read_text()
    grounding = json.loads((reports / "avqa_attention" / "metrics.json").read_text())["grounding"]
    assert {"spatial_hit", "spatial_chance", "audio_mass", "mass_chance", "questions"} <= set(grounding)
    assert "Holm p" in (reports / "avqa_baselines" / "table.md").read_text()


def _avst_table_runs(path) -> pd.DataFrame:
    runs = pd.read_csv(path)
    return runs[(runs["model"] == AVST) & (runs["purpose"] == "table")].reset_index(drop=True)


def _assert_reused_runs_are_what_a_retrain_gives(root, grid, avst):
    """AVST trained here with the baselines' smoke params gives, bit for bit, the run read from avst_runs.json
    (trained by avqa_more_seeds, read back by avqa_ablation, written to avst_runs.json, read by avqa_baselines)."""
    from avlib.stages.shared.avst_runs import RESULT_FIELDS
    from avlib.tasks.qa.train import train

    p = avqa_baselines.smoke(SimpleNamespace(**{**PARAMS["avqa_baselines"], "smoke": True, "root": str(root),
                                                "seeds": [0, 3]}))
    lr, data = chosen_lr(grid), avqa_baselines.load_data(p)
    reused = read_avst_runs(avst, p=p, lr=lr, data=data)[1]  # seed 3: avqa_more_seeds's, read back twice
    retrained = train(avqa_baselines.job(p, AVST, p.seeds[1], lr), data)
    assert retrained.job == reused.job
    for key in RESULT_FIELDS:
        if key not in ("wall_s", "cpu_s"):
            assert getattr(retrained, key) == getattr(reused, key), key


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


def test_the_learned_temperature_variant_is_compared_paired_by_seed_with_holm():
    rows = []
    for seed, (hit, hit_variant) in enumerate([(0.40, 0.50), (0.42, 0.55), (0.44, 0.51)]):
        for model, h in ((AVST, hit), (avqa_attention.LEARNED_TEMPERATURE, hit_variant)):
            rows.append({"model": model, "seed": seed, "best_epoch": 5, "test all": 50.0 + seed,
                         "spatial peak": 1.2, "learned scale": None, "spatial hit": h, "audio mass": 0.6,
                         "visual mass": 0.6, "mass chance": 0.6})
    frame = pd.DataFrame(rows)
    table = avqa_attention.variant_comparison(frame).set_index("measure")
    assert list(table.index) == ["spatial hit", "audio mass", "visual mass", "test all"]
    assert table.loc["spatial hit", "learned - faithful"] == pytest.approx(10.0)  # rates in points
    assert table.loc["spatial hit", "seeds up"] == "3/3"
    # Holm over the four: the three unchanged measures have p 1, the hit's p is multiplied by 4
    assert table.loc["spatial hit", "Holm p"] == pytest.approx(min(1.0, 4 * shared_stats.paired_p([10, 13, 7])))
    assert table.loc["test all", "learned - faithful"] == 0.0 and not table.loc["test all", "resolved"]
    lines = "\n".join(avqa_attention.variant_lines(frame, avqa_attention.variant_comparison(frame)))
    assert "spatial hit: +10.0 ± " in lines and "(3 seeds)" in lines


def test_the_drawn_seed_must_be_one_of_the_compared_seeds():
    params = PARAMS["avqa_attention"]
    with pytest.raises(ParamError, match=r"avqa_attention\.seed=5: .*grounding_seeds"):
        avqa_attention.PARAMS.check(params | {"seed": 5})
    assert avqa_attention.PARAMS.check(params).grounding_seeds == [0, 1, 2]


def test_the_interval_with_test_sampling_adds_the_questions_bootstrap_to_the_seed_interval():
    from avlib.core.metrics import Paired

    d = Paired(mean=10.0, half=3.0, wins=3, n=3)
    clusters = [0, 0, 1, 1, 2, 2, 3, 3]
    # every question moves by the same amount: resampling the questions changes nothing, the seed interval stays
    same = shared_sampling.with_test_sampling(d, ["11111111"] * 3, ["00000000"] * 3, clusters)
    assert same == pytest.approx(3.0)
    # questions that disagree: wider, deterministic, never narrower than the seed interval
    mixed = shared_sampling.with_test_sampling(d, ["11110000"] * 3, ["00001111"] * 3, clusters)
    assert mixed > 3.0 and mixed == shared_sampling.with_test_sampling(d, ["11110000"] * 3, ["00001111"] * 3, clusters)
    assert shared_sampling.with_test_sampling(d, [""] * 3, ["0"] * 3, clusters) is None  # no per-question results
    assert shared_sampling.with_test_sampling(Paired(1.0, None, 1, 1), ["1"], ["0"], [0]) is None  # one seed
    with pytest.raises(ValueError, match="cluster ids"):
        shared_sampling.with_test_sampling(d, ["11"] * 3, ["00"] * 3, [0, 1, 2])
