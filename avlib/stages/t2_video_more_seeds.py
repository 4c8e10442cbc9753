"""Stage `t2_video_more_seeds`: OGM-GE Table 2's video side at more seeds, and its OGM-GE grid, for t2_video.

What t2_video does (the OGM-GE grid at the selection seed, α chosen on val, every model ± the chosen OGM-GE), at
seeds beyond the ones t2_video trains: its `trained_runs.json.gz` holds every run, and t2_video reads back each
one it would train with the very same job (`avlib/stages/shared/clip_store.py`). The table, its Δs, Holm's
correction and the findings are t2_video's, over all its seeds. Why another stage: more seeds do not fit
t2_video's 12 minutes (issue #27; the rule that chose the seeds is in params.yaml, at t2_video.seeds)."""

from functools import partial

from avlib.core.params import Choice, ListOf, Schema
from avlib.data.registry import display_name
from avlib.models.temporal import VIDEO_KINDS
from avlib.stages.shared import plugin
from avlib.stages.shared.clip_store import write_clip_store

STAGE = "t2_video_more_seeds"
SIDE = plugin.VIDEO
DATASETS = plugin.DATASETS  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 2.45)  # where the reports site shows it: just before t2_video, which reads its runs
PARAMS = Schema(
    STAGE,
    rows=ListOf(Choice(*VIDEO_KINDS)), selection_model=Choice(*VIDEO_KINDS),
    **plugin.COMMON_FIELDS, **plugin.VIDEO_FIELDS,
)
PARAMS.rules.append(plugin.selection_seed_rule(STAGE))
HEADLINE = ["runs/trained"]  # `dvc exp show`

smoke, load_data, choose_ogm, grid_note = plugin.smoke, plugin.load_data, plugin.choose_ogm, plugin.grid_note
write_all_runs = plugin.write_all_runs
first_pass = partial(plugin.first_pass, side=SIDE)
run_table = partial(plugin.run_table, side=SIDE)


def write_store(grid_runs: list, runs: list, out_dir, data) -> None:
    write_clip_store([*grid_runs, *runs], out_dir, data=data, stage=STAGE)


def run_metrics(grid_runs: list, runs: list) -> dict:
    return {"runs": {"trained": len(grid_runs) + len(runs)}}


def findings(p, grid_runs: list, runs: list, chosen) -> str:
    return "\n".join([
        f"# Table 2's video side at seeds {p.seeds} ({display_name(p.dataset)})", "",
        f"- {len(grid_runs)} runs of the OGM-GE grid ({p.selection_model} at selection seed {p.selection_seed}; "
        f"chosen on val: {chosen.describe()}), as t2_video's.",
        f"- {len(runs)} runs: every model of {p.rows} without and with the chosen OGM-GE at seeds {p.seeds}, "
        f"{p.epochs} epochs (t2_video's recipe, knob for knob).",
        "- t2_video reads these runs back (`trained_runs.json.gz`) for its table: its Δs, Holm's correction and "
        "findings cover these seeds with its own. `runs.csv` gives each run's numbers.", ""])
