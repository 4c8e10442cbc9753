"""What a window of an AV-Sync clip holds: its events' onsets (relative to the window's start) and digits,
and whether two windows' event timings are aligned. The sampler uses it to keep hard negatives from being
re-aligned by another event, and the cue check (cues.py) to measure what each kind of negative gives away.

An event "is in" a window when any of its `extent` frames (the digit's time on screen) falls in the window:
onset in (start - extent, start + window). Two windows are *aligned* (within `TOLERANCE` frames) when they
hold as many events and their k-th events' relative onsets differ by at most the tolerance: one frame, the
finest step the networks see (they keep time at the video frame rate). Content is not part of it: an
aligned pair whose digits differ is still aligned in timing.
"""

from dataclasses import dataclass

import torch

TOLERANCE = 1  # frames; a shift within it is not a negative (it is "in sync" at the networks' resolution)
_FAR = 10_000  # a relative onset that stands for "no event": sorts last, never within any tolerance


@dataclass(frozen=True)
class Events:
    """Every clip's event onsets and digits (N, K), the events' extent and the clip length, in frames."""

    onsets: torch.Tensor
    digits: torch.Tensor
    extent: int
    clip_frames: int

    @classmethod
    def of(cls, split) -> "Events":
        return cls(split.onsets, split.digits, split.show_frames, split.clip_frames)

    def __len__(self) -> int:
        return len(self.onsets)

    def in_window(self, clips: torch.Tensor, starts: torch.Tensor, window: int):
        """(relative onsets (B, K) sorted, events-in-window first, the others _FAR; their digits, -1 when not
        in; how many are in (B,))."""
        rel = self.onsets[clips] - starts[:, None]
        inside = (rel > -self.extent) & (rel < window)
        rel = torch.where(inside, rel, torch.full_like(rel, _FAR))
        rel, order = rel.sort(dim=1)
        digits = torch.where(inside, self.digits[clips], torch.full_like(rel, -1)).gather(1, order)
        return rel, digits, inside.sum(1)

    def has_onset(self, clips: torch.Tensor, starts: torch.Tensor, window: int) -> torch.Tensor:
        """(B,) bool: an event starts inside the window (so neither stream of a pair is only noise)."""
        rel = self.onsets[clips] - starts[:, None]
        return ((rel >= 0) & (rel < window)).any(1)


def aligned(events: Events, pairs: dict, window: int, tol: int = TOLERANCE) -> torch.Tensor:
    """(B,) bool: the audio window's event timing matches the video window's within `tol` frames."""
    rel_v, _, n_v = events.in_window(pairs["clip_v"], pairs["start_v"], window)
    rel_a, _, n_a = events.in_window(pairs["clip_a"], pairs["start_a"], window)
    close = ((rel_v - rel_a).abs() <= tol) | (rel_v == _FAR) & (rel_a == _FAR)
    return (n_v == n_a) & close.all(1)


def same_content(events: Events, pairs: dict, window: int) -> torch.Tensor:
    """(B,) bool: both windows hold the same digits (as multisets), whatever their timing."""
    _, d_v, _ = events.in_window(pairs["clip_v"], pairs["start_v"], window)
    _, d_a, _ = events.in_window(pairs["clip_a"], pairs["start_a"], window)
    return (d_v.sort(1).values == d_a.sort(1).values).all(1)
