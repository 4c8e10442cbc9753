"""avlib.stages.shared.runs: runs.csv (one row per run), the optimism of selecting on test, the convergence
check, and Holm over a table's family."""

import math

import pytest

from avlib.stages.shared import records as shared
from avlib.stages.shared.stats import paired_difference
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec


def _run(label, seed, val_accs, test_accs, *, rho=None, k=None, probe=None):
    history = []
    for e, (v, t) in enumerate(zip(val_accs, test_accs, strict=True)):
        h = {"epoch": e, "val_acc": v, "test_acc": t}
        if rho is not None:
            h["rho_audio"] = rho[e]
        if k is not None and k[e] is not None:
            h |= {"k_audio": k[e], "k_visual": 1.0}
        history.append(h)
    best = val_accs.index(max(val_accs))
    return RunResult(job=RunJob(RunSpec(label, "concat"), seed, TrainConfig()), val={"acc": val_accs[best]},
                     test={"acc": test_accs[best]}, best_epoch=best, history=history,
                     probe=probe or {"val": {}, "test": {}})


def test_runs_frame_has_one_row_per_run_with_the_selection_facts():
    a = _run("concat", 0, [0.3, 0.5, 0.4, 0.45, 0.44], [0.31, 0.48, 0.52, 0.40, 0.41], rho=[2, 2, 2, 1, 1],
             k=[0.5, 0.7, None, None, None], probe={"val": {"audio": 0.6}, "test": {"audio": 0.55, "visual": 0.3}})
    b = _run("audio_only", 1, [0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.2, 0.3, 0.4, 0.45])
    frame = shared.runs_frame([a, b])
    assert frame["label"].tolist() == ["concat", "audio_only"] and frame["seed"].tolist() == [0, 1]
    r = frame.iloc[0]
    assert (r["val_acc"], r["test_acc"], r["best_epoch"], r["epochs"]) == (0.5, 0.48, 1, 5)
    assert r["best_test_epoch"] == 2 and r["test_acc_at_best_test_epoch"] == 0.52
    assert r["test_selection_gap"] == pytest.approx(0.04)
    assert not r["best_epoch_late"] and bool(frame.iloc[1]["best_epoch_late"])  # epoch 4 of 5: the last 20%
    assert r["probe_audio_test"] == 0.55 and r["probe_visual_test"] == 0.3 and math.isnan(r["probe_visual_val"])
    assert r["rho_audio_first3"] == 2 and r["rho_audio_mean"] == pytest.approx(1.6) and r["rho_audio_last"] == 1
    assert r["k_audio_mean"] == pytest.approx(0.6)  # over the epochs that logged k (OGM-GE's window)
    assert math.isnan(frame.iloc[1]["k_audio_mean"]) and math.isnan(frame.iloc[1]["rho_audio_mean"])


def test_late_window_and_the_convergence_check():
    assert [shared.late_from(n) for n in (20, 10, 5, 2, 1)] == [16, 8, 4, 1, 0]
    runs = [_run("x", s, v, v) for s, v in enumerate([[0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.5, 0.3, 0.4, 0.2],
                                                      [0.1, 0.2, 0.3, 0.4, 0.6], [0.9, 0.2, 0.3, 0.4, 0.5]])]
    c = shared.convergence(shared.runs_frame(runs))
    assert c == {"runs": 4, "late_runs": 2, "late_share": 0.5, "epochs": 5, "best_epoch_counts": {0: 1, 1: 1, 4: 2}}
    text = shared.convergence_sentence(c)
    assert "2 of 4 runs (50%) have their best val epoch in the last 20% of the 5 epochs (epoch 4 or later)" in text
    assert "0: 1, 1: 1, 4: 2" in text and "most runs peaked on val before the last epochs" in text
    late = shared.convergence_sentence(c | {"late_runs": 3, "late_share": 0.75})
    assert "still improving, or the noisy maximum of a flat curve" in late  # the late share alone cannot tell
    assert "reports/convergence" in late and "more epochs could change" not in late
    frame = shared.runs_frame(runs).assign(epochs=[5, 5, 10, 10])  # runs of two lengths, each judged alone
    mixed = shared.convergence(frame)
    assert mixed["epochs"] == 10 and mixed["epochs_min"] == 5 and "epochs_min" not in c
    assert "the last 20% of their epochs (5-10 epochs: epoch 4-8 or later)" in shared.convergence_sentence(mixed)


def test_test_selection_optimism_cells_metrics_and_sentence():
    group = [_run("concat", 0, [0.3, 0.5, 0.4], [0.31, 0.48, 0.52]),
             _run("concat", 1, [0.3, 0.5, 0.4], [0.3, 0.5, 0.5])]
    cells = shared.optimism_cells(group)
    assert cells == {shared.TEST_SELECTED: "51.0 ± 12.7", shared.OPTIMISM: "2.0 ± 25.4"}
    assert shared.optimism_metrics(group) == {"acc_best_test_epoch": pytest.approx(51.0), "test_selection_gap": 2.0}
    assert "2.0 points more on average over the 1 rows" in shared.optimism_sentence({"concat": group})
    no_test = RunResult(job=group[0].job, val={"acc": 0.5}, test={"acc": 0.5}, best_epoch=0,
                        history=[{"epoch": 0, "val_acc": 0.5}])
    assert shared.best_test_epoch(no_test.history)[0] is None
    assert shared.optimism_cells([no_test]) == {shared.TEST_SELECTED: "", shared.OPTIMISM: ""}


def test_holm_family_and_resolved():
    tight = paired_difference([0.53, 0.54, 0.55], [0.50, 0.51, 0.52])  # +3 every seed: p ~ 0
    loose = paired_difference([0.80, 0.75, 0.90], [0.70, 0.78, 0.85])  # p = 0.40
    adj = shared.holm_family({"a": loose, "b": tight})
    assert adj["a"] == pytest.approx(loose.p) and adj["b"] == pytest.approx(2 * tight.p)
    assert shared.resolved(tight, adj["b"]) and not shared.resolved(loose, adj["a"])
    one = paired_difference([0.6], [0.5])
    assert shared.holm_family({"x": one}) == {"x": None} and not shared.resolved(one, None)


def test_write_runs_writes_runs_csv(tmp_path):
    import pandas as pd

    frame = shared.write_runs([_run("concat", 0, [0.3, 0.5], [0.3, 0.4])], tmp_path)
    assert pd.read_csv(tmp_path / "runs.csv").shape == frame.shape
