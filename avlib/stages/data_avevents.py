"""Stage `data_avevents`: generate AV-Events, summarise its splits, draw example clips."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import Decibels, Float, Int, Schema, Str
from avlib.data.embedded.avevents import SPLITS, AVEventsConfig

PART = ("ogmge", 9)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avevents",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    n_classes=Int(min=2, max=10), min_event=Int(min=1, max=10), max_event=Int(min=1, max=10),
    p_audio_only=Float(min=0, max=1), p_visual_only=Float(min=0, max=1),
    snr_db=Decibels(), snr_jitter_db=Decibels(jitter=True),
    pitch_jitter=Float(min=0, max=0.49), visual_noise_std=Float(min=0), extractor_seed=Int(min=0),
)

SMOKE_SIZES = {"n_train": 24, "n_val": 12, "n_test": 12}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/clips", "*/event_fraction"]


def smoke(p):
    """A smoke run generates a few dozen clips (seconds)."""
    for key, value in SMOKE_SIZES.items():
        setattr(p, key, value)
    return p


def config(p) -> AVEventsConfig:
    keys = ("seed", "n_train", "n_val", "n_test", "n_classes", "min_event", "max_event", "p_audio_only",
            "p_visual_only", "snr_db", "snr_jitter_db", "pitch_jitter", "visual_noise_std", "extractor_seed")
    return AVEventsConfig(**{k: getattr(p, k) for k in keys})


def splits_table(root, data: dict) -> pd.DataFrame:
    """Per split: clips, and the fraction of segments of each kind (event, audio-only, visual-only, silence)."""
    masks = np.load(Path(root) / "segments.npz")
    rows = []
    for s in SPLITS:
        audible, visible = masks[f"{s}_audible"], masks[f"{s}_visible"]
        rows.append({"split": s, "clips": len(data[s]), "segments": audible.size,
                     "event": (audible & visible).mean(), "audio-only": (audible & ~visible).mean(),
                     "visual-only": (~audible & visible).mean(), "silence": (~audible & ~visible).mean(),
                     "audio shape": tuple(data[s].audio.shape[1:]), "visual shape": tuple(data[s].visual.shape[1:]),
                     "visual dtype": str(data[s].visual.dtype).removeprefix("torch.")})
    return pd.DataFrame(rows).round(3)


def split_metrics(table: pd.DataFrame) -> dict:
    return {r["split"]: {"clips": int(r["clips"]), "event_fraction": float(r["event"])} for _, r in table.iterrows()}


def examples_figure(root, dataset, n_classes: int, n: int = 4):
    """n training clips: each segment's rendered frame (top) and log-mel (bottom), its label above."""
    masks = np.load(Path(root) / "segments.npz")
    frames, logmel = masks["example_frames"], masks["example_logmel"]
    n = min(n, len(frames))
    fig, axes = plt.subplots(2 * n, 10, figsize=(12, 2.4 * n), squeeze=False)
    for i in range(n):
        for t in range(10):
            label = int(dataset.label[i, t])
            ax_v, ax_a = axes[2 * i, t], axes[2 * i + 1, t]
            ax_v.imshow(frames[i, t], cmap="gray")
            ax_v.set_title("bg" if label == n_classes - 1 else f"event {label}", fontsize=7,
                           color="black" if label == n_classes - 1 else "tab:red")
            ax_a.imshow(logmel[i, t], origin="lower", aspect="auto", cmap="magma")
            for ax in (ax_v, ax_a):
                ax.set_xticks([])
                ax.set_yticks([])
        axes[2 * i, 0].set_ylabel(f"clip {i}\nframe", fontsize=7)
        axes[2 * i + 1, 0].set_ylabel("log-mel", fontsize=7)
    fig.suptitle("AV-Events training clips: 10 one-second segments, event = heard AND seen (red)")
    fig.tight_layout()
    return fig


def classes_json(meta: dict) -> str:
    """Each class's sound (F0, AM rate) and the label count, as JSON text."""
    import json

    return json.dumps({k: meta[k] for k in ("n_labels", "class_f0_hz", "class_am_hz")}, indent=2) + "\n"
