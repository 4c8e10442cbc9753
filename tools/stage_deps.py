"""The avlib files a stage uses: its notebook's avlib imports, followed through avlib transitively, plus
those of the stage runner. `tests/test_pipeline.py` checks that every one of them is among the stage's
`deps` in dvc.yaml, so a new import cannot be forgotten there.

    python tools/stage_deps.py t1_fusion      # prints the list, ready to paste into dvc.yaml
    python tools/stage_deps.py --write        # rewrites every notebook stage's code deps in dvc.yaml

`--write` keeps each stage's other deps (data roots, reference files, other stages' reports) as written
and replaces the code part (avlib/**.py, notebooks/, tools/run_stage.py, pyproject.toml) by the computed list.
"""

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_file(module: str) -> Path | None:
    path = ROOT / Path(*module.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def _imports(source: str, package: str = "") -> set[str]:
    """avlib modules imported by `source` (absolute imports; `from avlib.x import y` may name a module y)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "avlib"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "avlib":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")}
    return found


def avlib_files(sources: list[str]) -> set[str]:
    """Every avlib file reachable from `sources` (including each package's __init__.py on the way)."""
    todo = set().union(*(_imports(s) for s in sources))
    seen, files = set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
            file = _module_file(".".join(parts[:i]))
            if file is not None and file not in files:
                files.add(file)
                todo |= _imports(file.read_text())
    return {str(f.relative_to(ROOT)) for f in files}


def notebook_source(stage: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{stage}.ipynb").read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def stage_files(stage: str) -> list[str]:
    """The files a notebook stage depends on: notebook, runner, every avlib file they import, the stage's
    reference files, and pyproject.toml (its pinned versions decide the numbers)."""
    sources = [notebook_source(stage), (ROOT / "tools" / "run_stage.py").read_text()]
    return sorted({f"notebooks/{stage}.ipynb", "tools/run_stage.py", "pyproject.toml"} | avlib_files(sources))


def _is_code(dep: str) -> bool:
    return (dep.startswith("avlib/") and dep.endswith(".py")) or dep.startswith("notebooks/") or dep in (
        "tools/run_stage.py", "pyproject.toml")


def rewrite_dvc_yaml(text: str) -> str:
    """dvc.yaml's text with each notebook stage's code deps replaced by `stage_files` (comments, order of the
    other deps and everything else untouched)."""
    lines, out, stage, i = text.splitlines(keepends=True), [], None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    cmd: python tools/run_stage.py "):
            stage = line.split()[-1]
        out.append(line)
        i += 1
        if line.rstrip() == "    deps:" and stage is not None:
            kept = []
            while i < len(lines) and lines[i].startswith(("      - ", "      #")):
                entry = lines[i].strip().removeprefix("- ")
                if not (lines[i].startswith("      - ") and _is_code(entry)):
                    kept.append(lines[i])
                i += 1
            out += kept + [f"      - {f}\n" for f in stage_files(stage)]
            stage = None
    return "".join(out)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        dvc = ROOT / "dvc.yaml"
        dvc.write_text(rewrite_dvc_yaml(dvc.read_text()))
        sys.exit(0)
    for name in sys.argv[1:]:
        print(f"{name}:")
        for f in stage_files(name):
            print(f"      - {f}")
