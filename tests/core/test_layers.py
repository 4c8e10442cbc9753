"""The floor plan holds: every avlib import points down a floor (or stays in its own package), and no two
modules import each other in a circle. Read from the source (AST), so a function-level import counts too."""

import ast
from pathlib import Path

AVLIB = Path(__file__).resolve().parents[2] / "avlib"
# ../shared/DESIGN.md's floors; a package not listed here is an error (a new top-level package needs a floor)
FLOORS = {"core": 1, "reference": 1, "data": 2, "models": 2, "balance": 2, "survey": 2,
          "tasks": 3, "report": 3, "prep": 3, "stages": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(AVLIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def avlib_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("avlib")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("avlib"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from avlib.x import module`
    return found


def package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the avlib package itself


def modules() -> dict:
    return {module_name(p): p for p in sorted(AVLIB.rglob("*.py"))}


def test_avlib_root_holds_only_packages():
    loose = [p.name for p in AVLIB.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules at avlib's root (put each in its floor's package): {loose}"


def test_every_package_has_a_floor():
    packages = {p.name for p in AVLIB.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(FLOORS), f"packages with no floor in FLOORS: {sorted(packages - set(FLOORS))}"


def test_imports_point_down():
    known = modules()
    upward = []
    for name, path in known.items():
        here = package(name)
        for imported in avlib_imports(path):
            target = package(imported)
            if target is None or here is None or target == here or target not in FLOORS:
                continue
            if FLOORS[target] >= FLOORS[here]:
                upward.append(f"{name} (floor {FLOORS[here]}) imports {imported} (floor {FLOORS[target]})")
    assert not upward, "imports that do not point down a floor:\n" + "\n".join(upward)


def test_no_import_circles():
    known = modules()
    graph = {name: {m for m in avlib_imports(path) if m in known and m != name} for name, path in known.items()}
    # a package's __init__ importing its own submodules is the package exposing them, not a circle
    for name in graph:
        if known[name].name == "__init__.py":
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)
