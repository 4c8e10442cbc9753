"""Stage `convergence`: did the training stages' runs converge? One table over every stage that logs a
per-epoch val score (its history.csv), with two readings of the same curves:

- the late share (each stage's own check, `avlib.stages.shared.records.late_from`): runs whose best val epoch
  lies in the last 20% of their epochs. A high share can mean two different things: the runs were still
  learning when they stopped, or they reached a plateau and the best epoch fell anywhere on it by noise;
- the plateau check, which tells the two apart: per run, the mean val score over the last 20% of the epochs
  minus its mean over the 20% before, then the mean over runs with a 95% t-interval (points). An interval above
  zero: still learning (more epochs would change the tables); one that holds zero: a plateau, and the late
  picks are noise on it.

Reads files only (seconds); re-runs whenever a training stage writes a new history.csv."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Dict, Float, ListOf, Schema, Str
from avlib.stages.shared.records import late_from

PART = ("checks", 1)  # where the reports site shows it: part of the talk, order within it
SOURCE = Dict(history=Str(), score=Str(), runs=ListOf(Str()))
PARAMS = Schema("convergence", still_learning=Float(min=0), sources=lambda v: _sources(v))

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["stages/*"]  # how many stages converge, plateau or still learn (each stage's gain: metrics.json)


def _sources(value):
    """{stage: {history, score, runs}}: where each stage's per-epoch val score (a fraction) is."""
    if not isinstance(value, dict) or not value:
        raise ValueError("a non-empty mapping stage -> {history: path, score: column, runs: [columns]}")
    out = {}
    for stage, spec in value.items():
        spec = SOURCE(spec)
        if set(spec) != {"history", "score", "runs"}:
            raise ValueError(f"{stage}: expected keys history, score and runs (got {sorted(spec)})")
        out[stage] = spec
    return out


def smoke(p):
    """The table reads files only: a smoke run is the real run."""
    return p


def curves(spec: dict) -> list[np.ndarray]:
    """Each run's val score per epoch (in epoch order, in points: the logged fraction x 100), from a stage's
    history.csv."""
    path = Path(spec["history"])
    if not path.is_file():
        raise FileNotFoundError(f"convergence: {path} not found; expected the stage's per-epoch log (run its stage)")
    h = pd.read_csv(path)
    missing = [c for c in (spec["score"], "epoch", *spec["runs"]) if c not in h.columns]
    if missing:
        raise ValueError(f"convergence: {path} has no column {missing}; expected {spec['score']!r}, 'epoch' and "
                         f"the run columns {spec['runs']} (params.yaml convergence.sources)")
    return [100 * g.sort_values("epoch")[spec["score"]].to_numpy(float)
            for _, g in h.groupby(spec["runs"], sort=False)]


def run_reading(curve: np.ndarray) -> dict:
    """One run: its epochs, best epoch (0-based, first of equals), whether it is late (last 20%), and the
    plateau check's gain (mean over the last 20% of the epochs minus the 20% before; nan under 2 windows)."""
    n = len(curve)
    start = late_from(n)
    width = n - start
    best = int(np.nanargmax(curve))
    gain = float(np.nanmean(curve[start:]) - np.nanmean(curve[start - width:start])) if start >= width else math.nan
    return {"epochs": n, "best_epoch": best, "late": best >= start, "gain": gain}


def stage_reading(stage: str, spec: dict, still_learning: float) -> dict:
    """A stage's row: runs, late runs and share, the mean gain with its 95% half-width, the share of runs whose
    gain exceeds `still_learning` points, and the verdict."""
    runs = [run_reading(c) for c in curves(spec)]
    gains = [r["gain"] for r in runs if not math.isnan(r["gain"])]
    mean, half = mean_ci(gains) if gains else (math.nan, None)
    late = sum(r["late"] for r in runs)
    if half is None:
        verdict = "too few runs to tell"
    elif mean - half > 0:
        verdict = "still learning: the last epochs still raise val"
    else:
        verdict = "plateau: the late picks are noise on it" if late else "plateau"
    lengths = sorted({r["epochs"] for r in runs})  # a stage's networks may train different epochs (each read alone)
    return {"stage": stage, "score": spec["score"], "runs": len(runs), "epochs": lengths[-1],
            "epoch_range": f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}",
            "late_runs": late, "late_share": late / len(runs), "last_gain": mean, "last_gain_ci95": half,
            "rising_share": float(np.mean([g > still_learning for g in gains])) if gains else math.nan,
            "verdict": verdict}


