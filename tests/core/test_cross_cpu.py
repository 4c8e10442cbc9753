"""The same bytes on every CPU: generated data and a few training steps, run here under emulated other CPUs.

Each run is a fresh process (kernel libraries pick their code when they load) with other choices forced:
  unpinned  every kernel pin of avlib/core/pins.py overridden by the machine's own choice (ATen's and oneDNN's best
            ISA, MKL's automatic path, numpy's AVX-512 loops, OpenBLAS's SkylakeX kernels), 4 torch threads,
            and MKL told the CPU is an Intel one (its AVX-512 paths on an AVX-512 AMD CPU, as on a Xeon);
  other     pins in force, MKL told the CPU is an Intel one, OpenBLAS's Sandybridge kernels, 1 torch thread.
The data must not change under either (avlib/data/synth/dsp.py makes the data path itself machine-independent); the
training steps must not change under `other` (the pins of avlib/core/pins.py; the run engine trains one-threaded).

The QA and AV-ASR families train their matrix products on numpy's OpenBLAS (avlib/core/matmul.py), not MKL's
sgemm: a few steps of a small GRU + linear model there must give the same bits with MKL told the CPU is an Intel
one, 4 torch threads and 4 OpenBLAS threads asked for (`products_intel`; the pins in force: MKL_CBWR still holds
the unary ops torch takes from MKL's VML, tanh and sigmoid among them), and must change under OpenBLAS's
Sandybridge kernels (the OpenBLAS pin is what holds them). `products_intel_auto` shows the Intel emulation reaches
MKL (its automatic path gives other bits).
"""

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avlib.core import pins as blas

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path
import avlib  # the pins, before torch and numpy load
import torch

def products(routed):
    from avlib.core.matmul import openblas_matmuls
    from avlib.core.runtime import seed_everything
    import contextlib
    seed_everything(0)
    gru, head = torch.nn.GRU(24, 32, batch_first=True), torch.nn.Linear(32, 7)
    params = [*gru.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    x, y = torch.randn(16, 10, 24), torch.randint(0, 7, (16,))
    with openblas_matmuls() if routed else contextlib.nullcontext():
        for _ in range(5):
            loss = torch.nn.functional.cross_entropy(head(gru(x)[0][:, -1]), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.use_deterministic_algorithms(False)
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in params)).hexdigest()

def main():
    out, threads, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    train = mode == "train"
    torch.set_num_threads(threads)
    if mode == "products":
        print(json.dumps({"routed": products(True), "mkl": products(False)}))
        return
    from avlib.data.embedded import avdigits, avevents
    avdigits.generate(out / "avdigits", avdigits.AVDigitsConfig(n_train=40, n_val=12, n_test=12), progress=False)
    avevents.generate(out / "avevents", avevents.AVEventsConfig(n_train=12, n_val=4, n_test=4), progress=False)
    files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file()}
    weights = None
    if train:
        from avlib.data.embedded.avdigits import AVDigits
        from avlib.core.runtime import single_threaded
        from avlib.tasks.classify.runs import RunSpec, build_run, run_data
        from avlib.tasks.classify.fit import TrainConfig, fit
        data = {s: AVDigits(out / "avdigits", s) for s in ("train", "val", "test")}
        with single_threaded():  # as the run engine trains
            net, _ = build_run(RunSpec("concat", "concat"), 10, 0, {"width": 8})
            fit(net, run_data(data, None), TrainConfig(epochs=2, batch_size=8, lr=0.05, device="cpu"), progress=False)
        torch.use_deterministic_algorithms(False)
        weights = hashlib.sha256(b"".join(v.numpy().tobytes() for v in net.state_dict().values())).hexdigest()
    print(json.dumps({"files": files, "weights": weights}))

if __name__ == "__main__":
    main()
"""


def _intel_shim(tmp: Path) -> str | None:
    """A library that tells MKL the CPU is an Intel one (so an AMD CPU runs the code a Xeon runs), or None
    where none can be built."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or sys.platform != "linux":
        return None
    src = tmp / "intel.c"
    src.write_text("int mkl_serv_intel_cpu_true(void) { return 1; }\n")
    lib = tmp / "intel.so"
    done = subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], capture_output=True)
    return str(lib) if done.returncode == 0 else None


def _run(tmp: Path, name: str, env_changes: dict, threads: int, mode: str) -> dict:
    out = tmp / name
    script = tmp / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, **env_changes, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script), str(out), str(threads), mode],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if platform.machine() not in ("x86_64", "AMD64") or not blas.has_avx2():
        pytest.skip("emulates x86-64 CPUs with AVX2: nothing to compare here")
    tmp = tmp_path_factory.mktemp("cross_cpu")
    shim = _intel_shim(tmp)
    intel = {"LD_PRELOAD": shim} if shim else {}
    unpinned = {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO",
                "NPY_DISABLE_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "SkylakeX", **intel}
    assert set(unpinned) - {"LD_PRELOAD"} == set(blas.PINS)  # every pin is overridden
    other = {"OPENBLAS_CORETYPE": "Sandybridge", **intel}
    intel_threads = {"OPENBLAS_NUM_THREADS": "4", **intel}
    return {"ordinary": _run(tmp, "ordinary", {}, 2, "train"),
            "unpinned": _run(tmp, "unpinned", unpinned, 4, "data"),
            "other": _run(tmp, "other", other, 1, "train"),
            "products": _run(tmp, "products", {}, 1, "products"),
            "products_intel": _run(tmp, "products_intel", intel_threads, 4, "products"),
            "products_intel_auto": _run(tmp, "products_intel_auto", {"MKL_CBWR": "AUTO", **intel}, 1, "products"),
            "products_sandybridge": _run(tmp, "products_sandybridge", {"OPENBLAS_CORETYPE": "Sandybridge"}, 1,
                                         "products")}


def test_generated_data_is_byte_identical_on_emulated_cpus(runs):
    ordinary = runs["ordinary"]["files"]
    assert len(ordinary) > 60  # splits, wavs, AVE files
    for name in ("unpinned", "other"):
        differ = sorted(k for k in ordinary if runs[name]["files"].get(k) != ordinary[k])
        assert not differ, f"{name}: {len(differ)} generated files differ, e.g. {differ[:5]}"


def test_training_steps_are_bit_identical_with_the_pins_on_emulated_cpus(runs):
    assert runs["other"]["weights"] == runs["ordinary"]["weights"]


def test_matrix_products_on_the_pinned_openblas_are_bit_identical_under_an_intel_mkl(runs):
    ordinary = runs["products"]
    assert runs["products_intel"]["routed"] == ordinary["routed"]
    assert runs["products_intel_auto"]["mkl"] != ordinary["mkl"]  # the emulation does reach MKL
    assert runs["products_sandybridge"]["routed"] != ordinary["routed"]  # the OpenBLAS pin is what holds them
