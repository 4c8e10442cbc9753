"""Training for the bilinear AV-ASR stage: `train(job, data) -> AVASRResult`, one task of
`avlib.core.pool.run_tasks`.

One job = one (seed, audio SNR). It trains, in order, on frames of AV-Speech (`avlib.data.embedded.avspeech`):
  audio      audio-only DNN (`epochs`)         visual     visual-only DNN (`epochs`)
  concat     the joint concat control: a softmax on the concatenated last hidden layers, towers fine-tuned
  bilinear / factored / shared   the bilinear, factored bilinear and shared factored bilinear heads
  frozen     the notes' feature fusion: the concat softmax on the FROZEN towers (a reference row: it is the
             only fused model that does not fine-tune its towers; `frozen_epochs`, its own count, since it
             trains a softmax alone on cached features and converges on its own schedule)
  average    posteriors of `concat` and the bilinear variant whose average has the best val PER
The four fused networks (`FUSED`) are a fair comparison: each starts from copies of the SAME two uni-modal
towers, with the same linear terms (the concat head's init, `start_from_concat`; the bilinear weights start
at 0, so all four start as the same function), and trains the same `joint_epochs` with the same Adam
(lr, weight decay) over the same batches (one data order per seed): they differ only in the head.
Every model keeps the epoch of best val frame accuracy (ties: the earlier); its PER decoding penalty is chosen
on val PER from `penalties`. Test is only evaluated, never used to choose anything.
"""

import copy
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from avlib.core.matmul import openblas_matmuls
from avlib.core.runtime import seed_everything
from avlib.data.loader import make_loader
from avlib.models.bilinear import (
    BilinearSoftmax,
    BimodalDNN,
    FactoredBilinearSoftmax,
    FeatureFusionSoftmax,
    FrameDNN,
    average_log_posteriors,
    start_from_concat,
)
from avlib.tasks.asr.metrics import decode, frame_accuracy, phone_error_rate
from avlib.tasks.result import BestEpoch, Result

MODELS = ("audio", "visual", "frozen", "concat", "bilinear", "factored", "shared", "average")
BILINEAR_HEADS = ("bilinear", "factored", "shared")
FUSED = ("concat", *BILINEAR_HEADS)  # same towers, same init of the linear terms, same training: only the head differs


@dataclass(frozen=True)
class AVASRConfig:
    hidden: tuple = (256, 256)  # hidden layers before the bottleneck (the notes: 500, 500, then 200)
    bottleneck: int = 64  # last hidden layer, the fusion input (the notes: 200)
    rank: int = 64  # F, the fusion space of the factored heads (the notes: 200)
    epochs: int = 6  # uni-modal DNNs (the towers every fused model starts from)
    joint_epochs: int = 3  # every fused network (FUSED); also the frozen-tower softmax unless frozen_epochs is set
    frozen_epochs: int | None = None  # the frozen-tower softmax (None: joint_epochs); it trains on cached features
    batch_size: int = 256
    lr: float = 1e-3  # Adam, the uni-modal towers
    # the towers' one step decay: lr *= lr_gamma from epoch round(lr_decay_at * epochs) on (1.0: a constant lr)
    lr_decay_at: float = 1.0
    lr_gamma: float = 0.1
    joint_lr: float = 1e-3  # Adam, every fused network (FUSED) and the frozen-tower softmax: fine-tuning
    weight_decay: float = 1e-5  # λ
    penalties: tuple = (0.0, 2.0, 4.0, 8.0)  # decoding switch penalties tried on val


@dataclass(frozen=True)
class AVASRJob:
    seed: int
    snr_db: float
    config: AVASRConfig
    models: tuple = MODELS


@dataclass
class AVASRResult(Result):
    """One (seed, SNR), every model of `job.models`: val / test = {model: {"frame_acc", "per"}} (PER at the
    model's decoding penalty); best_epoch None (each model keeps its own epoch: `history` has one record per
    model and epoch), and:"""

    penalty: dict = field(default_factory=dict)  # {model: the decoding penalty chosen on val PER}
    partner: str | None = None  # the bilinear variant whose average with concat is "average" (chosen on val PER)
    epochs: dict = field(default_factory=dict)  # {model: epochs trained} (not "average": nothing trained)
    selected: dict = field(default_factory=dict)  # {model: the epoch of best val frame accuracy, 0-based}


class _Frames:
    """Fused-feature view of a split for the fusion softmax: precomputed (h1, h2) and labels."""

    def __init__(self, h1, h2, label):
        self.h1, self.h2, self.label = h1, h2, label

    def __len__(self):
        return len(self.label)

    def __getitems__(self, idx):
        idx = torch.as_tensor(idx)
        return {"audio": self.h1[idx], "visual": self.h2[idx], "label": self.label[idx]}


