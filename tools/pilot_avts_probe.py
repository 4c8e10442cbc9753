"""Pilot of avts_probe's fine-tuning lr: every init (the pretrainings in avts_probe.inits, and scratch) and
modality fine-tuned from the encoders of the given pretraining seeds at probe seed 100 + that seed (the head's
init and the batch order: no reported run draws them), under each candidate lr, at the given length; val only,
test is read by the run but never printed or used. Prints, per lr, each (init, modality)'s mean best val clip
accuracy, best epochs and the convergence stage's plateau gain (mean val over the last 20% of the epochs minus
the 20% before), then the lr's mean over every run with the gain's 95% t half-width.

    python tools/pilot_avts_probe.py --lr 0.0003 --lr 0.001 --lr 0.003 --epochs 60

The choice rule is written in params.yaml above avts_probe.lr; this prints the numbers it reads.
"""

import argparse
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.core.pool import run_tasks
from avlib.stages import avts_probe as stage
from avlib.stages.convergence import run_reading
from avlib.tasks.avts.train import train

PILOT_SEED_OFFSET = 100  # probe seed = pretraining seed + 100: none of avts_probe's runs draws it


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, action="append", required=True, help="a candidate Adam lr")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--encoder-seeds", type=int, nargs="+", default=[0, 1],
                        help="pretraining seeds whose encoders are fine-tuned (default: 0 1)")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    p = stage.PARAMS.check({**yaml.safe_load(open("params.yaml"))["avts_probe"], "modes": ["finetune"]})
    blob = stage.load_encoders(p)
    data = stage.load_data(p, blob)
    missing = sorted(set(args.encoder_seeds) - set(blob["seeds"]))
    if missing:
        parser.error(f"--encoder-seeds: {p.encoders} holds no encoders for seeds {missing} (it has {blob['seeds']})")
    base = [replace(job, seed=job.seed + PILOT_SEED_OFFSET, epochs=args.epochs)
            for job in stage.jobs(p, blob) if job.seed in args.encoder_seeds]
    jobs = [replace(job, lr=lr) for lr in args.lr for job in base]
    runs = run_tasks(train, jobs, data, workers=args.workers, desc="pilot")
    print(f"fine-tuning, {args.epochs} epochs, Adam; encoders of pretraining seeds {args.encoder_seeds}, probe seeds "
          f"+{PILOT_SEED_OFFSET}; val clip accuracy (points)")
    print("lr       init         modality  best_val  best_epochs  gain_last20")
    for lr in args.lr:
        mine = [r for r in runs if r.job.lr == lr]
        gains = []
        for init in [*p.inits, stage.SCRATCH]:
            for modality in p.modalities:
                group = [r for r in mine if (r.job.init, r.job.modality) == (init, modality)]
                readings = [run_reading(100 * np.array([h["val_acc"] for h in r.history])) for r in group]
                gains += [x["gain"] for x in readings]
                best = ",".join(str(x["best_epoch"]) for x in readings)
                print(f"{lr:<8g} {init:12s} {modality:8s}  {100 * np.mean([r.val['acc'] for r in group]):8.1f}  "
                      f"{best:11s}  {np.mean([x['gain'] for x in readings]):+11.2f}")
        gain, half = mean_ci(gains)  # the convergence stage's interval (Student t)
        late = sum(run_reading(np.array([h["val_acc"] for h in r.history]))["late"] for r in mine)
        print(f"{lr:<8g} {'ALL':12s} {'':8s}  {100 * np.mean([r.val['acc'] for r in mine]):8.1f}  "
              f"{late:2d}/{len(mine)} late  {gain:+11.2f} (± {half or float('nan'):.2f})")


if __name__ == "__main__":
    main()
