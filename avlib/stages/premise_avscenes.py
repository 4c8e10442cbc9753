"""Stage `premise_avscenes`: does each AV-Scenes question need the modality its type names (issue #28: premise
first)? The modality check (avlib/data/embedded/avscenes/probe.py): small MLPs on the question alone, with what
is heard, with what is seen, or with both (each scene's ground truth), compared per question group on val.

The probes are fit on a POOL of extra scenes (`pool_scenes`), drawn from the same generator and knobs as the data
(data/avscenes/meta.json) on a random stream the data never draws from, with questions asked as the data's are
(`probe_pool`: scenes and questions only, no media; nothing is written to the data). Why a pool: fit on the
train split's 3,768 questions, no probe within the generalization bound learned the Audio-Visual templates (fit
accuracy 55%), so the check measured the probes' sample size, not the data. The pool is parted by scene into fit
and held-out; capacity and epoch are chosen on held-out (as before); val, the data's own split, is read once,
by the chosen probes."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avscenes.probe import VIEWS, probe_pool, split_heldout
from avlib.data.embedded.avscenes.scenes import AVScenesConfig

PART = ("avqa", 7)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "premise_avscenes",
    root=Str(), pool_scenes=Int(min=10),
    probe_seeds=ListOf(Int(min=0)), probe_heldout=Float(min=0.01, max=0.5), probe_split_seed=Int(min=0),
    probe_hidden=ListOf(Int(min=1)), probe_weight_decay=ListOf(Float(min=0)), probe_lr=Float(positive=True),
    probe_batch=Int(min=1), probe_epochs=Int(min=1), probe_patience=Int(min=1), probe_max_gap=Float(min=0, max=1),
    margin=Float(min=0, max=1), workers=Int(min=0),
)
SMOKE = {"pool_scenes": 40, "probe_epochs": 2, "probe_seeds": [0]}
PARTS = (("train", "train "), ("held-out", "heldout "), ("val", ""))  # (label, key prefix) of the probes' scores
GROUPS = ("Audio", "Visual", "Audio-Visual")
VIEW_NAMES = {"question": "question only", "audio": "question + heard", "visual": "question + seen",
              "audio-visual": "question + heard + seen"}
RIGHT_VIEW = {"Audio": "audio", "Visual": "visual", "Audio-Visual": "audio-visual"}
WRONG_VIEWS = {"Audio": ("question", "visual"), "Visual": ("question", "audio"),
               "Audio-Visual": ("question", "audio", "visual")}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["modality_check/*/gap", "generalization/*/gap"]


def smoke(p):
    """A smoke run fits the probes on a few dozen pool scenes for two epochs (seconds)."""
    for key, value in SMOKE.items():
        setattr(p, key, value)
    return p


def data_config(root) -> AVScenesConfig:
    """The generator knobs the data under `root` was made with (its meta.json): the pool is drawn with the same."""
    return AVScenesConfig(**json.loads((Path(root) / "meta.json").read_text())["config"])


def pool(p) -> tuple[list, dict]:
    """`probe_pool` at the data's knobs (its meta.json): `pool_scenes` scenes and their questions."""
    return probe_pool(data_config(p.root), p.pool_scenes)


def probe_jobs(p) -> list:
    """The selection grid: every view x hidden width x weight decay x probe seed (train_modality_probe)."""
    return [{"view": v, "seed": s, "hidden": h, "weight_decay": wd, "lr": p.probe_lr, "batch": p.probe_batch,
             "epochs": p.probe_epochs, "patience": p.probe_patience, "max_gap": p.probe_max_gap}
            for s in p.probe_seeds for v in VIEWS for h in p.probe_hidden for wd in p.probe_weight_decay]


def probe_records(pool: list, val: list, p) -> dict:
    """{"fit", "heldout", "eval"}: the pool's questions parted by scene (probe_heldout of its scenes held out,
    drawn by probe_split_seed), and val's (the data's split)."""
    fit, heldout = split_heldout(pool, p.probe_heldout, p.probe_split_seed)
    return {"fit": fit, "heldout": heldout, "eval": val}


def _cell(values: list) -> str:
    mean, half = mean_ci([100 * v for v in values])
    return f"{mean:.1f}" + (f" ± {half:.1f}" if half is not None else "")


def probe_table(results: list) -> pd.DataFrame:
    """Accuracy (%) of the chosen probes per view, part (train = the fit part, held-out, val) and question
    group, mean ± 95% CI over probe seeds."""
    rows = []
    for view in VIEWS:
        runs = [r for r in results if r["view"] == view]
        for label, prefix in PARTS:
            row = {"model": VIEW_NAMES[view], "part": label}
            for g in GROUPS:
                row[f"{g} questions"] = _cell([r[f"{prefix}{g}"] for r in runs])
            row["all questions"] = _cell([r[f"{prefix}overall"] for r in runs])
            rows.append(row)
    return pd.DataFrame(rows)


def generalization(results: list, choice: dict, max_gap: float) -> dict:
    """{view: {"hidden", "weight_decay", "train", "heldout", "val", "gap", "generalizes"}}: the chosen setting and
    its accuracy over all questions (mean over seeds); gap = train (fit part) - val, and the probe generalizes
    when gap <= max_gap (the criterion, fixed before the run)."""
    out = {}
    for view in VIEWS:
        runs = [r for r in results if r["view"] == view]
        acc = {name: float(np.mean([r[f"{prefix}overall"] for r in runs])) for name, prefix in
               (("train", "train "), ("heldout", "heldout "), ("val", ""))}
        gap = acc["train"] - acc["val"]
        out[view] = {"hidden": choice[view]["hidden"], "weight_decay": choice[view]["weight_decay"], **acc,
                     "gap": gap, "generalizes": bool(gap <= max_gap)}
    return out


