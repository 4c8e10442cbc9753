"""The paired Δs of the QA tables with the test questions' sampling counted as well (issue #28). Kept apart
from `stats.py`, which every OGM-GE, AVTS and AV-ASR stage imports: a function added there would re-run them."""

import numpy as np

from avlib.core.metrics import Paired


def with_test_sampling(d: Paired, with_correct: list, without_correct: list, clusters, *, reps: int = 2000,
                       seed: int = 0) -> float | None:
    """The 95% half-width (points) of the paired difference `d` that also counts the sampling of the test
    questions: the seed interval (d.half, Student t over seeds, the questions held fixed) and 1.96 x the SD of
    the seed-mean difference over a bootstrap of the test questions, resampled by cluster (`clusters`: one id
    per question, its video: the questions of a video are not independent), added in quadrature. Each of
    `with_correct` / `without_correct` holds one string per seed, "1"/"0" per test question (the same order,
    paired by seed). None when a run lacks its per-question results or d has no seed interval."""
    if d.half is None or not with_correct or any(not s for s in (*with_correct, *without_correct)):
        return None
    right = [np.frombuffer(s.encode(), np.uint8) - ord("0") for s in (*with_correct, *without_correct)]
    a, b = np.stack(right[: len(with_correct)]), np.stack(right[len(with_correct):])
    per_question = 100.0 * (a.astype(float) - b).mean(axis=0)  # the seed-mean difference of each question
    _, cluster = np.unique(np.asarray(clusters), return_inverse=True)
    if len(cluster) != len(per_question):
        raise ValueError(f"with_test_sampling: {len(cluster)} cluster ids for {len(per_question)} questions")
    sums, sizes = np.bincount(cluster, weights=per_question), np.bincount(cluster).astype(float)
    draws = np.random.default_rng(seed).multinomial(len(sums), np.full(len(sums), 1 / len(sums)), size=reps)
    sigma = float(((draws @ sums) / (draws @ sizes)).std(ddof=1))
    return float(np.hypot(d.half, 1.96 * sigma))
