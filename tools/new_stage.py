"""Scaffold a new pipeline stage from an existing one: adding a stage is one command.

    python tools/new_stage.py t5_mystage --like t1_fusion [--title "OGM-GE on ..."]

writes, all from `--like`'s files (see docs/adding-a-stage.md):

- notebooks/NAME.ipynb        the notebook, cell ids renamed, `out_dir = "reports/NAME"`, the stage module
                              imported as `from avlib.stages import NAME as stage`, a title placeholder;
- avlib/stages/NAME.py        the stage module, `PARAMS = Schema("NAME", ...)`, `PART` = the next order in
                              the like-stage's part of the talk (the reports site places it there);
- params.yaml                 a copy of the like-stage's section, appended under a comment (a data folder it
                              writes, like `root: data/avsync`, becomes `data/NAME` so two stages never share it);
- dvc.yaml                    the stage block right after the like-stage's: cmd, deps (its non-code deps, then
                              `compress(stage_files(NAME))` of tools/stage_deps.py), params, outs
                              `reports/NAME: {cache: false, persist: true}`; the headline under top-level
                              `metrics:`; its provenance.json among the `index` stage's deps;
- tests/stages/test_NAME.py   a smoke test: the schema, params.yaml and the notebook's parameters agree.

A NAME that exists, an unknown --like stage or a bad name is refused with one line (exit 2); nothing is
written until every check passed.
"""

import argparse
import ast
import json
import keyword
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAME_RE = re.compile(r"[a-z][a-z0-9_]{1,39}")


class Refused(Exception):
    """One line telling the user why nothing was scaffolded."""


def notebook_stages(dvc: dict) -> list[str]:
    return [name for name, s in dvc["stages"].items() if "run_stage.py" in s.get("cmd", "")]


