"""The OpenBLAS kernel pin (avlib/core/pins.py) that makes the probes' bits the same on every x86-64 machine."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avlib.core import pins as blas

ROOT = Path(__file__).resolve().parents[2]


def test_the_pins_are_set_where_they_run_and_a_users_choice_is_kept(monkeypatch, capsys):
    monkeypatch.setattr(blas.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(blas, "has_avx2", lambda: True)
    assert blas.pin_kernels({}) == blas.PINS
    assert blas.pin_kernels({})["OPENBLAS_CORETYPE"] == "Haswell"
    assert blas.pin_kernels({"OPENBLAS_CORETYPE": "Zen"}) == {**blas.PINS, "OPENBLAS_CORETYPE": "Zen"}
    assert blas.pin_kernels({"ATEN_CPU_CAPABILITY": "default"})["ATEN_CPU_CAPABILITY"] == "default"
    monkeypatch.setattr(blas, "has_avx2", lambda: False)
    env = {}
    assert set(blas.pin_kernels(env).values()) == {None}  # AVX2 kernels would not run on this CPU
    assert blas.pin_kernels(env)["MKL_CBWR"] is None
    assert capsys.readouterr().err.count("not pinned") == 1  # one line, however often avlib is imported
    monkeypatch.setattr(blas.platform, "machine", lambda: "aarch64")
    assert set(blas.pin_kernels({}, report=False).values()) == {None}


def test_a_process_that_imports_avlib_first_loads_openblas_with_the_pin():
    if blas.pin_kernels(dict(os.environ), report=False)["OPENBLAS_CORETYPE"] is None:
        pytest.skip("not x86-64 with AVX2: nothing is pinned here")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = ("import avlib, numpy, json; from threadpoolctl import threadpool_info; "
            "print(json.dumps([i.get('architecture') for i in threadpool_info() if i['internal_api'] == 'openblas']))")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"Haswell"}


def test_provenance_names_the_cpu():
    """What provenance.json records of the machine: the bits of some kernels depend on it despite the pins."""
    info = blas.cpu()
    assert info["model"]
    if Path("/proc/cpuinfo").exists() and blas.platform.machine() in ("x86_64", "AMD64"):
        assert info["vendor"] and isinstance(info["extensions"], list)
    if Path("/sys/devices/system/cpu/cpu0/cache/index2").exists():
        assert info["L2"].endswith("K")


def test_the_cross_cpu_audit_compares_the_first_epoch_column_by_column():
    import pandas as pd
    from cross_cpu_audit import compare

    committed = pd.DataFrame({"label": ["a", "a", "b"], "seed": [0, 0, 0], "epoch": [0, 1, 0],
                              "loss": [1.5, 1.2, 9.0], "val_acc": [0.5, 0.6, 0.1], "k_audio": [None, None, None]})
    mine = [{"epoch": 0, "loss": 1.5, "val_acc": 0.5, "k_audio": None, "extra": 3.0}]
    assert compare(mine, committed, {"label": "a", "seed": 0}, whole=False) == {}
    mine[0]["loss"] = 1.5 * (1 + 1e-6)
    worst = compare(mine, committed, {"label": "a", "seed": 0}, whole=False)
    assert list(worst) == ["loss"] and worst["loss"] == pytest.approx(1e-6)
    with pytest.raises(SystemExit, match="2 committed records against 1"):
        compare(mine, committed, {"label": "a", "seed": 0}, whole=True)
