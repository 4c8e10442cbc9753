"""The run engine: every (spec, seed) run of a table, as fast as the device allows, same bits every time.

`run_specs(specs, seeds, data, ...)` is what notebooks call. It returns one `RunResult` per (spec, seed),
spec-major, whatever path ran them:

  workers  (CPU default) independent runs in worker processes, one single-threaded worker per core
           (`workers=0`: as many as this process may use). Every run is single-threaded and seeds
           itself, so results are bit-identical whatever the number of workers; `workers=1` runs them
           here, one after another.
  batched  (CUDA default) the seeds of one spec train together: their parameters stacked, one forward
           under `torch.func.vmap` (so one kernel launch serves every run), each run with its own init,
           data order, balancer coefficients and GE noise. It cuts launch overhead on a GPU; on the CPU it
           runs too (tests), but is no faster than workers there.
  ddp      (`ddp=N`, a stage's `ddp` knob) each run on N torchrun processes, DistributedDataParallel:
           for models too big or too slow for one GPU (`avlib.torchrun`); one launch for all the runs.

Resume: when `AVLAB_RESUME_DIR` is set (tools/run_stage.py sets it to reports/.<stage>.resume/), every
finished job of `run_tasks` (so every run of `run_specs` on the CPU) is pickled there under a key that hashes
the task, the job, the data and avlib's source; a stage killed mid-run and started again loads the finished
ones and trains only the rest, and its results are bit-identical to an uninterrupted run (they are the same
objects, unpickled). The runner removes the folder when the stage succeeds. The batched (GPU) path does not
checkpoint.

Why these two: on 2 CPU cores the step is compute-bound and one thread per run is the most efficient
use of the cores (2 one-thread workers ~1.9x one two-thread process, `make bench`); on a GPU the
AV-Digits step is launch-bound (the model is tiny), so stacking runs raises the work per launch.
"""

import copy
import enum
import hashlib
import os
import pickle
import time
import types
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from avlib.balance import Balancer
from avlib.experiment import RunResult, RunSpec, build_run, epoch_probes, probe_encoders, run_data, run_one
from avlib.models.classifier import AVOutput
from avlib.train import (
    OUTPUTS,
    FitResult,
    TrainConfig,
    make_optimizer,
    merge_epoch_logs,
    pick_device,
    predict,
    predict_split,
    split_metrics,
    train_step,
)

ENGINES = ("auto", "workers", "batched")


class EngineError(ValueError):
    """Runs that cannot go through the engine together (mixed devices, mismatched architectures)."""


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def single_threaded():
    """One intra-op thread for torch and for BLAS (scikit-learn's probe): the numerics of a run then do
    not depend on how many cores the machine has or how many runs share them."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


def run_specs(specs: list, seeds: list, data: dict, *, train: TrainConfig, model: dict | None = None,
              probe: bool = True, progress: bool = True, workers: int = 0, engine: str = "auto",
              ddp: int = 0) -> list[RunResult]:
    """Every spec at every seed; results in spec-major order (spec 0 at each seed, then spec 1, ...).
    `ddp=N` (N >= 1): each run trains on N torchrun processes instead (`avlib.torchrun`; one per GPU)."""
    if engine not in ENGINES:
        raise EngineError(f"engine={engine!r}; expected one of {ENGINES}")
    if not specs or not seeds:
        raise EngineError(f"run_specs needs at least one spec and one seed (got {len(specs)} and {len(seeds)})")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise EngineError(f"run_specs takes RunSpec items, got {spec!r}")
    device = pick_device(train.device)
    if engine == "auto":
        engine = "batched" if device.type == "cuda" else "workers"
    jobs = [(spec, seed) for spec in specs for seed in seeds]
    task = partial(_spec_task, train=train, model=model, probe=probe)
    if ddp:
        return run_tasks(task, jobs, data, ddp=ddp, ddp_device=train.device, progress=progress)
    if engine == "batched":
        return _run_batched(specs, seeds, data, train, model, probe, progress)
    if device.type != "cpu":
        raise EngineError(f"engine='workers' runs on the CPU; device={train.device!r} asks for {device}. "
                          "Use engine='batched' (the default on CUDA)")
    return run_tasks(task, jobs, data, workers=workers, progress=progress)


def _spec_task(job, data, *, train, model, probe, device=None) -> RunResult:
    """One (spec, seed) run; `device`: a torchrun rank's own device (`avlib.torchrun`)."""
    spec, seed = job
    train = train if device is None else replace(train, device=str(device))
    return run_one(spec, seed, data, train=train, model=model, probe=probe)


