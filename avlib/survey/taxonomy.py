"""The survey's taxonomy (Wei et al., arXiv 2208.09579, Sec. 3-5): three groups -> tasks -> sub-tasks.

Kept as data in `avlib/reference/survey_taxonomy.yaml` and checked against `SCHEMA` before use: a typo'd
key, a missing name, a repeated sibling or a wrong type stops with a `TaxonomyError` naming the file, the
node (`groups[1].tasks[0]`) and what was expected. Each node names the heading of the companion paper list
it corresponds to (`heading`, null where the list does not split the node), so that `count_papers` can
count the listed papers per node from the parsed list (`avlib.survey.papers`).
"""

from importlib import resources

import pandas as pd
import yaml

from avlib.survey.papers import HEADING_COLUMNS

FILE = "survey_taxonomy.yaml"  # in avlib/reference
LEVELS = ("group", "task", "subtask")
# what each level's node may hold: {key: (type, required)}; `children` names the key of the next level
SCHEMA = {
    "group": {"keys": {"name": (str, True), "heading": (str, True), "section": (str, True), "tasks": (list, True)},
              "children": "tasks"},
    "task": {"keys": {"name": (str, True), "heading": ((str, type(None)), True), "subtasks": (list, False)},
             "children": "subtasks"},
    "subtask": {"keys": {"name": (str, True), "heading": ((str, type(None)), True)}, "children": None},
}
TOP = {"source": (str, True), "groups": (list, True)}


class TaxonomyError(ValueError):
    """The taxonomy file does not follow SCHEMA."""


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "a string", list: "a list", type(None): "null"}[k] for k in kinds)


def _check_keys(node, spec: dict, where: str, source: str) -> None:
    if not isinstance(node, dict):
        raise TaxonomyError(f"{source}: {where}: expected a mapping with keys {sorted(spec)}, got {node!r}")
    unknown = sorted(set(node) - set(spec))
    if unknown:
        raise TaxonomyError(f"{source}: {where}: unknown key {unknown[0]!r}; expected keys among {sorted(spec)}")
    for key, (kind, required) in spec.items():
        if key not in node:
            if required:
                raise TaxonomyError(f"{source}: {where}: missing key {key!r}")
            continue
        if not isinstance(node[key], kind) or (isinstance(node[key], str | list) and not node[key]):
            raise TaxonomyError(f"{source}: {where}.{key}: expected {_type_name(kind)} (non-empty), "
                                f"got {node[key]!r}")


def _check_level(nodes: list, level: int, where: str, source: str) -> None:
    spec = SCHEMA[LEVELS[level]]
    seen = {"name": set(), "heading": set()}
    for i, node in enumerate(nodes):
        here = f"{where}[{i}]"
        _check_keys(node, spec["keys"], here, source)
        for key in seen:
            value = node[key]
            if value is not None and value in seen[key]:
                raise TaxonomyError(f"{source}: {here}: {key} {value!r} repeats a sibling's")
            seen[key].add(value)
        child = spec["children"]
        if child and child in node:
            if node["heading"] is None and any(c["heading"] for c in node[child] if isinstance(c, dict)):
                raise TaxonomyError(f"{source}: {here}: heading is null but its {child} have headings")
            _check_level(node[child], level + 1, f"{here}.{child}", source)


def validate(doc, source: str = FILE) -> dict:
    """`doc` if it follows SCHEMA (three levels, known keys, right types, distinct siblings); else TaxonomyError."""
    _check_keys(doc, TOP, "top level", source)
    _check_level(doc["groups"], 0, "groups", source)
    return doc


def load_taxonomy(text: str | None = None, source: str = FILE) -> dict:
    """The validated taxonomy: `avlib/reference/survey_taxonomy.yaml`, or `text` (YAML) when given."""
    if text is None:
        text = (resources.files("avlib") / "reference" / FILE).read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TaxonomyError(f"{source}: not valid YAML: {err}") from None
    return validate(doc, source)


def nodes(taxonomy: dict) -> pd.DataFrame:
    """One row per node, depth first: level, name, heading, section, path (names from the group down) and
    headings (the list's headings from the group down; None where the list does not split)."""
    rows = []

    def walk(items, level, path, headings, section):
        for node in items:
            row_path, row_headings = path + (node["name"],), headings + (node["heading"],)
            sec = node.get("section", section)
            rows.append({"level": LEVELS[level], "name": node["name"], "heading": node["heading"], "section": sec,
                         "path": row_path, "headings": row_headings})
            child = SCHEMA[LEVELS[level]]["children"]
            if child and child in node:
                walk(node[child], level + 1, row_path, row_headings, sec)

    walk(taxonomy["groups"], 0, (), (), None)
    return pd.DataFrame(rows)


def count_papers(taxonomy: dict, papers: pd.DataFrame) -> pd.DataFrame:
    """`nodes` plus `papers`: the entries filed under the node's heading (and its ancestors'); <NA> where the
    list does not split the node (a null heading on it or an ancestor)."""
    table = nodes(taxonomy)
    counts = []
    for headings in table["headings"]:
        if any(h is None for h in headings):
            counts.append(pd.NA)
            continue
        mask = pd.Series(True, index=papers.index)
        for column, heading in zip(HEADING_COLUMNS, headings, strict=False):
            mask &= papers[column].fillna("").eq(heading)
        counts.append(int(mask.sum()))
    table["papers"] = pd.array(counts, dtype="Int64")
    return table


def unmatched(taxonomy: dict, papers: pd.DataFrame) -> dict:
    """Heading paths on one side only: {"list_only": the list's headings with entries that no node names
    (finer splits such as Mono Sound Generation > Speech), in the list's order; "taxonomy_only": node headings
    no entry is filed under, in the taxonomy's order}."""
    known = [tuple(h) for h in nodes(taxonomy)["headings"] if None not in h]
    listed = {}  # in the list's order
    for row in papers[list(HEADING_COLUMNS)].itertuples(index=False):
        path = tuple(h for h in row if isinstance(h, str))
        listed.update(dict.fromkeys(path[:k] for k in range(1, len(path) + 1)))
    return {"list_only": [p for p in listed if p not in set(known)],
            "taxonomy_only": [p for p in known if p not in listed]}
