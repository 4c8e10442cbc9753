"""Stage fig_underopt: per-epoch probes through fit's epoch callback (training unchanged, both engines),
t1_fusion's OGM-GE choice read from its grid, and the notebook (smoke, deterministic)."""

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import run_stage
import torch
import yaml

from avlib.balance import OGMConfig
from avlib.core.runtime import single_threaded
from avlib.data import load_splits
from avlib.stages import fig_underopt as stage
from avlib.stages import t1_fusion
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig, fit
from avlib.tasks.classify.runs import RunSpec, build_run, epoch_probes, run_one

ROOT = Path(__file__).resolve().parents[2]

TRAIN = TrainConfig(epochs=2, batch_size=16, lr=0.05, device="cpu")
MODEL = {"width": 4}
PROBE_KEYS = {"probe_audio_val", "probe_visual_val"}


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():
        yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="module")
def data(tiny_avdigits):
    return load_splits("avdigits", tiny_avdigits)


def _fit(spec, data, callback=None):
    net, balancer = build_run(spec, data["train"].n_classes, 0, MODEL)
    result = fit(net, data, replace(TRAIN, seed=0), balancer=balancer, progress=False, epoch_callback=callback)
    return result, net.state_dict()


def test_per_epoch_probes_leave_training_bit_identical(data):
    # The probe reads the encoders (eval mode, no grad, its own data order) between epochs: the run with it
    # must train exactly as the run without, which is what keeps Table 1 unchanged.
    spec = RunSpec("concat+ogm", "concat", OGMConfig(alpha=0.5))
    plain, plain_state = _fit(spec, data)
    probed, probed_state = _fit(spec, data, epoch_probes(data, torch.device("cpu")))
    assert [{k: v for k, v in h.items() if k not in PROBE_KEYS} for h in probed.history] == plain.history
    assert (probed.test, probed.val, probed.best_epoch) == (plain.test, plain.val, plain.best_epoch)
    assert plain_state.keys() == probed_state.keys()
    assert all(torch.equal(plain_state[k], probed_state[k]) for k in plain_state)
    assert all(PROBE_KEYS <= set(h) and all(0 <= h[k] <= 1 for k in PROBE_KEYS) for h in probed.history)


def test_a_run_without_the_option_logs_no_probes_and_one_with_it_probes_each_encoder(data):
    plain = run_one(RunSpec("sum", "sum"), 0, data, train=TRAIN, model=MODEL, probe=False)
    assert not any(PROBE_KEYS & set(h) for h in plain.history)
    direct, _ = _fit(RunSpec("sum", "sum"), data)
    assert plain.history == direct.history  # run_one without the option is plain fit
    visual = run_one(RunSpec("v", "visual_only", probe_every_epoch=True), 0, data, train=TRAIN, model=MODEL)
    assert [set(h) & PROBE_KEYS for h in visual.history] == [{"probe_visual_val"}] * TRAIN.epochs


def test_an_epoch_callback_may_not_overwrite_what_training_logged(data):
    with pytest.raises(ValueError, match=r"\['val_acc'\], already in the epoch's record"):
        _fit(RunSpec("sum", "sum"), data, callback=lambda model, epoch: {"val_acc": 1.0})


@pytest.mark.slow
def test_per_epoch_probes_are_the_same_in_one_or_two_workers(data):
    specs = [RunSpec("concat", "concat", probe_every_epoch=True)]
    here = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, progress=False, workers=1)
    spawned = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, progress=False, workers=2)
    assert [r.history for r in spawned] == [r.history for r in here]
    assert [r.probe for r in spawned] == [r.probe for r in here]


def test_the_batched_engine_probes_every_epoch_like_the_plain_path(data):
    # Batched training matches plain training to rounding (test_engine.py); the probes of its runs' states
    # then agree to within a few samples of the 30 in val (a logistic regression on slightly different
    # features), and every epoch of every run is probed.
    specs = [RunSpec("concat", "concat", OGMConfig(alpha=0.5, ge=False), probe_every_epoch=True),
             RunSpec("v", "visual_only", probe_every_epoch=True)]
    plain = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, probe=False, progress=False, workers=1)
    batched = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, probe=False, progress=False, engine="batched")
    for p, b in zip(plain, batched, strict=True):
        for hp, hb in zip(p.history, b.history, strict=True):
            assert hp.keys() == hb.keys() and PROBE_KEYS & set(hp)
            for key in PROBE_KEYS & set(hp):
                assert abs(hb[key] - hp[key]) <= 3 / len(data["val"]) + 1e-6, (p.label, p.seed, key)


