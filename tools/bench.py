"""Benchmarks, each a ratio measured side by side in one run (interleaved rounds, median).

    python tools/bench.py [--device cuda] [--amp] [--quick]

1. The run engine on Table 1's workload (its 13 specs: 7 rows + 5 OGM-GE rows + α=0.8, one seed each, on
   AV-Digits-shaped data, 4 epochs, 2 with --quick): CPU auto workers vs one worker (goal >= 1.4x); on a
   GPU, the batched engine (seeds stacked under vmap) vs one run at a time (goal >= 14x) — printed as "not
   measured" where no GPU is present.
2. OGM-GE step time / plain joint-training step time, same model, same batch:
   (a) the AV-Digits model (two SmallCNNs, concat, batch 64);
   (b) the paper-sized model (two ResNet-18s, 257x188 spectrogram + 224x224 frame, concat, batch 16).
   Both variants run `avlib.tasks.classify.fit.train_step`, the exact step `fit` runs. Goal <= 1.03 (CPU), 1.05 (GPU).
3. make_loader steps/s over AV-Digits-shaped data / steps/s of slicing the same in-memory tensors. Goal >= 0.9.
4. Per-run cost on 2 cores: one Table 1 concat run (AV-Digits-shaped data, 3500 clips, batch 64, one thread,
   as the CPU engine runs it, deterministic mode on) in a fresh process per variant, interleaved rounds, median
   fit time. Each candidate against the engine before the speed-ups (NCHW SmallCNN, deterministic mode's NaN
   fill of every new tensor, glibc handing freed memory back): channels_last with the fill, channels_last without
   it (kept: `seed_everything`; the previous default), + glibc keeping freed memory (kept, the default since
   2026-12-07: `avlib/core/memory.py`, called by `fit`), + torch.compile (rejected: slower, 20-40 s of compile per
   process, deterministic mode off), 2 seeds stacked under vmap in one single-threaded process (the batched
   engine on the CPU; rejected). Each line says whether the trained weights are bit-identical to the previous
   default's. Goal >= 2.0x. Then where the
   default's step goes: the convolutions' share and FLOP rate against oneDNN's best rate on this core (a large
   conv), and the most that faster kernels at the same maths could still give (the step if only its
   convolutions ran, at that rate).
   Then the MKL pin's cost: single-threaded sgemm at the AV-ASR and QA layers' shapes with MKL_CBWR=AUTO against
   COMPATIBLE (the pin: one code path on Intel and AMD), each in a fresh process, and the route the QA and AV-ASR
   families train on (`avlib/core/matmul.py`: numpy's OpenBLAS, pinned to its Haswell kernels) against the same
   COMPATIBLE path; then one full-AVST and one MCAN-lite training step (AV-Scenes shapes, batch 64, width 128,
   one thread) with and without that route, interleaved in one process. Then AVTS pretraining: a seed's
   curriculum and L3-style runs trained apart against `pretrain_all`'s shared start (their epochs before the
   switch trained once; the same bits).
5. DDP scaling: training time of one run under `torchrun --nproc-per-node 2` / the same run on 1 rank (same
   global batches, tools/torchrun_fit.py): NCCL on a machine with >= 2 GPUs, else gloo on the CPU (labelled so;
   on a shared 2-core CPU the ratio says little about GPUs).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import avlib  # noqa: E402, F401 - the kernel pins (avlib/core/pins.py), before torch and numpy load

# isort: split
import torch  # noqa: E402

from avlib.balance import OGMGE, OGMConfig, encoder_params  # noqa: E402
from avlib.core.runtime import available_cores, pick_device
from avlib.data.embedded.avdigits import AVDigits  # noqa: E402
from avlib.data.loader import make_loader  # noqa: E402
from avlib.models import build_classifier  # noqa: E402
from avlib.tasks.classify.engine import run_specs  # noqa: E402
from avlib.tasks.classify.fit import TrainConfig, make_optimizer, train_step  # noqa: E402
from avlib.tasks.classify.runs import RunSpec, run_one  # noqa: E402


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


def table1_workload(seeds: list, epochs: int):
    """Table 1's runs on random AV-Digits-shaped data (3500/500/1000): same shapes, same step count."""
    torch.manual_seed(0)
    data = {s: AVDigits.from_tensors(torch.randn(n, 1, 32, 51), torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,)))
            for s, n in (("train", 3500), ("val", 500), ("test", 1000))}
    rows = ["audio_only", "visual_only", "baseline", "concat", "sum", "film", "gated"]
    ogm = OGMConfig(alpha=0.3, end_epoch=max(1, epochs // 2))
    specs = [RunSpec(k, k) for k in rows] + [RunSpec(f"{k}+ogm", k, ogm) for k in rows[2:]]
    specs.append(RunSpec("concat+ogm0.8", "concat", OGMConfig(alpha=0.8, end_epoch=max(1, epochs // 2))))
    train = TrainConfig(epochs=epochs, batch_size=64, lr=0.1)
    return specs, seeds, data, train


def engine_ratio(device, epochs: int, rounds: int):
    """(speed-up, seconds per variant) of the engine's default path vs one run at a time."""
    specs, seeds, data, train = table1_workload([0, 1, 2] if device.type == "cuda" else [0], epochs)
    train = TrainConfig(**{**train.__dict__, "device": str(device)})
    if device.type == "cuda":  # today's GPU path (plain fit, one run after another) vs the batched engine
        def plain():
            for spec in specs:
                for seed in seeds:
                    run_one(spec, seed, data, train=train, probe=False)
        variants = {"plain fit, one at a time": plain,
                    "batched": lambda: run_specs(specs, seeds, data, train=train, probe=False, progress=False)}
    else:
        variants = {"1 worker": lambda: run_specs(specs, seeds, data, train=train, probe=False, progress=False,
                                                  workers=1),
                    f"auto ({available_cores()} workers)": lambda: run_specs(specs, seeds, data, train=train,
                                                                            probe=False, progress=False)}
    times = {name: [] for name in variants}
    for r in range(rounds):
        for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    t = {name: statistics.median(v) for name, v in times.items()}
    names = list(t)
    return t[names[0]] / t[names[1]], t


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


def conv_roofline(steps: int = 30) -> dict:
    """Where one CPU worker's step goes (single thread, the concat model, batch 64, AV-Digits shapes): the share
    of the convolutions (forward + backward, from the profiler), their FLOP rate against the best rate oneDNN
    reaches on this core under the same pins (a large 3x3 convolution, 128 channels at 16x16, batch 32, where
    the FMA units are the limit; a matmul is no reference here: MKL_CBWR=COMPATIBLE sends sgemm down a slow
    path), and the step time if everything but the convolutions were free and they ran at that rate: the most
    that faster kernels at the same maths could give."""
    from torch.profiler import ProfilerActivity, profile

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        big = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
        x = torch.randn(32, 128, 16, 16).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            big(x)
            start = time.perf_counter()
            for _ in range(5):
                big(x)
            peak = 5 * 2 * x.numel() * 128 * 9 / (time.perf_counter() - start)
        from avlib.core.runtime import seed_everything

        seed_everything(0)  # as a worker runs (deterministic mode on)
        model = build_classifier("concat", n_classes=10, encoder="small_cnn", width=8).train()
        flops = []  # one forward's multiply-adds x 2 per conv: 2 * N * Ho * Wo * Cout * Cin/groups * kh * kw

        def count(module, inputs, output):
            kh, kw = module.kernel_size
            flops.append(2 * output.numel() * module.in_channels // module.groups * kh * kw)

        hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        batch = {"audio": torch.randn(64, 1, 32, 51), "visual": torch.randn(64, 1, 28, 28),
                 "label": torch.randint(0, 10, (64,))}
        optimizer, _ = make_optimizer(model, TrainConfig(lr=0.1))
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        train_step(model, batch, optimizer, scaler)
        step_flops = 3 * sum(flops)  # forward + backward (grad input + grad weight: 2x the forward)
        for hook in hooks:
            hook.remove()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                train_step(model, batch, optimizer, scaler)
            step_s = (time.perf_counter() - start) / steps
        conv_s = sum(e.self_cpu_time_total for e in prof.key_averages()
                     if e.key in ("aten::mkldnn_convolution", "aten::convolution_backward")) / 1e6 / steps
    finally:
        torch.set_num_threads(threads)
    return {"peak_gflops": peak / 1e9, "conv_gflops": step_flops / conv_s / 1e9, "conv_share": conv_s / step_s,
            "step_ms": step_s * 1e3, "floor_ms": step_flops / peak * 1e3}


SGEMM_SHAPES = {"AV-ASR tower layer 256x400x128": (256, 400, 128), "QA hidden layer 256x128x128": (256, 128, 128)}


def sgemm_rate() -> dict:
    """{route: {shape: (GFLOP/s, hash of the product)}} of single-threaded float32 matmuls under this process's
    MKL_CBWR, on MKL ("mkl") and on the OpenBLAS route ("openblas") (`mkl_pin_cost` runs it in a fresh process
    per setting: MKL reads the variable once)."""
    import contextlib
    import hashlib

    from avlib.core.matmul import openblas_matmuls

    torch.set_num_threads(1)
    out = {}
    for route, context in (("mkl", contextlib.nullcontext), ("openblas", openblas_matmuls)):
        torch.manual_seed(0)
        out[route] = {}
        with context():
            for name, (m, k, n) in SGEMM_SHAPES.items():
                a, b = torch.randn(m, k), torch.randn(k, n)
                product = a @ b
                reps = max(3, int(2e9 / (2 * m * k * n)))
                start = time.perf_counter()
                for _ in range(reps):
                    a @ b
                out[route][name] = (2 * m * k * n * reps / (time.perf_counter() - start) / 1e9,
                                    hashlib.sha256(product.numpy().tobytes()).hexdigest()[:16])
    return out


def mkl_pin_cost(rounds: int) -> dict:
    """{shape: {"auto": (median GFLOP/s with MKL_CBWR=AUTO / with COMPATIBLE, same bits on this machine),
    "openblas": (the OpenBLAS route / MKL's COMPATIBLE path, the route's bits the same under both MKL settings)}}:
    what the MKL pin (`avlib/core/pins.py`, one sgemm code path on Intel and AMD) costs a matmul, and what the
    route the QA and AV-ASR families take (`avlib/core/matmul.py`) gives back; each setting in a fresh process,
    rounds interleaved."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    keys = (("COMPATIBLE", "mkl"), ("AUTO", "mkl"), ("COMPATIBLE", "openblas"), ("AUTO", "openblas"))
    rates = {key: {name: [] for name in SGEMM_SHAPES} for key in keys}
    hashes = {}
    for r in range(rounds):
        for value in ("COMPATIBLE", "AUTO") if r % 2 == 0 else ("AUTO", "COMPATIBLE"):
            out = subprocess.run([sys.executable, __file__, "--sgemm"], check=True, env={**env, "MKL_CBWR": value},
                                 capture_output=True, text=True).stdout
            for route, shapes in json.loads(out.strip().splitlines()[-1]).items():
                for name, (rate, digest) in shapes.items():
                    rates[(value, route)][name].append(rate)
                    hashes[(value, route, name)] = digest
    median = {key: {name: statistics.median(v) for name, v in by_shape.items()} for key, by_shape in rates.items()}
    compatible = median[("COMPATIBLE", "mkl")]
    return {name: {"auto": (median[("AUTO", "mkl")][name] / compatible[name],
                            hashes[("AUTO", "mkl", name)] == hashes[("COMPATIBLE", "mkl", name)]),
                   "openblas": (median[("COMPATIBLE", "openblas")][name] / compatible[name],
                                hashes[("AUTO", "openblas", name)] == hashes[("COMPATIBLE", "openblas", name)])}
            for name in SGEMM_SHAPES}


def _qa_step(model, optimizer, negatives, batch):
    from avlib.tasks.qa.train import qa_loss

    result = model(batch["audio"], batch["visual"], batch["question"], video=batch["video"], generator=negatives)
    loss = qa_loss(result, batch["label"], 0.5)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def qa_step_route_cost(rounds: int, steps: int = 6) -> dict:
    """{model: (median step time on MKL / on the OpenBLAS route)}: one training step of full AVST and of
    MCAN-lite at AV-Scenes' shapes (batch 64, 10 segments, 4x4x512 visual maps, width 128), one thread,
    Adam, the two routes interleaved in this process."""
    import contextlib

    from avlib.core.matmul import openblas_matmuls
    from avlib.models.avst import ablation_row
    from avlib.models.qa_baselines import BASELINES

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    batch = {"audio": torch.randn(64, 10, 128, generator=g), "visual": torch.randn(64, 10, 512, 4, 4, generator=g),
             "question": torch.randint(1, 77, (64, 14), generator=g), "label": torch.randint(0, 23, (64,), generator=g),
             "video": torch.arange(64) // 2}
    kwargs = dict(vocab_size=77, n_answers=23, hidden=128, audio_dim=128, visual_dim=512)
    models = {"full AVST": ablation_row("AV+Q+TG+SG", **kwargs), "MCAN-lite": BASELINES["mcan_lite"][0](**kwargs)}
    out = {}
    try:
        for name, model in models.items():
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            negatives = torch.Generator().manual_seed(1)

            times = {"mkl": [], "openblas": []}
            for r in range(rounds):
                for route in ("mkl", "openblas") if r % 2 == 0 else ("openblas", "mkl"):
                    with openblas_matmuls() if route == "openblas" else contextlib.nullcontext():
                        _qa_step(model, optimizer, negatives, batch)  # warm-up
                        start = time.perf_counter()
                        for _ in range(steps):
                            _qa_step(model, optimizer, negatives, batch)
                        times[route].append((time.perf_counter() - start) / steps)
            out[name] = statistics.median(times["mkl"]) / statistics.median(times["openblas"])
    finally:
        torch.set_num_threads(threads)
    return out


NAN_FILL = {"AVLAB_BENCH_NAN_FILL": "1"}  # deterministic mode's NaN fill of new tensors, as before it was turned off
GIVE_BACK = {"AVLAB_BENCH_GIVE_BACK": "1"}  # glibc's own thresholds: freed memory handed back, as before 2026-12-07
PREVIOUS = "channels_last, no NaN fill (previous default; in-place ReLUs, eval batches of 128)"
RUN_VARIANTS = {  # name: (SmallCNN layout, torch.compile, extra environment)
    "NCHW (before)": ("nchw", False, NAN_FILL | GIVE_BACK),
    "channels_last + NaN fill": ("cl", False, NAN_FILL | GIVE_BACK),
    PREVIOUS: ("cl", False, GIVE_BACK),
    "+ freed memory kept (default)": ("cl", False, {}),
    "+ freed memory kept + torch.compile": ("cl", True, {}),
}


def one_run(layout: str, compiled: bool, epochs: int) -> tuple:
    """(seconds of `fit`, hash of the trained weights) for one concat run on AV-Digits-shaped data,
    single-threaded (a CPU worker's run)."""
    import hashlib

    from avlib.core.runtime import seed_everything
    from avlib.tasks.classify.fit import fit

    torch.set_num_threads(1)
    _, _, data, train = table1_workload([0], epochs)
    seed_everything(0)
    torch.utils.deterministic.fill_uninitialized_memory = bool(os.environ.get("AVLAB_BENCH_NAN_FILL"))
    if os.environ.get("AVLAB_BENCH_GIVE_BACK"):  # fit's allocator setting off: glibc's defaults
        import avlib.tasks.classify.fit as fit_module

        fit_module.keep_freed_memory = lambda: False
    model = build_classifier("concat", n_classes=10, encoder="small_cnn", width=8)
    if layout == "nchw":  # the path before: NCHW, out-of-place ReLUs, evaluation in batches of 256
        import avlib.tasks.classify.fit as fit_module

        fit_module.EVAL_BATCH_SIZE = 256
        for relu in (m for m in model.modules() if isinstance(m, torch.nn.ReLU)):
            relu.inplace = False
    for encoder in (model.audio_encoder, model.visual_encoder):
        if layout == "nchw":
            encoder.memory_format = torch.contiguous_format
            encoder.to(memory_format=torch.contiguous_format)
        if compiled:
            encoder.net = torch.compile(encoder.net)
    if compiled:
        torch.use_deterministic_algorithms(False)  # torch.compile's CPU kernels need it off; speed only
    wall_s = fit(model, data, train, progress=False).wall_s
    weights = b"".join(t.detach().contiguous().numpy().tobytes() for t in model.state_dict().values())
    return wall_s, hashlib.sha256(weights).hexdigest()[:16]


def avts_step_layout(rounds: int, steps: int = 5) -> tuple:
    """(median step time NCHW / channels-last, {layout: ms}): one AVTS-lite pretraining step at AV-Sync's
    shapes (batch 64, 10-frame 16x16 video windows, 32 x 50 log-mel windows), one thread, Adam, the two
    layouts interleaved in this process (avlib/models/avts.py keeps channels-last)."""
    from avlib.models.avts import AVTSNet, contrastive_loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        video, audio = torch.randn(64, 1, 10, 16, 16), torch.randn(64, 1, 32, 50)
        same = torch.randint(0, 2, (64,)).float()
        variants = {}
        for name, channels_last in (("NCHW", False), ("channels-last", True)):
            model = AVTSNet(frames=10, mel_per_frame=5, n_mels=32, channels_last=channels_last)
            optimizer = torch.optim.Adam(model.parameters(), lr=0.003)

            def step(model=model, optimizer=optimizer):
                loss = contrastive_loss(*model(video, audio), same)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            step()  # warm-up
            variants[name] = step
        t = interleaved(variants, rounds, steps, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    return t["NCHW"] / t["channels-last"], {k: v * 1e3 for k, v in t.items()}


def avts_shared_start(epochs: int = 6, pairs: int = 256) -> tuple | None:
    """(apart / shared, {variant: seconds}, same bits): a seed's AVTS-lite (curriculum) and L3-style pretraining on
    data/avsync at avts_pretrain's knobs but `epochs` and `pairs` per epoch (the switch at round(0.5556 epochs)):
    each trained alone, one after the other, against `pretrain_all`'s shared start (the epochs before the switch
    once); one thread. None without data/avsync."""
    import yaml

    from avlib.core.runtime import single_threaded
    from avlib.stages import avts_pretrain as stage
    from avlib.tasks.avts.train import pretrain_all, train

    root = Path(__file__).resolve().parents[1]
    knobs = yaml.safe_load((root / "params.yaml").read_text())["avts_pretrain"]
    if not (root / knobs["root"] / "meta.json").is_file():
        return None
    p = stage.PARAMS.check({**knobs, "root": str(root / knobs["root"]), "epochs": epochs, "pairs_per_epoch": pairs,
                            "schedules": ["curriculum", "easy_only"]})
    data = stage.load_data(p)
    jobs = [job for job in stage.jobs(p) if job.seed == p.seeds[0]]
    times = {}
    with single_threaded():
        start = time.perf_counter()
        apart = [train(job, data) for job in jobs]
        times["apart"] = time.perf_counter() - start
        start = time.perf_counter()
        shared = pretrain_all(jobs, data, workers=1, progress=False)
        times["shared start"] = time.perf_counter() - start
    same = all(a.history == b.history and a.test == b.test for a, b in zip(apart, shared, strict=True))
    return times["apart"] / times["shared start"], times, same


def run_cost(rounds: int, epochs: int, variants=RUN_VARIANTS) -> tuple:
    """({variant: median fit seconds}, {variant: weights hash}), each round every variant in a fresh process
    (order alternating)."""
    times, hashes = {name: [] for name in variants}, {}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for r in range(rounds):
        for name in list(variants) if r % 2 == 0 else list(variants)[::-1]:
            layout, compiled, extra = variants[name]
            out = subprocess.run([sys.executable, __file__, "--one-run", layout, *(["--compiled"] * compiled),
                                  "--epochs", str(epochs)], check=True, env={**env, **extra},
                                 capture_output=True, text=True).stdout
            seconds, hashes[name] = out.strip().splitlines()[-1].split()
            times[name].append(float(seconds))
    return {name: statistics.median(t) for name, t in times.items()}, hashes


def cpu_batched_cost(rounds: int, epochs: int, stacked: int = 2) -> tuple:
    """(per-run speed-up, {variant: seconds per run}): `stacked` seeds of one concat spec trained together under
    vmap (the batched engine, one thread) against the same runs one after another (one thread): the issue's
    candidate "several seeds of one spec batched through vmap on the CPU"."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _, _, data, train = table1_workload([0], epochs)
        spec, seeds = [RunSpec("concat", "concat")], list(range(stacked))
        variants = {engine: (lambda engine=engine: run_specs(spec, seeds, data, train=train, probe=False,
                                                             progress=False, workers=1, engine=engine))
                    for engine in ("workers", "batched")}
        variants["workers"]()  # warm-up: oneDNN's primitives for every shape
        variants["batched"]()
        times = {name: [] for name in variants}
        for r in range(rounds):
            for name in list(variants) if r % 2 == 0 else list(variants)[::-1]:
                start = time.perf_counter()
                variants[name]()
                times[name].append((time.perf_counter() - start) / stacked)
    finally:
        torch.set_num_threads(threads)
    t = {name: statistics.median(v) for name, v in times.items()}
    return t["workers"] / t["batched"], t


def ddp_scaling(quick: bool):
    """(speed-up 1 rank / 2 ranks, label, seconds per variant): fit's own wall time (start-up excluded)."""
    gpus = torch.cuda.device_count()
    label = "NCCL, 2 GPUs" if gpus >= 2 else "gloo CPU"
    args = ["--synthetic", "1024" if quick else "3500", "--method", "ogm_ge", "--epochs", "1" if quick else "2",
            "--batch-size", "64", "--lr", "0.1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if gpus < 2:
        env["OMP_NUM_THREADS"] = "1"  # one thread per rank, so 2 ranks use 2 cores, 1 rank 1 core
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            out = Path(tmp) / f"n{n}.json"
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n),
                            "--master-port", str(29650 + n), str(Path(__file__).with_name("torchrun_fit.py")), *args,
                            "--out", str(out)], check=True, env=env, capture_output=True)
            times[f"{n} rank{'s' if n > 1 else ''}"] = json.loads(out.read_text())["wall_s"]
    return times["1 rank"] / times["2 ranks"], label, times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action="store_true", help="mixed precision in both variants")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--one-run", choices=["nchw", "cl"], help=argparse.SUPPRESS)  # run_cost's subprocess
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sgemm", action="store_true", help=argparse.SUPPRESS)  # mkl_pin_cost's subprocess
    parser.add_argument("--epochs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(*one_run(args.one_run, args.compiled, args.epochs))
        return
    if args.sgemm:
        print(json.dumps(sgemm_rate()))
        return
    device = pick_device(args.device)
    rounds = 3 if args.quick else 9
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, amp {args.amp}")
    epochs = 2 if args.quick else 4
    ratio, t = engine_ratio(device, epochs, rounds=1 if args.quick else 2)
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
    if device.type == "cuda":
        print(f"run engine, Table 1 workload ({epochs} epochs, 39 runs), GPU batched / plain fit:  {ratio:.2f}x  "
              f"(goal >= 14x; {detail})")
    else:
        print(f"run engine, Table 1 workload ({epochs} epochs, 13 runs), CPU auto workers / 1 worker:  {ratio:.2f}x  "
              f"(goal >= 1.4x; {detail})")
        print("run engine, GPU batched / plain fit:  not measured (no GPU on this machine; run `make bench` on one)")

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
    if device.type == "cpu":
        t, hashes = run_cost(rounds=2 if args.quick else 3, epochs=1 if args.quick else 3)
        before = t.pop("NCHW (before)")
        reference = hashes[PREVIOUS]
        print(f"per-run cost, one concat run, NCHW before / candidate (goal >= 2.0x; NCHW {before:.1f} s; "
              f"bits: the trained weights against the previous default's):")
        for name, seconds in t.items():
            same = "identical" if hashes[name] == reference else "differ"
            print(f"    {name:45s} {before / seconds:.2f}x  ({seconds:.1f} s, weights {same})")
        ratio, t = cpu_batched_cost(rounds=2 if args.quick else 3, epochs=1)
        print(f"    {'2 seeds stacked under vmap (batched engine)':45s} {ratio:.2f}x of one run at a time, per run "
              f"(rejected: {t['batched']:.2f} s against {t['workers']:.2f} s per run of 1 epoch, 1 thread each)")
        r = conv_roofline()
        print(f"    where the default's step goes (1 thread, batch 64): convolutions {r['conv_share']:.0%} of "
              f"{r['step_ms']:.1f} ms at {r['conv_gflops']:.0f} GFLOP/s, oneDNN's best on this core "
              f"{r['peak_gflops']:.0f} GFLOP/s (a large conv); the step if only its convolutions ran, at that peak: "
              f"{r['floor_ms']:.1f} ms ({r['step_ms'] / r['floor_ms']:.1f}x, the most faster kernels could give)")
        for name, routes in mkl_pin_cost(rounds=2 if args.quick else 4).items():
            ratio, same = routes["auto"]
            print(f"MKL pin's cost, sgemm {name} (1 thread), MKL_CBWR AUTO / COMPATIBLE:  {ratio:.2f}x  "
                  f"(bits {'identical' if same else 'differ'} on this machine; COMPATIBLE is what Intel and AMD share)")
            ratio, same = routes["openblas"]
            print(f"  the QA/AV-ASR route, OpenBLAS Haswell / MKL COMPATIBLE:  {ratio:.2f}x  "
                  f"(its bits {'the same' if same else 'DIFFER'} under both MKL settings)")
        for name, ratio in qa_step_route_cost(rounds=3 if args.quick else 5).items():
            print(f"QA training step, {name} (1 thread), MKL COMPATIBLE / the OpenBLAS route:  {ratio:.2f}x")
        ratio, t = avts_step_layout(rounds=3 if args.quick else 7)
        print(f"AVTS training step (1 thread, batch 64), NCHW / channels-last:  {ratio:.2f}x  "
              f"(NCHW {t['NCHW']:.1f} ms, channels-last {t['channels-last']:.1f} ms)")
        shared = avts_shared_start(epochs=6 if args.quick else 9)
        if shared is None:
            print("AVTS pretraining, shared start / apart:  not measured (no data/avsync: `dvc repro data_avsync`)")
        else:
            ratio, t, same = shared
            print(f"AVTS pretraining, a seed's curriculum + L3-style run, apart / shared start (1 thread):  "
                  f"{ratio:.2f}x  (apart {t['apart']:.1f} s, shared {t['shared start']:.1f} s; bits "
                  f"{'identical' if same else 'DIFFER'})")
    ratio, label, t = ddp_scaling(args.quick)
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
    print(f"DDP scaling, {label}, 2 ranks vs 1 (speed-up of fit):     {ratio:.2f}x  ({detail}; ideal 2x)")


if __name__ == "__main__":
    main()
