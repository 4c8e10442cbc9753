"""The premise of the AV-ASR fusion comparison, checked on VAL before any fused number is read.

A fusion result means something only if the data has the shape the paper's argument needs: a visual stream a
model can read but that cannot stand in for the audio, and an audio stream whose quality the SNR sweep moves
from useless to clean. The criteria, fixed before the stage's full run (thresholds in `CRITERIA`):
  P1 visual-only val frame accuracy at least MIN_ABOVE_CHANCE points above chance (the majority class's
     share of val frames): vision can be learned;
  P2 at the cleanest level, visual-only val frame accuracy at least MIN_BELOW_AUDIO points below audio-only:
     vision is a weak cue, not a copy of the labels;
  P3 at the cleanest level, audio-only val PER below visual-only val PER, and at most MAX_CLEAN_PER %: the
     sweep reaches the clean regime;
  P4 at the noisiest level, audio-only val PER above visual-only val PER: the sweep reaches the regime where
     vision is the better stream.
Each is a mean over the stage's seeds (runs.csv rows, val columns).
"""

import pandas as pd

MIN_ABOVE_CHANCE = 5.0  # points of frame accuracy
MIN_BELOW_AUDIO = 15.0  # points of frame accuracy
MAX_CLEAN_PER = 35.0  # %; the "clean" point had audio-only PER 50.8%


def _mean(runs: pd.DataFrame, snr: float, model: str, key: str) -> float:
    rows = runs[(runs.snr_db == snr) & (runs.model == model)]
    return 100 * float(rows[key].mean())


def premise_table(runs: pd.DataFrame, chance: float) -> pd.DataFrame:
    """One row per criterion: what is measured, its value(s) on val, the threshold, whether it holds.
    `chance`: the majority class's share of val frames (a fraction)."""
    levels = sorted(set(runs.snr_db))
    clean, noisy = levels[-1], levels[0]
    visual = _mean(runs, clean, "visual", "val_frame_acc")  # the visual stream is the same at every level
    audio_acc = _mean(runs, clean, "audio", "val_frame_acc")
    per = {(snr, m): _mean(runs, snr, m, "val_per") for snr in (clean, noisy) for m in ("audio", "visual")}
    rows = [
        ("P1 vision can be learned", "visual-only val frame acc vs chance (majority class)",
         f"{visual:.1f}% vs {100 * chance:.1f}%", f">= {MIN_ABOVE_CHANCE:g} points above",
         visual - 100 * chance >= MIN_ABOVE_CHANCE),
        ("P2 vision is weak", f"audio-only minus visual-only val frame acc at {clean:g} dB",
         f"{audio_acc:.1f}% - {visual:.1f}% = {audio_acc - visual:.1f}", f">= {MIN_BELOW_AUDIO:g} points",
         audio_acc - visual >= MIN_BELOW_AUDIO),
        ("P3 clean regime reached", f"val PER at {clean:g} dB: audio-only vs visual-only",
         f"{per[clean, 'audio']:.1f}% vs {per[clean, 'visual']:.1f}%",
         f"audio < visual and audio <= {MAX_CLEAN_PER:g}%",
         per[clean, "audio"] < per[clean, "visual"] and per[clean, "audio"] <= MAX_CLEAN_PER),
        ("P4 noisy regime reached", f"val PER at {noisy:g} dB: audio-only vs visual-only",
         f"{per[noisy, 'audio']:.1f}% vs {per[noisy, 'visual']:.1f}%", "audio > visual",
         per[noisy, "audio"] > per[noisy, "visual"]),
    ]
    return pd.DataFrame(rows, columns=["criterion", "measured on val", "value", "threshold", "holds"])


def premise_sentence(table: pd.DataFrame) -> str:
    failed = table[~table.holds].criterion.tolist()
    if not failed:
        return "Premise (val, before any fused number): all four criteria hold (premise.md)."
    return (f"Premise (val): {', '.join(failed)} FAIL(S) (premise.md): the fused comparison below is read "
            "on data that does not have the shape the paper's argument needs; treat it with that caveat.")
