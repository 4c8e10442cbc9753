"""Metrics: accuracy, mAP (macro average precision, scikit-learn), mean ± 95% CI over seeds, and paired
differences for "with vs without" comparisons that share seeds."""

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import average_precision_score


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(dim=1) == labels).float().mean().item()


def mean_average_precision(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Macro mAP: average precision of each class's softmax score (one-vs-rest), averaged over the classes
    present in `labels` (AP is undefined for a class with no positive; it is left out, not counted as 0)."""
    probs = torch.softmax(logits.double(), dim=1).numpy()
    onehot = np.eye(probs.shape[1])[labels.numpy()]
    present = onehot.sum(axis=0) > 0
    return float(average_precision_score(onehot[:, present], probs[:, present], average="macro"))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float | None]:
    """(mean, half-width of the Student-t confidence interval); half-width None for a single value
    (one seed says nothing about the spread: no interval is shown rather than '± 0')."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        raise ValueError("mean_ci needs at least one value")
    if len(x) < 2:
        return float(x.mean()), None
    half = stats.t.ppf((1 + confidence) / 2, df=len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)


@dataclass(frozen=True)
class Paired:
    """Per-seed differences `with - without` of one metric: their mean, t-interval and win count."""

    mean: float
    half: float | None  # 95% t half-width; None with one seed
    wins: int  # seeds where `with` is strictly higher
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.half is not None and abs(self.mean) > self.half

    def __str__(self) -> str:
        interval = f" ± {self.half:.1f}" if self.half is not None else ""
        return f"{self.mean:+.1f}{interval} ({self.wins}/{self.n})"


def paired_difference(with_values, without_values, scale: float = 100.0) -> Paired:
    """Paired difference over seeds: element i of both lists must come from the same seed (same init and
    data order), so the seed-to-seed spread cancels and a small effect can be resolved."""
    a, b = np.asarray(with_values, float) * scale, np.asarray(without_values, float) * scale
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired_difference needs two equal-length lists, got {len(a)} and {len(b)} values")
    mean, half = mean_ci(a - b)
    return Paired(mean=mean, half=half, wins=int((a > b).sum()), n=len(a))
