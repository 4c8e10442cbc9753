"""Stage `survey_datasets`: the survey's table of audio-visual datasets (Wei et al., arXiv 2208.09579,
Sec. 6: name, year, #videos, length, form/source, tasks) and a scatter of their size against year.

The table is the survey's, transcribed in `avlib/reference/survey_datasets.csv`; sizes are parsed from its
strings ('200k+' -> at least 200,000; '5.2h' -> 5.2 hours). The datasets named in `highlight` are marked;
a name the table does not hold is reported, never given a size by hand. Our embedded datasets are extra
points, their sizes read from their generators' configs (not from generated data).
"""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import ListOf, Schema, Str
from avlib.data.embedded.avdigits import AVDigitsConfig

PART = ("survey", 3)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("survey_datasets", highlight=ListOf(Str()))

OURS = "ours (embedded)"
SOURCE_NOTE = ("The survey's dataset table (Wei et al., arXiv 2208.09579, Sec. 6), transcribed in "
               "avlib/reference/survey_datasets.csv; '+' marks the survey's lower bounds, empty cells are '-' there.")
_SCALE = {"": 1, "k": 1e3, "m": 1e6}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["n_datasets", "year_min", "year_max"]


def parse_amount(text, unit: str = "") -> tuple[float, bool]:
    """'200k+' -> (200000.0, True); '306245' -> (306245.0, False); '2000h+' (unit 'h') -> (2000.0, True);
    '' or NaN -> (nan, False). The flag says the survey gives a lower bound."""
    if not isinstance(text, str) or not text.strip() or text.strip() == "-":
        return float("nan"), False
    m = re.fullmatch(r"([\d.,]+)\s*([kKmM]?)" + re.escape(unit) + r"(\+?)", text.strip())
    if not m:
        raise ValueError(f"cannot read {text!r} as an amount{' in ' + unit if unit else ''}")
    return float(m[1].replace(",", "")) * _SCALE[m[2].lower()], m[3] == "+"


def parse_years(text) -> list[int]:
    """'2016, 2018, 2018' -> [2016, 2018, 2018] (a row the survey gives for a family of datasets)."""
    return [int(y) for y in re.findall(r"\d{4}", str(text))]


def member_names(name: str) -> list[str]:
    """'LRW, LRS2, LRS3' -> ['LRW', 'LRS2', 'LRS3']: the datasets one row of the table stands for."""
    return [n.strip() for n in str(name).split(",") if n.strip()]


def find_highlights(table: pd.DataFrame, highlight: list) -> tuple[dict, list]:
    """({highlight name: row index}, [names the table does not hold]); names compared without case."""
    found, missing = {}, []
    for name in highlight:
        rows = [i for i, n in table["name"].items() if name.casefold() in (m.casefold() for m in member_names(n))]
        if rows:
            found[name] = rows[0]
        else:
            missing.append(name)
    return found, missing


def embedded_datasets() -> pd.DataFrame:
    """Our embedded datasets, sized from their generators' default configs: AV-Digits (avlib.data.embedded.avdigits)."""
    cfg = AVDigitsConfig()
    clips = cfg.n_train + cfg.n_val + cfg.n_test
    return pd.DataFrame([{"name": "AV-Digits", "clips": clips, "clip_seconds": cfg.clip_seconds,
                          "hours": clips * cfg.clip_seconds / 3600,
                          "what": f"{clips:,} clips of {cfg.clip_seconds:g} s (an MNIST digit + its spoken name)"}])