def run_tasks(task, jobs: list, data, *, workers: int = 0, progress: bool = True, desc: str = "runs",
              ddp: int = 0, ddp_device: str = "auto") -> list:
    """`task(job, data)` for every job, single-threaded, on the CPU; results in job order.

    The engine for task families that are not AV classifiers (event localization, QA, self-supervised
    pretraining, ...): each family writes its own small `train_<family>(job, data)` that seeds itself
    from the job and returns a picklable result; this runs the jobs in `workers` spawned processes (0: one
    per core, 1: here, one after another). `task` must be importable by name (a module-level function, or
    a `functools.partial` of one): workers pickle it. `data` reaches each worker once. Every call runs
    with one torch and one BLAS thread, so results are bit-identical whatever the number of workers.
    `ddp=N`: instead, one torchrun launch of N processes runs the jobs one after another, each on all N
    ranks (`avlib.torchrun`; `task` then takes a `device=` keyword: its rank's device; `ddp_device="cpu"`
    keeps the ranks off the GPUs); finished jobs are checkpointed when the launch returns.
    """
    if not jobs:
        raise EngineError("run_tasks needs at least one job")
    checkpoints = Checkpoints.from_env(task, data)
    results, todo = [None] * len(jobs), []
    for i, job in enumerate(jobs):
        found, result = checkpoints.load(job) if checkpoints else (False, None)
        if found:
            results[i] = result
        else:
            todo.append(i)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, disable=not progress)
    if len(todo) < len(jobs):
        bar.set_postfix_str(f"{len(jobs) - len(todo)} resumed")

    def finished(i, result):
        results[i] = result
        if checkpoints:
            checkpoints.save(jobs[i], result)
        bar.update()

    try:
        n = min(workers or available_cores(), max(len(todo), 1))
        if ddp and todo:
            from avlib.torchrun import launch

            launched = launch(task, [jobs[i] for i in todo], data, procs=ddp, device=ddp_device, progress=progress)
            for i, result in zip(todo, launched, strict=True):
                finished(i, result)
        elif n == 1:
            with single_threaded():
                for i in todo:
                    finished(i, task(jobs[i], data))
        elif todo:
            _run_in_workers(task, [(i, jobs[i]) for i in todo], n, data, finished)
        return results
    finally:
        bar.close()


# --- checkpoints (resume a killed stage) ------------------------------------------------------------

class Unfingerprintable(TypeError):
    pass


