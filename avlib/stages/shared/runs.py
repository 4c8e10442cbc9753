"""What every training stage does with its runs: group them into table rows, lay their per-epoch logs out
long (history.csv), and word a paired interval the same way in every findings.md."""

import pandas as pd


def group_runs(runs: list, label=lambda r: r.label) -> dict:
    """{row label: [run, ...]} in first-seen order, each list in seed order."""
    groups = {}
    for run in runs:
        groups.setdefault(label(run), []).append(run)
    return groups


def history_frame(runs: list, *, history=lambda r: r.history, columns=lambda r: {"label": r.label, "seed": r.seed}
                  ) -> pd.DataFrame:
    """Per-epoch logs of every run, long format: `columns(run)` (the run's label and seed), then the epoch's
    record (epoch, loss, rho, k, val_*, ...)."""
    return pd.DataFrame([{**columns(r), **h} for r in runs for h in history(r)])