def points(table: pd.DataFrame, highlight: list, embedded: pd.DataFrame) -> pd.DataFrame:
    """What the scatter draws: one row per table row (first/last year, #videos and hours parsed, lower-bound
    flags, highlighted) and one per embedded dataset."""
    found, _ = find_highlights(table, highlight)
    marked = set(found.values())
    rows = []
    for i, r in table.iterrows():
        years = parse_years(r["year"])
        videos, videos_lb = parse_amount(r["videos"])
        hours, hours_lb = parse_amount(r["length"], "h")
        rows.append({"name": r["name"], "kind": "survey", "first_year": min(years), "last_year": max(years),
                     "videos": videos, "videos_lower_bound": videos_lb, "hours": hours, "hours_lower_bound": hours_lb,
                     "highlighted": i in marked})
    for r in embedded.itertuples():
        rows.append({"name": r.name, "kind": OURS, "first_year": None, "last_year": None, "videos": float(r.clips),
                     "videos_lower_bound": False, "hours": r.hours, "hours_lower_bound": False, "highlighted": False})
    return pd.DataFrame(rows).astype({"first_year": "Int64", "last_year": "Int64"})


def dataset_table(table: pd.DataFrame, highlight: list, embedded: pd.DataFrame) -> pd.DataFrame:
    """The survey's table as it gives it, with a column marking the highlighted rows, then our embedded
    datasets as extra rows (marked ours)."""
    found, _ = find_highlights(table, highlight)
    out = pd.DataFrame({"name": table["name"], "year": table["year"].astype(str), "#videos": table["videos"],
                        "length": table["length"], "form / source": table["form_source"], "tasks": table["tasks"],
                        "highlighted": ["yes" if i in found.values() else "" for i in table.index]})
    ours = pd.DataFrame({"name": embedded["name"], "year": "", "#videos": embedded["clips"].map(lambda n: f"{n} clips"),
                         "length": embedded["hours"].map(lambda h: f"{h:.2f}h"),
                         "form / source": "generated by avlab", "tasks": embedded["what"], "highlighted": OURS})
    return pd.concat([out, ours], ignore_index=True)


def scatter_figure(pts: pd.DataFrame, missing: list):
    """Size against year, log scale: #videos (left) and length in hours (right). Highlighted datasets in red
    and named; '+' sizes (lower bounds) as triangles; a family of datasets spans its years; ours at the right."""
    survey = pts[pts["kind"] == "survey"]
    ours = pts[pts["kind"] == OURS]
    x_ours = survey["last_year"].max() + 2
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for ax, (column, label) in zip(axes, (("videos", "#videos (log)"), ("hours", "length, hours (log)")),
                                   strict=True):
        lb = f"{column}_lower_bound"
        for r in survey.dropna(subset=[column]).itertuples():
            color = "tab:red" if r.highlighted else "0.45"
            value = getattr(r, column)
            if r.first_year != r.last_year:
                ax.plot([r.first_year, r.last_year], [value, value], color=color, lw=1, alpha=0.6)
            ax.plot(r.last_year, value, "^" if getattr(r, lb) else "o", color=color, ms=8 if r.highlighted else 5,
                    mec="black" if r.highlighted else color, zorder=3)
            ax.annotate(r.name, (r.last_year, value), xytext=(5, 3), textcoords="offset points", color=color,
                        fontsize=8 if r.highlighted else 6, fontweight="bold" if r.highlighted else "normal")
        for r in ours.dropna(subset=[column]).itertuples():
            value = getattr(r, column)
            ax.plot(x_ours, value, "*", color="tab:green", ms=14, mec="black", zorder=3)
            shown = f"{int(value):,} clips" if column == "videos" else f"{value:.2f} h"
            below = column == "videos"  # the label where the panel has room: under the star, or over it
            ax.annotate(f"{r.name}\n{OURS}\n{shown}", (x_ours, value), xytext=(-12, -2 if below else 2),
                        textcoords="offset points", fontsize=7, color="tab:green", ha="right",
                        va="top" if below else "bottom")
        years = sorted(set(survey["first_year"]) | set(survey["last_year"]))
        ticks = [y for y in range(int(min(years)), int(max(years)) + 1) if y % 2 == 0 or y == max(years)]
        ax.set_xticks([*ticks, x_ours], [*map(str, ticks), "ours"])
        ax.set_xlim(min(years) - 1, x_ours + 1)
        ax.set_yscale("log")
        ax.set(xlabel="year", ylabel=label)
        ax.grid(alpha=0.3, which="major")
        absent = survey[survey[column].isna()]["name"]
        if len(absent):
            ax.text(0.01, 0.01, "no value in the table: " + "; ".join(absent), transform=ax.transAxes,
                    fontsize=6, color="0.4")
    handles = [plt.Line2D([], [], marker="o", ls="", color="0.45", label="survey's table"),
               plt.Line2D([], [], marker="o", ls="", color="tab:red", mec="black", label="highlighted"),
               plt.Line2D([], [], marker="^", ls="", color="0.45", label="lower bound ('+' in the table)"),
               plt.Line2D([], [], color="0.45", label="a row for several datasets: first to last year"),
               plt.Line2D([], [], marker="*", ls="", color="tab:green", mec="black", ms=12, label=OURS)]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    title = "The survey's audio-visual datasets (Wei et al. 2022, Sec. 6): size against year"
    if missing:
        title += f"\nhighlighted but not in the survey's table (not drawn): {', '.join(missing)}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def run_metrics(table: pd.DataFrame, pts: pd.DataFrame, highlight: list) -> dict:
    found, missing = find_highlights(table, highlight)
    survey = pts[pts["kind"] == "survey"]
    return {"n_datasets": len(table), "year_min": int(survey["first_year"].min()),
            "year_max": int(survey["last_year"].max()), "highlighted": sorted(found),
            "highlighted_not_in_table": missing,
            "embedded": {r.name: {"clips": int(r.videos), "hours": round(float(r.hours), 3)}
                         for r in pts[pts["kind"] == OURS].itertuples()}}


