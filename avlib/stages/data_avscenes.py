"""Stage `data_avscenes`: generate AV-Scenes (embedded MUSIC-AVQA-like data), summarise its splits and draw example
scenes. Whether each question needs the modality its type names is `premise_avscenes`'s check."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import Float, Int, Schema, Str
from avlib.data.embedded.avscenes.media import SEGMENTS, render_frames
from avlib.data.embedded.avscenes.scenes import AVScenesConfig

PART = ("avqa", 6)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avscenes",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    questions_per_video=Int(min=1), map_size=Int(min=1, max=14),
    p_solo=Float(min=0, max=1), p_offscreen=Float(min=0, max=1), p_dubbed=Float(min=0, max=1),
    p_silent=Float(min=0, max=1), p_always=Float(min=0, max=1), p_double=Float(min=0, max=1),
    p_stagger=Float(min=0, max=1),
)
SMOKE = {"n_train": 30, "n_val": 10, "n_test": 10, "questions_per_video": 6}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["questions/*"]  # the generator's time is in timing.json


def smoke(p):
    """A smoke run generates a few dozen scenes (seconds)."""
    for key, value in SMOKE.items():
        setattr(p, key, value)
    return p


def config(p) -> AVScenesConfig:
    return AVScenesConfig(seed=p.seed, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test,
                          questions_per_video=p.questions_per_video, map_size=p.map_size, p_solo=p.p_solo,
                          p_offscreen=p.p_offscreen, p_dubbed=p.p_dubbed, p_silent=p.p_silent,
                          p_always=p.p_always, p_double=p.p_double, p_stagger=p.p_stagger)


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


def findings(meta: dict) -> str:
    lines = ["# AV-Scenes: generated data", "",
             f"Generated {sum(meta['sizes'].values())} videos ({meta['sizes']}) and "
             f"{sum(meta['questions'].values())} questions ({meta['questions']}); visual maps "
             f"512 x {meta['config']['map_size']} x {meta['config']['map_size']} (real MUSIC-AVQA: 14 x 14).", ""]
    short = {s: v for s, v in meta["shortfall"].items() if v}
    lines.append(f"Template quotas not met (scenes could not carry them): {short}." if short
                 else "Every template quota of the real test-count proportions was met.")
    lines += ["", "Whether each question needs the modality its type names is checked by `premise_avscenes` (the "
                  "modality check), on probes fit to a pool of extra scenes from this generator."]
    return "\n".join(lines) + "\n"
