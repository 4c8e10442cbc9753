"""CremaD loader on a tiny synthetic tree (tests/fixtures_cremad.py)."""

import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from fixtures_cremad import clip_id, make_cremad_fixture

from avlib.data.cremad import EMOTIONS, CremaD, carve_val, frame_indices, load_audio, load_frame
from avlib.data.errors import DatasetError

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
    ],
)
def test_bad_params(root, params, value):
    with pytest.raises(DatasetError, match=value):
        CremaD(root, "train", **params)


def test_unknown_split(root):
    with pytest.raises(DatasetError, match="'dev'"):
        CremaD(root, "dev")
