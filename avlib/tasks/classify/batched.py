"""Batched runs (the CUDA default): the seeds of one spec train together, their parameters stacked, one
forward under `torch.func.vmap` (one kernel launch serves every run), each run with its own init, data
order, balancer coefficients and GE noise. It cuts launch overhead on a GPU; on the CPU it runs too
(tests), but is no faster than the worker pool there."""

import copy
import time
from functools import partial

import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from avlib.balance import Balancer
from avlib.core.pool import EngineError
from avlib.core.runtime import pick_device
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.models.classifier import AVOutput
from avlib.tasks.classify.fit import (
    OUTPUTS,
    FitResult,
    TrainConfig,
    make_optimizer,
    merge_epoch_logs,
    predict,
    predict_split,
    split_metrics,
    test_record,
    train_step,
)
from avlib.tasks.classify.runs import (
    RunResult,
    build_run,
    class_probabilities,
    epoch_probes,
    probe_encoders,
    run_data,
)
from avlib.tasks.result import BestEpoch


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
    best = [BestEpoch() for _ in models]  # one selection per run, on its own val accuracy
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
            best[r].update(record, state=stack.state_dict(r))
        # logged only, after the balancer and the selection read the records (as in `fit`)
        for r, test in enumerate(_stacked_metrics(stack, evals["test"], device, config.amp)):
            records[r] |= test_record(test)
            histories[r].append(records[r])
    results = []
    for r, model in enumerate(models):
        best[r].restore(model)
        model.to(device)
        p = predict(model, evals["test"], device, config.amp)
        results.append(FitResult(
            test=split_metrics(p["logits"], p["labels"], p["audio_logits"], p["visual_logits"]),
            val=best[r].val, best_epoch=best[r].epoch, history=histories[r], wall_s=time.perf_counter() - start,
            cpu_s=(time.process_time() - start_cpu) / len(models)))
    return results


def _eval_loader(dataset):
    return make_loader(dataset, batch_size=EVAL_BATCH_SIZE, shuffle=False)


def _stacked_metrics(stack: StackedRuns, loader, device, amp) -> list[dict]:
    p = predict(stack, loader, device, amp)  # logits (N, n, K); labels (n,)
    return [split_metrics(p["logits"][r], p["labels"],
                          None if p["audio_logits"] is None else p["audio_logits"][r],
                          None if p["visual_logits"] is None else p["visual_logits"][r]) for r in range(stack.n)]


def run_batched(groups: list, data, progress) -> list[RunResult]:
    """`groups`: lists of `RunJob`s, each one spec at its seeds (one config): each list as one stack,
    the lists one after another."""
    results = []
    for jobs in tqdm(groups, desc="specs (batched)", disable=not progress):
        spec, config, seeds = jobs[0].spec, jobs[0].config, [job.seed for job in jobs]
        device = pick_device(config.device)
        try:
            nets = [build_run(spec, data["train"].n_classes, job.seed, job.model)[0] for job in jobs]
            callback = epoch_probes(data, device) if spec.probe_every_epoch else None
            fits = fit_stacked(nets, spec.method, run_data(data, spec.method), seeds, config, epoch_callback=callback)
            for job, net, fitted in zip(jobs, nets, fits, strict=True):
                probes = probe_encoders(net, data, device) if job.probe else {"val": {}, "test": {}}
                outputs = class_probabilities(net, data, device) if spec.keep_outputs else None
                results.append(RunResult.of(job, fitted, probes, outputs))
        finally:
            torch.use_deterministic_algorithms(False)
    return results
