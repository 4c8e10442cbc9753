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


def _sight_probe(noise: float, n_train: int = 1200, n_val: int = 400) -> float:
    """Does a frame, as AV-Events draws it (an MNIST digit at a random place on the canvas, pixel noise `noise`,
    the fixed random extractor), carry the digit's identity? Val accuracy of a linear probe on the mean-pooled
    7x7x512 features (chance 10%)."""
    from sklearn.linear_model import LogisticRegression

    from avlib.data.embedded.avevents import CANVAS, FrameExtractor, _mnist

    images, digit = _mnist()
    extractor, rng = FrameExtractor(0), np.random.default_rng(1)

    def frames(n):
        pick, offset = rng.choice(len(images), n), rng.integers(0, CANVAS - 28 + 1, size=(n, 2))
        canvas = np.zeros((n, 1, CANVAS, CANVAS), np.float32)
        for i, (p, (y, x)) in enumerate(zip(pick, offset, strict=True)):
            canvas[i, 0, y:y + 28, x:x + 28] = images[p]
        canvas += rng.normal(0, noise, canvas.shape).astype(np.float32)
        with torch.no_grad():
            return extractor(torch.from_numpy(canvas)).mean((1, 2)).numpy(), digit[pick]

    (x_train, y_train), (x_val, y_val) = frames(n_train), frames(n_val)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    return LogisticRegression(max_iter=500).fit((x_train - mu) / sd, y_train).score((x_val - mu) / sd, y_val)


@pytest.mark.slow
def test_the_sight_probe_reads_the_digit_from_clean_frames():
    """The probe below can see a class when the frames carry one (measured 53% at noise 0)."""
    assert _sight_probe(0.0) > 0.4


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="#27: at the committed visual_noise_std (0.7) AV-Events' frames carry whether "
                   "something is seen but not which digit (probe ~10%, chance 10%), so no visual branch can name the "
                   "class and OGM-GE has no under-optimized visual encoder to help; re-choosing the difficulty with a "
                   "'sight carries the class' criterion is open")
def test_at_the_committed_noise_sight_carries_the_class():
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["data_avevents"]
    assert _sight_probe(params["visual_noise_std"]) > 0.2
