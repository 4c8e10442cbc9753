"""Stage `data_avscenes`: generate AV-Scenes (embedded MUSIC-AVQA-like data), summarise its splits, draw example
scenes, and check that each question needs the modality its type names (avlib/data/embedded/avscenes/probe.py)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avscenes.media import SEGMENTS, render_frames
from avlib.data.embedded.avscenes.probe import VIEWS
from avlib.data.embedded.avscenes.scenes import AVScenesConfig

PART = ("avqa", 6)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avscenes",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    questions_per_video=Int(min=1), map_size=Int(min=1, max=14),
    p_solo=Float(min=0, max=1), p_offscreen=Float(min=0, max=1), p_dubbed=Float(min=0, max=1),
    p_silent=Float(min=0, max=1), p_always=Float(min=0, max=1), p_double=Float(min=0, max=1),
    p_stagger=Float(min=0, max=1),
    probe_seeds=ListOf(Int(min=0)), probe_epochs=Int(min=1), probe_hidden=Int(min=1), probe_lr=Float(positive=True),
    margin=Float(min=0, max=1), workers=Int(min=0),
)
SMOKE = {"n_train": 30, "n_val": 10, "n_test": 10, "questions_per_video": 6, "probe_epochs": 2, "probe_seeds": [0]}
GROUPS = ("Audio", "Visual", "Audio-Visual")
VIEW_NAMES = {"question": "question only", "audio": "question + heard", "visual": "question + seen",
              "audio-visual": "question + heard + seen"}
RIGHT_VIEW = {"Audio": "audio", "Visual": "visual", "Audio-Visual": "audio-visual"}
WRONG_VIEWS = {"Audio": ("question", "visual"), "Visual": ("question", "audio"),
               "Audio-Visual": ("question", "audio", "visual")}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["modality_check/*/gap"]  # the generator's time is in timing.json, not a result


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
    return [{"view": v, "seed": s, "epochs": p.probe_epochs, "hidden": p.probe_hidden, "lr": p.probe_lr}
            for s in p.probe_seeds for v in VIEWS]


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


def probe_table(results: list) -> pd.DataFrame:
    """Val accuracy (%) per view and question group, mean ± 95% CI over seeds, and the same probe's train
    accuracy beside it (a probe far better on train than on val memorizes: its val gaps are weak evidence)."""
    rows = []
    for view in VIEWS:
        runs = [r for r in results if r["view"] == view]
        row = {"model": VIEW_NAMES[view]}
        for g in GROUPS:
            for prefix, label in (("", "val"), ("train ", "train")):
                if f"{prefix}{g}" not in runs[0]:
                    continue
                mean, half = mean_ci([100 * r[f"{prefix}{g}"] for r in runs])
                row[f"{g} questions ({label})"] = f"{mean:.1f}" + (f" ± {half:.1f}" if half is not None else "")
        rows.append(row)
    return pd.DataFrame(rows)


def generalization_line(results: list) -> str:
    """How far each probe's val accuracy falls below its train accuracy (overall, mean over seeds)."""
    gaps = {VIEW_NAMES[v]: 100 * float(np.mean([r["train overall"] - r["overall"] for r in results
                                                 if r["view"] == v])) for v in VIEWS}
    worst = max(gaps, key=gaps.get)
    return ("Generalization of the probes (train − val accuracy over all questions): "
            + ", ".join(f"{k} {v:.1f}" for k, v in gaps.items())
            + f" points; the largest, {gaps[worst]:.1f} points ({worst}), bounds how much of a val gap could be "
              "the probe's memorization rather than the data.")


def probe_runs(results: list) -> pd.DataFrame:
    """runs.csv: one row per modality probe (view, seed): its val and train accuracy overall and per group."""
    return pd.DataFrame(results)


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


def findings(meta: dict, verdict: dict, margin: float, results: list | None = None) -> str:
    lines = ["# AV-Scenes: generated data and the modality check", "",
             f"Generated {sum(meta['sizes'].values())} videos ({meta['sizes']}) and "
             f"{sum(meta['questions'].values())} questions ({meta['questions']}); visual maps "
             f"512 x {meta['config']['map_size']} x {meta['config']['map_size']} (real MUSIC-AVQA: 14 x 14).", ""]
    short = {s: v for s, v in meta["shortfall"].items() if v}
    lines.append(f"Template quotas not met (scenes could not carry them): {short}." if short
                 else "Every template quota of the real test-count proportions was met.")
    lines += ["", f"Modality check on val (mean over probe seeds; a group passes when its own view beats every "
                  f"wrong view by >= {100 * margin:.0f} points):"]
    for g, v in verdict.items():
        lines.append(f"- {g} questions: own view {100 * v['right']:.1f}%, best wrong view {100 * v['best wrong']:.1f}% "
                     f"(gap {100 * v['gap']:.1f} points): {'passes' if v['ok'] else 'FAILS'}.")
    if results and "train overall" in results[0]:
        lines += ["", generalization_line(results)]
    return "\n".join(lines) + "\n"
