"""Stage `survey_trends`: the survey's data-driven paper-per-year figure, rebuilt from its companion list.

The survey (Wei et al., arXiv 2208.09579, its paper-per-year figure) counts papers per year per group from
Google Scholar keyword searches. We count the entries of the authors' curated list instead
(GeWu-Lab/awesome-audiovisual-learning, parsed by `avlib.survey.papers`): per year and group, per task, and
per venue. The survey's own curve is drawn beside ours only as an overlay read off its plot
(`avlib/reference/survey_trend_paper_approx.csv`, approximate); a curated list is not keyword counts.
"""

import re

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from avlib.core.params import Int, Schema, Str

PART = ("survey", 2)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("survey_trends", readme=Str(nonempty=False), top_venues=Int(min=1))

# the survey's groups as the list spells its ## headings -> the columns of the approximate published curve
APPROX_COLUMNS = {"Audio-visual Boosting": "boosting", "Cross-modal Perception": "cross_modal_perception",
                  "Audio-visual Collaboration": "collaboration"}
APPROX_COLUMN = "survey's figure (approx.)"
APPROX_LABEL = "survey's figure (approx., read off the plot; Google Scholar keyword counts)"
OURS_LABEL = "companion list (entries parsed)"
COLORS = dict(zip(APPROX_COLUMNS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
NO_VENUE = "(year only, no venue)"
# spellings of one venue in the list (its tags are hand-typed): folded for the venue breakdown only; the
# committed CSV keeps each tag as the list spells it
VENUE_ALIASES = {"interspeech": "Interspeech", "tmm": "IEEE TMM", "tog": "ACM TOG", "arxiv": "arXiv",
                 "teee/acm taslp": "IEEE/ACM TASLP", "ieee-acm t audio spe": "IEEE/ACM TASLP"}


NOTES = {
    "papers_per_year": "Entries of the companion list per year (its tag's year) and group (its ## heading); "
                       "entries without a year are left out here and counted in metrics.json.",
    "papers_per_task": "Entries per task (### heading) and year; total includes entries without a year.",
    "venues": "Entries per venue (the tag's venue; spellings of one venue folded, listed in the last columns); "
              "'(year only, no venue)' are tags giving a year alone, mostly preprints.",
    "versus_survey": "The list's entries beside the survey's paper-per-year figure, read off its plot by eye "
                     "(approximate; Google Scholar keyword counts per its footnote). Its last point is a part year.",
    "malformed": "README lines that looked like part of an entry but could not be read (warned about, not counted "
                 "as papers).",
}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["n_papers", "n_malformed", "year_min", "year_max"]


def note(name: str, parsed) -> str:
    return f"{NOTES[name]} Source: {parsed.describe()}."


def groups(papers: pd.DataFrame) -> list:
    """The groups with entries, in the survey's order (then any other the list adds)."""
    present = list(dict.fromkeys(papers["group"].dropna()))
    return [g for g in APPROX_COLUMNS if g in present] + [g for g in present if g not in APPROX_COLUMNS]


def _color(group: str) -> str:
    return COLORS.get(group, "tab:gray")


# --- tables --------------------------------------------------------------------------------------

def per_year_group(papers: pd.DataFrame) -> pd.DataFrame:
    """Entries per year (rows, every year from the first to the last) and group (columns), with the total."""
    dated = papers.dropna(subset=["year"])
    years = range(int(dated["year"].min()), int(dated["year"].max()) + 1)
    table = (dated.groupby(["year", "group"]).size().unstack("group").reindex(index=years, columns=groups(papers))
             .fillna(0).astype(int))
    table["total"] = table.sum(axis=1)
    return table.rename_axis(index="year", columns=None).reset_index()


def per_task(papers: pd.DataFrame) -> pd.DataFrame:
    """Entries per task (rows, in list order) and year (columns), with each task's group and total."""
    dated = papers.dropna(subset=["year"])
    years = list(range(int(dated["year"].min()), int(dated["year"].max()) + 1))
    order = list(dict.fromkeys(zip(papers["group"], papers["task"], strict=True)))
    counts = dated.groupby(["group", "task", "year"]).size()
    rows = [{"group": g, "task": t, **{str(y): int(counts.get((g, t, y), 0)) for y in years},
             "total": int((papers["task"] == t).sum())} for g, t in order]
    return pd.DataFrame(rows)


def normalize_venue(venue) -> str:
    """One name per venue for the breakdown: case and a few spellings folded (VENUE_ALIASES)."""
    if venue is None or venue is pd.NA or (isinstance(venue, float) and np.isnan(venue)) or not str(venue).strip():
        return NO_VENUE
    key = re.sub(r"\s+", " ", str(venue).strip()).casefold()
    return VENUE_ALIASES.get(key, str(venue).strip())


def venue_table(papers: pd.DataFrame, top: int) -> pd.DataFrame:
    """The `top` venues by entries (ties by name), the rest as 'other venues'; per group, and the list's
    spellings folded into each."""
    df = papers.assign(venue_name=papers["venue"].map(normalize_venue))
    counts = df.groupby("venue_name").size()
    ranked = sorted(counts.index, key=lambda v: (-counts[v], v.casefold()))
    named = [v for v in ranked if v != NO_VENUE][:top]
    df["row"] = df["venue_name"].where(df["venue_name"].isin(named + [NO_VENUE]), "other venues")
    order = named + ["other venues", NO_VENUE]
    rows = []
    for name in order:
        part = df[df["row"] == name]
        if part.empty:
            continue
        spellings = sorted({str(v) for v in part["venue"].dropna()}) if name not in ("other venues", NO_VENUE) else []
        rows.append({"venue": name, "entries": len(part), "share %": round(100 * len(part) / len(df), 1),
                     **{g: int((part["group"] == g).sum()) for g in groups(papers)},
                     "spellings in the list": ", ".join(spellings) if len(spellings) > 1 else "",
                     "distinct venues": part["venue_name"].nunique() if name == "other venues" else 1})
    return pd.DataFrame(rows)


def versus_survey(table: pd.DataFrame, approx: pd.DataFrame) -> pd.DataFrame:
    """For each point of the survey's curve: its (approximate) count beside the list's entries that year,
    per group and in total. The survey's last point is a partial year (x = 2022.8 on its axis)."""
    ours = table.set_index("year")
    rows = []
    for _, point in approx.iterrows():
        year = int(point["year"])
        partial = point["year"] != year
        for group, column in [*APPROX_COLUMNS.items(), ("total", "total")]:
            mine = int(ours.at[year, group]) if year in ours.index and group in ours.columns else 0
            rows.append({"year": f"{year}{' (part, survey)' if partial else ''}", "group": group,
                         "companion list": mine, APPROX_COLUMN: int(point[column]),
                         "list / survey": round(mine / point[column], 2) if point[column] else None})
    return pd.DataFrame(rows)


def duplicates(papers: pd.DataFrame) -> dict:
    """Entries whose title (case and spacing folded) appears more than once: within one node, or across nodes
    (a paper the list files under two tasks)."""
    key = papers["title"].str.casefold().str.split().str.join(" ")
    node = papers[["group", "task", "subtask", "topic"]].fillna("").agg(" / ".join, axis=1)
    extra = int(key.duplicated().sum())
    same_node = int(pd.DataFrame({"k": key, "n": node}).duplicated().sum())
    return {"distinct_titles": int(key.nunique()), "repeated_entries": extra, "repeated_in_same_node": same_node,
            "repeated_across_nodes": extra - same_node}


# --- metrics and findings -------------------------------------------------------------------------

def run_metrics(parsed, table: pd.DataFrame) -> dict:
    papers = parsed.papers
    years = papers["year"].dropna()
    return {"n_papers": len(papers), "papers_per_group": {g: int((papers["group"] == g).sum()) for g in groups(papers)},
            "source_commit": parsed.meta.get("source_commit", "unknown"),
            "source_repo": parsed.meta.get("source_repo", ""),
            "year_min": int(years.min()), "year_max": int(years.max()),
            "n_without_year": int(papers["year"].isna().sum()),
            "n_malformed": len(parsed.malformed) if parsed.malformed else int(parsed.meta.get("malformed_lines", 0)),
            "papers_per_year": {str(int(r.year)): int(r.total) for r in table.itertuples()},
            **duplicates(papers)}


def findings(parsed, table: pd.DataFrame, versus: pd.DataFrame, metrics: dict) -> str:
    """How the curated list's counts compare with the survey's keyword-count curve (every number computed)."""
    m = metrics
    lines = ["# Findings: papers per year in the survey's companion list", "",
             f"- Source: {m['source_repo'] or 'a local README'} @ {m['source_commit']}"
             f"{' (' + parsed.meta['source_date'] + ')' if parsed.meta.get('source_date') else ''}; "
             f"read from {parsed.meta.get('read_from', '?')}.",
             f"- {m['n_papers']} entries ({m['distinct_titles']} distinct titles: {m['repeated_in_same_node']} "
             f"repeat an entry under the same heading, {m['repeated_across_nodes']} repeat one filed under another "
             "heading), "
             f"years {m['year_min']}-{m['year_max']}, {m['n_without_year']} without a year, "
             f"{m['n_malformed']} malformed line(s).",
             "- Per group: " + ", ".join(f"{g} {n} ({100 * n / m['n_papers']:.0f}%)"
                                          for g, n in m["papers_per_group"].items()) + "."]
    peak = table.loc[table["total"].idxmax()]
    after = table[table["year"] > peak["year"]]
    snapshot = f" (snapshot of {parsed.meta['source_date']})" if parsed.meta.get("source_date") else ""
    tail = ", ".join(f"{int(r.year)}: {int(r.total)}" for r in after.itertuples())
    lines.append(f"- The list peaks in {int(peak['year'])} ({int(peak['total'])} entries)" + (
        f", then {tail}{snapshot}: curation lags publication, so a list's last years undercount the field."
        if len(after) else "."))
    full = versus[~versus["year"].str.contains("part") & (versus["group"] == "total")]
    if len(full) >= 2:
        first, last = full.iloc[0], full.iloc[-1]
        ours = "companion list"
        lines.append(
            f"- Growth {first['year']}->{last['year']}: the list x{_ratio(last[ours], first[ours])}"
            f" ({first[ours]} -> {last[ours]}), the survey's keyword counts "
            f"x{_ratio(last[APPROX_COLUMN], first[APPROX_COLUMN])} "
            f"({first[APPROX_COLUMN]} -> {last[APPROX_COLUMN]}, approx.). Over those years the list holds "
            f"{full['companion list'].sum() / full[APPROX_COLUMN].sum():.0%} as many papers as the keyword counts.")
        span = versus[versus["year"].isin(full["year"]) & (versus["group"] != "total")]
        shares = span.groupby("group", sort=False)[["companion list", APPROX_COLUMN]].sum()
        shares = shares / shares.sum()
        lines.append(f"- Group shares {first['year']}-{last['year']}, list vs survey (approx.): " + ", ".join(
            f"{g} {100 * r['companion list']:.0f}% vs {100 * r[APPROX_COLUMN]:.0f}%" for g, r in shares.iterrows())
            + ".")
    lines += ["", "The list is curated by the survey's authors (papers they chose to file under the taxonomy), not a "
              "keyword count of Google Scholar: it is smaller, its growth reflects what was curated when, and its "
              "shares reflect the curators' focus. The survey's curve is read off its plot by eye (approximate) and "
              "shown only as an overlay."]
    return "\n".join(lines) + "\n"


def _ratio(a, b) -> str:
    return f"{a / b:.1f}" if b else "n/a"


# --- figures --------------------------------------------------------------------------------------

def trend_figure(table: pd.DataFrame, approx: pd.DataFrame, *, commit: str):
    """Left: the list's entries per year, stacked by group, with the survey's total curve (approx.) over it.
    Right: per group, the list (solid) beside the survey's curve (dashed, approx.)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    names = [c for c in table.columns if c not in ("year", "total")]
    bottom = np.zeros(len(table))
    for g in names:
        left.bar(table["year"], table[g], bottom=bottom, color=_color(g), label=g, width=0.8)
        bottom += table[g].to_numpy()
    left.plot(approx["year"], approx["total"], "k--o", mfc="white", ms=4, label=f"total, {APPROX_LABEL}")
    left.set(xlabel="year", ylabel="papers", title=f"{OURS_LABEL}, stacked by group")
    for g in names:
        right.plot(table["year"], table[g], "-o", color=_color(g), ms=3, label=f"{g} (list)")
        if g in APPROX_COLUMNS:
            right.plot(approx["year"], approx[APPROX_COLUMNS[g]], "--o", color=_color(g), mfc="white", ms=4,
                       label=f"{g} (survey, approx.)")
    right.set(xlabel="year", ylabel="papers", title=f"per group: list (solid) vs {APPROX_LABEL.split(' (')[0]} "
              "(dashed, approx.)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.suptitle(f"Papers per year: GeWu-Lab/awesome-audiovisual-learning @ {commit[:7]} vs the survey's figure "
                 "(keyword counts; approx., read off the plot)", fontsize=10)
    fig.tight_layout()
    return fig


def task_figure(tasks: pd.DataFrame):
    """Heat map: entries per task and year, each count printed; task labels coloured by group."""
    years = [c for c in tasks.columns if c.isdigit()]
    values = tasks[years].to_numpy()
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(years) + 3.5, 0.42 * len(tasks) + 1.4))
    ax.imshow(values, cmap="Greys", aspect="auto", vmin=0, vmax=max(1, values.max()) * 1.4)
    for (i, j), v in np.ndenumerate(values):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(years)), years, fontsize=8)
    ax.set_yticks(range(len(tasks)), [f"{t} ({n})" for t, n in zip(tasks["task"], tasks["total"], strict=True)],
                  fontsize=8)
    for label, g in zip(ax.get_yticklabels(), tasks["group"], strict=True):
        label.set_color(_color(g))
    ax.set_title("Entries per task and year (label colour = group; total in brackets)", fontsize=10)
    fig.tight_layout()
    return fig


def venue_figure(venues: pd.DataFrame, names: list):
    """Horizontal bars: entries per venue (top venues, then the rest), stacked by group (`names`)."""
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(venues) + 1.4))
    y = np.arange(len(venues))[::-1]
    left = np.zeros(len(venues))
    for g in names:
        ax.barh(y, venues[g], left=left, color=_color(g), label=g)
        left += venues[g].to_numpy()
    for yi, n, share in zip(y, venues["entries"], venues["share %"], strict=True):
        ax.text(n + 0.5, yi, f"{n} ({share:g}%)", va="center", fontsize=7)
    ax.set_yticks(y, venues["venue"], fontsize=8)
    ax.set(xlabel="entries in the list", title="Venues of the listed papers")
    ax.set_xlim(0, venues["entries"].max() * 1.15)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
