"""fig_imbalance_sweep: the multi-SNR generator writes exactly what `generate` writes per level, the stage's
inputs fail clearly, its runs are deterministic, and its notebook smoke-runs."""

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import run_stage
from fixtures.avdigits import TINY, digest

from avlib.balance import OGMConfig
from avlib.data import DatasetError, load_splits
from avlib.data.embedded.avdigits import AVDigitsConfig, generate, generate_snr_levels
from avlib.stages import fig_imbalance_sweep as stage
from avlib.stages.shared import ogm_choice

ROOT = Path(__file__).resolve().parents[2]

LEVELS = (-14.0, 6.0)


@pytest.fixture(scope="module")
def level_roots(tmp_path_factory) -> list:
    base = tmp_path_factory.mktemp("levels")
    roots = [base / f"snr{i}" for i in range(len(LEVELS))]
    generate_snr_levels(roots, [AVDigitsConfig(**TINY, snr_db=s) for s in LEVELS], progress=False)
    return roots


@pytest.mark.slow
def test_each_level_is_byte_identical_to_generate(level_roots, tmp_path):
    for snr, root in zip(LEVELS, level_roots, strict=True):
        alone = tmp_path / f"alone{snr:g}"
        generate(alone, AVDigitsConfig(**TINY, snr_db=snr), progress=False)
        assert digest(root) == digest(alone)  # every tensor, wav and meta byte
    assert digest(level_roots[0]) != digest(level_roots[1])  # the SNR did change the audio


def test_levels_must_differ_only_in_the_snr(tmp_path):
    cfgs = [AVDigitsConfig(**TINY), AVDigitsConfig(**TINY, visual_noise_std=0.1)]
    with pytest.raises(DatasetError, match="differ only in snr_db"):
        generate_snr_levels([tmp_path / "a", tmp_path / "b"], cfgs, progress=False)
    assert list(tmp_path.iterdir()) == []


def _params(tmp_path, **changes):
    p = SimpleNamespace(dataset="avdigits", root="unused", snr_levels=list(LEVELS), seeds=[0, 1], epochs=1,
                        ogm_grid=str(ROOT / "reports/t1_fusion/ogm_grid.csv"), ogm_params="conv", width=4,
                        alpha_grid=[0.03, 0.3], selection_seeds=[100],
                        batch_size=32, lr=0.1, lr_unimodal=0.1, momentum=0.9, weight_decay=1e-4, lr_decay_at=0.7,
                        lr_gamma=0.1,
                        device="cpu", workers=1, smoke=False, n_train=60, n_val=30, n_test=30)
    return SimpleNamespace(**{**vars(p), **changes})


@pytest.mark.slow
def test_runs_are_deterministic_and_visual_only_is_shared(level_roots, tmp_path):
    levels = {snr: load_splits("avdigits", root) for snr, root in zip(LEVELS, level_roots, strict=True)}
    assert stage.visual_shared(levels)
    p, ogm = _params(tmp_path), OGMConfig(alpha=0.5, start_epoch=0, end_epoch=1)
    results = [stage.run_levels(p, levels, ogm, stage.train_config(p)) for _ in range(2)]
    assert results[0][1] == results[1][1]  # the same α chosen at every level
    results, selections = [r[0] for r in results], results[0][1]
    frames = [stage.runs_frame(r) for r in results]
    assert frames[0].equals(frames[1])
    assert {"ge_only", "concat+ogm_ge", "concat"} <= set(frames[0]["label"])  # the GE-alone control at every level
    assert set(stage.selection_frame(selections)["alpha"]) == set(p.alpha_grid)
    assert {"snr_db", "label", "seed", "epoch"} <= set(stage.histories(results[0]).columns)
    visual = frames[0][frames[0]["label"] == "visual_only"]
    assert len(visual) == 2 * len(LEVELS)  # reported at each level ...
    assert visual.groupby("seed")["test_acc"].nunique().eq(1).all()  # ... from one training per seed
    rows = stage.level_summary(results[0], selections)
    assert [r["snr_db"] for r in rows] == list(LEVELS) and all(r["delta"].n == 2 for r in rows)
    assert all(r["holm_m"] == 2 * len(LEVELS) and "delta_p_holm" in r for r in rows)
    assert "SNR -14 dB" in stage.findings(rows, ogm, p.seeds)


