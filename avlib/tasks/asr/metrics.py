"""Speech-recognition metrics: phone error rate (edit distance after collapsing repeats) and frame accuracy.

PER = (substitutions + deletions + insertions) / reference phones, summed over utterances. A frame
classifier's output becomes a phone string by (1) summing its state posteriors into phone posteriors
(the tree's parents), (2) a phone-loop Viterbi pass whose only knob is a switch penalty (log-probability
paid per phone change; 0 = frame-wise argmax), (3) collapsing repeats and (4) dropping silence. The
penalty is what a hybrid DNN-HMM's transition probabilities do; it is chosen on val.
"""

import numpy as np
import torch


def collapse(sequence, drop=None) -> list:
    """Repeats merged ("a a b b a" -> "a b a"), then the `drop` symbol (silence) removed."""
    out = []
    for s in sequence:
        if not out or out[-1] != s:
            out.append(s)
    return [s for s in out if s != drop]


def edit_distance(reference, hypothesis) -> int:
    """Levenshtein distance (unit costs) between two sequences."""
    ref, hyp = list(reference), list(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def phone_error_rate(references: list, hypotheses: list) -> float:
    """Total edits / total reference length over utterances (sequences already collapsed)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"phone_error_rate: {len(references)} references for {len(hypotheses)} hypotheses")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("phone_error_rate: the references hold no phone")
    return sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True)) / total


def phone_loop_viterbi(log_probs: np.ndarray, switch_penalty: float, lengths=None) -> np.ndarray:
    """(U, T, G) per-frame phone log-posteriors of U utterances padded to T frames (or one (T, G))
    -> (U, T) best phone paths, each phone change costing `switch_penalty` (frames past an utterance's
    length are left 0).

    delta_t(g) = log p_t(g) + max(delta_{t-1}(g), max_g' delta_{t-1}(g') - penalty): O(T G) per utterance,
    all utterances at once."""
    single = log_probs.ndim == 2
    if single:
        log_probs = log_probs[None]
    U, T, G = log_probs.shape
    lengths = np.full(U, T) if lengths is None else np.asarray(lengths)
    rows = np.arange(U)
    back = np.zeros((U, T, G), np.int64)
    delta = log_probs[:, 0].copy()
    for t in range(1, T):
        best = delta.argmax(1)  # (U,)
        switch = delta[rows, best] - switch_penalty  # (U,)
        stay = delta >= switch[:, None]
        back[:, t] = np.where(stay, np.arange(G)[None], best[:, None])
        delta = np.where((t < lengths)[:, None], np.where(stay, delta, switch[:, None]) + log_probs[:, t], delta)
    paths = np.zeros((U, T), np.int64)
    paths[rows, lengths - 1] = delta.argmax(1)
    for t in range(T - 1, 0, -1):
        inside = t < lengths  # the step t-1 <- t exists for this utterance
        paths[inside, t - 1] = back[rows[inside], t, paths[inside, t]]
    return paths[0] if single else paths


def decode(log_probs: torch.Tensor, frame_offsets, groups: torch.Tensor, switch_penalty: float,
           silence: int = 0) -> list:
    """(frames, C) class log-posteriors of a split -> per utterance the collapsed phone string."""
    n_groups = int(groups.max()) + 1
    phone_probs = torch.zeros(len(log_probs), n_groups, dtype=torch.float64)
    phone_probs.index_add_(1, groups, log_probs.double().exp())
    phone_log = phone_probs.clamp_min(1e-30).log().numpy()
    bounds = [int(b) for b in frame_offsets]
    lengths = np.diff(bounds)
    padded = np.zeros((len(lengths), int(lengths.max()), n_groups))
    for u, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        padded[u, : b - a] = phone_log[a:b]
    paths = phone_loop_viterbi(padded, switch_penalty, lengths)
    return [collapse(path[:n].tolist(), drop=silence) for path, n in zip(paths, lengths, strict=True)]


def frame_accuracy(log_probs: torch.Tensor, labels: torch.Tensor) -> float:
    return (log_probs.argmax(1) == labels).double().mean().item()
