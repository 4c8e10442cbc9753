"""Gradient-Blending (Wang, Tran, Feiszli, "What Makes Training Multi-modal Classification Networks Hard?",
CVPR 2020), online G-Blend with each head's overfitting-to-generalization ratio measured on its own branch.

Heads k in {fused, audio, visual}: the fusion head and a linear head per modality on its encoder's features
(the config asks the model for `unimodal_heads`). The training loss is the blend (Sec. 3.3)
    L = sum_k w_k * L_k,        L_k = cross-entropy of head k.
The weights come from the overfitting-to-generalization ratio (OGR, Sec. 3.2) of each branch k trained alone
over a super-epoch of N epochs, from checkpoint n to n+N, L^T the train loss and L^V the held-out loss:
    G_k = L^V_k(n) - L^V_k(n+N)                                   generalization: held-out loss decrease
    O_k = [L^V_k(n+N) - L^T_k(n+N)] - [L^V_k(n) - L^T_k(n)]       overfitting: growth of the held-out/train gap
    OGR_k = |O_k / G_k|
    w_k = (G_k / O_k^2) / Z,    Z = sum_j G_j / O_j^2              (Proposition 1: the blend minimizing the OGR)
The paper's algorithms (Sec. 3.3, Algorithms 1-2): G-Blend trains each uni-modal model and the multi-modal one
for N epochs from the current checkpoint, measures G and O of each, and online G-Blend re-estimates the
weights at every super-epoch before training the joint model with them for the next N epochs.

Here, at a checkpoint: a copy of the joint model is trained from it on L_k alone, for each k
(`branches.train_copy`: the fused copy updates both encoders and the fusion head, the audio copy the audio
encoder and head, ...), and branch k's G_k and O_k are read off head k of that copy; the joint model's own
heads at the checkpoint give the losses at n. The copies are then dropped; the joint model trains on.

Readings where the paper leaves a choice (each stated, none tuned on test):
- held-out data: a fraction of *train* (`holdout`, fixed by `holdout_seed`), carved by the run
  (`avlib.tasks.classify.runs.run_data`); neither the joint model nor a copy trains on it; val and test are
  not touched. Losses are means over the whole (remaining) train split and the held-out split, in eval mode.
- checkpoints: the ends of epochs 0, N, 2N, ... The hooks reach the data first at the end of epoch 0, so
  epoch 0 trains with the uniform blend 1/3 (the paper's first estimate is at initialisation).
- the copies train for `copy_epochs` x N epochs (1.0: the paper's full super-epoch; less: cheaper, a
  shorter-horizon estimate) with SGD at `lr`, `momentum`, `weight_decay`, `batch_size`: the hooks cannot see
  the run's optimiser, so these are config fields (defaults: t3_imbalance's training settings). The copies
  follow the run's step schedule (`lr_step`, `lr_gamma`: the lr the run will use after the checkpoint):
  copies trained at 10x the run's decayed lr got *worse* on held-out data (G < 0 for nearly every head
  after the decay in Table 3's runs), which zeroed their weights and froze the blend on one head.
- G_k < 0 (branch k got worse on held-out data) counts as 0; |O_k| is floored at `min_overfit` so that a
  branch with a near-zero gap change does not take an infinite weight; if no branch generalised (Z = 0),
  the previous weights stay.
- starvation: the weights are the paper's, never clamped; a head whose weight is below `starve_below`
  (default 1/30: a tenth of the uniform share 1/3, a head the blend has all but switched off) is flagged in
  the logs (`gblend_starved_<head>` = 1). The threshold only reports; it changes no number.
Logs, every step (so every epoch's record, both engines): the weights in use `w_<head>` (the names the
t3_imbalance stage reads), and from the first estimate on, the measurements that produced them:
`gblend_G_<head>`, `gblend_O_<head>`, `gblend_ogr_<head>` (= |O|/G, G floored at 1e-8), `gblend_starved_<head>`.
Every quantity has the runs' leading dimension in the batched engine: weights (N, 3), one set per run.
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig, cross_entropy_runs
from avlib.balance.branches import copy_steps, run_handles, train_copy

HEADS = ("logits", "audio_head", "visual_head")  # AVOutput fields of the fused, audio and visual heads
NAMES = ("fused", "audio", "visual")


def head_losses(outputs, targets: torch.Tensor) -> torch.Tensor:
    """(..., 3): mean cross-entropy of each head (fused, audio, visual), per run. `outputs` is an
    AVOutput or a `predict` dict; targets (B,) are broadcast over a leading run dimension."""
    get = outputs.get if isinstance(outputs, dict) else lambda k: getattr(outputs, k)
    losses = []
    for head in HEADS:
        logits = get(head)
        if logits is None:
            raise ValueError(f"Gradient-Blending needs the model's per-modality heads; the output has no {head!r}")
        t = targets.expand(logits.shape[:-1]) if logits.dim() == 3 and targets.dim() == 1 else targets
        losses.append(cross_entropy_runs(logits, t))
    return torch.stack(losses, dim=-1)


def overfit_generalization(train0, held0, train1, held1) -> tuple[torch.Tensor, torch.Tensor]:
    """(G, O) from the losses at the two ends of a super-epoch (Sec. 3.2)."""
    return held0 - held1, (held1 - train1) - (held0 - train0)


def blend_weights(generalization, overfitting, previous, min_overfit: float) -> torch.Tensor:
    """w_k = (G_k / O_k^2) / Z over the last dimension, G_k < 0 counting as 0, |O_k| >= min_overfit; where
    Z = 0 the previous weights stay."""
    score = generalization.clamp_min(0) / overfitting.abs().clamp_min(min_overfit) ** 2
    z = score.sum(-1, keepdim=True)
    return torch.where(z > 0, score / z.clamp_min(1e-30), previous.expand_as(score))


class GradientBlending(Balancer):
    def __init__(self, *, super_epoch: int, min_overfit: float = 0.01, starve_below: float = 1 / 30,
                 copy_epochs: float = 1.0, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 1e-4,
                 batch_size: int = 64, seed: int = 0, lr_step: int = 0, lr_gamma: float = 0.1):
        if super_epoch < 1:
            raise ValueError(f"Gradient-Blending super_epoch={super_epoch}; expected >= 1")
        self.super_epoch, self.min_overfit, self.starve_below = super_epoch, min_overfit, starve_below
        self.copy = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "batch_size": batch_size}
        self.copy_epochs, self.seed, self.estimates = copy_epochs, seed, 0
        self.lr_step, self.lr_gamma = lr_step, lr_gamma
        self.weights = torch.full((3,), 1 / 3)  # (3,) or, once estimated on stacked runs, (N, 3)
        self.measured = None  # (G, O) of the last estimate
        self._run_shape = ()

    def loss(self, out, targets, epoch):
        losses = head_losses(out, targets)  # (..., 3)
        self._run_shape = losses.shape[:-1]
        self.weights = self.weights.to(losses.device)
        return (self.weights * losses).sum()

    def after_backward(self, out, targets, epoch) -> dict:
        w = self.weights.expand(*self._run_shape, 3)
        logs = {f"w_{name}": w[..., k] for k, name in enumerate(NAMES)}
        if self.measured is not None:
            g, o = (x.to(w.device).expand(*self._run_shape, 3) for x in self.measured)
            ogr = o.abs() / g.clamp_min(1e-8)
            starved = (w < self.starve_below).float()
            for k, name in enumerate(NAMES):
                logs |= {f"gblend_G_{name}": g[..., k], f"gblend_O_{name}": o[..., k],
                         f"gblend_ogr_{name}": ogr[..., k], f"gblend_starved_{name}": starved[..., k]}
        return logs

    def estimate(self, start: tuple, ends: tuple) -> None:
        """New weights from the losses (train, held-out), each (..., 3), at the checkpoint (`start`: the joint
        model's heads) and at the end of each branch's super-epoch (`ends`: head k of branch k's copy)."""
        generalization, overfitting = overfit_generalization(*start, *ends)
        self.measured = (generalization, overfitting)
        self.weights = blend_weights(generalization, overfitting, self.weights.to(generalization.device),
                                     self.min_overfit)

    def copy_lr(self, epoch: int) -> float:
        """The lr the run trains with after the checkpoint at the end of `epoch` (StepLR every `lr_step`
        epochs; 0: constant), which the branch copies train at."""
        decays = (epoch + 1) // self.lr_step if self.lr_step else 0
        return self.copy["lr"] * self.lr_gamma ** decays

    @torch.no_grad()
    def _losses(self, predict, splits=("train", "holdout")) -> list[torch.Tensor]:
        out = []
        for split in splits:
            p = predict(split)
            out.append(head_losses(p, p["labels"]))
        return out

    def epoch_end(self, epoch, record, predict=None) -> None:
        if epoch % self.super_epoch:
            return
        model, loaders, device, _ = run_handles(predict)
        start = self._losses(predict)
        train_set = loaders["train"].dataset
        steps = copy_steps(len(train_set), self.copy["batch_size"], self.copy_epochs * self.super_epoch)
        ends = [torch.empty_like(start[0]), torch.empty_like(start[1])]
        for k, head in enumerate(HEADS):
            branch = train_copy(model, train_set, head, steps=steps, seed=self.seed + 1000 * self.estimates + 100 * k,
                                device=device, **(self.copy | {"lr": self.copy_lr(epoch)}))
            measured = self._losses(partial_predict(predict, branch))
            for end, losses in zip(ends, measured, strict=True):
                end[..., k] = losses[..., k]  # branch k's own head only
        self.estimates += 1
        self.estimate(tuple(start), tuple(ends))


def partial_predict(predict, model):
    """fit's `predict` with another model in the run's place (the same loaders, device and amp)."""
    return type(predict)(predict.func, model, *predict.args[1:])


@dataclass(frozen=True)
class GBlendConfig(MethodConfig):
    super_epoch: int = 5
    holdout: float = 0.2  # fraction of train held out for the weights' held-out losses
    holdout_seed: int = 0
    min_overfit: float = 0.01
    starve_below: float = 1 / 30  # report (never clamp) a head whose weight falls below a tenth of 1/3
    copy_epochs: float = 1.0  # each branch copy trains this fraction of the super-epoch (1.0: the paper's)
    lr: float = 0.1  # the copies' SGD (the run's optimiser is out of the hooks' reach)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    lr_step: int = 0  # the run's StepLR period in epochs (0: constant lr), which the copies follow
    lr_gamma: float = 0.1
    name = "gradient_blending"

    def __post_init__(self):
        GradientBlending(super_epoch=self.super_epoch)  # raises on a bad setting
        if not 0 < self.holdout < 1:
            raise ValueError(f"Gradient-Blending holdout={self.holdout}; expected a fraction of train in (0, 1)")
        if not self.min_overfit > 0:
            raise ValueError(f"Gradient-Blending min_overfit={self.min_overfit}; expected > 0")
        if not 0 <= self.starve_below < 1:
            raise ValueError(f"Gradient-Blending starve_below={self.starve_below}; expected in [0, 1)")
        if self.lr_step < 0 or not 0 < self.lr_gamma <= 1:
            raise ValueError(f"Gradient-Blending lr_step={self.lr_step}, lr_gamma={self.lr_gamma}; expected >= 0 "
                             "and in (0, 1]")
        if not self.copy_epochs > 0 or not self.lr > 0 or self.batch_size < 1:
            raise ValueError(f"Gradient-Blending copy_epochs={self.copy_epochs}, lr={self.lr}, "
                             f"batch_size={self.batch_size}; expected > 0, > 0, >= 1")

    def describe(self) -> str:
        schedule = ", at the run's lr schedule" if self.lr_step else ""
        return (f"super-epoch {self.super_epoch}, branches trained {self.copy_epochs:g}× of it{schedule}, "
                f"held out {self.holdout:.0%} of train")

    def model_options(self) -> dict:
        return {"unimodal_heads": True}

    def build(self, model, *, seed: int, params: dict | None = None) -> GradientBlending:
        return GradientBlending(super_epoch=self.super_epoch, min_overfit=self.min_overfit,
                                starve_below=self.starve_below, copy_epochs=self.copy_epochs, lr=self.lr,
                                momentum=self.momentum, weight_decay=self.weight_decay,
                                batch_size=self.batch_size, seed=seed, lr_step=self.lr_step,
                                lr_gamma=self.lr_gamma)
