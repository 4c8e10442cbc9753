"""CremaD loader on a tiny synthetic tree (tests/fixtures/cremad.py)."""

import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from fixtures.cremad import clip_id, make_cremad_fixture, ramp_image

from avlib.data import load_splits, make_loader
from avlib.data.errors import DatasetError
from avlib.data.real import cremad
from avlib.data.real.cremad import (
    CROP_RATIO,
    EMOTIONS,
    CremaD,
    carve_val,
    frame_indices,
    load_audio,
    load_frame,
    random_resized_crop_box,
)

SMALL = {"image_size": 32}  # tests not about the 224 default keep images small


@pytest.fixture
def root(tmp_path):
    return make_cremad_fixture(tmp_path / "cremad")


def csv_rows(path):
    return [tuple(line.split(",")) for line in path.read_text().splitlines()]


def test_item_shapes_and_types_at_defaults(root):
    item = CremaD(root, "test")[0]
    assert item["audio"].shape == (1, 257, 188) and item["audio"].dtype == torch.float32
    assert item["visual"].shape == (1, 3, 224, 224) and item["visual"].dtype == torch.float32
    assert item["label"].dtype == torch.long and item["label"].shape == ()
    assert torch.isfinite(item["audio"]).all()


def test_several_frames_and_stereo_clip(root):
    ds = CremaD(root, "train", val_fraction=0.5, val_seed=0, n_frames=3, **SMALL)
    for item in (ds[i] for i in range(len(ds))):
        assert item["audio"].shape == (1, 257, 188)
        assert item["visual"].shape == (3, 3, 32, 32)
    wave = load_audio(root / "AudioWAV" / f"{clip_id(1)}.wav")  # the stereo clip
    assert wave.shape == (66_150,)


def test_labels_follow_csv_and_emotion_order(root):
    ds = CremaD(root, "test", **SMALL)
    rows = csv_rows(root / "test.csv")
    assert ds.clips == [clip for clip, _ in rows]
    assert ds.labels == [EMOTIONS.index(code) for _, code in rows]
    assert [int(ds[i]["label"]) for i in range(len(ds))] == ds.labels
    assert EMOTIONS == ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG") and ds.n_classes == 6
    assert set(CremaD(root, "train", val_fraction=0.5, **SMALL).labels) | set(
        CremaD(root, "val", val_fraction=0.5, **SMALL).labels
    ) == set(range(6))


@pytest.mark.parametrize("val_fraction", [0.1, 0.25, 0.5])
def test_train_val_disjoint_and_cover_train_csv(root, val_fraction):
    train = CremaD(root, "train", val_fraction=val_fraction, **SMALL)
    val = CremaD(root, "val", val_fraction=val_fraction, **SMALL)
    assert not set(train.clips) & set(val.clips)
    assert sorted(train.clips + val.clips) == sorted(clip for clip, _ in csv_rows(root / "train.csv"))
    assert len(val) == max(1, round(val_fraction * 8))


def test_carve_is_deterministic_in_the_seed(root):
    first = CremaD(root, "val", val_fraction=0.5, val_seed=3, **SMALL).clips
    assert CremaD(root, "val", val_fraction=0.5, val_seed=3, **SMALL).clips == first
    np.testing.assert_array_equal(carve_val(1000, 0.1, 7), carve_val(1000, 0.1, 7))
    assert not np.array_equal(carve_val(1000, 0.1, 7), carve_val(1000, 0.1, 8))


def test_short_wav_is_tiled_and_long_wav_truncated(root, tmp_path):
    one_second = tmp_path / "one.wav"  # at 22,050 Hz already, so no resampling blurs the comparison
    sf.write(one_second, np.sin(np.linspace(0, 300, 22_050)).astype(np.float32), 22_050, subtype="FLOAT")
    wave = load_audio(one_second)
    assert wave.shape == (66_150,)
    torch.testing.assert_close(wave[:22_050], wave[22_050:44_100])
    torch.testing.assert_close(wave[:22_050], wave[44_100:])
    resampled = load_audio(root / "AudioWAV" / f"{clip_id(0)}.wav")  # 1 s at 16 kHz -> 22,050 samples
    torch.testing.assert_close(resampled[:22_050], resampled[22_050:44_100])
    assert load_audio(root / "AudioWAV" / f"{clip_id(2)}.wav").shape == (66_150,)  # 3.5 s, cut


