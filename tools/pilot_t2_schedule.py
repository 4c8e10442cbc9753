"""Pilot of a Table 2 stage's training schedule (t2_video or t2_speech): every model of its table trained plain
at the premise seeds (which no table reports) under each candidate schedule; val only, test never read.
Prints, per schedule, each model's best val accuracy, best epoch and the convergence stage's plateau gain (mean
val over the last 20% of the epochs minus the 20% before), and the cost of one run per model (single-threaded
CPU seconds per epoch).

    python tools/pilot_t2_schedule.py --stage t2_speech --schedule 12:0.5 --schedule 15:0.5 --schedule 15:0.7
    python tools/pilot_t2_schedule.py --stage t2_video --schedule 25:0.6 --seeds 200 201 202 203

Also each model's seed-to-seed spread. The choice rule is written in params.yaml above the stage's epochs;
this prints the numbers it reads.
"""

import argparse
import importlib
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.core.pool import run_tasks
from avlib.stages.convergence import run_reading
from avlib.stages.shared import plugin
from avlib.tasks.classify.clips import ClipJob, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["t2_video", "t2_speech"], default="t2_video")
    parser.add_argument("--schedule", action="append", required=True,
                        help="EPOCHS:DECAY_AT[:LR], e.g. 15:0.5 or 15:0.5:0.02 (LR: the stage's lr by default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="pilot seeds (default: premise_avclips.seeds; never a reported seed)")
    parser.add_argument("--kinds", nargs="+", default=None, help="models to train (default: the stage's rows)")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    stage = importlib.import_module(f"avlib.stages.{args.stage}")
    p = stage.PARAMS.check(params[args.stage])
    data = stage.load_data(p)
    kinds = args.kinds or p.rows
    seeds = args.seeds or params["premise_avclips"]["seeds"]
    if set(seeds) & set(p.seeds):
        parser.error(f"--seeds {seeds}: {sorted(set(seeds) & set(p.seeds))} are reported seeds ({args.stage}.seeds)")
    schedules = [(int(v[0]), float(v[1]), float(v[2]) if len(v) > 2 else p.lr)
                 for v in (s.split(":") for s in args.schedule)]
    jobs = [ClipJob(kind, None, seed, replace(plugin.train_config(p), epochs=e, lr_decay_at=d, lr=lr),
                    plugin.model_options(p, side=stage.SIDE))
            for e, d, lr in schedules for kind in kinds for seed in seeds]
    runs = run_tasks(train, jobs, data, workers=args.workers, desc="pilot")
    print(f"seeds {seeds}; StepLR: x{p.lr_gamma:g} every round(decay * epochs) epochs")
    print("epochs decay lr    model        val_acc  best_epochs  gain_last20  cpu_s/epoch")
    for e, d, lr in schedules:
        mine = [r for r in runs if (r.job.config.epochs, r.job.config.lr_decay_at, r.job.config.lr) == (e, d, lr)]
        means, gains = [], []
        for kind in kinds:
            group = [r for r in mine if r.kind == kind]
            readings = [run_reading(100 * np.array([h["val_acc"] for h in r.history])) for r in group]
            val = 100 * np.mean([r.val["acc"] for r in group])
            spread = 100 * np.ptp([r.val["acc"] for r in group])
            means.append(val)
            best = ",".join(str(x["best_epoch"]) for x in readings)
            gains += [x["gain"] for x in readings]
            gain = np.mean([x["gain"] for x in readings])
            cost = np.mean([r.cpu_s for r in group]) / e
            print(f"{e:6d} {d:5.2f} {lr:5.3f} {kind:12s} {val:7.1f} (spread {spread:4.1f})  {best:11s}  {gain:+11.2f}  "
                  f"{cost:11.2f}")
        gain, half = mean_ci(gains)  # the convergence stage's interval (Student t)
        print(f"{e:6d} {d:5.2f} {lr:5.3f} {'ALL':12s} {np.mean(means):7.1f}  {'':11s}  {gain:+11.2f} (± {half:.2f})")


if __name__ == "__main__":
    main()
