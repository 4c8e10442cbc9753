"""The engine's DDP path: `run_specs(..., ddp=N)` trains each run on N processes launched by `torchrun`.

    run_specs(specs, seeds, data, train=..., ddp=2)   # a stage: `ddp: 2` in its params.yaml section

The notebook (the papermill process) stays the only process that writes reports. It hands the jobs, the
data and the training config to ONE `torchrun --standalone --nproc-per-node N -m avlib.core.torchrun <folder>`
launch (a temporary folder); every rank joins the process group (`avlib.core.ddp.init`: NCCL on CUDA, one GPU
per rank; gloo on the CPU) and trains the jobs one after another, each under DistributedDataParallel on
its share of every global batch (`fit`); rank 0 writes each finished result to the folder, and the
notebook reads them back in job order. Why one launch for all jobs: a rank's start-up (importing torch,
joining the group) costs seconds, a small run less.

Numerics: on the CPU every rank runs with one thread (as the worker pool), so a 1-process launch gives the
in-process results bit for bit; N processes give the same global batches, gradients averaged over the
ranks, balancer statistics reduced over them (`avlib.core.ddp`), within the tolerance `tests/test_ddp.py`
states (gloo has no SyncBatchNorm). Resume (`AVLAB_RESUME_DIR`) works as for the worker pool: finished
runs are checkpointed by the launching process and skipped on a restart.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


class TorchrunError(RuntimeError):
    """The torchrun launch failed (a rank raised, or could not start)."""


def launch(task, jobs: list, data, *, procs: int, device: str = "auto", progress: bool = True) -> list:
    """`task(job, data)` for every job, each on `procs` DDP ranks; the results (rank 0's) in job order.
    `device`: "cpu" keeps the ranks on the CPU (gloo) on a machine with GPUs too; else one GPU per rank
    when CUDA is present."""
    if not isinstance(procs, int) or isinstance(procs, bool) or procs < 1:
        raise ValueError(f"ddp={procs!r}: expected the number of torchrun processes per run (an integer >= 1)")
    on_cpu = device == "cpu" or not torch.cuda.is_available()
    if not on_cpu and procs > torch.cuda.device_count():
        raise ValueError(f"ddp={procs}: this machine has {torch.cuda.device_count()} GPU(s); one process per GPU")
    with tempfile.TemporaryDirectory(prefix="avlab-torchrun-") as folder:
        folder = Path(folder)
        torch.save({"task": task, "jobs": jobs, "data": data, "progress": progress}, folder / "input.pt")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
               "-m", "avlib.core.torchrun", str(folder)]
        # one thread per rank (the numerics of the worker pool); avlib importable from any working folder
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        if on_cpu:
            env["CUDA_VISIBLE_DEVICES"] = ""  # avlib.core.ddp.init: no CUDA -> gloo, CPU
        failure = _run_echoing(cmd, env)
        if failure is not None:
            raise TorchrunError(f"torchrun --nproc-per-node {procs} failed:\n{failure}")
        return [torch.load(folder / f"result{i}.pt", weights_only=False) for i in range(len(jobs))]


def _run_echoing(cmd: list, env: dict) -> str | None:
    """Run `cmd`, echoing its output (rank 0's progress bar, every rank's errors) to stderr as it comes;
    None on success, else what explains the failure: the first rank's traceback (torchrun's own summary,
    which follows it, says only which rank exited)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = bytearray()
    while chunk := os.read(proc.stdout.fileno(), 65536):
        sys.stderr.write(chunk.decode(errors="replace"))
        output += chunk
        del output[:-1_000_000]  # bounded: a long run's progress lines are not needed
    if proc.wait() == 0:
        return None
    text = output.decode(errors="replace")
    start = text.find("Traceback (most recent call last)")
    return text[start : start + 4000] if start >= 0 else text[-4000:]


def main(folder: str) -> None:
    """One rank: join the group, train every job, rank 0 saves each result (atomically)."""
    from tqdm import tqdm

    from avlib.core import ddp
    from avlib.core.runtime import single_threaded

    folder = Path(folder)
    device = ddp.init()
    try:
        given = torch.load(folder / "input.pt", weights_only=False)
        task, jobs, data = given["task"], given["jobs"], given["data"]
        bar = tqdm(jobs, desc=f"runs (ddp x{ddp.world_size()})", disable=not given["progress"] or ddp.rank() > 0,
                   file=sys.stdout, ascii=True, mininterval=5)
        with single_threaded():
            for i, job in enumerate(bar):
                result = task(job, data, device=device)
                if ddp.rank() == 0:
                    tmp = folder / f"result{i}.pt.tmp"
                    torch.save(result, tmp)
                    tmp.replace(folder / f"result{i}.pt")
    finally:
        ddp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
