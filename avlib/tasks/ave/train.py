"""Segment-level training for audio-visual event localization (AVE, AV-Events), ± OGM-GE.

`train(job, data) -> AVEResult` is the task `avlib.core.pool.run_tasks` runs: one model (AVGA-lite or PSP-lite) at one
seed, with or without OGM-GE, trained with the optimiser of `avlib.tasks.classify.fit` (SGD + momentum + StepLR, as the
OGM-GE paper; OGM scales gradients, which an adaptive optimiser would largely undo), the epoch selected on
val segment accuracy, reported on test. Each clip's T segments are T classification targets: the loss is
the cross-entropy over every segment of the batch, and OGM-GE's scores (Eq. 6) sum over those segments.

OGM-GE is `avlib.balance.OGMGE` built on the model's explicit parameter groups (`model.param_groups()`:
the parameters before fusion, for PSP those before the PSP module) and called between backward and the
step with the flattened per-segment audio and visual shares of the logits (see each model's docstring).
"""

import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from avlib.balance import contribution_ratio
from avlib.balance.ogm import OGMGE
from avlib.core.matmul import openblas_matmuls
from avlib.core.memory import keep_freed_memory
from avlib.core.runtime import seed_everything
from avlib.data.loader import make_loader
from avlib.models.avga import AVGA
from avlib.models.psp import PSP
from avlib.tasks.classify.fit import TrainConfig, make_optimizer
from avlib.tasks.result import BestEpoch, Result

MODELS = {"avga": AVGA, "psp": PSP}
MODEL_NAMES = {"avga": "AVGA-lite", "psp": "PSP-lite"}


@dataclass(frozen=True)
class SegmentTrainConfig:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_decay_at: float = 0.7
    lr_gamma: float = 0.1
    hidden: int = 32  # BiLSTM size per direction
    dim_attention: int = 32  # audio-guided attention space
    psp_threshold: float = 0.095  # PSP's tau (Eq. 2); a row of 10 uniform affinities is 0.1

    def optimiser(self, seed: int) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, lr_decay_at=self.lr_decay_at, lr_gamma=self.lr_gamma,
                           seed=seed, device="cpu")


@dataclass(frozen=True)
class AVEJob:
    """One run: `model` in MODELS, `alpha` None (plain) or OGM-GE's alpha, the seed, the training knobs."""

    model: str
    alpha: float | None
    seed: int
    config: SegmentTrainConfig = field(default_factory=SegmentTrainConfig)

    @property
    def label(self) -> str:
        return self.model + ("" if self.alpha is None else "+ogm_ge")


@dataclass
class AVEResult(Result):
    """`Result`; val and test alike (`evaluate`): acc (segment-level), audio_acc, visual_acc (each share alone),
    acc_without_audio, acc_without_visual (each branch's ablation)."""

    label = property(lambda self: self.job.label)
    seed = property(lambda self: self.job.seed)


def segment_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """AVE's metric: correctly classified segments (events and background alike) over all segments.
    logits (N, T, K), labels (N, T)."""
    return (logits.argmax(-1) == labels).float().mean().item()


def majority_rate(dataset) -> float:
    """Share of the most frequent segment label (AV-Events: background): what a constant predictor scores.
    t4_ave reads it on test beside its table, premise_avevents on val for its criteria."""
    return float(np.bincount(dataset.label.reshape(-1).numpy()).max() / dataset.label.numel())


def build_model(name: str, n_classes: int, config: SegmentTrainConfig):
    if name not in MODELS:
        raise ValueError(f"event-localization model {name!r}; expected one of {sorted(MODELS)}")
    extra = {"threshold": config.psp_threshold} if name == "psp" else {}
    return MODELS[name](n_classes=n_classes, hidden=config.hidden, dim_attention=config.dim_attention, **extra)


