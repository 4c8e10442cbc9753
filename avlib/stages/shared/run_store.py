"""Classification runs trained once and read by another stage: `t1_fusion` writes its table's runs to
`trained_runs.json.gz`, and `t3_imbalance` takes from it every run it would train itself with the very same job
(concat, concat + OGM-GE at Table 1's chosen setting, the uni-modal models its late-fusion row averages).

A run is deterministic: the same job (spec without its label, seed, training config, model options, probe) on
the same data and device type gives bit-identical results, so training it again in a second stage only spends
the budget (t3_imbalance was 13 min for a 12-min budget; these runs were a fifth of it). Each run is stored with
the key of its job and a fingerprint of its data; `reuse` hands back only runs whose key and fingerprint match
exactly, relabelled with the reader's own job, and the reader trains the rest. A changed knob (lr, epochs, α,
data) therefore never reads a stale run: the run is trained again, as if no file were there.

The file is JSON (not pickle: nothing in it executes), gzipped with a fixed mtime so that its bytes depend only
on the runs. Python writes every float so that it reads back the same; class probabilities (`RunSpec.
keep_outputs`) are stored as the raw bytes of their tensors, base64-encoded, with dtype and shape.
"""

import base64
import dataclasses
from pathlib import Path

import torch

from avlib.core.runtime import pick_device
from avlib.stages.shared.store_file import stored_runs, write_store
from avlib.tasks.classify.runs import RunJob, RunResult

FIELDS = ("val", "test", "best_epoch", "history", "wall_s", "cpu_s", "probe")
DTYPES = {"torch.float32": torch.float32, "torch.int64": torch.int64}


def job_key(job: RunJob) -> str:
    """What makes two jobs the same run: everything but the table label, the progress bar and whether the
    class probabilities are kept (neither changes training). The device is `pick_device`'s type."""
    spec = dataclasses.replace(job.spec, label="", keep_outputs=False)
    plain = dataclasses.replace(job, spec=spec, progress=False)
    return f"{plain!r} on {pick_device(job.config.device).type}"


def _tensor(t: torch.Tensor) -> dict:
    t = t.detach().cpu().contiguous()
    if str(t.dtype) not in DTYPES:
        raise TypeError(f"run_store: tensors of dtype {t.dtype} are not stored (expected one of {sorted(DTYPES)})")
    return {"dtype": str(t.dtype), "shape": list(t.shape), "b64": base64.b64encode(t.numpy().tobytes()).decode()}


def _from_tensor(record: dict) -> torch.Tensor:
    raw = bytearray(base64.b64decode(record["b64"]))  # writable: torch.frombuffer warns on read-only memory
    return torch.frombuffer(raw, dtype=DTYPES[record["dtype"]]).reshape(record["shape"]).clone()


def run_record(result: RunResult) -> dict:
    return {"key": job_key(result.job), "label": result.label, "seed": result.seed,
            **{name: getattr(result, name) for name in FIELDS},
            "outputs": {name: _tensor(t) for name, t in result.outputs.items()}}


def write_run_store(results: list, out_dir, *, data: dict, stage: str) -> Path:
    """<out_dir>/trained_runs.json.gz (atomically): every run of `results` with its job's key, beside the
    data's fingerprint and the stage that trained them."""
    return write_store([run_record(r) for r in results], out_dir, data=data, stage=stage)


def reuse(path, jobs: list, *, data: dict) -> dict:
    """{index in `jobs`: RunResult} for every job whose run `path` holds (same job key, same data fingerprint,
    class probabilities present where the job keeps them), each result carrying the reader's own job."""
    stored = stored_runs(path, data=data)
    if not stored:  # no file, or other data: nothing to read (and no job's key to compute)
        return {}
    found = {}
    for i, job in enumerate(jobs):
        record = stored.get(job_key(job))
        if record is None or (job.spec.keep_outputs and not record["outputs"]):
            continue
        outputs = {name: _from_tensor(t) for name, t in record["outputs"].items()} if job.spec.keep_outputs else {}
        found[i] = RunResult(job=job, **{name: record[name] for name in FIELDS}, outputs=outputs)
    return found
