"""Signal processing the embedded generators share: corrupting digit images, placing speech in a noisy
clip at a target SNR, and the log-mel features every audio encoder reads."""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from avlib.data.synth import dsp


def corrupt_images(images: np.ndarray, cfg, rng: np.random.Generator) -> np.ndarray:
    """images (N, 28, 28) in [0, 1] -> blurred, occluded, noisy (N, 28, 28) float32 (`cfg`: an AVDigitsConfig
    or any config with visual_blur_sigma, visual_occlusion, visual_noise_std)."""
    out = gaussian_filter(images, sigma=(0, cfg.visual_blur_sigma, cfg.visual_blur_sigma))
    side = cfg.visual_occlusion
    corners = rng.integers(0, 28 - side + 1, size=(len(images), 2))
    for img, (y, x) in zip(out, corners, strict=True):
        img[y : y + side, x : x + side] = 0.5
    out = out + rng.normal(0.0, cfg.visual_noise_std, size=out.shape)
    return out.astype(np.float32)


def place_and_mix(speech: np.ndarray, cfg, rng: np.random.Generator) -> np.ndarray:
    """Resampled speech -> a clip of `clip_seconds` with the speech at a random offset, plus noise (`cfg`:
    sample_rate, clip_seconds, snr_db, snr_jitter_db)."""
    n = int(cfg.sample_rate * cfg.clip_seconds)
    speech = speech[:n]
    clip = np.zeros(n, np.float32)
    start = rng.integers(0, n - len(speech) + 1)
    clip[start : start + len(speech)] = speech
    speech_power = np.mean(speech**2) + 1e-12
    snr = cfg.snr_db + rng.uniform(-cfg.snr_jitter_db, cfg.snr_jitter_db)
    noise = rng.normal(0.0, np.sqrt(speech_power / 10 ** (snr / 10)), size=n)
    mixed = clip + noise
    return (mixed / max(1.0, np.abs(mixed).max())).astype(np.float32)  # no clipping in int16 wav


def log_mel(waves, sample_rate: int, n_mels: int, hop_ms: int) -> torch.Tensor:
    """waves (N, samples) -> log-mel (N, 1, n_mels, frames), windows of 2 * hop_ms: torchaudio's MelSpectrogram
    defaults, computed by `avlib.data.synth.dsp` (the same bytes on every CPU)."""
    hop = sample_rate * hop_ms // 1000
    return torch.from_numpy(dsp.log_mel(waves, sample_rate, 2 * hop, hop, n_mels)).unsqueeze(1)
