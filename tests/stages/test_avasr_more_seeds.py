"""Stage `avasr_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
avasr_fusion's (else nothing it trains would be read back); the AV-ASR store reads back exactly the runs of the very
same jobs on the same data, and avasr_fusion trains the rest."""

import json
from pathlib import Path

import torch
import yaml

from avlib.stages import avasr_fusion
from avlib.stages import avasr_more_seeds as stage
from avlib.stages.shared.asr_store import reuse_asr, stored_stage, write_asr_store
from avlib.tasks.asr.train import AVASRConfig, AVASRJob, AVASRResult

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["avasr_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "avasr_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/avasr_more_seeds"
    assert values == PARAMS


def test_its_knobs_are_avasr_fusions_and_avasr_fusion_reads_it_back():
    """Otherwise its jobs are not the table's: nothing would be read back, and avasr_fusion would train them."""
    table = ALL["avasr_fusion"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke"):
            assert table[name] == value, name
    assert set(PARAMS["seeds"]) == set(table["main_seeds"]) - set(table["seeds"])  # each seed trained once
    assert table["seeds_from"] == "reports/avasr_more_seeds/trained_runs.json.gz"
    p = avasr_fusion.PARAMS.check(dict(table))
    assert {j for j in avasr_fusion.jobs(p) if j.seed in PARAMS["seeds"]} == set(stage.jobs(stage.PARAMS.check(
        dict(PARAMS))))


class _Split:
    def __init__(self, fill):
        self.audio_frames, self.visual_frames = torch.full((2, 3), fill), torch.zeros(2, 5)
        self.label = torch.tensor([0, 1])

    def __len__(self):
        return 2


def _result(job, acc):
    return AVASRResult(job=job, val={"concat": {"frame_acc": acc, "per": 0.5}}, test={"concat": {"frame_acc": acc / 2,
                                                                                               "per": 0.6}},
                       best_epoch=None, history=[{"epoch": 0, "model": "concat", "selected": True}], wall_s=1.5,
                       cpu_s=2.5, penalty={"concat": 4.0}, partner="bilinear", epochs={"concat": 5},
                       selected={"concat": 0})


def test_the_store_reads_back_only_the_very_same_jobs_on_the_same_data(tmp_path):
    data = {"train": _Split(0.0)}
    cfg = AVASRConfig(epochs=10)
    jobs = [AVASRJob(seed=4, snr_db=0.0, config=cfg), AVASRJob(seed=5, snr_db=0.0, config=cfg)]
    write_asr_store([_result(j, 0.5 + i / 10) for i, j in enumerate(jobs)], tmp_path, data=data, stage="x")
    path = tmp_path / "trained_runs.json.gz"
    asked = [jobs[1], AVASRJob(seed=6, snr_db=0.0, config=cfg), jobs[0], AVASRJob(seed=4, snr_db=30.0, config=cfg),
             AVASRJob(seed=4, snr_db=0.0, config=AVASRConfig(epochs=11))]
    found = reuse_asr(path, asked, data=data)
    assert sorted(found) == [0, 2]  # another seed, level or knob: trained, not read
    assert found[0].job is asked[0] and found[0].val == {"concat": {"frame_acc": 0.6, "per": 0.5}}
    assert found[2].penalty == {"concat": 4.0} and found[2].partner == "bilinear" and found[2].selected == {
        "concat": 0}
    assert reuse_asr(path, asked, data={"train": _Split(1.0)}) == {}  # other frames (another noise mix): nothing
    assert reuse_asr("", asked, data=data) == {} and reuse_asr(tmp_path / "none.gz", asked, data=data) == {}
    assert stored_stage(path) == "x" and stored_stage("") == ""
