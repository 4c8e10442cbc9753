"""Train one AV classifier (a fusion kind + a balancing method, one seed) on N processes with DDP.

    torchrun --nproc-per-node N tools/torchrun_fit.py --dataset cremad --root data/cremad \\
        --kind concat --method ogm_ge --method-options '{"alpha": 0.8}' --encoder resnet18 \\
        --epochs 100 --batch-size 64 --lr 1e-3 --amp --num-workers 8 --out reports/ddp_fit/result.json

One process per GPU (NCCL; on a machine without CUDA: gloo on the CPU). `--batch-size` is the GLOBAL
batch: each of the N ranks gets batch_size / N samples of every global batch (`avlib.data.loader`), so
the run sees the batches a one-process run sees. Every rank builds the model from the same seed; DDP
averages the gradients; OGM-GE/AGM/OPM reduce their batch statistics over the ranks (`avlib.core.ddp`).
Rank 0 alone writes `--out` (test/val metrics, best epoch, per-epoch history, wall and CPU time).
`--dump-ranks DIR`: every rank also writes DIR/rank<r>.json (its history and a checksum of its
selected weights): what the tests compare across ranks.
`--synthetic N`: random AV-Digits-shaped data (N train, N/4 val, N/4 test) instead of a dataset root,
for tests and the benchmark.
Run it without torchrun and it trains in one process (the single-process path, unchanged).
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avlib.balance import method_config  # noqa: E402
from avlib.core import ddp  # noqa: E402
from avlib.core.runtime import seed_everything
from avlib.data import load_splits  # noqa: E402
from avlib.data.embedded.avdigits import AVDigits  # noqa: E402
from avlib.models import build_classifier  # noqa: E402
from avlib.tasks.classify.fit import TrainConfig, fit  # noqa: E402


def synthetic(n: int) -> dict:
    """Random AV-Digits-shaped splits (fixed seed 0): the same tensors in every process."""
    g = torch.Generator().manual_seed(0)
    return {s: AVDigits.from_tensors(torch.randn(k, 1, 32, 51, generator=g), torch.randn(k, 1, 28, 28, generator=g),
                                     torch.randint(0, 10, (k,), generator=g))
            for s, k in (("train", n), ("val", max(1, n // 4)), ("test", max(1, n // 4)))}


def weights_checksum(net) -> str:
    """sha256 over the bytes of every tensor of the model's state (the selected epoch's weights)."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="avdigits")
    parser.add_argument("--root", default="data/avdigits")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N")
    parser.add_argument("--loader-options", default="{}", help="JSON: the dataset's options (val_fraction, ...)")
    parser.add_argument("--kind", default="concat")
    parser.add_argument("--method", default="none")
    parser.add_argument("--method-options", default="{}", help="JSON")
    parser.add_argument("--encoder", default="small_cnn", choices=("small_cnn", "resnet18"))
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (all ranks together)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dump-ranks", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    distributed = "RANK" in os.environ
    device = ddp.init() if distributed else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if args.synthetic:
            data = synthetic(args.synthetic)
        else:
            data = load_splits(args.dataset, args.root, **json.loads(args.loader_options))
        method = None if args.method == "none" else method_config(args.method, **json.loads(args.method_options))
        model = {"encoder": args.encoder, **({"width": args.width} if args.width else {}),
                 **({"visual_channels": 3} if args.dataset != "avdigits" and not args.synthetic else {})}
        train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, amp=args.amp,
                            device=str(device), num_workers=args.num_workers)
        train = TrainConfig(**{**train.__dict__, "seed": args.seed})
        # as avlib.tasks.classify.runs.build_run (not imported: it pulls in scikit-learn, seconds of start-up per rank)
        seed_everything(args.seed)
        net = build_classifier(args.kind, n_classes=data["train"].n_classes, **model,
                               **(method.model_options() if method is not None else {}))
        balancer = method.build(net, seed=args.seed) if method is not None else None
        if getattr(method, "holdout", 0.0):
            from avlib.tasks.classify.runs import run_data
            data = run_data(data, method)
        r = fit(net, data, train, balancer=balancer, desc=f"{args.kind} rank {ddp.rank()}")
        torch.use_deterministic_algorithms(False)
        result = {"world_size": ddp.world_size(), "device": str(device), "test": r.test, "val": r.val,
                  "best_epoch": r.best_epoch, "history": r.history, "wall_s": r.wall_s, "cpu_s": r.cpu_s}
        if args.dump_ranks is not None:
            args.dump_ranks.mkdir(parents=True, exist_ok=True)
            (args.dump_ranks / f"rank{ddp.rank()}.json").write_text(json.dumps(
                {"history": r.history, "test": r.test, "weights_sha256": weights_checksum(net)}))
        if ddp.rank() == 0:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
            tmp.replace(args.out)
    finally:
        ddp.shutdown()


if __name__ == "__main__":
    main()
