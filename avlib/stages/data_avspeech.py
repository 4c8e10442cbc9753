"""Stage `data_avspeech`: generate AV-Speech (eSpeak NG speech with phone timings, a synthetic rendered-mouth
visual stream), summarise its splits and draw one utterance with its labels and mouth frames."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.params import Decibels, Float, Int, ListOf, Schema, Str
from avlib.data.embedded.avspeech import STATES, AVSpeechConfig
from avlib.data.synth.mouth import HEIGHT, VIDEO_HOLD, WIDTH

PART = ("avasr", 2)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "data_avspeech",
    root=Str(), seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    snr_db=Decibels(), visual_noise_std=Float(min=0), visual_lag_ms=Float(min=0),
    visual_boundary_jitter_ms=Float(min=0), tau_ms=Float(positive=True), envelope_weight=Float(min=0, max=1),
    voice_split=ListOf(Float(min=0, max=1), min_len=2, unique=False),
)

SMOKE_SIZES = {"n_train": 12, "n_val": 6, "n_test": 6}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["utterances/*", "frames/*", "phones"]


def smoke(p):
    """A few dozen utterances (seconds)."""
    for key, value in SMOKE_SIZES.items():
        setattr(p, key, value)
    return p


def config(p) -> AVSpeechConfig:
    return AVSpeechConfig(seed=p.seed, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test, snr_db=p.snr_db,
                          visual_noise_std=p.visual_noise_std, visual_lag_ms=p.visual_lag_ms,
                          visual_boundary_jitter_ms=p.visual_boundary_jitter_ms, tau_ms=p.tau_ms,
                          envelope_weight=p.envelope_weight, voice_split=tuple(p.voice_split))


def splits_table(data: dict) -> pd.DataFrame:
    return pd.DataFrame([{"split": s, "utterances": d.n_utterances, "frames (10 ms)": len(d),
                          "speaker voices": len(set(d.voice)), "reference phones": len(d.ref_phones),
                          "speaker pool": "train" if s == "train" else "held-out (shared by val and test)",
                          "classes": d.n_classes, "audio dims": d[0]["audio"].numel(),
                          "visual dims": d[0]["visual"].numel()} for s, d in data.items()])


def example_figure(dataset, u: int = 0, n_mouths: int = 16):
    """Utterance u: its log-mel (centre frames), its first `n_mouths` video frames (the rendered mouth, the
    camera's pixels before the loader's normalisation), and the frame phone labels."""
    a, b = int(dataset.frame_offsets[u]), int(dataset.frame_offsets[u + 1])
    fig, axes = plt.subplots(3, 1, figsize=(10, 6.5), gridspec_kw={"height_ratios": [2, 1, 2]})
    axes[0].imshow(dataset.audio_frames[a:b].T, origin="lower", aspect="auto", cmap="magma")
    axes[0].set(ylabel="log-mel band", title=f"{dataset.text[u]!r} ({dataset.voice[u]}, {dataset.snr_db:g} dB)")
    frames = range(a, min(b, a + n_mouths * VIDEO_HOLD), VIDEO_HOLD)
    strip = np.concatenate([dataset.visual_pixels[t].reshape(HEIGHT, WIDTH).numpy() for t in frames], axis=1)
    axes[1].imshow(strip, cmap="gray", aspect="equal", vmin=0, vmax=255)
    phones = (dataset.label[a:b] // STATES).tolist()
    axes[1].set(yticks=[], xticks=[WIDTH * i + WIDTH / 2 for i in range(len(frames))],
                xticklabels=[dataset.phones[phones[t - a]] for t in frames],
                title="rendered mouth, one image per video frame (40 ms), labelled with the phone spoken")
    axes[2].plot(phones, drawstyle="steps-mid")
    starts = [t for t in range(len(phones)) if t == 0 or phones[t] != phones[t - 1]]
    for t in starts:
        axes[2].text(t, phones[t] + 0.5, dataset.phones[phones[t]], fontsize=7)
    axes[2].set(ylabel="phone id", xlabel="frame (10 ms)", xlim=(0, len(phones)))
    fig.tight_layout()
    return fig
