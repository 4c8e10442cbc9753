"""Kinetics-Sounds and VGGSound loaders on tiny fixtures written in the real on-disk formats."""

import numpy as np
import pytest
import soundfile
from PIL import Image

from avlib.data import load_dataset
from avlib.data.errors import DatasetError
from avlib.data.real.kinetics_sounds import KineticsSounds
from avlib.data.real.vggsound import VGGSound

OPTIONS = dict(image_size=16, n_frames=2, val_fraction=0.25, val_seed=0)


def _clip(root, clip, n_frames=3, seconds=0.5, rate=16_000):
    (root / "audio").mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(root / "audio" / f"{clip}.wav", 0.1 * np.sin(2 * np.pi * 440 * t), rate)
    frames = root / "visual" / clip
    frames.mkdir(parents=True)
    for i in range(n_frames):
        Image.new("RGB", (20, 12), (10 * i, 80, 160)).save(frames / f"{i:04d}.jpg")


def make_ks(root, n_train=8, n_test=3):
    lines = {"train": [], "test": []}
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            clip = f"{split}_clip{i:03d}"
            _clip(root, clip)
            lines[split].append(f"{clip},3,{(7 * i) % 31}")
    for split, rows in lines.items():
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return root


def make_vgg(root):
    rows = []
    for i, (label, split) in enumerate([("dog barking", "train"), ("playing piano", "train"), ("dog barking", "train"),
                                        ("rain", "train"), ("playing piano", "test"), ("rain", "test")]):
        ytid = f"-ab{i}_Cd"
        _clip(root, f"{ytid}_{10 * i:06d}")
        rows.append(f"{ytid},{10 * i},{label},{split}")
    (root / "vggsound.csv").write_text("\n".join(rows) + "\n")
    return root


def test_kinetics_sounds_splits_items_and_labels(tmp_path):
    root = make_ks(tmp_path)
    splits = {s: load_dataset("kinetics_sounds", root, s, **OPTIONS) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 3]
    assert not set(splits["train"].clips) & set(splits["val"].clips)  # val carved from train, disjoint
    item = splits["test"][1]
    assert item["audio"].shape == (1, 257, 188) and item["visual"].shape == (2, 3, 16, 16)
    assert int(item["label"]) == 7 and KineticsSounds.n_classes == 31


@pytest.mark.parametrize("row, expected", [("c0,3,31", "label index 31 out of range"),
                                           ("c0,three,1", "malformed row"), ("c0,3", "malformed row")])
def test_kinetics_sounds_bad_rows_name_the_file_and_line(tmp_path, row, expected):
    root = make_ks(tmp_path)
    (root / "train.txt").write_text(row + "\n")
    with pytest.raises(DatasetError, match=expected) as err:
        KineticsSounds(root, "train", **OPTIONS)
    assert "train.txt line 1" in str(err.value)


def test_kinetics_sounds_missing_files_and_short_frame_folders(tmp_path):
    root = make_ks(tmp_path)
    (root / "test.txt").unlink()
    with pytest.raises(DatasetError, match="test.txt not found"):
        KineticsSounds(root, "test")
    (root / "audio" / "train_clip000.wav").unlink()
    with pytest.raises(DatasetError, match="train_clip000.wav not found"):
        KineticsSounds(root, "train", **OPTIONS)
    root2 = make_ks(tmp_path / "b")
    (root2 / "test.txt").write_text("test_clip000,5,0\n")  # the list says 5 frames, the folder has 3
    with pytest.raises(DatasetError, match="holds 3 .jpg frames; expected at least 5"):
        KineticsSounds(root2, "test", **OPTIONS)


def test_vggsound_classes_clip_names_and_splits(tmp_path):
    root = make_vgg(tmp_path)
    train = VGGSound(root, "train", **OPTIONS)
    test = load_dataset("vggsound", root, "test", **OPTIONS)
    assert train.classes == ["dog barking", "playing piano", "rain"] and test.n_classes == 3
    assert test.clips == ["-ab4_Cd_000040", "-ab5_Cd_000050"] and test.labels == [1, 2]
    assert len(train) == 3 and len(VGGSound(root, "val", **OPTIONS)) == 1
    assert test[0]["visual"].shape == (2, 3, 16, 16)


@pytest.mark.parametrize("row, expected", [("x,10,rain,valid", "split 'valid'"), ("x,ten,rain,train", "malformed"),
                                           ("x,10,rain", "malformed")])
def test_vggsound_bad_rows(tmp_path, row, expected):
    root = make_vgg(tmp_path)
    (root / "vggsound.csv").write_text(row + "\n")
    with pytest.raises(DatasetError, match=expected) as err:
        VGGSound(root, "train", **OPTIONS)
    assert "vggsound.csv line 1" in str(err.value)


def test_vggsound_missing_csv_and_frames(tmp_path):
    with pytest.raises(DatasetError, match="vggsound.csv not found"):
        VGGSound(tmp_path, "train")
    root = make_vgg(tmp_path / "v")
    for jpg in (root / "visual" / "-ab0_Cd_000000").glob("*.jpg"):
        jpg.unlink()
    with pytest.raises(DatasetError, match="-ab0_Cd_000000 holds 0 .jpg frames"):
        VGGSound(root, "train", **OPTIONS)
