"""Pilot of avasr_fusion's tower lr decay: the uni-modal towers alone (audio and visual DNNs, the base of every
fused network) trained at pilot seeds (which no table reports) at every SNR level under each candidate decay point,
at avasr_fusion's lr and epochs; val only, test never printed or used. Prints, per candidate and tower, the mean
best val frame accuracy, the best epochs and the convergence stage's plateau gain (mean val over the last 20% of
the epochs minus the 20% before).

    python tools/pilot_avasr_schedule.py --decay-at 0.5 --decay-at 0.6
    python tools/pilot_avasr_schedule.py --fused --decay-at 0.5 --decay-at 0.6   # every model, main SNR only
    python tools/pilot_avasr_schedule.py --frozen-epochs 5 10 20   # the frozen-tower softmax's epochs

With --fused every model trains (the fused networks start from the towers) at main_snr_db only, and the fused
networks' mean best val frame accuracy is printed per candidate, with the paired difference of the candidates
(per seed and network). The choice rules are written in params.yaml above avasr_fusion.lr_decay_at; this prints
the numbers they read.

With --frozen-epochs the towers (at the params' decay) and the frozen-tower softmax train at every SNR level, once
per candidate count of the softmax's epochs; per candidate it prints the softmax's mean best val frame accuracy,
best epochs and plateau gain.
"""

import argparse
from dataclasses import replace

import numpy as np
import yaml

from avlib.core.metrics import mean_ci
from avlib.core.pool import run_tasks
from avlib.stages import avasr_fusion as stage
from avlib.stages.convergence import run_reading
from avlib.tasks.asr.train import AVASRJob, train

TOWERS = ("audio", "visual")
FUSED_NETS = ("frozen", "concat", "bilinear", "factored", "shared")  # every fused network that trains


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decay-at", type=float, action="append", help="lr_decay_at, e.g. 0.5")
    parser.add_argument("--frozen-epochs", type=int, nargs="+", help="frozen_epochs candidates, e.g. 5 10 20")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101], help="pilot seeds (default: 100 101)")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--fused", action="store_true", help="every model, main SNR only: the fused nets' val")
    args = parser.parse_args()
    p = stage.PARAMS.check(yaml.safe_load(open("params.yaml"))["avasr_fusion"])
    if set(args.seeds) & set(p.seeds):
        parser.error(f"--seeds {args.seeds}: {sorted(set(args.seeds) & set(p.seeds))} are reported seeds")
    if not args.decay_at and not args.frozen_epochs:
        parser.error("give --decay-at (the towers' decay) or --frozen-epochs (the frozen softmax's epochs)")
    data = stage.load_levels(p)
    if args.frozen_epochs:
        return frozen_pilot(p, args, data)
    if args.fused:
        return fused_pilot(p, args, data)
    jobs = [AVASRJob(seed=seed, snr_db=snr, config=replace(stage.config(p), lr_decay_at=at), models=TOWERS)
            for at in args.decay_at for snr in p.snr_levels for seed in args.seeds]
    runs = run_tasks(train, jobs, data, workers=args.workers, desc="pilot")
    print(f"lr {p.lr:g}, {p.epochs} epochs, x{p.lr_gamma:g} from round(decay_at * epochs); seeds {args.seeds}; "
          f"SNR levels {p.snr_levels}")
    print("decay_at tower   best_val_frame_acc  best_epochs          gain_last20")
    for at in args.decay_at:
        mine = [r for r in runs if r.job.config.lr_decay_at == at]
        means, gains = [], []
        for tower in TOWERS:
            curves = [100 * np.array([h["val_frame_acc"] for h in r.history if h["model"] == tower]) for r in mine]
            readings = [run_reading(c) for c in curves]
            means.append(np.mean([c.max() for c in curves]))
            gains += [x["gain"] for x in readings]
            best = ",".join(str(x["best_epoch"]) for x in readings)
            gain = np.mean([x["gain"] for x in readings])
            print(f"{at:8.2f} {tower:7s} {means[-1]:18.2f}  {best:19s}  {gain:+11.2f}")
        gain, half = mean_ci(gains)  # the convergence stage's interval (Student t)
        print(f"{at:8.2f} {'ALL':7s} {np.mean(means):18.2f}  {'':19s}  {gain:+11.2f} (± {half:.2f})")



def frozen_pilot(p, args, data):
    """The towers and the frozen-tower softmax at every SNR level, per candidate count of the softmax's epochs:
    the softmax's mean best val frame accuracy, best epochs and plateau gain (± 95% t over the runs)."""
    jobs = [AVASRJob(seed=seed, snr_db=snr, config=replace(stage.config(p), frozen_epochs=n),
                     models=(*TOWERS, "frozen"))
            for n in args.frozen_epochs for snr in p.snr_levels for seed in args.seeds]
    runs = run_tasks(train, jobs, data, workers=args.workers, desc="pilot (frozen softmax)")
    print(f"joint_lr {p.joint_lr:g}; towers {p.epochs} epochs, decay at {p.lr_decay_at:g}; seeds {args.seeds}; "
          f"SNR levels {p.snr_levels}")
    print("epochs  best_val_frame_acc  best_epochs          gain_last20")
    for n in args.frozen_epochs:
        curves = [100 * np.array([h["val_frame_acc"] for h in r.history if h["model"] == "frozen"])
                  for r in runs if r.job.config.frozen_epochs == n]
        readings = [run_reading(c) for c in curves]
        gain, half = mean_ci([x["gain"] for x in readings])  # the convergence stage's interval (Student t)
        best = ",".join(str(x["best_epoch"]) for x in readings)
        print(f"{n:6d}  {np.mean([c.max() for c in curves]):18.2f}  {best:19s}  {gain:+11.2f} (± {half:.2f})")


def fused_pilot(p, args, data):
    """Every model at main_snr_db; per candidate the fused networks' best val frame accuracy (mean over seeds and
    networks), and the paired difference of each candidate with the first (per seed and network, 95% t)."""
    jobs = [AVASRJob(seed=seed, snr_db=p.main_snr_db, config=replace(stage.config(p), lr_decay_at=at))
            for at in args.decay_at for seed in args.seeds]
    runs = run_tasks(train, jobs, data, workers=args.workers, desc="pilot (every model)")
    print(f"lr {p.lr:g}, {p.epochs} tower epochs, {p.joint_epochs} joint epochs; seeds {args.seeds}; "
          f"SNR {p.main_snr_db:g} dB; fused networks {FUSED_NETS}")
    best = {}
    for at in args.decay_at:
        for r in (r for r in runs if r.job.config.lr_decay_at == at):
            for net in FUSED_NETS:
                curve = [h["val_frame_acc"] for h in r.history if h["model"] == net]
                best[(at, r.job.seed, net)] = 100 * max(curve)
    print("decay_at " + " ".join(f"{n:>9s}" for n in FUSED_NETS) + "      mean")
    for at in args.decay_at:
        per_net = [np.mean([best[(at, s, n)] for s in args.seeds]) for n in FUSED_NETS]
        print(f"{at:8.2f} " + " ".join(f"{v:9.2f}" for v in per_net) + f" {np.mean(per_net):9.2f}")
    first = args.decay_at[0]
    for at in args.decay_at[1:]:
        diffs = [best[(at, s, n)] - best[(first, s, n)] for s in args.seeds for n in FUSED_NETS]
        mean, half = mean_ci(diffs)
        print(f"{at:g} minus {first:g}: {mean:+.2f} +- {half:.2f} (95% t over {len(diffs)} seed-network pairs)")


if __name__ == "__main__":
    main()
