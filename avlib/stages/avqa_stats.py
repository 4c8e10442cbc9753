"""Stage `avqa_stats`: the MUSIC-AVQA dataset figures of the talk (Li et al., CVPR 2022, Fig. 2 / Sec. 3),
computed from whichever annotations `root` holds, in the official format (avqa-<split>.json; for real
MUSIC-AVQA json_update/avqa-<split>.json, the corrected annotations, when present: `music_avqa.read_split`):
  (a) real vs synthetic videos (from avqa-<split>_real.json / _fake.json when present)
  (b) scene types (solo / ensemble, venue: AV-Scenes' scenes.json; the real JSON does not say)
  (c) QA pairs by modality          (d) audio-visual question types
  (e) the question-formulas table   (f) the distribution of the 33 templates (ours beside the real test's)
  (g) questions by their first four words (a sunburst)   + the answer distribution.
Every count is read from the annotation files; the paper's numbers only appear in labelled paper columns.
"""

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import Choice, Schema, Str
from avlib.data.errors import DatasetError
from avlib.data.qa import MODALITIES, PLACEHOLDER, TYPES, read_annotations, template_key
from avlib.data.real.music_avqa import read_split

PART = ("avqa", 1)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("avqa_stats", root=Str(), split=Choice("all", "train", "val", "test"))
SPLITS = ("train", "val", "test")
PAPER = "paper (MUSIC-AVQA) test"


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["n_questions", "n_videos", "n_answers", "questions_per_modality/*"]


def smoke(p):
    """The stats read annotation files only: a smoke run is the real run."""
    return p


def splits_of(split: str) -> tuple:
    return SPLITS if split == "all" else (split,)


def load(root, split: str) -> dict:
    """{"records": [QARecord], "real": set|None, "fake": set|None, "scenes": dict|None, "name": str}."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"avqa_stats: root {root} is not a folder; expected one holding avqa-<split>.json")
    # the loader's reading: json_update/ (the corrected annotations) when present, duplicated IDs resolved
    records = [r for s in splits_of(split) for r in read_split(root, s)]
    out = {"records": records, "real": None, "fake": None, "scenes": None}
    for kind in ("real", "fake"):
        paths = [root / f"avqa-{s}_{kind}.json" for s in splits_of(split)]
        if all(p.is_file() for p in paths):
            out[kind] = {r.video_id for p in paths for r in read_annotations(p)}
    if (root / "scenes.json").is_file():
        from avlib.data.embedded.avscenes.scenes import read_scenes

        out["scenes"] = read_scenes(root)
        out["scenes"] = {v: s for v, s in out["scenes"].items() if s["split"] in splits_of(split)}
    out["name"] = "AV-Scenes" if out["scenes"] is not None else "MUSIC-AVQA"
    return out


def metrics(data: dict) -> dict:
    records = data["records"]
    per_type = Counter(r.type for r in records)
    out = {"data": data["name"], "n_questions": len(records), "n_videos": len({r.video_id for r in records}),
           "n_answers": len({r.answer for r in records}),
           "n_templates": len({template_key(r.template) for r in records}),
           "questions_per_type": {t: per_type.get(t, 0) for t in TYPES},
           "questions_per_modality": {m: sum(r.modality == m for r in records) for m in MODALITIES}}
    if data["real"] is not None:
        out["videos_real"], out["videos_synthetic"] = len(data["real"]), len(data["fake"])
    if data["scenes"] is not None:
        types = scene_types(data["scenes"])
        out["scene_types"] = dict(Counter(types["scene"]))
    return out


def scene_types(scenes: dict) -> pd.DataFrame:
    rows = []
    for vid, s in scenes.items():
        n = sum(x["visible"] for x in s["sources"])
        rows.append({"video": vid, "scene": "solo" if n == 1 else "ensemble", "instruments in frame": n,
                     "venue": s["venue"]})
    return pd.DataFrame(rows)


def type_table(data: dict, templates: pd.DataFrame) -> pd.DataFrame:
    """Questions per type: ours (count, %) beside the real test set's (count, %) from the template table."""
    counts = Counter(r.type for r in data["records"])
    paper = templates.assign(t=templates["modality"] + "/" + templates["question_type"]).groupby("t")["n_test"].sum()
    n, n_paper = max(1, len(data["records"])), paper.sum()
    ours = f"ours ({data['name']})"
    return pd.DataFrame([{"type": t, f"{ours} questions": counts.get(t, 0),
                          f"{ours} %": round(100 * counts.get(t, 0) / n, 1),
                          f"{PAPER} questions": int(paper.get(t, 0)),
                          f"{PAPER} %": round(100 * paper.get(t, 0) / n_paper, 1)} for t in TYPES])


