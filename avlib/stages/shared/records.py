"""What the OGM-GE tables report beside their rows: one row per run with its selection facts (runs.csv:
`runs_frame`, `write_runs`), the convergence check of the best val epochs (`convergence`), the optimism of
selecting on test, and the Holm family of a table's paired differences."""

import math
from pathlib import Path

import pandas as pd

from avlib.core.atomic import atomic_write_text
from avlib.core.metrics import mean_ci
from avlib.report import format_ci
from avlib.stages.shared.stats import holm

# --- runs.csv: one row per (table row, seed) ---------------------------------------------------------------

LATE_SHARE = 0.2  # the convergence check: best val epoch among the last 20% of the epochs
EARLY_EPOCHS = 3  # the rho / k summary's "early" window: the first 3 epochs


def late_from(n_epochs: int, share: float = LATE_SHARE) -> int:
    """First epoch (0-based) of the last `share` of `n_epochs` epochs (at least the last epoch): 20 -> 16,
    10 -> 8, 1 -> 0."""
    return n_epochs - max(1, math.ceil(share * n_epochs - 1e-9))


def best_test_epoch(history: list) -> tuple:
    """(epoch, test_acc) of the epoch with the best TEST accuracy (ties: the earliest): the selection of the
    official OGM-GE code and BalanceBenchmark. (None, nan) when the history has no test_acc."""
    logged = [h for h in history if h.get("test_acc") is not None]
    if not logged:
        return None, math.nan
    best = max(logged, key=lambda h: h["test_acc"])  # max keeps the first of equals
    return best["epoch"], best["test_acc"]


def test_selection_gap(run) -> float:
    """Test accuracy at the best test epoch minus test accuracy at the val-selected epoch (>= 0: what
    selecting on test adds, its optimism), as a fraction; nan without a logged test_acc."""
    return best_test_epoch(run.history)[1] - run.test["acc"]


def _mean_of(history: list, key: str, upto: int | None = None) -> float:
    values = [h[key] for h in history[:upto] if h.get(key) is not None]
    return sum(values) / len(values) if values else math.nan


def runs_frame(runs: list) -> pd.DataFrame:
    """runs.csv: one row per run (table row, seed). Accuracies are fractions. Columns: label, seed, val_acc and
    test_acc at the val-selected epoch, best_epoch (val-selected, 0-based), epochs (trained), best_epoch_late
    (in the last 20% of the epochs), best_test_epoch and test_acc_at_best_test_epoch (selecting on test, as the
    official OGM-GE code does), test_selection_gap (the latter minus test_acc), the encoders' linear probes
    (probe_<m>_val/test, blank when not probed), and a rho/k summary of the per-epoch history:
    rho_audio_first3 / rho_audio_mean / rho_audio_last (mean over the first 3 epochs, over all epochs, the
    last epoch) and k_audio_mean / k_visual_mean (OGM-GE's and AGM's coefficients, averaged over the epochs
    that logged them: OGM-GE logs k inside its modulation window only)."""
    rows = []
    for r in runs:
        h = r.history
        n = len(h)
        epoch, at_best = best_test_epoch(h)
        row = {"label": r.label, "seed": r.seed, "val_acc": r.val.get("acc"), "test_acc": r.test.get("acc"),
               "best_epoch": r.best_epoch, "epochs": n,
               "best_epoch_late": r.best_epoch is not None and n > 0 and r.best_epoch >= late_from(n),
               "best_test_epoch": epoch, "test_acc_at_best_test_epoch": at_best,
               "test_selection_gap": at_best - r.test["acc"] if epoch is not None else math.nan}
        probe = getattr(r, "probe", None) or {}
        for split in ("val", "test"):
            for m in ("audio", "visual"):
                row[f"probe_{m}_{split}"] = probe.get(split, {}).get(m, math.nan)
        row |= {"rho_audio_first3": _mean_of(h, "rho_audio", EARLY_EPOCHS), "rho_audio_mean": _mean_of(h, "rho_audio"),
                "rho_audio_last": h[-1].get("rho_audio", math.nan) if h else math.nan}
        for k in ("k_audio", "k_visual"):
            if any(k in e for e in h):
                row[f"{k}_mean"] = _mean_of(h, k)
        rows.append(row)
    return pd.DataFrame(rows)


def convergence(frame: pd.DataFrame) -> dict:
    """The convergence check of a runs_frame: {"runs", "late_runs", "late_share" (share of runs whose best val
    epoch lies in the last 20% of their epochs: a high share means the runs were still improving when they
    stopped), "epochs" (trained per run; the largest), "best_epoch_counts" ({epoch: runs}); where the runs
    trained different lengths (each judged against its own), also "epochs_min" (the shortest)}."""
    counts = frame["best_epoch"].value_counts().sort_index()
    late = int(frame["best_epoch_late"].sum())
    out = {"runs": len(frame), "late_runs": late, "late_share": round(late / len(frame), 4) if len(frame) else 0.0,
           "epochs": int(frame["epochs"].max()), "best_epoch_counts": {int(k): int(v) for k, v in counts.items()}}
    if len(frame) and frame["epochs"].nunique() > 1:
        out["epochs_min"] = int(frame["epochs"].min())
    return out


