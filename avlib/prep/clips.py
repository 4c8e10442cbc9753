"""Kinetics-Sounds / VGGSound clips (mp4) -> wav + frames, in the layout the `kinetics_sounds` / `vggsound`
loaders read (`avlib.data.real.clip_folders`).

    <raw_root>/**/<clip>.mp4                       the downloaded clips (any folder depth)
 -> <out_root>/audio/<clip>.wav                    16 kHz mono 16-bit PCM (OGM-GE data/VGGSound/mp4_to_wav.py)
    <out_root>/visual/<clip>/00000.jpg ...         frames at 1 fps (its video_preprocessing.py)
    <out_root>/<the loader's split file>           the prepared clips of the split lists:
        kinetics_sounds: train.txt, test.txt       rows "<clip>,<frames written>,<label index>"
        vggsound:        vggsound.csv              rows "<youtube id>,<start s>,<label>,<train|test>"
    <out_root>/manifest.json, prep_report.md       as for CREMA-D (`avlib.prep.common`)

So `dataset: kinetics_sounds, root: <out_root>` in a training stage reads what this wrote.

Split lists (`list_format`):
    "kinetics_sounds"  OGM-GE's data/KineticSound/my_{train,test}.txt rows "<clip>,<n>,<label index>"
                       (shipped: avlib/reference/kinetics_sounds_{train,test}.txt, 14,799 / 2,597 clips)
    "vggsound"         the VGGSound release's vggsound.csv, rows "<youtube id>,<start s>,<label>,<train|test>"
                       (one file for both splits; clip name "<id>_<start as 6 digits>", the release's mp4 names)
    "csv"              rows "<clip>,<label>"
Any format serves either dataset as long as its rows fit the loader's file: integer label indices
0..30 for kinetics_sounds, clip names "<id>_<start as 6 digits>" and splits train/test for vggsound;
`check_for_loader` says which row does not, before any clip is prepared.
"""

import csv
import io
import re
from pathlib import Path

from avlib.core.atomic import atomic_move_dir
from avlib.prep.common import (
    Clip,
    atomic_text,
    manifest,
    report_markdown,
    run_clips,
    tmp_path,
    write_json,
)
from avlib.prep.media import check_complete, extract_audio, extract_frames, probe

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
KS_LISTS = {"train": REFERENCE / "kinetics_sounds_train.txt", "test": REFERENCE / "kinetics_sounds_test.txt"}
FORMATS = ("kinetics_sounds", "vggsound", "csv")
FRAMES, SAMPLE_RATE = "visual", 16_000  # clip_folders reads <root>/visual/<clip>/*.jpg
KS_CLASSES = 31
VGGSOUND_CLIP = re.compile(r"^(.+)_(\d{6})$")


