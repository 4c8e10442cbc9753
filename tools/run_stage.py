"""Run one pipeline stage: notebooks/<stage>.ipynb with params.yaml[<stage>], into reports/<stage>/.

    python tools/run_stage.py t1_fusion [--set epochs=2 --set smoke=true]

1. The stage's params section is checked against its schema (`avlib/stages/<stage>.py: PARAMS`) before
   anything runs: a wrong type, a value out of range, an unknown name or key stops here, with one line
   naming `<stage>.<key>` and what was expected (exit 2).
2. papermill runs the notebook in this interpreter's own kernel (the venv's), writing into a temp folder;
   the notebook is rendered to HTML (code hidden) and stamped with provenance.json (commit, versions,
   what actually ran); only then does the temp folder replace reports/<stage>/.
3. A failing notebook leaves reports/<stage>/ as it was; its executed copy (with the full traceback) is
   kept at reports/.failed/<stage>.ipynb and the error itself is the last thing printed (exit 1).
   SIGTERM (a scheduler, a timeout) and SIGHUP (a closed terminal, a dropped SSH session) clean up the same way.
4. Resume: the runs the notebook trains through avlib.tasks.classify.engine are checkpointed one by one under
   reports/.<stage>.resume/ (AVLAB_RESUME_DIR); a stage killed mid-run and started again redoes only the
   runs that had not finished, and ends bit-identical. The folder is removed when the stage succeeds.
5. headline.json: the handful of numbers `dvc exp show` compares (the stage's metrics in dvc.yaml),
   picked from metrics.json by the stage's `HEADLINE` (see `headline`). timing.json: wall and CPU time,
   apart from provenance.json so that a re-run with the same results leaves provenance.json unchanged.
6. A full disk or a folder it may not write stops with one line naming the path (exit 1).
7. A stage is a process tree that lives and dies as one: the runner exits (as on SIGTERM) when whoever
   started it dies (dvc, or the shell dvc ran it through; Linux: prctl PR_SET_PDEATHSIG, plus a watchdog
   thread), the kernel exits when the runner dies (ipykernel polls JPY_PARENT_PID), and the kernel's pool
   workers die with the kernel (avlib.core.pool). Started under `nohup` (SIGHUP ignored), a run is meant to
   outlive its terminal: it does not watch its parent then.
8. One run of a stage at a time: an exclusive flock on reports/.<stage>.lock; a second run stops at once
   with "stage X is already running (pid N)" (exit 1). The kernel releases the lock whenever the runner ends.
9. notebook.html is byte-stable: progress bars, cell ids and execution timestamps are stripped before it is
   rendered (basic template, a few lines of CSS), so a re-run with the same results leaves dvc.lock as it was.
"""

import argparse
import ctypes
import errno
import fcntl
import fnmatch
import html
import importlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing: avlib is importable

from avlib.core.pins import pin_kernels  # noqa: E402

pin_kernels()  # in the environment the kernel inherits, before anything loads numpy (avlib/core/pins.py)
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files: headless, for the kernel and its workers

import nbformat  # noqa: E402
import papermill  # noqa: E402
import yaml  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

from avlib.core.params import ParamError  # noqa: E402
from avlib.data.registry import EMBEDDED_DATASETS  # noqa: E402
from avlib.report import git_commit, versions  # noqa: E402


class StageError(RuntimeError):
    """The notebook failed; the message is the error it raised (the full trace is in reports/.failed/)."""


class StageBusy(StageError):
    """Another run of the same stage holds reports/.<stage>.lock."""


# The numbers a researcher compares across experiments, as paths into metrics.json ("/" between keys, "*"
# matching any one key): `HEADLINE = [...]` in avlib/stages/<stage>.py; the stage declares
# reports/<stage>/headline.json as its metrics in dvc.yaml, metrics.json as a plain out.


def headline(metrics: dict, paths: list[str]) -> dict:
    """The numbers of metrics.json that `paths` name, flat: {"concat+ogm_ge/delta_acc": -0.9, ...}, in the
    order of `paths` (a path that matches nothing, e.g. a row a smoke run skips, is left out)."""
    out = {}

    def walk(node, parts, prefix):
        if not parts:
            if isinstance(node, int | float) and not isinstance(node, bool):
                out.setdefault("/".join(prefix), node)
            return
        if isinstance(node, dict):
            for key in sorted(node) if any(c in parts[0] for c in "*?[") else [parts[0]]:
                if key in node and fnmatch.fnmatchcase(key, parts[0]):
                    walk(node[key], parts[1:], [*prefix, key])

    for path in paths:
        walk(metrics, path.split("/"), [])
    return out


