"""DDP (torchrun) on the CPU with gloo: 2 processes against 1 on the same global batches.

Tolerance of the 2-vs-1 comparison: gloo on the CPU has no SyncBatchNorm, so each rank normalizes its own
half of every batch (on CUDA `avlib.core.ddp.wrap` syncs BatchNorm): the trajectories part slightly. We accept
per-epoch means of OGM-GE's k and rho within 0.01 and val/test accuracy within 2
samples. Across the ranks of one run everything must be identical: k, rho, metrics and the weights' bytes.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avlib.data.loader import make_loader, shard_batch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "torchrun_fit.py"
ARGS = ["--synthetic", "256", "--method", "ogm_ge", "--epochs", "2", "--batch-size", "32", "--lr", "0.1"]


def test_shard_batch_splits_a_global_batch_into_equal_contiguous_shares():
    index = torch.arange(10, 17)  # 7 samples over 2 ranks: trimmed to 6
    assert shard_batch(index, 0, 2).tolist() == [10, 11, 12]
    assert shard_batch(index, 1, 2).tolist() == [13, 14, 15]
    assert shard_batch(index, 0, 1).tolist() == index.tolist()


def test_ranks_together_see_the_single_process_batches():
    from avlib.data.embedded.avdigits import AVDigits

    n = 40
    data = AVDigits.from_tensors(torch.zeros(n, 1, 2, 2), torch.zeros(n, 1, 2, 2), torch.arange(n) % 10)
    one = [b["label"].tolist() for b in make_loader(data, batch_size=8, shuffle=True, seed=3)]
    ranks = [[b["label"].tolist() for b in make_loader(data, batch_size=8, shuffle=True, seed=3, rank=r,
                                                       world_size=2)] for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == one


def test_a_last_batch_smaller_than_the_world_is_skipped_by_every_rank():
    from avlib.data.embedded.avdigits import AVDigits

    n = 17  # batches of 8, 8, 1: the lone last sample cannot be shared by 2 ranks
    data = AVDigits.from_tensors(torch.zeros(n, 1, 2, 2), torch.zeros(n, 1, 2, 2), torch.arange(n) % 10)
    for r in (0, 1):
        sizes = [len(b["label"]) for b in make_loader(data, batch_size=8, shuffle=True, seed=0, rank=r, world_size=2)]
        assert sizes == [4, 4]


def test_a_batch_that_does_not_split_over_the_ranks_is_refused():
    from avlib.data.embedded.avdigits import AVDigits

    data = AVDigits.from_tensors(torch.zeros(4, 1, 2, 2), torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size=7 does not split over 2"):
        make_loader(data, batch_size=7, shuffle=True, world_size=2, rank=0)


def _torchrun(n: int, out: Path, port: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-port", str(port),
           str(SCRIPT), *ARGS, "--out", str(out / "result.json"), "--dump-ranks", str(out / "ranks")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def _one_process(out: Path) -> dict:
    """The same script in this process, no torchrun: the single-process path (saves a start-up)."""
    spec = importlib.util.spec_from_file_location("torchrun_fit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the torchrun processes (OMP_NUM_THREADS=1)
    try:
        module.main([*ARGS, "--out", str(out / "result.json")])
    finally:
        torch.set_num_threads(threads)
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_match_one_and_agree_across_ranks(tmp_path):
    one = _one_process(tmp_path / "one")
    two = _torchrun(2, tmp_path / "two", 29612)
    assert two["world_size"] == 2 and one["world_size"] == 1
    ranks = [json.loads((tmp_path / "two" / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    # every rank applied the same k (scores all-reduced before rho) and holds the same weights
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["test"] == ranks[1]["test"]
    # 2 ranks vs 1 on the same global batches, within the tolerance of the module docstring
    n_val, n_test = 64, 64
    for h1, h2 in zip(one["history"], two["history"], strict=True):
        for key in ("k_audio", "k_visual", "rho_audio"):
            assert abs(h1[key] - h2[key]) <= 0.01, (key, h1[key], h2[key])
        assert abs(h1["val_acc"] - h2["val_acc"]) <= 2 / n_val
    assert abs(one["test"]["acc"] - two["test"]["acc"]) <= 2 / n_test
    assert one["history"][0]["k_audio"] != 1.0  # OGM-GE did modulate: the comparison is not vacuous


# --- the engine's DDP path: run_specs(..., ddp=N), the knob `ddp` of t1_fusion, t3_imbalance, fig_underopt

def _engine_runs(**engine):
    from avlib.balance import OGMConfig
    from avlib.tasks.classify.engine import run_specs
    from avlib.tasks.classify.fit import TrainConfig
    from avlib.tasks.classify.runs import RunSpec

    spec = importlib.util.spec_from_file_location("torchrun_fit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = module.synthetic(256)
    specs = [RunSpec("concat", "concat"), RunSpec("concat+ogm", "concat", OGMConfig(alpha=0.5, end_epoch=2))]
    train = TrainConfig(epochs=2, batch_size=32, lr=0.1, device="cpu")
    return run_specs(specs, [0], data, train=train, model={"width": 4}, progress=False, **engine)


@pytest.mark.slow
def test_run_specs_under_one_torchrun_process_gives_the_in_process_runs_bit_for_bit():
    here, launched = _engine_runs(workers=1), _engine_runs(ddp=1)
    for a, b in zip(here, launched, strict=True):
        assert (a.label, a.seed) == (b.label, b.seed)
        assert a.history == b.history and a.test == b.test and a.probe == b.probe


@pytest.mark.slow
def test_run_specs_on_two_torchrun_processes_matches_one_within_the_stated_tolerance():
    one, two = _engine_runs(workers=1), _engine_runs(ddp=2)
    for a, b in zip(one, two, strict=True):
        assert a.label == b.label and len(a.history) == len(b.history) == 2
        assert abs(a.test["acc"] - b.test["acc"]) <= 2 / 64
        assert a.history != b.history  # two ranks really ran (gloo: per-rank BatchNorm)
    ogm_one, ogm_two = one[1].history, two[1].history
    assert ogm_one[0]["k_audio"] != 1.0  # OGM-GE modulated
    for h1, h2 in zip(ogm_one, ogm_two, strict=True):
        for key in ("k_audio", "k_visual", "rho_audio"):
            assert abs(h1[key] - h2[key]) <= 0.01, (key, h1[key], h2[key])


@pytest.mark.slow
def test_a_failing_rank_raises_with_its_traceback():
    from avlib.core.pool import run_tasks
    from avlib.core.torchrun import TorchrunError
    from avlib.tasks.classify.engine import _task
    from avlib.tasks.classify.fit import TrainConfig
    from avlib.tasks.classify.runs import RunJob, RunSpec

    job = RunJob(RunSpec("concat", "concat"), 0, TrainConfig(device="cpu"), probe=False)
    with pytest.raises(TorchrunError, match=r"(?s)Traceback.*'NoneType' object is not subscriptable"):
        run_tasks(_task, [job], None, ddp=2, progress=False)  # no data


def test_ddp_that_does_not_divide_the_batch_is_refused_before_training():
    import yaml

    from avlib.core.params import ParamError
    from avlib.stages import t1_fusion

    section = yaml.safe_load((ROOT / "params.yaml").read_text())["t1_fusion"]
    assert t1_fusion.PARAMS.check({**section, "ddp": 4}).ddp == 4
    with pytest.raises(ParamError, match=r"t1_fusion.ddp=3: expected a number of processes that divides batch_size=64"):
        t1_fusion.PARAMS.check({**section, "ddp": 3})


def test_ddp_asks_for_at_least_one_process():
    from avlib.core.torchrun import launch

    with pytest.raises(ValueError, match="ddp=0"):
        launch(print, [0], None, procs=0)
