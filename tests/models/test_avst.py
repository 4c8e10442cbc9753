"""AVST (avlib/models/avst.py): the attention distributions, the matching negatives, the ablation switches,
and training through `train` (deterministic)."""

import pytest
import torch
from fixtures.avqa import FakeQA, fake_splits

from avlib.core.runtime import single_threaded
from avlib.models.avst import ABLATION_ROWS, AVST, LEARNED_TEMPERATURE, ablation_row, other_video_indices
from avlib.tasks.qa.train import QAJob, train

KW = dict(vocab_size=20, n_answers=5, hidden=16, visual_dim=32)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():  # tiny tensors: threads only cost (and the suite shares 2 cores)
        yield


def _batch(n=6, hw=(4, 5), channels=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    question = torch.randint(1, 20, (n, 14), generator=g)
    question[:, 5:] = 0
    return (torch.randn(n, 10, 128, generator=g), torch.randn(n, 10, channels, *hw, generator=g), question)


def test_attention_sums_to_one_over_positions_and_segments():
    torch.manual_seed(0)
    model = AVST(**KW).eval()
    out = model(*_batch())
    assert out.logits.shape == (6, 5)
    spatial = out.attention["spatial"]
    assert spatial.shape == (6, 10, 20)  # 4 x 5 positions: any h x w
    torch.testing.assert_close(spatial.sum(-1), torch.ones(6, 10))
    for key in ("temporal_audio", "temporal_visual"):
        assert out.attention[key].shape == (6, 10)
        torch.testing.assert_close(out.attention[key].sum(-1), torch.ones(6))
    assert (spatial >= 0).all() and spatial.std() > 0  # not uniform: the audio decides


def test_negatives_come_from_other_videos():
    video = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    j = other_video_indices(video, 10, torch.Generator().manual_seed(0))
    assert j.shape == (8, 10)
    assert (video[j] != video[:, None]).all()
    assert len(set(j.flatten().tolist())) > 3  # drawn among all the others, not always the same one
    with pytest.raises(ValueError, match="at least two different videos"):
        other_video_indices(torch.tensor([4, 4, 4]), 10)


def test_the_model_grounds_the_negatives_on_frames_of_other_videos():
    """Each video's frames hold its id; the positions the SG sees for the negatives never hold the own id."""
    torch.manual_seed(0)
    model = AVST(vocab_size=20, n_answers=5, hidden=8, visual_dim=8).train()  # same width: no projection
    seen = []
    forward = model.spatial_grounding.forward
    model.spatial_grounding.forward = lambda positions, audio: (seen.append(positions), forward(positions, audio))[1]
    audio, _, question = _batch(n=6)
    video = torch.tensor([0, 0, 1, 2, 2, 3])
    visual = video.float()[:, None, None, None, None].expand(6, 10, 8, 2, 2).clone()
    out = model(audio, visual, question, video=video, generator=torch.Generator().manual_seed(1))
    own, negative = seen
    assert (own[..., 0, 0] == video[:, None].float()).all()
    assert (negative[..., 0, 0] != video[:, None].float()).all()
    assert out.match_logits.shape == (2 * 6 * 10, 2) and out.match_labels.tolist() == [1] * 60 + [0] * 60
    assert model.eval()(audio, visual, question, video=video).match_logits is None  # matching trains only


def _has(model, prefix):
    return any(name.startswith(prefix) for name, _ in model.named_parameters())


@pytest.mark.parametrize("row", list(ABLATION_ROWS))
def test_each_ablation_row_has_only_the_parts_it_names(row):
    model = ablation_row(row, **KW)
    a, v = "A" in row, "V" in row
    assert _has(model, "audio.") == a
    assert _has(model, "visual_proj.") == v
    assert _has(model, "temporal_audio.") == (a and "TG" in row)
    assert _has(model, "temporal_visual.") == (v and "TG" in row)
    assert _has(model, "spatial_grounding.") == ("SG" in row) == _has(model, "matching.")
    out = model.eval()(*_batch())
    assert ("spatial" in out.attention) == ("SG" in row)
    assert ("temporal_visual" in out.attention) == (v and "TG" in row)


@pytest.mark.parametrize("row", list(ABLATION_ROWS))
def test_each_row_reads_only_the_inputs_it_names(row):
    torch.manual_seed(0)
    model = ablation_row(row, **KW).eval()
    audio, visual, question = _batch()
    base = model(audio, visual, question).logits
    other_audio = model(torch.randn_like(audio), visual, question).logits
    other_visual = model(audio, torch.randn_like(visual), question).logits
    # the frame replaced by its spatial mean: changes nothing without SG (it only pools), something with it
    pooled = model(audio, visual.mean((3, 4), keepdim=True).expand_as(visual), question).logits
    assert torch.allclose(base, other_audio) == ("A" not in row)
    assert torch.allclose(base, other_visual) == ("V" not in row)
    assert torch.allclose(base, pooled, atol=1e-5) == ("SG" not in row)


def test_bad_switches_raise():
    with pytest.raises(ValueError, match="spatial grounding"):
        AVST(**KW, audio=False, spatial=True)
    with pytest.raises(ValueError, match="unknown ablation row"):
        ablation_row("AV+SG", **KW)


def test_training_is_deterministic_and_learns_a_separable_task():
    data = fake_splits(n=48, hw=2)
    for split in data.values():  # the answer is readable from the audio: channel <label> raised
        split.audio[torch.arange(len(split)), :, split.label] += 3
    job = QAJob(model="AV+Q+TG+SG", hidden=16, epochs=6, batch_size=8, lr=1e-2, seed=3)
    first, second = train(job, data), train(job, data)
    assert first.test == second.test and first.history == second.history
    assert first.test["all"] > 0.4  # chance 0.2; 48 test questions: 0.4 is > 3 s.d. above it
    assert first.val["all"] == max(h["val_all"] for h in first.history)
    assert set(first.test_counts) == set(FakeQA().types)


def test_learned_temperature_variant_is_the_faithful_model_with_a_scaled_softmax():
    """The labelled variant has AVST's parameters plus one, the log scale at CLIP's init; with the scale set to
    1 it computes exactly the faithful model; a larger scale concentrates the spatial weights."""
    torch.manual_seed(0)
    faithful = ablation_row("AV+Q+TG+SG", **KW).eval()
    torch.manual_seed(0)
    variant = ablation_row(LEARNED_TEMPERATURE, **KW).eval()
    extra = {n for n, _ in variant.named_parameters()} - {n for n, _ in faithful.named_parameters()}
    assert extra == {"spatial_grounding.log_scale"}
    assert float(variant.spatial_grounding.scale().detach()) == pytest.approx(1 / 0.07)
    assert faithful.spatial_grounding.scale() is None
    batch = _batch()
    peaked = variant(*batch).attention["spatial"].amax(-1).mean()
    with torch.no_grad():
        variant.spatial_grounding.log_scale.zero_()  # scale 1: the paper's softmax
    flat = variant(*batch)
    assert torch.equal(flat.logits, faithful(*batch).logits)
    assert peaked > flat.attention["spatial"].amax(-1).mean()
    with torch.no_grad():
        variant.spatial_grounding.log_scale.fill_(10.0)  # e^10: capped at CLIP's 100
    assert float(variant.spatial_grounding.scale().detach()) == 100.0
    with pytest.raises(ValueError, match="temperature"):
        AVST(**KW, spatial_temperature="fixed")
