"""The cue check of AV-Sync's negatives (issue #29), before any training: per negative kind, how often a
negative's event timing is aligned with its video (within events.TOLERANCE frames, so it is a positive in
all but name), how often it holds the same digits, and what two non-learned scorers reach from the clips'
ground truth (the generator's onsets and digits):
  content-only  the share of digits the two windows have in common (multiset Jaccard), blind to time:
                what correspondence (L3) can at best read;
  timing-only   minus the mean distance from each window's event onsets to the other's nearest (chamfer,
                frames), blind to which digit: what synchronization can at best read.
Each is scored by the AUC of positives against that kind, as the learned models are.
"""

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from avlib.tasks.avts.events import TOLERANCE, Events, aligned, same_content

_NO_EVENT = 1_000  # how far "no event at all" is, in frames (never: every window holds an onset)


def content_score(events: Events, pairs: dict, window: int) -> torch.Tensor:
    """(B,) multiset Jaccard of the two windows' digits: 1 = the same digits, 0 = none in common."""
    counts = []
    for stream in ("v", "a"):
        _, digits, _ = events.in_window(pairs[f"clip_{stream}"], pairs[f"start_{stream}"], window)
        c = torch.zeros(len(digits), 11, dtype=torch.long).scatter_add_(1, digits + 1, torch.ones_like(digits))
        counts.append(c[:, 1:])  # column 0 counted the "not in the window" slots
    inter, union = torch.minimum(*counts).sum(1), torch.maximum(*counts).sum(1)
    return inter.double() / union.clamp(min=1)


def timing_score(events: Events, pairs: dict, window: int) -> torch.Tensor:
    """(B,) minus the chamfer distance (frames) between the two windows' relative event onsets."""
    rel_v, _, n_v = events.in_window(pairs["clip_v"], pairs["start_v"], window)
    rel_a, _, n_a = events.in_window(pairs["clip_a"], pairs["start_a"], window)
    k = rel_v.shape[1]
    valid_v = torch.arange(k)[None, :] < n_v[:, None]
    valid_a = torch.arange(k)[None, :] < n_a[:, None]
    dist = (rel_v[:, :, None] - rel_a[:, None, :]).abs().double()
    dist = dist.masked_fill(~(valid_v[:, :, None] & valid_a[:, None, :]), _NO_EVENT)
    v_to_a = (dist.min(2).values * valid_v).sum(1) / n_v.clamp(min=1)
    a_to_v = (dist.min(1).values * valid_a).sum(1) / n_a.clamp(min=1)
    return -(v_to_a + a_to_v) / 2


def _auc(scores: torch.Tensor, kind: torch.Tensor, k: int) -> float:
    pos, neg = scores[kind == 0], scores[kind == k]
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], torch.cat([pos, neg]).numpy()))


def cue_table(events: Events, pairs: dict, window: int, kinds: tuple) -> pd.DataFrame:
    """One row per negative kind (kinds[k], k >= 1; kinds[0] the positives): the premise numbers above."""
    kind = pairs["kind"]
    al, same = aligned(events, pairs, window), same_content(events, pairs, window)
    content, timing = content_score(events, pairs, window), timing_score(events, pairs, window)
    rows = []
    for k, name in enumerate(kinds[1:], start=1):
        sel = kind == k
        rows.append({"negatives": name, "pairs": int(sel.sum()),
                     f"timing aligned ±{TOLERANCE} frame (%)": 100 * float(al[sel].double().mean()),
                     "same digits (%)": 100 * float(same[sel].double().mean()),
                     "aligned and same digits (%)": 100 * float((al & same)[sel].double().mean()),
                     "content-only AUC": _auc(content, kind, k), "timing-only AUC": _auc(timing, kind, k)})
    return pd.DataFrame(rows)
