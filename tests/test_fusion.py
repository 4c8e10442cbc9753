import pytest
import torch

from avlib.models import build_classifier
from avlib.models.fusion import FUSIONS, ConcatFusion, Fusion


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_unimodal_logits_add_up_to_the_fused_logits(name):
    torch.manual_seed(0)
    head = FUSIONS[name](dim_audio=8, dim_visual=8, n_classes=5)
    a, v = torch.randn(7, 8), torch.randn(7, 8)
    audio, visual = head.unimodal(a, v)
    assert audio.shape == visual.shape == (7, 5)
    torch.testing.assert_close(audio + visual, head(a, v))


def test_concat_split_is_the_papers_and_equals_the_shapley_split():
    torch.manual_seed(0)
    head = ConcatFusion(dim_audio=4, dim_visual=6, n_classes=3)
    a, v = torch.randn(5, 4), torch.randn(5, 6)
    audio, visual = head.unimodal(a, v)
    torch.testing.assert_close(audio, a @ head.fc.weight[:, :4].T + head.fc.bias / 2)
    shapley_a, shapley_v = Fusion.unimodal(head, a, v)
    torch.testing.assert_close(audio, shapley_a)
    torch.testing.assert_close(visual, shapley_v)


def test_sum_split_is_its_two_branches():
    head = FUSIONS["sum"](dim_audio=4, dim_visual=4, n_classes=3)
    a, v = torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(head.unimodal(a, v)[0], head.fc_audio(a))


@pytest.mark.parametrize("kind", ["audio_only", "visual_only", "baseline", "concat", "sum", "film", "gated"])
def test_classifiers_run_on_both_input_layouts(kind):
    model = build_classifier(kind, n_classes=4, width=4, visual_channels=3)
    audio = torch.randn(2, 1, 20, 24)
    for visual in (torch.randn(2, 3, 16, 16), torch.randn(2, 3, 3, 16, 16)):  # one frame, or T=3 frames
        out = model(audio, visual)
        assert out.logits.shape == (2, 4)
        assert (out.audio_logits is None) == (kind == "visual_only")
        assert (out.visual_logits is None) == (kind == "audio_only")


def test_resnet18_shapes():
    model = build_classifier("concat", n_classes=6, encoder="resnet18", visual_channels=3)
    out = model(torch.randn(2, 1, 257, 188), torch.randn(2, 1, 3, 64, 64))
    assert out.logits.shape == (2, 6)


def test_unknown_kind_and_encoder_are_named():
    with pytest.raises(ValueError, match="'late'"):
        build_classifier("late", n_classes=2)
    with pytest.raises(ValueError, match="'vit'"):
        build_classifier("concat", n_classes=2, encoder="vit")
