"""The AVE release's feature files: read in the order files' order; every malformed file raises one DatasetError
naming it and what was expected."""

import h5py
import numpy as np
import pytest
import torch

from avlib.data import DatasetError, load_dataset
from avlib.data.real.ave import AVE, write_ave_files

N = 6


def _features(rng, n=N, visual_channels=512):
    audio = rng.normal(size=(n, 10, 128)).astype(np.float32)
    visual = rng.normal(size=(n, 10, 7, 7, visual_channels)).astype(np.float16)
    labels = rng.integers(29, size=(n, 10))
    return audio, visual, labels, np.eye(29, dtype=np.uint8)[labels]


@pytest.fixture
def ave_root(tmp_path):
    rng = np.random.default_rng(0)
    audio, visual, labels, onehot = _features(rng)
    write_ave_files(tmp_path, audio, visual, onehot, {"train": [4, 0, 1], "val": [2, 2], "test": [5, 3]})
    return tmp_path, audio, visual, labels


def test_reads_the_rows_the_order_file_names_in_its_order(ave_root):
    root, audio, visual, labels = ave_root
    train = load_dataset("ave", root, "train")
    assert isinstance(train, AVE) and len(train) == 3 and train.n_classes == 29
    assert torch.equal(train.audio, torch.from_numpy(audio[[4, 0, 1]]))
    assert torch.equal(train.visual, torch.from_numpy(visual[[4, 0, 1]]))
    assert torch.equal(train.label, torch.from_numpy(labels[[4, 0, 1]]))  # one-hot -> class index
    assert torch.equal(AVE(root, "val").audio[0], AVE(root, "val").audio[1])  # a repeated index is allowed
    batch = train.__getitems__([2, 0])
    assert batch["audio"].shape == (2, 10, 128) and batch["visual"].shape == (2, 10, 7, 7, 512)
    assert batch["label"].shape == (2, 10) and batch["label"].dtype == torch.int64


def test_missing_file_names_it(ave_root):
    root = ave_root[0]
    (root / "labels.h5").unlink()
    with pytest.raises(DatasetError, match=r"labels\.h5 not found"):
        AVE(root, "train")


def test_wrong_visual_shape_names_file_and_expected_shape(tmp_path):
    audio, visual, _, onehot = _features(np.random.default_rng(1), visual_channels=256)
    write_ave_files(tmp_path, audio, visual, onehot, {"train": [0]})
    with pytest.raises(DatasetError, match=r"visual_feature\.h5 .*\(6, 10, 7, 7, 256\); expected \[N, 10, 7, 7, 512\]"):
        AVE(tmp_path, "train")


def test_index_out_of_range_names_the_order_file(ave_root):
    root = ave_root[0]
    with h5py.File(root / "test_order.h5", "w") as f:
        f.create_dataset("order", data=np.array([1, N]))
    with pytest.raises(DatasetError, match=rf"test_order\.h5 names row {N}, out of range .* 0\.\.{N - 1}"):
        AVE(root, "test")


def test_wrong_dataset_key_and_labels_not_one_hot(ave_root):
    root = ave_root[0]
    with h5py.File(root / "val_order.h5", "w") as f:
        f.create_dataset("indices", data=np.array([0]))
    with pytest.raises(DatasetError, match=r"val_order\.h5 has no dataset 'order'"):
        AVE(root, "val")
    with h5py.File(root / "labels.h5", "r+") as f:
        f["avadataset"][0, 0, :] = 0
    with pytest.raises(DatasetError, match=r"labels\.h5 .*not one-hot"):
        AVE(root, "train")  # train holds row 0
