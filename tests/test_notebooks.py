"""Every notebook runs end to end through the real runner with smoke=True."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import run_stage  # noqa: E402


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
    assert json.loads((out / "provenance.json").read_text())["smoke"] is True


@pytest.mark.slow
def test_t1_notebook_smoke(tmp_path, tiny_avdigits):
    reports = tmp_path / "reports"
    out = run_stage.run("t1_fusion", ["smoke=true", f"root={tiny_avdigits}"], reports)
    for name in ("table.csv", "table.md", "ogm_grid.csv", "history.csv", "findings.md", "imbalance.png",
                 "metrics.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    table = (out / "table.md").read_text()
    assert "ours (AV-Digits) acc" in table and "paper (CREMA-D) acc" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"audio_only", "concat", "concat+ogm_ge"} <= set(metrics)
    assert sorted(p.name for p in reports.iterdir()) == ["t1_fusion"]  # no temp folder left behind

    from avlib.report import build_index

    page = build_index(reports).read_text()
    assert "t1_fusion" in page and "git_commit" in page


@pytest.mark.slow
def test_failing_stage_leaves_previous_report_untouched(tmp_path):
    reports = tmp_path / "reports"
    (reports / "t1_fusion").mkdir(parents=True)
    (reports / "t1_fusion" / "table.csv").write_text("previous\n")
    with pytest.raises(Exception, match="avdigits"):
        run_stage.run("t1_fusion", ["smoke=true", f"root={tmp_path / 'nowhere'}"], reports)
    assert (reports / "t1_fusion" / "table.csv").read_text() == "previous\n"
    assert not any(p.name.endswith(".tmp") for p in reports.iterdir())
    assert (reports / ".failed" / "t1_fusion.ipynb").exists()


def test_unknown_param_is_named():
    with pytest.raises(SystemExit, match="epochz"):
        run_stage.stage_params("t1_fusion", ["epochz=3"])
