"""Every notebook runs end to end through the real runner with smoke=True."""

import json
import re
import sys
from pathlib import Path

import pytest
import run_stage

ROOT = Path(__file__).resolve().parents[2]


def test_kernel_is_this_venvs_python(tmp_path):
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    nbformat.write(nb, tmp_path / "probe.ipynb")
    papermill.execute_notebook(tmp_path / "probe.ipynb", tmp_path / "out.ipynb",
                               kernel_name=run_stage.kernel_for_this_python(), progress_bar=False)
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
def test_data_notebook_smoke(tmp_path):
    root = tmp_path / "avdigits"
    out = run_stage.run("data_avdigits", ["smoke=true", f"root={root}"], tmp_path / "reports")
    assert (root / "train.pt").exists()
    for name in ("splits.csv", "splits.md", "metrics.json", "examples.png", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["smoke"] is True
    assert provenance["ran_with"]["n_train"] == 40 and provenance["params"]["n_train"] == 3500  # what really ran
    assert "/" not in provenance.get("executable", "") and str(ROOT) not in (out / "provenance.json").read_text()


@pytest.mark.slow
def test_t1_notebook_smoke(tmp_path, tiny_avdigits):
    reports = tmp_path / "reports"
    out = run_stage.run("t1_fusion", ["smoke=true", f"root={tiny_avdigits}"], reports)
    for name in ("table.csv", "table.md", "ogm_grid.csv", "history.csv", "findings.md", "imbalance.png",
                 "metrics.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Digits) acc" in table and "paper (CREMA-D) acc" in table and "Δ acc" in table
    ran = json.loads((out / "provenance.json").read_text())["ran_with"]
    assert ran["epochs"] == 1 and ran["seeds"] == [0]  # smoke's shrunk knobs are recorded, not the yaml's
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"audio_only", "concat", "concat+ogm_ge"} <= set(metrics)
    assert sorted(p.name for p in reports.iterdir()) == ["t1_fusion"]  # no temp folder left behind

    from avlib.report.site import build_index

    page = build_index(reports).read_text()
    assert "t1_fusion" in page and "git_commit" in page


@pytest.mark.slow
def test_t3_notebook_smoke_is_deterministic(tmp_path, tiny_avdigits):
    outs = [run_stage.run("t3_imbalance", ["smoke=true", f"root={tiny_avdigits}"], tmp_path / f"reports{i}")
            for i in range(2)]
    out = outs[0]
    for name in ("table.csv", "table.md", "grid.csv", "grid.md", "history.csv", "findings.md", "metrics.json",
                 "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    for column in ("ours (AV-Digits) acc", "Δ acc vs Concatenation", "paper (CREMA-D) acc",
                   "paper (Kinetics-Sounds) acc",
                   "BalanceBenchmark (CREMA-D) acc", "BalanceBenchmark (Kinetics-Sounds) acc", "time vs Concatenation",
                   "visual encoder probe", "ρ_audio, last epoch"):
        assert column in table, column
    for row in ("Concatenation", "Modality-Drop (audio)", "Modality-Drop (visual)", "Grad-Blending", "| OGM ",
                "OGM-GE", "OPM *", "AGM *", "MMPareto *", "MLA *", "not reimplemented yet"):
        assert row in table, row
    ran = json.loads((out / "provenance.json").read_text())["ran_with"]
    assert ran["epochs"] == 1 and ran["seeds"] == [0, 1]
    # deterministic: the same numbers twice (the measured wall times aside)
    for name in ("history.csv", "grid.csv"):
        assert (outs[1] / name).read_text() == (out / name).read_text(), name
    metrics = [json.loads((o / "metrics.json").read_text()) for o in outs]
    for m in metrics:
        for entry in m.values():
            entry.pop("time_ratio")
    assert metrics[0] == metrics[1]
    assert "BalanceBenchmark" in (out / "findings.md").read_text()


@pytest.mark.slow
def test_failing_stage_leaves_previous_report_untouched(tmp_path, tiny_avdigits):
    reports = tmp_path / "reports"
    (reports / "t1_fusion").mkdir(parents=True)
    (reports / "t1_fusion" / "table.csv").write_text("previous\n")
    with pytest.raises(run_stage.StageError, match=r"DatasetError: avdigits: .*nowhere.*not found"):
        run_stage.run("t1_fusion", ["smoke=true", f"root={tmp_path / 'nowhere'}"], reports)
    assert (reports / "t1_fusion" / "table.csv").read_text() == "previous\n"
    assert not any(p.name.endswith(".tmp") for p in reports.iterdir())
    assert (reports / ".failed" / "t1_fusion.ipynb").exists()
    # a later successful run removes the stale failure
    run_stage.run("data_avdigits", ["smoke=true", f"root={tmp_path / 'avd'}"], reports)
    (reports / ".failed" / "data_avdigits.ipynb").write_text("{}")
    run_stage.run("data_avdigits", ["smoke=true", f"root={tmp_path / 'avd'}"], reports)
    assert not (reports / ".failed" / "data_avdigits.ipynb").exists()


@pytest.mark.parametrize("override, named", [
    ("epochz=3", "t1_fusion.epochz"), ("lr=abc", "t1_fusion.lr"), ("seeds=[]", "t1_fusion.seeds"),
    ("rows=[late]", "t1_fusion.rows"), ("selection_seed=0", "t1_fusion.selection_seed"),
    ("epochs=true", "t1_fusion.epochs"), ("device=gpu", "t1_fusion.device"),
    ("loader={val_fractoin: 0.2}", "t1_fusion.loader"),
])
def test_bad_params_are_named_before_anything_runs(tmp_path, override, named):
    from avlib.core.params import ParamError

    with pytest.raises(ParamError, match=re.escape(named)):
        run_stage.run("t1_fusion", [override], tmp_path / "reports")
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_bad_data_param_is_named():
    from avlib.core.params import ParamError

    with pytest.raises(ParamError, match="data_avdigits.snr_db='loud'"):
        run_stage.stage_params("data_avdigits", ["snr_db=loud"])


@pytest.mark.slow
def test_cli_prints_the_error_last_and_exits_nonzero(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "tools" / "run_stage.py"), "t1_fusion", "--set", "lr=abc",
                             "--reports", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "bad parameter: t1_fusion.lr='abc': expected a finite number > 0"
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_sigterm_leaves_no_temp_folder(tmp_path, tiny_avdigits):
    import signal
    import subprocess
    import time

    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "run_stage.py"), "t1_fusion", "--set", "smoke=true",
                             "--set", f"root={tiny_avdigits}", "--reports", str(reports)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (reports / ".t1_fusion.tmp").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (reports / ".t1_fusion.tmp").exists(), "the stage never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert not (reports / ".t1_fusion.tmp").exists()
    assert not (reports / "t1_fusion").exists()