def _rows(path: Path) -> list:
    if not Path(path).is_file():
        raise FileNotFoundError(f"split list {path} not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        return [row for row in csv.reader(f) if any(cell.strip() for cell in row)]


def read_lists(list_format: str, lists: dict) -> dict:
    """{split: [(clip, label)]} from the split list files `lists` ({split: path}) in `list_format`."""
    if list_format not in FORMATS:
        raise ValueError(f"prep_clips list_format={list_format!r}; expected one of {FORMATS}")
    out = {}
    if list_format == "vggsound":
        (path,) = set(lists.values())  # one csv, its 4th column names the split
        for row in _rows(path):
            if len(row) < 4:
                raise ValueError(f"{path}: row {row!r}; expected '<id>,<start>,<label>,<split>'")
            out.setdefault(row[3].strip(), []).append((f"{row[0].strip()}_{int(row[1]):06d}", row[2].strip()))
        return out
    for split, path in lists.items():
        want = 3 if list_format == "kinetics_sounds" else 2
        rows = _rows(path)
        bad = [r for r in rows if len(r) != want]
        if bad:
            raise ValueError(f"{path}: row {bad[0]!r}; expected {want} comma-separated fields")
        out[split] = [(r[0].strip(), r[-1].strip()) for r in rows]
    return out


def check_for_loader(dataset: str, splits: dict, lists: dict) -> None:
    """Raise ValueError, naming the list file and row, where `splits` cannot be written as `dataset`'s
    loader file (module docstring)."""
    for split, rows in splits.items():
        source = lists.get(split) or ", ".join(sorted({str(v) for v in lists.values()}))
        where = f"prep_clips dataset={dataset}: split list {source}"
        if dataset == "kinetics_sounds":
            for clip, label in rows:
                if not (label.isdigit() and int(label) < KS_CLASSES):
                    raise ValueError(f"{where}: clip {clip!r} has label {label!r}; the kinetics_sounds loader "
                                     f"expects an integer class index 0..{KS_CLASSES - 1}")
        elif dataset == "vggsound":
            if split not in ("train", "test"):
                raise ValueError(f"{where}: split {split!r}; the vggsound loader expects 'train' or 'test'")
            bad = next((clip for clip, _ in rows if not VGGSOUND_CLIP.match(clip)), None)
            if bad is not None:
                raise ValueError(f"{where}: clip {bad!r}; the vggsound loader expects names "
                                 "'<youtube id>_<start seconds as 6 digits>'")
        else:
            raise ValueError(f"prep_clips dataset={dataset!r}; expected kinetics_sounds or vggsound")


def write_split_files(dataset: str, out_root: Path, kept: dict) -> list[str]:
    """Write the loader's split file(s) for the prepared clips `kept` ({split: [(clip, label)]}); return
    their names."""
    if dataset == "kinetics_sounds":
        for split, rows in kept.items():
            n_frames = {c: len(list((out_root / FRAMES / c).glob("*.jpg"))) for c, _ in rows}
            atomic_text(out_root / f"{split}.txt", "".join(f"{c},{n_frames[c]},{label}\n" for c, label in rows))
        return [f"{split}.txt" for split in kept]
    lines = []
    for split, rows in kept.items():
        for clip, label in rows:
            ytid, start = VGGSOUND_CLIP.match(clip).groups()
            # the release's csv quotes labels with commas ("people babbling, laughing"); csv keeps them whole
            lines.append(_csv_row([ytid, int(start), label, split]))
    atomic_text(out_root / "vggsound.csv", "".join(lines))
    return ["vggsound.csv"]


def _csv_row(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _work(out_root: Path, fps: int, sample_rate: int):
    def work(clip: Clip) -> None:
        src = clip.sources["video"]
        check_complete(probe(src), src.name, video=True, audio=True)
        wav, frames = out_root / "audio" / f"{clip.name}.wav", out_root / FRAMES / clip.name
        wav.parent.mkdir(parents=True, exist_ok=True)
        frames.parent.mkdir(parents=True, exist_ok=True)
        wav_tmp, frames_tmp = tmp_path(wav), tmp_path(frames)
        extract_audio(src, wav_tmp, sample_rate)
        extract_frames(src, frames_tmp, fps=fps)
        atomic_move_dir(frames_tmp, frames)
        wav_tmp.replace(wav)
    return work


def prepare_clips(dataset: str, raw_root, out_root, *, list_format: str, lists: dict | None = None, fps: int = 1,
                  sample_rate: int = SAMPLE_RATE, workers: int = 4, progress: bool = True) -> dict:
    """Prepare a clip dataset (module docstring); returns the manifest (also in out_root/manifest.json)."""
    raw_root, out_root = Path(raw_root), Path(out_root)
    if not raw_root.is_dir():
        raise FileNotFoundError(f"prep_clips raw_root={raw_root} is not a directory; expected the .mp4 clips")
    if lists is None:
        if list_format != "kinetics_sounds":
            raise ValueError(f"prep_clips: list_format {list_format!r} needs the split list files (lists)")
        lists = KS_LISTS
    splits = read_lists(list_format, lists)
    check_for_loader(dataset, splits, lists)
    found = {}
    for p in sorted(raw_root.rglob("*.mp4")):
        found.setdefault(p.stem, p)
    split_of = {clip: s for s, rows in splits.items() for clip, _ in rows}
    problems, clips = [], []
    for clip, s in split_of.items():
        if clip not in found:
            problems.append((clip, s, f"missing: no {clip}.mp4 under raw_root"))
            continue
        clips.append(Clip(clip, {"video": found[clip]}, (f"audio/{clip}.wav", f"{FRAMES}/{clip}")))
    outcomes = run_clips(out_root, clips, _work(out_root, fps, sample_rate), workers=workers,
                         desc=f"prep {dataset}", progress=progress)
    problems += [(o.name, split_of[o.name], o.reason) for o in outcomes if o.status == "failed"]
    ok = {o.name for o in outcomes if o.status != "failed"}
    kept = {s: [(c, label) for c, label in rows if c in ok] for s, rows in splits.items()}
    split_files = write_split_files(dataset, out_root, kept)
    split_counts = {s: {"listed": len(rows), "written": len(kept[s])} for s, rows in splits.items()}
    unlisted = sorted(set(found) - set(split_of))
    result = manifest(dataset, raw_root, outcomes, {
        "fps": fps, "sample_rate": sample_rate, "list_format": list_format, "splits": split_counts,
        "missing": sum(r.startswith("missing") for _, _, r in problems), "unlisted": len(unlisted),
        "split_source": {s: str(p) for s, p in lists.items()}, "split_files": split_files})
    write_json(out_root / "manifest.json", result)
    summary = {"listed clips": len(split_of), "prepared now": result["counts"]["prepared"],
               "finished earlier (skipped)": result["counts"]["skipped"], "failed": result["counts"]["failed"],
               "missing from raw_root": result["missing"], "in raw_root but in no split list": len(unlisted),
               **{f"{s} written / listed": f"{v['written']} / {v['listed']}" for s, v in split_counts.items()}}
    atomic_text(out_root / "prep_report.md", report_markdown(f"{dataset} preparation", summary, sorted(problems)))
    return result
