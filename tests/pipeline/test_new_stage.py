"""tools/new_stage.py on a temporary copy of the checkout (the real files are never touched): a scaffolded
stage passes the pipeline's own checks (deps complete and none unused, params.yaml = schema = notebook,
one report folder, its headline in `metrics:`, `dvc stage list` accepts it) and its own smoke test; a
taken name, an unknown --like stage and a bad name are refused with one line and exit 2, writing nothing."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_CHECK = "def test_every_file_a_stage_imports_is_among_its_deps("  # the module holding the checks
# a check about the committed stages, not about a new one (a copy of fig_underopt trains with OGM-GE too)
NOT_ABOUT_A_NEW_STAGE = "not test_an_ogm_ge_edit_reaches_only_the_stages_that_train_with_it"


def _pipeline_tests() -> list[Path]:
    """The test module(s) of the pipeline checks, wherever tests/ keeps them."""
    found = [p for p in (ROOT / "tests").rglob("test_*.py")
             if PIPELINE_CHECK in p.read_text() and p != Path(__file__).resolve()]
    assert found, f"no test module under tests/ defines {PIPELINE_CHECK[4:-1]}"
    return found


def copy_checkout(copy: Path) -> Path:
    """What new_stage and the pipeline checks read: avlib/, notebooks/, tools/, params.yaml, dvc.yaml,
    pyproject.toml, the DVC config, and a tests/ skeleton (conftest files, fixtures and helpers, no test module
    but the pipeline checks)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("avlib", "notebooks", "tools", ".dvc/plots"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "test_*.py"))
    for file in ["params.yaml", "dvc.yaml", "pyproject.toml", ".dvcignore", ".dvc/config",
                 *(str(t.relative_to(ROOT)) for t in _pipeline_tests())]:
        (copy / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / file, copy / file)
    subprocess.run(["git", "init", "-q", str(copy)], check=True)  # dvc wants an SCM root
    return copy


@pytest.fixture
def checkout(tmp_path) -> Path:
    return copy_checkout(tmp_path / "avlab")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One copy for the refusals: they write nothing (checked)."""
    return copy_checkout(tmp_path_factory.mktemp("pristine") / "avlab")


def run(copy: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(list(args), cwd=copy, capture_output=True, text=True, env=env)


def new_stage(copy: Path, *args: str) -> subprocess.CompletedProcess:
    return run(copy, sys.executable, "tools/new_stage.py", *args)


def snapshot(copy: Path) -> dict:
    return {str(p.relative_to(copy)): p.read_bytes() for p in sorted(copy.rglob("*"))
            if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_a_scaffolded_stage_passes_the_pipeline_checks(checkout):
    before = snapshot(checkout)
    made = new_stage(checkout, "data_avsync_b", "--like", "data_avsync")  # a generator: its data folder moves
    assert made.returncode == 0, made.stderr
    made = new_stage(checkout, "fig_underopt_b", "--like", "fig_underopt", "--title", "Fig. 1, again")
    assert made.returncode == 0, made.stderr

    dvc = yaml.safe_load((checkout / "dvc.yaml").read_text())
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    old = yaml.safe_load(before["params.yaml"])
    assert params["fig_underopt_b"] == old["fig_underopt"]
    assert params["data_avsync_b"] == {**old["data_avsync"], "root": "data/data_avsync_b"}
    stage = dvc["stages"]["fig_underopt_b"]
    assert stage["cmd"] == "python tools/run_stage.py fig_underopt_b" and stage["params"] == ["fig_underopt_b"]
    assert stage["deps"][:2] == ["${fig_underopt_b.root}", "${fig_underopt_b.ogm_grid}"]
    assert stage["outs"] == [{"reports/fig_underopt_b": {"cache": False, "persist": True}}]
    assert dvc["stages"]["data_avsync_b"]["outs"][0] == {"${data_avsync_b.root}": {"persist": True}}
    names = list(dvc["stages"])  # right after the stage it copies
    assert names.index("fig_underopt_b") == names.index("fig_underopt") + 1
    assert "reports/fig_underopt_b/headline.json" in dvc["metrics"]
    assert "reports/data_avsync_b/provenance.json" in dvc["stages"]["index"]["deps"]

    module = (checkout / "avlib/stages/fig_underopt_b.py").read_text()
    part = next(ast.literal_eval(n.value) for n in ast.parse(module).body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PART")
    assert part == ("ogmge", 12)  # OGM-GE holds orders 1-11
    assert '"fig_underopt_b"' in module
    nb = json.loads((checkout / "notebooks/fig_underopt_b.ipynb").read_text())
    assert all(c["id"].startswith("fig_underopt_b-") for c in nb["cells"])
    assert nb["cells"][0]["source"][0] == "# Fig. 1, again\n"
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "from avlib.stages import fig_underopt_b as stage" in code
    assert "avlib.stages import fig_underopt " not in code

    # only additions: every file as it was, the old stages and params as they were
    after = snapshot(checkout)
    assert all(after[path] == data for path, data in before.items() if path not in ("params.yaml", "dvc.yaml"))
    assert after["params.yaml"].startswith(before["params.yaml"])
    was = yaml.safe_load(before["dvc.yaml"])
    index = dvc["stages"].pop("index")
    assert index["deps"] == was["stages"].pop("index")["deps"] + [
        "reports/data_avsync_b/provenance.json", "reports/fig_underopt_b/provenance.json"]
    assert {k: v for k, v in dvc["stages"].items() if k in was["stages"]} == was["stages"]
    assert [m for m in dvc["metrics"] if m in was["metrics"]] == was["metrics"] and dvc["plots"] == was["plots"]

    lint = run(checkout, str(Path(sys.executable).with_name("ruff")), "check", "--no-cache", "avlib/stages",
               "tests/stages")
    assert lint.returncode == 0, lint.stdout
    checks = [str(p.relative_to(ROOT)) for p in _pipeline_tests()]
    tests = run(checkout, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", NOT_ABOUT_A_NEW_STAGE,
                *checks,
                "tests/stages/test_data_avsync_b.py", "tests/stages/test_fig_underopt_b.py")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]


@pytest.mark.parametrize("args, says", [
    (["fig_underopt", "--like", "t1_fusion"], "exists already (dvc.yaml, params.yaml, notebooks/fig_underopt.ipynb"),
    (["shared", "--like", "t1_fusion"], "exists already (avlib/stages/shared)"),
    (["t9_new", "--like", "index"], "unknown stage 'index' for --like"),
    (["t9_new", "--like", "no_such_stage"], "unknown stage 'no_such_stage' for --like"),
    (["T9-new", "--like", "t1_fusion"], "bad stage name 'T9-new'"),
    (["9lives", "--like", "t1_fusion"], "bad stage name '9lives'"),
    (["class", "--like", "t1_fusion"], "bad stage name 'class'"),
])
def test_refuses_in_one_line_and_writes_nothing(pristine, args, says):
    before = snapshot(pristine)
    result = new_stage(pristine, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("new_stage: ") and says in result.stderr
    assert snapshot(pristine) == before
