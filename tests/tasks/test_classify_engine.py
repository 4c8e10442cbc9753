"""The run engine. Worker processes use the spawn start method: every job function lives in avlib.tasks.classify.engine,
never in a test."""

import pytest
import torch

from avlib.balance import OGMConfig
from avlib.core.pool import EngineError
from avlib.core.runtime import single_threaded
from avlib.data import load_splits
from avlib.data.embedded.avdigits import AVDigits
from avlib.data.loader import make_loader
from avlib.models import build_classifier
from avlib.tasks.classify import engine
from avlib.tasks.classify.batched import StackedLoader, StackedRuns
from avlib.tasks.classify.engine import choose_on_val, run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

TRAIN = TrainConfig(epochs=2, batch_size=16, lr=0.05, device="cpu")
MODEL = {"width": 4}
SPECS = [RunSpec("concat+ogm", "concat", OGMConfig(alpha=0.5)), RunSpec("sum", "sum")]


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():  # what run_specs does for its own runs; the tests' direct calls too
        yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="module")
def data(tiny_avdigits):
    return load_splits("avdigits", tiny_avdigits)


def _fields(run: RunResult):
    """Everything a run reports except its wall time."""
    return (run.label, run.kind, run.method, run.seed, run.history, run.test, run.val,
            run.best_epoch, run.probe)


@pytest.mark.slow
def test_one_worker_and_two_workers_give_identical_results_in_spec_major_order(data):
    here = run_specs(SPECS, [0, 1], data, train=TRAIN, model=MODEL, progress=False, workers=1)
    spawned = run_specs(SPECS, [0, 1], data, train=TRAIN, model=MODEL, progress=False, workers=2)
    assert [(r.label, r.seed) for r in here] == [("concat+ogm", 0), ("concat+ogm", 1), ("sum", 0), ("sum", 1)]
    assert [_fields(r) for r in spawned] == [_fields(r) for r in here]  # bit for bit, probes included
    assert here[0].history != here[1].history  # the seeds are different runs
    assert set(here[0].probe["test"]) == {"audio", "visual"} and "k_audio" in here[0].history[0]


def test_batched_runs_match_the_plain_runs(data):
    # Tolerance: the batched path computes the same step under vmap (other kernels, other summation
    # order), so floats agree to rounding, not bit for bit; after 2 epochs on the tiny data the per-epoch
    # rho and k agree within 1e-4 relative, and accuracies to within one sample of the 30 in a split.
    # GE noise is off: the batched path draws it from one generator for the stack, so it differs by design.
    specs = [RunSpec("concat+ogm", "concat", OGMConfig(alpha=0.5, ge=False)), RunSpec("gated", "gated")]
    plain = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, probe=False, progress=False, workers=1)
    batched = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, probe=False, progress=False,
                        engine="batched")
    assert [(r.label, r.seed) for r in batched] == [(r.label, r.seed) for r in plain]
    one_sample = 1 / len(data["test"]) + 1e-6
    for p, b in zip(plain, batched, strict=True):
        assert len(p.history) == len(b.history) == TRAIN.epochs
        for hp, hb in zip(p.history, b.history, strict=True):
            assert hp.keys() == hb.keys()
            for key in ("rho_audio", "k_audio", "k_visual"):
                if key in hp:
                    assert hb[key] == pytest.approx(hp[key], rel=1e-4), (p.label, p.seed, key)
            assert abs(hb["val_acc"] - hp["val_acc"]) <= one_sample
        for split in ("test", "val"):
            for key in ("acc", "audio_acc", "visual_acc"):
                assert abs(getattr(b, split)[key] - getattr(p, split)[key]) <= one_sample
    assert "k_audio" in batched[0].history[0] and "k_audio" not in batched[2].history[0]


def test_stacked_loader_gives_each_run_its_own_make_loader_batches():
    n = 20  # batch 8: two full batches and one of 4
    ds = AVDigits.from_tensors(torch.arange(n).float().view(n, 1, 1, 1), torch.arange(n).float().view(n, 1, 1, 1) * -1,
                               torch.arange(n) % 10)
    seeds = [3, 7, 11]
    stacked = StackedLoader(ds, batch_size=8, seeds=seeds, device=torch.device("cpu"))
    alone = [make_loader(ds, batch_size=8, shuffle=True, seed=s) for s in seeds]
    for _epoch in range(2):  # the second epoch continues each run's own generator
        batches = list(stacked)
        singles = [list(loader) for loader in alone]
        assert [b["label"].shape for b in batches] == [(3, 8), (3, 8), (3, 4)]
        for r in range(len(seeds)):
            assert len(singles[r]) == len(batches)
            for b, s in zip(batches, singles[r], strict=True):
                for key in ("audio", "visual", "label"):
                    assert torch.equal(b[key][r], s[key])
    assert not torch.equal(batches[0]["label"][0], batches[0]["label"][1])  # the runs' orders differ


