"""Two speed choices of the AV-Digits path that must not change a bit: the evaluation batch (`EVAL_BATCH_SIZE`,
smaller than the 256 every committed result was evaluated at) and SmallCNN's in-place ReLUs."""

import pytest
import torch

from avlib.core.runtime import seed_everything, single_threaded
from avlib.data.embedded.avdigits import AVDigits
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.models import build_classifier
from avlib.tasks.classify.fit import TrainConfig, make_optimizer, predict, train_step


@pytest.fixture(autouse=True)
def _as_a_run_trains():
    """One thread, as every run of the engine trains (and leave deterministic mode as found)."""
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)


def _data(n: int) -> AVDigits:
    generator = torch.Generator().manual_seed(0)
    return AVDigits.from_tensors(torch.randn(n, 1, 32, 51, generator=generator),
                                 torch.randn(n, 1, 28, 28, generator=generator), torch.arange(n) % 10)


def test_evaluation_gives_the_same_bits_at_the_eval_batch_as_at_256():
    seed_everything(0)
    model = build_classifier("concat", n_classes=10, encoder="small_cnn", width=8).eval()
    data = _data(600)  # 600 = 2 x 256 + 88, and 4 x 128 + 88: whole and partial batches at both sizes
    small = predict(model, make_loader(data, batch_size=EVAL_BATCH_SIZE, shuffle=False), torch.device("cpu"))
    large = predict(model, make_loader(data, batch_size=256, shuffle=False), torch.device("cpu"))
    assert EVAL_BATCH_SIZE < 256
    for key in ("logits", "audio_logits", "visual_logits"):
        assert torch.equal(small[key], large[key]), key


def test_in_place_relus_train_the_same_bits():
    data = next(iter(make_loader(_data(64), batch_size=64, shuffle=False)))
    weights = []
    for inplace in (True, False):
        seed_everything(0)
        model = build_classifier("concat", n_classes=10, encoder="small_cnn", width=8).train()
        relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
        assert relus and all(m.inplace for m in relus)  # as built
        for m in relus:
            m.inplace = inplace
        optimizer, _ = make_optimizer(model, TrainConfig(lr=0.1))
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        for _ in range(3):
            train_step(model, data, optimizer, scaler)
        weights.append(model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key
