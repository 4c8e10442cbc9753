"""`fit`: the one training loop every notebook uses (through `run_specs`).

SGD with momentum and StepLR (the OGM-GE paper's optimiser), model selection on val, test metrics of the
selected epoch, and a per-epoch log of the loss, rho, the balancer's logs, the fused and uni-modal val
accuracies, and the test accuracies of every epoch (test_acc, test_audio_acc, test_visual_acc: logged for
the report of what selecting on test would give, never read by the selection or by a balancer). A
balancing method plugs in through the hooks of `avlib.balance.Balancer`; `fit` calls them at fixed points
and has no branch for any method. Anything else to log per epoch (e.g. a linear probe of each encoder at
that epoch) comes in as `epoch_callback(model, epoch) -> dict`, merged into the epoch's record; it must
leave the model as it found it (eval-mode, no-grad reads), so training is unchanged.

No global state: everything a run depends on comes in through arguments. Logging, progress bars and
returned logs happen on rank 0 only, so the loop can run under torchrun/DDP unchanged.
"""

import time
from dataclasses import dataclass, field, fields
from functools import partial

import torch
from tqdm import tqdm

from avlib.balance import Balancer, contribution_ratio
from avlib.core import ddp
from avlib.core.memory import keep_freed_memory
from avlib.core.metrics import accuracy, mean_average_precision
from avlib.core.runtime import is_main_process, pick_device
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.models.classifier import AVOutput
from avlib.tasks.result import BestEpoch

OUTPUTS = [f.name for f in fields(AVOutput)]  # logits, audio_logits, visual_logits, audio_head, visual_head


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_decay_at: float = 0.7  # StepLR: lr *= lr_gamma every round(lr_decay_at * epochs) epochs (paper: 70 of 100)
    lr_gamma: float = 0.1
    seed: int = 0
    amp: bool = False  # mixed precision (bf16 on CPU, fp16 + grad scaling on CUDA)
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    num_workers: int = 0  # DataLoader processes for datasets decoded from disk

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"train {name}={getattr(self, name)}; expected >= 1")
        if not self.lr > 0:  # also rejects nan
            raise ValueError(f"train lr={self.lr}; expected > 0")
        if not 0 < self.lr_decay_at <= 1:
            raise ValueError(f"train lr_decay_at={self.lr_decay_at}; expected a fraction of the epochs in (0, 1]")

    @property
    def lr_step(self) -> int:
        """StepLR's step size in epochs."""
        return max(1, round(self.lr_decay_at * self.epochs))


@dataclass
class FitResult:
    """What `fit` returns for one model (no job: `runs.train` wraps it into the family's `RunResult`)."""

    test: dict  # metrics of the selected epoch on test: acc, map, audio_acc, visual_acc
    val: dict  # the same on val (what selected it)
    best_epoch: int
    history: list = field(default_factory=list)  # one dict per epoch
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process while training (batched runs: the stack's, shared out)


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def split_metrics(logits, labels, audio_logits=None, visual_logits=None) -> dict:
    """Fused accuracy and mAP, and each present modality's accuracy, over a whole split."""
    metrics = {"acc": accuracy(logits, labels), "map": mean_average_precision(logits, labels)}
    for m, lg in (("audio", audio_logits), ("visual", visual_logits)):
        if lg is not None:
            metrics[f"{m}_acc"] = accuracy(lg, labels)
    return metrics


@torch.no_grad()
def predict(model, loader, device, amp: bool = False) -> dict:
    """{"labels", and each `AVOutput` field: "logits", "audio_logits", ...} over a whole split (a field the
    model does not output: None). Leaves the model in eval mode."""
    model.eval()
    outs = {name: [] for name in OUTPUTS}
    labels = []
    for batch in loader:
        batch = _to(batch, device)
        with torch.autocast(device.type, enabled=amp):
            out = model(batch["audio"], batch["visual"])
        for name in outs:
            if getattr(out, name) is not None:
                outs[name].append(getattr(out, name).float().cpu())
        labels.append(batch["label"].cpu())
    return {"labels": torch.cat(labels), **{k: torch.cat(v, dim=-2) if v else None for k, v in outs.items()}}


def predict_split(model, loaders: dict, device, amp: bool, split: str) -> dict:
    """What a balancer's `epoch_end` may look at: any split of the run's data but test."""
    if split == "test" or split not in loaders:
        raise ValueError(f"a balancer may predict {sorted(set(loaders) - {'test'})}, not {split!r}")
    return predict(model, loaders[split], device, amp)


def evaluate(model, loader, device, amp: bool = False) -> dict:
    """Fused and uni-modal accuracy (+ fused mAP) over a whole split."""
    p = predict(model, loader, device, amp)
    return split_metrics(p["logits"], p["labels"], p["audio_logits"], p["visual_logits"])


def train_step(model, batch: dict, optimizer, scaler, *, balancer: Balancer | None = None, epoch: int = 0,
               amp: bool = False) -> dict:
    """One SGD step on a batch already on the device; returns detached tensors for the logs (one value per
    run: 0-dim for one model, (N,) for stacked runs)."""
    balancer = balancer or Balancer()
    device_type = batch["label"].device.type
    with torch.autocast(device_type, enabled=amp):
        out = model(batch["audio"], batch["visual"],
                    features=partial(balancer.features, epoch=epoch, targets=batch["label"]))
        loss = balancer.loss(out, batch["label"], epoch)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # balancers must see the true gradients
    logs = {}
    if out.audio_logits is not None and out.visual_logits is not None:
        logs["rho_audio"] = contribution_ratio(out.audio_logits, out.visual_logits, batch["label"])[0]
    logs |= balancer.after_backward(out, batch["label"], epoch)
    scaler.step(optimizer)
    scaler.update()
    return logs


def make_optimizer(model, config: TrainConfig, params=None):
    """SGD + StepLR, the paper's optimiser (OGM-GE Sec. 4.1)."""
    optimizer = torch.optim.SGD(params if params is not None else model.parameters(), lr=config.lr,
                                momentum=config.momentum, weight_decay=config.weight_decay)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)


