"""MUSIC-AVQA runs trained in one stage and read by another: `avqa_more_seeds` chooses the lr on val and trains the
ablation's rows at more seeds, and `avqa_ablation` reads back every run it would train itself with the very same
job (issue #28: at the schedule the runs converge under, five seeds do not fit one 12-minute stage).

The contract of `run_store` and `clip_store`, for `QAJob`/`QAResult`: a run is deterministic, so the same job on the
same data gives the same bits; each run is stored with its job's key (the job's repr: model, seed, lr, width,
schedule, batch, matching weight) beside a fingerprint of the data, and only a run whose key and fingerprint
match exactly is read back, carrying the reader's own job. A changed knob or data therefore never reads a stale
run: the reader trains it, as if no file were there. The file: `store_file.py`. Selected weights are never
stored: a job that keeps them (`keep_state`) is always trained."""

import dataclasses
from pathlib import Path

from avlib.stages.shared.store_file import read_run_store, stored_runs, train_missing, write_store
from avlib.tasks.qa.train import QAJob, QAResult

FIELDS = ("val", "test", "test_counts", "template_counts", "best_epoch", "history", "wall_s", "cpu_s",
          "test_correct")


def qa_key(job: QAJob) -> str:
    return repr(job)


def write_qa_store(results: list, out_dir, *, data: dict, stage: str) -> Path:
    """<out_dir>/trained_runs.json.gz (atomically): every run of `results` with its job's key, beside the data's
    fingerprint and the stage that trained them."""
    runs = [{"key": qa_key(r.job), "job": dataclasses.asdict(r.job), **{k: getattr(r, k) for k in FIELDS}}
            for r in results]
    return write_store(runs, out_dir, data=data, stage=stage)


def reuse_qa(path, jobs: list, *, data: dict) -> dict:
    """{index in `jobs`: QAResult} for every job whose run `path` holds (same key, same data fingerprint; never a
    job that keeps its weights), each carrying the reader's own job; {} without a path or file."""
    stored = stored_runs(path, data=data)
    return {i: QAResult(job=job, **{k: stored[qa_key(job)][k] for k in FIELDS})
            for i, job in enumerate(jobs) if not job.keep_state and qa_key(job) in stored}


def train_or_read_qa(run, jobs: list, data: dict, *, store: str, workers: int, desc: str) -> tuple[list, set]:
    """(a result per job in `jobs` order, the indices read back from `store`): the runs `store` holds are read,
    the others trained by `run(jobs, data, workers=, desc=)` (`stages/shared/qa.run_longest_first`)."""
    return train_missing(jobs, reuse_qa(store, jobs, data=data),
                         lambda todo: run(todo, data, workers=workers, desc=desc))


def stored_stage(path) -> str:
    """The stage that wrote the store at `path` ("" without one)."""
    return read_run_store(path).get("written_by", "") if path else ""
