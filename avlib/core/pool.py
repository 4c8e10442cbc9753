"""`run_tasks(task, jobs, data)`: every job of a stage on the CPU, one single-threaded worker per core.

The engine every task family shares: a family writes `train(job, data) -> Result` that seeds itself from
the job and returns a picklable result; this runs the jobs in spawned worker processes (or here, one after
another, or on torchrun ranks), checkpoints each finished job (`avlib.core.checkpoints`) and returns the
results in job order. Every job runs with one torch and one BLAS thread, so results are bit-identical
whatever the number of workers.

Workers die with the process that started them (`die_with_parent`): a kernel killed with SIGKILL leaves no
idle worker (nor, since the workers held its pipe, the resource tracker) behind.
"""

import ctypes
import os
import signal
import sys
import threading
import time

import torch
from tqdm import tqdm

from avlib.core.checkpoints import Checkpoints
from avlib.core.runtime import available_cores, single_threaded


class EngineError(ValueError):
    """Runs that cannot go through the engine together (no jobs, mixed devices, mismatched architectures)."""


def run_tasks(task, jobs: list, data, *, workers: int = 0, progress: bool = True, desc: str = "runs",
              ddp: int = 0, ddp_device: str = "auto") -> list:
    """`task(job, data)` for every job, single-threaded, on the CPU; results in job order.

    The engine every task family runs on (`avlib.tasks.<family>`): each family writes its
    `train(job, data)` that seeds itself
    from the job and returns a picklable result; this runs the jobs in `workers` spawned processes (0: one
    per core, 1: here, one after another). `task` must be importable by name (a module-level function, or
    a `functools.partial` of one): workers pickle it. `data` reaches each worker once. Every call runs
    with one torch and one BLAS thread, so results are bit-identical whatever the number of workers.
    `ddp=N`: instead, one torchrun launch of N processes runs the jobs one after another, each on all N
    ranks (`avlib.core.torchrun`; `task` then takes a `device=` keyword: its rank's device; `ddp_device="cpu"`
    keeps the ranks off the GPUs); finished jobs are checkpointed when the launch returns.
    """
    if not jobs:
        raise EngineError("run_tasks needs at least one job")
    checkpoints = Checkpoints.from_env(task, data)
    results, todo = [None] * len(jobs), []
    for i, job in enumerate(jobs):
        found, result = checkpoints.load(job) if checkpoints else (False, None)
        if found:
            results[i] = result
        else:
            todo.append(i)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, disable=not progress)
    if len(todo) < len(jobs):
        bar.set_postfix_str(f"{len(jobs) - len(todo)} resumed")

    def finished(i, result):
        results[i] = result
        if checkpoints:
            checkpoints.save(jobs[i], result)
        bar.update()

    try:
        n = min(workers or available_cores(), max(len(todo), 1))
        if ddp and todo:
            from avlib.core.torchrun import launch

            launched = launch(task, [jobs[i] for i in todo], data, procs=ddp, device=ddp_device, progress=progress)
            for i, result in zip(todo, launched, strict=True):
                finished(i, result)
        elif n == 1:
            with single_threaded():
                for i in todo:
                    finished(i, task(jobs[i], data))
        elif todo:
            _run_in_workers(task, [(i, jobs[i]) for i in todo], n, data, finished)
        return results
    finally:
        bar.close()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have this process receive `sig` when its parent (`parent`, default the current one) dies.

    Linux: prctl(PR_SET_PDEATHSIG), which the kernel delivers the moment the parent exits, however it
    exits (SIGKILL included); elsewhere a daemon thread that polls the parent pid twice a second. A parent
    that died before this call (the process was re-parented already) delivers `sig` at once. (On Linux
    "the parent" is the thread that started this process: `run_tasks` starts its workers from the thread
    that calls it, which waits for them.)
    """
    parent = parent or os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ok = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
        if ok:
            if os.getppid() != parent:  # it died between our start and the prctl
                os.kill(os.getpid(), sig)
            return
    threading.Thread(target=_watch_parent, args=(parent, sig), daemon=True, name="die-with-parent").start()


def _watch_parent(parent: int, sig: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), sig)


_worker_data = None


def _init_worker(data, parent):
    global _worker_data
    die_with_parent(signal.SIGKILL, parent)  # an orphaned worker has nobody to hand its result to
    _worker_data = data
    torch.set_num_threads(1)


def _work(task, index, job):
    with single_threaded():
        return index, task(job, _worker_data)


def _run_in_workers(task, indexed_jobs, n, data, finished) -> None:
    """`finished(index, result)` for each (index, job), as the workers finish them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch.multiprocessing  # noqa: F401 - registers the pickler that moves tensors through shared memory

    # spawn, not fork: a forked child of a process with live OpenMP threads can deadlock. The data reach
    # each worker once (initializer). An executor, not a Pool: a worker that dies raises here, not hangs.
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(data, os.getpid())) as pool:
        futures = [pool.submit(_work, task, i, job) for i, job in indexed_jobs]
        for future in as_completed(futures):
            finished(*future.result())
