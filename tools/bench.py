"""Benchmarks, each a ratio measured side by side in one run (interleaved rounds, median).

    python tools/bench.py [--device cuda] [--amp] [--quick]

1. OGM-GE step time / plain joint-training step time, same model, same batch:
   (a) the AV-Digits model (two SmallCNNs, concat, batch 64);
   (b) the paper-sized model (two ResNet-18s, 257x188 spectrogram + 224x224 frame, concat, batch 16).
   Both variants run `avlib.train.train_step`, the exact step `fit` runs. Goal <= 1.03.
2. make_loader steps/s over AV-Digits-shaped data / steps/s of slicing the same in-memory tensors. Goal >= 0.9.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avlib.data.avdigits import AVDigits  # noqa: E402
from avlib.data.loader import make_loader  # noqa: E402
from avlib.models import build_classifier  # noqa: E402
from avlib.ogm import OGMGE, encoder_params  # noqa: E402
from avlib.train import TrainConfig, make_optimizer, pick_device, train_step  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(variants: dict, rounds: int, steps: int, device) -> dict:
    """{name: median seconds per step}; each round runs every variant `steps` times, order alternating."""
    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                variants[name]()
            _sync(device)
            times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def ogm_step_ratio(model_kwargs: dict, shapes: tuple, batch_size: int, device, amp: bool, rounds: int, steps: int):
    audio_shape, visual_shape = shapes
    batch = {"audio": torch.randn(batch_size, *audio_shape, device=device),
             "visual": torch.randn(batch_size, *visual_shape, device=device),
             "label": torch.randint(0, 6, (batch_size,), device=device)}
    variants = {}
    for name in ("plain", "ogm_ge"):
        torch.manual_seed(0)
        model = build_classifier("concat", n_classes=6, **model_kwargs).to(device).train()
        optimizer, _ = make_optimizer(model, TrainConfig())
        scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        balancer = None
        if name == "ogm_ge":
            balancer = OGMGE(audio_params=encoder_params(model.audio_encoder),
                             visual_params=encoder_params(model.visual_encoder), alpha=0.8)

        def step(model=model, optimizer=optimizer, scaler=scaler, balancer=balancer):
            train_step(model, batch, optimizer, scaler, balancer=balancer, amp=amp)

        step()  # warm-up: allocator, kernels, autotuning
        variants[name] = step
    t = interleaved(variants, rounds, steps, device)
    return t["ogm_ge"] / t["plain"], t


def loader_ratio(rounds: int, n: int = 3500, batch_size: int = 64):
    torch.manual_seed(0)
    audio, visual, label = torch.randn(n, 1, 32, 51), torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,))
    dataset = AVDigits.from_tensors(audio, visual, label)
    loader = make_loader(dataset, batch_size=batch_size, shuffle=True, seed=0)
    generator = torch.Generator().manual_seed(0)

    def through_loader():
        for batch in loader:
            batch["audio"].sum()

    def raw_tensors():
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            audio[idx].sum(), visual[idx], label[idx]

    t = interleaved({"loader": through_loader, "tensors": raw_tensors}, rounds, 1, torch.device("cpu"))
    steps = -(-n // batch_size)
    return t["tensors"] / t["loader"], {k: steps / v for k, v in t.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action="store_true", help="mixed precision in both variants")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    device = pick_device(args.device)
    rounds = 3 if args.quick else 9
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, amp {args.amp}")

    ratio, t = ogm_step_ratio({"encoder": "small_cnn"}, ((1, 32, 51), (1, 28, 28)), 64, device, args.amp,
                              3 * rounds, steps=20)
    print(f"OGM-GE / plain step time, AV-Digits model (batch 64):  {ratio:.3f}  "
          f"(plain {t['plain'] * 1e3:.2f} ms, OGM-GE {t['ogm_ge'] * 1e3:.2f} ms per step)")
    paper_rounds = rounds if device.type == "cuda" else max(3, rounds // 2)
    ratio, t = ogm_step_ratio({"encoder": "resnet18", "visual_channels": 3}, ((1, 257, 188), (1, 3, 224, 224)),
                              16, device, args.amp, paper_rounds, steps=10 if device.type == "cuda" else 2)
    print(f"OGM-GE / plain step time, 2x ResNet-18 (batch 16):      {ratio:.3f}  "
          f"(plain {t['plain'] * 1e3:.1f} ms, OGM-GE {t['ogm_ge'] * 1e3:.1f} ms per step)")
    ratio, per_s = loader_ratio(rounds)
    print(f"make_loader / in-memory tensors, steps per second:      {ratio:.3f}  "
          f"(loader {per_s['loader']:.0f}/s, tensors {per_s['tensors']:.0f}/s)")


if __name__ == "__main__":
    main()
