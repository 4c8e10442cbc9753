"""The file every run store shares (`run_store`, `clip_store`, `qa_store`): its name, the fingerprint of the data
its runs were trained on, and reading it back. Apart from the stores so that a store of one task family does not
import another family's training code (a QA stage does not depend on the classifiers)."""

import gzip
import hashlib
import json
from pathlib import Path

import torch

FILE = "trained_runs.json.gz"


def data_fingerprint(data: dict) -> str:
    """sha256 over each split's size and, for in-memory splits, the bytes of its audio, visual and label
    tensors (AV-Digits: ~0.2 s) or, for QA splits, of their per-video features, questions and answers;
    other datasets by their size and root path only."""
    h = hashlib.sha256()
    for split in sorted(data):
        d = data[split]
        h.update(f"{split}:{len(d)}:{getattr(d, 'root', '')}".encode())
        for name in ("audio", "visual", "label", "audio_feats", "visual_feats", "question"):
            t = getattr(d, name, None)
            if isinstance(t, torch.Tensor):
                h.update(name.encode() + str(tuple(t.shape)).encode() + str(t.dtype).encode())
                h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def read_run_store(path) -> dict:
    """The payload of a trained_runs.json.gz; {} when there is no such file (nothing to reuse)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: not a readable trained_runs.json.gz ({err}); re-run the stage that wrote it, "
                         "or delete the file to train every run here") from None
