"""Metrics: accuracy, mAP (macro average precision, scikit-learn) and mean ± 95% CI over seeds."""

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import average_precision_score


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(dim=1) == labels).float().mean().item()


def mean_average_precision(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Macro mAP: average precision of each class's softmax score (one-vs-rest), averaged over classes."""
    probs = torch.softmax(logits.double(), dim=1).numpy()
    onehot = np.eye(probs.shape[1])[labels.numpy()]
    present = onehot.sum(axis=0) > 0  # AP is undefined for a class absent from the split
    return float(average_precision_score(onehot[:, present], probs[:, present], average="macro"))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the Student-t confidence interval); half-width 0 for a single value."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), 0.0
    half = stats.t.ppf((1 + confidence) / 2, df=len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)
