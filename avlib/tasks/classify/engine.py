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

import re
from dataclasses import replace

from avlib.core.pool import EngineError, run_tasks
from avlib.core.runtime import pick_device
from avlib.tasks.classify import runs
from avlib.tasks.classify.batched import run_batched
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

ENGINES = ("auto", "workers", "batched")


def run_specs(specs: list, seeds: list, data: dict, *, train: TrainConfig, model: dict | None = None,
              probe: bool = True, progress: bool = True, workers: int = 0, engine: str = "auto",
              ddp: int = 0, lr_unimodal: float | None = None) -> list[RunResult]:
    """Every spec at every seed; results in spec-major order (spec 0 at each seed, then spec 1, ...).
    `ddp=N` (N >= 1): each run trains on N torchrun processes instead (`avlib.core.torchrun`; one per GPU).
    `lr_unimodal`: the uni-modal specs' (kind `*_only`) learning rate, where it was chosen on val apart from
    the fused models' `train.lr` (stage premise_avdigits); None: `train.lr` for every spec."""
    if engine not in ENGINES:
        raise EngineError(f"engine={engine!r}; expected one of {ENGINES}")
    run_specs_checks(specs, seeds)
    device = pick_device(train.device)
    if engine == "auto":
        engine = "batched" if device.type == "cuda" else "workers"
    jobs = make_jobs(specs, seeds, train=train, model=model, probe=probe, lr_unimodal=lr_unimodal)
    if ddp:
        return run_tasks(_task, jobs, data, ddp=ddp, ddp_device=train.device, progress=progress)
    if engine == "batched":
        return run_batched([jobs[i : i + len(seeds)] for i in range(0, len(jobs), len(seeds))], data, progress)
    if device.type != "cpu":
        raise EngineError(f"engine='workers' runs on the CPU; device={train.device!r} asks for {device}. "
                          "Use engine='batched' (the default on CUDA)")
    return run_tasks(_task, jobs, data, workers=workers, progress=progress)


def run_specs_checks(specs: list, seeds: list) -> None:
    if not specs or not seeds:
        raise EngineError(f"run_specs needs at least one spec and one seed (got {len(specs)} and {len(seeds)})")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise EngineError(f"run_specs takes RunSpec items, got {spec!r}")


def make_jobs(specs: list, seeds: list, *, train: TrainConfig, model: dict | None, probe: bool,
              lr_unimodal: float | None) -> list[RunJob]:
    """One RunJob per (spec, seed), spec-major; uni-modal specs at `lr_unimodal` where given."""
    uni = replace(train, lr=lr_unimodal) if lr_unimodal is not None else train
    return [RunJob(spec, seed, uni if spec.kind.endswith("_only") else train, model, probe)
            for spec in specs for seed in seeds]


def run_groups(groups: list, data: dict, *, train: TrainConfig, model: dict | None = None, progress: bool = True,
               workers: int = 0, engine: str = "auto", ddp: int = 0,
               lr_unimodal: float | None = None) -> list[list[RunResult]]:
    """Several `run_specs` calls that do not depend on each other, as one: `groups` is a list of
    (specs, seeds, probe); returns each group's results (spec-major, as `run_specs`). On the CPU workers
    path every job of every group shares one pool, so no core idles while one group's last runs finish
    (on 2 cores a stage of a few short groups lost ~30% of its CPU to such tails, measured on t1_fusion);
    the other paths run the groups one after another."""
    if engine not in ENGINES:
        raise EngineError(f"engine={engine!r}; expected one of {ENGINES}")
    device = pick_device(train.device)
    if ddp or engine == "batched" or (engine == "auto" and device.type == "cuda"):
        return [run_specs(specs, seeds, data, train=train, model=model, probe=probe, progress=progress,
                          workers=workers, engine=engine, ddp=ddp, lr_unimodal=lr_unimodal)
                for specs, seeds, probe in groups]
    jobs = [make_jobs(specs, seeds, train=train, model=model, probe=probe, lr_unimodal=lr_unimodal)
            for specs, seeds, probe in groups]
    for specs, seeds, _ in groups:
        run_specs_checks(specs, seeds)
    results = run_tasks(_task, [j for group in jobs for j in group], data, workers=workers, progress=progress)
    out, start = [], 0
    for group in jobs:
        out.append(results[start : start + len(group)])
        start += len(group)
    return out


def _task(job: RunJob, data, *, device=None) -> RunResult:
    """What the pool runs (`runs.train`, read when called); `device`: a torchrun rank's own device."""
    return runs.train(job, data, device=device)


