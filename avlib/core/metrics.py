"""Metrics: accuracy, mAP (macro average precision, scikit-learn), mean ± 95% CI over seeds, paired
differences for "with vs without" comparisons that share seeds (with their two-sided paired-t p-value), and
Holm's step-down correction of a table's p-values (`holm`)."""

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
    p: float | None = None  # two-sided paired-t p-value of mean != 0; None with one seed

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
    return Paired(mean=mean, half=half, wins=int((a > b).sum()), n=len(a), p=paired_p(a - b))


def paired_p(differences) -> float | None:
    """Two-sided one-sample t-test p-value of mean(differences) != 0 (the paired t-test). None with one value
    (no spread to test against); with zero spread: 0 when the mean is not 0 (every seed moved the same way by
    the same amount), 1 when it is."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (sd / np.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), df=len(d) - 1))


def holm(pvalues) -> list:
    """Holm's step-down adjustment of a family of p-values, in the input order: sort ascending, multiply the
    i-th smallest (i from 0) by (m - i), take the running maximum (adjusted p-values never decrease along the
    sorted order), cap at 1. Controls the family-wise error rate at any level without assumptions on the
    dependence between the tests. None entries (a comparison with no p-value, e.g. one seed) stay None and
    do not count in m."""
    values = list(pvalues)
    present = [i for i, v in enumerate(values) if v is not None]
    m, out, running = len(present), [None] * len(values), 0.0
    for rank, i in enumerate(sorted(present, key=lambda i: values[i])):
        if not 0 <= values[i] <= 1:
            raise ValueError(f"holm: p-values must lie in [0, 1], got {values[i]}")
        running = max(running, min(1.0, (m - rank) * values[i]))
        out[i] = running
    return out


def holm_verdict(adjusted: float | None, m: int, alpha: float = 0.05) -> str:
    """Plain words for one comparison of a family of `m` after Holm: resolved or not, with the adjusted p."""
    if adjusted is None:
        return "not resolved (one seed: no p-value)"
    if adjusted < alpha:
        return f"resolved after Holm correction over {m} comparisons (adjusted p = {format_p(adjusted)})"
    return f"not resolved (adjusted p = {format_p(adjusted)}, Holm over {m} comparisons)"


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"
