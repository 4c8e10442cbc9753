"""The paper-scale profile (profiles/paper.yaml) stays applicable: every key it sets exists in params.yaml and
the stages' schemas accept the result, and the printed command carries every setting."""

import importlib
from pathlib import Path

import exp_profile

ROOT = Path(__file__).resolve().parents[2]


def test_the_paper_profile_passes_every_stage_schema():
    profile = exp_profile.load_profile("paper")
    assert set(profile) == {"t1_fusion", "t3_grid", "t3_seeds", "t3_more_seeds", "t3_imbalance", "fig_underopt"}
    params = exp_profile.merged(profile)
    for stage in profile:
        importlib.import_module(f"avlib.stages.{stage}").PARAMS.check(params[stage])
        assert params[stage]["encoder"] == "resnet18" and params[stage]["epochs"] == 100
        assert params[stage]["batch_size"] == 64 and params[stage]["lr"] == 0.001 and params[stage]["amp"] is True


def test_the_command_sets_every_knob_of_the_profile():
    profile = exp_profile.load_profile("paper")
    cmd = exp_profile.command(profile)
    assert cmd.startswith("dvc exp run -S ")
    for stage, knobs in profile.items():
        for key in knobs:
            assert f"{stage}.{key}=" in cmd
    assert "-S 't1_fusion.loader={augment: true, image_size: 224, n_frames: 1, val_fraction: 0.1, val_seed: 0}'" in cmd
    assert "..." not in cmd


def test_run_counts_follow_the_stages_params():
    params = exp_profile.merged({})
    p = params["t1_fusion"]  # grid 4 x 1 at 2 selection seeds, then 6 rows + 4 OGM-GE rows x 3 seeds, then
    # concat with and without OGM-GE at the 3 main seeds
    assert exp_profile.runs("t1_fusion", p) == (len(p["alpha_grid"]) * len(p["window_grid"]) * 2
                                               + 10 * len(p["seeds"]) + 2 * len(p["main_seeds"])) == 44
    # t3_grid: grids with two points (drop audio, drop visual, G-Blend) at 2 selection seeds; t3_imbalance: 13 rows
    # x 3 seeds, the late-fusion row two runs a seed (its grid read back from t3_grid; OGM-GE's setting is
    # t1_fusion's choice: no grid)
    assert exp_profile.runs("t3_grid", params["t3_grid"]) == 6 * 2
    assert exp_profile.runs("t3_imbalance", params["t3_imbalance"], params) == 14 * 3  # seeds 0-2: 3-6 read back
    assert exp_profile.runs("t3_seeds", params["t3_seeds"]) == 14 * 2  # from t3_seeds, which trains them
    assert exp_profile.runs("t3_more_seeds", params["t3_more_seeds"], params) == 14 * 2  # 5-6; 3-4 t3_seeds's
