"""A rendered mouth: articulator trajectories with coarticulation, drawn as a small grey-level image.

The visual stream of AV-Speech (`avlib.data.embedded.avspeech`). It is built so that a model must LEARN to
read it, not look a label up: no pixel, and no fixed combination of pixels, codes the phone.
  targets     each phone's viseme gives six articulator targets (opening, spread, rounding, lip closure,
              teeth on lip, tongue visible); phones of one viseme (p/b/m, ...) look alike by construction.
  timing      every phone boundary moves by a per-utterance audio-visual lag and a per-boundary jitter.
  dynamics    the articulators chase their targets as a critically damped second-order system (time constant
              `tau_ms`): a short phone is left before its target is reached (undershoot) and each frame
              mixes the previous phones into the current one (carry-over coarticulation); the lag's sign
              makes anticipation too.
  envelope    the jaw opening also follows the clean speech's loudness envelope (`envelope_weight`): the
              mouth opens with the syllable, whatever the phone, as real lips and acoustics co-vary.
  speaker     per utterance a mouth size, centre offset, head drift, lighting gain and offset.
  camera      rendered at 25 frames/s (sample-and-hold at the 100 frames/s feature rate, a random video
              phase) on an H x W grid with soft (anti-aliased) edges, then Gaussian pixel noise.
"""

import numpy as np

# (opening, spread, rounding, lip closure, teeth on lip, tongue visible) per viseme
VISEMES = {
    "sil": (0.1, 0.3, 0.2, 0.6, 0.0, 0.0), "bilabial": (0.0, 0.4, 0.3, 1.0, 0.0, 0.0),
    "labiodental": (0.2, 0.5, 0.1, 0.3, 1.0, 0.0), "dental": (0.4, 0.5, 0.1, 0.0, 0.3, 1.0),
    "alveolar": (0.3, 0.6, 0.1, 0.0, 0.2, 0.4), "postalveolar": (0.3, 0.3, 0.8, 0.0, 0.4, 0.1),
    "velar": (0.5, 0.5, 0.3, 0.0, 0.0, 0.0), "r": (0.35, 0.3, 0.6, 0.0, 0.1, 0.1),
    "w": (0.15, 0.05, 1.0, 0.2, 0.0, 0.0), "j": (0.25, 0.9, 0.0, 0.0, 0.3, 0.0),
    "open": (1.0, 0.6, 0.2, 0.0, 0.0, 0.2), "spread": (0.45, 1.0, 0.0, 0.0, 0.5, 0.1),
    "rounded": (0.5, 0.1, 0.95, 0.0, 0.0, 0.0), "mid": (0.55, 0.55, 0.3, 0.0, 0.1, 0.1),
}
HEIGHT, WIDTH = 8, 12  # the mouth region of interest, pixels: a very low-resolution lip camera
FRAME_MS = 10.0  # the feature rate the trajectory is computed at
VIDEO_HOLD = 4  # 25 video frames/s at 100 frames/s


def trajectory(targets: np.ndarray, tau_ms: float) -> np.ndarray:
    """(T, K) per-frame articulator targets -> (T, K) positions of a critically damped second-order system
    chasing them (x'' = (target - x) / tau² - 2 x' / tau), integrated at FRAME_MS per step from rest at the
    first target. Short segments undershoot; every frame carries the previous phones' traces."""
    dt = FRAME_MS / tau_ms
    x, v = targets[0].astype(np.float64), np.zeros(targets.shape[1])
    out = np.empty(targets.shape, np.float64)
    substeps = 4  # semi-implicit Euler, stable for dt up to ~1 per substep
    for t, goal in enumerate(targets):
        for _ in range(substeps):
            v = v + (dt / substeps) * ((goal - x) - 2 * v)
            x = x + (dt / substeps) * v
        out[t] = x
    return out


def loudness_envelope(wave: np.ndarray, n_frames: int, hop: int) -> np.ndarray:
    """(n_frames,) the clean speech's RMS per 10 ms frame, smoothed over ~50 ms, scaled to [0, 1] per
    utterance (its 95th percentile is 1)."""
    padded = np.pad(wave, (0, max(0, n_frames * hop - len(wave))))[: n_frames * hop]
    rms = np.sqrt(np.mean(padded.reshape(n_frames, hop) ** 2, axis=1))
    kernel = np.hanning(7)[1:-1]
    smooth = np.convolve(rms, kernel / kernel.sum(), mode="same")
    top = np.percentile(smooth, 95)
    return np.clip(smooth / top, 0.0, 1.0) if top > 0 else np.zeros(n_frames)


def _soft(distance: np.ndarray, sharpness: float = 6.0) -> np.ndarray:
    """Inside (> 0) -> 1, outside -> 0, with an edge about one pixel wide (anti-aliasing)."""
    return 1.0 / (1.0 + np.exp(np.clip(-sharpness * distance, -50, 50)))  # clipped: no overflow warning


def render(params: np.ndarray, centre: np.ndarray, size: float) -> np.ndarray:
    """(N, 6) articulator positions, (N, 2) mouth centres (x, y in [-1, 1]), a mouth size -> (N, H, W) images
    in [0, 1]: skin, the lips' ring, the dark mouth cavity, the teeth's bright band at its top, the tongue at
    its bottom."""
    opening, spread, rounding, closure, teeth, tongue = (np.clip(params[:, i], 0, 1)[:, None, None] for i in range(6))
    ys, xs = np.meshgrid(np.linspace(-1, 1, HEIGHT), np.linspace(-1, 1, WIDTH), indexing="ij")
    x, y = xs[None] - centre[:, 0, None, None], ys[None] - centre[:, 1, None, None]
    half_w = size * (0.45 + 0.35 * spread - 0.2 * rounding)
    half_h = size * (0.25 + 0.15 * rounding + 0.35 * opening)
    outer = 1.0 - np.sqrt((x / half_w) ** 2 + (y / half_h) ** 2)  # > 0 inside the lips' outline
    gap = np.maximum(0.02, 0.8 * opening * (1.0 - closure))  # the lips' opening, a fraction of the outline
    inner = 1.0 - np.sqrt((x / (0.75 * half_w)) ** 2 + (y / (gap * half_h + 1e-3)) ** 2)
    lips, cavity = _soft(outer * 3), _soft(inner * 3)
    image = 0.65 - 0.3 * lips  # skin, lips darker
    image = image * (1 - cavity) + 0.08 * cavity  # the cavity, dark
    top_band = _soft((-(y + 0.4 * gap * half_h)) / (0.3 * half_h + 1e-3))  # the upper part of the cavity
    image = image + cavity * top_band * 0.8 * teeth
    image = image + cavity * (1 - top_band) * 0.45 * tongue
    return image
