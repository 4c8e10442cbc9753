"""dvc.yaml, params.yaml and the notebooks agree with each other."""

import json
import re
import sys
from pathlib import Path

import stage_deps
import yaml

ROOT = Path(__file__).resolve().parents[2]

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
NOTEBOOK_STAGES = [name for name, stage in DVC["stages"].items() if "run_stage.py" in stage["cmd"]]


def _parameters_cell(stage: str) -> dict:
    nb = json.loads((ROOT / "notebooks" / f"{stage}.ipynb").read_text())
    cell = nb["cells"][[i for i, c in enumerate(nb["cells"]) if "parameters" in c["metadata"].get("tags", [])][0]]
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    return values


def _resolve(path: str) -> str:
    """DVC templating: ${section.key} or ${section.key[i]} (an item of a list) -> the value in params.yaml."""
    def value(m):
        found = PARAMS[m[1]][m[2]]
        return str(found[int(m[3])] if m[3] is not None else found)
    return re.sub(r"\$\{(\w+)\.(\w+)(?:\[(\d+)\])?\}", value, path)


def _declared(entries) -> list[str]:
    return [_resolve(next(iter(e)) if isinstance(e, dict) else e) for e in entries or []]


def test_every_dep_exists_and_every_output_is_under_reports_or_data():
    produced = {p for s in DVC["stages"].values() for p in _declared(s.get("outs"))}
    for name, stage in DVC["stages"].items():
        for dep in map(_resolve, stage.get("deps", [])):
            inside = any(dep == p or dep.startswith(p + "/") for p in produced)
            assert (ROOT / dep).exists() or inside, f"stage {name}: dep {dep} does not exist"
        for out in _declared(stage.get("outs")):
            assert out.startswith(("reports/", "data/")), f"stage {name}: output {out} outside reports/ or data/"


def test_each_notebook_stage_writes_one_report_folder_and_declares_its_headline():
    for stage in NOTEBOOK_STAGES:
        reports = [o for o in _declared(DVC["stages"][stage]["outs"]) if o.startswith("reports/")]
        assert reports == [f"reports/{stage}"], f"{stage}: report outputs {reports}; expected one folder"
        assert f"reports/{stage}/headline.json" in DVC["metrics"], f"{stage}: headline.json not in top-level metrics"


def test_report_outputs_persist_so_a_failed_run_keeps_the_old_report():
    # DVC deletes non-persistent outputs before running a stage; run_stage swaps new ones in atomically.
    for stage in DVC["stages"].values():
        for entry in stage.get("outs") or []:
            assert isinstance(entry, dict) and next(iter(entry.values())).get("persist") is True, entry


def test_reports_are_not_cached_so_git_can_diff_them():
    for stage in DVC["stages"].values():
        for entry in stage.get("outs") or []:
            path, opts = next(iter(entry.items()))
            if path.startswith("reports/"):
                assert opts["cache"] is False, path


def test_every_params_key_exists():
    for name, stage in DVC["stages"].items():
        for key in stage.get("params", []):
            section, _, leaf = key.partition(".")
            assert section in PARAMS and (not leaf or leaf in PARAMS[section]), f"stage {name}: no param {key}"


def test_notebook_parameters_match_params_yaml():
    for stage in NOTEBOOK_STAGES:
        cell = _parameters_cell(stage)
        assert cell["smoke"] is False and cell["out_dir"] == f"reports/{stage}"
        assert set(cell) - {"out_dir"} == set(PARAMS[stage]), f"{stage}: parameters cell and params.yaml differ"
        assert {k: cell[k] for k in PARAMS[stage]} == PARAMS[stage], f"{stage}: defaults differ from params.yaml"


def test_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name} has outputs"