def findings(pts: pd.DataFrame, metrics: dict) -> str:
    survey, ours = pts[pts["kind"] == "survey"], pts[pts["kind"] == OURS]
    m = metrics
    lines = ["# Findings: the survey's datasets", "",
             f"- {m['n_datasets']} rows in the survey's table, {m['year_min']}-{m['year_max']}."]
    for column, unit in (("videos", "videos"), ("hours", "hours")):
        known = survey.dropna(subset=[column])
        big = known.loc[known[column].idxmax()]
        lines.append(f"- By {unit}: {len(known)} rows give a value; the largest is {big['name']} "
                     f"({'at least ' if big[f'{column}_lower_bound'] else ''}{big[column]:,.0f} {unit}).")
    for r in survey[survey["highlighted"]].itertuples():
        size = [f"{'≥' if getattr(r, c + '_lower_bound') else ''}{getattr(r, c):,.0f} {c}"
                for c in ("videos", "hours") if not np.isnan(getattr(r, c))]
        lines.append(f"- Highlighted: {r.name} ({r.last_year}): {', '.join(size) or 'no size in the table'}.")
    if m["highlighted_not_in_table"]:
        lines.append(f"- Highlighted but absent from the survey's table (no size is typed in for them): "
                     f"{', '.join(m['highlighted_not_in_table'])}.")
    with_hours = survey.dropna(subset=["hours"])
    for r in ours.itertuples():
        longer = with_hours[with_hours["hours"] > r.hours]
        below = with_hours[with_hours["hours"] <= r.hours]
        unsure = [f"{n} ({h:g}h+, a lower bound)" for n, h, lb in
                  zip(below["name"], below["hours"], below["hours_lower_bound"], strict=True) if lb]
        shorter = [n for n, lb in zip(below["name"], below["hours_lower_bound"], strict=True) if not lb]
        lines.append(f"- {r.name}, {OURS}: {int(r.videos):,} clips, {r.hours:.2f} hours. Of the {len(with_hours)} "
                     f"survey datasets with a length, {len(longer)} are longer"
                     + (f", shorter: {', '.join(shorter)}" if shorter else "")
                     + (f", maybe shorter: {', '.join(unsure)}" if unsure else "")
                     + ". It is a CPU-sized stand-in for CREMA-D's situation (audio dominant), not for their scale.")
    return "\n".join(lines) + "\n"
