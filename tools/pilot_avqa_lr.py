"""Pilot of avqa_baselines' per-model lr: every baseline trained at avqa_ablation's selection seed (which no table
reports) at each lr of avqa_ablation's grid, with avqa_baselines' schedule; val only, test never read. Prints, per
model and lr, the best val accuracy (all questions), its epoch and the convergence stage's plateau gain (mean val
over the last 20% of the epochs minus the 20% before), and each model's choice by the rule.

    python tools/pilot_avqa_lr.py

The choice rule is written in params.yaml above avqa_baselines.lrs; this prints the numbers it reads.
"""

import argparse

import numpy as np
import yaml

from avlib.stages import avqa_ablation, avqa_baselines
from avlib.stages.convergence import run_reading
from avlib.stages.shared.avst_runs import FULL as AVST
from avlib.stages.shared.qa import job, load_data, run_longest_first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    grid = avqa_ablation.PARAMS.check(params["avqa_ablation"])
    p = avqa_baselines.PARAMS.check(params["avqa_baselines"])
    data = load_data(p)
    models = [m for m in p.models if m != AVST]
    jobs = [job(p, model, grid.selection_seed, lr) for model in models for lr in grid.lr_grid]
    runs = run_longest_first(jobs, data, workers=args.workers, desc="pilot")
    print(f"seed {grid.selection_seed}; lr grid {grid.lr_grid}; {p.epochs} epochs, StepLR({p.step_size}, {p.gamma})")
    print("model          lr      val_all  best_epoch  gain_last20")
    for model in models:
        mine = [r for r in runs if r.job.model == model]
        for r in mine:
            reading = run_reading(100 * np.array([h["val_all"] for h in r.history]))
            print(f"{model:14s} {r.job.lr:<7g} {100 * r.val['all']:7.2f}  {reading['best_epoch']:10d}  "
                  f"{reading['gain']:+11.2f}")
        best = max(mine, key=lambda r: (r.val["all"], -r.job.lr))  # ties: the smaller lr
        print(f"{model:14s} chosen: {best.job.lr:g}")


if __name__ == "__main__":
    main()
