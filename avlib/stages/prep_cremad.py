"""Stage `prep_cremad`: the CREMA-D release (AudioWAV/*.wav, VideoFlash/*.flv) -> frames at `fps` and the
official OGM-GE split files in the layout `avlib.data.real.cremad` reads (`avlib.prep`); off (a "not configured"
report) while `raw_root` is empty."""

from pathlib import Path

from avlib.core.params import Bool, Int, ParamError, Schema, Str

PART = ("ogmge", 10)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("prep_cremad", raw_root=Str(nonempty=False), out_root=Str(), fps=Int(min=1), workers=Int(min=1),
                allow_missing=Bool())


def raw_root_exists(p, stage: str = "prep_cremad"):
    """A cross-key rule of both prep stages: a raw root that is set must be a folder."""
    if p.raw_root and not Path(p.raw_root).is_dir():
        raise ParamError(f"{stage}.raw_root={p.raw_root!r}: expected the raw release's folder, or '' "
                         "(not configured)")


PARAMS.rules.append(raw_root_exists)

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["clips_written", "failed", "missing"]


def smoke(p):
    """Preparation has no smaller version: a smoke run is the real run (on whatever raw_root names)."""
    return p