@torch.no_grad()
def evaluate(model, dataset) -> dict:
    model.eval()
    outs = {"logits": [], "audio_logits": [], "visual_logits": []}
    labels = []
    for batch in make_loader(dataset, batch_size=128, shuffle=False):
        out = model(batch["audio"], batch["visual"])
        for k in outs:
            outs[k].append(getattr(out, k))
        labels.append(batch["label"])
    labels, shares = torch.cat(labels), {m: torch.cat(outs[f"{m}_logits"]) for m in ("audio", "visual")}
    # each branch's ablation: the fused accuracy with that share replaced by its mean over the split's segments.
    # A share alone can sit at the majority rate while its branch works: AVGA-lite's visual share on AV-Events
    # gated (background or not) when its frames did not say which digit (issue #27); its ablation shows what it adds
    mean = {m: s.mean((0, 1)) for m, s in shares.items()}
    out = {"acc": segment_accuracy(torch.cat(outs["logits"]), labels),
           "audio_acc": segment_accuracy(shares["audio"], labels),
           "visual_acc": segment_accuracy(shares["visual"], labels),
           "acc_without_audio": segment_accuracy(mean["audio"] + shares["visual"], labels),
           "acc_without_visual": segment_accuracy(shares["audio"] + mean["visual"], labels)}
    return out | event_readings(shares, labels)


def event_readings(shares: dict, labels: torch.Tensor) -> dict:
    """What each share alone says on the EVENT segments (label != background, the last label): the fraction where
    it names the right class and where it says background. A share can gate (background or not) without naming
    classes; its accuracy over all segments, mostly background, cannot tell the two apart. NaN with no event."""
    event = labels != shares["audio"].shape[-1] - 1
    out = {}
    for m, s in shares.items():
        predicted = s.argmax(-1)[event]
        out[f"{m}_event_names_class"] = (predicted == labels[event]).float().mean().item()
        out[f"{m}_event_says_background"] = (predicted == s.shape[-1] - 1).float().mean().item()
    return out


@openblas_matmuls()  # MKL's reproducible sgemm costs ~1.7x per run here (avlib/core/matmul.py)
def train(job: AVEJob, data: dict) -> AVEResult:
    """Train job.model on data["train"] (± OGM-GE), select on val, report test (module docstring)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    keep_freed_memory()  # allocator only: ~1.02x per job, the same numbers (avlib/core/memory.py)
    seed_everything(job.seed)
    model = build_model(job.model, data["train"].n_classes, job.config)
    optim_config = job.config.optimiser(job.seed)
    optimizer, scheduler = make_optimizer(model, optim_config)
    balancer = None
    if job.alpha is not None:
        groups = model.param_groups()
        balancer = OGMGE(audio_params=groups["audio"], visual_params=groups["visual"], alpha=job.alpha, ge=True,
                         seed=job.seed)
    batches = make_loader(data["train"], batch_size=optim_config.batch_size, shuffle=True, seed=job.seed)
    history, best = [], BestEpoch()
    for epoch in range(optim_config.epochs):
        model.train()
        sums, n_batches = {}, 0
        for batch in batches:
            out = model(batch["audio"], batch["visual"])
            k = out.logits.shape[-1]
            flat = SimpleNamespace(logits=out.logits.reshape(-1, k), audio_logits=out.audio_logits.reshape(-1, k),
                                   visual_logits=out.visual_logits.reshape(-1, k))
            targets = batch["label"].reshape(-1)
            loss = F.cross_entropy(flat.logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            rho = contribution_ratio(flat.audio_logits.detach(), flat.visual_logits.detach(), targets)[0]
            logs = {"loss": loss.detach(), "rho_audio": rho}
            if balancer is not None:
                logs |= balancer.after_backward(flat, targets, epoch)
            optimizer.step()
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            n_batches += 1
        scheduler.step()
        record = {"epoch": epoch, **{k: v / n_batches for k, v in sums.items()},
                  **{f"val_{k}": v for k, v in evaluate(model, data["val"]).items()}}
        best.update(record, model)  # selects on val_acc only, before test is looked at
        # test of every epoch, logged AFTER the selection: runs.csv's optimism of selecting on test (the
        # protocol of the official OGM-GE code); never read by the selection
        history.append(record | {f"test_{k}": v for k, v in evaluate(model, data["test"]).items()})
    best.restore(model)
    return AVEResult(job=job, val=best.val, test=evaluate(model, data["test"]), best_epoch=best.epoch,
                     history=history, wall_s=time.perf_counter() - start, cpu_s=time.process_time() - start_cpu)
