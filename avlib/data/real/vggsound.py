"""VGGSound, in the layout of its release: `vggsound.csv` with rows "youtube_id,start_seconds,label,split"
(no header; split is "train" or "test"), clips named "<youtube_id>_<start_seconds:06d>" as the release's files.

    <root>/vggsound.csv
    <root>/audio/<clip>.wav, <root>/visual/<clip>/*.jpg   (`avlib.data.real.clip_folders`)

Class indices: the distinct labels of the whole CSV in sorted order (`classes`), so train and test agree.
Val is carved from the train rows (`val_fraction`, `val_seed`).
"""

import csv
from pathlib import Path

from avlib.data.errors import DatasetError, require_utf8
from avlib.data.real.clip_folders import ClipFolders

CSV_NAME = "vggsound.csv"


def read_csv(path: Path) -> list[tuple[str, str, str]]:
    """(clip, label, split) rows of the VGGSound CSV, in file order."""
    if not path.is_file():
        raise DatasetError(f"vggsound: {path} not found; expected rows 'youtube_id,start_seconds,label,split'")
    rows, seen = [], set()
    require_utf8(path, "a UTF-8 CSV of 'youtube_id,start_seconds,label,split' rows")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for row in reader:
            where = f"vggsound: {path} line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            try:
                ytid, start, label, split = (cell.strip() for cell in row)
                start = int(start)
                if not ytid or not label or start < 0:
                    raise ValueError
            except ValueError:
                raise DatasetError(f"{where}: malformed row {row!r}; expected 'youtube_id,start_seconds,label,split' "
                                   "with an integer start >= 0") from None
            if split not in ("train", "test"):
                raise DatasetError(f"{where}: split {split!r}; expected 'train' or 'test'")
            clip = f"{ytid}_{start:06d}"
            if clip in seen:
                raise DatasetError(f"{where}: clip {clip!r} listed twice; expected each clip once")
            seen.add(clip)
            rows.append((clip, label, split))
    if not rows:
        raise DatasetError(f"vggsound: {path} has no rows")
    return rows


class VGGSound(ClipFolders):
    name = "vggsound"

    def __init__(self, root, split: str, **options):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"vggsound: root {root} is not a directory; expected {CSV_NAME}, audio/, visual/")
        rows = read_csv(root / CSV_NAME)
        self.classes = sorted({label for _, label, _ in rows})
        self.n_classes = len(self.classes)
        index = {c: i for i, c in enumerate(self.classes)}
        wanted = "test" if split == "test" else "train"
        mine = [(clip, index[label]) for clip, label, s in rows if s == wanted]
        if not mine:
            raise DatasetError(f"vggsound: {root / CSV_NAME} has no '{wanted}' rows; expected some")
        super().__init__(root, split, mine, **options)
