"""Kinetics-Sounds (31 classes), in the layout of the OGM-GE code's split lists.

    <root>/train.txt, <root>/test.txt   rows "<clip_id>,<n_frames>,<label_index>", no header
    <root>/audio/<clip_id>.wav, <root>/visual/<clip_id>/*.jpg   (`avlib.data.real.clip_folders`)

`n_frames` is the number of frames extracted for the clip: its folder must hold at least that many.
Val is carved from train.txt (`val_fraction`, `val_seed`); OGM-GE selects on test, we never do.
"""

import csv
from pathlib import Path

from avlib.data.errors import DatasetError, require_utf8
from avlib.data.real.clip_folders import ClipFolders

N_CLASSES = 31


def read_split_list(path: Path) -> list[tuple[str, int, int]]:
    """(clip_id, n_frames, label_index) rows of a Kinetics-Sounds split list, in file order."""
    if not path.is_file():
        raise DatasetError(f"kinetics_sounds: split list {path} not found; expected rows "
                           "'<clip_id>,<n_frames>,<label_index>'")
    rows, seen = [], set()
    require_utf8(path, "a UTF-8 CSV of '<clip_id>,<n_frames>,<label_index>' rows")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for row in reader:
            where = f"kinetics_sounds: {path} line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            try:
                clip, n_frames, label = row[0].strip(), int(row[1]), int(row[2])
                if len(row) != 3 or not clip:
                    raise ValueError
            except (ValueError, IndexError):
                raise DatasetError(f"{where}: malformed row {row!r}; expected '<clip_id>,<n_frames>,<label_index>' "
                                   "with integers") from None
            if not 0 <= label < N_CLASSES:
                raise DatasetError(f"{where}: label index {label} out of range; expected 0..{N_CLASSES - 1}")
            if n_frames < 1:
                raise DatasetError(f"{where}: n_frames {n_frames}; expected >= 1")
            if clip in seen:
                raise DatasetError(f"{where}: clip {clip!r} listed twice; expected each clip once")
            seen.add(clip)
            rows.append((clip, n_frames, label))
    return rows


class KineticsSounds(ClipFolders):
    name = "kinetics_sounds"
    n_classes = N_CLASSES

    def __init__(self, root, split: str, **options):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"kinetics_sounds: root {root} is not a directory; expected train.txt, test.txt, "
                               "audio/, visual/")
        rows = read_split_list(root / ("test.txt" if split == "test" else "train.txt"))
        super().__init__(root, split, [(c, label) for c, _, label in rows],
                         min_frames={c: n for c, n, _ in rows}, **options)
