import math
from dataclasses import replace

import pytest
import torch

from avlib.balance import Balancer, OGMConfig
from avlib.core.runtime import pick_device, seed_everything, single_threaded
from avlib.data import load_splits
from avlib.data.embedded.avdigits import AVDigits
from avlib.data.loader import make_loader
from avlib.models import build_classifier
from avlib.tasks.classify.fit import TrainConfig, evaluate, fit, make_optimizer, train_step
from avlib.tasks.classify.runs import run_classifier

SMOKE = TrainConfig(epochs=2, batch_size=16, lr=0.05, lr_decay_at=0.5, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions on 2 shared cores: one thread is faster and immune to oversubscription stalls
    (two OpenMP threads on a busy machine made a 0.2 s fit take 10 s)."""
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)  # seed_everything turns it on: leave the process as found


def _summary(run):
    return run.test, run.val, run.history, run.probe


def test_two_smoke_fits_give_identical_metrics(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    ogm = OGMConfig(alpha=0.5)
    first = run_classifier("concat", data, train=SMOKE, method=ogm, progress=False)
    second = run_classifier("concat", data, train=SMOKE, method=ogm, progress=False)
    assert _summary(first) == _summary(second)  # bit for bit: plain float equality
    assert "k_audio" in first.history[0] and "rho_audio" in first.history[0]


def test_another_seed_gives_other_metrics(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    a = run_classifier("sum", data, train=SMOKE, probe=False, progress=False)
    b = run_classifier("sum", data, train=replace(SMOKE, seed=1), probe=False, progress=False)
    assert a.history != b.history


def test_selected_epoch_has_the_best_val_accuracy(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    run = run_classifier("visual_only", data, train=TrainConfig(epochs=3, batch_size=16, lr=0.05, device="cpu"),
                         progress=False)
    val_accs = [h["val_acc"] for h in run.history]
    assert run.best_epoch == val_accs.index(max(val_accs))
    assert run.val["acc"] == max(val_accs)
    assert set(run.probe["test"]) == {"visual"}


K = 4


def _shifted(n, seed, label_shift=0):
    """Audio white noise shifted by a class constant (easy to learn); visual pure noise. With
    `label_shift`, the labels are rotated: a model that learns the task gets *worse* on that split."""
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % K
    audio = torch.randn(n, 1, 32, 51, generator=g) + torch.linspace(-3, 3, K)[label].view(n, 1, 1, 1)
    visual = torch.randn(n, 1, 28, 28, generator=g)
    return AVDigits.from_tensors(audio, visual, (label + label_shift) % K)


def test_fit_returns_the_model_in_its_selected_epochs_state():
    # val labels rotated by one class: the better the model learns, the lower its val accuracy, so the
    # selected epoch is an early one and the last epoch's weights are not the selected ones.
    data = {"train": _shifted(192, 0), "val": _shifted(40, 1, label_shift=1), "test": _shifted(40, 2)}
    seed_everything(0)
    model = build_classifier("concat", n_classes=AVDigits.n_classes)
    result = fit(model, data, TrainConfig(epochs=4, batch_size=32, lr=0.05, device="cpu"), progress=False)
    val_accs = [h["val_acc"] for h in result.history]
    assert result.best_epoch != len(result.history) - 1, val_accs
    assert val_accs[-1] < result.val["acc"]
    device = torch.device("cpu")
    val = evaluate(model, make_loader(data["val"], batch_size=256, shuffle=False), device)
    assert val == result.val  # the weights (and fusion references) of the selected epoch, bit for bit
    test = evaluate(model, make_loader(data["test"], batch_size=256, shuffle=False), device)
    assert test == result.test


def test_amp_on_cpu_trains_in_bfloat16_with_finite_losses(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    losses = []

    class Recorder(Balancer):
        def loss(self, out, targets, epoch):
            assert out.logits.dtype == torch.bfloat16  # autocast really ran
            loss = super().loss(out, targets, epoch)
            losses.append(loss.item())
            return loss

    seed_everything(0)
    model = build_classifier("concat", n_classes=10, width=4)
    result = fit(model, data, replace(SMOKE, amp=True), balancer=Recorder(), progress=False)
    assert len(losses) == 2 * math.ceil(60 / 16) and all(math.isfinite(x) for x in losses)
    assert all(math.isfinite(h["rho_audio"]) and math.isfinite(h["val_acc"]) for h in result.history)
    assert math.isfinite(result.test["acc"])


def test_train_step_with_an_enabled_cpu_grad_scaler_gives_the_balancer_true_gradients():
    grads, states = {}, {}
    g = torch.Generator().manual_seed(0)
    batch = {"audio": torch.randn(8, 1, 16, 16, generator=g), "visual": torch.randn(8, 1, 12, 12, generator=g),
             "label": torch.randint(0, 3, (8,), generator=g)}
    for enabled in (False, True):
        class GradProbe(Balancer):
            def after_backward(self, out, targets, epoch):
                grads[enabled] = [p.grad.clone() for p in model.parameters()]  # noqa: B023 - read at once
                return {}

        torch.manual_seed(0)
        model = build_classifier("sum", n_classes=3, width=4)
        optimizer, _ = make_optimizer(model, SMOKE)
        scaler = torch.amp.GradScaler("cpu", enabled=enabled)
        assert scaler.is_enabled() == enabled
        logs = train_step(model, batch, optimizer, scaler, balancer=GradProbe())
        assert math.isfinite(logs["rho_audio"].item())
        states[enabled] = [p.detach().clone() for p in model.parameters()]
    # the scaler multiplies the loss by 2^16 and unscales before the balancer and the step: same numbers
    for plain, scaled in zip(grads[False], grads[True], strict=True):
        torch.testing.assert_close(scaled, plain, rtol=1e-5, atol=1e-7)
    for plain, scaled in zip(states[False], states[True], strict=True):
        torch.testing.assert_close(scaled, plain, rtol=1e-5, atol=1e-7)


def test_lr_step_is_the_decay_fraction_of_the_epochs():
    assert TrainConfig(epochs=20, lr_decay_at=0.7).lr_step == 14
    assert TrainConfig(epochs=100).lr_step == 70  # the paper's schedule
    assert TrainConfig(epochs=3, lr_decay_at=0.1).lr_step == 1  # round(0.3) = 0 -> at least 1
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer(model, TrainConfig(epochs=20, lr_decay_at=0.7, lr=1.0, lr_gamma=0.1))
    lrs = []
    for _ in range(16):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[13] == 1.0 and lrs[14] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lr_decay_at=0"):
        TrainConfig(lr_decay_at=0)
    with pytest.raises(ValueError, match="lr_decay_at=1.5"):
        TrainConfig(lr_decay_at=1.5)


class HookLog(Balancer):
    """Records every hook call as (hook, epoch) and leaves training as a plain Balancer does."""

    def __init__(self):
        self.calls, self.records = [], []

    def features(self, a, v, epoch, targets=None, unimodal=None):
        self.calls.append(("features", epoch))
        assert targets.shape == (a.shape[0],) and callable(unimodal)  # the batch's labels, the fusion's split
        return super().features(a, v, epoch)

    def loss(self, out, targets, epoch):
        self.calls.append(("loss", epoch))
        return super().loss(out, targets, epoch)

    def after_backward(self, out, targets, epoch):
        self.calls.append(("after_backward", epoch))
        assert all(p.grad is not None for p in self.model.parameters())  # after backward, before the step
        return {}

    def epoch_end(self, epoch, record, predict=None):
        self.calls.append(("epoch_end", epoch))
        self.records.append(dict(record))
        assert predict("val")["logits"].shape == (30, 10)  # any split of the run's data...
        with pytest.raises(ValueError, match="not 'test'"):
            predict("test")  # ...but test
        self.model.train()


def test_fit_calls_every_balancer_hook_in_order(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    seed_everything(0)
    model = build_classifier("concat", n_classes=10, width=4)
    hooks = HookLog()
    hooks.model = model
    fit(model, data, replace(SMOKE, epochs=2), balancer=hooks, progress=False)
    n_batches = math.ceil(60 / SMOKE.batch_size)
    expected = []
    for epoch in range(2):
        expected += [("features", epoch), ("loss", epoch), ("after_backward", epoch)] * n_batches
        expected.append(("epoch_end", epoch))
    assert hooks.calls == expected
    assert [r["epoch"] for r in hooks.records] == [0, 1] and all("val_acc" in r for r in hooks.records)


def test_a_no_op_balancer_trains_bit_identically_to_none(tiny_avdigits):
    data = load_splits("avdigits", tiny_avdigits)
    out = []
    for balancer in (None, Balancer()):
        seed_everything(0)
        model = build_classifier("gated", n_classes=10, width=4)
        result = fit(model, data, SMOKE, balancer=balancer, progress=False)
        out.append((result.history, result.test, result.val, model.state_dict()))
    assert out[0][:3] == out[1][:3]
    assert all(torch.equal(out[0][3][k], out[1][3][k]) for k in out[0][3])


def test_device_auto_picks_cuda_only_when_present():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"


def test_bad_train_config_is_named():
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr=0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="needs two modalities"):
        run_classifier("audio_only", {"train": type("D", (), {"n_classes": 2})()}, train=SMOKE, method=OGMConfig())


def test_fit_logs_test_accuracy_per_epoch_that_never_changes_the_selection():
    # the same run against two test splits: the true labels, and labels permuted (other test accuracies at
    # every epoch). Training, val, the selected epoch and its weights must be bit-identical: test is logged,
    # never read by the selection or by training.
    train, val = _shifted(192, 0), _shifted(40, 1, label_shift=1)  # val rotated: an early epoch is selected
    test = _shifted(40, 2)
    permuted = AVDigits.from_tensors(test.audio, test.visual, test.label[torch.randperm(40, generator=torch.Generator()
                                                                                          .manual_seed(3))])
    config = TrainConfig(epochs=4, batch_size=32, lr=0.05, device="cpu")
    results = []
    for split in (test, permuted):
        seed_everything(0)
        model = build_classifier("concat", n_classes=AVDigits.n_classes)
        results.append((fit(model, {"train": train, "val": val, "test": split}, config, progress=False), model))
    (a, model_a), (b, model_b) = results
    assert [h["test_acc"] for h in a.history] != [h["test_acc"] for h in b.history]  # test did differ
    assert {"test_acc", "test_audio_acc", "test_visual_acc"} <= set(a.history[0])
    strip = [{k: v for k, v in h.items() if not k.startswith("test_")} for h in a.history]
    assert strip == [{k: v for k, v in h.items() if not k.startswith("test_")} for h in b.history]
    assert a.best_epoch == b.best_epoch and a.val == b.val
    assert all(torch.equal(x, y) for x, y in zip(model_a.state_dict().values(), model_b.state_dict().values(),
                                                 strict=True))
    # the test accuracy of the selected epoch, logged during training, is the one reported
    assert a.history[a.best_epoch]["test_acc"] == a.test["acc"]


def test_best_epoch_ignores_test_accuracies_however_they_are_permuted():
    from avlib.tasks.result import BestEpoch

    val = [0.40, 0.55, 0.52, 0.55, 0.50]
    gen = torch.Generator().manual_seed(0)
    chosen = set()
    for trial in range(20):
        tests = torch.rand(len(val), generator=gen).tolist() if trial else [0.9, 0.1, 0.2, 0.3, 0.99]
        best = BestEpoch()
        for epoch, (v, t) in enumerate(zip(val, tests, strict=True)):
            best.update({"epoch": epoch, "val_acc": v, "test_acc": t})
        chosen.add(best.epoch)
        assert "test_acc" not in best.val and "acc" in best.val
    assert chosen == {1}  # the first best val epoch, whatever test says
