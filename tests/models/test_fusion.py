import pytest
import torch

from avlib.balance import OGMConfig
from avlib.core.runtime import single_threaded
from avlib.data.embedded.avdigits import AVDigits
from avlib.models import build_classifier
from avlib.models.fusion import FUSIONS, ConcatFusion, FiLMFusion, Fusion, GatedFusion
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import run_classifier


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():  # small convs on 2 shared cores: one thread is faster and never stalls
        yield


# --- the uni-modal split -----------------------------------------------------------------------------


def _observed(head, seed=0, shift=1.0):
    """`head` after a few training batches of ReLU-like (non-negative, non-zero-mean) features."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):
        head.observe(torch.rand(16, head.audio_ema.numel(), generator=g) + shift,
                     torch.rand(16, head.visual_ema.numel(), generator=g) + shift)
    return head


def _zero_(*layers):
    with torch.no_grad():
        for layer in layers:
            for p in layer.parameters():
                p.zero_()


def _heads_ignoring(modality):
    """Non-additive heads whose output does not depend on `modality`'s features at all."""
    torch.manual_seed(0)
    heads = []
    if modality == "visual":
        gated = GatedFusion(dim_audio=8, dim_visual=8, n_classes=5, gate="audio")
        with torch.no_grad():
            gated.to_value.weight.zero_()  # value path = its bias only: the visual feature is ignored
        film = FiLMFusion(dim_audio=8, dim_visual=8, n_classes=5, condition="audio")
        with torch.no_grad():
            film.film.weight[:8].zero_()  # gamma = 0: logits = fc(beta(a))
            film.film.bias[:8].zero_()
        baseline = FUSIONS["baseline"](dim_audio=8, dim_visual=8, n_classes=5)
        with torch.no_grad():
            baseline.fc.weight[:, 8:].zero_()  # the masked visual half of the input has no weight
        heads += [gated, film, baseline]
    else:
        gated = GatedFusion(dim_audio=8, dim_visual=8, n_classes=5, gate="audio")
        _zero_(gated.to_gate)  # gate = sigmoid(0) = 1/2 for every sample: audio is ignored
        film = FiLMFusion(dim_audio=8, dim_visual=8, n_classes=5, condition="audio")
        with torch.no_grad():
            film.film.weight.zero_()  # gamma, beta = their biases: audio is ignored
        heads += [gated, film]
    return heads


@pytest.mark.parametrize("ignored", ["visual", "audio"])
def test_a_modality_the_head_ignores_gets_a_constant_share(ignored):
    """All sample-to-sample variation of the logits belongs to the modality the head actually reads."""
    g = torch.Generator().manual_seed(1)
    a, v = torch.rand(12, 8, generator=g) * 3, torch.rand(12, 8, generator=g) * 3
    for head in _heads_ignoring(ignored):
        _observed(head)
        audio, visual = head.unimodal(a, v)
        dead, live = (visual, audio) if ignored == "visual" else (audio, visual)
        name = type(head).__name__
        torch.testing.assert_close(dead, dead[:1].expand_as(dead), msg=f"{name}: the ignored share varies")
        torch.testing.assert_close(live - live[:1], head(a, v) - head(a, v)[:1], msg=name)
        assert (live - live[:1]).abs().max() > 1e-3, name  # the head does depend on the other modality
        torch.testing.assert_close(audio + visual, head(a, v))


def test_concat_shapley_split_equals_the_papers_up_to_a_per_class_constant():
    torch.manual_seed(0)
    head = _observed(ConcatFusion(dim_audio=4, dim_visual=6, n_classes=3))
    a, v = torch.randn(5, 4), torch.randn(5, 6)
    paper_a, paper_v = head.unimodal(a, v)
    torch.testing.assert_close(paper_a, a @ head.fc.weight[:, :4].T + head.fc.bias / 2)
    shapley_a, shapley_v = Fusion.unimodal(head, a, v)
    a_ref, v_ref = head.references()
    w_a, w_v = head.fc.weight[:, :4], head.fc.weight[:, 4:]
    # f linear: phi_a = W_a (a - a_ref) + f(a_ref, v_ref) / 2 = paper_a + (W_v v_ref - W_a a_ref) / 2
    offset = (v_ref @ w_v.T - a_ref @ w_a.T) / 2
    assert offset.abs().max() > 0.05  # a real reference, not zero (with zero the two splits coincide)
    torch.testing.assert_close(shapley_a - paper_a, offset.expand(5, 3))
    torch.testing.assert_close(shapley_v - paper_v, -offset.expand(5, 3))


def test_sum_split_is_its_two_branches():
    head = FUSIONS["sum"](dim_audio=4, dim_visual=4, n_classes=3)
    a, v = torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(head.unimodal(a, v)[0], head.fc_audio(a))
    torch.testing.assert_close(head.unimodal(a, v)[1], head.fc_visual(v))


