"""AVTS pairs: in-sync positives and the three kinds of negatives, and the curriculum that mixes them.

Korbar, Tran, Torresani, "Cooperative Learning of Audio and Video Models from Self-Supervised
Synchronization", NeurIPS 2018, Sec. 3.1-3.2. A pair is a video window of `window` frames and an audio
window of the same length; it is labelled y = 1 when both come from the same clip at the same time:
  easy        audio from another clip (any time): a correspondence negative, what L3 learns from;
  hard        same clip, audio shifted far: |shift| >= `hard_min` frames;
  superhard   same clip, audio shifted a little: `superhard` = (min, max) frames, min >= 1.
(The brief's reading: hard = shifted far, super-hard = shifted a little, the order of difficulty.)
Curriculum (Sec. 3.2): the first `switch_fraction` of the epochs (the paper: epochs 1-50 of 90) use easy
negatives only; then negatives are easy:hard 3:1 (`hard_share` 0.25). Without curriculum: 3:1 from epoch 1.

Pairs are index tensors (clip_v, start_v, clip_a, start_a, y, kind); `cut_windows` gathers the tensors.
"""

from dataclasses import dataclass

import torch

KINDS = ("positive", "easy", "hard", "superhard")
SCHEDULES = ("curriculum", "mixed", "easy_only")  # AVTS, AVTS without curriculum, L3-style (no shift)


@dataclass(frozen=True)
class Shifts:
    """Window length and shift ranges, in video frames."""

    window: int = 10
    hard_min: int = 10
    superhard: tuple = (2, 4)

    def check(self, clip_frames: int) -> None:
        span = clip_frames - self.window  # the largest possible shift
        lo, hi = self.superhard
        if not 1 <= self.window <= clip_frames:
            raise ValueError(f"window={self.window}: expected 1..clip_frames ({clip_frames})")
        if not 1 <= lo <= hi < self.hard_min <= span:
            raise ValueError(f"shifts: expected 1 <= superhard min {lo} <= max {hi} < hard_min {self.hard_min} "
                             f"<= clip_frames - window = {span}")


def hard_fraction(epoch: int, epochs: int, schedule: str, *, switch_fraction: float, hard_share: float) -> float:
    """Share of the negatives that are hard at `epoch` (0-based) of `epochs`."""
    if schedule == "easy_only":
        return 0.0
    if schedule == "mixed":
        return hard_share
    if schedule == "curriculum":
        return hard_share if epoch >= switch_epoch(epochs, switch_fraction) else 0.0
    raise ValueError(f"schedule={schedule!r}; expected one of {SCHEDULES}")


def switch_epoch(epochs: int, switch_fraction: float) -> int:
    """First (0-based) epoch with hard negatives: round(fraction * epochs) (50 of 90 in the paper)."""
    return round(switch_fraction * epochs)


def _uniform(generator, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """An integer uniform in [low, high] per element."""
    return low + (torch.rand(low.shape, generator=generator) * (high - low + 1)).long().clamp(max=high - low)


def _shifted_starts(start_v, generator, span: int, lo: int, hi: int) -> torch.Tensor:
    """Audio starts a = v + s with lo <= |s| <= hi and 0 <= a <= span, uniform over the valid a."""
    left_n = (start_v - lo).clamp(min=-1) - (start_v - hi).clamp(min=0) + 1  # valid a in [v-hi, v-lo]
    right_lo, right_hi = start_v + lo, (start_v + hi).clamp(max=span)
    right_n = (right_hi - right_lo + 1).clamp(min=0)
    total = left_n + right_n
    if (total <= 0).any():
        raise ValueError(f"no audio start {lo}..{hi} frames from a video start within 0..{span}")
    pick = (torch.rand(start_v.shape, generator=generator) * total).long().clamp(max=total - 1)
    left_start = (start_v - hi).clamp(min=0)
    return torch.where(pick < left_n, left_start + pick, right_lo + pick - left_n)


def sample_pairs(n_clips: int, clip_frames: int, counts: dict, shifts: Shifts, generator) -> dict:
    """`counts[kind]` pairs of each kind in KINDS (absent: 0), in KINDS order; video clips and starts
    uniform. Returns {clip_v, start_v, clip_a, start_a, y, kind} (kind: index into KINDS)."""
    shifts.check(clip_frames)
    if counts.get("easy", 0) and n_clips < 2:
        raise ValueError("easy negatives need at least 2 clips")
    span = clip_frames - shifts.window
    parts = []
    for k, kind in enumerate(KINDS):
        n = counts.get(kind, 0)
        if n == 0:
            continue
        clip_v = torch.randint(n_clips, (n,), generator=generator)
        start_v = torch.randint(span + 1, (n,), generator=generator)
        clip_a, start_a = clip_v, start_v
        if kind == "easy":  # any other clip, any time
            clip_a = (clip_v + torch.randint(1, n_clips, (n,), generator=generator)) % n_clips
            start_a = torch.randint(span + 1, (n,), generator=generator)
        elif kind == "hard":
            start_a = _shifted_starts(start_v, generator, span, shifts.hard_min, span)
        elif kind == "superhard":
            start_a = _shifted_starts(start_v, generator, span, *shifts.superhard)
        parts.append(dict(clip_v=clip_v, start_v=start_v, clip_a=clip_a, start_a=start_a,
                          y=torch.full((n,), float(kind == "positive")), kind=torch.full((n,), k)))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def epoch_counts(n_pairs: int, hard: float) -> dict:
    """Half positives, half negatives; of the negatives round(hard * n) hard, the rest easy."""
    n_pos = n_pairs // 2
    n_neg = n_pairs - n_pos
    n_hard = round(hard * n_neg)
    return {"positive": n_pos, "easy": n_neg - n_hard, "hard": n_hard}


def cut_windows(video: torch.Tensor, audio: torch.Tensor, pairs: dict, window: int, mel_per_frame: int):
    """video (N, T, S, S), audio (N, M, T * k) -> video windows (B, 1, window, S, S), audio (B, 1, M, window * k)."""
    frames = torch.arange(window)
    v = video[pairs["clip_v"][:, None], pairs["start_v"][:, None] + frames]  # (B, window, S, S)
    mel = torch.arange(window * mel_per_frame)
    a = audio.transpose(1, 2)[pairs["clip_a"][:, None], mel_per_frame * pairs["start_a"][:, None] + mel]  # (B, w*k, M)
    return v.unsqueeze(1), a.transpose(1, 2).unsqueeze(1)