def test_stacked_runs_refuse_mixed_architectures_and_devices():
    def net(kind, width=4):
        return build_classifier(kind, n_classes=3, width=width)

    with pytest.raises(EngineError, match="one architecture"):
        StackedRuns([net("concat"), net("gated")])
    with pytest.raises(EngineError, match="one architecture"):
        StackedRuns([net("concat"), net("concat", width=8)])
    with pytest.raises(EngineError, match="one device"):
        StackedRuns([net("sum"), net("sum").to("meta")])
    assert StackedRuns([net("sum"), net("sum")]).n == 2
    with pytest.raises(EngineError, match="in-memory dataset"):
        StackedLoader(torch.utils.data.TensorDataset(torch.zeros(2)), batch_size=1, seeds=[0], device="cpu")


def test_run_specs_refuses_what_it_cannot_run():
    spec = RunSpec("concat", "concat")
    with pytest.raises(EngineError, match="engine='workers' runs on the CPU"):
        run_specs([spec], [0], {}, train=TrainConfig(device="cuda"), engine="workers")
    with pytest.raises(EngineError, match="RunSpec items, got 'concat'"):
        run_specs(["concat"], [0], {}, train=TRAIN)
    with pytest.raises(EngineError, match="at least one spec and one seed"):
        run_specs([spec], [], {}, train=TRAIN)
    with pytest.raises(EngineError, match="at least one spec and one seed"):
        run_specs([], [0], {}, train=TRAIN)
    with pytest.raises(EngineError, match="engine='fast'"):
        run_specs([spec], [0], {}, train=TRAIN, engine="fast")


class _Untouchable(dict):
    def __getitem__(self, key):
        raise AssertionError("choose_on_val read a test metric")

    get = __getitem__


def test_choose_on_val_takes_the_first_best_val_and_never_reads_test(monkeypatch):
    specs = [RunSpec(f"s{i}", "concat", OGMConfig(alpha=0.1 * (i + 1))) for i in range(4)]
    vals = [0.50, 0.70, 0.70, 0.60]  # a tie at the top: the first one wins
    calls = []

    def fake_run_specs(specs_, seeds, data, **kwargs):
        calls.append((seeds, kwargs["probe"]))
        return [RunResult(job=RunJob(s, seeds[0], TRAIN), test=_Untouchable(), best_epoch=0, probe={},
                          val={"acc": v, "audio_acc": 0.1, "visual_acc": 0.2})
                for s, v in zip(specs_, vals, strict=True)]

    monkeypatch.setattr(engine, "run_specs", fake_run_specs)
    grid, chosen = choose_on_val(specs, 100, {}, train=TRAIN, progress=False)
    assert chosen is specs[1]
    assert calls == [([100], False)]  # one selection seed, no probes
    assert grid["chosen"].tolist() == [False, True, False, False]
    assert grid["val_acc"].tolist() == vals and grid["setting"].tolist() == ["s0", "s1", "s2", "s3"]


def test_choose_on_val_on_real_runs_picks_the_argmax(data):
    specs = [RunSpec("α=0.1", "concat", OGMConfig(alpha=0.1)), RunSpec("α=0.8", "concat", OGMConfig(alpha=0.8))]
    grid, chosen = choose_on_val(specs, 5, data, train=TRAIN, model=MODEL, workers=1, progress=False)
    best = grid["val_acc"].tolist().index(grid["val_acc"].max())
    assert chosen is specs[best] and grid["chosen"].sum() == 1 and bool(grid["chosen"][best])


def _seeded_draw(job, data):
    """A task of run_tasks: seeds itself from the job, reads the shared data, reports its thread count."""
    name, seed = job
    torch.manual_seed(seed)
    return name, seed, (torch.randn(4) * data["scale"]).tolist(), torch.get_num_threads()


@pytest.mark.slow
def test_run_tasks_gives_the_same_results_in_job_order_with_one_or_two_workers():
    jobs = [(f"job{i}", seed) for i, seed in enumerate([3, 1, 2, 1])]
    one = engine.run_tasks(_seeded_draw, jobs, {"scale": 2.0}, workers=1, progress=False)
    two = engine.run_tasks(_seeded_draw, jobs, {"scale": 2.0}, workers=2, progress=False)
    assert one == two
    assert [r[0] for r in two] == [name for name, _ in jobs]
    assert one[1][2] == one[3][2] != one[0][2]  # same seed, same draw; another seed, another
    assert {r[3] for r in one + two} == {1}  # every task single-threaded, in workers and here


def test_run_tasks_refuses_an_empty_job_list():
    with pytest.raises(EngineError, match="at least one job"):
        engine.run_tasks(_seeded_draw, [], {}, progress=False)