def fingerprint(obj, h=None, _seen=None):
    """A hash of `obj`'s content that is the same in every process (pickle is not: a set of strings
    pickles in hash-seed order, and torch.save stamps a random id), fed into `h` (sha256)."""
    h = h if h is not None else hashlib.sha256()
    seen = _seen if _seen is not None else {}  # id -> object: held, so that no id is reused meanwhile
    put = h.update
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes | enum.Enum | Path):
        put(f"{type(obj).__name__}:{obj!r};".encode())
        return h
    if id(obj) in seen:
        put(b"<cycle>;")
        return h
    seen[id(obj)] = obj
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        put(f"tensor{t.dtype}{tuple(t.shape)}:".encode())
        put(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif type(obj).__module__ == "numpy" and hasattr(obj, "tobytes"):
        put(f"ndarray{obj.dtype}{getattr(obj, 'shape', ())}:".encode() + obj.tobytes())
    elif isinstance(obj, dict):
        put(f"{type(obj).__name__}{{".encode())
        for k, v in obj.items():
            fingerprint(k, h, seen)
            fingerprint(v, h, seen)
        put(b"}")
    elif isinstance(obj, list | tuple):
        put(f"{type(obj).__name__}[".encode())
        for v in obj:
            fingerprint(v, h, seen)
        put(b"]")
    elif isinstance(obj, set | frozenset):
        put(b"set" + b"".join(sorted(fingerprint(v, None, seen).digest() for v in obj)))
    elif isinstance(obj, partial):
        put(b"partial")
        fingerprint((obj.func, obj.args, obj.keywords), h, seen)
    elif isinstance(obj, types.FunctionType | types.BuiltinFunctionType | type | types.ModuleType):
        put(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj.__name__)};".encode())
    elif isinstance(obj, torch.Generator):
        fingerprint(obj.get_state(), h, seen)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        put(f"{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        state = dict(getattr(obj, "__dict__", {}))
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                state[name] = getattr(obj, name)
        fingerprint(state, h, seen)
        put(b")")
    else:
        raise Unfingerprintable(f"cannot fingerprint a {type(obj).__qualname__} for resume")
    return h


def _source_fingerprint() -> str:
    """avlib's own code: a checkpoint made before an edit is never reused after it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class Checkpoints:
    """Finished jobs of one `run_tasks` call, one pickle each under `folder`, named by the hash of
    (avlib's source, the data, the task, the job)."""

    def __init__(self, folder: Path, base: str):
        self.folder, self.base = Path(folder), base

    @classmethod
    def from_env(cls, task, data):
        folder = os.environ.get("AVLAB_RESUME_DIR")
        if not folder:
            return None
        try:
            h = hashlib.sha256(_source_fingerprint().encode())
            fingerprint((task, data), h)
        except Exception as err:  # noqa: BLE001 - no resume, but the same results
            import warnings

            warnings.warn(f"{err}; this stage's runs will not be checkpointed", stacklevel=3)
            return None
        return cls(Path(folder), h.hexdigest())

    def path(self, job) -> Path | None:
        try:
            h = fingerprint(job, hashlib.sha256(self.base.encode()))
        except Exception:  # noqa: BLE001 - this job is not checkpointed; it still runs
            return None
        return self.folder / f"{h.hexdigest()[:32]}.pkl"

    def load(self, job):
        path = self.path(job)
        try:
            return True, pickle.loads(path.read_bytes())
        except (AttributeError, OSError, pickle.UnpicklingError, EOFError, ImportError):
            return False, None  # absent, or from code that no longer loads: run it again

    def save(self, job, result) -> None:
        from avlib.report import atomic_write_bytes  # a kill mid-write leaves no half checkpoint

        if (path := self.path(job)) is not None:
            atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))




def choose_on_val(specs: list, seed: int, data: dict, *, train: TrainConfig, model: dict | None = None,
                  workers: int = 0, progress: bool = True, ddp: int = 0):
    """Train each spec once at `seed` (a selection seed, outside the reported ones) and pick the best val
    accuracy (ties: the first). Returns (DataFrame of the grid, the chosen spec). Test is never looked at."""
    import pandas as pd

    runs = run_specs(specs, [seed], data, train=train, model=model, probe=False, progress=progress,
                     workers=workers, ddp=ddp)
    grid = pd.DataFrame([{"setting": r.label, "val_acc": r.fit.val["acc"], "val_audio_acc": r.fit.val.get("audio_acc"),
                          "val_visual_acc": r.fit.val.get("visual_acc")} for r in runs])
    best = int(grid["val_acc"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(runs))]
    return grid, specs[best]


# --- worker processes (CPU) ------------------------------------------------------------------------

_worker_data = None


def _init_worker(data):
    global _worker_data
    _worker_data = data
    torch.set_num_threads(1)


def _work(task, index, job):
    with single_threaded():
        return index, task(job, _worker_data)