def convergence_sentence(c: dict) -> str:
    """The findings line of the convergence check."""
    counts = ", ".join(f"{e}: {n}" for e, n in c["best_epoch_counts"].items())
    # a late best epoch is a rise cut short or the noisy maximum of a flat curve: the late share alone cannot
    # tell which, so the line says so and leaves the reading to reports/convergence's plateau check
    verdict = ("most runs picked an epoch that late: still improving, or the noisy maximum of a flat curve "
               "(reports/convergence's plateau check reads which)"
               if c["late_share"] > 0.5 else "most runs peaked on val before the last epochs")
    if "epochs_min" in c:  # runs of different lengths, each judged against its own
        window = (f"the last 20% of their epochs ({c['epochs_min']}-{c['epochs']} epochs: epoch "
                  f"{late_from(c['epochs_min'])}-{late_from(c['epochs'])} or later)")
    else:
        window = f"the last 20% of the {c['epochs']} epochs (epoch {late_from(c['epochs'])} or later)"
    return (f"Convergence check: {c['late_runs']} of {c['runs']} runs ({100 * c['late_share']:.0f}%) have their "
            f"best val epoch in {window}; {verdict}. Best val epoch (0-based): runs — {counts} (runs.csv).")


def write_runs(runs: list, out_dir) -> pd.DataFrame:
    """runs_frame(runs), written to <out_dir>/runs.csv (atomically); returned for the notebook to show."""
    frame = runs_frame(runs)
    atomic_write_text(Path(out_dir) / "runs.csv", frame.to_csv(index=False))
    return frame


# --- the field's protocol (best TEST epoch) beside ours, and Holm over a table's comparisons -------------

TEST_SELECTED = "test acc at best TEST epoch"  # the table columns of the optimism of test selection
OPTIMISM = "optimism of test selection (points)"


def optimism_cells(group: list) -> dict:
    """Table cells of one row's runs: the test accuracy at each run's best TEST epoch (what the official
    OGM-GE code and BalanceBenchmark report) and its gap over ours (test at the val-selected epoch), mean ±
    95% t-interval over seeds in points; blank without per-epoch test accuracies."""
    best = [best_test_epoch(r.history)[1] for r in group]
    if any(math.isnan(b) for b in best):
        return {TEST_SELECTED: "", OPTIMISM: ""}
    gaps = [b - r.test["acc"] for b, r in zip(best, group, strict=True)]
    return {TEST_SELECTED: format_ci(best), OPTIMISM: format_ci(gaps)}


def optimism_metrics(group: list) -> dict:
    """metrics.json entries of `optimism_cells`, in percent (none without per-epoch test accuracies)."""
    best = [best_test_epoch(r.history)[1] for r in group]
    if any(math.isnan(b) for b in best):
        return {}
    gaps = [100 * (b - r.test["acc"]) for b, r in zip(best, group, strict=True)]
    return {"acc_best_test_epoch": round(mean_ci([100 * b for b in best])[0], 4),
            "test_selection_gap": round(mean_ci(gaps)[0], 4)}


def optimism_sentence(groups: dict, name=lambda label: label) -> str:
    """A findings line: how much selecting the epoch on test adds to each row (rows of `groups`)."""
    gaps = {label: [test_selection_gap(r) for r in group] for label, group in groups.items()}
    gaps = {k: 100 * sum(v) / len(v) for k, v in gaps.items() if v and not any(math.isnan(x) for x in v)}
    if not gaps:
        return "Selection on test: no per-epoch test accuracy was logged."
    top = max(gaps, key=gaps.get)
    return (f"Selecting the epoch on TEST, as the official OGM-GE code and BalanceBenchmark do, would report "
            f"{sum(gaps.values()) / len(gaps):.1f} points more on average over the {len(gaps)} rows (from "
            f"{min(gaps.values()):.1f} to {gaps[top]:.1f}, largest for {name(top)}): that is the optimism of "
            "test selection; our numbers are at the epoch selected on val (columns "
            f"'{TEST_SELECTED}' and '{OPTIMISM}', runs.csv).")


def holm_family(deltas: dict) -> dict:
    """{label: Holm-adjusted p} over the family `deltas` ({label: Paired}), every comparison of one table."""
    labels = list(deltas)
    return dict(zip(labels, holm([deltas[k].p for k in labels]), strict=True))


def resolved(d, adjusted, alpha: float = 0.05) -> bool:
    """Resolved: the Holm-adjusted p of the paired difference `d` is below `alpha`."""
    return adjusted is not None and adjusted < alpha and d.mean != 0
