import torch

from avlib.data import load_splits
from avlib.experiment import OGMConfig, run_classifier
from avlib.train import TrainConfig, pick_device

SMOKE = TrainConfig(epochs=2, batch_size=16, lr=0.05, lr_step=1)


def _summary(run):
    return run.fit.test, run.fit.val, run.fit.history, run.probe


def test_two_smoke_fits_give_identical_metrics(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    ogm = OGMConfig(alpha=0.5)
    first = run_classifier("concat", data, train=SMOKE, ogm=ogm, progress=False)
    second = run_classifier("concat", data, train=SMOKE, ogm=ogm, progress=False)
    assert _summary(first) == _summary(second)  # bit for bit: plain float equality
    assert "k_audio" in first.fit.history[0] and "rho_audio" in first.fit.history[0]


def test_another_seed_gives_other_metrics(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    a = run_classifier("sum", data, train=SMOKE, probe=False, progress=False)
    b = run_classifier("sum", data, train=TrainConfig(**{**SMOKE.__dict__, "seed": 1}), probe=False, progress=False)
    assert a.fit.history != b.fit.history


def test_selected_epoch_has_the_best_val_accuracy(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    run = run_classifier("visual_only", data, train=TrainConfig(epochs=3, batch_size=16, lr=0.05, lr_step=2),
                         progress=False)
    val_accs = [h["val_acc"] for h in run.fit.history]
    assert run.fit.best_epoch == val_accs.index(max(val_accs))
    assert run.fit.val["acc"] == max(val_accs)
    assert set(run.probe["test"]) == {"visual"}


def test_device_auto_picks_cuda_only_when_present():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"


def test_bad_train_config_is_named():
    import pytest

    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="OGM-GE needs two modalities"):
        run_classifier("audio_only", {"train": type("D", (), {"n_classes": 2})()}, train=SMOKE, ogm=OGMConfig())
