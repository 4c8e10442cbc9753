"""Result tables: our runs, aggregated over seeds, beside the paper's numbers.

A table row is a `RunSpec` label; its runs (one per seed) give mean ± 95% CI. The paper's value comes
from avlib/reference and sits in a column named `paper (<dataset>)`, never mixed with ours.
"""

import pandas as pd

from avlib.metrics import mean_ci
from avlib.report import format_ci, ours_column, paper_column

METHOD_NAMES = {"audio_only": "Audio-only", "visual_only": "Visual-only", "baseline": "Baseline",
                "concat": "Concatenation", "sum": "Summation", "film": "FiLM", "gated": "Gated"}


def group_runs(runs: list) -> dict:
    """{label: [RunResult, ...]} in first-seen order."""
    groups = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    return groups


def describe_ogm(ogm) -> str:
    return "" if ogm is None else f"α={ogm.alpha:g}, epochs {ogm.start_epoch}–{ogm.end_epoch - 1}"


def fusion_table(runs: list, *, dataset: str, reference: pd.DataFrame, paper_dataset: str = "cremad",
                 paper_prefix: str = "cremad") -> pd.DataFrame:
    """OGM-GE Table 1 layout: method, OGM-GE, ours acc/mAP, paper acc/mAP, encoders' linear probes."""
    rows = []
    for group in group_runs(runs).values():
        first = group[0]
        paper = reference[(reference["method"] == first.kind) & (reference["ogm_ge"] == (first.ogm is not None))]
        probe = {m: [r.probe["test"][m] for r in group if m in r.probe["test"]] for m in ("audio", "visual")}
        rows.append({
            "method": METHOD_NAMES[first.kind] + ("†" if first.ogm else ""),
            "OGM-GE": describe_ogm(first.ogm),
            ours_column(dataset, "acc"): format_ci([r.fit.test["acc"] for r in group]),
            ours_column(dataset, "mAP"): format_ci([r.fit.test["map"] for r in group]),
            paper_column(paper_dataset, "acc"): paper[f"{paper_prefix}_acc"].iloc[0] if len(paper) else None,
            paper_column(paper_dataset, "mAP"): paper[f"{paper_prefix}_map"].iloc[0] if len(paper) else None,
            "audio encoder probe": format_ci(probe["audio"]) if probe["audio"] else "",
            "visual encoder probe": format_ci(probe["visual"]) if probe["visual"] else "",
        })
    return pd.DataFrame(rows)


def run_metrics(runs: list) -> dict:
    """DVC metrics: {label: {acc, acc_ci95, map, map_ci95, <m>_probe}} in percent, from test."""
    out = {}
    for label, group in group_runs(runs).items():
        entry = {}
        for key, values in (("acc", [r.fit.test["acc"] for r in group]), ("map", [r.fit.test["map"] for r in group])):
            mean, half = mean_ci([v * 100 for v in values])
            entry[key], entry[f"{key}_ci95"] = round(mean, 4), round(half, 4)
        for m in ("audio", "visual"):
            values = [r.probe["test"][m] * 100 for r in group if m in r.probe["test"]]
            if values:
                entry[f"{m}_probe"] = round(mean_ci(values)[0], 4)
        out[label] = entry
    return out


def history_frame(runs: list) -> pd.DataFrame:
    """Per-epoch logs of every run, long format (label, seed, epoch, loss, rho_audio, k_*, val_*)."""
    return pd.DataFrame([{"label": r.label, "seed": r.seed, **h} for r in runs for h in r.fit.history])
