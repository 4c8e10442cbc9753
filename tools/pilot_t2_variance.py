"""Where Table 2's seed-to-seed spread comes from: each video model trained plain under a full factorial of
init seeds (the weights drawn before training) x order seeds (the shuffle of the training clips), at pilot
seeds no table reports; val only, test never read.

    python tools/pilot_t2_variance.py --kinds tsm_av tbn_lite psp_lite tsn_av --seeds 200 201 202
    python tools/pilot_t2_variance.py --kinds tsm_av tbn_lite psp_lite --orders 200 --epochs 25 --decay-at 0.6

The second form asks whether a longer phase at the high lr narrows the init spread: one order seed, the init
seeds only, under another schedule (its SD over the inits beside the val accuracy).

A reported run uses one seed for both (avlib.tasks.classify.clips.train); here they are drawn apart, so the
spread splits into a two-way analysis of variance: the init's share, the order's share and what is left
(their interaction, which a 3 x 3 design cannot tell from noise). Beside it, the part of the spread that the
finite val set alone puts there: two runs that each get a different ~1/3 of the same 300 clips wrong differ by
chance even at equal skill; from the pairs' disagreement rate d and accuracy difference a, the expected
sampling variance of one run's accuracy is ~ (d - a^2) / (2 n) (n val clips). Prints one block per model.
"""

import argparse
import itertools
from dataclasses import replace

import numpy as np
import torch
import yaml

from avlib.core.pool import run_tasks
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.stages import t2_video as stage
from avlib.stages.shared import plugin
from avlib.tasks.classify.clips import build_model
from avlib.tasks.classify.fit import fit, predict


def train_split_seeds(job: tuple, data: dict) -> dict:
    """job (kind, init_seed, order_seed, TrainConfig, model options): the weights drawn from init_seed, the
    shuffle from order_seed; returns the val accuracy and per-clip correctness at the val-selected epoch."""
    kind, init_seed, order_seed, config, options = job
    try:
        net = build_model(kind, data, init_seed, options)
        fitted = fit(net, data, replace(config, seed=order_seed), progress=False)
        val = predict(net, make_loader(data["val"], batch_size=EVAL_BATCH_SIZE, shuffle=False), torch.device("cpu"))
    finally:
        torch.use_deterministic_algorithms(False)
    right = (val["logits"].argmax(1) == val["labels"]).numpy()
    return {"kind": kind, "init": init_seed, "order": order_seed, "val_acc": fitted.val["acc"],
            "best_epoch": fitted.best_epoch, "right": right, "cpu_s": fitted.cpu_s}


def two_way(acc: np.ndarray) -> dict:
    """Variance components (points^2) of a full init x order table `acc` [inits, orders] with one run per cell:
    the init and order main effects from the expected mean squares (negative estimates set to 0), and the
    residual mean square (interaction + noise). Also the total variance of the cells (ddof 1)."""
    r, c = acc.shape
    grand = acc.mean()
    ms_init = c * ((acc.mean(1) - grand) ** 2).sum() / (r - 1)
    ms_order = r * ((acc.mean(0) - grand) ** 2).sum() / (c - 1)
    resid = acc - acc.mean(1, keepdims=True) - acc.mean(0, keepdims=True) + grand
    ms_resid = (resid ** 2).sum() / ((r - 1) * (c - 1))
    return {"init": max(0.0, (ms_init - ms_resid) / c), "order": max(0.0, (ms_order - ms_resid) / r),
            "residual": ms_resid, "total": acc.var(ddof=1)}


def sampling_variance(rights: list) -> float:
    """Expected variance (points^2) of one run's accuracy from the val clips' sampling alone, from every pair's
    disagreement rate d and accuracy difference a: mean over pairs of (d - a^2) / (2 n)."""
    n = len(rights[0])
    terms = [(np.mean(x != y) - (x.mean() - y.mean()) ** 2) / (2 * n) for x, y in itertools.combinations(rights, 2)]
    return 1e4 * float(np.mean(terms))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["tsm_av", "tbn_lite", "psp_lite", "tsn_av"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[200, 201, 202],
                        help="drawn for the init and for the order alike (never a reported seed)")
    parser.add_argument("--orders", type=int, nargs="+", default=None,
                        help="order seeds (default: --seeds, the full factorial)")
    parser.add_argument("--epochs", type=int, default=None, help="default: t2_video.epochs")
    parser.add_argument("--decay-at", type=float, default=None, help="default: t2_video.lr_decay_at")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    p = stage.PARAMS.check(yaml.safe_load(open("params.yaml"))["t2_video"])
    orders = args.orders or args.seeds
    if set(args.seeds + orders) & set(p.seeds):
        parser.error(f"--seeds/--orders: {sorted(set(args.seeds + orders) & set(p.seeds))} are reported seeds")
    data = stage.load_data(p)
    config = replace(plugin.train_config(p), epochs=args.epochs or p.epochs,
                     lr_decay_at=args.decay_at or p.lr_decay_at)
    options = plugin.model_options(p, side=stage.SIDE)
    jobs = [(kind, i, o, config, options) for kind in args.kinds for i in args.seeds for o in orders]
    runs = run_tasks(train_split_seeds, jobs, data, workers=args.workers, desc="init x order")
    k = len(args.seeds)
    print(f"{config.epochs} epochs, lr {config.lr:g} x{config.lr_gamma:g} from epoch {config.lr_step}, plain; init "
          f"seeds {args.seeds}, order seeds {orders}; val ({len(data['val'])} clips), points")
    for kind in args.kinds:
        mine = [r for r in runs if r["kind"] == kind]
        if len(orders) == 1:  # the init spread alone
            acc = 100 * np.array([r["val_acc"] for r in mine])
            print(f"{kind}: val acc per init seed " + "  ".join(f"{v:5.1f}" for v in acc)
                  + f"; mean {acc.mean():.1f}, SD {acc.std(ddof=1):.1f}; best epochs "
                  f"{[r['best_epoch'] for r in mine]}; CPU s per run {np.mean([r['cpu_s'] for r in mine]):.0f}")
            continue
        acc = 100 * np.array([r["val_acc"] for r in mine]).reshape(k, k)  # [init, order]
        parts = two_way(acc)
        same = 100 * np.array([r["val_acc"] for r in mine if r["init"] == r["order"]])  # as a reported run draws
        print(f"\n{kind}: val acc rows = init seed, columns = order seed")
        for seed, row in zip(args.seeds, acc, strict=True):
            print(f"  init {seed}: " + "  ".join(f"{v:5.1f}" for v in row))
        print(f"  SD over all {k * k} runs {np.sqrt(parts['total']):.1f}; over the {k} one-seed runs (diagonal) "
              f"{same.std(ddof=1):.1f}")
        print("  variance components (SD, points): " + ", ".join(f"{name} {np.sqrt(v):.1f}" for name, v in parts.items()
                                                              if name != "total"))
        print(f"  the val clips' sampling alone: SD {np.sqrt(sampling_variance([r['right'] for r in mine])):.1f}")
        print(f"  best epochs {sorted(r['best_epoch'] for r in mine)}; "
              f"CPU s per run {np.mean([r['cpu_s'] for r in mine]):.0f}")


if __name__ == "__main__":
    main()
