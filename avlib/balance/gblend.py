"""Gradient-Blending (Wang, Tran, Feiszli, "What Makes Training Multi-modal Classification Networks Hard?",
CVPR 2020), online variant.

Heads k in {fused, audio, visual}: the fusion head and a linear head per modality on its encoder's features
(the config asks the model for `unimodal_heads`). The training loss is the blend (Sec. 3)
    L = sum_k w_k * L_k,        L_k = cross-entropy of head k.
The weights come from the overfitting-to-generalization ratio (OGR, Sec. 3) over a super-epoch of N epochs,
between checkpoints n and n+N, with L^T the train loss and L^V the loss on held-out data:
    G_k = L^V_k(n) - L^V_k(n+N)                                   generalization: held-out loss decrease
    O_k = [L^V_k(n+N) - L^T_k(n+N)] - [L^V_k(n) - L^T_k(n)]       overfitting: growth of the held-out/train gap
    w_k = (G_k / O_k^2) / Z,    Z = sum_j G_j / O_j^2              (Sec. 3: the OGR-minimizing blend and its estimate)
and online G-Blend re-estimates them at every super-epoch.

Readings where the paper leaves a choice (each stated, none tuned on test):
- held-out data: a fraction of *train* (`holdout`, fixed by `holdout_seed`), carved by the run
  (`avlib.tasks.classify.runs.run_data`); the model never trains on it; val and test are not touched.
- the losses at a checkpoint: each head's mean cross-entropy over the whole (remaining) train split and
  over the held-out split, in eval mode, at the end of epochs 0, N, 2N, ... (there is no checkpoint before
  the first epoch); epochs 0..N train with uniform weights 1/3.
- the losses are those of the jointly trained model's own heads over the last super-epoch. The paper's
  online algorithm can also be read as training each uni-modal model from the checkpoint for a super-epoch
  (BalanceBenchmark does so with a temporary copy of the model); that costs K extra trainings per super-epoch.
- G_k < 0 (head k got worse on held-out data) counts as 0; |O_k| is floored at `min_overfit` so that a
  head with a near-zero gap change does not take an infinite weight; if no head generalised (Z = 0),
  the previous weights stay.
Every quantity has the runs' leading dimension in the batched engine: weights (N, 3), one set per run.
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig, cross_entropy_runs

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


def blend_weights(generalization, overfitting, previous, min_overfit: float) -> torch.Tensor:
    """w_k = (G_k / O_k^2) / Z over the last dimension, G_k < 0 counting as 0, |O_k| >= min_overfit; where
    Z = 0 the previous weights stay."""
    score = generalization.clamp_min(0) / overfitting.abs().clamp_min(min_overfit) ** 2
    z = score.sum(-1, keepdim=True)
    return torch.where(z > 0, score / z.clamp_min(1e-30), previous.expand_as(score))


class GradientBlending(Balancer):
    def __init__(self, *, super_epoch: int, min_overfit: float = 0.01):
        if super_epoch < 1:
            raise ValueError(f"Gradient-Blending super_epoch={super_epoch}; expected >= 1")
        self.super_epoch, self.min_overfit = super_epoch, min_overfit
        self.weights = torch.full((3,), 1 / 3)  # (3,) or, once estimated on stacked runs, (N, 3)
        self.checkpoint = None  # (train losses, held-out losses) at the last checkpoint
        self._run_shape = ()

    def loss(self, out, targets, epoch):
        losses = head_losses(out, targets)  # (..., 3)
        self._run_shape = losses.shape[:-1]
        self.weights = self.weights.to(losses.device)
        return (self.weights * losses).sum()

    def after_backward(self, out, targets, epoch) -> dict:
        w = self.weights.expand(*self._run_shape, 3)
        return {f"w_{name}": w[..., k] for k, name in enumerate(NAMES)}

    def update(self, train_losses: torch.Tensor, holdout_losses: torch.Tensor) -> None:
        """A checkpoint: per-head losses (..., 3) on train and held-out data; new weights from the last one."""
        if self.checkpoint is not None:
            train0, held0 = self.checkpoint
            generalization = held0 - holdout_losses
            overfitting = (holdout_losses - train_losses) - (held0 - train0)
            self.weights = blend_weights(generalization, overfitting, self.weights.to(held0.device),
                                         self.min_overfit)
        self.checkpoint = (train_losses, holdout_losses)

    @torch.no_grad()
    def epoch_end(self, epoch, record, predict=None) -> None:
        if epoch % self.super_epoch:
            return
        measured = []
        for split in ("train", "holdout"):
            p = predict(split)
            measured.append(head_losses(p, p["labels"]))
        self.update(*measured)


@dataclass(frozen=True)
class GBlendConfig(MethodConfig):
    super_epoch: int = 5
    holdout: float = 0.2  # fraction of train held out for the weights' held-out losses
    holdout_seed: int = 0
    min_overfit: float = 0.01
    name = "gradient_blending"

    def __post_init__(self):
        GradientBlending(super_epoch=self.super_epoch)  # raises on a bad setting
        if not 0 < self.holdout < 1:
            raise ValueError(f"Gradient-Blending holdout={self.holdout}; expected a fraction of train in (0, 1)")
        if not self.min_overfit > 0:
            raise ValueError(f"Gradient-Blending min_overfit={self.min_overfit}; expected > 0")

    def describe(self) -> str:
        return f"super-epoch {self.super_epoch}, held out {self.holdout:.0%} of train"

    def model_options(self) -> dict:
        return {"unimodal_heads": True}

    def build(self, model, *, seed: int, params: dict | None = None) -> GradientBlending:
        return GradientBlending(super_epoch=self.super_epoch, min_overfit=self.min_overfit)
