"""CREMA-D audio-visual emotion recognition, read from the on-disk layout of the official OGM-GE code.

    <root>/AudioWAV/<clip>.wav             speech, any sample rate, mono or stereo
    <root>/Image-01-FPS/<clip>/*.jpg       face frames extracted at 1 fps, ordered by file name
    <root>/train.csv, <root>/test.csv      rows "<clip>,<EMO>", no header

Audio follows OGM-GE: 3 s at 22,050 Hz (tiled or truncated), log-magnitude STFT (n_fft 512, hop 353).
Unlike OGM-GE, which picks its best epoch on test.csv, we carve a validation split out of train.csv
(fixed seed) so that model selection never sees the test set. Frames are chosen evenly, not at random,
so that val and test items are the same on every pass.
"""

import csv
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from PIL import Image
from torch.utils.data import Dataset

from avlib.data.errors import DatasetError

EMOTIONS = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")  # label = index in this tuple
SAMPLE_RATE, CLIP_SECONDS = 22_050, 3
N_FFT, HOP = 512, 353  # 1 + 66150 // 353 = 188 frames with center=True
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def load_audio(path: Path) -> torch.Tensor:
    """Mono waveform of `path` at 22,050 Hz, tiled or truncated to exactly 3 s: float32 (66150,)."""
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, OSError) as err:
        raise DatasetError(f"cannot read audio file {path}: {err}; expected a readable WAV file") from err
    if samples.shape[0] == 0:
        raise DatasetError(f"audio file {path} has no samples; expected a non-empty WAV file")
    wave = torch.from_numpy(samples.mean(axis=1))  # stereo -> mono by averaging channels
    if rate != SAMPLE_RATE:
        wave = AF.resample(wave, rate, SAMPLE_RATE)
    n = SAMPLE_RATE * CLIP_SECONDS
    wave = wave.repeat(-(-n // wave.numel()))[:n]  # tile short clips (as OGM-GE does), cut long ones
    return wave.clamp(-1.0, 1.0)  # OGM-GE clips too; resampling can overshoot slightly


def log_spectrogram(wave: torch.Tensor) -> torch.Tensor:
    """log(|STFT| + 1e-7) of a 3 s waveform: float32 (1, 257, 188)."""
    spec = torch.stft(wave, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                      pad_mode="constant", return_complex=True)  # zero padding, as librosa
    return torch.log(spec.abs() + 1e-7).unsqueeze(0)


def read_split_csv(path: Path) -> list[tuple[str, int]]:
    """(clip, label) rows of a split file, in file order."""
    if not path.is_file():
        raise DatasetError(f"split file {path} not found; expected rows '<clip>,<EMO>'")
    rows, seen = [], set()
    with open(path, newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue  # tolerate blank lines, e.g. a trailing newline
            if len(row) != 2 or not row[0].strip():
                raise DatasetError(f"{where}: malformed row {row!r}; expected '<clip>,<EMO>'")
            clip, code = row[0].strip(), row[1].strip()
            if code not in EMOTIONS:
                raise DatasetError(f"{where}: unknown emotion code {code!r}; expected one of {EMOTIONS}")
            if clip in seen:  # a duplicate could land in both train and val
                raise DatasetError(f"{where}: clip {clip!r} listed twice; expected each clip once")
            seen.add(clip)
            rows.append((clip, EMOTIONS.index(code)))
    return rows


def carve_val(n_rows: int, val_fraction: float, val_seed: int) -> np.ndarray:
    """Sorted row indices of train.csv that form the validation split (deterministic in the seed)."""
    n_val = max(1, round(val_fraction * n_rows))
    if n_val >= n_rows:
        raise DatasetError(f"val_fraction {val_fraction} leaves no training rows out of {n_rows}")
    return np.sort(np.random.default_rng(val_seed).permutation(n_rows)[:n_val])


def frame_indices(n_available: int, n_frames: int) -> list[int]:
    """Middle frame of each of `n_frames` equal segments (repeats frames if there are too few)."""
    return [(2 * i + 1) * n_available // (2 * n_frames) for i in range(n_frames)]


def load_frame(path: Path, image_size: int) -> torch.Tensor:
    """RGB image resized to image_size², scaled to [0, 1], ImageNet-normalized: float32 (3, H, W)."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError) as err:  # PIL raises these for unreadable or truncated files
        raise DatasetError(f"cannot decode image {path}: {err}; expected a JPEG file") from err
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (pixels - IMAGENET_MEAN) / IMAGENET_STD


class CremaD(Dataset):
    """Split "train", "val" (carved from train.csv) or "test" of CREMA-D under `root`."""

    n_classes = len(EMOTIONS)

    def __init__(self, root, split, *, val_fraction=0.1, val_seed=0, n_frames=1, image_size=224):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"CREMA-D root {self.root} is not a directory; expected AudioWAV/ etc.")
        if split not in ("train", "val", "test"):
            raise DatasetError(f"unknown split {split!r}; expected 'train', 'val' or 'test'")
        if not (isinstance(val_fraction, int | float) and 0 < val_fraction < 1):
            raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        if not (isinstance(n_frames, int) and n_frames >= 1):
            raise DatasetError(f"n_frames must be an integer >= 1, got {n_frames!r}")
        if not (isinstance(image_size, int) and image_size >= 1):
            raise DatasetError(f"image_size must be an integer >= 1, got {image_size!r}")
        self.n_frames, self.image_size = n_frames, image_size

        rows = read_split_csv(self.root / ("test.csv" if split == "test" else "train.csv"))
        if split != "test":
            in_val = np.zeros(len(rows), dtype=bool)
            in_val[carve_val(len(rows), val_fraction, val_seed)] = True
            rows = [row for row, v in zip(rows, in_val, strict=True) if v == (split == "val")]
        self.clips = [clip for clip, _ in rows]
        self.labels = [label for _, label in rows]

        # Existence checks only (cheap); decoding waits for __getitem__.
        self._wavs, self._frames = [], []
        for clip in self.clips:
            wav, frame_dir = self.root / "AudioWAV" / f"{clip}.wav", self.root / "Image-01-FPS" / clip
            if not wav.is_file():
                raise DatasetError(f"audio file {wav} not found for clip {clip!r}")
            if not frame_dir.is_dir():
                raise DatasetError(f"frame directory {frame_dir} not found for clip {clip!r}")
            jpgs = sorted(frame_dir.glob("*.jpg"))
            if not jpgs:
                raise DatasetError(f"frame directory {frame_dir} has no .jpg files; expected >= 1 frame")
            self._wavs.append(wav)
            self._frames.append([jpgs[i] for i in frame_indices(len(jpgs), n_frames)])

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, idx):
        return {
            "audio": log_spectrogram(load_audio(self._wavs[idx])),
            "visual": torch.stack([load_frame(p, self.image_size) for p in self._frames[idx]]),
            "label": torch.tensor(self.labels[idx], dtype=torch.long),
        }
