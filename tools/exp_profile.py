"""A params profile (profiles/<name>.yaml) as the `dvc exp run -S ...` command that applies it, and, with
`--estimate`, an estimate of each stage's wall time on one GPU.

    python tools/exp_profile.py paper                     # prints the command
    python tools/exp_profile.py paper --estimate          # + the estimate (measures the loader on this CPU)

The estimate (no GPU was available when it was written, so nothing here is a GPU measurement):
  GPU side   = FLOPs of one paper-size forward pass (torch.utils.flop_counter, counted here) x 3 for a
               training step (forward + backward) / an ASSUMED effective throughput (--tflops, default 100
               TFLOP/s: a fraction of an H100/H200's dense bf16 peak that small-batch ResNet-18 reaches)
  loader     = CPU seconds per CREMA-D item at paper size (decode a 480x360 JPEG, crop, resize to 224, a 3 s
               log-STFT), measured here on synthetic files of the release's format / num_workers
  epoch      = max(GPU side, loader) (the workers prefetch while the GPU computes), over train + val
  stage      = epochs x runs (counted from the profile's params the way each stage builds its runs)
"""

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CREMAD_TRAIN, CREMAD_TEST = 6698, 744  # the official split (avlib/reference/cremad_*.csv)


def load_profile(name: str) -> dict:
    path = ROOT / "profiles" / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"no profile {path}; profiles: {sorted(p.stem for p in (ROOT / 'profiles').glob('*.yaml'))}")
    return {k: v for k, v in yaml.safe_load(path.read_text()).items() if not k.startswith("_")}


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()  # a scalar document ends with a "..." marker


def command(profile: dict) -> str:
    sets = [f"-S {shlex.quote(f'{stage}.{key}={_flow(value)}')}" for stage, knobs in profile.items()
            for key, value in knobs.items()]
    return "dvc exp run " + " \\\n    ".join(sets)


def merged(profile: dict) -> dict:
    """params.yaml's sections with the profile applied (what the stages would run with)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for stage, knobs in profile.items():
        unknown = set(knobs) - set(params.get(stage, {}))
        if unknown:
            raise SystemExit(f"profile sets {stage}.{sorted(unknown)}, which params.yaml does not have")
        params[stage] = {**params[stage], **knobs}
    return params


def runs(stage: str, p: dict, params: dict | None = None) -> int:
    """How many trainings a stage runs with params `p` (each of `epochs` epochs); `params`: every stage's (the
    seeds t3_imbalance reads back are t3_more_seeds's, some of which it read back from t3_seeds)."""
    seeds = len(p.get("seeds", []))
    selection = len(p.get("selection_seeds", [0]))
    if stage == "t1_fusion":  # the alpha x window grid at each selection seed, then rows (+ OGM-GE on the two-
        two = [r for r in p["rows"] if not r.endswith("_only")]  # modality rows) x seeds,
        main = 2 * len(p.get("main_seeds", []))  # + concat with and without OGM-GE at main_seeds
        return len(p["alpha_grid"]) * len(p["window_grid"]) * selection + (len(p["rows"]) + len(two)) * seeds + main
    if stage == "t3_grid":  # each method's cartesian grid with 2+ points at each selection seed
        points = [math.prod(len(v) for v in (options or {}).values()) for options in p["grids"].values()]
        return sum(n for n in points if n > 1) * selection
    if stage in ("t3_seeds", "t3_more_seeds", "t3_imbalance"):  # rows x seeds, the late-fusion row two uni-modal
        late = p["rows"].count("late_fusion")  # models a seed; the grid's runs are t3_grid's (the profile gives
        source = {"t3_imbalance": "t3_more_seeds", "t3_more_seeds": "t3_seeds"}.get(stage)  # the stages the same
        if source and p.get("seeds_from") and params:  # knobs), read back, as are the seeds a stage before trained
            seeds -= len(set(p["seeds"]) & set(params[source]["seeds"]))
        return (len(p["rows"]) + late) * seeds
    if stage == "fig_underopt":
        return 4 * seeds  # audio-only, visual-only, fusion, fusion + OGM-GE (+ probes each epoch: not counted)
    raise ValueError(stage)


def forward_flops(batch: int = 1) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from avlib.models import build_classifier

    model = build_classifier("concat", n_classes=6, encoder="resnet18", visual_channels=3)
    a, v = torch.zeros(batch, 1, 257, 188), torch.zeros(batch, 1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(a, v)
    return counter.get_total_flops() / batch


def loader_seconds_per_item(n: int = 20) -> float:
    """CPU seconds per train item of the CREMA-D loader at paper size, on synthetic files of the release's format."""
    import numpy as np
    import soundfile as sf
    import torch
    from PIL import Image

    from avlib.data.real.cremad import CremaD

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "AudioWAV").mkdir()
        rows = []
        for i in range(n):
            clip = f"10{i:02d}_DFA_ANG_XX"
            sf.write(str(root / "AudioWAV" / f"{clip}.wav"), rng.uniform(-0.3, 0.3, 40_000).astype(np.float32), 16000)
            (root / "Image-01-FPS" / clip).mkdir(parents=True)
            for k in range(3):
                Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(
                    root / "Image-01-FPS" / clip / f"{k:05d}.jpg", quality=90)
            rows.append(f"{clip},ANG\n")
        (root / "train.csv").write_text("".join(rows))
        (root / "test.csv").write_text(rows[0])
        data = CremaD(root, "train", val_fraction=0.1, n_frames=1, image_size=224, augment=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a DataLoader worker (torch sets 1 thread there)
        try:
            data[0]
            start = time.process_time()
            for i in range(len(data)):
                data[i]
            return (time.process_time() - start) / len(data)
        finally:
            torch.set_num_threads(threads)


def estimate(profile: dict, tflops: float) -> list:
    params = merged(profile)
    fwd = forward_flops()
    per_item = loader_seconds_per_item()
    lines = [f"forward FLOPs per clip (2x ResNet-18, 257x188 + 224x224): {fwd / 1e9:.2f} GFLOP (counted)",
             f"CREMA-D loader, CPU s per train item (this machine): {per_item * 1e3:.1f} ms (measured)",
             f"GPU throughput: {tflops:g} TFLOP/s effective (ASSUMED, not measured)"]
    for stage, p in params.items():
        if stage not in profile:
            continue
        n_train = round(CREMAD_TRAIN * (1 - p["loader"]["val_fraction"]))
        n_val = CREMAD_TRAIN - n_train
        gpu = (3 * n_train + n_val) * fwd / (tflops * 1e12)
        loader = (n_train + n_val) * per_item / max(1, p["num_workers"])
        epoch = max(gpu, loader)
        n = runs(stage, p, params)
        total = epoch * p["epochs"] * n
        lines.append(f"{stage}: {n} runs x {p['epochs']} epochs; epoch ~{epoch:.1f} s (GPU {gpu:.1f} s, "
                     f"loader {loader:.1f} s with {p['num_workers']} workers) -> ~{total / 3600:.1f} h")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--estimate", action="store_true")
    parser.add_argument("--tflops", type=float, default=100.0)
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    merged(profile)  # unknown keys stop here
    print(command(profile))
    if args.estimate:
        print("\n".join(estimate(profile, args.tflops)))


if __name__ == "__main__":
    main()
