"""The classification engine: every (spec, seed) run of a table, as fast as the device allows, same bits
every time.

`run_specs(specs, seeds, data, ...)` is what notebooks call: one `RunJob` per (spec, seed), spec-major, and
one `RunResult` for each (`avlib.tasks.classify.runs.train`), whatever path ran them:

  workers  (CPU default) independent runs in worker processes, one single-threaded worker per core
           (`avlib.core.pool.run_tasks`; `workers=0`: as many as this process may use). Every run is
           single-threaded and seeds itself, so results are bit-identical whatever the number of
           workers; `workers=1` runs them here, one after another.
  batched  (CUDA default) the seeds of one spec train together under `vmap` (`batched.py`).
  ddp      (`ddp=N`, a stage's `ddp` knob) each run on N torchrun processes, DistributedDataParallel:
           for models too big or too slow for one GPU (`avlib.core.torchrun`); one launch for all the runs.

Resume: every run of the worker and ddp paths is checkpointed by `run_tasks` (`avlib.core.checkpoints`);
the batched (GPU) path does not checkpoint.

Why these two: on 2 CPU cores the step is compute-bound and one thread per run is the most efficient
use of the cores (2 one-thread workers ~1.9x one two-thread process, `make bench`); on a GPU the
AV-Digits step is launch-bound (the model is tiny), so stacking runs raises the work per launch.
"""

from avlib.core.pool import EngineError, run_tasks
from avlib.core.runtime import pick_device
from avlib.tasks.classify import runs
from avlib.tasks.classify.batched import run_batched
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

ENGINES = ("auto", "workers", "batched")


def run_specs(specs: list, seeds: list, data: dict, *, train: TrainConfig, model: dict | None = None,
              probe: bool = True, progress: bool = True, workers: int = 0, engine: str = "auto",
              ddp: int = 0) -> list[RunResult]:
    """Every spec at every seed; results in spec-major order (spec 0 at each seed, then spec 1, ...).
    `ddp=N` (N >= 1): each run trains on N torchrun processes instead (`avlib.core.torchrun`; one per GPU)."""
    if engine not in ENGINES:
        raise EngineError(f"engine={engine!r}; expected one of {ENGINES}")
    if not specs or not seeds:
        raise EngineError(f"run_specs needs at least one spec and one seed (got {len(specs)} and {len(seeds)})")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise EngineError(f"run_specs takes RunSpec items, got {spec!r}")
    device = pick_device(train.device)
    if engine == "auto":
        engine = "batched" if device.type == "cuda" else "workers"
    jobs = [RunJob(spec, seed, train, model, probe) for spec in specs for seed in seeds]
    if ddp:
        return run_tasks(_task, jobs, data, ddp=ddp, ddp_device=train.device, progress=progress)
    if engine == "batched":
        return run_batched([jobs[i : i + len(seeds)] for i in range(0, len(jobs), len(seeds))], data, progress)
    if device.type != "cpu":
        raise EngineError(f"engine='workers' runs on the CPU; device={train.device!r} asks for {device}. "
                          "Use engine='batched' (the default on CUDA)")
    return run_tasks(_task, jobs, data, workers=workers, progress=progress)


def _task(job: RunJob, data, *, device=None) -> RunResult:
    """What the pool runs (`runs.train`, read when called); `device`: a torchrun rank's own device."""
    return runs.train(job, data, device=device)


def choose_on_val(specs: list, seed: int, data: dict, *, train: TrainConfig, model: dict | None = None,
                  workers: int = 0, progress: bool = True, ddp: int = 0):
    """Train each spec once at `seed` (a selection seed, outside the reported ones) and pick the best val
    accuracy (ties: the first). Returns (DataFrame of the grid, the chosen spec). Test is never looked at."""
    import pandas as pd

    results = run_specs(specs, [seed], data, train=train, model=model, probe=False, progress=progress,
                        workers=workers, ddp=ddp)
    grid = pd.DataFrame([{"setting": r.label, "val_acc": r.val["acc"], "val_audio_acc": r.val.get("audio_acc"),
                          "val_visual_acc": r.val.get("visual_acc")} for r in results])
    best = int(grid["val_acc"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(results))]
    return grid, specs[best]
