"""Stage `data_avscenes`: generate AV-Scenes (embedded MUSIC-AVQA-like data), summarise its splits, draw example
scenes, and check that each question needs the modality its type names (avlib/data/embedded/avscenes/probe.py)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avscenes.media import SEGMENTS, render_frames
from avlib.data.embedded.avscenes.probe import VIEWS, split_heldout
from avlib.data.embedded.avscenes.scenes import AVScenesConfig

PART = ("avqa", 6)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avscenes",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    questions_per_video=Int(min=1), map_size=Int(min=1, max=14),
    p_solo=Float(min=0, max=1), p_offscreen=Float(min=0, max=1), p_dubbed=Float(min=0, max=1),
    p_silent=Float(min=0, max=1), p_always=Float(min=0, max=1), p_double=Float(min=0, max=1),
    p_stagger=Float(min=0, max=1),
    probe_seeds=ListOf(Int(min=0)), probe_heldout=Float(min=0.01, max=0.5), probe_split_seed=Int(min=0),
    probe_hidden=ListOf(Int(min=1)), probe_weight_decay=ListOf(Float(min=0)), probe_lr=Float(positive=True),
    probe_batch=Int(min=1), probe_epochs=Int(min=1), probe_patience=Int(min=1), probe_max_gap=Float(min=0, max=1),
    margin=Float(min=0, max=1), workers=Int(min=0),
)
SMOKE = {"n_train": 30, "n_val": 10, "n_test": 10, "questions_per_video": 6, "probe_epochs": 2, "probe_seeds": [0]}
PARTS = (("train", "train "), ("held-out", "heldout "), ("val", ""))  # (label, key prefix) of the probes' scores
GROUPS = ("Audio", "Visual", "Audio-Visual")
VIEW_NAMES = {"question": "question only", "audio": "question + heard", "visual": "question + seen",
              "audio-visual": "question + heard + seen"}
RIGHT_VIEW = {"Audio": "audio", "Visual": "visual", "Audio-Visual": "audio-visual"}
WRONG_VIEWS = {"Audio": ("question", "visual"), "Visual": ("question", "audio"),
               "Audio-Visual": ("question", "audio", "visual")}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["modality_check/*/gap", "generalization/*/gap"]  # the generator's time is in timing.json


def smoke(p):
    """A smoke run generates a few dozen scenes and trains the probes for two epochs (seconds)."""
    for key, value in SMOKE.items():
        setattr(p, key, value)
    return p


def config(p) -> AVScenesConfig:
    return AVScenesConfig(seed=p.seed, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test,
                          questions_per_video=p.questions_per_video, map_size=p.map_size, p_solo=p.p_solo,
                          p_offscreen=p.p_offscreen, p_dubbed=p.p_dubbed, p_silent=p.p_silent,
                          p_always=p.p_always, p_double=p.p_double, p_stagger=p.p_stagger)


def probe_jobs(p) -> list:
    """The selection grid: every view x hidden width x weight decay x probe seed (train_modality_probe)."""
    return [{"view": v, "seed": s, "hidden": h, "weight_decay": wd, "lr": p.probe_lr, "batch": p.probe_batch,
             "epochs": p.probe_epochs, "patience": p.probe_patience, "max_gap": p.probe_max_gap}
            for s in p.probe_seeds for v in VIEWS for h in p.probe_hidden for wd in p.probe_weight_decay]


def probe_records(data: dict, p) -> dict:
    """{"fit", "heldout", "eval"}: the train split's questions parted by video (probe_heldout of its videos held
    out, drawn by probe_split_seed), and val's."""
    fit, heldout = split_heldout(data["train"].records, p.probe_heldout, p.probe_split_seed)
    return {"fit": fit, "heldout": heldout, "eval": data["val"].records}


def splits_table(data: dict, scenes: dict) -> pd.DataFrame:
    rows = []
    for split, d in data.items():
        ids = set(d.video_ids)
        n_seen = [sum(s["visible"] for s in scenes[v]["sources"]) for v in ids]
        rows.append({"split": split, "videos": len(ids), "questions": len(d),
                     "solo videos": sum(n == 1 for n in n_seen), "ensemble videos": sum(n > 1 for n in n_seen),
                     "with off-screen sound": sum(any(not s["visible"] and any(s["mask"])
                                                      for s in scenes[v]["sources"]) for v in ids),
                     "answers": len(set(d.label.tolist())), "audio shape": tuple(d.audio_feats.shape[1:]),
                     "visual shape": tuple(d.visual_feats.shape[1:])})
    return pd.DataFrame(rows)


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


def examples_figure(scenes: dict, video_ids: list, map_size: int, seed: int):
    """A frame of each of a few scenes (re-rendered), with what each instrument does over the 10 segments."""
    fig, axes = plt.subplots(2, len(video_ids), figsize=(3 * len(video_ids), 5.2),
                             gridspec_kw={"height_ratios": [3, 2]})
    for col, vid in enumerate(video_ids):
        scene = scenes[vid]
        frame = render_frames(scene, 16 * map_size, np.random.default_rng([seed, int(vid)]))[0]
        axes[0, col].imshow(np.clip(frame.transpose(1, 2, 0), 0, 1))
        axes[0, col].set_title(f"video {vid} ({scene['venue']})", fontsize=8)
        masks = np.array([s["mask"] for s in scene["sources"]])
        axes[1, col].imshow(masks, aspect="auto", cmap="Greens", vmin=0, vmax=1)
        labels = [f"{s['name']} ({s['region'] or 'off-screen'}, {s['gain_db']:.0f} dB, {s['rate']}/s)"
                  for s in scene["sources"]]
        axes[1, col].set_yticks(range(len(labels)), labels, fontsize=6)
        axes[1, col].set_xticks(range(SEGMENTS))
        axes[1, col].set_xlabel("segment (1 s)", fontsize=7)
        axes[0, col].set_xticks([])
        axes[0, col].set_yticks([])
    fig.suptitle("AV-Scenes: a rendered frame and when each instrument sounds (green)")
    fig.tight_layout()
    return fig


def findings(meta: dict, verdict: dict, margin: float, general: dict, max_gap: float, heldout: float) -> str:
    lines = ["# AV-Scenes: generated data and the modality check", "",
             f"Generated {sum(meta['sizes'].values())} videos ({meta['sizes']}) and "
             f"{sum(meta['questions'].values())} questions ({meta['questions']}); visual maps "
             f"512 x {meta['config']['map_size']} x {meta['config']['map_size']} (real MUSIC-AVQA: 14 x 14).", ""]
    short = {s: v for s, v in meta["shortfall"].items() if v}
    lines.append(f"Template quotas not met (scenes could not carry them): {short}." if short
                 else "Every template quota of the real test-count proportions was met.")
    lines += ["", "## The modality check", "",
              f"Criterion (fixed before the run): a probe **generalizes** when its train − val accuracy over all "
              f"questions is <= {100 * max_gap:.0f} points (train = the part it is fit on); a group's verdict is "
              "evidence about the data only when every probe it compares generalizes.", "",
              f"Selection, on the train split only: {100 * heldout:.0f}% of the train videos held out (by video); "
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