def _forward(kind: str, model: nn.Module, batch: dict) -> torch.Tensor:
    if kind == "audio":
        return model(batch["audio"])
    if kind == "visual":
        return model(batch["visual"])
    return model(batch["audio"], batch["visual"])


@torch.no_grad()
def log_posteriors(kind: str, model: nn.Module, split, batch_size: int = 4096) -> torch.Tensor:
    """(frames, C) log-softmax of `model` over every frame of `split`, in order."""
    model.eval()
    chunks = [torch.arange(a, min(a + batch_size, len(split))) for a in range(0, len(split), batch_size)]
    out = [torch.log_softmax(_forward(kind, model, split.__getitems__(chunk)), 1) for chunk in chunks]
    return torch.cat(out)


def fit_frames(kind: str, model: nn.Module, train, val, *, epochs: int, lr: float, cfg: AVASRConfig, seed: int,
               name: str | None = None, decay_epoch: int | None = None) -> list:
    """Adam on frame cross-entropy (the notes' objective: max Σ log p(y | x1, x2)); `model` is left at the
    epoch of best val frame accuracy (ties: the first). The batches depend only on `seed` (one data order per
    seed, whatever the model). From `decay_epoch` on (None: never) the lr is lr * cfg.lr_gamma. Returns its
    history, one record per epoch (with its lr), the selected one marked."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    loader = make_loader(train, batch_size=cfg.batch_size, shuffle=True, seed=seed)
    best, history = BestEpoch("val_frame_acc"), []
    for epoch in range(epochs):
        epoch_lr = lr * cfg.lr_gamma if decay_epoch is not None and epoch >= decay_epoch else lr
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr
        model.train()
        for batch in loader:
            loss = nn.functional.cross_entropy(_forward(kind, model, batch), batch["label"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        acc = frame_accuracy(log_posteriors(kind, model, val), val.label)
        history.append({"model": name or kind, "epoch": epoch, "lr": epoch_lr, "val_frame_acc": acc,
                        "selected": False})
        best.update(history[-1], model)
    best.restore(model)
    best.record["selected"] = True
    return history


def tower_decay_epoch(cfg: AVASRConfig) -> int | None:
    """The towers' first epoch at the decayed lr, or None for a constant lr (lr_decay_at 1.0)."""
    if not 0 < cfg.lr_decay_at <= 1:
        raise ValueError(f"lr_decay_at={cfg.lr_decay_at}; expected a fraction of the epochs in (0, 1]")
    epoch = round(cfg.lr_decay_at * cfg.epochs)
    return epoch if epoch < cfg.epochs else None


def frozen_epochs(cfg: AVASRConfig) -> int:
    """The frozen-tower softmax's epochs: its own count, or the fused networks' (None)."""
    return cfg.joint_epochs if cfg.frozen_epochs is None else cfg.frozen_epochs


def evaluate(log_probs: dict, splits: dict, cfg: AVASRConfig) -> dict:
    """{"val": {"frame_acc", "per"}, "test": {...}, "penalty"}: PER at the decoding penalty with the best val
    PER (ties: the first)."""
    groups, out = splits["val"].groups, {}
    for split in ("val", "test"):
        refs = [splits[split].reference(u).tolist() for u in range(splits[split].n_utterances)]
        out[split] = {"frame_acc": frame_accuracy(log_probs[split], splits[split].label),
                      "per": [phone_error_rate(refs, decode(log_probs[split], splits[split].frame_offsets, groups, pen))
                              for pen in cfg.penalties]}
    best = min(range(len(cfg.penalties)), key=lambda i: (out["val"]["per"][i], i))
    return {split: {"frame_acc": out[split]["frame_acc"], "per": out[split]["per"][best]} for split in ("val", "test")
            } | {"penalty": cfg.penalties[best]}


def _head(kind: str, cfg: AVASRConfig, n_classes: int, groups, concat: FeatureFusionSoftmax) -> nn.Module:
    """A fresh copy of the shared concat head, or a bilinear head given its linear terms."""
    if kind == "concat":
        return copy.deepcopy(concat)
    dims = dict(audio_dim=cfg.bottleneck, visual_dim=cfg.bottleneck, n_classes=n_classes)
    head = (BilinearSoftmax(**dims) if kind == "bilinear" else
            FactoredBilinearSoftmax(**dims, rank=cfg.rank, groups=groups if kind == "shared" else None))
    return start_from_concat(head, concat)