def test_reference_is_the_debiased_running_mean_of_training_features():
    head = GatedFusion(dim_audio=3, dim_visual=2, n_classes=4)
    assert all(torch.equal(r, torch.zeros_like(r)) for r in head.references())  # before any batch
    m = head.momentum
    x1 = (torch.randn(8, 3), torch.randn(8, 2) + 5)
    x2 = (torch.randn(6, 3) - 2, torch.randn(6, 2))
    head.observe(*x1)
    for ref, x in zip(head.references(), x1, strict=True):
        torch.testing.assert_close(ref, x.mean(0))  # debiased: the first batch's mean, not m times it
    head.observe(*x2)
    for ref, b1, b2 in zip(head.references(), x1, x2, strict=True):
        expected = (m * (1 - m) * b1.mean(0) + m * b2.mean(0)) / (m * (1 - m) + m)
        torch.testing.assert_close(ref, expected)


def test_only_training_forwards_update_the_reference():
    torch.manual_seed(0)
    model = build_classifier("film", n_classes=4, width=4)
    audio, visual = torch.randn(5, 1, 16, 16), torch.randn(5, 1, 12, 12)
    model.eval()
    model(audio, visual)
    assert model.fusion.ema_weight.item() == 0.0 and torch.equal(model.fusion.audio_ema, torch.zeros(16))
    model.train()
    model(audio, visual)
    with torch.no_grad():
        a = model.audio_encoder(audio)  # the features just observed (BatchNorm in train mode, same batch)
    torch.testing.assert_close(model.fusion.references()[0], a.mean(0))
    assert {"fusion.audio_ema", "fusion.visual_ema", "fusion.ema_weight"} <= set(model.state_dict())


# --- the split decides who OGM-GE slows: a trained check on data where one modality is noise -----------

K = 4  # classes used (AV-Digits has 10 outputs; the other 6 never occur)


def _one_informative(informative: str, n: int, seed: int) -> AVDigits:
    """Audio (n,1,32,51) and visual (n,1,28,28) white noise; the `informative` one is shifted by a
    class-dependent constant (-3, -1, 1, 3), the other is pure noise, independent of the label."""
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % K
    audio, visual = torch.randn(n, 1, 32, 51, generator=g), torch.randn(n, 1, 28, 28, generator=g)
    shift = torch.linspace(-3, 3, K)[label].view(n, 1, 1, 1)
    if informative == "audio":
        audio = audio + shift
    else:
        visual = visual + shift
    return AVDigits.from_tensors(audio, visual, label)


@pytest.fixture(scope="module")
def one_informative_runs():
    """{(informative, kind): RunResult}: every fusion, OGM-GE from epoch 1 on, 3 epochs (~0.3 s each).

    The window starts at epoch 1 because at initialisation the split is a coin flip: the first batch
    or so of epoch 0 has rho within 1% of 1 on either side, whatever the reference (a random network
    knows nothing yet). Epoch 0 trains plainly; from epoch 1 the informative modality has been learned
    and the split must credit it in every batch.
    """
    runs = {}
    train = TrainConfig(epochs=3, batch_size=32, lr=0.05, device="cpu")
    method = OGMConfig(alpha=0.5, start_epoch=1)
    with single_threaded():  # one thread: faster here, and the bits do not depend on the machine
        for informative in ("audio", "visual"):
            data = {split: _one_informative(informative, n, seed)
                    for split, n, seed in (("train", 480, 0), ("val", 40, 1), ("test", 40, 2))}
            for kind in sorted(FUSIONS):
                runs[informative, kind] = run_classifier(kind, data, train=train, method=method, probe=False,
                                                         progress=False)
    return runs


@pytest.mark.parametrize("kind", sorted(FUSIONS))
def test_only_audio_informative_means_audio_dominates_and_visual_is_never_slowed(one_informative_runs, kind):
    history = one_informative_runs["audio", kind].history
    assert history[-1]["rho_audio"] > 1, [h["rho_audio"] for h in history]
    logged = [h["k_visual"] for h in history if "k_visual" in h]
    assert len(logged) == 2 and logged == [1.0, 1.0], logged  # every batch of every modulated epoch
    assert all(h["k_audio"] < 1 for h in history[1:])


@pytest.mark.parametrize("kind", sorted(FUSIONS))
def test_only_visual_informative_means_visual_dominates_and_audio_is_never_slowed(one_informative_runs, kind):
    history = one_informative_runs["visual", kind].history
    assert history[-1]["rho_audio"] < 1, [h["rho_audio"] for h in history]
    logged = [h["k_audio"] for h in history if "k_audio" in h]
    assert len(logged) == 2 and logged == [1.0, 1.0], logged
    assert all(h["k_visual"] < 1 for h in history[1:])


# --- shapes and names --------------------------------------------------------------------------------


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
