"""Deterministic batching for every dataset: the order depends only on (seed, epoch)."""

import torch
from torch.utils.data import DataLoader


class InMemoryLoader:
    """Batches of a dataset held in memory, gathered by tensor indexing.

    For tiny models DataLoader's per-batch Python work (index lists, sampler, collation) costs as much
    as the step itself; datasets with a batched `__getitems__` skip it here. Each epoch is one
    `randperm` drawn from the loader's generator.
    """

    def __init__(self, dataset, *, batch_size: int, shuffle: bool, generator: torch.Generator, drop_last: bool):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.generator, self.drop_last = generator, drop_last

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.dataset.__getitems__(order[start : start + self.batch_size])


def make_loader(dataset, *, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False):
    """An iterable of batch dicts whose shuffle order is drawn from its own generator seeded by `seed`.

    Each epoch draws a new permutation from that generator, so epoch e of a run is the same on every
    machine and independent of any other randomness (model init, GE noise, dropout). In-memory datasets
    (with a batched `__getitems__`) are batched by indexing; the rest (decoding from disk) by a
    DataLoader with `num_workers` processes (in-memory datasets ignore `num_workers`).
    """
    generator = torch.Generator().manual_seed(seed)
    if hasattr(dataset, "__getitems__"):  # in memory: worker processes would only add copying
        return InMemoryLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                              drop_last=drop_last)
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
