"""Pilot of avts_pretrain's lr decay: every schedule (AVTS, AVTS without curriculum, L3-style) trained at the
pilot seed (which no table reports) under each candidate decay point, at avts_pretrain's lr and epochs; val only,
test is read by the run but never printed or used. Prints, per candidate, each schedule's best val AUC (mean of
the three negative kinds), best epoch and the convergence stage's plateau gain (mean val over the last 20% of
the epochs minus the 20% before).

    python tools/pilot_avts_schedule.py --decay-at 0.6 --decay-at 0.7
    python tools/pilot_avts_schedule.py --decay-at 0.6 --second-decay-at 1.0 --second-decay-at 0.8

The choice rule is written in params.yaml above avts_pretrain.lr_decay_at; this prints the numbers it reads.
"""

import argparse
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.stages import avts_pretrain as stage
from avlib.stages.convergence import run_reading
from avlib.tasks.avts.train import SELECT, pretrain_all


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decay-at", type=float, action="append", required=True, help="lr_decay_at, e.g. 0.6")
    parser.add_argument("--second-decay-at", type=float, action="append", default=None,
                        help="lr_second_decay_at, e.g. 0.8 (1.0: none; default: params.yaml's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100], help="pilot seeds (default: 100)")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    p = stage.PARAMS.check({**yaml.safe_load(open("params.yaml"))["avts_pretrain"], "seeds": [0, 1]})
    data = stage.load_data(p)
    base = [replace(job, seed=seed) for job in stage.jobs(p) if job.seed == p.seeds[0] for seed in args.seeds]
    seconds = args.second_decay_at or [p.lr_second_decay_at]
    candidates = [(at, second) for at in args.decay_at for second in seconds]
    jobs = [replace(job, lr_decay_at=at, lr_second_decay_at=second) for at, second in candidates for job in base]
    runs = pretrain_all(jobs, data, workers=args.workers, desc="pilot")
    print(f"lr {p.lr:g}, {p.epochs} epochs, x{p.lr_gamma:g} from round(decay_at * epochs) and again from "
          f"round(second * epochs) (1.0: none); seeds {args.seeds}")
    print("decay_at second schedule      best_val_auc  best_epochs  gain_last20")
    for at, second in candidates:
        mine = [r for r in runs if (r.job.lr_decay_at, r.job.lr_second_decay_at) == (at, second)]
        means, gains = [], []
        for schedule in p.schedules:
            group = [r for r in mine if r.job.schedule == schedule]
            readings = [run_reading(100 * np.array([h[SELECT] for h in r.history])) for r in group]
            means.append(100 * np.mean([r.val["auc_mean"] for r in group]))
            gains += [x["gain"] for x in readings]
            best = ",".join(str(x["best_epoch"]) for x in readings)
            gain = np.mean([x["gain"] for x in readings])
            print(f"{at:8.2f} {second:6.2f} {schedule:12s} {means[-1]:12.2f}  {best:11s}  {gain:+11.2f}")
        gain, half = mean_ci(gains)  # the convergence stage's interval (Student t)
        print(f"{at:8.2f} {second:6.2f} {'ALL':12s} {np.mean(means):12.2f}  {'':11s}  {gain:+11.2f} "
              f"(± {half or float('nan'):.2f})")


if __name__ == "__main__":
    main()
