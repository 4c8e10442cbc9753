"""Pilot of avqa_ablation's training schedule: every ablation row trained at the selection seed (which no table
reports) under each candidate schedule, at the lr avqa_ablation chose on val; val only, test never read. Prints,
per schedule, each row's best val accuracy (all questions), best epoch and the convergence stage's plateau gain
(mean val over the last 20% of the epochs minus the 20% before).

    python tools/pilot_avqa_schedule.py --schedule 12:8 --schedule 12:6

The choice rule is written in params.yaml above avqa_ablation.epochs; this prints the numbers it reads.
"""

import argparse
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.stages import avqa_ablation as stage
from avlib.stages.convergence import run_reading
from avlib.stages.shared.qa import RUN_CPU_S, chosen_lr, job, load_data, run_longest_first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", action="append", required=True, help="EPOCHS:STEP_SIZE, e.g. 12:6")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: avqa_ablation.selection_seed")
    parser.add_argument("--rows", nargs="+", default=None, help="default: avqa_ablation.rows")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    p = stage.PARAMS.check(yaml.safe_load(open("params.yaml"))["avqa_ablation"])
    lr = chosen_lr("reports/avqa_ablation/lr_grid.csv")
    data = load_data(p)
    seeds = args.seeds or [p.selection_seed]
    p.rows = args.rows or p.rows
    schedules = [tuple(int(v) for v in s.split(":")) for s in args.schedule]
    jobs = [replace(job(p, row, seed, lr), epochs=e, step_size=step)
            for e, step in schedules for row in p.rows for seed in seeds]
    runs = run_longest_first(jobs, data, workers=args.workers, desc="pilot")
    print(f"lr {lr:g}; seeds {seeds}")
    print("epochs step row           val_all  best_epochs  gain_last20")
    for e, step in schedules:
        mine = [r for r in runs if (r.job.epochs, r.job.step_size) == (e, step)]
        means, gains = [], []
        for row in p.rows:
            group = [r for r in mine if r.job.model == row]
            readings = [run_reading(100 * np.array([h["val_all"] for h in r.history])) for r in group]
            means.append(100 * np.mean([r.val["all"] for r in group]))
            gains += [x["gain"] for x in readings]
            best = ",".join(str(x["best_epoch"]) for x in readings)
            gain = np.mean([x["gain"] for x in readings])
            print(f"{e:6d} {step:4d} {row:12s} {means[-1]:8.1f}  {best:11s}  {gain:+11.2f}")
        gain, half = mean_ci(gains)  # the convergence stage's interval (Student t)
        cost = sum(RUN_CPU_S.get(r, 0) for r in p.rows) * e / 12
        print(f"{e:6d} {step:4d} {'ALL':12s} {np.mean(means):8.1f}  {'':11s}  {gain:+11.2f} "
              f"(± {half or float('nan'):.2f})  [{cost:.0f} CPU-s per seed]")


if __name__ == "__main__":
    main()
