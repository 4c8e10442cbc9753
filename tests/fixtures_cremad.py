"""A tiny synthetic CREMA-D tree in the OGM-GE layout (see avlib/data/cremad.py), for tests."""

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from avlib.data.real.cremad import EMOTIONS

FIXTURE_RATE = 16_000  # real CREMA-D is 16 kHz, so the loader's resampling is exercised
DURATIONS = (1.0, 2.0, 3.5, 0.5)  # cycled; 1.0, 2.0 and 0.5 s are tiled, 3.5 s is truncated
SENTENCES = ("DFA", "IEO", "IOM", "ITH", "ITS", "IWL", "IWW", "MTI", "TAI", "TIE", "TSI", "WSI")
LEVELS = ("XX", "LO", "MD", "HI")


def clip_id(i: int) -> str:
    """A clip id shaped like the real ones, e.g. 1001_DFA_ANG_XX; the emotion cycles with i."""
    return f"{1001 + i}_{SENTENCES[i % len(SENTENCES)]}_{EMOTIONS[i % len(EMOTIONS)]}_{LEVELS[i % 4]}"


def ramp_image(width: int, height: int, colour: tuple) -> Image.Image:
    """`colour` darkened towards the left and top edges: no crop or left-right mirror leaves it unchanged."""
    x, y = np.meshgrid(np.arange(width) / (width - 1), np.arange(height) / (height - 1))
    shade = 0.2 + 0.5 * x + 0.3 * y  # 0.2 at the top-left corner, 1 at the bottom-right
    pixels = shade[..., None] * np.array(colour, dtype=np.float64)
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def make_cremad_fixture(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 0) -> Path:
    """Write n_train + n_test clips under `root` and return `root`.

    Clip i lasts DURATIONS[i % 4] seconds (a sine tone at 16 kHz; clip 1 is stereo) and has 2 or 3
    64x48 jpg frames (ramp_image, a random colour), so that crops and flips change pixels. train.csv
    holds clips 0..n_train-1, test.csv the rest; emotions cycle through EMOTIONS, so train.csv covers
    all six when n_train >= 6.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "AudioWAV").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_train + n_test):
        clip = clip_id(i)
        t = np.arange(int(DURATIONS[i % len(DURATIONS)] * FIXTURE_RATE)) / FIXTURE_RATE
        tone = 0.5 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)
        audio = np.stack([tone, 0.5 * tone], axis=1) if i == 1 else tone
        sf.write(root / "AudioWAV" / f"{clip}.wav", audio, FIXTURE_RATE, subtype="PCM_16")

        frame_dir = root / "Image-01-FPS" / clip
        frame_dir.mkdir(parents=True, exist_ok=True)
        for k in range(2 + i % 2):
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            ramp_image(64, 48, colour).save(frame_dir / f"frame_{k + 1:05d}.jpg", quality=95)
        rows.append(f"{clip},{EMOTIONS[i % len(EMOTIONS)]}\n")

    (root / "train.csv").write_text("".join(rows[:n_train]))
    (root / "test.csv").write_text("".join(rows[n_train:]))
    return root
