"""Table 2's clip runs trained in one stage and read by another: `t2_video_more_seeds` trains the video side's OGM-GE
grid and its rows at more seeds, and `t2_video` reads back every run it would train itself with the very same job.

The contract of `run_store` (the classification runs of Tables 1 and 3), for `ClipJob`/`ClipResult`: a run is
deterministic, so the same job on the same data gives the same bits; each run is stored with its job's key (the
job's repr: model, OGM-GE setting, seed, training config with its device, model options) beside a fingerprint of
the data, and only a run whose key and fingerprint match exactly is read back, carrying the reader's own job. A
changed knob or data therefore never reads a stale run: the reader trains it, as if no file were there. JSON (not
pickle: nothing in it executes), gzipped with a fixed mtime."""

from pathlib import Path

from avlib.core.pool import run_tasks
from avlib.stages.shared.store_file import stored_runs, write_store
from avlib.tasks.classify.clips import ClipJob, ClipResult

FIELDS = ("val", "test", "best_epoch", "history", "wall_s", "cpu_s", "single_segment")


def clip_key(job: ClipJob) -> str:
    return repr(job)


def write_clip_store(results: list, out_dir, *, data: dict, stage: str) -> Path:
    """<out_dir>/trained_runs.json.gz (atomically): every run of `results` with its job's key, beside the data's
    fingerprint and the stage that trained them."""
    runs = [{"key": clip_key(r.job), "label": r.label, "seed": r.seed, **{k: getattr(r, k) for k in FIELDS}}
            for r in results]
    return write_store(runs, out_dir, data=data, stage=stage)


def reuse_clips(path, jobs: list, *, data: dict) -> dict:
    """{index in `jobs`: ClipResult} for every job whose run `path` holds (same key, same data fingerprint), each
    carrying the reader's own job; {} without a path or file."""
    stored = stored_runs(path, data=data)
    return {i: ClipResult(job=job, **{k: stored[clip_key(job)][k] for k in FIELDS})
            for i, job in enumerate(jobs) if clip_key(job) in stored}


def train_or_read(task, jobs: list, data: dict, *, store: str, order, workers: int, desc: str) -> tuple[list, set]:
    """(a result per job in `jobs` order, the indices read back from `store`): the runs `store` holds are read,
    the others trained through the run engine, handed out in `order`'s order (a permutation of their indices)."""
    read = reuse_clips(store, jobs, data=data)
    todo = [i for i in order(jobs) if i not in read]
    trained = run_tasks(task, [jobs[i] for i in todo], data, workers=workers, desc=desc) if todo else []
    results = dict(read) | dict(zip(todo, trained, strict=True))
    return [results[i] for i in range(len(jobs))], set(read)
