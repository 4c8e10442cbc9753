"""Video and audio decoding with the ffmpeg binary of the `imageio-ffmpeg` wheel (nothing to install by hand).

Every call runs one ffmpeg process and raises `MediaError` with ffmpeg's own last error line when it fails,
so a corrupt clip is reported with the reason, never silently skipped. A truncated file often still
decodes without an error (flv, mp4 with the index first): `probe` therefore compares the duration the
container declares with the duration of the packets really present (`check_complete`).
"""

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

TRUNCATION_TOLERANCE_S = 0.25  # a complete clip's packets end within a frame or two of the declared duration


class MediaError(Exception):
    """A clip that cannot be decoded (or is incomplete); the message is the reason for the report."""


@dataclass(frozen=True)
class Probe:
    declared_s: float | None  # the container's Duration (None: it declares none)
    present_s: float  # end time of the packets actually in the file
    has_video: bool
    has_audio: bool


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", *map(str, args)], capture_output=True,
                          text=True, errors="replace")


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"error|invalid|not found|no such|moov", ln, re.I)]
    return (errors or lines or ["ffmpeg failed without a message"])[0][:300]


def _seconds(hms: str) -> float:
    h, m, s = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def probe(path: Path) -> Probe:
    """Streams, declared duration and present duration of `path` (demuxing only: copies packets to null)."""
    done = _run(["-i", path, "-map", "0", "-c", "copy", "-f", "null", "-", "-progress", "pipe:1", "-nostats"])
    if done.returncode != 0:
        raise MediaError(f"ffmpeg cannot read {Path(path).name}: {_last_error(done.stderr)}")
    header = done.stderr.split("Output #0")[0]
    declared = re.search(r"Duration: (\d+:\d+:\d+\.\d+)", header)
    present = re.findall(r"out_time=(\d+:\d+:\d+\.\d+)", done.stdout)
    return Probe(declared_s=_seconds(declared[1]) if declared else None,
                 present_s=_seconds(present[-1]) if present else 0.0,
                 has_video=bool(re.search(r"Stream #0:\d+.*: Video:", header)),
                 has_audio=bool(re.search(r"Stream #0:\d+.*: Audio:", header)))


def check_complete(info: Probe, name: str, *, video: bool = True, audio: bool = False) -> None:
    """Raise MediaError if a needed stream is absent or the packets end early (a truncated file)."""
    for needed, present, what in ((video, info.has_video, "video"), (audio, info.has_audio, "audio")):
        if needed and not present:
            raise MediaError(f"{name}: no {what} stream")
    if info.present_s <= 0:
        raise MediaError(f"{name}: no packets")
    if info.declared_s is not None and info.present_s < info.declared_s - TRUNCATION_TOLERANCE_S:
        raise MediaError(f"{name}: truncated: packets end at {info.present_s:.2f} s of {info.declared_s:.2f} s "
                         f"declared")


def extract_frames(src: Path, out_dir: Path, fps: int = 1, quality: int = 2) -> int:
    """JPEG frames of `src`'s first video stream at `fps` frames per second into out_dir/00000.jpg, ...
    (ffmpeg's fps filter: the frame nearest each 1/fps tick); returns how many."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = _run(["-v", "error", "-i", src, "-map", "0:v:0", "-vf", f"fps={fps}", "-start_number", "0",
                 "-q:v", quality, out_dir / "%05d.jpg"])
    if done.returncode != 0:
        raise MediaError(f"{Path(src).name}: frame extraction failed: {_last_error(done.stderr)}")
    n = len(list(out_dir.glob("*.jpg")))
    if n == 0:
        raise MediaError(f"{Path(src).name}: no frames decoded")
    return n


def extract_audio(src: Path, out_wav: Path, sample_rate: int = 16_000) -> None:
    """`src`'s first audio stream as 16-bit mono PCM WAV at `sample_rate` (OGM-GE's mp4_to_wav settings)."""
    done = _run(["-v", "error", "-y", "-i", src, "-map", "0:a:0", "-ac", "1", "-ar", sample_rate,
                 "-c:a", "pcm_s16le", "-f", "wav", out_wav])
    if done.returncode != 0:
        raise MediaError(f"{Path(src).name}: audio extraction failed: {_last_error(done.stderr)}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
