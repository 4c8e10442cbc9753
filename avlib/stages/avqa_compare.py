"""Stage `avqa_compare`: the MUSIC-AVQA paper's dataset comparison (Li et al., CVPR 2022, Table 1: ActivityNet-QA,
TVQA, AVSD, Pano-AVQA, MUSIC-AVQA; origin, main sound type, #videos, average length, and all seven question-kind
columns, the AV comparative and AV temporal kinds being what no earlier dataset asks), transcribed in
avlib/reference/avqa_dataset_comparison.csv, with AV-Scenes as an extra row computed from the generated data
(its annotation files and scenes.json), never typed."""

from pathlib import Path

import pandas as pd

from avlib.core.params import Schema, Str
from avlib.data.embedded.avscenes.media import SEGMENTS
from avlib.data.embedded.avscenes.scenes import read_scenes
from avlib.data.errors import DatasetError
from avlib.data.qa import read_annotations

PART = ("avqa", 2)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema("avqa_compare", root=Str())
SPLITS = ("train", "val", "test")
KINDS = {"audio_question": ("Audio",), "visual_question": ("Visual",), "av_existential": ("Audio-Visual/Existential",),
         "av_location": ("Audio-Visual/Location",), "av_counting": ("Audio-Visual/Counting",),
         "av_comparative": ("Audio-Visual/Comparative",), "av_temporal": ("Audio-Visual/Temporal",)}
COLUMNS = {"dataset": "dataset", "source": "source", "origin": "origin", "main_sound_type": "main sound type",
           "videos": "#videos", "avg_video_length": "average length", "qa_pairs": "QA pairs",
           "audio_question": "audio question", "visual_question": "visual question",
           "av_existential": "AV existential", "av_location": "AV location", "av_counting": "AV counting",
           "av_comparative": "AV comparative", "av_temporal": "AV temporal"}
SOURCE_NOTE = ("Rows marked 'paper' are the MUSIC-AVQA paper's Table 1 (Li et al., CVPR 2022), transcribed in "
               "avlib/reference/avqa_dataset_comparison.csv. The AV-Scenes row is computed from the generated data "
               "(videos from scenes.json, question kinds from the annotation files): embedded data, not a paper "
               "number.")


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["n_datasets", "n_videos_avscenes", "n_qa_pairs_avscenes"]


def smoke(p):
    """The table reads files only: a smoke run is the real run."""
    return p


def avscenes_row(root) -> dict:
    """AV-Scenes facts read from `root` in the columns of the reference table."""
    root = Path(root)
    if not (root / "avqa-train.json").is_file():
        raise DatasetError(f"avqa_compare: {root / 'avqa-train.json'} not found; expected generated AV-Scenes "
                           "(run `dvc repro data_avscenes`)")
    records = [r for s in SPLITS for r in read_annotations(root / f"avqa-{s}.json")]
    scenes = read_scenes(root)
    kinds = {r.type for r in records} | {r.modality for r in records}
    row = {"dataset": "AV-Scenes", "source": f"ours (computed from {root})", "origin": "generated (avlab)",
           "main_sound_type": "Synthesized instruments", "videos": f"{len(scenes):,}",
           "avg_video_length": f"{SEGMENTS}s", "qa_pairs": f"{len(records):,}"}
    row.update({k: "yes" if any(n in kinds for n in names) else "no" for k, names in KINDS.items()})
    return row


def comparison_metrics(table: pd.DataFrame, ours: dict) -> dict:
    """metrics.json: the AV-Scenes row as shown, and the counts as numbers (what `dvc exp show` compares)."""
    return {"avscenes": ours, "n_datasets": len(table), "n_videos_avscenes": int(ours["videos"].replace(",", "")),
            "n_qa_pairs_avscenes": int(ours["qa_pairs"].replace(",", ""))}


def comparison_table(reference: pd.DataFrame, ours: dict, facts: dict) -> pd.DataFrame:
    missing = [c for c in list(KINDS) + ["dataset", "origin", "main_sound_type", "videos", "avg_video_length"]
               if c not in reference.columns]
    if missing:
        raise DatasetError(f"avqa_compare: avqa_dataset_comparison.csv lacks the column(s) {missing}; expected every "
                           "column of the paper's Table 1")
    rows = reference.assign(source="paper (Table 1)").to_dict("records")
    for r in rows:  # QA pairs: the paper states MUSIC-AVQA's only (avqa_dataset_facts.yaml)
        r["qa_pairs"] = f"{facts['qa_pairs']:,}" if r["dataset"] == "MUSIC-AVQA" else None
    table = pd.DataFrame(rows + [ours])
    return table[list(COLUMNS)].rename(columns=COLUMNS)
