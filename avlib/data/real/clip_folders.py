"""What the Kinetics-Sounds and VGGSound loaders share: clips stored as an audio file and a folder of
frames, listed by a split file; val carved from train with a fixed seed (as `cremad`), never from test.

    <root>/audio/<clip>.wav         the clip's sound (any rate, mono or stereo)
    <root>/visual/<clip>/*.jpg      its frames, ordered by file name

Items follow `avlib.data.real.cremad` (whose helpers are imported): audio = 3 s at 22,050 Hz as a log-magnitude
STFT (1, 257, 188), visual = `n_frames` frames chosen evenly (n_frames, 3, image_size, image_size),
label = the class index. `augment` (train split only): cremad's random resized crop + mirror per frame,
as OGM-GE's transforms for these sets; off by default.
"""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from avlib.data.errors import DatasetError
from avlib.data.real.cremad import carve_val, frame_indices, is_int, load_audio, load_frame, log_spectrogram


class ClipFolders(Dataset):
    """A split of `rows` [(clip, label)] (already the split's rows, val not yet carved) under `root`."""

    name = "clips"

    def __init__(self, root, split: str, rows: list, *, val_fraction: float = 0.1, val_seed: int = 0,
                 n_frames: int = 1, image_size: int = 224, augment: bool = False, min_frames: dict | None = None):
        if not (isinstance(val_fraction, int | float) and 0 < val_fraction < 1):
            raise DatasetError(f"{self.name}: val_fraction must be in (0, 1), got {val_fraction!r}")
        if not (is_int(val_seed) and val_seed >= 0):
            raise DatasetError(f"{self.name}: val_seed must be an integer >= 0, got {val_seed!r}")
        if not (is_int(n_frames) and n_frames >= 1) or not (is_int(image_size) and image_size >= 1):
            raise DatasetError(f"{self.name}: n_frames and image_size must be integers >= 1, got "
                               f"{n_frames!r}, {image_size!r}")
        if not isinstance(augment, bool):
            raise DatasetError(f"{self.name}: augment must be true or false, got {augment!r}")
        self.augment = augment and split == "train"
        if split != "test":
            in_val = np.zeros(len(rows), dtype=bool)
            in_val[carve_val(len(rows), val_fraction, val_seed)] = True
            rows = [row for row, v in zip(rows, in_val, strict=True) if v == (split == "val")]
        self.root, self.n_frames, self.image_size = Path(root), n_frames, image_size
        self.clips, self.labels = [c for c, _ in rows], [label for _, label in rows]
        self._wavs, self._frames = [], []
        for clip in self.clips:  # existence and frame counts now; decoding in __getitem__
            wav, frame_dir = self.root / "audio" / f"{clip}.wav", self.root / "visual" / clip
            if not wav.is_file():
                raise DatasetError(f"{self.name}: audio file {wav} not found for clip {clip!r}; expected "
                                   "<root>/audio/<clip>.wav")
            jpgs = sorted(frame_dir.glob("*.jpg")) if frame_dir.is_dir() else []
            need = max(1, (min_frames or {}).get(clip, 1))
            if len(jpgs) < need:
                raise DatasetError(f"{self.name}: frame folder {frame_dir} holds {len(jpgs)} .jpg frames; expected "
                                   f"at least {need} for clip {clip!r}")
            self._wavs.append(wav)
            self._frames.append([jpgs[i] for i in frame_indices(len(jpgs), n_frames)])

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, idx):
        return {"audio": log_spectrogram(load_audio(self._wavs[idx])),
                "visual": torch.stack([load_frame(p, self.image_size, augment=self.augment)
                                       for p in self._frames[idx]]),
                "label": torch.tensor(self.labels[idx], dtype=torch.long)}
