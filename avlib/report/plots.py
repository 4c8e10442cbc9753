"""Plot helpers shared by the stages' figures: every band and error bar is the same 95% Student-t
interval over seeds that the tables print (`metrics.mean_ci`), not a bootstrap, so a figure and its
table agree and an unchanged result draws the same bytes (no resampling)."""

import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci


def summarize(df: pd.DataFrame, by: list, value: str) -> pd.DataFrame:
    """Mean and 95% t half-width of `value` per group of `by` (half-width NaN with one seed)."""
    rows = []
    for key, group in df.dropna(subset=[value]).groupby(by, sort=False):
        mean, half = mean_ci(group[value].to_numpy())
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "mean": mean, "half": np.nan if half is None else half, "n": len(group)})
    return pd.DataFrame(rows)


def line_with_band(ax, df: pd.DataFrame, *, x: str, y: str, hue: str, labels: dict | None = None) -> None:
    """One line per `hue` value: the mean of `y` over seeds at each `x`, with its 95% t-interval as a band."""
    stats = summarize(df, [hue, x], y)
    for name, group in stats.groupby(hue, sort=False):
        line, = ax.plot(group[x], group["mean"], label=(labels or {}).get(name, name))
        ax.fill_between(group[x], group["mean"] - group["half"], group["mean"] + group["half"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set(xlabel=x, ylabel=y)
    ax.legend(fontsize=7)


def bars_with_ci(ax, df: pd.DataFrame, *, x: str, y: str, hue: str) -> None:
    """Grouped bars: mean of `y` per (`x`, `hue`) with 95% t-interval error bars."""
    stats = summarize(df, [x, hue], y)
    xs, hues = list(dict.fromkeys(stats[x])), list(dict.fromkeys(stats[hue]))
    width = 0.8 / len(hues)
    for i, h in enumerate(hues):
        sub = stats[stats[hue] == h].set_index(x).reindex(xs)
        pos = np.arange(len(xs)) + (i - (len(hues) - 1) / 2) * width
        ax.bar(pos, sub["mean"], width, yerr=sub["half"].fillna(0), capsize=3, label=h)
    ax.set_xticks(np.arange(len(xs)), xs)
    ax.set(xlabel=x, ylabel=y)
    ax.legend(fontsize=7)
