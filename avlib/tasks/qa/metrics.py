"""Accuracy per question type, pooled over questions as MUSIC-AVQA's official evaluation counts it.

A modality's accuracy (Audio, Visual, Audio-Visual) is the fraction of ALL its questions answered right,
whatever their type, and "all" the fraction of all questions: pooled counts, not a mean of the per-type
accuracies (the two differ whenever the types have different sizes).
"""

import torch

MODALITIES = ("Audio", "Visual", "Audio-Visual")


def modality_of(type_name: str) -> str:
    """'Audio-Visual/Temporal' -> 'Audio-Visual'."""
    modality = type_name.split("/")[0]
    if modality not in MODALITIES:
        raise ValueError(f"question type {type_name!r}: expected '<modality>/<type>' with modality in {MODALITIES}")
    return modality


def type_counts(correct: torch.Tensor, type_index: torch.Tensor, types) -> dict:
    """{type name: [n correct, n questions]} for every type in `types` (0 questions -> [0, 0])."""
    correct, type_index = correct.long().cpu(), type_index.long().cpu()
    right = torch.bincount(type_index, weights=correct.double(), minlength=len(types))
    total = torch.bincount(type_index, minlength=len(types))
    return {name: [int(right[i]), int(total[i])] for i, name in enumerate(types)}


def pooled_accuracy(counts: dict) -> dict:
    """Accuracies from `type_counts`: each type, each modality pooled over its types' questions, "all".
    A group with no question gets None (never a made-up 0)."""
    def acc(pairs):
        n = sum(t for _, t in pairs)
        return sum(r for r, _ in pairs) / n if n else None

    out = {name: acc([pair]) for name, pair in counts.items()}
    for modality in MODALITIES:
        out[modality] = acc([pair for name, pair in counts.items() if modality_of(name) == modality])
    out["all"] = acc(list(counts.values()))
    return out