def readings(p) -> list[dict]:
    return [stage_reading(stage, spec, p.still_learning) for stage, spec in p.sources.items()]


def table(rows: list[dict]) -> pd.DataFrame:
    """The report's table, one row per stage."""
    def gain(r):
        half = "" if r["last_gain_ci95"] is None else f" ± {r['last_gain_ci95']:.2f}"
        return f"{r['last_gain']:+.2f}{half}"
    return pd.DataFrame([{"stage": r["stage"], "val score": r["score"], "runs": r["runs"], "epochs": r["epoch_range"],
                          "best epoch in the last 20%": f"{r['late_runs']} ({r['late_share']:.0%})",
                          "val gain, last 20% vs the 20% before (points)": gain(r),
                          "runs still rising": f"{r['rising_share']:.0%}", "verdict": r["verdict"]} for r in rows])


def metrics(rows: list[dict]) -> dict:
    """metrics.json: {stage: {runs, late_share, last_gain, last_gain_ci95, rising_share}} and "stages": how many
    meet the 80% criterion, read as a plateau, and are still learning."""
    def num(x, digits=4):
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, digits)
    out = {r["stage"]: {"runs": r["runs"], "late_share": num(r["late_share"]), "last_gain": num(r["last_gain"]),
                        "last_gain_ci95": num(r["last_gain_ci95"]), "rising_share": num(r["rising_share"])}
           for r in rows}
    out["stages"] = {"read": len(rows), "meet_80_percent": sum(r["late_share"] <= 0.2 for r in rows),
                     "plateau": sum(r["verdict"].startswith("plateau") for r in rows),
                     "still_learning": sum(r["verdict"].startswith("still") for r in rows)}
    return out


def note(p) -> str:
    return ("Per stage, every run of its history.csv (its val score per epoch, in points). Best epoch in the last "
            "20%: each stage's own convergence check (ties: the first epoch). Val gain: per run, the mean val score "
            "over the last 20% of the epochs minus the mean over the 20% before, then the mean over runs ± 95% "
            f"t-interval. Runs still rising: gain above {p.still_learning:g} points. Verdict: 'still learning' when "
            "the interval is above zero; 'plateau' when it holds zero.")


def findings(rows: list[dict]) -> str:
    learning = [r["stage"] for r in rows if r["verdict"].startswith("still")]
    plateau = [r["stage"] for r in rows if r["verdict"].startswith("plateau")]
    late_plateau = [r["stage"] for r in rows if r["verdict"].startswith("plateau") and r["late_share"] > 0.2]
    lines = ["# Convergence across the pipeline", "",
             "Criterion (the issues'): a stage's runs have converged when the best val epoch falls before the last "
             "20% of the epochs in at least 80% of its runs. A late best epoch means either still learning or a "
             "plateau with a noisy maximum; the plateau check (val gain over the last 20% against the 20% before) "
             "tells which.", ""]
    for r in rows:
        half = "" if r["last_gain_ci95"] is None else f" ± {r['last_gain_ci95']:.2f}"
        meets = "meets" if r["late_share"] <= 0.2 else "misses"
        lines.append(f"- {r['stage']}: {r['late_runs']} of {r['runs']} runs late ({r['late_share']:.0%}: {meets} "
                     f"the 80% criterion); val gain over the last 20% {r['last_gain']:+.2f}{half} points "
                     f"({r['rising_share']:.0%} of runs above the still-rising bound): {r['verdict']}.")
    lines += ["", f"Still learning when they stopped (more epochs would change their tables): "
                  f"{', '.join(learning) or 'none'}. On a plateau: {', '.join(plateau) or 'none'}"
                  + (f"; of these, {', '.join(late_plateau)} miss the 80% criterion, but their val curves show no "
                     "rise over the last 20% of the epochs: their late picks read as the noise of a flat curve's "
                     "maximum, not as runs cut short" if late_plateau else "") + "."]
    return "\n".join(lines) + "\n"
