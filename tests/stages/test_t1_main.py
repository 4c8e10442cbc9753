"""Stage `t1_main`: its schema, params.yaml and the notebook's parameters cell agree; the seeds rule, the
paired family with Holm, and the runs read back from t1_fusion's store (only the rest trains)."""

import json
from pathlib import Path

import pytest
import yaml

from avlib import report
from avlib.balance import OGMConfig
from avlib.core.params import ParamError
from avlib.stages import t1_main as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["t1_main"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "t1_main.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/t1_main"
    assert values == PARAMS


# --- the stage's own logic --------------------------------------------------------------------------

def _run(kind, seed, acc, method=None):
    from avlib.tasks.classify.fit import TrainConfig
    from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

    label = f"{kind}+ogm_ge" if method else kind
    return RunResult(job=RunJob(RunSpec(label, kind, method), seed, TrainConfig()), test={"acc": acc, "map": acc},
                     val={"acc": acc}, best_epoch=0, history=[{"epoch": 0, "rho_audio": 1.5, "test_acc": acc}],
                     probe={"val": {}, "test": {}})


def test_seeds_for_a_half_width_follow_the_paired_t():
    assert stage.seeds_for(1.68) == 14  # the rule in params.yaml: 13 gives 1.01 points, 14 gives 0.97
    assert stage.seeds_for(1.0) == 7 and stage.seeds_for(0.1) == 2


def test_the_main_comparison_pairs_every_seed_and_holm_covers_table_1s_family():
    """concat at 14 seeds, FiLM at 9, the others at 3: each Δ pairs the seeds both rows ran; Holm over the four;
    each comparison's line says its precision and what the target would cost."""
    from avlib.balance import OGMConfig
    from avlib.stages.shared.stats import holm

    ogm = OGMConfig(alpha=0.03)
    runs = []
    for kind, seeds in (("baseline", 3), ("concat", 14), ("sum", 3), ("film", 9)):
        for s in range(seeds):
            runs += [_run(kind, s, 0.80 + 0.001 * s), _run(kind, s, 0.79 + 0.001 * s + 0.002 * (s % 2), ogm)]
    family = stage.deltas(runs)
    assert list(family) == ["baseline", "concat", "sum", "film"]
    assert family["concat"].n == 14 and family["sum"].n == 3 and family["film"].n == 9
    metrics = stage.run_metrics(runs)
    assert [metrics[k]["delta_acc_p_holm"] for k in family] == pytest.approx(holm([d.p for d in family.values()]),
                                                                             abs=1e-6)
    assert metrics["main"]["seeds"] == 14 and metrics["main"]["delta_acc_resolved"]
    reference = report.load_reference("ogmge_t1_fusion.csv")
    text = stage.findings(runs, dataset="avdigits", reference=reference)
    assert "over 14 seeds" in text and "meets the 1-point target" in text and "OGM-GE hurts" in text
    table = stage.main_table(runs, dataset="avdigits", reference=reference)
    assert table["seeds"].tolist() == [3, 14, 3, 9] and "Holm p" in table
    film = next(line for line in text.splitlines() if line.startswith("- FiLM"))
    sd = stage.paired_sd(runs, "film")
    assert "over 9 seeds" in film and f"paired SD, {sd:.2f}" in film and f"needs {stage.seeds_for(sd)} seeds" in film


def test_the_seeds_rule_in_params_yaml_is_what_the_stage_runs():
    """Each fusion's seeds: t1_fusion's three, then its extra ones (params.yaml's rules; the last ones t1_seeds's, read
    back)."""
    p = stage.PARAMS.check(PARAMS)
    assert {kind: len(stage.seeds_of(p, kind)) for kind in p.fusions} == {"baseline": 11, "concat": 17, "sum": 5,
                                                                          "film": 11}


@pytest.mark.slow  # trains t1_main's runs on the tiny data (~15 s): `make test`, not the inner loop
def test_runs_t1_fusion_trained_are_read_back_and_only_the_rest_train(tmp_path, tiny_avdigits, monkeypatch):
    """The store holds seed 0 of every row; a second seed of the main pair is trained, nothing else."""
    from avlib.stages.shared.run_store import write_run_store
    from avlib.tasks.classify import engine

    p = stage.PARAMS.check({**PARAMS, "root": str(tiny_avdigits), "seeds": [0], "extra_seeds": {"concat": [1]},
                            "epochs": 1, "workers": 1,  # in this process: two spawned workers cost more than the runs
                            "fusions": ["concat", "sum"], "reuse_from": str(tmp_path / "trained_runs.json.gz"),
                            "seeds_from": str(tmp_path / "no_seeds_store.json.gz")})
    p.smoke = True
    data, train, model = stage.load_data(p), stage.train_config(p), stage.model_kwargs(p)
    chosen = OGMConfig(alpha=0.03, end_epoch=1)
    first, read = stage.table_runs(p, data, train=train, model=model, chosen=chosen)
    assert read == {p.reuse_from: 0} and len(first) == 6  # nothing stored yet: all trained
    write_run_store(first[:4], tmp_path, data=data, stage="t1_fusion")  # the rows at seed 0
    trained = []
    real = engine.run_groups
    monkeypatch.setattr(stage, "run_groups", lambda groups, *a, **k: trained.extend(groups) or real(groups, *a, **k))
    again, read = stage.table_runs(p, data, train=train, model=model, chosen=chosen)
    assert read == {p.reuse_from: 4}
    assert [(g[0][0].label, g[1]) for g in trained] == [("concat", [1]), ("concat+ogm_ge", [1])]
    assert [(r.label, r.seed, r.test) for r in again] == [(r.label, r.seed, r.test) for r in first]


def test_bad_params_are_named():
    with pytest.raises(ParamError, match="extra_seeds.sum"):
        stage.PARAMS.check({**PARAMS, "extra_seeds": {"sum": [2, 3]}})  # seed 2 is in seeds already
    with pytest.raises(ParamError, match="extra_seeds.gated"):
        stage.PARAMS.check({**PARAMS, "extra_seeds": {"gated": [3]}})  # not among fusions
    with pytest.raises(ParamError, match="extra_seeds"):
        stage.PARAMS.check({**PARAMS, "extra_seeds": {"mlp": [3]}})
    with pytest.raises(ParamError, match="fusions"):
        stage.PARAMS.check({**PARAMS, "fusions": ["sum"]})