def choice_table(grid: list, choice: dict, general: dict) -> pd.DataFrame:
    """Per view: the held-out accuracy (%, mean over seeds, at each probe's kept epoch) of every grid setting
    (choose_probes; "*": its probes memorize on held-out, fit - held-out > probe_max_gap: not eligible), the setting
    chosen on it, the epochs kept, and the chosen probes' train - val gap and whether it is within the bound."""
    rows = []
    for view in VIEWS:
        runs = [r for r in grid if r["view"] == view]
        row = {"model": VIEW_NAMES[view]}
        for (h, wd), summary in choice[view]["grid"].items():
            row[f"held-out, hidden {h}, wd {wd:g}"] = f"{100 * summary['heldout']:.1f}" + ("" if summary["eligible"]
                                                                                          else "*")
        c, g = choice[view], general[view]
        chosen = [r for r in runs if (r["hidden"], r["weight_decay"]) == (c["hidden"], c["weight_decay"])]
        row |= {"chosen": f"hidden {c['hidden']}, wd {c['weight_decay']:g}",
                "epoch kept (per seed)": ", ".join(str(r["epoch"]) for r in chosen),
                "train − val (points)": f"{100 * g['gap']:.1f}", "generalizes": "yes" if g["generalizes"] else "NO"}
        rows.append(row)
    return pd.DataFrame(rows)


def probe_runs(grid: list, results: list) -> pd.DataFrame:
    """runs.csv: one row per probe of the selection grid (view, seed, hidden, weight decay): its kept epoch and
    train (fit) / held-out accuracy overall and per group; the chosen ones also their val accuracy (unprefixed
    keys), the others none (val is read by the chosen probes only)."""
    val = {(r["view"], r["seed"]): r for r in results}
    rows = []
    for r in grid:
        row = {k: v for k, v in r.items() if k != "state"}
        chosen = val.get((r["view"], r["seed"]))
        row["chosen"] = chosen is not None and (chosen["hidden"], chosen["weight_decay"]) == (r["hidden"],
                                                                                             r["weight_decay"])
        if row["chosen"]:
            row |= {k: v for k, v in chosen.items() if k not in row}
        rows.append(row)
    return pd.DataFrame(rows)


def probe_verdict(results: list, margin: float) -> dict:
    """{group: {"right", "best wrong", "gap", "ok"}}: the right view's mean accuracy beats every wrong view's
    by at least `margin` (a fraction)."""
    mean = {(v, g): float(np.mean([r[g] for r in results if r["view"] == v])) for v in VIEWS for g in GROUPS}
    out = {}
    for g in GROUPS:
        right = mean[(RIGHT_VIEW[g], g)]
        wrong = max(mean[(v, g)] for v in WRONG_VIEWS[g])
        out[g] = {"right": right, "best wrong": wrong, "gap": right - wrong, "ok": right - wrong >= margin}
    return out


def findings(pool: dict, verdict: dict, margin: float, general: dict, max_gap: float, heldout: float) -> str:
    """`pool`: {"scenes", "questions", "val questions"} (their counts)."""
    lines = ["# AV-Scenes: does each question need the modality its type names? (the modality check)", "",
             f"The probes are fit on a pool of {pool['scenes']} extra scenes ({pool['questions']} questions) drawn "
             "from the data's generator and knobs on a stream the data never draws from (no media, nothing written "
             f"to the data); the verdict is read on the data's val split ({pool['val questions']} questions). On "
             "the train split alone (3,768 questions) no probe within the bound learned the Audio-Visual templates.",
             "",
              f"Criterion (fixed before the run): a probe **generalizes** when its train − val accuracy over all "
              f"questions is <= {100 * max_gap:.0f} points (train = the part it is fit on); a group's verdict is "
              "evidence about the data only when every probe it compares generalizes.", "",
              f"Selection, on the pool only: {100 * heldout:.0f}% of the pool's scenes held out (by scene); "
              "each probe is fit on the rest and keeps the epoch with the best held-out accuracy among those whose "
              f"fit − held-out gap is <= {100 * max_gap:.0f} points; per view, the hidden width x weight decay with "
              "the best held-out accuracy among the settings within that bound (`probe_choice.md`). Val is read "
              "once, by the chosen probes.", ""]
    for view, g in general.items():
        lines.append(f"- {VIEW_NAMES[view]} (hidden {g['hidden']}, weight decay {g['weight_decay']:g}): train "
                     f"{100 * g['train']:.1f}%, held-out {100 * g['heldout']:.1f}%, val {100 * g['val']:.1f}%; "
                     f"train − val {100 * g['gap']:.1f} points: "
                     + ("generalizes." if g["generalizes"] else "does NOT generalize."))
    lines += ["", f"Verdict on val (mean over probe seeds; a group passes when its own view beats every wrong view "
                  f"by >= {100 * margin:.0f} points):"]
    for grp, v in verdict.items():
        memorizing = [VIEW_NAMES[w] for w in (RIGHT_VIEW[grp], *WRONG_VIEWS[grp]) if not general[w]["generalizes"]]
        lines.append(f"- {grp} questions: own view {100 * v['right']:.1f}%, best wrong view "
                     f"{100 * v['best wrong']:.1f}% (gap {100 * v['gap']:.1f} points): "
                     f"{'passes' if v['ok'] else 'FAILS'}"
                     + (f" (not evidence: {', '.join(memorizing)} does not generalize)." if memorizing else "."))
    return "\n".join(lines) + "\n"