def check(name: str, like: str, dvc: dict, params: dict) -> None:
    if not NAME_RE.fullmatch(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise Refused(f"bad stage name {name!r}: 2-40 characters, lower-case letters, digits and _, "
                      "starting with a letter (it becomes a module, a notebook and a params section)")
    stages = notebook_stages(dvc)
    if like not in stages:
        raise Refused(f"unknown stage {like!r} for --like: one of {', '.join(stages)}")
    taken = [where for where, hit in [
        ("dvc.yaml", name in dvc["stages"]), ("params.yaml", name in params),
        (f"notebooks/{name}.ipynb", (ROOT / "notebooks" / f"{name}.ipynb").exists()),
        (f"avlib/stages/{name}", any((ROOT / "avlib" / "stages" / p).exists() for p in (name, f"{name}.py"))),
        (f"reports/{name}", (ROOT / "reports" / name).exists()),
        (f"tests/stages/test_{name}.py", (ROOT / "tests" / "stages" / f"test_{name}.py").exists()),
    ] if hit]
    if taken:
        raise Refused(f"stage {name!r} exists already ({', '.join(taken)}): pick another name")


# --- the files ----------------------------------------------------------------------------------------

def declared_part(source: str) -> tuple[str, int] | None:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PART" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return None


def next_part(like_source: str) -> tuple[str, int]:
    """The like-stage's part of the talk and the order after every stage already in it."""
    part = (declared_part(like_source) or ("other", 0))[0]
    orders = [p[1] for f in (ROOT / "avlib" / "stages").glob("*.py")
              if (p := declared_part(f.read_text())) and p[0] == part]
    return part, max(orders, default=0) + 1


def stage_module(name: str, like: str, source: str) -> str:
    part, order = next_part(source)
    placed = f'PART = ("{part}", {order})  # where the reports site shows it: part of the talk, order within it'
    source, n = re.subn(r"^PART = .*$", placed, source, count=1, flags=re.M)
    if not n:  # a stage without PART: declare one just before its schema
        source = re.sub(r"^PARAMS = ", placed + "\nPARAMS = ", source, count=1, flags=re.M)
    source, n = re.subn(rf'Schema\(\s*"{like}"', lambda m: m[0].replace(f'"{like}"', f'"{name}"'), source, count=1)
    if not n:
        raise Refused(f"avlib/stages/{like}.py: no `PARAMS = Schema(\"{like}\", ...)` to copy")
    source = re.sub(rf"^(\"\"\"Stage )`{like}`", rf"\1`{name}`", source, count=1)  # the docstring names it
    first, _, rest = source.partition("\n")
    if len(first) > 120:  # a longer name: wrap the docstring's first line at a space (ruff's line length)
        cut = first.rindex(" ", 0, 120)
        first = first[:cut] + "\n" + first[cut + 1:]
    return first + "\n" + rest


def notebook(name: str, like: str, nb: dict, title: str | None, moved: dict) -> dict:
    """The like-stage's notebook for `name`; `moved`: parameters given new defaults (key -> value)."""
    nb = json.loads(json.dumps(nb))
    imports = re.compile(rf"\bavlib\.stages import {like}\b|\bavlib\.stages\.{like}\b")
    titled = False
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = re.sub(rf"^{re.escape(like)}-", f"{name}-", cell.get("id", "")) or f"{name}-{i:02d}"
        if not cell["id"].startswith(f"{name}-"):
            cell["id"] = f"{name}-{i:02d}"
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            text = text.replace(f'out_dir = "reports/{like}"', f'out_dir = "reports/{name}"')
            text = imports.sub(lambda m: m[0].replace(like, name), text)
            if "parameters" in cell["metadata"].get("tags", []):
                for key, value in moved.items():
                    text = re.sub(rf"^{key} = .*$", f"{key} = {value!r}", text, flags=re.M)
        elif not titled and text.startswith("# "):
            heading = title or f"TODO: the title of {name}"
            rest = text.split("\n", 1)[1] if "\n" in text else ""
            note = f"(Scaffolded from `{like}` by tools/new_stage.py: rewrite this introduction.)"
            text = f"# {heading}\n\n{note}\n" + rest
            titled = True
        cell["source"] = text.splitlines(keepends=True)
    return nb


def params_section(name: str, like: str, text: str, section: dict, data_keys: list[str]) -> str:
    """The like-stage's section as written (comments kept), renamed, its data folders moved to data/<name>."""
    lines = text.splitlines()
    start = lines.index(f"{like}:")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
        end += 1
    body = [line for line in lines[start + 1:end]]
    while body and not body[-1].strip():
        body.pop()
    expected = dict(section)
    for key in data_keys:
        expected[key] = f"data/{name}"
        body = [re.sub(rf"^(\s+{key}:\s*)\S+", rf"\g<1>data/{name}", line) for line in body]
    block = "\n".join([f"{name}:", *body]) + "\n"
    if yaml.safe_load(block)[name] != expected:  # a section yaml reads otherwise once cut out: write it plain
        block = yaml.safe_dump({name: expected}, sort_keys=False, default_flow_style=None, width=110)
    return (f"\n# {name}: scaffolded from {like} by tools/new_stage.py (a copy of its section):\n"
            f"# edit the knobs here, in the schema (avlib/stages/{name}.py) and in the notebook's parameters cell\n"
            + block)


def data_outs(like: str, stage: dict, section: dict) -> list[tuple[str, dict]]:
    """The like-stage's `${like.key}` outputs under data/ (a generator's folder): (key, options)."""
    out = []
    for entry in stage.get("outs") or []:
        path, opts = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        m = re.fullmatch(rf"\$\{{{like}\.(\w+)\}}", path)
        if m and str(section.get(m[1], "")).startswith("data/"):
            out.append((m[1], opts or {}))
    return out


def dvc_block(name: str, like: str, stage: dict, data: list[tuple[str, dict]]) -> str:
    import stage_deps

    kept = [d.replace(f"${{{like}.", f"${{{name}.") for d in stage.get("deps", []) if not stage_deps.is_code(d)]
    deps = kept + stage_deps.compress(stage_deps.stage_files(name))
    outs = [f"      - ${{{name}.{key}}}: {{{', '.join(f'{k}: {str(v).lower()}' for k, v in opts.items())}}}"
            for key, opts in data]
    return (f"\n  {name}:  # scaffolded from {like} by tools/new_stage.py\n"
            f"    cmd: python tools/run_stage.py {name}\n"
            + stage_deps.flow_list("deps", deps)
            + f"    params: [{name}]\n    outs:\n"
            + "".join(o + "\n" for o in outs)
            + f"      - reports/{name}: {{cache: false, persist: true}}\n")


def insert_dvc(text: str, name: str, like: str, block: str) -> str:
    """dvc.yaml's text with `block` after the like-stage's block, the headline in `metrics:` after the
    like-stage's, and reports/<name>/provenance.json appended to the `index` stage's deps."""
    import stage_deps

    lines = text.splitlines(keepends=True)
    # the like-stage's first line, a comment after its name or not
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"  {like}:(\s*#.*)?\n", line))
    end = start + 1
    while end < len(lines) and not re.match(r"(  [#\w]|\S)", lines[end]):
        end += 1
    while lines[end - 1].strip() == "":
        end -= 1
    lines[end:end] = [block]
    head = f"  - reports/{like}/headline.json\n"
    lines.insert(lines.index(head) + 1, f"  - reports/{name}/headline.json\n")
    text = "".join(lines)
    index = yaml.safe_load(text)["stages"].get("index")
    if index is not None:
        m = re.search(r"^  index:\n(?:    #.*\n|    cmd:.*\n)*(    deps: \[[^\]]*\]\n)", text, flags=re.M)
        if m:
            deps = [*index["deps"], f"reports/{name}/provenance.json"]
            text = text[:m.start(1)] + stage_deps.flow_list("deps", deps) + text[m.end(1):]
    return text


