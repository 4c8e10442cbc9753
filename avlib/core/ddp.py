"""Data-parallel training under `torchrun` (DDP): the few collective operations `fit` and the balancers use.

    torchrun --nproc-per-node N tools/torchrun_fit.py ...    one process per GPU (CPU: gloo, for tests)

Everything here is a no-op when no process group is initialized, so single-process runs take exactly
the code path they always took (bit-identical results). Under DDP:

- `init()` joins the group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the
  environment): NCCL when CUDA is present, else gloo; each rank takes GPU LOCAL_RANK.
- the training loader draws ONE global permutation per epoch from its seeded generator (the same on every
  rank) and hands each rank an equal contiguous share of every global batch (`avlib.data.loader.shard_batch`),
  so the global batches are those of a single-process run with the same `batch_size`; DDP averages the
  gradients.
- balancers that act on batch statistics reduce them over ranks first (`all_reduce_sum`,
  `all_reduce_mean`), so every rank applies the same coefficient (OGM-GE's k, AGM's B, OPM's q).
- random draws that must agree (GE noise) come from generators seeded identically on every rank, taken
  after the gradients are already averaged, so they are the same noise on the same gradient.
"""

import os

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    """Whether a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init(backend: str | None = None) -> torch.device:
    """Join the process group torchrun set up; returns this rank's device."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise RuntimeError("avlib.core.ddp.init: RANK/WORLD_SIZE not set; "
                           "launch with `torchrun --nproc-per-node N ...`")
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of `x` over ranks (a new tensor; `x` itself unchanged); `x` when not distributed."""
    if not is_distributed():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of `x` over ranks (equal shards: the global batch's mean); `x` when not distributed."""
    return x if not is_distributed() else all_reduce_sum(x) / world_size()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` wrapped in DistributedDataParallel (on CUDA with SyncBatchNorm, so BatchNorm statistics are
    those of the global batch; gloo on the CPU has no SyncBatchNorm: each rank normalizes its own share)."""
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # keeps the same Parameter objects
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


@torch.no_grad()
def sync_buffers(model: nn.Module) -> None:
    """Make every rank's buffers equal before it evaluates: floating ones (BatchNorm's running statistics,
    the fusion head's feature EMA) averaged over ranks, the others (step counters) taken from rank 0.
    Each rank updated them from its own share of the batches; without this, ranks would evaluate (and
    select epochs with) different models."""
    if not is_distributed():
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(world_size())
        else:
            dist.broadcast(buf, src=0)