def template_table(data: dict, templates: pd.DataFrame) -> pd.DataFrame:
    """(f) the 33 templates: ours (count, %) beside the real test counts; templates matched without quirks."""
    counts = Counter(template_key(r.template) for r in data["records"])
    n, n_paper = max(1, len(data["records"])), templates["n_test"].sum()
    ours = f"ours ({data['name']})"
    rows = [{"template": t.strip(), "type": f"{m}/{q}", f"{ours} questions": counts.get(template_key(t), 0),
             f"{ours} %": round(100 * counts.get(template_key(t), 0) / n, 2), f"{PAPER} questions": int(c),
             f"{PAPER} %": round(100 * c / n_paper, 2)}
            for t, m, q, c in templates[["template", "modality", "question_type", "n_test"]].itertuples(index=False)]
    known = {template_key(t) for t in templates["template"]}
    for t in sorted(set(counts) - known):  # a template the reference does not list: shown, never dropped
        rows.append({"template": t, "type": "?", f"{ours} questions": counts[t],
                     f"{ours} %": round(100 * counts[t] / n, 2), f"{PAPER} questions": None, f"{PAPER} %": None})
    return pd.DataFrame(rows)


def formulas_table(data: dict, formulas: pd.DataFrame) -> pd.DataFrame:
    """(e) each placeholder: its meaning (reference), how many templates and questions use it, its values."""
    rows = []
    for ph, meaning in formulas[["placeholder", "meaning"]].itertuples(index=False):
        used = [r for r in data["records"] if ph in PLACEHOLDER.findall(r.template)]
        values = Counter(v for r in used for p, v in zip(PLACEHOLDER.findall(r.template), r.values, strict=True)
                         if p == ph)
        rows.append({"placeholder": ph, "meaning": meaning,
                     "templates": len({template_key(r.template) for r in used}), "questions": len(used),
                     "values": len(values), "most common values": ", ".join(v for v, _ in values.most_common(5))})
    return pd.DataFrame(rows)


def answer_counts(data: dict) -> pd.Series:
    return pd.Series(Counter(r.answer for r in data["records"])).sort_values(ascending=False)


def first_words(data: dict, depth: int = 4) -> Counter:
    """Counter of the first `depth` words (lower-case, placeholders filled) of every question."""
    return Counter(tuple(r.tokens[:depth]) for r in data["records"])


# --- figures --------------------------------------------------------------------------------------------

