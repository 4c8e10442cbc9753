"""Check the accelerator path: device auto-selection, mixed precision, throughput, determinism.

    python tools/device_check.py --root data/avdigits [--epochs 20]

Trains concat and concat + OGM-GE on AV-Digits with fp32 and with AMP on the auto-selected device and
prints test accuracy, wall time and training samples/s for each, then repeats one run to check that
the same seed gives the same metrics on this device.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avlib.balance import OGMConfig  # noqa: E402
from avlib.core.runtime import pick_device
from avlib.data import load_splits  # noqa: E402
from avlib.tasks.classify.fit import TrainConfig  # noqa: E402
from avlib.tasks.classify.runs import run_classifier  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data/avdigits")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    device = pick_device("auto")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"auto-selected device: {device} ({name}), torch {torch.__version__}")
    data = load_splits("avdigits", args.root)
    n_train = len(data["train"])
    results = {}
    for amp in (False, True):
        for ogm in (None, OGMConfig(alpha=0.8)):
            train = TrainConfig(epochs=args.epochs, lr=0.1, amp=amp)
            run = run_classifier("concat", data, train=train, method=ogm, progress=False)
            label = f"concat{'+ogm_ge' if ogm else ''} amp={amp}"
            results[label] = run.test
            print(f"{label:28s} test acc {100 * run.test['acc']:.1f}  mAP {100 * run.test['map']:.1f}  "
                  f"wall {run.wall_s:.1f}s  {args.epochs * n_train / run.wall_s:.0f} samples/s")
    again = run_classifier("concat", data, train=TrainConfig(epochs=args.epochs, lr=0.1), progress=False)
    print("same seed, same metrics on this device:", again.test == results["concat amp=False"])


if __name__ == "__main__":
    main()
