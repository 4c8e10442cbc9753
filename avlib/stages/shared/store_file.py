"""The file every run store shares (`run_store`, `clip_store`, `qa_store`, `asr_store`): its name, the fingerprint
of the data its runs were trained on, writing it and reading it back. Each store adds only what is its family's:
the key of a job and the fields of a result. Apart from the stores so that a store of one task family does not
import another family's training code (a QA stage does not depend on the classifiers).

The file is JSON (not pickle: nothing in it executes), gzipped with a fixed mtime so that its bytes depend only on
the runs: {"written_by": stage, "data": fingerprint, "runs": [record, ...]}, each record with its job's "key"."""

import gzip
import hashlib
import json
from pathlib import Path

import torch

from avlib.core.atomic import atomic_write_bytes

FILE = "trained_runs.json.gz"


def data_fingerprint(data: dict) -> str:
    """sha256 over each split's size and, for in-memory splits, the bytes of its audio, visual and label
    tensors (AV-Digits: ~0.2 s), for QA splits of their per-video features, questions and answers, for AV-Speech
    of its audio and visual frames (the audio remixed at the split's SNR); other datasets by their size and root
    path only."""
    h = hashlib.sha256()
    for split in sorted(data):
        d = data[split]
        h.update(f"{split}:{len(d)}:{getattr(d, 'root', '')}".encode())
        for name in ("audio", "visual", "label", "audio_feats", "visual_feats", "question", "audio_frames",
                     "visual_frames"):
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


def write_store(runs: list, out_dir, *, data: dict, stage: str) -> Path:
    """<out_dir>/trained_runs.json.gz (atomically): `runs` (a record per run, each with its job's "key"), beside
    the fingerprint of `data` and the stage that trained them."""
    payload = {"written_by": stage, "data": data_fingerprint(data), "runs": runs}
    text = json.dumps(payload, indent=0, allow_nan=True) + "\n"
    return atomic_write_bytes(Path(out_dir) / FILE, gzip.compress(text.encode(), mtime=0))


def stored_runs(path, *, data: dict) -> dict:
    """{job key: record} of the store at `path` when its runs were trained on `data` (the same fingerprint); {}
    without a path or a file, or when the data differ. A key's first record is kept (its runs are the same bits)."""
    payload = read_run_store(path) if path else {}
    if not payload or payload.get("data") != data_fingerprint(data):
        return {}
    stored = {}
    for record in payload["runs"]:
        stored.setdefault(record["key"], record)
    return stored


def train_missing(jobs: list, read: dict, train) -> tuple[list, set]:
    """(a result per job of `jobs`, in their order; the indices read back): the runs of `read` ({index in `jobs`:
    result}, read from a store) as they are, every other job trained by one call of `train(list of jobs)`."""
    todo = [i for i in range(len(jobs)) if i not in read]
    trained = train([jobs[i] for i in todo]) if todo else []
    results = dict(read) | dict(zip(todo, trained, strict=True))
    return [results[i] for i in range(len(jobs))], set(read)
