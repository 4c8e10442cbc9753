"""Pilot of AV-Events' difficulty (data_avevents' visual_noise_std and snr_db): for each candidate point the data
is generated (train and val as data_avevents would draw them; a token test split, never read), then AVGA-lite and
PSP-lite train plain on t4_ave's schedule at pilot seeds, and every criterion of stage premise_avevents is read on
val, with the model-free sight probe (avlib/tasks/ave/sight.py). Prints one block per point.

    python tools/pilot_avevents_difficulty.py --point 0.2:-23 --point 0.3:-20 --workers 2
    python tools/pilot_avevents_difficulty.py --point 0.3:-17:0.4:0.4   # also p_audio_only, p_visual_only

The choice rule is written in params.yaml above data_avevents' snr_db; this prints the numbers it reads.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import yaml

from avlib.data import load_splits
from avlib.data.embedded.avevents import generate
from avlib.stages import data_avevents, premise_avevents, t4_ave
from avlib.stages.shared.ave_premise import CRITERIA
from avlib.tasks.ave.train import majority_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", action="append", required=True,
                        help="VISUAL_NOISE_STD:SNR_DB[:P_AUDIO_ONLY:P_VISUAL_ONLY], e.g. 0.2:-23")
    parser.add_argument("--seeds", type=int, nargs="+", default=[300, 301],
                        help="pilot seeds (never t4_ave's seeds or selection seed, nor premise_avevents' seeds)")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    p_data = data_avevents.PARAMS.check(params["data_avevents"])
    p = premise_avevents.PARAMS.check(params["premise_avevents"])
    p_t4 = t4_ave.PARAMS.check(params["t4_ave"])
    taken = set(args.seeds) & {*p.seeds, *p_t4.seeds, p_t4.selection_seed}
    if taken:
        parser.error(f"--seeds {args.seeds}: {sorted(taken)} are read by premise_avevents or t4_ave")
    p.seeds, p.workers = args.seeds, args.workers  # premise_avevents' own jobs, at the pilot seeds
    for point in args.point:
        values = [float(v) for v in point.split(":")]
        noise, snr = values[:2]
        p_data.visual_noise_std, p_data.snr_db, p_data.n_test = noise, snr, 4
        if len(values) == 4:
            p_data.p_audio_only, p_data.p_visual_only = values[2:]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "avevents"
            generate(root, data_avevents.config(p_data), progress=False)
            data = load_splits("avevents", root)
        sight = premise_avevents.sight(data)
        majority = majority_rate(data["val"])
        runs = premise_avevents.run(p, data)
        block = premise_avevents.metrics(runs, p, majority, sight)["premise"]
        print(f"\n== visual_noise_std {noise:g}, snr_db {snr:g}, p_audio_only {p_data.p_audio_only:g}, "
              f"p_visual_only {p_data.p_visual_only:g}: sight probe {sight['probe_val']:.1f}% "
              f"(chance {sight['chance']:.0f}%; met {sight['sight_carries_class']}), majority {100 * majority:.1f}%")
        print("model  fused  rho_last rho_early audio_share visual_share audio_cost visual_cost  failed")
        for m in p.models:
            e = block[m]
            failed = [c for c in CRITERIA if not e[c]]
            print(f"{m:5s} {e['fused_val']:6.1f} {e['rho_audio_last']:8.2f} {e['rho_audio_early']:9.2f} "
                  f"{e['audio_share_val']:11.1f} {e['visual_share_val']:12.1f} {e['audio_ablation_cost']:10.1f} "
                  f"{e['visual_ablation_cost']:11.1f}  {','.join(failed) or '-'}")
        best = {m: [r.best_epoch for r in runs if r.job.model == m] for m in p.models}
        print(f"best epochs {best}; min rho {min(block[m]['rho_audio_last'] for m in p.models):.2f}; "
              f"cpu_s/run {np.mean([r.cpu_s for r in runs]):.0f}")


if __name__ == "__main__":
    main()
