"""The bad-input matrix over every notebook stage in dvc.yaml: each parameter, given a value of the wrong
kind, an unknown key and a missing key, is refused with an error that names `<stage>.<key>` and says what
was expected, before any notebook runs; and the runner exits 2 leaving nothing in reports/.

New stages join the matrix by being in dvc.yaml: nothing here names them.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import run_stage
import yaml

from avlib.core.params import ParamError

ROOT = Path(__file__).resolve().parents[2]

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
STAGES = [name for name, stage in DVC["stages"].items() if "run_stage.py" in stage["cmd"]]
# no checker accepts this: not a number, string, bool, list or known name, and a mapping with an unknown key
GARBAGE = {"__not_a_value__": 1}
MATRIX = [(stage, key) for stage in STAGES for key in PARAMS[stage]]


def test_the_matrix_covers_every_stage_and_key():
    assert len(STAGES) >= 8 and all(PARAMS[s] for s in STAGES)
    assert {s for s, _ in MATRIX} == set(STAGES)


@pytest.mark.parametrize(("stage", "key"), MATRIX, ids=[f"{s}.{k}" for s, k in MATRIX])
def test_a_value_of_the_wrong_kind_is_refused_naming_the_parameter(stage, key):
    with pytest.raises(ParamError, match=rf"^{stage}\.{key}=.*expected \S") as err:
        run_stage.stage_params(stage, [f"{key}={yaml.safe_dump(GARBAGE, default_flow_style=True).strip()}"])
    assert "__not_a_value__" in str(err.value)  # the value given is quoted back


@pytest.mark.parametrize("stage", STAGES)
def test_an_unknown_key_is_refused_naming_the_stage_and_the_known_keys(stage):
    with pytest.raises(ParamError, match=rf"^{stage}\.epochz: not a param of stage"):
        run_stage.stage_params(stage, ["epochz=3"])
    schema = __import__(f"avlib.stages.{stage}", fromlist=["PARAMS"]).PARAMS
    with pytest.raises(ParamError, match=rf"^{stage}\.epochz: unknown parameter"):
        schema.check({**PARAMS[stage], "epochz": 3})  # a key added to params.yaml by hand


@pytest.mark.parametrize("stage", STAGES)
def test_a_missing_key_is_refused(stage):
    schema = __import__(f"avlib.stages.{stage}", fromlist=["PARAMS"]).PARAMS
    key = sorted(PARAMS[stage])[0]
    values = {k: v for k, v in PARAMS[stage].items() if k != key}
    with pytest.raises(ParamError, match=rf"^{stage}\.{key}: missing"):
        schema.check(values)


@pytest.mark.parametrize("stage", STAGES)
def test_params_yaml_passes_its_own_schema(stage):
    run_stage.stage_params(stage, [])


@pytest.mark.slow
def test_the_runner_exits_2_with_the_error_last_and_writes_nothing(tmp_path):
    stage = STAGES[-1]
    key = sorted(PARAMS[stage])[0]
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_stage.py"), stage, "--set", f"{key}={{x: 1}}",
                           "--reports", str(tmp_path / "reports")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"bad parameter: {stage}.{key}=")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
