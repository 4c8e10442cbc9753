"""Stage `prep_clips`: Kinetics-Sounds / VGGSound clips (mp4) -> 16 kHz wav + frames at `fps` in the layout
the `kinetics_sounds` / `vggsound` loaders read, with the split lists checked against what was found
(`avlib.prep`); off (a "not configured" report) while `raw_root` is empty."""

from avlib.core.params import Bool, Choice, Int, Schema, Str
from avlib.prep.clips import FORMATS
from avlib.stages.prep_cremad import raw_root_exists

PART = ("ogmge", 11)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("prep_clips", dataset=Choice("kinetics_sounds", "vggsound"), raw_root=Str(nonempty=False),
                out_root=Str(), list_format=Choice(*FORMATS), train_list=Str(nonempty=False),
                test_list=Str(nonempty=False), fps=Int(min=1), sample_rate=Int(min=1), workers=Int(min=1),
                allow_missing=Bool())
PARAMS.rules.append(lambda p: raw_root_exists(p, PARAMS.stage))

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["clips_written", "failed", "missing"]


def smoke(p):
    """Preparation has no smaller version: a smoke run is the real run (on whatever raw_root names)."""
    return p
