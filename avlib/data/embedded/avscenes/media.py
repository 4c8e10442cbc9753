"""AV-Scenes media: the rendered frames, the synthesized audio, and the fixed random-init feature extractors
that turn them into MUSIC-AVQA-shaped features (audio [T, 128] per second, visual [T, 512, H, W]).

Frames: one RGB frame per 1-s segment, `16 * map_size` pixels square; an indoor (grey wall, brown floor) or
outdoor (sky, grass) background with a per-video tint, each visible instrument drawn as its own coloured
shape in its region (left / middle / right third), jittered per frame, plus pixel noise. A frame never shows
whether an instrument is sounding: that is only in the audio.
Audio: 16 kHz mono, 1 s per segment. Each instrument is a timbre (harmonic profile, register, envelope,
vibrato; the drum is filtered noise), playing `rate` notes per second in the segments its mask marks, at its
gain in dB (each note normalised to unit RMS first), over a faint noise floor. Mono: where a sound comes from
is only in the frames.
Extractors (fixed, random-init, seeded; nothing is trained):
  visual  a random patch embedding: 4x4 stride-4 conv 3 -> 512 (Gaussian weights, uniform bias) + ReLU, then
          4x4 average pooling: a (16 m)^2 frame -> a 512 x m x m map (the real ones: ResNet-18's 512 x 14 x 14).
  audio   the log-mel (64 bands, 25 ms windows, 10 ms hop) of each second, summarised per band by its mean and
          its mean absolute frame-to-frame change (2 x 64 values: timbre/loudness and rhythm), times a fixed
          random orthogonal 128 x 128 matrix (the real features are VGGish's 128).
"""

import math

import numpy as np
import torch

from avlib.data.synth import dsp

SAMPLE_RATE = 16_000
SEGMENTS = 10
N_MELS = 64

# name: (register f0 range in Hz, harmonic amplitudes, envelope, vibrato depth, colour RGB, shape)
TIMBRES = {
    "violin": ((420, 880), (1, .8, .6, .5, .4, .3, .25, .2), "bowed", .008, (.85, .15, .15), "triangle"),
    "cello": ((130, 300), (1, .9, .7, .5, .4, .3, .2, .15), "bowed", .006, (.55, .25, .05), "tall"),
    "flute": ((700, 1600), (1, .15, .05), "blown", .004, (.8, .8, .85), "hbar"),
    "piano": ((220, 660), (1, .5, .3, .2, .1), "struck", 0.0, (.1, .1, .1), "square"),
    "acoustic_guitar": ((160, 500), (1, .7, .5, .35, .25, .15), "plucked", 0.0, (.95, .6, .1), "disk"),
    "trumpet": ((300, 700), (1, 1, .9, .8, .6, .4, .3), "blown", .003, (.95, .85, .1), "diamond"),
    "tuba": ((55, 140), (1, .6, .3, .15), "blown", .002, (.9, .5, .6), "ring"),
    "xylophone": ((1000, 2200), (1, .0, .35, .0, .2), "struck", 0.0, (.2, .8, .3), "cross"),
    "accordion": ((330, 800), (1, .1, .7, .1, .5, .1, .3), "reed", .0, (.2, .3, .9), "wide"),
    "drum": ((60, 90), (1,), "drum", 0.0, (.6, .2, .8), "ellipse"),
}
INSTRUMENTS = tuple(TIMBRES)
REGION_X = {"left": 1 / 6, "middle": 1 / 2, "right": 5 / 6}


# --- frames ---------------------------------------------------------------------------------------------

def _shape_mask(shape: str, yy, xx, cy, cx, r):
    dy, dx = (yy - cy) / r, (xx - cx) / r
    if shape == "disk":
        return dx**2 + dy**2 <= 1
    if shape == "ring":
        d = dx**2 + dy**2
        return (d <= 1) & (d >= 0.35)
    if shape == "square":
        return (abs(dx) <= 0.8) & (abs(dy) <= 0.8)
    if shape == "diamond":
        return abs(dx) + abs(dy) <= 1
    if shape == "triangle":
        return (dy <= 0.9) & (dy >= -0.9) & (abs(dx) <= (dy + 0.9) / 1.8)
    if shape == "cross":
        return ((abs(dx) <= 0.3) & (abs(dy) <= 1)) | ((abs(dy) <= 0.3) & (abs(dx) <= 1))
    if shape == "hbar":
        return (abs(dx) <= 1) & (abs(dy) <= 0.3)
    if shape == "tall":
        return (abs(dx) <= 0.45) & (abs(dy) <= 1)
    if shape == "wide":
        return (abs(dx) <= 1) & (abs(dy) <= 0.6) & ~((abs(dx) <= 0.3) & (abs(dy) <= 0.2))
    if shape == "ellipse":
        return (dx / 1.0) ** 2 + (dy / 0.55) ** 2 <= 1
    raise ValueError(f"unknown shape {shape!r}")


