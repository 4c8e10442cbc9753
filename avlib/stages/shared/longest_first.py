"""Hand a pool's jobs to the workers longest first, results back in the caller's order.

`run_tasks` gives each free worker the next job in list order. When a table lists its cheap rows first and its
expensive ones last, the last expensive run trains alone while the other core idles (on 2 cores a stage of a
few long runs lost 20-35% of its wall time to such tails). Each run seeds itself and runs single-threaded, so
the order changes no number, only the wall time."""

from avlib.core.pool import run_tasks


def run_longest_first(task, jobs: list, data, *, cost, workers: int = 0, desc: str = "runs") -> list:
    """`run_tasks(task, jobs, data)` with the jobs handed out by decreasing `cost(job)` (ties keep their order),
    the results in the order of `jobs`."""
    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))
    done = run_tasks(task, [jobs[i] for i in order], data, workers=workers, desc=desc)
    results = [None] * len(jobs)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return results