def headline_paths(stage: str) -> list[str] | None:
    module = importlib.import_module(f"avlib.stages.{stage}")
    return getattr(module, "HEADLINE", None)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the kernel and its worker processes)."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


# a full disk, a read-only mount, a folder it may not write, a file where a folder goes
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST}


def resume_dir(reports: Path, stage: str) -> Path:
    return reports / f".{stage}.resume"


def kernel_for_this_python() -> str:
    """The `python3` kernel, checked to run this interpreter: the venv's, never a stray user-wide one."""
    os.environ["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's kernelspecs before ~/.local ones
    argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    # jupyter_client launches a bare "python"/"python3" as sys.executable; otherwise it must be ours
    if argv0 not in ("python", "python3") and Path(argv0).resolve() != Path(sys.executable).resolve():
        raise SystemExit(f"the Jupyter kernel 'python3' runs {argv0}, not {sys.executable}; run "
                         f"`{sys.executable} -m ipykernel install --sys-prefix --name python3` (make venv does)")
    return "python3"


def _yaml(text: str, where: str):
    """yaml.safe_load, its error one line: `where:line:column: what` (PyYAML names no file)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        problem = " ".join(filter(None, [getattr(err, "context", None), getattr(err, "problem", None)])) or str(err)
        raise ParamError(f"{at}: not valid YAML ({problem}); expected a YAML mapping") from None


def read_params(path: Path | None = None) -> dict:
    """params.yaml as a dict of stage sections; a missing, unreadable, empty or malformed file is one line."""
    path = path or ROOT / "params.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamError(f"{path}: no such file; expected the params file, one section per stage") from None
    except UnicodeDecodeError as err:
        raise ParamError(f"{path}: not UTF-8 text (byte {err.start}); expected a UTF-8 YAML file") from None
    params = _yaml(text, str(path))
    if not isinstance(params, dict):
        what = "is empty" if params is None else f"holds a {type(params).__name__}"
        raise ParamError(f"{path} {what}; expected a mapping of stage sections (stage: {{param: value}})")
    return params


def stage_params(stage: str, overrides: list[str]) -> dict:
    """params.yaml[stage] with `--set key=value` overrides, checked against the stage's schema."""
    params = read_params()
    if stage not in params:
        raise ParamError(f"params.yaml has no section {stage!r}; sections: {sorted(params)}")
    schema = importlib.import_module(f"avlib.stages.{stage}").PARAMS
    if not isinstance(params[stage], dict) or not params[stage]:
        what = "is empty" if not params[stage] else f"is {params[stage]!r}, not a mapping"
        raise ParamError(f"params.yaml: section {stage!r} {what}; expected a mapping of its params "
                         f"{sorted(schema.fields)}")
    section = dict(params[stage])
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ParamError(f"--set {item!r}: expected KEY=VALUE")
        if key not in section:
            raise ParamError(f"{stage}.{key}: not a param of stage {stage!r}; expected one of {sorted(section)}")
        section[key] = _yaml(value, f"--set {key}")
    schema.check(section)
    return section


# A terminal progress line (tqdm's "  40%|####      | 4/10 [00:03<00:05,  1.2it/s]"): timings, never results.
PROGRESS_LINE = re.compile(r"\d+%\|.*\||\[\d+:\d+(:\d+)?<|\d+(\.\d+)?\s?(it/s|s/it)\b")
WIDGET = "application/vnd.jupyter.widget-view+json"


def _without_progress(text: str) -> str:
    """What a terminal shows of `text` (each line after its last carriage return), progress lines dropped."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(line for line in lines if not PROGRESS_LINE.search(line))


def stable_notebook(nb, paths: dict | None = None):
    """The executed notebook without what changes from run to run when the results do not: progress bars
    (text and widgets), papermill's timestamps and durations, the injected cell's random id, and where the
    checkout lives: each `paths` key in a text output becomes its value (the run's temp folder the final
    one, the checkout's absolute path nothing), so a printed path reads `reports/t1_fusion/x.png`."""
    paths = paths or {}

    def relative(text: str) -> str:
        for old, new in paths.items():
            text = text.replace(old, new)
        return text

    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                out.text = relative(_without_progress(out.text))
                if not out.text.strip():
                    continue
            elif "text/plain" in out.get("data", {}):
                out.data["text/plain"] = relative(out.data["text/plain"])
            elif WIDGET in out.get("data", {}):
                continue
            outputs.append(out)
        if "outputs" in cell:
            cell.outputs = outputs
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    return nb


# A few lines instead of the lab template's ~280 KB of inline CSS per stage.
NOTEBOOK_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 3em; }
h1, h2, h3 { line-height: 1.25; } a.anchor-link { display: none; }
pre { background: #f6f6f6; padding: .6em .8em; overflow-x: auto; font-size: 13px; line-height: 1.35; }
.output_stderr pre, pre.output_stderr { background: #fff4f4; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: right; }
th { background: #f0f0f0; } tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; height: auto; } .output_area, .output_subarea { margin: .4em 0; }
.prompt, .input { display: none; }
"""


def render_html(executed: Path, target: Path, title: str = "", paths: dict | None = None) -> None:
    """The executed notebook as one small, self-contained HTML page, the same bytes for the same results
    (`paths`: see `stable_notebook`)."""
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(stable_notebook(nbformat.read(executed, as_version=4), paths))
    title = html.escape(title or executed.stem)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n"
            f"<style>{NOTEBOOK_CSS}</style>\n</head>\n<body>\n<main>\n{body.strip()}\n</main>\n</body>\n</html>\n")
    target.write_text(page, encoding="utf-8")


def swap_in(tmp: Path, final: Path) -> None:
    """Replace `final` by `tmp` with two renames: readers see the old folder or the new, never a mix."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


class Stopped(SystemExit):
    """A signal (SIGTERM, SIGHUP, the parent's death) ended the run; exit 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.name = signal.Signals(signum).name


def _terminate(signum, frame):
    raise Stopped(signum)  # unwinds through the cleanup below, like Ctrl-C does


def lock_stage(reports: Path, stage: str) -> int:
    """An exclusive flock on reports/.<stage>.lock, holding this pid; the fd to close when done. The kernel
    drops the lock when this process ends, however it ends, so a killed run never leaves a stale lock."""
    reports.mkdir(parents=True, exist_ok=True)
    fd = os.open(reports / f".{stage}.lock", os.O_RDWR | os.O_CREAT, 0o644)  # not inherited (PEP 446)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StageBusy(f"stage {stage} is already running (pid {holder}); wait for it to end, or stop it "
                        f"with `kill {holder}`") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


PR_SET_PDEATHSIG = 1  # linux/prctl.h
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "fish"}


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) is dead for us
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def supervise() -> None:
    """End this run (SIGTERM: the usual cleanup) when whoever started it dies: the parent, and the parent's
    parent when the parent is the `sh -c` that dvc runs the command through. SIGHUP ends it the same way.
    Not under nohup (SIGHUP ignored at start): such a run is meant to outlive its terminal and its shell."""
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        return
    parent = os.getppid()
    watched = [parent]
    argv = _argv(parent)
    if len(argv) > 1 and Path(argv[0]).name in SHELLS and "-c" in argv[1:3]:
        try:
            grandparent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if grandparent > 1:
                watched.append(grandparent)
        except (OSError, IndexError, ValueError):
            pass
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent and all(map(_alive, watched)):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="supervisor-watch").start()


def run(stage: str, overrides: list[str], reports: Path) -> Path:
    reports = Path(reports).resolve()
    notebook = ROOT / "notebooks" / f"{stage}.ipynb"
    if not notebook.exists():
        raise ParamError(f"no notebook {notebook.relative_to(ROOT)} for stage {stage!r}")
    params = stage_params(stage, overrides)
    final, tmp = reports / stage, reports / f".{stage}.tmp"
    failed = reports / ".failed" / f"{stage}.ipynb"
    lock = lock_stage(reports, stage)  # before touching tmp: it may be another live run's
    try:
        return _run_locked(stage, params, notebook, reports, final, tmp, failed)
    finally:
        os.close(lock)


def _run_locked(stage, params, notebook, reports, final, tmp, failed) -> Path:
    executed = tmp / "notebook.ipynb"
    start, start_cpu = time.perf_counter(), cpu_seconds()
    commit = git_commit(ROOT)  # at the start: an edit made while a long stage runs is not what it ran
    # the handlers go in before the temp folder exists: a SIGTERM that came between the two killed the run
    # with the folder left behind (tests/pipeline/test_notebooks.py sends one as soon as it appears)
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(sig) is not signal.SIG_IGN}  # nohup's ignored SIGHUP stays ignored
    previous_resume = os.environ.get("AVLAB_RESUME_DIR")
    os.environ["AVLAB_RESUME_DIR"] = str(resume_dir(reports, stage))  # the kernel inherits it: avlib.core.pool
    try:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed with SIGKILL
        tmp.mkdir(parents=True)
        try:
            papermill.execute_notebook(notebook, executed, parameters={**params, "out_dir": str(tmp)},
                                       kernel_name=kernel_for_this_python(), cwd=str(ROOT), progress_bar=False,
                                       stdout_file=sys.stdout, stderr_file=sys.stderr,  # live progress bars
                                       shutdown_kernel="immediate")  # its cells are done (or it is stopped)
        except papermill.PapermillExecutionError as err:
            _keep_failed(executed, failed)
            raise StageError(f"stage {stage} failed: {err.ename}: {err.evalue}\n"
                             f"(full trace: {failed.relative_to(reports.parent)})") from None
        except BaseException:
            _keep_failed(executed, failed)
            raise
        _finish(stage, params, tmp, executed, start, start_cpu, commit)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written survives
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous_resume is None:
            os.environ.pop("AVLAB_RESUME_DIR", None)
        else:
            os.environ["AVLAB_RESUME_DIR"] = previous_resume
    swap_in(tmp, final)
    failed.unlink(missing_ok=True)  # a stale failure must not outlive a successful run
    shutil.rmtree(resume_dir(reports, stage), ignore_errors=True)  # the checkpoints served their purpose
    return final


def _keep_failed(executed: Path, failed: Path) -> None:
    if executed.exists():  # keep the traceback where the user can read it
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(executed, failed)


def _finish(stage: str, params: dict, tmp: Path, executed: Path, start: float, start_cpu: float,
            commit: str) -> None:
    """Render the executed notebook; write provenance.json, timing.json and headline.json into the temp folder."""
    final = tmp.resolve().parent / stage
    shown = final.relative_to(ROOT) if final.is_relative_to(ROOT) else final
    render_html(executed, tmp / "notebook.html", title=f"{stage}: the executed notebook",
                paths={str(tmp.resolve()): str(shown), f"{ROOT}/": ""})
    executed.unlink()  # the HTML is the readable record; the .ipynb with outputs would only bloat git
    ran_file = tmp / "run_params.json"
    ran = json.loads(ran_file.read_text()) if ran_file.exists() else params
    ran_file.unlink(missing_ok=True)
    ran.pop("out_dir", None)
    # a training stage names its dataset; a data stage is its generator (data_<name>); others read none
    dataset = params.get("dataset") or (stage.removeprefix("data_") if stage.startswith("data_") else None)
    provenance = {
        "stage": stage,
        "notebook": f"notebooks/{stage}.ipynb",
        "dataset": dataset,
        "data_root": params.get("root", ""),
        "embedded_data": (dataset in EMBEDDED_DATASETS) if dataset else None,  # None: the stage reads no dataset
        "git_commit": commit,
        "smoke": bool(params.get("smoke", False)),
        "device": ran.get("device", "cpu"),
        "python": platform.python_version(),
        "versions": versions(),
        "params": params,  # as params.yaml (and --set) gave them
        "ran_with": ran,  # what the notebook actually used (smoke shrinks some)
    }
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    # volatile: not in provenance.json (which then changes only with what ran) and not declared in dvc.yaml
    timing = {"wall_time_s": round(time.perf_counter() - start, 1),
              "cpu_time_s": round(cpu_seconds() - start_cpu, 1)}  # the kernel's and its workers' included
    (tmp / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    paths = headline_paths(stage)
    if paths and (tmp / "metrics.json").exists():
        # under the stage's name: `dvc exp show` then names the columns <stage>.<path>, like the params
        numbers = {stage: headline(json.loads((tmp / "metrics.json").read_text()), paths)}
        (tmp / "headline.json").write_text(json.dumps(numbers, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one param of the stage (YAML value)")
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="reports folder (default: reports/)")
    parser.add_argument("--index", action="store_true", help="also rebuild reports/index.html")
    args = parser.parse_args()
    try:
        out = run(args.stage, args.set, Path(args.reports).resolve())  # the notebook runs with cwd = repo root
    except ParamError as err:
        print(f"\nbad parameter: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except StageError as err:
        print(f"\n{err}", file=sys.stderr)
        raise SystemExit(1) from None
    except Stopped as stop:
        print(f"\nstage {args.stage} stopped by {stop.name}; reports/{args.stage}/ left as it was (the partly "
              f"executed notebook: {Path(args.reports) / '.failed' / (args.stage + '.ipynb')})", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stop.code)  # the kernel is gone; skip asyncio's "exception never retrieved" noise at exit
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            raise
        print(f"\ncannot write {err.filename or args.reports}: {err.strerror or err}", file=sys.stderr)
        raise SystemExit(1) from None
    if args.index:  # in its own process: the site's code is not a dep of any stage (tools/stage_deps.py)
        subprocess.run([sys.executable, str(ROOT / "tools" / "build_index.py"), "--reports", args.reports], check=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    supervise()
    main()
