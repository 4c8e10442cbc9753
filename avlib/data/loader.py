"""Deterministic batching for every dataset: the order depends only on (seed, epoch)."""

import torch
from torch.utils.data import DataLoader, default_collate


def _collate(batch):
    # In-memory datasets gather a whole batch in `__getitems__` and hand back a dict already.
    return batch if isinstance(batch, dict) else default_collate(batch)


def make_loader(dataset, *, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffle order is drawn from its own generator seeded by `seed`.

    Each epoch draws a new permutation from that generator, so epoch e of a run is the same on every
    machine and independent of any other randomness (model init, GE noise, dropout).
    """
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=drop_last, collate_fn=_collate,
                      persistent_workers=num_workers > 0)
