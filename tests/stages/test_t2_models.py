"""Table 2's models (stages t2_video, t2_speech, premise_avclips): temporal shift, consensus, statistics pooling
on hand-computed tensors; every model's output and OGM-GE groups; a run bit-identical; the blanked modality."""

import math

import pytest
import torch
from fixtures.avclips import tiny_avclips

from avlib.balance import OGMConfig
from avlib.models.classifier import AVOutput
from avlib.models.speech_branches import IVectorExtractor, build_speech_model, statistics_pooling, utterance_frames
from avlib.models.temporal import SegmentCNN, TemporalShift, build_video_model, segment_consensus, temporal_shift
from avlib.tasks.classify.clips import ClipJob, ogm_for, train


def test_temporal_shift_moves_exactly_the_intended_channels():
    # x[b, t, c] = 100 t + c: one value per (segment, channel)
    x = (100 * torch.arange(3).view(1, 3, 1) + torch.arange(8).view(1, 1, 8)).float().view(3, 8, 1, 1)
    out = temporal_shift(x, segments=3, shift_div=4).view(3, 8)  # fold = 2 channels each way
    expected = torch.tensor([[100, 101, 0, 0, 4, 5, 6, 7],       # t=0: ch 0-1 from t=1, ch 2-3 padded
                             [200, 201, 2, 3, 104, 105, 106, 107],
                             [0, 0, 102, 103, 204, 205, 206, 207]]).float()  # t=2: ch 0-1 padded
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="shifts none"):
        temporal_shift(x, segments=3, shift_div=16)


def test_tsm_inserts_two_shifts_and_tsn_is_the_consensus_of_segments():
    tsm = SegmentCNN(width=4, segments=3, shift_div=4)
    assert sum(isinstance(m, TemporalShift) for m in tsm.modules()) == 2
    torch.manual_seed(0)
    tsn = SegmentCNN(width=4, segments=3).eval()
    x = torch.randn(2, 3, 1, 28, 28)
    per_segment = torch.stack([tsn.net(x[:, t]) for t in range(3)], dim=1)
    assert torch.allclose(tsn(x), per_segment.mean(1), atol=1e-6)
    assert torch.equal(segment_consensus(torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])), torch.tensor([[2.0, 4.0]]))


def test_statistics_pooling_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]]])  # (B=1, C=2, L=4)
    out = statistics_pooling(x, eps=0.0)
    assert torch.allclose(out, torch.tensor([[2.5, 2.0, math.sqrt(1.25), 0.0]]))
    audio = torch.arange(2 * 3 * 2).float().view(1, 3, 1, 2, 2)  # (B, T, 1, mels=2, F=2)
    assert utterance_frames(audio).tolist() == [[[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10, 11]]]


@pytest.mark.parametrize("kind", ["tsn_av", "tsm_av", "tbn_lite", "psp_lite", "x_vector", "i_vector"])
def test_every_model_splits_its_logits_and_takes_ogm_ge(kind):
    torch.manual_seed(0)
    audio, visual = torch.randn(6, 3, 1, 8, 12), torch.randn(6, 3, 1, 28, 28)
    if kind in ("x_vector", "i_vector"):
        net = build_speech_model(kind, n_classes=10, segments=3, n_mels=8, width=4, channels=8,
                                 train_audio=audio, components=2, rank=3)
    else:
        net = build_video_model(kind, n_classes=10, segments=3, width=4, shift_div=4, hidden=8)
    net.train()
    out = net(audio, visual)
    assert isinstance(out, AVOutput) and out.logits.shape == (6, 10)
    assert not out.audio_logits.requires_grad
    assert torch.allclose(out.audio_logits + out.visual_logits, out.logits.detach(), atol=1e-5)
    groups = ogm_for(kind, OGMConfig(alpha=0.5)).param_groups(net)
    assert groups["audio"] and groups["visual"]


def test_ivector_front_end_is_fixed_and_deterministic():
    torch.manual_seed(0)
    audio = torch.randn(10, 3, 1, 4, 6)
    a = IVectorExtractor.fit(audio, components=2, rank=2, seed=0)
    b = IVectorExtractor.fit(audio, components=2, rank=2, seed=0)
    assert torch.equal(a(audio), b(audio)) and a(audio).shape == (10, 2) and not list(a.parameters())


def test_a_run_is_bit_identical_for_the_same_seed():
    from avlib.core.runtime import single_threaded
    from avlib.data import load_splits
    from avlib.tasks.classify.fit import TrainConfig

    data = load_splits("avclips", tiny_avclips())
    options = dict(width=2, shift_div=2, hidden=4, tau=0.1, xvector_channels=4, ivector_components=2, ivector_rank=2)
    job = ClipJob("tsm_av", OGMConfig(alpha=0.5), 3, TrainConfig(epochs=1, batch_size=8, device="cpu"), options)
    with single_threaded():
        a, b = train(job, data), train(job, data)
    assert a.test == b.test and a.history == b.history and a.label == "tsm_av+ogm_ge"


def test_blanked_modality_is_zero_and_names_the_run():
    from avlib.data import load_splits
    from avlib.tasks.classify.clips import blank_modality

    data = load_splits("avclips", tiny_avclips())
    out = blank_modality(data, "audio")
    assert not out["train"].audio.any() and torch.equal(out["val"].visual, data["val"].visual)
    assert blank_modality(data, "") is data
    with pytest.raises(ValueError, match="blank"):
        blank_modality(data, "both")
    job = ClipJob("tsn_av", None, 0, None, {"blank": "visual"})
    assert job.label == "tsn_av-visual"
