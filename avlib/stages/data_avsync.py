"""Stage `data_avsync`: generate AV-Sync (avlib/data/avsync.py), summarise its splits, draw example clips."""

import matplotlib.pyplot as plt
import pandas as pd

from avlib.core.params import Decibels, Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avsync import AVSyncConfig

PART = ("avts", 3)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avsync",
    root=Str(), seed=Int(min=0), n_train=Int(min=2), n_val=Int(min=2), n_test=Int(min=2),
    clip_frames=Int(min=4), events_per_clip=Int(min=1), show_frames=Int(min=1), min_gap_frames=Int(min=1),
    visual_noise_std=Float(min=0), snr_db=Decibels(), voice_split=ListOf(Float(min=0, max=1), min_len=2, unique=False),
)

SMOKE_SIZES = {"n_train": 24, "n_val": 12, "n_test": 12}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["clips/*"]


def smoke(p):
    for key, value in SMOKE_SIZES.items():
        setattr(p, key, value)
    return p


def config(p) -> AVSyncConfig:
    return AVSyncConfig(seed=p.seed, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test, clip_frames=p.clip_frames,
                        events_per_clip=p.events_per_clip, show_frames=p.show_frames,
                        min_gap_frames=p.min_gap_frames, visual_noise_std=p.visual_noise_std, snr_db=p.snr_db,
                        voice_split=tuple(p.voice_split))


def splits_table(data: dict, cfg: AVSyncConfig) -> pd.DataFrame:
    return pd.DataFrame([{"split": s, "clips": len(d), "speaker voices": len(set(d.voice)),
                          "events per clip": d.onsets.shape[1], "seconds per clip": d.clip_frames / cfg.fps,
                          "video shape": tuple(d.video.shape[1:]), "log-mel shape": tuple(d.audio.shape[1:])}
                         for s, d in data.items()])


def examples_figure(split, cfg: AVSyncConfig, n: int = 3):
    """n training clips: every video frame (a strip) above the log-mel, event onsets marked in both."""
    fig, axes = plt.subplots(2 * n, 1, figsize=(12, 2.2 * n))
    for i in range(n):
        strip = split.video[i].permute(1, 0, 2).reshape(split.video.shape[2], -1)  # (S, T*S)
        axes[2 * i].imshow(strip, cmap="gray", aspect="auto")
        axes[2 * i].set_title(f"clip {i}: digit {int(split.label[i])}, {split.voice[i].removeprefix('en+')}",
                              fontsize=8)
        axes[2 * i + 1].imshow(split.audio[i], origin="lower", aspect="auto", cmap="magma")
        for onset in split.onsets[i].tolist():
            axes[2 * i].axvline(onset * split.video.shape[2] - 0.5, color="tab:cyan", lw=1)
            axes[2 * i + 1].axvline(onset * split.mel_per_frame - 0.5, color="tab:cyan", lw=1)
        for ax in axes[2 * i : 2 * i + 2]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"AV-Sync training clips ({cfg.clip_frames / cfg.fps:.0f} s, {cfg.fps} fps; cyan: event onsets)")
    fig.tight_layout()
    return fig
