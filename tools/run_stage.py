"""Run one pipeline stage: notebooks/<stage>.ipynb with params.yaml[<stage>], into reports/<stage>/.

    python tools/run_stage.py t1_fusion [--set epochs=2 --set smoke=true]

The notebook runs through papermill in this interpreter's own kernel (the venv's), writes into a temp
folder, gets rendered to HTML (code hidden) and stamped with provenance; only then does the temp folder
replace reports/<stage>/. A failing notebook leaves reports/<stage>/ as it was, and its executed copy
(with the traceback) is kept at reports/.failed/<stage>.ipynb for you to read.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import nbformat
import papermill
import torch
import yaml
from jupyter_client.kernelspec import KernelSpecManager
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing: avlib is importable

from avlib.report import build_index, git_commit  # noqa: E402
from avlib.train import pick_device  # noqa: E402


def kernel_for_this_python() -> str:
    """The `python3` kernel, checked to run this interpreter: the venv's, never a stray user-wide one."""
    os.environ["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's kernelspecs before ~/.local ones
    argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    # jupyter_client launches a bare "python"/"python3" as sys.executable; otherwise it must be ours
    if argv0 not in ("python", "python3") and Path(argv0).resolve() != Path(sys.executable).resolve():
        raise SystemExit(f"the Jupyter kernel 'python3' runs {argv0}, not {sys.executable}; run "
                         f"`{sys.executable} -m ipykernel install --sys-prefix --name python3` (make venv does)")
    return "python3"


def stage_params(stage: str, overrides: list[str]) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if stage not in params:
        raise SystemExit(f"params.yaml has no section {stage!r}; sections: {sorted(params)}")
    section = dict(params[stage])
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in section:
            raise SystemExit(f"--set {key}: not a param of stage {stage!r}; expected one of {sorted(section)}")
        section[key] = yaml.safe_load(value)
    return section


def render_html(executed: Path, target: Path) -> None:
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    target.write_text(body)


def swap_in(tmp: Path, final: Path) -> None:
    """Replace `final` by `tmp` with two renames: readers see the old folder or the new, never a mix."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def run(stage: str, overrides: list[str], reports: Path) -> Path:
    reports = Path(reports).resolve()
    notebook = ROOT / "notebooks" / f"{stage}.ipynb"
    if not notebook.exists():
        raise SystemExit(f"no notebook {notebook.relative_to(ROOT)} for stage {stage!r}")
    params = stage_params(stage, overrides)
    final = reports / stage
    tmp = reports / f".{stage}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    executed = tmp / "notebook.ipynb"
    start = time.perf_counter()
    try:
        try:
            papermill.execute_notebook(notebook, executed, parameters={**params, "out_dir": str(tmp)},
                                       kernel_name=kernel_for_this_python(), cwd=str(ROOT), progress_bar=False,
                                       stdout_file=sys.stdout, stderr_file=sys.stderr)  # live progress bars
        except BaseException:
            if executed.exists():  # keep the traceback where the user can read it
                failed = reports / ".failed" / f"{stage}.ipynb"
                failed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(executed, failed)
                print(f"stage {stage} failed; executed notebook kept at {failed}", file=sys.stderr)
            raise
        _finish(stage, params, tmp, executed, start)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written survives
        raise
    swap_in(tmp, final)
    return final


def _finish(stage: str, params: dict, tmp: Path, executed: Path, start: float) -> None:
    """Render the executed notebook and write provenance.json into the temp folder."""
    render_html(executed, tmp / "notebook.html")
    executed.unlink()  # the HTML is the readable record; the .ipynb with outputs would only bloat git
    provenance = {
        "stage": stage,
        "notebook": f"notebooks/{stage}.ipynb",
        "dataset": params.get("dataset", "avdigits (embedded, generated)"),
        "data_root": params.get("root", ""),
        "embedded_data": params.get("dataset", "avdigits") == "avdigits",
        "git_commit": git_commit(),
        "seeds": params.get("seeds", params.get("seed", "")) if not params.get("smoke") else "smoke: first only",
        "smoke": bool(params.get("smoke", False)),
        "device": str(pick_device(params.get("device", "auto"))),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "params": params,
    }
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one param of the stage (YAML value)")
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="reports folder (default: reports/)")
    parser.add_argument("--index", action="store_true", help="also rebuild reports/index.html")
    args = parser.parse_args()
    out = run(args.stage, args.set, Path(args.reports).resolve())  # the notebook runs with cwd = repo root
    if args.index:
        build_index(args.reports)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
