"""Pilot of how many epochs every MUSIC-AVQA model of the tables needs (issue #28's convergence): the rows of
avqa_ablation without spatial grounding, full AVST and avqa_baselines' five baselines, each at its own lr, trained
once for the longest candidate under the paper's StepLR(8, 0.1) (decays after 8, 16, 24), at pilot seeds no table
reports; val only, test never read. A run of L epochs under StepLR(8) is the first L epochs of the longest one (the
same seed, the same batches, the same decays), so each candidate L is read from the longest runs' val curves: the
share of runs whose best val epoch falls before the last 20% of L (the issue's criterion: >= 80%), the plateau gain
(mean val over the last 20% of L minus the 20% before) with its 95% t half-width, and the mean best val "all".

    python tools/pilot_avqa_epochs.py --lengths 12 16 20 24 30 --seeds 100 101

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

STEP = 8  # the paper's StepLR(8, 0.1) (Sec. 5.1 and the authors' code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", required=True, help="candidate epochs, e.g. 12 16 20 24 30")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    ablation = avqa_ablation.PARAMS.check(params["avqa_ablation"])
    baselines = avqa_baselines.PARAMS.check(params["avqa_baselines"])
    lr = chosen_lr("reports/avqa_ablation/lr_grid.csv")
    longest = max(args.lengths)
    models = [row_job(ablation, row, 0, lr) for row in ablation.rows]
    models += [job(baselines, m, 0, baselines.lrs[m]) for m in baselines.models if m != FULL_AVST]
    jobs = [replace(j, seed=seed, epochs=longest, step_size=STEP) for j in models for seed in args.seeds]
    runs = run_longest_first(jobs, load_data(ablation), workers=args.workers, desc="pilot")
    curves = {(r.job.model, r.job.seed): 100 * np.array([h["val_all"] for h in r.history]) for r in runs}
    print(f"StepLR({STEP}, {ablation.gamma}); ablation lr {lr:g}; baselines' lrs {baselines.lrs}; seeds {args.seeds}")
    print("epochs  not-late share  plateau gain      mean best val   (per model: best epochs, gain)")
    for length in sorted(args.lengths):
        readings = {key: run_reading(curve[:length]) for key, curve in curves.items()}
        gains = [x["gain"] for x in readings.values()]
        gain, half = mean_ci(gains)
        early = np.mean([not x["late"] for x in readings.values()])
        best = np.mean([curve[:length].max() for curve in curves.values()])
        verdict = "still rising" if gain - half > 0 else "plateau"
        print(f"{length:6d}  {early:14.0%}  {gain:+.2f} ± {half:.2f} ({verdict})  {best:8.2f}")
        for j in models:
            mine = [readings[j.model, seed] for seed in args.seeds]
            print(f"        {j.model:22s} best {','.join(str(x['best_epoch']) for x in mine):8s} "
                  f"gain {np.mean([x['gain'] for x in mine]):+.2f}")


if __name__ == "__main__":
    main()
