"""AVE (Tian et al., ECCV 2018): the release's pre-extracted features, read as the AVE and PSP code read them.

Under `root`:
  audio_feature.h5    dataset `avadataset`  [N, 10, 128]          VGGish embedding of each 1 s segment
  visual_feature.h5   dataset `avadataset`  [N, 10, 7, 7, 512]    VGG-19 pool5 map of each segment's frame
  labels.h5           dataset `avadataset`  [N, 10, 29]           one-hot per segment: 28 events, background last
  train_order.h5 / val_order.h5 / test_order.h5   dataset `order`  [n_split]   row indices into the three files

An item (one clip) is {"audio": [10, 128] float, "visual": [10, 7, 7, 512] float (the stored dtype, e.g.
float16 for AV-Events), "label": [10] int64 segment class indices (background = n_classes - 1)}.
`__getitems__` gathers a batch in one indexing op per tensor. `read_split` is shared with the embedded
AV-Events (`avlib.data.embedded.avevents`), which writes exactly these files.
"""

from pathlib import Path

import numpy as np
import torch

from avlib.data.errors import DatasetError
from avlib.data.in_memory import InMemoryAV

N_SEGMENTS = 10
AUDIO_SHAPE = (N_SEGMENTS, 128)
VISUAL_SHAPE = (N_SEGMENTS, 7, 7, 512)
FEATURE_FILES = {"audio": "audio_feature.h5", "visual": "visual_feature.h5", "label": "labels.h5"}
DATASET_KEY = "avadataset"


def _open_dataset(path: Path, key: str, name: str):
    import h5py

    if not path.is_file():
        raise DatasetError(f"{name}: {path} not found; expected the AVE release's {path.name} (h5 dataset {key!r})")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DatasetError(f"{name}: cannot open {path} as HDF5 ({err}); expected the AVE release's "
                           f"{path.name}") from None
    if key not in f:
        present = sorted(f)
        f.close()
        raise DatasetError(f"{name}: {path} has no dataset {key!r} (has {present}); expected {key!r}")
    return f, f[key]


def read_order(root, split: str, name: str = "ave") -> np.ndarray:
    path = Path(root) / f"{split}_order.h5"
    f, order = _open_dataset(path, "order", name)
    with f:
        values = np.asarray(order[()])
    if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        raise DatasetError(f"{name}: {path} dataset 'order' is {values.dtype} of shape {values.shape}; expected a "
                           "non-empty 1-D array of integer row indices")
    return values.astype(np.int64)


def read_split(root, split: str, *, n_classes: int, name: str = "ave") -> dict:
    """{"audio", "visual", "label"} tensors of the rows `split`_order.h5 names (in that order)."""
    root = Path(root)
    order = read_order(root, split, name)
    expected = {"audio": AUDIO_SHAPE, "visual": VISUAL_SHAPE, "label": (N_SEGMENTS, n_classes)}
    out, n_rows = {}, None
    for key, file in FEATURE_FILES.items():
        path = root / file
        f, data = _open_dataset(path, DATASET_KEY, name)
        with f:
            if tuple(data.shape[1:]) != expected[key] or data.ndim != len(expected[key]) + 1:
                raise DatasetError(f"{name}: {path} dataset {DATASET_KEY!r} has shape {tuple(data.shape)}; expected "
                                   f"[N, {', '.join(map(str, expected[key]))}]")
            if n_rows is not None and data.shape[0] != n_rows:
                raise DatasetError(f"{name}: {path} has {data.shape[0]} rows, the other feature files {n_rows}; "
                                   "expected one row per clip in every file")
            n_rows = data.shape[0]
            if order.min() < 0 or order.max() >= n_rows:
                bad = int(order.max() if order.max() >= n_rows else order.min())
                raise DatasetError(f"{name}: {root / f'{split}_order.h5'} names row {bad}, out of range for the "
                                   f"{n_rows} rows of {path.name}; expected indices in 0..{n_rows - 1}")
            rows, inverse = np.unique(order, return_inverse=True)  # h5py reads increasing indices only
            values = np.asarray(data[rows])[inverse]
        out[key] = torch.from_numpy(np.ascontiguousarray(values))
    onehot = out["label"]
    if not torch.all(onehot.sum(-1) == 1) or not torch.all((onehot == 0) | (onehot == 1)):
        raise DatasetError(f"{name}: {root / 'labels.h5'} rows of {split} are not one-hot per segment; expected "
                           f"exactly one 1 among the {n_classes} classes (background last) of every segment")
    out["label"] = onehot.argmax(-1).to(torch.int64)
    out["audio"] = out["audio"].float()
    if not out["visual"].is_floating_point():
        raise DatasetError(f"{name}: {root / 'visual_feature.h5'} holds {out['visual'].dtype}; expected floats")
    return out


class SegmentDataset(InMemoryAV):
    """Clips of 10 segments held in memory: the item format of AVE and AV-Events (module docstring)."""

    n_classes = 29  # a subclass or instance sets its own

    @classmethod
    def from_tensors(cls, audio, visual, label, n_classes: int | None = None):
        self = cls.__new__(cls)
        self.audio, self.visual, self.label = audio, visual, label
        if n_classes is not None:
            self.n_classes = n_classes
        return self


class AVE(SegmentDataset):
    """One split of the AVE release's features (28 events + background = 29 classes)."""

    n_classes = 29

    def __init__(self, root, split: str):
        data = read_split(root, split, n_classes=self.n_classes, name="ave")
        self.audio, self.visual, self.label = data["audio"], data["visual"], data["label"]


def write_ave_files(root, audio, visual, onehot, orders: dict) -> None:
    """The AVE release's six files under `root` (tests' fixtures; AV-Events' generator)."""
    import h5py

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for key, values in (("audio", audio), ("visual", visual), ("label", onehot)):
        with h5py.File(root / FEATURE_FILES[key], "w") as f:
            f.create_dataset(DATASET_KEY, data=np.asarray(values))
    for split, order in orders.items():
        with h5py.File(root / f"{split}_order.h5", "w") as f:
            f.create_dataset("order", data=np.asarray(order, dtype=np.int64))
