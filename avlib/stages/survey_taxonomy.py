"""Stage `survey_taxonomy`: the survey's taxonomy (Wei et al., arXiv 2208.09579, Sec. 3-5: audio-visual
boosting, cross-modal perception, audio-visual collaboration -> tasks -> sub-tasks) as a tree, each node with
the number of papers its companion list files under it.

The taxonomy is data (`avlib/reference/survey_taxonomy.yaml`, validated by `avlib.survey.taxonomy`); the
counts come from the parsed list (`avlib.survey.papers`). Where the list splits finer than the taxonomy
(e.g. Mono Sound Generation > Speech, Music, Natural Sound) those headings are drawn as grey "list only"
nodes when `list_only_nodes` is on; where it does not split a node (the three sub-tasks of representation
learning) the node shows no count.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import Bool, Schema, Str
from avlib.survey.papers import HEADING_COLUMNS
from avlib.survey.taxonomy import count_papers, unmatched

PART = ("survey", 1)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("survey_taxonomy", readme=Str(nonempty=False), list_only_nodes=Bool())

DEPTH_NAMES = ("group", "task", "sub-task", "topic")
COLORS = ("tab:blue", "tab:orange", "tab:green")  # the groups, in the taxonomy's order
LIST_ONLY, NOT_SPLIT = "list only", "not split in the list"


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["n_papers", "nodes/*"]


def note(parsed) -> str:
    return ("The survey's taxonomy (avlib/reference/survey_taxonomy.yaml, from its overview) with the papers the "
            "companion list files under each node (an entry counts for its node and every ancestor). 'list "
            f"heading': the list's wording where it differs; '–': the list does not split the node. Papers: "
            f"{parsed.describe()}.")


def tree_rows(taxonomy: dict, papers: pd.DataFrame, *, list_only: bool = True) -> pd.DataFrame:
    """The tree, depth first: the taxonomy's nodes with their paper counts and, when `list_only`, the list's
    finer headings under the node they refine. Columns: depth, level, name, heading, section, papers, kind
    (taxonomy | list only), group index."""
    nodes = count_papers(taxonomy, papers)
    nodes = nodes.assign(depth=nodes["headings"].map(len) - 1, kind="taxonomy")
    extra = unmatched(taxonomy, papers)["list_only"] if list_only else []
    rows = []
    for _, node in nodes.iterrows():
        rows.append(node.to_dict())
        # list-only headings directly under this node (then their own children, depth first)
        rows += _extra_under(tuple(node["headings"]), tuple(node["path"]), extra, papers, node["section"])
    table = pd.DataFrame(rows)
    table["level"] = table["depth"].map(dict(enumerate(DEPTH_NAMES)))
    groups = [g["name"] for g in taxonomy["groups"]]
    table["group"] = table["path"].map(lambda p: groups.index(p[0]))
    table["papers"] = table["papers"].astype("Int64")
    return table[["depth", "level", "name", "heading", "section", "papers", "kind", "group", "path"]]


def _extra_under(parent: tuple, parent_path: tuple, extra: list, papers: pd.DataFrame, section) -> list:
    """Rows for the list-only headings right under the node whose list headings are `parent`."""
    rows = []
    for headings in extra:
        if len(headings) == len(parent) + 1 and headings[:-1] == parent:
            mask = pd.Series(True, index=papers.index)
            for column, heading in zip(HEADING_COLUMNS, headings, strict=False):
                mask &= papers[column].fillna("").eq(heading)
            rows.append({"name": headings[-1], "heading": headings[-1], "section": section, "papers": int(mask.sum()),
                         "path": parent_path + (headings[-1],), "headings": headings, "depth": len(headings) - 1,
                         "kind": LIST_ONLY})
            rows += _extra_under(headings, parent_path + (headings[-1],), extra, papers, section)
    return rows


def node_table(tree: pd.DataFrame) -> pd.DataFrame:
    """The report's table: one row per node, its parent, the survey's section, the list's heading when it is
    worded differently, and the papers filed under it."""
    return pd.DataFrame({
        "level": tree["level"],
        "node": tree["name"],
        "parent": tree["path"].map(lambda p: " > ".join(p[:-1])),
        "survey section": tree["section"].map(lambda s: f"Sec. {s}" if s else ""),
        "list heading": [h if isinstance(h, str) and h != n else ("–" if h is None else "")
                         for h, n in zip(tree["heading"], tree["name"], strict=True)],
        "papers listed": tree["papers"],
        "note": [LIST_ONLY + " (finer than the taxonomy)" if k == LIST_ONLY else (NOT_SPLIT if pd.isna(c) else "")
                 for k, c in zip(tree["kind"], tree["papers"], strict=True)],
    })


def tree_figure(tree: pd.DataFrame, *, n_papers: int, commit: str):
    """The taxonomy as an indented tree (left) with a bar of listed papers per node (right)."""
    n = len(tree)
    height = 0.27 * n + 1.2
    fig, (ax_tree, ax_bar) = plt.subplots(1, 2, figsize=(12, height), sharey=True,
                                          gridspec_kw={"width_ratios": [1.25, 1], "wspace": 0.02})
    fig.subplots_adjust(left=0.01, right=0.97, top=1 - 0.45 / height, bottom=0.6 / height)
    y = np.arange(n)[::-1]
    parents = {}
    for yi, row in zip(y, tree.itertuples(), strict=True):
        color = "0.55" if row.kind == LIST_ONLY else COLORS[row.group % len(COLORS)]
        x = row.depth * 1.0
        weight = "bold" if row.depth == 0 else "normal"
        style = "italic" if row.kind == LIST_ONLY else "normal"
        ax_tree.text(x + 0.15, yi, row.name, va="center", fontsize=8, color=color, fontweight=weight, style=style)
        parents[tuple(row.path)] = yi
        if row.depth:
            py = parents[tuple(row.path[:-1])]
            ax_tree.plot([x - 0.75, x - 0.75, x + 0.05], [py - 0.3, yi, yi], color="0.75", lw=0.8)
        count = row.papers
        if pd.isna(count):
            ax_bar.text(0.5, yi, NOT_SPLIT, va="center", fontsize=7, color="0.45", style="italic")
        else:
            ax_bar.barh(yi, count, color=color, height=0.7, alpha=1.0 if row.depth == 0 else 0.75,
                        hatch="//" if row.kind == LIST_ONLY else None, edgecolor="white" if row.kind != LIST_ONLY
                        else "0.9")
            ax_bar.text(count + 1, yi, str(int(count)), va="center", fontsize=7)
    ax_tree.set_xlim(0, 4.6)
    ax_tree.set_ylim(-0.8, n - 0.2)
    ax_tree.axis("off")
    ax_bar.set_xlabel("papers filed under the node in the companion list")
    ax_bar.set_xlim(0, tree["papers"].max() * 1.12)
    ax_bar.spines[["top", "right", "left"]].set_visible(False)
    ax_bar.tick_params(axis="y", left=False)
    fig.suptitle(f"The survey's taxonomy (Wei et al. 2022, Sec. 3-5) with the {n_papers} entries of "
                 f"GeWu-Lab/awesome-audiovisual-learning @ {commit[:7]}"
                 + ("; grey italics: the list's finer headings" if (tree["kind"] == LIST_ONLY).any() else ""),
                 fontsize=9)
    return fig


def run_metrics(parsed, tree: pd.DataFrame, taxonomy_only: list) -> dict:
    core = tree[tree["kind"] == "taxonomy"]
    papers = parsed.papers
    return {
        "n_papers": len(papers),
        "nodes": {level: int((core["level"] == level).sum()) for level in ("group", "task", "sub-task")},
        "nodes_not_split_in_list": int(core["papers"].isna().sum()),
        "list_only_headings": int((tree["kind"] == LIST_ONLY).sum()),
        "taxonomy_headings_without_papers": len(taxonomy_only),
        "papers_per_group": {r.heading: int(r.papers) for r in core[core["depth"] == 0].itertuples()},
        "source_commit": parsed.meta.get("source_commit", "unknown"),
    }


def findings(tree: pd.DataFrame, metrics: dict, taxonomy_only: list) -> str:
    core = tree[tree["kind"] == "taxonomy"]
    m = metrics
    lines = ["# Findings: the survey's taxonomy and its companion list", "",
             f"- The taxonomy has {m['nodes']['group']} groups, {m['nodes']['task']} tasks and "
             f"{m['nodes']['sub-task']} sub-tasks; the list (@ {m['source_commit'][:7]}) files {m['n_papers']} "
             "entries under them."]
    for r in core[core["depth"] == 0].itertuples():
        tasks = core[(core["depth"] == 1) & (core["group"] == r.group)].dropna(subset=["papers"])
        top = tasks.loc[tasks["papers"].idxmax()] if len(tasks) else None
        lines.append(f"- {r.name}: {int(r.papers)} papers ({100 * r.papers / m['n_papers']:.0f}%)"
                     + (f"; largest task {top['name']} ({int(top['papers'])})." if top is not None else "."))
    leaves = core[(core["depth"] == 2)].dropna(subset=["papers"])
    if len(leaves):
        big, small = leaves.loc[leaves["papers"].idxmax()], leaves.loc[leaves["papers"].idxmin()]
        lines.append(f"- Sub-tasks range from {big['name']} ({int(big['papers'])}) to {small['name']} "
                     f"({int(small['papers'])}).")
    unsplit = core[core["papers"].isna()]
    if len(unsplit):
        parents = sorted({" > ".join(p[:-1]) for p in unsplit["path"]})
        lines.append(f"- {len(unsplit)} sub-task(s) have no count: the list does not split "
                     f"{'; '.join(parents)} ({', '.join(unsplit['name'])}).")
    if m["list_only_headings"]:
        extra = tree[tree["kind"] == LIST_ONLY]
        lines.append(f"- The list splits finer than the taxonomy in {m['list_only_headings']} heading(s): "
                     + ", ".join(f"{' > '.join(p[1:-1])} > {n}" for n, p in zip(extra["name"], extra["path"],
                                                                             strict=True)) + ".")
    lines.append(f"- Taxonomy headings under which the list files no paper: "
                 f"{', '.join(' > '.join(h) for h in taxonomy_only) if taxonomy_only else 'none'}.")
    return "\n".join(lines) + "\n"
