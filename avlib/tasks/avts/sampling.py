"""AVTS pairs: in-sync positives and the three kinds of negatives, and the curriculum that mixes them.

Korbar, Tran, Torresani, "Cooperative Learning of Audio and Video Models from Self-Supervised
Synchronization", NeurIPS 2018, Sec. 3.1-3.2. A pair is a video window of `window` frames and an audio
window of the same length; it is labelled y = 1 when both come from the same clip at the same time:
  easy        audio from another clip (any time): a correspondence negative, what L3 learns from;
  hard        same clip, audio shifted far: |shift| >= `hard_min` frames (> TOLERANCE, and beyond an event's
              extent, so the shifted event never overlaps its own place);
  superhard   same clip, audio shifted a little: `superhard` = (min, max) frames, max < hard_min; the default
              is one frame (0.1 s), the networks' time step: aligned within the tolerance, the paper's nearly
              overlapping windows, evaluated only.
Every window of a pair holds an event onset (neither stream is only noise: "something happens" is no cue),
and no negative shifted beyond the tolerance is re-aligned: a shift that puts another event under the
video's event timing (within TOLERANCE frames, `events.aligned`) is drawn again. Easy negatives keep their
chance alignments (another clip's timing may match; its digits mostly do not); the cue check reports how often.
Curriculum (Sec. 3.2): the first `switch_fraction` of the epochs (the paper: epochs 1-50 of 90) use easy
negatives only; then negatives are easy:hard 3:1 (`hard_share` 0.25). Without curriculum: 3:1 from epoch 1.

Pairs are index tensors (clip_v, start_v, clip_a, start_a, y, kind); `cut_windows` gathers the tensors.
"""

from dataclasses import dataclass

import torch

from avlib.tasks.avts.events import TOLERANCE, Events, aligned

KINDS = ("positive", "easy", "hard", "superhard")
SCHEDULES = ("curriculum", "mixed", "easy_only")  # AVTS, AVTS without curriculum, L3-style (no shift)
MAX_DRAWS = 200  # rejection rounds before a kind is declared impossible on these clips
EVAL_SEED = 12345  # the held-out pairs: the same for every run, so runs are compared on the same pairs
EVAL_PER_CLIP = 2  # held-out pairs of each kind per clip: 300 per kind on val, so the epoch choice is less noisy


@dataclass(frozen=True)
class Shifts:
    """Window length and shift ranges, in video frames."""

    window: int = 10
    hard_min: int = 6
    superhard: tuple = (1, 1)

    def check(self, clip_frames: int) -> None:
        span = clip_frames - self.window  # the largest possible shift
        lo, hi = self.superhard
        if not 1 <= self.window <= clip_frames:
            raise ValueError(f"window={self.window}: expected 1..clip_frames ({clip_frames})")
        if not 1 <= lo <= hi < self.hard_min <= span or self.hard_min <= TOLERANCE:
            raise ValueError(f"shifts: expected 1 <= superhard min {lo} <= max {hi} < hard_min {self.hard_min} <= "
                             f"clip_frames - window = {span}, and hard_min > {TOLERANCE} (the alignment tolerance)")

    def range_of(self, kind: str, span: int) -> tuple:
        """(min, max) |shift| of a same-clip kind."""
        return {"hard": (self.hard_min, span), "superhard": tuple(self.superhard)}[kind]


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


def draw(events: Events, n: int, kind: str, window: int, generator, shift: tuple | None = None) -> dict:
    """n pairs of one kind (KINDS, or "shift" with `shift` = (min, max) |shift| in frames), by rejection: draw
    clip and starts uniformly, keep the pairs that meet the rules of the module docstring, redraw the rest.
    Returns {clip_v, start_v, clip_a, start_a} (n,)."""
    n_clips, span = len(events), events.clip_frames - window
    if kind == "easy" and n_clips < 2:
        raise ValueError("easy negatives need at least 2 clips")
    out = {k: torch.zeros(n, dtype=torch.long) for k in ("clip_v", "start_v", "clip_a", "start_a")}
    todo = torch.arange(n)
    for _ in range(MAX_DRAWS):
        if len(todo) == 0:
            break
        m = len(todo)
        cv, sv = torch.randint(n_clips, (m,), generator=generator), torch.randint(span + 1, (m,), generator=generator)
        ca, sa = cv, sv
        if kind == "easy":  # any other clip, any time
            ca = (cv + torch.randint(1, n_clips, (m,), generator=generator)) % n_clips
            sa = torch.randint(span + 1, (m,), generator=generator)
        elif kind != "positive":
            lo, hi = shift
            sign = torch.randint(2, (m,), generator=generator) * 2 - 1
            sa = sv + sign * torch.randint(lo, hi + 1, (m,), generator=generator)
        ok = (sa >= 0) & (sa <= span)
        sa = sa.clamp(0, span)
        ok &= events.has_onset(cv, sv, window) & events.has_onset(ca, sa, window)
        if kind not in ("positive", "easy") and shift[0] > TOLERANCE:  # never re-aligned by another event
            ok &= ~aligned(events, dict(clip_v=cv, start_v=sv, clip_a=ca, start_a=sa), window)
        for key, value in zip(out, (cv, sv, ca, sa), strict=True):
            out[key][todo[ok]] = value[ok]
        todo = todo[~ok]
    if len(todo) == 0:
        return out
    raise ValueError(f"could not draw {kind} pairs (shift {shift}) with an event in both {window}-frame windows "
                     f"and no re-alignment in {MAX_DRAWS} rounds: the clips' events do not allow it")


def sample_pairs(events: Events, counts: dict, shifts: Shifts, generator) -> dict:
    """`counts[kind]` pairs of each kind in KINDS (absent: 0), in KINDS order. Returns {clip_v, start_v,
    clip_a, start_a, y, kind} (kind: index into KINDS)."""
    shifts.check(events.clip_frames)
    span = events.clip_frames - shifts.window
    parts = []
    for k, kind in enumerate(KINDS):
        n = counts.get(kind, 0)
        if n == 0:
            continue
        rng = shifts.range_of(kind, span) if kind in ("hard", "superhard") else None
        part = draw(events, n, kind, shifts.window, generator, rng)
        parts.append(part | dict(y=torch.full((n,), float(kind == "positive")), kind=torch.full((n,), k)))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def eval_pairs(split, shifts: Shifts) -> dict:
    """EVAL_PER_CLIP pairs of every kind per clip of `split` (as many of each), from a fixed generator: what
    avts_pretrain evaluates on and data_avsync's cue check inspects."""
    n = EVAL_PER_CLIP * len(split)
    return sample_pairs(Events.of(split), {k: n for k in KINDS}, shifts, torch.Generator().manual_seed(EVAL_SEED))


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
