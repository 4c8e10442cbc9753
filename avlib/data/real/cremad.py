"""CREMA-D audio-visual emotion recognition, read from the on-disk layout of the official OGM-GE code.

    <root>/AudioWAV/<clip>.wav             speech, any sample rate, mono or stereo
    <root>/Image-01-FPS/<clip>/*.jpg       face frames extracted at 1 fps, ordered by file name
    <root>/train.csv, <root>/test.csv      rows "<clip>,<EMO>", no header

Audio follows OGM-GE: 3 s at 22,050 Hz (tiled or truncated), log-magnitude STFT (n_fft 512, hop 353).
Unlike OGM-GE, which picks its best epoch on test.csv, we carve a validation split out of train.csv
(fixed seed) so that model selection never sees the test set. Frames are chosen evenly, not at random,
so that val and test items are the same on every pass.

Frames are resized to image_size² (val, test). For split "train" with `augment=True` (the default) each
frame instead gets its own RandomResizedCrop(image_size) + RandomHorizontalFlip(), as OGM-GE's
dataset/CramedDataset.py does with torchvision (re-implemented here with PIL: see random_resized_crop_box).

Reproducibility: the augmentation draws from torch's global RNG, as torchvision's transforms do. In
DataLoader workers torch seeds that RNG from the loader's generator (make_loader's `seed`) and the
worker id, so the same seed and the same num_workers give the same crops, epoch by epoch; another
num_workers gives other (equally random) crops. With num_workers=0 the draws come from the main
process's RNG: the same after `seed_everything(seed)` on the same code path, but they also depend on
what else the run draws from it (model init, dropout). Val and test draw nothing.
"""

import csv
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from PIL import Image
from torch.utils.data import Dataset

from avlib.data.errors import DatasetError, require_utf8

EMOTIONS = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")  # label = index in this tuple
SAMPLE_RATE, CLIP_SECONDS = 22_050, 3
N_FFT, HOP = 512, 353  # 1 + 66150 // 353 = 188 frames with center=True
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
CROP_SCALE, CROP_RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # torchvision's RandomResizedCrop defaults


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
    # utf-8-sig drops a leading byte-order mark, which would otherwise become part of the first clip
    # name (OGM-GE opens its csv files as UTF-8-sig too; Excel and some of its files write one).
    require_utf8(path, "a UTF-8 CSV of '<clip>,<EMO>' rows")
    with open(path, newline="", encoding="utf-8-sig") as f:
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


def random_resized_crop_box(width: int, height: int, scale=CROP_SCALE, ratio=CROP_RATIO) -> tuple:
    """PIL box (left, top, right, bottom) of a random crop of a width x height image.

    torchvision.transforms.RandomResizedCrop (docs: "the crop has a random area (H * W) and a random
    aspect ratio"; defaults scale=(0.08, 1.0), ratio=(3/4, 4/3)), as its get_params does it: up to 10
    tries of an area fraction uniform in `scale` and an aspect ratio log-uniform in `ratio`; the first
    crop that fits is placed uniformly at random. If none fits, a center crop: the whole image,
    narrowed to the nearest ratio bound if its own aspect ratio lies outside `ratio`.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(*scale).item()
        aspect = math.exp(torch.empty(1).uniform_(*log_ratio).item())
        w, h = round(math.sqrt(target_area * aspect)), round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,)))
            left = int(torch.randint(0, width - w + 1, (1,)))
            return left, top, left + w, top + h
    w, h = width, height
    if width / height < min(ratio):
        h = round(width / min(ratio))
    elif width / height > max(ratio):
        w = round(height * max(ratio))
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def load_frame(path: Path, image_size: int, *, augment: bool = False) -> torch.Tensor:
    """RGB image resized to image_size², scaled to [0, 1], ImageNet-normalized: float32 (3, H, W).

    With `augment`, a random crop (random_resized_crop_box) is resized instead of the whole image, then
    mirrored left-right with probability 1/2: torchvision's RandomResizedCrop + RandomHorizontalFlip.
    """
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (OSError, SyntaxError) as err:  # PIL raises these for unreadable or truncated files
        raise DatasetError(f"cannot decode image {path}: {err}; expected a JPEG file") from err
    if augment:
        img = img.crop(random_resized_crop_box(*img.size))
    img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    if augment and torch.rand(1).item() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (pixels - IMAGENET_MEAN) / IMAGENET_STD


def is_int(value) -> bool:
    """Whether `value` is an integer option value (bools are not, though Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


class CremaD(Dataset):
    """Split "train", "val" (carved from train.csv) or "test" of CREMA-D under `root`.

    `augment` applies to split "train" only; val and test ignore it, so one set of options serves all
    three splits (load_splits).
    """

    n_classes = len(EMOTIONS)

    def __init__(self, root, split, *, val_fraction=0.1, val_seed=0, n_frames=1, image_size=224,
                 augment=True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"CREMA-D root {self.root} is not a directory; expected AudioWAV/ etc.")
        if split not in ("train", "val", "test"):
            raise DatasetError(f"unknown split {split!r}; expected 'train', 'val' or 'test'")
        if not (isinstance(val_fraction, int | float) and 0 < val_fraction < 1):
            raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        if not (is_int(val_seed) and val_seed >= 0):
            raise DatasetError(f"val_seed must be an integer >= 0, got {val_seed!r}")
        if not (is_int(n_frames) and n_frames >= 1):
            raise DatasetError(f"n_frames must be an integer >= 1, got {n_frames!r}")
        if not (is_int(image_size) and image_size >= 1):
            raise DatasetError(f"image_size must be an integer >= 1, got {image_size!r}")
        if not isinstance(augment, bool):
            raise DatasetError(f"augment must be true or false, got {augment!r}")
        self.n_frames, self.image_size = n_frames, image_size
        self.augment = augment and split == "train"

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
            # one crop and flip per frame, as OGM-GE (which calls its transform on each frame)
            "visual": torch.stack([load_frame(p, self.image_size, augment=self.augment)
                                   for p in self._frames[idx]]),
            "label": torch.tensor(self.labels[idx], dtype=torch.long),
        }
