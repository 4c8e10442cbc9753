"""CREMA-D as released -> the layout `avlib.data.real.cremad` reads (OGM-GE's, see that module).

    <raw_root>/AudioWAV/<clip>.wav, <raw_root>/VideoFlash/<clip>.flv          (the CREMA-D release)
 -> <out_root>/AudioWAV/<clip>.wav                 copied byte for byte (the loader resamples and crops)
    <out_root>/Image-01-FPS/<clip>/00000.jpg ...   frames at 1 fps (ffmpeg's fps filter; OGM-GE's
                                                   video_preprocessing.py keeps the first frame of each second)
    <out_root>/train.csv, test.csv                 "<clip>,<EMO>" rows of the official split, clips prepared
    <out_root>/manifest.json                       counts, per-clip and overall sha256 (`common.manifest`)
    <out_root>/prep_report.md                      every listed clip NOT prepared, with the reason

The split is the official OGM-GE one (6,698 train / 744 test clips, `avlib/reference/cremad_{train,test}.csv`,
copied from GeWu-Lab/OGM-GE_CVPR2022 data/CREMAD/ @ 343dc1d); the loader carves val from train by its seed.
A listed clip whose wav or flv is missing, unreadable or truncated is dropped from the written split and
listed in the report; clips found in the release but in neither list are counted ("unlisted").
"""

import shutil
from pathlib import Path

import soundfile as sf

from avlib.core.atomic import atomic_move_dir
from avlib.data.real.cremad import EMOTIONS, read_split_csv
from avlib.prep.common import (
    Clip,
    atomic_text,
    manifest,
    report_markdown,
    run_clips,
    tmp_path,
    write_json,
)
from avlib.prep.media import MediaError, check_complete, extract_frames, probe

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
OFFICIAL_SPLITS = {"train": REFERENCE / "cremad_train.csv", "test": REFERENCE / "cremad_test.csv"}
FRAMES = "Image-01-FPS"


def _check_wav(path: Path) -> None:
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as err:
        raise MediaError(f"{path.name}: unreadable WAV: {err}") from None
    if info.frames == 0:
        raise MediaError(f"{path.name}: WAV has no samples")


def _work(out_root: Path, fps: int):
    def work(clip: Clip) -> None:
        _check_wav(clip.sources["audio"])
        check_complete(probe(clip.sources["video"]), clip.sources["video"].name, video=True)
        frames = out_root / FRAMES / clip.name
        frames.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(frames)
        extract_frames(clip.sources["video"], tmp, fps=fps)
        wav = out_root / "AudioWAV" / f"{clip.name}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        wav_tmp = tmp_path(wav)
        shutil.copyfile(clip.sources["audio"], wav_tmp)
        atomic_move_dir(tmp, frames)
        wav_tmp.replace(wav)
    return work


def prepare_cremad(raw_root, out_root, *, splits: dict | None = None, fps: int = 1, workers: int = 4,
                   progress: bool = True) -> dict:
    """Prepare CREMA-D (module docstring); returns the manifest (also written to out_root/manifest.json)."""
    raw_root, out_root = Path(raw_root), Path(out_root)
    for sub in ("AudioWAV", "VideoFlash"):
        if not (raw_root / sub).is_dir():
            raise FileNotFoundError(f"prep_cremad raw_root={raw_root}: no {sub}/ folder; expected the CREMA-D "
                                    f"release (AudioWAV/*.wav, VideoFlash/*.flv)")
    lists = {s: read_split_csv(Path(p)) for s, p in (splits or OFFICIAL_SPLITS).items()}
    split_of = {clip: s for s, rows in lists.items() for clip, _ in rows}
    found = {p.stem for p in (raw_root / "VideoFlash").glob("*.flv")} | {p.stem for p in
                                                                          (raw_root / "AudioWAV").glob("*.wav")}
    problems, clips = [], []
    for clip, s in split_of.items():
        wav, flv = raw_root / "AudioWAV" / f"{clip}.wav", raw_root / "VideoFlash" / f"{clip}.flv"
        missing = [str(p.relative_to(raw_root)) for p in (wav, flv) if not p.is_file()]
        if missing:
            problems.append((clip, s, f"missing: {', '.join(missing)}"))
            continue
        clips.append(Clip(clip, {"audio": wav, "video": flv}, (f"AudioWAV/{clip}.wav", f"{FRAMES}/{clip}")))
    outcomes = run_clips(out_root, clips, _work(out_root, fps), workers=workers, desc="prep_cremad",
                         progress=progress)
    problems += [(o.name, split_of[o.name], o.reason) for o in outcomes if o.status == "failed"]
    ok = {o.name for o in outcomes if o.status != "failed"}
    split_counts = {}
    for s, rows in lists.items():
        kept = [(c, EMOTIONS[label]) for c, label in rows if c in ok]
        atomic_text(out_root / f"{s}.csv", "".join(f"{c},{e}\n" for c, e in kept))
        split_counts[s] = {"listed": len(rows), "written": len(kept)}
    unlisted = sorted(found - set(split_of))
    result = manifest("cremad", raw_root, outcomes, {
        "fps": fps, "splits": split_counts, "missing": sum(r.startswith("missing") for _, _, r in problems),
        "unlisted": len(unlisted), "split_source": {s: str(p) for s, p in (splits or OFFICIAL_SPLITS).items()}})
    write_json(out_root / "manifest.json", result)
    summary = {"listed clips": len(split_of), "prepared now": result["counts"]["prepared"],
               "finished earlier (skipped)": result["counts"]["skipped"], "failed": result["counts"]["failed"],
               "missing from raw_root": result["missing"], "in raw_root but in no split list": len(unlisted),
               **{f"{s} written / listed": f"{v['written']} / {v['listed']}" for s, v in split_counts.items()}}
    atomic_text(out_root / "prep_report.md", report_markdown("CREMA-D preparation", summary, sorted(problems)))
    return result