def fused_networks(towers: dict, cfg: AVASRConfig, n_classes: int, groups, seed: int) -> dict:
    """{kind: BimodalDNN} for every kind of FUSED: copies of the same two towers, the same linear terms (one
    concat head drawn from `seed`), the bilinear weights at 0: at the start, all compute the same logits."""
    seed_everything(seed)
    concat = FeatureFusionSoftmax(audio_dim=cfg.bottleneck, visual_dim=cfg.bottleneck, n_classes=n_classes)
    nets = {}
    for i, kind in enumerate(FUSED):
        seed_everything(seed + 1 + i)  # the factored heads' U1, U2 (they do not change the start: w = 0)
        nets[kind] = BimodalDNN(copy.deepcopy(towers["audio"]), copy.deepcopy(towers["visual"]),
                                _head(kind, cfg, n_classes, groups, concat))
    return nets


@openblas_matmuls()  # MKL's reproducible sgemm costs ~1.5x per run here (avlib/core/matmul.py)
def train(job: AVASRJob, data: dict) -> AVASRResult:
    """data: {snr_db: {"train", "val", "test": AVSpeech}}: every model of `job.models` at `job.snr_db`."""
    start, start_cpu = time.perf_counter(), time.process_time()
    splits = data[job.snr_db]
    cfg, train, val = job.config, splits["train"], splits["val"]
    n_classes = train.n_classes
    dims = {"audio": train[0]["audio"].numel(), "visual": train[0]["visual"].numel()}
    nets, logp, history = {}, {}, []
    for i, kind in enumerate(("audio", "visual")):
        seed_everything(job.seed * 1000 + i)
        nets[kind] = FrameDNN(in_dim=dims[kind], hidden=cfg.hidden, bottleneck=cfg.bottleneck, n_classes=n_classes)
        history += fit_frames(kind, nets[kind], train, val, epochs=cfg.epochs, lr=cfg.lr, cfg=cfg, seed=job.seed,
                              decay_epoch=tower_decay_epoch(cfg))
        logp[kind] = {s: log_posteriors(kind, nets[kind], splits[s]) for s in ("val", "test")}

    if "frozen" in job.models:  # the notes' feature fusion: the uni-modal feature spaces stay fixed
        with torch.no_grad():
            feats = {s: _Frames(*(nets[m].eval().features(splits[s].__getitems__(torch.arange(len(splits[s])))[m])
                                  for m in ("audio", "visual")), splits[s].label) for s in splits}
        seed_everything(job.seed * 1000 + 2)
        frozen = FeatureFusionSoftmax(audio_dim=cfg.bottleneck, visual_dim=cfg.bottleneck, n_classes=n_classes)
        history += fit_frames("fusion", frozen, feats["train"], feats["val"], epochs=frozen_epochs(cfg),
                              lr=cfg.joint_lr, cfg=cfg, seed=job.seed, name="frozen")
        logp["frozen"] = {s: log_posteriors("fusion", frozen, feats[s]) for s in ("val", "test")}

    wanted = [k for k in FUSED if k in job.models or "average" in job.models]
    fused = fused_networks(nets, cfg, n_classes, train.groups, job.seed * 1000 + 3)
    for kind in wanted:
        history += fit_frames(kind, fused[kind], train, val, epochs=cfg.joint_epochs, lr=cfg.joint_lr, cfg=cfg,
                            seed=job.seed)
        logp[kind] = {s: log_posteriors(kind, fused[kind], splits[s]) for s in ("val", "test")}

    scores = {kind: evaluate(logp[kind], splits, cfg) for kind in MODELS if kind in logp and kind in job.models}
    partner = None
    if "average" in job.models:
        candidates = {k: {s: average_log_posteriors(logp["concat"][s], logp[k][s]) for s in ("val", "test")}
                      for k in BILINEAR_HEADS if k in logp}
        scored = {k: evaluate(v, splits, cfg) for k, v in candidates.items()}
        partner = min(scored, key=lambda k: (scored[k]["val"]["per"], BILINEAR_HEADS.index(k)))
        scores["average"] = scored[partner]
    selected = {h["model"]: h["epoch"] for h in history if h["selected"]}
    trained = {m: sum(h["model"] == m for h in history) for m in selected}
    return AVASRResult(job=job, val={k: v["val"] for k, v in scores.items()},
                       test={k: v["test"] for k, v in scores.items()}, best_epoch=None, history=history,
                       wall_s=time.perf_counter() - start, cpu_s=time.process_time() - start_cpu,
                       penalty={k: v["penalty"] for k, v in scores.items()}, partner=partner,
                       epochs={k: v for k, v in trained.items() if k in scores},
                       selected={k: v for k, v in selected.items() if k in scores})
