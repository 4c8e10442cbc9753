"""AV-Digits clips: determinism, shapes and per-segment states, clear errors (the data notebook: tests/stages)."""

from dataclasses import replace

import pytest
import torch
from fixtures.avclips import TINY, tiny_avclips

from avlib.data import load_dataset
from avlib.data.embedded.avclips import AVClips, AVClipsConfig, generate
from avlib.data.errors import DatasetError


def test_splits_shapes_and_states():
    train = load_dataset("avclips", tiny_avclips(), "train")
    assert train.audio.shape[:3] == (24, 3, 1) and train.visual.shape == (24, 3, 1, 28, 28)
    assert set(train.audio_state.unique().tolist()) <= {0, 1, 2} and train.label.max() < 10
    batch = train.__getitems__([0, 2])
    assert batch["audio"].shape == (2, *train.audio.shape[1:]) and torch.equal(batch["label"], train.label[[0, 2]])
    # each segment shows its own MNIST image of the clip's digit
    assert all(len(set(row.tolist())) == 3 for row in torch.load(tiny_avclips() / "train.pt")["source_index"])


@pytest.mark.slow
def test_generation_is_deterministic_and_seeded(tmp_path):
    generate(tmp_path / "a", AVClipsConfig(**TINY), progress=False)
    a, b = (torch.load(tiny_avclips() / "val.pt"), torch.load(tmp_path / "a" / "val.pt"))
    for key in ("audio", "visual", "label", "audio_state", "visual_state"):
        assert torch.equal(a[key], b[key]), key
    generate(tmp_path / "c", replace(AVClipsConfig(**TINY), seed=1, n_train=8, n_val=4, n_test=4), progress=False)
    assert not torch.equal(torch.load(tmp_path / "c" / "val.pt")["visual"][:4], a["visual"][:4])


def test_bad_knobs_and_files_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="p_audio_noisy=0.6, p_audio_missing=0.6"):
        AVClipsConfig(p_audio_noisy=0.6, p_audio_missing=0.6)
    with pytest.raises(DatasetError, match="segments=0"):
        AVClipsConfig(segments=0)
    with pytest.raises(DatasetError, match="train.pt not found"):
        AVClips(tmp_path, "train")
    data = torch.load(tiny_avclips() / "test.pt")
    data["visual"] = data["visual"][:, :, :, :14]
    torch.save(data, tmp_path / "test.pt")
    with pytest.raises(DatasetError, match=r"test.pt visual has shape .* expected float \(N, T, 1, 28, 28\)"):
        AVClips(tmp_path, "test")
