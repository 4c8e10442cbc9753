"""What the AVTS stages (avts_pretrain, avts_probe) share: the dataset they read and a smoke run's splits."""

DATASETS = ("avsync",)  # the datasets these stages read (their loaders are their DVC deps)


def smoke_splits(data: dict, sizes: dict) -> dict:
    """The first `sizes[split]` clips of each split (a smoke run)."""
    return {s: d.head(sizes[s]) for s, d in data.items()}
