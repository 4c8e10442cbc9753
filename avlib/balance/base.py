"""The balancing-method protocol: the few points where `fit` lets a method act, each a no-op by default.

    features(a, v, epoch)            after the encoders, training only   -> (a, v)   e.g. modality dropout
    loss(out, targets, epoch)        the training loss                   -> tensor   e.g. Gradient-Blending
    after_backward(out, targets, epoch)  between backward and the step   -> logs     e.g. OGM-GE
    epoch_end(epoch, record)         after each epoch's validation       -> None     e.g. running targets
                                     (record: that epoch's log; batched runs: each value a list, one per run)

A method overrides the hooks it needs; `fit` calls all four and has no branch for any method.

Every hook must accept a leading *run* dimension: inside the batched engine, N runs of one architecture
train together, logits are (N, B, K) and targets (N, B), parameters are stacked (N, ...). Written with
`...`-broadcasting, the same code serves one run and N.
"""

import torch
import torch.nn.functional as F


def cross_entropy_per_run(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each run, summed over runs: (B, K) -> (), (N, B, K) -> () with each run's
    gradient exactly that of its own mean loss (a mean over N*B would scale every gradient by 1/N)."""
    if logits.dim() == 3:
        return F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none").mean(-1).sum()
    return F.cross_entropy(logits.float(), targets)


class Balancer:
    """No balancing: plain joint training. Subclass and override the hooks a method needs."""

    def features(self, a: torch.Tensor, v: torch.Tensor, epoch: int):
        return a, v

    def loss(self, out, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        return cross_entropy_per_run(out.logits, targets)

    def after_backward(self, out, targets: torch.Tensor, epoch: int) -> dict:
        return {}

    def epoch_end(self, epoch: int, record: dict) -> None:
        return None
