"""AV-ASR runs trained in one stage and read by another: `avasr_more_seeds` trains the table's level at more
seeds, and `avasr_fusion` reads back every run it would train itself with the very same job (issue #29: the
seeds the PER comparison needs do not fit one 12-minute stage beside the SNR sweep).

The contract of `run_store` and `qa_store`, for `AVASRJob`/`AVASRResult`: a run is deterministic, so the same job
on the same data gives the same bits; each run is stored with its job's key (the job's repr: seed, SNR, every
training knob, the models) beside a fingerprint of the level's data (its audio and visual frames: the noise is
remixed per level), and only a run whose key and fingerprint match exactly is read back, carrying the reader's
own job. A changed knob or data therefore never reads a stale run. The file: `store_file.py`."""

import dataclasses
from pathlib import Path

from avlib.stages.shared.store_file import read_run_store, stored_runs, write_store
from avlib.tasks.asr.train import AVASRResult

FIELDS = ("val", "test", "best_epoch", "history", "wall_s", "cpu_s", "penalty", "partner", "epochs", "selected")


def asr_key(job) -> str:
    return repr(job)


def write_asr_store(results: list, out_dir, *, data: dict, stage: str) -> Path:
    """<out_dir>/trained_runs.json.gz (atomically): every run of `results` (all at one SNR level: `data` is that
    level's {split: AVSpeech}) with its job's key, beside the data's fingerprint and the stage that trained them."""
    levels = {r.job.snr_db for r in results}
    if len(levels) > 1:
        raise ValueError(f"write_asr_store: runs at SNR levels {sorted(levels)}; a store holds one level's runs "
                         "(its fingerprint is that level's data)")
    runs = [{"key": asr_key(r.job), "job": dataclasses.asdict(r.job), **{k: getattr(r, k) for k in FIELDS}}
            for r in results]
    return write_store(runs, out_dir, data=data, stage=stage)


def reuse_asr(path, jobs: list, *, data: dict) -> dict:
    """{index in `jobs`: AVASRResult} for every job whose run `path` holds (same key; `data`, the level's splits,
    with the store's fingerprint), each carrying the reader's own job; {} without a path or file."""
    stored = stored_runs(path, data=data)
    return {i: AVASRResult(job=job, **{k: stored[asr_key(job)][k] for k in FIELDS})
            for i, job in enumerate(jobs) if asr_key(job) in stored}


def stored_stage(path) -> str:
    """The stage that wrote the store at `path` ("" without one)."""
    return read_run_store(path).get("written_by", "") if path else ""
