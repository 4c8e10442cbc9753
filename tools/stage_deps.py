"""The code a stage depends on: its notebook's avlib imports followed through avlib, the loaders of the
datasets it declares (`DATASETS` in its stage module, looked up in `avlib.data.registry`), the stage
runner's imports, and pyproject.toml (its pinned versions decide the numbers). A package whose every file
is used is named as one folder, so a stage's `deps` in dvc.yaml stay short. `tests/pipeline/` checks that
dvc.yaml lists exactly these, so a new import cannot be forgotten there and an unused one re-runs nothing.

    python tools/stage_deps.py t1_fusion          # prints the list, ready to paste into dvc.yaml
    python tools/stage_deps.py --write            # rewrites every notebook stage's code deps in dvc.yaml
    python tools/stage_deps.py --touching avlib/balance/ogm.py   # the stages an edit of that file re-runs

`--write` keeps each stage's other deps (data roots, reference files) as written and replaces the code part
(avlib/**, notebooks/, tools/run_stage.py, pyproject.toml) by the computed list.
"""

import ast
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "tools/run_stage.py"


def _module_file(module: str) -> Path | None:
    path = ROOT / Path(*module.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def _imports(source: str) -> set[str]:
    """avlib modules imported by `source` (absolute imports; `from avlib.x import y` may name a module y)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "avlib"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "avlib":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")}
    return found


def _only_docstring(path: Path) -> bool:
    """A package's __init__.py that holds nothing but its docstring: it changes no number, so it is no dep."""
    body = ast.parse(path.read_text()).body
    return len(body) <= 1 and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _closure(modules: set[str]) -> set[str]:
    todo, seen, files = set(modules), set(), set()
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
    return {str(f.relative_to(ROOT)) for f in files if not (f.name == "__init__.py" and _only_docstring(f))}


def avlib_files(sources: list[str]) -> set[str]:
    """Every avlib file reachable from `sources` (including each package's __init__.py on the way)."""
    return _closure(set().union(*(_imports(s) for s in sources)))


def notebook_source(stage: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{stage}.ipynb").read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def declared_datasets(stage: str) -> tuple:
    """The dataset names the stage may read (`DATASETS` of its stage module; none for a stage without)."""
    return tuple(getattr(importlib.import_module(f"avlib.stages.{stage}"), "DATASETS", ()))


def stage_files(stage: str) -> list[str]:
    """Every file a notebook stage depends on, one by one."""
    from avlib.data.registry import loader_module

    loaders = {loader_module(name) for name in declared_datasets(stage)}
    files = avlib_files([notebook_source(stage), (ROOT / RUNNER).read_text()]) | _closure(loaders)
    return sorted({f"notebooks/{stage}.ipynb", RUNNER, "pyproject.toml"} | files)


def _folder_files(folder: Path) -> set[str] | None:
    """The .py files under `folder`, or None when it holds anything else (data: listed one by one)."""
    files = set()
    for path in folder.rglob("*"):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        if path.suffix != ".py":
            return None
        if not (path.name == "__init__.py" and _only_docstring(path)):
            files.add(str(path.relative_to(ROOT)))
    return files


def compress(files: list[str]) -> list[str]:
    """`files` with every avlib package whose .py files are all in `files` named as its folder."""
    wanted, out = set(files), []

    def visit(folder: Path):
        rel = str(folder.relative_to(ROOT))
        inside = _folder_files(folder)
        if inside and inside <= wanted:
            out.append(rel)
            return
        for path in sorted(folder.iterdir()):
            if path.is_dir() and (path / "__init__.py").exists():
                visit(path)
            elif str(path.relative_to(ROOT)) in wanted:
                out.append(str(path.relative_to(ROOT)))

    visit(ROOT / "avlib")
    return sorted(out) + sorted(f for f in wanted if not f.startswith("avlib/"))


def expand(deps: list[str]) -> set[str]:
    """The files that `deps` (files and folders) name."""
    out = set()
    for dep in deps:
        path = ROOT / dep
        if path.is_dir():
            out |= _folder_files(path) or set()
        else:
            out.add(dep)
    return out


def is_code(dep: str) -> bool:
    return (dep.startswith("avlib/") and not dep.startswith("avlib/reference/")) or dep.startswith(
        "notebooks/") or dep in (RUNNER, "pyproject.toml") or dep == "avlib/reference/__init__.py"


def flow_list(key: str, items: list[str], indent: int = 4, width: int = 118) -> str:
    """`key: [a, b, ...]` wrapped at `width`, continuation lines aligned under the first item."""
    quoted = [f'"{i}"' if any(c in i for c in "{}[],#") else i for i in items]
    lines, line = [], " " * indent + f"{key}: ["
    pad = " " * len(line)
    for i, item in enumerate(quoted):
        piece = item + (", " if i < len(quoted) - 1 else "]")
        if len(line) + len(piece.rstrip()) > width and line.strip() not in (f"{key}: [",):
            lines.append(line.rstrip())
            line = pad
        line += piece
    return "\n".join([*lines, line.rstrip()]) + "\n"


def rewrite_dvc_yaml(text: str) -> str:
    """dvc.yaml's text with each notebook stage's code deps replaced by `compress(stage_files(stage))`
    (the other deps first, as written; comments and everything else untouched)."""
    import yaml

    stages = yaml.safe_load(text)["stages"]
    lines, out, stage, i = text.splitlines(keepends=True), [], None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    cmd: python tools/run_stage.py "):
            stage = line.split()[-1]
        if line.startswith("    deps: [") and stage is not None:
            while not lines[i].rstrip().endswith("]"):
                i += 1
            kept = [d for d in stages[stage]["deps"] if not is_code(d)]
            out.append(flow_list("deps", kept + compress(stage_files(stage))))
            i += 1
            stage = None
            continue
        out.append(line)
        i += 1
    return "".join(out)


def stages_touching(path: str) -> list[str]:
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return [name for name, s in stages.items() if "run_stage.py" in s["cmd"] and path in stage_files(name)]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["--write"]:
        dvc = ROOT / "dvc.yaml"
        dvc.write_text(rewrite_dvc_yaml(dvc.read_text()))
        sys.exit(0)
    if sys.argv[1:2] == ["--touching"]:
        for path in sys.argv[2:]:
            hit = stages_touching(path)
            print(f"{path}: {len(hit)} stages: {' '.join(hit)}")
        sys.exit(0)
    for name in sys.argv[1:]:
        print(f"{name}:")
        for f in compress(stage_files(name)):
            print(f"      - {f}")
