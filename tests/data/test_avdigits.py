import json

import pytest
import torch
from fixtures.avdigits import TINY, digest

from avlib.data import DatasetError, load_dataset, load_splits, make_loader
from avlib.data.embedded.avdigits import AVDigitsConfig, generate
from avlib.data.synth.voices import voice_family


@pytest.mark.slow
def test_generation_is_deterministic(tiny_avdigits, tmp_path):
    again = tmp_path / "again"
    generate(again, AVDigitsConfig(**TINY), progress=False)
    assert digest(again) == digest(tiny_avdigits)  # every tensor, wav and meta byte


def test_splits_share_no_image_and_val_test_share_the_held_out_speakers(tiny_avdigits):
    data = {s: torch.load(tiny_avdigits / f"{s}.pt", weights_only=True) for s in ("train", "val", "test")}
    images = {s: set(d["source_index"].tolist()) for s, d in data.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not images[a] & images[b]
    meta = json.loads((tiny_avdigits / "meta.json").read_text())
    assert meta["sizes"] == {"train": 60, "val": 30, "test": 30}
    voices = {s: {v.removeprefix("en+") for v in d["voice"]} for s, d in data.items()}
    assert voices["train"] <= set(meta["voices"]["train"])
    assert voices["val"] | voices["test"] <= set(meta["voices"]["held_out"])  # one distribution
    assert voices["val"] & voices["test"]  # 30 draws each from the same speakers: some shared
    families = {s: {voice_family(v) for v in vs} for s, vs in voices.items()}
    assert not families["train"] & (families["val"] | families["test"])  # unseen speakers


def test_items_and_batches(tiny_avdigits):
    splits = load_splits("avdigits", tiny_avdigits)
    item = splits["train"][0]
    assert item["audio"].shape == (1, 32, 51) and item["visual"].shape == (1, 28, 28)
    assert 0 <= int(item["label"]) < 10
    batch = next(iter(make_loader(splits["train"], batch_size=16, shuffle=True, seed=3)))
    assert batch["audio"].shape == (16, 1, 32, 51) and batch["label"].shape == (16,)
    again = next(iter(make_loader(splits["train"], batch_size=16, shuffle=True, seed=3)))
    assert torch.equal(batch["label"], again["label"])  # order fixed by the seed


def test_wavs_match_the_labels(tiny_avdigits):
    wavs = sorted((tiny_avdigits / "wav" / "test").glob("*.wav"))
    labels = torch.load(tiny_avdigits / "test.pt", weights_only=True)["label"].tolist()
    assert [int(p.stem.split("_")[1]) for p in wavs] == labels


def test_missing_split_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"test\.pt not found"):
        load_dataset("avdigits", tmp_path, "test")


def _write_copy(src, dst, data: bytes):
    dst.mkdir()
    for path in src.glob("*.pt"):
        (dst / path.name).write_bytes(path.read_bytes())
    (dst / "val.pt").write_bytes(data)


def test_truncated_split_names_the_file_and_the_fix(tiny_avdigits, tmp_path):
    whole = (tiny_avdigits / "val.pt").read_bytes()
    _write_copy(tiny_avdigits, tmp_path / "cut", whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match=r"cut/val\.pt .*dvc repro -f data_avdigits"):
        load_dataset("avdigits", tmp_path / "cut", "val")
    assert len(load_dataset("avdigits", tmp_path / "cut", "test")) == 30  # the other splits still load


@pytest.mark.parametrize("content, problem", [
    ([1, 2, 3], "holds a list"),
    ({"audio": torch.zeros(3, 1, 32, 51)}, "lacks"),
    ({"audio": torch.zeros(3, 1, 32, 51), "visual": torch.zeros(3, 1, 28, 28), "label": torch.zeros(2).long(),
      "voice": ["en+m1"] * 3}, "lengths"),
    ({"audio": torch.zeros(3, 32, 51), "visual": torch.zeros(3, 1, 28, 28), "label": torch.zeros(3).long(),
      "voice": ["en+m1"] * 3}, "audio has shape"),
    ({"audio": torch.zeros(3, 1, 32, 51), "visual": torch.zeros(3, 1, 28, 28), "label": torch.full((3,), 10),
      "voice": ["en+m1"] * 3}, "labels span"),
])
def test_malformed_split_names_the_file_and_the_problem(tmp_path, content, problem):
    torch.save(content, tmp_path / "val.pt")
    with pytest.raises(DatasetError, match=rf"val\.pt {problem}.*dvc repro -f data_avdigits"):
        load_dataset("avdigits", tmp_path, "val")


def test_foreign_pickle_names_the_file(tmp_path):
    import pickle

    (tmp_path / "val.pt").write_bytes(pickle.dumps(object(), protocol=2))
    with pytest.raises(DatasetError, match=r"cannot load split file .*val\.pt"):
        load_dataset("avdigits", tmp_path, "val")


def test_unknown_dataset_and_split_are_named(tmp_path):
    with pytest.raises(DatasetError, match="'audioset'"):
        load_dataset("audioset", tmp_path, "train")
    with pytest.raises(DatasetError, match="'dev'"):
        load_dataset("avdigits", tmp_path, "dev")


@pytest.mark.parametrize("bad", [dict(n_train=0), dict(n_train=4000, n_test=2000), dict(visual_occlusion=40),
                                 dict(visual_noise_std=-1.0), dict(voice_split=(1.0, 0.0)),
                                 dict(voice_split=(0.6, 0.6)), dict(voice_split=(0.6,))])
def test_bad_generator_config_is_named(bad):
    with pytest.raises(DatasetError, match=next(iter(bad)).split("_")[0]):
        AVDigitsConfig(**bad)


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    import avlib.data.embedded.avdigits as avdigits

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(avdigits, "synthesize_many", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "avdigits", AVDigitsConfig(**TINY), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_in_memory_loader_epochs_are_seeded_permutations(tiny_avdigits):
    dataset = load_dataset("avdigits", tiny_avdigits, "train")
    loader = make_loader(dataset, batch_size=16, shuffle=True, seed=5)
    epoch1, epoch2 = ([b["label"] for b in loader] for _ in range(2))
    assert [len(b) for b in epoch1] == [16, 16, 16, 12] and len(loader) == 4
    assert sorted(torch.cat(epoch1).tolist()) == sorted(dataset.label.tolist())  # every sample once
    assert not all(torch.equal(a, b) for a, b in zip(epoch1, epoch2, strict=True))  # reshuffled
    again = make_loader(dataset, batch_size=16, shuffle=True, seed=5)
    assert all(torch.equal(a, b["label"]) for a, b in zip(epoch1, again, strict=True))
    assert len(make_loader(dataset, batch_size=16, shuffle=False, drop_last=True)) == 3