def _run_in_workers(task, indexed_jobs, n, data, finished) -> None:
    """`finished(index, result)` for each (index, job), as the workers finish them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch.multiprocessing  # noqa: F401 - registers the pickler that moves tensors through shared memory

    # spawn, not fork: a forked child of a process with live OpenMP threads can deadlock. The data reach
    # each worker once (initializer). An executor, not a Pool: a worker that dies raises here, not hangs.
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(data,)) as pool:
        futures = [pool.submit(_work, task, i, job) for i, job in indexed_jobs]
        for future in as_completed(futures):
            finished(*future.result())


# --- batched runs (stacked parameters under vmap) --------------------------------------------------

class StackedRuns:
    """N models of one architecture as stacked tensors (leading run dimension); calling it runs the
    template module on every run's parameters and inputs at once under `vmap`.

    Exposes what `train_step` and `predict` use: `parameters()`, `train()`/`eval()`, and a call that
    returns an `AVOutput` of (N, B, K) logits.
    """

    def __init__(self, models: list):
        first = models[0]
        for m in models[1:]:
            shapes = ({n: p.shape for n, p in m.state_dict().items()},
                      {n: p.shape for n, p in first.state_dict().items()})
            if type(m) is not type(first) or shapes[0] != shapes[1]:
                raise EngineError("batched runs need one architecture; got "
                                  f"{type(first).__name__} and {type(m).__name__} with different parameters")
        devices = {p.device for m in models for p in m.state_dict().values()}
        if len(devices) != 1:
            raise EngineError(f"batched runs must live on one device; got {sorted(map(str, devices))}")
        self.template = copy.deepcopy(first).to("meta")
        self.params, self.buffers = stack_module_state(models)
        self.n = len(models)

    def parameters(self):
        return list(self.params.values())

    def train(self, mode: bool = True):
        self.template.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, audio, visual, features=None) -> AVOutput:
        shared = audio.dim() == 0 or audio.shape[0] != self.n or not self.template.training

        def one_run(params, buffers, a, v):
            out = functional_call(self.template, (params, buffers), (a, v), {"features": features})
            return {k: getattr(out, k) for k in OUTPUTS if getattr(out, k) is not None}  # vmap returns no None

        in_dims = (0, 0, None, None) if shared else (0, 0, 0, 0)
        out = vmap(one_run, in_dims=in_dims, randomness="different")(self.params, self.buffers, audio, visual)
        return AVOutput(**out)

    def state_dict(self, run: int) -> dict:
        return {k: v[run].detach().clone() for k, v in {**self.params, **self.buffers}.items()}


class StackedLoader:
    """Each run's own shuffled batches, gathered in one indexing op per tensor: (N, B, ...).

    Run r's order is exactly that of `make_loader(..., seed=seeds[r])` (one randperm per epoch from a
    generator seeded by the run's seed), so a run sees the same batches batched or alone.
    """

    def __init__(self, dataset, *, batch_size: int, seeds: list, device):
        if not hasattr(dataset, "__getitems__"):
            raise EngineError("batched runs need an in-memory dataset (with __getitems__); "
                              f"{type(dataset).__name__} decodes from disk: use engine='workers'")
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

    def __iter__(self):
        n = len(self.dataset)
        orders = torch.stack([torch.randperm(n, generator=g) for g in self.generators])  # (N, n)
        for start in range(0, n, self.batch_size):
            idx = orders[:, start : start + self.batch_size]
            batch = self.dataset.__getitems__(idx.reshape(-1))
            yield {k: v.view(*idx.shape, *v.shape[1:]).to(self.device, non_blocking=True) for k, v in batch.items()}


def _per_run(values: torch.Tensor) -> list[float]:
    return values.float().cpu().tolist()


def fit_stacked(models: list, method, data: dict, seeds: list, config: TrainConfig,
                progress: bool = False, epoch_callback=None) -> list[FitResult]:
    """`fit` for N runs of one architecture trained together; the same optimiser, schedule and per-run
    model selection on val. `method` is a balancing-method config (or None), built once on the stacked
    parameters; its noise generator is seeded by the first seed (each run still draws its own noise).
    `epoch_callback(model, epoch) -> dict` as in `fit`: called on each run's own model, loaded with that
    run's state of the epoch (the stack trains on its own copies, so the callback cannot touch training).
    A method whose hooks do not broadcast over runs (`batched = False`) is refused.
    Returns one FitResult per run; `models` end in their selected states."""
    start, start_cpu = time.perf_counter(), time.process_time()
    device = pick_device(config.device)
    if method is not None and not method.batched:
        raise EngineError(f"balancing method {method.name!r} cannot run batched: its hooks do not broadcast "
                          "over a leading run dimension; use engine='workers'")
    if config.amp and device.type == "cuda":
        # fp16 needs a GradScaler, and one scaler for the stack would skip every run's step when any one
        # run overflows: the runs would no longer be independent.
        raise EngineError("batched runs do not support amp=True on CUDA (one GradScaler would couple the "
                          "runs); set amp: false")
    stack = StackedRuns([m.to(device) for m in models])
    balancer = method.build(models[0], seed=seeds[0], params=stack.params) if method is not None else None
    train = StackedLoader(data["train"], batch_size=config.batch_size, seeds=seeds, device=device)
    evals = {s: _eval_loader(d) for s, d in data.items()}
    optimizer, scheduler = make_optimizer(None, config, params=stack.parameters())
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and device.type == "cuda")
    balancer = balancer or Balancer()
    histories = [[] for _ in models]
    best = [None] * len(models)
    best_states = [None] * len(models)
    for epoch in tqdm(range(config.epochs), desc="batched", disable=not progress, leave=False):
        stack.train()
        sums, n_batches = {}, 0
        for batch in train:
            logs = train_step(stack, batch, optimizer, scaler, balancer=balancer, epoch=epoch, amp=config.amp)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0) + v.float()
            n_batches += 1
        scheduler.step()
        val = _stacked_metrics(stack, evals["val"], device, config.amp)
        logged = {k: _per_run(v / n_batches) for k, v in sums.items()}
        records = [{"epoch": epoch, **{k: v[r] for k, v in logged.items()},
                    **{f"val_{k}": v for k, v in val[r].items()}} for r in range(stack.n)]
        if epoch_callback is not None:
            for r, model in enumerate(models):
                model.load_state_dict(stack.state_dict(r))
                records[r] = merge_epoch_logs(records[r], epoch_callback(model, epoch))
        balancer.epoch_end(epoch, {k: [rec[k] for rec in records] for k in records[0]},  # values: one per run
                           predict=partial(predict_split, stack, evals, device, config.amp))
        for r, record in enumerate(records):
            histories[r].append(record)
            if best[r] is None or record["val_acc"] > best[r]["val_acc"]:
                best[r], best_states[r] = record, stack.state_dict(r)
    results = []
    for r, model in enumerate(models):
        model.load_state_dict(best_states[r])
        model.to(device)
        p = predict(model, evals["test"], device, config.amp)
        results.append(FitResult(
            test=split_metrics(p["logits"], p["labels"], p["audio_logits"], p["visual_logits"]),
            val={k.removeprefix("val_"): v for k, v in best[r].items() if k.startswith("val_")},
            best_epoch=best[r]["epoch"], history=histories[r], wall_s=time.perf_counter() - start,
            cpu_s=(time.process_time() - start_cpu) / len(models)))
    return results


def _eval_loader(dataset):
    from avlib.data.loader import make_loader

    return make_loader(dataset, batch_size=256, shuffle=False)


def _stacked_metrics(stack: StackedRuns, loader, device, amp) -> list[dict]:
    p = predict(stack, loader, device, amp)  # logits (N, n, K); labels (n,)
    return [split_metrics(p["logits"][r], p["labels"],
                          None if p["audio_logits"] is None else p["audio_logits"][r],
                          None if p["visual_logits"] is None else p["visual_logits"][r]) for r in range(stack.n)]


def _run_batched(specs, seeds, data, train, model, probe, progress) -> list[RunResult]:
    """Each spec's seeds as one stack; specs one after another."""
    device = pick_device(train.device)
    results = []
    for spec in tqdm(specs, desc="specs (batched)", disable=not progress):
        try:
            nets = [build_run(spec, data["train"].n_classes, seed, model)[0] for seed in seeds]
            callback = epoch_probes(data, device) if spec.probe_every_epoch else None
            fits = fit_stacked(nets, spec.method, run_data(data, spec.method), seeds, train, epoch_callback=callback)
            for net, seed, fit in zip(nets, seeds, fits, strict=True):
                probes = probe_encoders(net, data, device) if probe else {"val": {}, "test": {}}
                results.append(RunResult(kind=spec.kind, label=spec.label, method=spec.method, seed=seed,
                                         fit=fit, probe=probes))
        finally:
            torch.use_deterministic_algorithms(False)
    return results
