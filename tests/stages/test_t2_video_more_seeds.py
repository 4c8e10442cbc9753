"""Stage `t2_video_more_seeds`: its schema, params.yaml and the notebook's parameters cell agree; its knobs are
t2_video's; the clip store reads back exactly the runs of the very same jobs; t2_video's smoke run reads this
stage's runs back and gets the numbers it would train."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fixtures.avclips import tiny_avclips

from avlib.balance import OGMConfig
from avlib.core.params import ParamError
from avlib.stages import t2_video_more_seeds as stage
from avlib.stages.shared.clip_store import reuse_clips, write_clip_store
from avlib.tasks.classify.clips import ClipJob, ClipResult
from avlib.tasks.classify.fit import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
ALL = yaml.safe_load((ROOT / "params.yaml").read_text())
PARAMS = ALL["t2_video_more_seeds"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t2_video_more_seeds.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t2_video_more_seeds"
    assert values == PARAMS


def test_its_knobs_are_t2_videos_and_t2_video_reads_it_back():
    """Otherwise its jobs are not the table's: nothing would be read back, and t2_video would train them."""
    table = ALL["t2_video"]
    for name, value in PARAMS.items():
        if name not in ("seeds", "smoke"):
            assert table[name] == value, name
    assert set(PARAMS["seeds"]) <= set(table["seeds"])
    assert table["seeds_from"] == "reports/t2_video_more_seeds/trained_runs.json.gz"
    with pytest.raises(ParamError, match=r"t2_video_more_seeds\.selection_seed=3"):
        stage.PARAMS.check(PARAMS | {"selection_seed": 3})


def _result(job, acc):
    return ClipResult(job=job, val={"acc": acc}, test={"acc": acc / 2}, best_epoch=3,
                      history=[{"epoch": 0, "val_acc": acc}], wall_s=1.5, cpu_s=2.5, single_segment={"val": 0.1})


def test_the_store_reads_back_only_the_very_same_jobs_on_the_same_data(tmp_path):
    import torch

    from avlib.data.in_memory import InMemoryAV

    class Split(InMemoryAV):
        def __init__(self, fill):
            self.audio, self.visual, self.label = torch.full((2, 3), fill), torch.zeros(2, 3), torch.tensor([0, 1])

    config = TrainConfig(epochs=3, lr=0.05, device="cpu")
    data = {"train": Split(0.0)}
    jobs = [ClipJob("tsn_av", None, 3, config, {"width": 8}), ClipJob("tsn_av", OGMConfig(alpha=0.5), 3, config,
                                                                       {"width": 8})]
    write_clip_store([_result(j, 0.5 + i / 10) for i, j in enumerate(jobs)], tmp_path, data=data, stage="x")
    asked = [jobs[1], ClipJob("tsn_av", None, 4, config, {"width": 8}), jobs[0],
             ClipJob("tsn_av", None, 3, TrainConfig(epochs=4, lr=0.05, device="cpu"), {"width": 8})]
    found = reuse_clips(tmp_path / "trained_runs.json.gz", asked, data=data)
    assert sorted(found) == [0, 2]  # another seed or another schedule is trained, not read
    assert found[0].job is asked[0] and found[0].val == {"acc": 0.6} and found[2].history == [
        {"epoch": 0, "val_acc": 0.5}] and found[2].single_segment == {"val": 0.1} and found[2].best_epoch == 3
    other = {"train": Split(1.0)}
    assert reuse_clips(tmp_path / "trained_runs.json.gz", asked, data=other) == {}  # other data: nothing
    assert reuse_clips("", asked, data=data) == {} and reuse_clips(tmp_path / "none.gz", asked, data=data) == {}


@pytest.mark.slow
def test_t2_video_reads_this_stages_runs_back_and_gets_what_it_would_train(tmp_path):
    import run_stage

    root, reports = tiny_avclips(), tmp_path / "reports"
    more = run_stage.run("t2_video_more_seeds", ["smoke=true", "workers=1", f"root={root}", "rows=[tsn_av]"], reports)
    assert (more / "trained_runs.json.gz").exists() and (more / "runs.csv").exists()
    store = more / "trained_runs.json.gz"
    read = run_stage.run("t2_video", ["smoke=true", "workers=1", f"root={root}", "rows=[tsn_av]", "seeds=[0, 3]",
                                      f"seeds_from={store}"], tmp_path / "read")
    metrics = json.loads((read / "metrics.json").read_text())
    assert metrics["runs"] == {"trained": 2, "read_back": 3}  # seed 0 ± OGM-GE trained; the grid and seed 3 read
    assert "Read back from" in (read / "findings.md").read_text()
    # the same table trained here, in this process, without the store: the runs read back are the runs it trains
    from avlib.stages import t2_video

    p = t2_video.smoke(t2_video.PARAMS.check(run_stage.stage_params("t2_video", [
        "smoke=true", f"root={root}", "rows=[tsn_av]", "seeds=[0, 3]", "seeds_from=''", "workers=1"])))
    data = t2_video.load_data(p)
    grid, plain = t2_video.first_pass(p, data)
    runs = t2_video.run_table(p, data, t2_video.choose_ogm(p, grid)[1], plain)
    read_runs = pd.read_csv(read / "runs.csv")
    alone = [(part, r.label, r.seed, r.val["acc"], r.test["acc"], r.best_epoch)
             for part, group in (("ogm_grid", grid), ("table", runs)) for r in group]
    assert alone == list(read_runs[["part", "label", "seed", "val_acc", "test_acc", "best_epoch"]].itertuples(
        index=False, name=None))
