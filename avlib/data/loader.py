"""Deterministic batching for every dataset: the order depends only on (seed, epoch).

Under DDP (`world_size > 1`) every rank draws the same global permutation and batches it the same way,
then keeps its own share of each global batch (`avlib.core.ddp.shard_batch`): the global batches are those of
a single-process run; with `world_size=1` (the default) nothing changes.
"""

import torch
from torch.utils.data import DataLoader, Sampler


def shard_batch(index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank `rank`'s contiguous share of one global batch of indices, (B,) -> (B // world,); a batch that
    does not split evenly (an epoch's last) is trimmed to a multiple of `world` first."""
    n = index.numel() - index.numel() % world
    return index[:n].view(world, n // world)[rank]


class InMemoryLoader:
    """Batches of a dataset held in memory, gathered by tensor indexing.

    For tiny models DataLoader's per-batch Python work (index lists, sampler, collation) costs as much
    as the step itself; datasets with a batched `__getitems__` skip it here. Each epoch is one
    `randperm` drawn from the loader's generator.
    """

    def __init__(self, dataset, *, batch_size: int, shuffle: bool, generator: torch.Generator, drop_last: bool,
                 rank: int = 0, world_size: int = 1):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.generator, self.drop_last = generator, drop_last
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            if self.world_size > 1:
                index = shard_batch(index, self.rank, self.world_size)
                if index.numel() == 0:  # a last batch smaller than the world: every rank skips it alike
                    continue
            yield self.dataset.__getitems__(index)


class ShardedBatchSampler(Sampler):
    """DataLoader batches of indices under DDP: the global batches of one seeded permutation per epoch (the
    same on every rank), each cut to this rank's share (`shard_batch`)."""

    def __init__(self, n: int, *, batch_size: int, shuffle: bool, generator: torch.Generator, drop_last: bool,
                 rank: int, world_size: int):
        self.n, self.batch_size, self.shuffle, self.generator = n, batch_size, shuffle, generator
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = shard_batch(order[start : start + self.batch_size], self.rank, self.world_size)
            if index.numel():  # a last batch smaller than the world: every rank skips it alike
                yield index.tolist()


# Evaluation batches (no gradient): 128 keeps a batch's activations in the CPU's cache, ~1.7x faster than 256 for
# the AV-Digits encoders; the per-sample outputs are the same bits at either size (tests/tasks/test_classify_eval.py).
EVAL_BATCH_SIZE = 128


def make_loader(dataset, *, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, rank: int = 0, world_size: int = 1, pin_memory: bool = False):
    """An iterable of batch dicts whose shuffle order is drawn from its own generator seeded by `seed`.

    Each epoch draws a new permutation from that generator, so epoch e of a run is the same on every
    machine and independent of any other randomness (model init, GE noise, dropout). In-memory datasets
    (with a batched `__getitems__`) are batched by indexing; the rest (decoding from disk) by a
    DataLoader with `num_workers` processes (in-memory datasets ignore `num_workers` and `pin_memory`).
    `rank`/`world_size`: this DDP rank's share of every global batch of `batch_size` (module docstring).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"make_loader rank={rank}, world_size={world_size}; expected 0 <= rank < world_size")
    if world_size > 1 and batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} does not split over {world_size} DDP ranks; "
                         f"expected a multiple of the number of processes")
    generator = torch.Generator().manual_seed(seed)
    if hasattr(dataset, "__getitems__"):  # in memory: worker processes would only add copying
        return InMemoryLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                              drop_last=drop_last, rank=rank, world_size=world_size)
    if world_size > 1:
        sampler = ShardedBatchSampler(len(dataset), batch_size=batch_size, shuffle=shuffle, generator=generator,
                                      drop_last=drop_last, rank=rank, world_size=world_size)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory,
                          persistent_workers=num_workers > 0)
    if pin_memory:
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          num_workers=num_workers, drop_last=drop_last, persistent_workers=num_workers > 0,
                          pin_memory=True)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=drop_last, persistent_workers=num_workers > 0)


def head(dataset, n: int):
    """The first `n` items of `dataset` (smoke runs), keeping `n_classes` and in-memory batching."""
    if n >= len(dataset):
        return dataset
    if hasattr(dataset, "from_tensors"):  # in memory: slice the tensors
        return type(dataset).from_tensors(dataset.audio[:n], dataset.visual[:n], dataset.label[:n])
    subset = torch.utils.data.Subset(dataset, range(n))
    subset.n_classes = dataset.n_classes
    return subset
