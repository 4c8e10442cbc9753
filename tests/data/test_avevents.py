"""AV-Events: deterministic from its seed, labels as AVE's, features in AVE's shapes, clear errors."""

import numpy as np
import pytest
import torch

from avlib.data import DatasetError, load_splits
from avlib.data.embedded.avevents import AVEvents, AVEventsConfig, generate

TINY = dict(n_train=6, n_val=4, n_test=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("avevents") / "a"
    generate(root, AVEventsConfig(**TINY), progress=False)
    return root


def test_same_seed_same_data_other_seed_other_data(tiny, tmp_path):
    again = tmp_path / "again"
    generate(again, AVEventsConfig(**TINY), progress=False)
    other = tmp_path / "other"
    generate(other, AVEventsConfig(**TINY, seed=1), progress=False)
    for split in ("train", "val", "test"):
        a, b, c = AVEvents(tiny, split), AVEvents(again, split), AVEvents(other, split)
        for key in ("audio", "visual", "label"):
            assert torch.equal(getattr(a, key), getattr(b, key)), (split, key)
        assert not torch.equal(a.audio, c.audio)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp folder left


def test_labels_one_contiguous_event_heard_and_seen_background_last(tiny):
    data = load_splits("avevents", tiny)
    masks = np.load(tiny / "segments.npz")
    assert data["train"].n_classes == 11
    for split, d in data.items():
        assert d.audio.shape[1:] == (10, 128) and d.visual.shape[1:] == (10, 7, 7, 512)
        assert d.visual.dtype == torch.float16
        both = masks[f"{split}_audible"] & masks[f"{split}_visible"]
        for clip, label in enumerate(d.label.numpy()):
            event = np.flatnonzero(label != 10)
            assert len(event) >= 2 and np.all(np.diff(event) == 1)  # one run, min_event long
            assert len(set(label[event])) == 1
            assert np.array_equal(label != 10, both[clip])  # event exactly where heard and seen


def test_bad_knobs_and_missing_data_raise_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="min_event <= max_event"):
        AVEventsConfig(min_event=5, max_event=3)
    with pytest.raises(DatasetError, match="p_audio_only"):
        AVEventsConfig(p_audio_only=0.7, p_visual_only=0.5)
    with pytest.raises(DatasetError, match=r"meta\.json not found"):
        AVEvents(tmp_path, "train")
