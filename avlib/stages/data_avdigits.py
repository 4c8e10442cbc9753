"""Stage `data_avdigits`: generate AV-Digits, summarise its splits, draw example samples."""

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import soundfile

from avlib.core.params import Decibels, Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avdigits import AVDigitsConfig

PART = ("ogmge", 7)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avdigits",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    visual_blur_sigma=Float(min=0), visual_occlusion=Int(min=0, max=28), visual_noise_std=Float(min=0),
    snr_db=Decibels(), snr_jitter_db=Decibels(jitter=True),
    voice_split=ListOf(Float(min=0, max=1), min_len=2, unique=False),
)

SMOKE_SIZES = {"n_train": 40, "n_val": 20, "n_test": 20}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["samples/*"]


def smoke(p):
    """A smoke run generates a few dozen samples (seconds)."""
    for key, value in SMOKE_SIZES.items():
        setattr(p, key, value)
    return p


def config(p) -> AVDigitsConfig:
    return AVDigitsConfig(seed=p.seed, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test,
                          visual_blur_sigma=p.visual_blur_sigma, visual_occlusion=p.visual_occlusion,
                          visual_noise_std=p.visual_noise_std, snr_db=p.snr_db, snr_jitter_db=p.snr_jitter_db,
                          voice_split=tuple(p.voice_split))


def splits_table(data: dict) -> pd.DataFrame:
    return pd.DataFrame([{"split": s, "samples": len(d), "speaker voices": len(set(d.voice)),
                          "speaker pool": "train" if s == "train" else "held-out (shared by val and test)",
                          "audio shape": tuple(d.audio.shape[1:]), "visual shape": tuple(d.visual.shape[1:])}
                         for s, d in data.items()])


def examples_figure(dataset, *, root, n: int = 8):
    """n training samples: the corrupted digit, its log-mel, and its noisy waveform."""
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 4.6))
    wavs = sorted((Path(root) / "wav" / "train").glob("*.wav"))
    for i in range(n):
        item = dataset[i]
        axes[0, i].imshow(item["visual"][0], cmap="gray")
        axes[0, i].set_title(f"label {int(item['label'])}\n{dataset.voice[i].removeprefix('en+')}", fontsize=8)
        axes[1, i].imshow(item["audio"][0], origin="lower", aspect="auto", cmap="magma")
        wave, _ = soundfile.read(wavs[i])
        axes[2, i].plot(wave, lw=0.3)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, name in zip(axes[:, 0], ("visual", "log-mel", "wave"), strict=True):
        ax.set_ylabel(name)
    fig.suptitle("AV-Digits training samples (normalised features)")
    fig.tight_layout()
    return fig
