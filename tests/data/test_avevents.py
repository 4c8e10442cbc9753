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


def _sight_probe(noise: float, n_train: int = 800, n_val: int = 300) -> float:
    """Does a frame, as AV-Events draws it (an MNIST digit at a random place on the canvas, pixel noise `noise`,
    the fixed random extractor), carry the digit's identity? The sight probe of premise_avevents
    (avlib/tasks/ave/sight.py) on fresh frames, one per "clip" (chance 10%)."""
    from avlib.data.embedded.avevents import CANVAS, FrameExtractor, _mnist
    from avlib.data.real.ave import SegmentDataset
    from avlib.tasks.ave.sight import sight_probe

    images, digit = _mnist()
    extractor, rng = FrameExtractor(0), np.random.default_rng(1)

    def frames(n):
        pick, offset = rng.choice(len(images), n), rng.integers(0, CANVAS - 28 + 1, size=(n, 2))
        canvas = np.zeros((n, 1, CANVAS, CANVAS), np.float32)
        for i, (p, (y, x)) in enumerate(zip(pick, offset, strict=True)):
            canvas[i, 0, y:y + 28, x:x + 28] = images[p]
        canvas += rng.normal(0, noise, canvas.shape).astype(np.float32)
        with torch.no_grad():  # the extractor's float32 layers: the generator's exact float64 path (the same bits
            # on every CPU) differs by rounding only and costs ~5x more
            visual = extractor.net(torch.from_numpy(canvas)).permute(0, 2, 3, 1)[:, None]  # (n, 1, 7, 7, 512)
        return SegmentDataset.from_tensors(torch.zeros(n, 1, 128), visual, torch.from_numpy(digit[pick])[:, None],
                                           n_classes=11)  # 10 digits + a background label no frame has

    return sight_probe(frames(n_train), frames(n_val))["accuracy"]


@pytest.mark.slow
def test_the_sight_probe_reads_the_digit_from_clean_frames_and_not_from_noise():
    """The probe sees a class when the frames carry one, and only then (the committed data before #27's
    re-choice, at noise 0.7, read ~10-12%)."""
    assert _sight_probe(0.0) > 0.4
    assert _sight_probe(1.5) < 0.15


@pytest.mark.slow
def test_at_the_committed_noise_sight_carries_the_class():
    """premise_avevents' criterion (twice chance), on fresh frames at params.yaml's visual_noise_std and the data's
    scale (~4,000 event segments in train, ~1,000 in val: the probe reads less from fewer; 21.6% when written)."""
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["data_avevents"]
    assert _sight_probe(params["visual_noise_std"], n_train=4000, n_val=1000) >= 0.2