TEST_LOGS = ("acc", "audio_acc", "visual_acc")  # logged per epoch as test_<key>


def test_record(metrics: dict) -> dict:
    """An epoch's test metrics as history keys (test_acc, test_audio_acc, test_visual_acc): what the official
    OGM-GE code and BalanceBenchmark select on, logged so a table can show the optimism of that protocol.
    Never read by the selection (BestEpoch reads val_acc) nor by a balancer (logged after both)."""
    return {f"test_{k}": metrics[k] for k in TEST_LOGS if k in metrics}


def merge_epoch_logs(record: dict, extra: dict) -> dict:
    """`record` with an epoch callback's values added; a key the record already has is an error, not an
    overwrite (a callback must never replace what training logged, e.g. val_acc that selects the epoch)."""
    clash = sorted(set(extra) & set(record))
    if clash:
        raise ValueError(f"epoch callback returned {clash}, already in the epoch's record; use new names")
    return record | extra


def fit(model, data: dict, config: TrainConfig, *, balancer: Balancer | None = None, progress: bool = True,
        desc: str = "fit", epoch_callback=None) -> FitResult:
    """Train `model` on data["train"], select the epoch with the best val accuracy, report it on test.

    data: {"train": Dataset, "val": Dataset, "test": Dataset, and any other split a method asked for,
    e.g. "holdout"}. The model must already be built (seed first: `seed_everything`); `fit` reseeds
    nothing but the shuffle order (from config.seed). The balancer's `epoch_end` can predict any split
    but test.
    Under torchrun (a process group of N > 1 ranks, `avlib.core.ddp.init`): the training steps run through
    DistributedDataParallel on this rank's share of each global batch of `config.batch_size`; every rank
    evaluates the whole of val/test (identical models, so identical selection); rank 0 alone shows
    progress. Without a process group nothing of this runs (the single-process path is unchanged).
    epoch_callback: optional `(model, epoch) -> dict`, called after each epoch's validation; its values
    join that epoch's history record (never the selection, which reads val_acc only).
    """
    keep_freed_memory()  # allocator only: ~1.14x faster per run, the same numbers (avlib/core/memory.py)
    start, start_cpu = time.perf_counter(), time.process_time()
    device = pick_device(config.device)
    model.to(device)
    pin = {"pin_memory": True} if device.type == "cuda" and config.num_workers > 0 else {}  # speed only
    shard = {"rank": ddp.rank(), "world_size": ddp.world_size()} if ddp.is_distributed() else {}
    train = make_loader(data["train"], batch_size=config.batch_size, shuffle=True, seed=config.seed,
                        num_workers=config.num_workers, **pin, **shard)
    evals = {s: make_loader(d, batch_size=EVAL_BATCH_SIZE, shuffle=False, num_workers=config.num_workers, **pin)
             for s, d in data.items()}
    net = ddp.wrap(model, device) if shard else model  # the same parameters; DDP averages their gradients
    val, test = evals["val"], evals["test"]
    optimizer, scheduler = make_optimizer(model, config)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and device.type == "cuda")
    balancer = balancer or Balancer()
    show = progress and is_main_process()

    history, best = [], BestEpoch()
    for epoch in tqdm(range(config.epochs), desc=desc, disable=not show, leave=False):
        model.train()
        sums, n_batches = {}, 0
        for batch in train:
            logs = train_step(net, _to(batch, device), optimizer, scaler, balancer=balancer, epoch=epoch,
                              amp=config.amp)
            for k, v in logs.items():  # summed on device: one host sync per epoch, not per step
                sums[k] = sums.get(k, 0) + v.float()
            n_batches += 1
        scheduler.step()
        ddp.sync_buffers(model)  # DDP only: every rank evaluates the same model
        record = {"epoch": epoch, **{k: (v / n_batches).item() for k, v in sums.items()}}
        record |= {f"val_{k}": v for k, v in evaluate(model, val, device, config.amp).items()}
        if epoch_callback is not None:
            record = merge_epoch_logs(record, epoch_callback(model, epoch))
        balancer.epoch_end(epoch, record, predict=partial(predict_split, model, evals, device, config.amp))
        best.update(record, model)  # keeps a copy of the weights when this epoch's val_acc is the best yet
        # logged only, after the balancer and the selection have read the record: never selects anything
        record |= test_record(evaluate(model, test, device, config.amp))
        history.append(record)

    best.restore(model)
    return FitResult(
        test=evaluate(model, test, device, config.amp),
        val=best.val,
        best_epoch=best.epoch,
        history=history,
        wall_s=time.perf_counter() - start,
        cpu_s=time.process_time() - start_cpu,
    )
