"""Stage `avqa_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
avqa_ablation's (else nothing it trains would be read back); the QA store reads back exactly the runs of the very
same jobs on the same data, never a job that keeps its weights."""

import json
from pathlib import Path

import torch
import yaml

from avlib.stages import avqa_more_seeds as stage
from avlib.stages.shared.qa_store import reuse_qa, stored_stage, train_or_read_qa, write_qa_store
from avlib.tasks.qa.train import QAJob, QAResult

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["avqa_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "avqa_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/avqa_more_seeds"
    assert values == PARAMS


def test_its_knobs_are_avqa_ablations_and_avqa_ablation_reads_it_back():
    """Otherwise its jobs are not the table's: nothing would be read back, and avqa_ablation would train them."""
    table = ALL["avqa_ablation"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke"):
            assert table[name] == value, name
    assert set(PARAMS["seeds"]) <= set(table["seeds"])
    assert table["seeds_from"] == "reports/avqa_more_seeds/trained_runs.json.gz"
    # avqa_attention trains full AVST and AV+Q+TG with the ablation's schedules for them
    for name in ("epochs", "step_size", "epochs_without_sg", "step_size_without_sg", "hidden", "gamma"):
        assert ALL["avqa_attention"][name] == table[name], name


class _Split:
    def __init__(self, fill):
        self.audio_feats, self.visual_feats = torch.full((2, 3), fill), torch.zeros(2, 3, dtype=torch.float16)
        self.question, self.label = torch.ones(2, 4, dtype=torch.int64), torch.tensor([0, 1])

    def __len__(self):
        return 2


def _result(job, acc):
    return QAResult(job=job, val={"all": acc}, test={"all": acc / 2}, best_epoch=3, history=[{"epoch": 0}],
                    wall_s=1.5, cpu_s=2.5, test_counts={"A": [1, 2]}, template_counts={"t": [1, 2]},
                    test_correct="10")


def test_the_store_reads_back_only_the_very_same_jobs_on_the_same_data(tmp_path):
    data = {"train": _Split(0.0)}
    jobs = [QAJob("Q", seed=3, epochs=16, step_size=8), QAJob("AV+Q+TG+SG", seed=3, epochs=12, step_size=6)]
    write_qa_store([_result(j, 0.5 + i / 10) for i, j in enumerate(jobs)], tmp_path, data=data, stage="x")
    path = tmp_path / "trained_runs.json.gz"
    asked = [jobs[1], QAJob("Q", seed=4, epochs=16, step_size=8), jobs[0], QAJob("Q", seed=3, epochs=12,
                                                                                   step_size=8),
             QAJob("AV+Q+TG+SG", seed=3, epochs=12, step_size=6, keep_state=True)]
    found = reuse_qa(path, asked, data=data)
    assert sorted(found) == [0, 2]  # another seed, schedule, or kept weights: trained, not read
    assert found[0].job is asked[0] and found[0].val == {"all": 0.6} and found[2].test_correct == "10"
    assert found[2].template_counts == {"t": [1, 2]} and found[2].best_epoch == 3
    assert reuse_qa(path, asked, data={"train": _Split(1.0)}) == {}  # other features: nothing
    assert reuse_qa("", asked, data=data) == {} and reuse_qa(tmp_path / "none.gz", asked, data=data) == {}
    assert stored_stage(path) == "x" and stored_stage("") == ""

    trained = []

    def run(todo, data, *, workers, desc):
        trained.extend(todo)
        return [_result(j, 0.1) for j in todo]

    results, read = train_or_read_qa(run, asked, data, store=str(path), workers=1, desc="t")
    assert read == {0, 2} and trained == [asked[1], asked[3], asked[4]]
    assert [r.job for r in results] == asked and results[1].val == {"all": 0.1}