def test_choose_on_val_averages_the_selection_seeds_and_shows_each(monkeypatch):
    specs = [RunSpec(f"s{i}", "concat", OGMConfig(alpha=0.1 * (i + 1))) for i in range(3)]
    # per seed (100, 101): s0 wins at seed 100 alone, s1 on the mean
    vals = {("s0", 100): 0.80, ("s0", 101): 0.50, ("s1", 100): 0.70, ("s1", 101): 0.68,
            ("s2", 100): 0.60, ("s2", 101): 0.60}
    calls = []

    def fake_run_specs(specs_, seeds, data, **kwargs):
        calls.append(list(seeds))
        return [RunResult(job=RunJob(s, seed, TRAIN), test=_Untouchable(), best_epoch=0, probe={},
                          val={"acc": vals[s.label, seed], "audio_acc": 0.1, "visual_acc": 0.2})
                for s in specs_ for seed in seeds]

    monkeypatch.setattr(engine, "run_specs", fake_run_specs)
    grid, chosen = choose_on_val(specs, [100, 101], {}, train=TRAIN, progress=False)
    assert calls == [[100, 101]] and chosen is specs[1]
    assert grid["chosen"].tolist() == [False, True, False]
    assert grid["val_acc_s100"].tolist() == [0.80, 0.70, 0.60] and grid["val_acc_s101"].tolist() == [0.50, 0.68, 0.60]
    assert grid["val_acc"].tolist() == pytest.approx([0.65, 0.69, 0.60])
    assert grid["val_acc_spread"].tolist() == pytest.approx([0.30, 0.02, 0.0])
    m = engine.selection_margin(grid)
    # runner-up s0 at 0.65: margin 0.04 < s0's spread 0.30 -> within noise
    assert m["chosen"] == "s1" and m["runner_up"] == "s0" and m["margin"] == pytest.approx(0.04)
    assert m["within_noise"] and "within noise" in engine.margin_sentence(m)


def test_selection_margin_rule_and_its_edge_cases():
    import pandas as pd

    def grid(acc, spread, chosen):
        return pd.DataFrame({"setting": ["a", "b", "c"], "val_acc": acc, "val_acc_spread": spread,
                             "chosen": chosen})

    clear = engine.selection_margin(grid([0.70, 0.60, 0.50], [0.02, 0.03, 0.2], [True, False, False]))
    assert clear["runner_up"] == "b" and clear["margin"] == pytest.approx(0.10) and not clear["within_noise"]
    # the runner-up's spread alone can make it noise
    noisy = engine.selection_margin(grid([0.70, 0.65, 0.50], [0.01, 0.08, 0.0], [True, False, False]))
    assert noisy["within_noise"] and noisy["runner_up_spread"] == pytest.approx(0.08)
    one = pd.DataFrame({"setting": ["a"], "val_acc": [0.7], "val_acc_spread": [0.0], "chosen": [True]})
    assert engine.selection_margin(one) is None and "no runner-up" in engine.margin_sentence(None)


def test_a_lead_at_one_selection_seed_is_not_called_clear_or_noise():
    import pandas as pd

    grid = pd.DataFrame({"setting": ["a", "b"], "val_acc_s100": [0.7, 0.6], "val_acc": [0.7, 0.6],
                         "val_acc_spread": [0.0, 0.0], "chosen": [True, False]})
    m = engine.selection_margin(grid)
    assert m["seeds"] == 1
    text = engine.margin_sentence(m)
    assert "at one selection seed" in text and "unknown" in text and "larger than" not in text


def test_run_groups_runs_every_group_in_one_pool_and_splits_the_results(monkeypatch):
    pools = []

    def fake_run_tasks(task, jobs, data, **kwargs):
        pools.append([(j.label, j.seed, j.probe) for j in jobs])
        return [(j.label, j.seed) for j in jobs]

    monkeypatch.setattr(engine, "run_tasks", fake_run_tasks)
    a, b = RunSpec("a", "concat"), RunSpec("b", "sum")
    out = engine.run_groups([([a], [100, 101], False), ([a, b], [0], True)], {}, train=TRAIN)
    assert pools == [[("a", 100, False), ("a", 101, False), ("a", 0, True), ("b", 0, True)]]
    assert out == [[("a", 100), ("a", 101)], [("a", 0), ("b", 0)]]


def test_run_groups_under_ddp_hands_each_group_to_run_specs_with_its_process_count(monkeypatch):
    """A stage's `ddp: N` reaches torchrun: run_groups passes it to run_specs group by group (the launch itself,
    against the in-process runs: tests/core/test_ddp.py)."""
    calls = []

    def fake_run_specs(specs, seeds, data, **kwargs):
        calls.append(([s.label for s in specs], seeds, kwargs["ddp"], kwargs["probe"]))
        return [(s.label, seed) for s in specs for seed in seeds]

    monkeypatch.setattr(engine, "run_specs", fake_run_specs)
    a, b = RunSpec("a", "concat"), RunSpec("b", "sum")
    out = engine.run_groups([([a], [100], False), ([a, b], [0], True)], {}, train=TRAIN, ddp=2)
    assert calls == [(["a"], [100], 2, False), (["a", "b"], [0], 2, True)]
    assert out == [[("a", 100)], [("a", 0), ("b", 0)]]