def choose_on_val(specs: list, seeds, data: dict, *, train: TrainConfig, model: dict | None = None,
                  workers: int = 0, progress: bool = True, ddp: int = 0):
    """Train each spec at every selection seed in `seeds` (outside the reported ones; an int: one seed) and
    pick the best val accuracy averaged over them (ties: the first). Returns (DataFrame of the grid, the
    chosen spec): `selection_grid`'s columns and `chosen`. Test is never looked at."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    results = run_specs(specs, seeds, data, train=train, model=model, probe=False, progress=progress,
                        workers=workers, ddp=ddp)
    grid = choose_from(results)
    return grid, specs[int(grid["chosen"].to_numpy().argmax())]


def choose_from(results: list):
    """`selection_grid` of selection runs already trained, with `chosen`: the best mean val accuracy (ties: the
    first). Test is never looked at."""
    grid = selection_grid(results)
    best = int(grid["val_acc"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(grid))]
    return grid


def selection_grid(results: list):
    """One row per label (first-seen order) of selection runs: `setting` (the label), each seed's val
    accuracy (`val_acc_s<seed>`), their mean `val_acc` (what chooses), the seed-to-seed `val_acc_spread`
    (max - min over the seeds: 0 with one seed) and the mean uni-modal val accuracies. Val only."""
    import pandas as pd

    rows = {}
    for r in results:
        row = rows.setdefault(r.label, {"setting": r.label, "_acc": [], "_audio": [], "_visual": []})
        row[f"val_acc_s{r.seed}"] = r.val["acc"]
        row["_acc"].append(r.val["acc"])
        row["_audio"].append(r.val.get("audio_acc"))
        row["_visual"].append(r.val.get("visual_acc"))
    out = []
    for row in rows.values():
        acc = row.pop("_acc")
        audio, visual = row.pop("_audio"), row.pop("_visual")
        out.append(row | {"val_acc": sum(acc) / len(acc), "val_acc_spread": max(acc) - min(acc),
                          "val_audio_acc": _mean_or_none(audio), "val_visual_acc": _mean_or_none(visual)})
    return pd.DataFrame(out)


def _mean_or_none(values):
    return None if None in values else sum(values) / len(values)


def selection_margin(grid) -> dict | None:
    """How far the chosen row of one choice (a grid with a `chosen` column, `val_acc` and `val_acc_spread`)
    is ahead of the runner-up (the best of the other rows): {chosen, runner_up, margin, chosen_spread,
    runner_up_spread, within_noise, seeds}, in val-accuracy fractions; None with a single row. The rule:
    `within_noise` when the margin is smaller than the larger of the two rows' seed-to-seed spreads (max -
    min over the selection seeds), i.e. a reseed of either could undo the order. One seed: no spread,
    never within noise by this rule (nothing measured it)."""
    if len(grid) < 2:
        return None
    chosen = grid[grid["chosen"].astype(bool)].iloc[0]
    others = grid[~grid["chosen"].astype(bool)]
    runner = others.loc[others["val_acc"].idxmax()]
    margin = float(chosen["val_acc"] - runner["val_acc"])
    spread = max(float(chosen["val_acc_spread"]), float(runner["val_acc_spread"]))
    return {"chosen": chosen["setting"], "runner_up": runner["setting"], "margin": margin,
            "chosen_spread": float(chosen["val_acc_spread"]), "runner_up_spread": float(runner["val_acc_spread"]),
            "within_noise": margin < spread, "seeds": sum(bool(re.fullmatch(r"val_acc_s\d+", c)) for c in grid.columns)}


def margin_sentence(m: dict | None, what: str = "") -> str:
    """A findings line on a `selection_margin`."""
    if m is None:
        return f"{what}only one setting was tried: no runner-up."
    lead = f"{what}{m['chosen']} leads the runner-up {m['runner_up']} by {100 * m['margin']:.2f} val points"
    if m["seeds"] < 2:
        return (f"{lead} at one selection seed — no seed-to-seed spread was measured, so whether the lead exceeds "
                "seed noise is unknown.")
    noise = ("within noise: smaller than the seed-to-seed spread" if m["within_noise"]
             else "larger than the seed-to-seed spread")
    return (f"{lead} (mean over the selection seeds) — {noise} (chosen "
            f"{100 * m['chosen_spread']:.2f}, runner-up {100 * m['runner_up_spread']:.2f} points, max − min over the "
            "seeds).")


SELECTION_RULE = ("Within noise: the chosen setting's lead over the runner-up (mean val accuracy over the selection "
                  "seeds) is smaller than the larger of the two settings' seed-to-seed spreads (max − min over the "
                  "selection seeds): another selection seed could reverse the choice.")