def test_dvc_accepts_the_pipeline():
    import subprocess

    dvc = Path(sys.executable).with_name("dvc")
    result = subprocess.run([str(dvc), "stage", "list"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in DVC["stages"]:
        assert name in result.stdout


def test_every_file_a_stage_imports_is_among_its_deps():
    # Follows each notebook's (and the runner's) avlib imports through avlib: a file a stage uses but
    # does not list would let DVC skip the stage after that file changed.
    for stage in NOTEBOOK_STAGES:
        deps = stage_deps.expand(list(map(_resolve, DVC["stages"][stage]["deps"])))
        for needed in stage_deps.stage_files(stage):
            assert needed in deps, f"stage {stage}: uses {needed} but dvc.yaml does not list it in deps"


def test_no_stage_lists_a_dep_it_does_not_use():
    # The reverse: an extra avlib file in deps re-runs a stage for nothing (e.g. every stage re-running
    # when one stage's figure changes).
    for stage in NOTEBOOK_STAGES:
        used = set(stage_deps.stage_files(stage))
        for dep in map(_resolve, DVC["stages"][stage]["deps"]):
            if stage_deps.is_code(dep):
                unused = stage_deps.expand([dep]) - used
                assert not unused, f"stage {stage}: lists {dep} in deps but never imports {sorted(unused)}"


def test_the_dependency_follower_sees_a_new_import(tmp_path):
    # The follower itself must be able to fail: a source importing avlib.report.plots pulls in plots and metrics.
    found = stage_deps.avlib_files(["from avlib.report.plots import line_with_band"])
    assert {"avlib/report/plots.py", "avlib/core/metrics.py", "avlib/__init__.py"} <= found
    assert "avlib/tasks/classify/engine.py" not in found and "avlib/report/site.py" not in found


def test_an_ogm_ge_edit_reaches_only_the_stages_that_train_with_it():
    touching = set(stage_deps.stages_touching("avlib/balance/ogm.py"))
    # premise_avdigits / premise_avclips / premise_avevents train plain models only, but through the same engines
    # (whose fit or train imports the balancers)
    assert touching == {"t1_fusion", "t1_main", "t1_seeds", "t3_grid", "t3_seeds", "t3_more_seeds", "t3_imbalance",
                        "fig_underopt", "fig_imbalance_sweep", "t2_video", "t2_video_more_seeds", "t2_speech",
                        "t2_speech_more_seeds", "premise_avclips", "t4_ave", "premise_avdigits", "premise_avevents"}
    assert not touching & {"avasr_fusion", "avts_pretrain", "avts_probe", "avqa_ablation", "data_avscenes"}


def test_index_depends_on_every_notebook_stage():
    deps = stage_deps.expand(DVC["stages"]["index"]["deps"])
    for stage in NOTEBOOK_STAGES:
        assert f"reports/{stage}/provenance.json" in deps, f"index stage does not depend on stage {stage}"
    for needed in stage_deps.avlib_files([(ROOT / "tools" / "build_index.py").read_text()]):
        assert needed in deps, f"index stage: build_index uses {needed} but does not list it"


def test_every_notebook_stage_has_a_schema_matching_params_yaml():
    import importlib

    for stage in NOTEBOOK_STAGES:
        schema = importlib.import_module(f"avlib.stages.{stage}").PARAMS
        assert set(schema.fields) == set(PARAMS[stage]), f"{stage}: schema keys and params.yaml keys differ"
        schema.check(PARAMS[stage])  # the committed defaults pass their own check


def test_committed_findings_call_nothing_resolved_without_holm():
    """'Resolved' is a word of the Holm-adjusted family (docs/statistics.md): a findings.md that uses it names
    Holm's correction (or a single comparison's own p). avts_probe's once called raw-interval gains
    'resolvable' over 12 uncorrected comparisons."""
    for path in sorted((ROOT / "reports").glob("*/findings.md")):
        text = path.read_text()
        if re.search(r"resolv", text, re.IGNORECASE):
            assert "Holm" in text, f"{path.relative_to(ROOT)} says resolved without Holm's correction"