def _run(label, seed, val_acc):
    return SimpleNamespace(label=label, seed=seed, val={"acc": val_acc})


def test_alpha_is_chosen_on_mean_val_over_selection_seeds_ties_to_the_smaller():
    p = SimpleNamespace(alpha_grid=[0.03, 0.3])
    runs = [_run("alpha=0.03", 100, 0.80), _run("alpha=0.03", 101, 0.70), _run("alpha=0.3", 100, 0.74),
            _run("alpha=0.3", 101, 0.74)]
    sel = stage.select_alpha(p, runs)
    assert sel["alpha"] == 0.03 and abs(sel["margin"] - 1.0) < 1e-9  # 75.0 vs 74.0
    tie = [_run("alpha=0.03", 100, 0.7), _run("alpha=0.3", 100, 0.7)]
    assert stage.select_alpha(p, tie)["alpha"] == 0.03 and stage.select_alpha(p, tie)["sd"] is None


def test_selection_seeds_must_not_be_reported_seeds():
    with pytest.raises(Exception, match="selection_seeds"):
        run_stage.stage_params("fig_imbalance_sweep", ["selection_seeds=[0]"])


def test_ogm_setting_is_read_from_t1s_chosen_row(tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text('setting,window_end_epoch,val_acc,chosen\n"α=0.1, window=1",20,0.8,False\n'
                    '"α=0.5, window=0.5",10,0.9,True\n')
    ogm = stage.chosen_ogm(_params(tmp_path, ogm_grid=str(grid), epochs=20))
    assert (ogm.alpha, ogm.start_epoch, ogm.end_epoch, ogm.params) == (0.5, 0, 10, "conv")
    # the very setting t3_imbalance and fig_underopt read (one reader: stages/shared/ogm_choice.py)
    assert ogm == ogm_choice.chosen_ogm(grid, epochs=20, params="conv")


def test_missing_or_bad_inputs_name_the_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv.*t1_fusion"):
        stage.chosen_ogm(_params(tmp_path, ogm_grid=str(missing)))
    bad = tmp_path / "bad.csv"
    bad.write_text("setting,chosen\nx,False\n")
    with pytest.raises(ValueError, match="bad.csv.*exactly one row with chosen=True"):
        stage.chosen_ogm(_params(tmp_path, ogm_grid=str(bad)))
    with pytest.raises(DatasetError, match="meta.json not found"):
        stage.base_config(_params(tmp_path, root=str(tmp_path)))
    with pytest.raises(Exception, match="n_train \\+ n_val \\+ n_test"):
        run_stage.stage_params("fig_imbalance_sweep", ["n_train=4900"])


def test_base_config_is_the_data_stages_with_the_sweep_sizes(tiny_avdigits, tmp_path):
    cfg = stage.base_config(_params(tmp_path, root=str(tiny_avdigits), n_train=50, n_val=10, n_test=20))
    assert cfg == replace(AVDigitsConfig(**TINY), n_train=50, n_val=10, n_test=20)


@pytest.mark.slow
def test_sweep_notebook_smoke(tmp_path, tiny_avdigits):
    reports = tmp_path / "reports"
    out = run_stage.run("fig_imbalance_sweep", ["smoke=true", f"root={tiny_avdigits}"], reports)
    for name in ("table.csv", "table.md", "runs.csv", "history.csv", "alpha_grid.csv", "findings.md", "sweep.png",
                 "metrics.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["embedded_data"] is True
    assert provenance["ran_with"]["snr_levels"] == provenance["params"]["snr_levels"][:2]
    assert provenance["ran_with"]["epochs"] == 1 and provenance["ran_with"]["n_train"] == 40
    assert set(json.loads((out / "metrics.json").read_text())) == {"snr_-18", "snr_-14"}
    assert "Δ acc (paired)" in (out / "table.md").read_text()
    assert sorted(p.name for p in reports.iterdir() if p.suffix != ".lock") == ["fig_imbalance_sweep"]  # the lock stays