def test_frames_are_chosen_evenly_and_deterministically(root):
    assert frame_indices(3, 1) == [1] and frame_indices(2, 1) == [1] and frame_indices(3, 3) == [0, 1, 2]
    assert frame_indices(2, 4) == [0, 0, 1, 1]
    ds = CremaD(root, "test", **SMALL)
    jpgs = sorted((root / "Image-01-FPS" / ds.clips[0]).glob("*.jpg"))
    torch.testing.assert_close(ds[0]["visual"][0], load_frame(jpgs[len(jpgs) // 2], 32))
    torch.testing.assert_close(ds[0]["visual"], ds[0]["visual"])


def test_csv_with_byte_order_mark(root):
    text = (root / "test.csv").read_text()
    (root / "test.csv").write_text(text, encoding="utf-8-sig")  # writes a BOM before the first clip
    assert (root / "test.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    ds = CremaD(root, "test", **SMALL)  # a BOM kept in the name would fail: no such .wav
    assert ds.clips == [clip_id(i) for i in range(8, 12)]
    assert ds.labels == [EMOTIONS.index(clip_id(i).split("_")[2]) for i in range(8, 12)]


# ---- training augmentation: RandomResizedCrop + horizontal flip, train split only ----


def test_crop_box_follows_torchvision_bounds():
    torch.manual_seed(0)
    sizes = set()
    for _ in range(500):
        left, top, right, bottom = random_resized_crop_box(64, 48)
        w, h = right - left, bottom - top
        assert 0 <= left < right <= 64 and 0 <= top < bottom <= 48
        assert 0.08 * 64 * 48 * 0.8 <= w * h <= 64 * 48  # 0.8: w and h are rounded to integers
        assert CROP_RATIO[0] * 0.8 <= w / h <= CROP_RATIO[1] * 1.25
        sizes.add((w, h))
    assert len(sizes) > 100  # really random, not one fixed crop


def test_crop_box_fallback_is_a_center_crop():
    # No crop of twice the image's area fits, so all 10 tries fail and the center crop is returned:
    # the whole image, narrowed to the nearest ratio bound when its own ratio is outside (3/4, 4/3).
    never_fits = (2.0, 2.0)
    assert random_resized_crop_box(64, 48, scale=never_fits) == (0, 0, 64, 48)  # 4:3 is within bounds
    assert random_resized_crop_box(200, 20, scale=never_fits) == (86, 0, 113, 20)  # w = round(20 * 4/3)
    assert random_resized_crop_box(20, 200, scale=never_fits) == (0, 86, 20, 113)  # h = round(20 / (3/4))


@pytest.mark.parametrize("box", [(0, 0, 64, 48), (8, 4, 40, 28)], ids=["whole", "top-left-ish"])
def test_augment_crops_the_box_then_mirrors(tmp_path, monkeypatch, box):
    image = ramp_image(64, 48, (250, 120, 30))
    image.save(tmp_path / "ramp.png")  # lossless, so pixels compare exactly
    image.crop(box).save(tmp_path / "crop.png")
    plain = load_frame(tmp_path / "crop.png", 32)  # what the crop must give, before any flip
    mirrored = plain.flip(-1)
    assert not torch.allclose(plain, mirrored)  # asymmetric, so the check below means something
    monkeypatch.setattr(cremad, "random_resized_crop_box", lambda width, height: box)
    torch.manual_seed(0)
    outcomes = []
    for _ in range(20):
        frame = load_frame(tmp_path / "ramp.png", 32, augment=True)
        if torch.equal(frame, plain):
            outcomes.append("plain")
        else:
            torch.testing.assert_close(frame, mirrored, rtol=0, atol=0)
            outcomes.append("mirrored")
    assert set(outcomes) == {"plain", "mirrored"}


def test_augmented_train_items_change_between_draws_but_val_and_test_do_not(root):
    train = CremaD(root, "train", val_fraction=0.5, n_frames=2, **SMALL)
    assert train.augment
    torch.manual_seed(0)
    first, second = train[0], train[0]
    assert first["visual"].shape == (2, 3, 32, 32)
    assert not torch.equal(first["visual"], second["visual"])
    torch.testing.assert_close(first["audio"], second["audio"])  # only frames are augmented
    torch.manual_seed(0)
    torch.testing.assert_close(train[0]["visual"], first["visual"], rtol=0, atol=0)  # same RNG state

    for split in ("val", "test"):
        ds = CremaD(root, split, val_fraction=0.5, n_frames=2, augment=True, **SMALL)
        assert not ds.augment
        torch.manual_seed(0)
        a = ds[0]["visual"]
        torch.manual_seed(1)
        torch.testing.assert_close(ds[0]["visual"], a, rtol=0, atol=0)
        plain = CremaD(root, split, val_fraction=0.5, n_frames=2, augment=False, **SMALL)
        torch.testing.assert_close(plain[0]["visual"], a, rtol=0, atol=0)


def test_augment_false_keeps_train_items_fixed(root):
    train = CremaD(root, "train", val_fraction=0.5, augment=False, **SMALL)
    torch.manual_seed(0)
    a = train[0]["visual"]
    torch.manual_seed(1)
    torch.testing.assert_close(train[0]["visual"], a, rtol=0, atol=0)
    jpgs = sorted((root / "Image-01-FPS" / train.clips[0]).glob("*.jpg"))
    torch.testing.assert_close(a[0], load_frame(jpgs[len(jpgs) // 2], 32))


def test_augmented_shape_at_default_size(root):
    item = CremaD(root, "train", n_frames=2)[0]
    assert item["visual"].shape == (2, 3, 224, 224) and item["visual"].dtype == torch.float32


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_same_seed_same_crops(root, num_workers):
    train = CremaD(root, "train", val_fraction=0.5, **SMALL)

    def run(seed):  # -> [epoch 0, epoch 1], each the frames of all items in dataset order
        torch.manual_seed(seed)  # as seed_everything; workers are seeded from the loader's generator
        # no shuffling, so that epochs can differ only by their crops
        loader = make_loader(train, batch_size=2, shuffle=False, seed=seed, num_workers=num_workers)
        return [torch.cat([batch["visual"] for batch in loader]) for _ in range(2)]

    first = run(0)
    for a, b in zip(first, run(0), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first[0], first[1])  # new crops every epoch
    assert not torch.equal(first[0], run(1)[0])  # and other crops for another seed


def test_load_splits_passes_options_through(root):
    splits = load_splits("cremad", root, val_fraction=0.25, val_seed=3, n_frames=2, image_size=32,
                         augment=True)
    assert [splits[s].augment for s in ("train", "val", "test")] == [True, False, False]
    assert all(ds.n_frames == 2 and ds.image_size == 32 for ds in splits.values())
    assert splits["val"].clips == CremaD(root, "val", val_fraction=0.25, val_seed=3).clips
    assert len(splits["val"]) == 2 and splits["train"][0]["visual"].shape == (2, 3, 32, 32)
    assert not load_splits("cremad", root, augment=False, **SMALL)["train"].augment


# ---- bad inputs: each raises DatasetError naming the offending path or value ----


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        CremaD(tmp_path / "nowhere", "train")


def test_missing_split_csv(root):
    (root / "test.csv").unlink()
    with pytest.raises(DatasetError, match="test.csv"):
        CremaD(root, "test")


def test_malformed_csv_row(root):
    with open(root / "train.csv", "a") as f:
        f.write("1099_DFA_ANG_XX;ANG\n")
    with pytest.raises(DatasetError, match=r"train\.csv line 9.*1099_DFA_ANG_XX;ANG"):
        CremaD(root, "train")


def test_unknown_emotion_code(root):
    text = (root / "test.csv").read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",SUR"
    (root / "test.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetError, match=r"test\.csv line 2.*'SUR'.*NEU.*ANG") as err:
        CremaD(root, "test")
    assert all(code in str(err.value) for code in EMOTIONS)


def test_missing_wav(root):
    (root / "AudioWAV" / f"{clip_id(9)}.wav").unlink()  # in test.csv
    with pytest.raises(DatasetError, match=f"{clip_id(9)}.wav"):
        CremaD(root, "test")


def test_unreadable_wav(root):
    wav = root / "AudioWAV" / f"{clip_id(8)}.wav"
    wav.write_bytes(b"not a wav file at all")
    ds = CremaD(root, "test", **SMALL)  # existence is all the constructor checks
    with pytest.raises(DatasetError, match=re.escape(str(wav))):
        ds[0]


def test_missing_frame_dir(root):
    shutil.rmtree(root / "Image-01-FPS" / clip_id(10))
    with pytest.raises(DatasetError, match=re.escape(str(root / "Image-01-FPS" / clip_id(10)))):
        CremaD(root, "test")


def test_frame_dir_without_jpg(root):
    frame_dir = root / "Image-01-FPS" / clip_id(11)
    for jpg in frame_dir.glob("*.jpg"):
        jpg.unlink()
    with pytest.raises(DatasetError, match=re.escape(str(frame_dir)) + ".*no .jpg"):
        CremaD(root, "test")


def test_undecodable_jpg(root):
    frame_dir = root / "Image-01-FPS" / clip_id(8)
    jpgs = sorted(frame_dir.glob("*.jpg"))
    bad = jpgs[len(jpgs) // 2]  # the frame n_frames=1 picks
    bad.write_bytes(b"\xff\xd8 truncated garbage")
    ds = CremaD(root, "test", **SMALL)
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        ds[0]


@pytest.mark.parametrize(
    ("params", "value"),
    [
        ({"val_fraction": 0.0}, "0.0"),
        ({"val_fraction": 1.0}, "1.0"),
        ({"val_fraction": -0.2}, "-0.2"),
        ({"val_fraction": "0.1"}, "'0.1'"),
        ({"n_frames": 0}, "n_frames.*0"),
        ({"n_frames": 1.5}, "n_frames.*1.5"),
        ({"n_frames": True}, "n_frames.*True"),
        ({"val_seed": -1}, "val_seed.*-1"),
        ({"val_seed": "0"}, "val_seed.*'0'"),
        ({"image_size": 0}, "image_size.*0"),
        ({"image_size": 224.0}, "image_size.*224.0"),
        ({"augment": "yes"}, "augment.*'yes'"),
        ({"augment": 1}, "augment.*1"),
    ],
)
def test_bad_params(root, params, value):
    with pytest.raises(DatasetError, match=value):
        CremaD(root, "train", **params)
    with pytest.raises(DatasetError, match=value):  # the same through the entry point
        load_splits("cremad", root, **params)


def test_unknown_split(root):
    with pytest.raises(DatasetError, match="'dev'"):
        CremaD(root, "dev")