def overview_figure(data: dict):
    """(a) real vs synthetic videos, (b) scene types, (c) QA pairs by modality, (d) audio-visual question types."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    records = data["records"]
    ax = axes[0]
    if data["real"] is not None:
        _pie(ax, {"real": len(data["real"]), "synthetic": len(data["fake"])})
    elif data["scenes"] is not None:
        _pie(ax, {"synthetic (generated)": len({r.video_id for r in records})})
    else:
        ax.text(0.5, 0.5, "no avqa-<split>_real/_fake.json:\nnot available", ha="center", va="center")
        ax.axis("off")
    ax.set_title("(a) videos: real vs synthetic")
    ax = axes[1]
    if data["scenes"] is not None:
        types = scene_types(data["scenes"])
        _pie(ax, dict(Counter(types["scene"] + " / " + types["venue"])))
    else:
        ax.text(0.5, 0.5, "scene types are not in\nthe annotations", ha="center", va="center")
        ax.axis("off")
    ax.set_title("(b) scene types")
    _pie(axes[2], {m: sum(r.modality == m for r in records) for m in MODALITIES})
    axes[2].set_title("(c) QA pairs by modality")
    av = [t for t in TYPES if t.startswith("Audio-Visual/")]
    counts = [sum(r.type == t for r in records) for t in av]
    axes[3].bar([t.split("/")[1] for t in av], counts, color="tab:purple")
    for i, c in enumerate(counts):
        axes[3].text(i, c, str(c), ha="center", va="bottom", fontsize=8)
    axes[3].set_title("(d) audio-visual question types")
    axes[3].tick_params(axis="x", rotation=30)
    fig.suptitle(f"{data['name']}: {len(records):,} QA pairs on {len({r.video_id for r in records}):,} videos")
    fig.tight_layout()
    return fig


def _pie(ax, counts: dict):
    counts = {k: v for k, v in counts.items() if v}
    ax.pie(list(counts.values()), labels=[f"{k}\n{v:,}" for k, v in counts.items()], autopct="%1.0f%%",
           textprops={"fontsize": 8}, startangle=90)


def templates_figure(table: pd.DataFrame, name: str):
    """(f) share of each template, ours beside the real test set's."""
    fig, ax = plt.subplots(figsize=(9, 9))
    y = np.arange(len(table))
    ours = [c for c in table.columns if c.startswith("ours") and c.endswith("%")][0]
    ax.barh(y - 0.2, table[ours], 0.4, label=ours)
    ax.barh(y + 0.2, table[f"{PAPER} %"].fillna(0), 0.4, label=f"{PAPER} %", alpha=0.6)
    ax.set_yticks(y, [f"{t} [{k}]" for t, k in zip(table["template"], table["type"], strict=True)], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("% of questions")
    ax.legend(fontsize=8)
    ax.set_title(f"(f) the question templates: {name} vs the MUSIC-AVQA test set")
    fig.tight_layout()
    return fig


def wedges(words: Counter, depth: int = 4) -> dict:
    """{prefix: (start, share)} as fractions of the circle: each ring splits its parent's wedge by the next
    word, children in decreasing count (ties by word)."""
    total = sum(words.values())
    counts = Counter()
    for w, c in words.items():
        for level in range(1, min(depth, len(w)) + 1):
            counts[w[:level]] += c
    layout, cursor = {}, {(): 0.0}
    for key in sorted(counts, key=lambda k: (len(k), k[:-1], -counts[k], k[-1])):
        start = cursor[key[:-1]]
        layout[key] = (start, counts[key] / total)
        cursor[key[:-1]] = start + counts[key] / total
        cursor[key] = start
    return layout


def sunburst_figure(words: Counter, name: str, depth: int = 4, min_share: float = 0.02):
    """(g) questions by their first `depth` words, a sunburst (inner ring: the first word)."""
    fig, ax = plt.subplots(figsize=(8, 8), subplot_kw={"projection": "polar"})
    layout = wedges(words, depth)
    roots = sorted({k[0] for k in layout})
    cmap = plt.get_cmap("tab20")
    for key, (start, share) in layout.items():
        level = len(key) - 1
        angle = 2 * np.pi * (start + share / 2)
        ax.bar(angle, 1, width=2 * np.pi * share, bottom=level + 0.6, color=cmap(roots.index(key[0]) % 20),
               alpha=1 - 0.18 * level, edgecolor="white", linewidth=0.5)
        if share >= min_share:
            ax.text(angle, level + 1.1, key[-1], ha="center", va="center", fontsize=6)
    ax.set_axis_off()
    ax.set_title(f"(g) {name}: questions by their first {depth} words ({sum(words.values()):,} questions)")
    return fig


def answers_figure(counts: pd.Series, name: str):
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.bar(counts.index, counts.to_numpy(), color="tab:green")
    ax.set_ylabel("questions")
    ax.tick_params(axis="x", rotation=70, labelsize=7)
    ax.set_title(f"{name}: answer distribution ({len(counts)} answers)")
    fig.tight_layout()
    return fig


def findings(m: dict, types: pd.DataFrame, templates: pd.DataFrame, answers: pd.Series, facts: dict) -> str:
    ours = [c for c in templates.columns if c.startswith("ours") and c.endswith("%")][0]
    gap = (templates[ours] - templates[f"{PAPER} %"]).abs().max()
    av = m["questions_per_modality"]["Audio-Visual"] / max(1, m["n_questions"])
    lines = [f"# {m['data']}: dataset statistics", "",
             f"- {m['n_questions']:,} QA pairs on {m['n_videos']:,} videos, {m['n_answers']} distinct answers, "
             f"{m['n_templates']} templates (paper, MUSIC-AVQA: {facts['qa_pairs']:,} QA pairs, {facts['videos']:,} "
             f"videos, {facts['answer_vocabulary']} answers, {facts['question_templates']} templates).",
             "- By modality: " + ", ".join(f"{k} {v:,}" for k, v in m["questions_per_modality"].items())
             + f" (audio-visual: {100 * av:.1f}%).",
             f"- Largest template share difference to the real test set: {gap:.2f} points.",
             f"- Most common answer: {answers.index[0]!r} ({100 * answers.iloc[0] / max(1, answers.sum()):.1f}%)."]
    if "scene_types" in m:
        lines.append("- Scene types: " + ", ".join(f"{k} {v}" for k, v in sorted(m["scene_types"].items())) + ".")
    if "videos_real" in m:
        lines.append(f"- Videos: {m['videos_real']} real, {m['videos_synthetic']} synthetic.")
    return "\n".join(lines) + "\n"