def stage_test(name: str, like: str) -> str:
    return f'''"""Stage `{name}` (scaffolded from `{like}` by tools/new_stage.py): its schema, params.yaml and the
notebook's parameters cell agree. Add the stage's own checks here (a smoke run, its table, its findings)."""

import json
from pathlib import Path

import yaml

from avlib.stages import {name} as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["{name}"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {{}}
    exec("".join(cell["source"]), {{}}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/{name}"
    assert values == PARAMS
'''


# --- the command --------------------------------------------------------------------------------------

def scaffold(name: str, like: str, title: str | None = None) -> list[str]:
    """Write the new stage's files; returns the paths written or changed (relative to the root)."""
    dvc_text, params_text = (ROOT / "dvc.yaml").read_text(), (ROOT / "params.yaml").read_text()
    dvc, params = yaml.safe_load(dvc_text), yaml.safe_load(params_text)
    check(name, like, dvc, params)
    like_source = (ROOT / "avlib" / "stages" / f"{like}.py").read_text()
    like_nb = json.loads((ROOT / "notebooks" / f"{like}.ipynb").read_text())
    data = data_outs(like, dvc["stages"][like], params[like])
    moved = {key: f"data/{name}" for key, _ in data}
    written = {
        f"avlib/stages/{name}.py": stage_module(name, like, like_source),
        f"notebooks/{name}.ipynb": json.dumps(notebook(name, like, like_nb, title, moved), indent=1, ensure_ascii=False)
        + "\n",
        "params.yaml": params_text.rstrip("\n") + "\n" + params_section(
            name, like, params_text, params[like], [key for key, _ in data]),
        f"tests/stages/test_{name}.py": stage_test(name, like),
    }
    for path, text in written.items():  # the module and notebook first: the deps are read from them
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(text)
    try:
        dvc_new = insert_dvc(dvc_text, name, like, dvc_block(name, like, dvc["stages"][like], data))
        assert name in yaml.safe_load(dvc_new)["stages"]
    except Exception:
        for path in written:  # leave the checkout as it was
            if path == "params.yaml":
                (ROOT / path).write_text(params_text)
            else:
                (ROOT / path).unlink()
        raise
    (ROOT / "dvc.yaml").write_text(dvc_new)
    return [*written, "dvc.yaml"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the new stage: module, notebook, params section and reports folder")
    parser.add_argument("--like", required=True, help="the notebook stage of dvc.yaml to copy")
    parser.add_argument("--title", help="the notebook's heading (the site's title of the stage)")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    try:
        written = scaffold(args.name, args.like, args.title)
    except Refused as e:
        print(f"new_stage: {e}", file=sys.stderr)
        return 2
    print(f"new stage {args.name} (like {args.like}):")
    for path in written:
        print(f"  {path}")
    print(f"next: edit notebooks/{args.name}.ipynb and avlib/stages/{args.name}.py; "
          f"python tools/run_stage.py {args.name} --set smoke=true; when its imports change, "
          "python tools/stage_deps.py --write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