def _write_grid(path, settings, chosen):
    pd.DataFrame({"setting": settings, "window_end_epoch": 1, "val_acc": 0.5,
                  "chosen": [i == chosen for i in range(len(settings))]}).to_csv(path, index=False)


def test_chosen_ogm_reads_t1_fusions_own_labels(tmp_path):
    # The labels come from t1_fusion's grid code itself: if its format changes, this fails.
    p = t1_fusion.PARAMS.check(yaml.safe_load((ROOT / "params.yaml").read_text())["t1_fusion"])
    grid_specs = t1_fusion.ogm_grid_specs(p)
    for i, spec in enumerate(grid_specs):
        _write_grid(tmp_path / "grid.csv", [s.label for s in grid_specs], chosen=i)
        got = stage.chosen_ogm(tmp_path / "grid.csv", epochs=p.epochs, params=p.ogm_params)
        assert got == spec.method
    assert stage.chosen_ogm(tmp_path / "grid.csv", epochs=10).end_epoch == round(p.window_grid[-1] * 10)


def test_chosen_ogm_names_a_missing_or_malformed_grid(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nowhere.csv")) + ".*dvc repro t1_fusion"):
        stage.chosen_ogm(tmp_path / "nowhere.csv", epochs=20)
    _write_grid(tmp_path / "none.csv", ["α=0.1, window=1", "α=0.3, window=1"], chosen=-1)
    with pytest.raises(ValueError, match="exactly one row with chosen=True, found 0"):
        stage.chosen_ogm(tmp_path / "none.csv", epochs=20)
    _write_grid(tmp_path / "odd.csv", ["alpha 0.1"], chosen=0)
    with pytest.raises(ValueError, match="'alpha 0.1' is not of the form"):
        stage.chosen_ogm(tmp_path / "odd.csv", epochs=20)
    pd.DataFrame({"alpha": [0.3], "chosen": [True]}).to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(ValueError, match="expected columns 'setting' and 'chosen'.*dvc repro t1_fusion"):
        stage.chosen_ogm(tmp_path / "old.csv", epochs=20)


DETERMINISTIC = ("history.csv", "curves.csv", "gaps.csv", "gaps.md", "metrics.json", "findings.md", "underopt.png",
                 "runs.csv")


@pytest.mark.slow
def test_fig_underopt_notebook_smoke_is_deterministic(tmp_path, tiny_avdigits):
    _write_grid(tmp_path / "ogm_grid.csv", ["α=0.1, window=1", "α=0.5, window=0.5"], chosen=1)
    outputs = []
    for run in ("a", "b"):
        out = run_stage.run("fig_underopt", ["smoke=true", f"root={tiny_avdigits}", "workers=1",
                                             f"ogm_grid={tmp_path / 'ogm_grid.csv'}"], tmp_path / run)
        outputs.append({name: (out / name).read_bytes() for name in DETERMINISTIC})
        assert (out / "notebook.html").exists() and (out / "provenance.json").exists()
    assert outputs[0] == outputs[1]  # same params and seed: the same bytes
    history = pd.read_csv(out / "history.csv")
    assert set(history["label"]) == {"audio_only", "visual_only", "concat", "concat+ogm_ge"}
    assert history["epoch"].max() == 1 and history[history["label"] == "concat"][sorted(PROBE_KEYS)].notna().all().all()
    assert "OGM-GE: α=0.5, epochs 0–0" in (out / "gaps.md").read_text()  # window 0.5 of smoke's 2 epochs


@pytest.mark.slow
def test_fig_underopt_stops_before_training_without_t1s_grid(tmp_path, tiny_avdigits):
    with pytest.raises(run_stage.StageError, match=r"FileNotFoundError: .*nowhere\.csv: missing.*dvc repro t1_fusion"):
        run_stage.run("fig_underopt", ["smoke=true", f"root={tiny_avdigits}", f"ogm_grid={tmp_path / 'nowhere.csv'}"],
                      tmp_path / "reports")


def test_bad_fig_underopt_params_are_named(tmp_path):
    from avlib.core.params import ParamError

    for override, named in (("fusion=late", "fig_underopt.fusion"), ("ogm_params=some", "fig_underopt.ogm_params"),
                            ("epochs=0", "fig_underopt.epochs")):
        with pytest.raises(ParamError, match=re.escape(named)):
            run_stage.run("fig_underopt", [override], tmp_path / "reports")


def _gaps():
    """Hand-made gaps (3 seeds): the visual encoder inside concat clearly below (-10, -11, -12 points), OGM-GE
    raising its probe by +5, +5.1, +5.2 points; every other effect noise."""
    from avlib.stages.shared.stats import paired_difference

    def entry(probe, model, alone_probe):
        return {"probe": probe, "model": model, "gap": paired_difference(probe, model),
                "gap_probe": paired_difference(probe, alone_probe), "probe_test": probe,
                "gap_test": paired_difference(probe, model)}

    model = {"audio": [0.80, 0.82, 0.81], "visual": [0.60, 0.62, 0.61]}
    alone = {"audio": [0.81, 0.80, 0.83], "visual": [0.61, 0.60, 0.63]}
    probes = {("audio", "concat"): [0.82, 0.80, 0.81], ("audio", "concat + OGM-GE"): [0.80, 0.83, 0.80],
              ("visual", "concat"): [0.50, 0.51, 0.49], ("visual", "concat + OGM-GE"): [0.55, 0.561, 0.542]}
    g = {}
    for m in ("audio", "visual"):
        g[m, "alone"] = entry(alone[m], model[m], alone[m])
        for training in ("concat", "concat + OGM-GE"):
            g[m, training] = entry(probes[m, training], model[m], alone[m])
    return g


def test_holm_over_the_figures_paired_effects():
    from avlib.stages.shared.stats import holm

    g = _gaps()
    family = stage.effects(g)
    assert len(family) == 18  # 6 rows x (gap, gap_test) + 4 gap_probe + 2 OGM-GE changes
    adjusted = dict(zip(family, holm([d.p for d in family.values()]), strict=True))
    table = stage.gap_table(g, dataset="avdigits").set_index(["encoder", "trained"])
    assert {"Holm p (val gap)", "Holm p (val, probe vs probe)", "Holm p (test gap)"} <= set(table.columns)
    assert table.loc[("visual", "alone"), "Holm p (val, probe vs probe)"] == ""
    metrics = stage.run_metrics(g, "concat")
    change = metrics["visual"]["ogm_ge_minus_concat"]
    assert change["gap_change_p_holm"] == pytest.approx(adjusted["visual", "ogm_ge_minus_concat", "gap_change"],
                                                       abs=1e-6)
    assert metrics["visual"]["concat"]["gap_resolved"] == (adjusted["visual", "concat", "gap"] < 0.05)
    lag = {"audio": (0.0, 0.0), "visual": (0.0, 0.0)}
    text = stage.findings(g, lag, dataset="avdigits", fusion="concat", ogm=OGMConfig(alpha=0.5), seeds=[0, 1, 2],
                          lr_step=14)
    assert "Holm-adjusted over the figure's 18 paired effects" in text
    verdict = ("resolved after Holm correction over 18 comparisons" if adjusted["visual", "concat", "gap"] < 0.05
               else "not resolved (adjusted p")
    assert f"gap {g['visual', 'concat']['gap']} points ({verdict}" in text
    assert "OGM-GE resolvably narrows the weaker (visual) encoder's gap on AV-Digits (resolved after Holm" in text
    assert "not resolved (adjusted p = 0.209, Holm over 18 comparisons)" in text  # probe vs probe: -11.3 ± 6.3
    assert "Convergence check" not in text  # no runs given
