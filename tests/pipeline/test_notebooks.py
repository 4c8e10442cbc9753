"""The runner around every notebook: the kernel, a failing stage, parameters named before anything runs, the CLI,
SIGTERM. Each stage's own smoke run is in tests/stages/test_<stage>.py."""

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
def test_failing_stage_leaves_previous_report_untouched(tmp_path, tiny_avdigits):
    reports = tmp_path / "reports"
    (reports / "t1_fusion").mkdir(parents=True)
    (reports / "t1_fusion" / "table.csv").write_text("previous\n")
    with pytest.raises(run_stage.StageError, match=r"DatasetError: avdigits: .*nowhere.*not found"):
        run_stage.run("t1_fusion", ["smoke=true", f"root={tmp_path / 'nowhere'}"], reports)
    assert (reports / "t1_fusion" / "table.csv").read_text() == "previous\n"
    assert not any(p.name.endswith(".tmp") for p in reports.iterdir())
    assert (reports / ".failed" / "t1_fusion.ipynb").exists()
    # a later successful run removes its stage's stale failure, and no other stage's
    (reports / ".failed" / "data_avdigits.ipynb").write_text("{}")
    run_stage.run("data_avdigits", ["smoke=true", f"root={tmp_path / 'avd'}"], reports)
    assert not (reports / ".failed" / "data_avdigits.ipynb").exists()
    assert (reports / ".failed" / "t1_fusion.ipynb").exists()


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
