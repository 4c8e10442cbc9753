"""Figures drawn by the notebooks (matplotlib/seaborn, Agg backend). Each returns a Figure; saving,
with the footer naming notebook and commit, is `report.save_figure`'s job."""

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import soundfile  # noqa: E402

from avlib.tables import group_runs  # noqa: E402


def avdigits_examples(dataset, *, root, n: int = 8):
    """n samples: the corrupted digit, its log-mel, and its noisy waveform."""
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
    axes[0, 0].set_ylabel("visual")
    axes[1, 0].set_ylabel("log-mel")
    axes[2, 0].set_ylabel("wave")
    fig.suptitle("AV-Digits training samples (normalised features)")
    fig.tight_layout()
    return fig


def imbalance_figure(runs: list, history: pd.DataFrame, *, fused: str = "concat", ogm_label: str):
    """(a) rho per epoch and (b) k per epoch for `fused` with and without OGM-GE (mean over seeds);
    (c) linear-probe test accuracy of each encoder, trained alone vs inside `fused` (± OGM-GE)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    sub = history[history["label"].isin([fused, ogm_label])]
    sns.lineplot(sub, x="epoch", y="rho_audio", hue="label", ax=axes[0], errorbar=("ci", 95))
    axes[0].axhline(1.0, color="0.5", ls=":")
    axes[0].set(title="ρ audio = s_audio / s_visual (train batches)", yscale="log", ylabel="ρ audio (log scale)")
    axes[0].set_yticks([0.25, 0.5, 1, 2, 4, 8], labels=["¼", "½", "1", "2", "4", "8"])
    axes[0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # only the labelled powers of 2
    ogm = history[history["label"] == ogm_label]
    if "k_audio" in ogm:
        k = ogm.melt(id_vars=["epoch", "seed"], value_vars=["k_audio", "k_visual"], var_name="coefficient")
        sns.lineplot(k.dropna(), x="epoch", y="value", hue="coefficient", ax=axes[1], errorbar=("ci", 95))
    axes[1].set(title=f"OGM-GE coefficients k ({ogm_label})", ylim=(0, 1.05), ylabel="mean k per epoch")

    groups = group_runs(runs)
    bars = []
    for setting, label in (("trained alone", None), (fused, fused), (fused + " + OGM-GE", ogm_label)):
        for m in ("audio", "visual"):
            source = groups.get(f"{m}_only") if label is None else groups.get(label)
            for r in source or []:
                bars.append({"encoder": m, "training": setting, "probe test acc (%)": 100 * r.probe["test"][m]})
    sns.barplot(pd.DataFrame(bars), x="encoder", y="probe test acc (%)", hue="training", ax=axes[2],
                errorbar=("ci", 95))
    axes[2].set(title="what each encoder learned (linear probe)", ylim=(0, 100))
    axes[2].legend(fontsize=7, loc="lower right")
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