def render_frames(scene: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """scene -> frames float32 [SEGMENTS, 3, size, size] in about [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    tint = rng.uniform(-0.08, 0.08, size=3)
    if scene["venue"] == "indoor":
        top, bottom = np.array([.62, .6, .56]), np.array([.45, .3, .18])
    else:
        top, bottom = np.array([.45, .65, .95]), np.array([.25, .6, .2])
    horizon = 0.55 + rng.uniform(-0.05, 0.05)
    base = np.where((yy < horizon)[None], (top + tint)[:, None, None], (bottom + tint)[:, None, None])
    frames = np.empty((SEGMENTS, 3, size, size), np.float32)
    for t in range(SEGMENTS):
        frame = base.copy()
        for s in scene["sources"]:
            if not s["visible"]:
                continue
            colour, shape = TIMBRES[s["name"]][4], TIMBRES[s["name"]][5]
            cx = s["x"] + rng.uniform(-0.015, 0.015)
            cy = s["y"] + rng.uniform(-0.015, 0.015)
            mask = _shape_mask(shape, yy, xx, cy, cx, 0.12)
            frame[:, mask] = np.asarray(colour, np.float32)[:, None]
        frames[t] = frame + rng.normal(0, 0.04, size=frame.shape)
    return frames


# --- audio ----------------------------------------------------------------------------------------------

def _envelope(kind: str, n: int) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    if kind in ("plucked", "struck"):
        return dsp.exp(-t / (0.12 if kind == "plucked" else 0.2)) * np.minimum(1, t / 0.003)  # not np.exp: by CPU
    if kind == "drum":
        return dsp.exp(-t / 0.05) * np.minimum(1, t / 0.001)
    ramp = min(0.03, n / SAMPLE_RATE / 4)
    return np.minimum(1, np.minimum(t, t[-1] - t) / ramp)  # sustained: short attack and release


def _note(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    (lo, hi), harmonics, kind, vibrato = TIMBRES[name][:4]
    t = np.arange(n) / SAMPLE_RATE
    if kind == "drum":
        noise = rng.normal(size=n)
        noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # a little low-passed
        wave = noise + 2 * np.sin(2 * np.pi * rng.uniform(lo, hi) * t)
    else:
        f0 = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        phase = 2 * np.pi * f0 * (t + vibrato * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5))
        wave = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics) if a > 0
                   and (k + 1) * f0 < SAMPLE_RATE / 2)
        if kind == "blown":
            wave = wave + 0.05 * rng.normal(size=n)
        if kind == "reed":
            wave = wave * (1 + 0.3 * np.sin(2 * np.pi * 6 * t))  # bellows tremolo
    wave = wave * _envelope(kind, n)
    return wave / (np.sqrt(np.mean(wave**2)) + 1e-9)


def synthesize(scene: dict, rng: np.random.Generator) -> np.ndarray:
    """scene -> mono audio float32 [SEGMENTS * SAMPLE_RATE]; copies of one group play the same notes."""
    out = np.zeros(SEGMENTS * SAMPLE_RATE)
    played = set()
    for s in scene["sources"]:
        if s["group"] in played:  # a visible duplicate doubles its group's part: same notes, same gain
            continue
        played.add(s["group"])
        copies = sum(o["group"] == s["group"] for o in scene["sources"])
        note_len = SAMPLE_RATE // s["rate"]
        for seg in np.flatnonzero(s["mask"]):
            for k in range(s["rate"]):
                start = seg * SAMPLE_RATE + k * note_len
                amplitude = copies * 0.1 * 10 ** (s["gain_db"] / 20)
                out[start : start + note_len] += amplitude * _note(s["name"], note_len, rng)
    out += rng.normal(0, 10 ** (-45 / 20), size=out.shape)
    return out.astype(np.float32)


# --- fixed random-init extractors -----------------------------------------------------------------------

class VisualExtractor(torch.nn.Module):
    """A random-init patch embedding, fixed by `seed` (no training): 4x4 stride-4 conv 3 -> 512 with a random
    bias, ReLU, average-pooled 4x4. Random ReLU features of small patches behave like a bag of colour/edge
    detectors: which instruments are where stays linearly readable (a deeper random CNN we tried first, four
    stride-2 3x3 layers, lost it: a linear probe of "is instrument k in the frame" fell near the base rate)."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(512, 3, 4, 4, generator=g) / np.sqrt(3 * 4 * 4)
        self.bias = (torch.rand(512, generator=g) * 2 - 1) * 0.5

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, 3, 16m, 16m] -> maps [N, 512, m, m]."""
        # exact (`dsp.exact_conv2d`), and so is the pooling's sum of 16: the same bits on every CPU
        x = torch.relu(dsp.exact_conv2d(frames - 0.5, self.weight, self.bias, stride=4))  # [N, 512, 4m, 4m]
        return torch.nn.functional.avg_pool2d(x, 4).float()


class AudioExtractor:
    """Per-second log-mel statistics times a fixed random orthogonal matrix (module docstring)."""

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        draw = torch.randn(2 * N_MELS, 2 * N_MELS, generator=g, dtype=torch.float64).numpy()
        self.rotation = dsp.orthogonal(draw)  # not LAPACK's QR: its blocking and threads depend on the machine

    @torch.no_grad()
    def __call__(self, waves: torch.Tensor) -> torch.Tensor:
        """waves [N, SEGMENTS * SAMPLE_RATE] -> features [N, SEGMENTS, 128] float32, computed by `avlib.data.synth.dsp`
        (the same bytes on every CPU)."""
        logmel = dsp.log_mel(waves, SAMPLE_RATE, 400, 160, N_MELS)[..., : SEGMENTS * 100]  # [N, 64, 1000]
        per_second = logmel.reshape(len(waves), N_MELS, SEGMENTS, 100).transpose(0, 2, 1, 3).astype(np.float64)
        level = per_second.sum(-1) / 100
        change = np.abs(np.diff(per_second, axis=-1)).sum(-1) / 99
        features = dsp.matmul(np.concatenate([level, change], axis=-1), self.rotation)
        return torch.from_numpy(features.astype(np.float32))
