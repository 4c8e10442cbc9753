"""The balancing-method protocol: the few points where `fit` lets a method act, each a no-op by default.

    features(a, v, epoch, targets=, unimodal=)  after the encoders, training only -> (a, v)  modality dropout, OPM
    loss(out, targets, epoch)                   the training loss                 -> tensor  Gradient-Blending
    after_backward(out, targets, epoch)         between backward and the step     -> logs    OGM-GE, AGM, MMPareto
    epoch_end(epoch, record, predict=)          after each epoch's validation     -> None    Gradient-Blending
        record: that epoch's log (batched runs: each value a list, one per run); predict(split) -> the
        `avlib.tasks.classify.fit.predict` dict of a split of the run's data ("train", "holdout", "val"), in eval mode.

`features` gets the batch's targets and `unimodal(a, v) -> (audio_logits, visual_logits)`, the fusion
head's uni-modal split (what OPM scores the modalities with). A method overrides the hooks it needs;
`fit` calls all four and has no branch for any method.

A method's *config* (a frozen dataclass, see `MethodConfig`) builds the balancer and may ask the run for
two things, both generic, read by `avlib.tasks.classify.runs`, never by `fit`:
    model_options()  extra `build_classifier` options, e.g. {"unimodal_heads": True} (Gradient-Blending,
                     MMPareto: a trainable classifier per modality, `AVOutput.audio_head`/`visual_head`)
    holdout          a fraction of train carved off as data["holdout"] (fixed by `holdout_seed`, the
                     same for every seed of a row), never taken from val or test
and declares `batched`: whether its hooks broadcast over a leading run dimension (below).

Every hook of a `batched` method must accept a leading *run* dimension: inside the batched engine, N runs of
one architecture train together, logits are (N, B, K) and targets (N, B), parameters are stacked (N, ...);
`features` runs inside `vmap`, once per run. Written with `...`-broadcasting, the same code serves one run
and N. A method that cannot sets `batched = False`, and the batched engine refuses it with an EngineError.
"""

import torch
import torch.nn.functional as F
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def cross_entropy_runs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each run: (B, K) -> (), (N, B, K) -> (N,)."""
    if logits.dim() == 3:
        return F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none").mean(-1)
    return F.cross_entropy(logits.float(), targets)


def cross_entropy_per_run(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each run, summed over runs: (B, K) -> (), (N, B, K) -> () with each run's
    gradient exactly that of its own mean loss (a mean over N*B would scale every gradient by 1/N)."""
    return cross_entropy_runs(logits, targets).sum()


def per_run(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A run-shaped tensor (N,) or () viewed to broadcast against a stacked tensor (N, ...)."""
    return x.reshape(x.shape + (1,) * (like.dim() - x.dim()))


def encoder_params(encoder: nn.Module, which: str = "conv") -> list[nn.Parameter]:
    """An encoder's parameters a method acts on: 'conv' = convolution weights, 'all' = every parameter."""
    if which == "all":
        return list(encoder.parameters())
    if which == "conv":
        return [m.weight for m in encoder.modules() if isinstance(m, _CONV)]
    raise ValueError(f"OGM params={which!r}; expected 'conv' or 'all'")


def encoder_param_names(model: nn.Module, which: str = "conv", method: str = "this method") -> dict:
    """{"audio": [names], "visual": [names]}: each encoder's parameters (`encoder_params`), by name in
    `model`, chosen by module type and identity, never by a name substring."""
    if getattr(model, "audio_encoder", None) is None or getattr(model, "visual_encoder", None) is None:
        raise ValueError(f"{method} needs two modalities; this model has one encoder")
    names = {id(p): n for n, p in model.named_parameters()}
    return {m: [names[id(p)] for p in encoder_params(getattr(model, f"{m}_encoder"), which)]
            for m in ("audio", "visual")}


class Balancer:
    """No balancing: plain joint training. Subclass and override the hooks a method needs."""

    def features(self, a: torch.Tensor, v: torch.Tensor, epoch: int, targets=None, unimodal=None):
        return a, v

    def loss(self, out, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        return cross_entropy_per_run(out.logits, targets)

    def after_backward(self, out, targets: torch.Tensor, epoch: int) -> dict:
        return {}

    def epoch_end(self, epoch: int, record: dict, predict=None) -> None:
        return None


class MethodConfig:
    """Defaults of the config side of the protocol; a method's frozen dataclass inherits them."""

    name = "none"
    holdout = 0.0  # fraction of train carved off as data["holdout"]
    holdout_seed = 0
    batched = True  # the hooks broadcast over a leading run dimension

    def model_options(self) -> dict:
        return {}

    def describe(self) -> str:
        return ""
