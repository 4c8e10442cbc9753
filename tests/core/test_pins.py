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
