"""The statistics of the OGM-GE tables: each paired difference with its two-sided paired-t p-value, and Holm's
step-down correction of a table's family of p-values ("resolved" only when the adjusted p < 0.05).

Kept beside the stages that use them, not in `avlib.core.metrics`: every stage depends on that module, and a
new function there would re-run the whole pipeline for nothing."""

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from avlib.core.metrics import Paired
from avlib.core.metrics import paired_difference as _paired_difference


@dataclass(frozen=True)
class PairedTest(Paired):
    """A `Paired` difference with its two-sided paired-t p-value (None with one seed)."""

    p: float | None = None


def paired_difference(with_values, without_values, scale: float = 100.0) -> PairedTest:
    """`avlib.core.metrics.paired_difference` and the paired t-test's p-value of the same per-seed differences."""
    d = _paired_difference(with_values, without_values, scale)
    a, b = np.asarray(with_values, float) * scale, np.asarray(without_values, float) * scale
    return PairedTest(**asdict(d), p=paired_p(a - b))


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
