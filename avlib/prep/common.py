"""The resumable, parallel per-clip runner every preparation shares, and its manifest and report.

A clip is *finished* when its record `<out>/.prep/<clip>.json` exists, names the same source files (size and
mtime) and every output it lists is present with the recorded size. The record is written last, atomically,
after the outputs were moved into place: a run killed mid-clip leaves outputs without a record (or a
`.tmp-*` folder), and the next run deletes and redoes that clip; a finished clip is skipped. Each clip's
work writes into temporary names first, so a half-written frame folder never looks complete.
"""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from avlib.prep.media import MediaError, sha256_file

RECORDS = ".prep"


@dataclass(frozen=True)
class Clip:
    name: str
    sources: dict  # role -> source Path (e.g. {"video": .../x.flv, "audio": .../x.wav})
    outputs: tuple  # output paths relative to the out root that this clip's work produces (files or folders)


@dataclass
class Outcome:
    name: str
    status: str  # "prepared", "skipped" (finished earlier), "failed"
    reason: str = ""
    files: dict = field(default_factory=dict)  # relative path -> sha256 (finished clips)


def _stat(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _files(root: Path, rel: str) -> list[str]:
    path = root / rel
    if path.is_dir():
        return sorted(str(p.relative_to(root)) for p in path.rglob("*") if p.is_file())
    return [rel] if path.is_file() else []


def is_finished(root: Path, clip: Clip) -> dict | None:
    """The clip's record if the clip is finished (see the module docstring), else None."""
    record_path = root / RECORDS / f"{clip.name}.json"
    try:
        record = json.loads(record_path.read_text())
        if record["sources"] != {k: [str(p), *_stat(p)] for k, p in clip.sources.items()}:
            return None
        for rel, (size, _) in record["files"].items():
            if (root / rel).stat().st_size != size:
                return None
        if sorted(record["files"]) != sorted(f for rel in clip.outputs for f in _files(root, rel)):
            return None  # extra or missing files: redo
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def _clear(root: Path, clip: Clip) -> None:
    (root / RECORDS / f"{clip.name}.json").unlink(missing_ok=True)
    for rel in clip.outputs:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        for tmp in path.parent.glob(f".tmp-{path.name}*"):  # leftovers of a killed run
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def _write_record(root: Path, clip: Clip) -> dict:
    files = {f: [(root / f).stat().st_size, sha256_file(root / f)] for rel in clip.outputs for f in _files(root, rel)}
    record = {"sources": {k: [str(p), *_stat(p)] for k, p in clip.sources.items()}, "files": files}
    path = root / RECORDS / f"{clip.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(record, sort_keys=True))
    tmp.replace(path)
    return record


def _one(root: Path, clip: Clip, work: Callable) -> Outcome:
    record = is_finished(root, clip)
    if record is not None:
        return Outcome(clip.name, "skipped", files={f: s for f, (_, s) in record["files"].items()})
    _clear(root, clip)  # half-written or stale: start the clip over
    try:
        work(clip)
    except (MediaError, OSError, RuntimeError) as err:
        _clear(root, clip)
        return Outcome(clip.name, "failed", reason=str(err))
    record = _write_record(root, clip)
    return Outcome(clip.name, "prepared", files={f: s for f, (_, s) in record["files"].items()})


def run_clips(root: Path, clips: list, work: Callable, *, workers: int = 4, desc: str = "prep",
              progress: bool = True) -> list:
    """Outcome of every clip (in the order given), `work(clip)` run on up to `workers` threads (ffmpeg
    runs in its own process, so threads are enough to keep that many cores busy)."""
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(tqdm(pool.map(lambda c: _one(root, c, work), clips), total=len(clips), desc=desc,
                         disable=not progress))


def tmp_path(final: Path) -> Path:
    """A temporary sibling of `final` that `_clear` recognises as a leftover."""
    return final.with_name(f".tmp-{final.name}.{os.getpid()}")


def manifest(dataset: str, raw_root, outcomes: list, extra: dict) -> dict:
    """Counts and checksums: one sha256 per finished clip (over its files' names and sha256s), and one over all."""
    clips = {}
    for o in outcomes:
        if o.status != "failed":
            h = hashlib.sha256("".join(f"{f}:{s}\n" for f, s in sorted(o.files.items())).encode())
            clips[o.name] = {"files": len(o.files), "sha256": h.hexdigest()}
    total = hashlib.sha256("".join(f"{c}:{v['sha256']}\n" for c, v in sorted(clips.items())).encode()).hexdigest()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("prepared", "skipped", "failed")}
    return {"dataset": dataset, "raw_root": str(raw_root), "counts": {"clips": len(outcomes), **counts},
            **extra, "sha256": total, "clips": clips}


def atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def write_json(path: Path, value) -> None:
    atomic_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def report_markdown(title: str, summary: dict, problems: list) -> str:
    """The preparation report: counts, then every clip not prepared, with the reason."""
    lines = [f"# {title}", "", "| | count |", "|---|---|", *[f"| {k} | {v} |" for k, v in summary.items()], ""]
    if problems:
        lines += ["## Clips not prepared (and why)", "", "| clip | split | reason |", "|---|---|---|"]
        lines += [f"| {c} | {s} | {r.replace('|', '/')} |" for c, s, r in problems]
    else:
        lines.append("Every listed clip was prepared.")
    return "\n".join(lines) + "\n"
