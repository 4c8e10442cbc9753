"""Pilot of a second lr decay for every MUSIC-AVQA model of the tables (issue #28's convergence): the rows of
avqa_ablation without spatial grounding, full AVST and avqa_baselines' five baselines, each at its own lr and
epochs, under its current StepLR step and under a candidate step at the same epochs (two decays instead of one:
the cost does not change), at pilot seeds no table reports; val only, test never read. Prints, per schedule, each
model's best val accuracy (all questions), best epochs and the convergence stage's plateau gain, then over all
runs: the mean best val, the plateau gain ± its 95% t half-width, and the paired (model, seed) val difference.

    python tools/pilot_avqa_second_decay.py --steps 12:4 16:6 --seeds 100 101

The choice rule is written in params.yaml above avqa_ablation.epochs; this prints the numbers it reads.
"""

import argparse
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.stages import avqa_ablation, avqa_baselines
from avlib.stages.convergence import run_reading
from avlib.stages.shared.qa import FULL_AVST, chosen_lr, job, load_data, row_job, run_longest_first


def table_models(ablation, baselines, lr: float) -> list:
    """(name, job at seed 0) of every model the tables train: the ablation's rows (each row's own schedule),
    then the baselines at their own lrs (full AVST once, at the ablation's lr)."""
    rows = [(row, row_job(ablation, row, 0, lr)) for row in ablation.rows]
    return rows + [(m, job(baselines, m, 0, baselines.lrs[m])) for m in baselines.models if m != FULL_AVST]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", required=True, help="EPOCHS:CANDIDATE_STEP, e.g. 12:4 16:6")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    ablation = avqa_ablation.PARAMS.check(params["avqa_ablation"])
    baselines = avqa_baselines.PARAMS.check(params["avqa_baselines"])
    candidate = {int(e): int(s) for e, s in (x.split(":") for x in args.steps)}
    lr = chosen_lr("reports/avqa_ablation/lr_grid.csv")
    models = table_models(ablation, baselines, lr)
    missing = sorted({j.epochs for _, j in models} - set(candidate))
    if missing:
        parser.error(f"--steps has no candidate step for {missing} epochs")
    schedules = {"current": lambda j: j, "candidate": lambda j: replace(j, step_size=candidate[j.epochs])}
    jobs = [replace(make(j), seed=seed) for make in schedules.values() for _, j in models for seed in args.seeds]
    runs = run_longest_first(jobs, load_data(ablation), workers=args.workers, desc="pilot")
    print(f"ablation lr {lr:g}; baselines' lrs {baselines.lrs}; seeds {args.seeds}; candidate steps {candidate}")
    per_run = {}
    for name, make in schedules.items():
        print(f"\n{name}: model         epochs step  val_all  best_epochs  gain_last20")
        vals, gains, late = [], [], 0
        for model, j in models:
            mine = [r for r in runs if (r.job.model, r.job.step_size) == (model, make(j).step_size)]
            readings = [run_reading(100 * np.array([h["val_all"] for h in r.history])) for r in mine]
            vals += [100 * r.val["all"] for r in mine]
            gains += [x["gain"] for x in readings]
            late += sum(x["late"] for x in readings)
            per_run[name, model] = [100 * r.val["all"] for r in mine]
            best = ",".join(str(x["best_epoch"]) for x in readings)
            print(f"  {model:22s} {j.epochs:6d} {make(j).step_size:4d} {np.mean(vals[-len(mine):]):8.2f}  {best:11s}"
                  f"  {np.mean(gains[-len(mine):]):+11.2f}")
        gain, half = mean_ci(gains)
        print(f"  ALL ({len(gains)} runs): mean best val {np.mean(vals):.2f}; plateau gain {gain:+.2f} ± {half:.2f}"
              f" ({'still rising' if gain - half > 0 else 'plateau'}); {late} late best epochs")
    diff = [c - k for model, _ in models for c, k in zip(per_run["candidate", model], per_run["current", model],
                                                         strict=True)]
    mean, half = mean_ci(diff)
    print(f"\ncandidate minus current, best val 'all' paired per (model, seed): {mean:+.2f} ± {half:.2f} points")


if __name__ == "__main__":
    main()
