"""Stage `t2_video`: OGM-GE Table 2, video side: OGM-GE plugged into temporal AV models (TSN-AV, TSM-AV,
TBN-lite, PSP-lite), each ± OGM-GE on AV-Digits clips, beside the paper's Kinetics-Sounds / VGGSound numbers.

The premise (audio dominant, the visual encoder under-optimized inside the joint model) is measured first, by
stage premise_avclips on this schedule; its verdict heads the findings. The schedule (25 epochs, lr 0.05 decayed
x0.1 after epoch 15) was chosen for the video family on val at pilot seeds 200-203 by the rule in params.yaml
(above t2_video.epochs), written before its pilot. OGM-GE's alpha is chosen on val with `selection_model` at
`selection_seed`; every model ± OGM-GE trains at every seed; each paired Δ gets its paired-t p-value,
Holm-adjusted over this side's models. runs.csv holds every run. The OGM-GE grid and the seeds beyond the ones
it trains are t2_video_more_seeds's runs, read back from its store (`seeds_from`; the very same jobs).
The machinery is `avlib.stages.shared.plugin`, shared with t2_speech."""

from functools import partial
from pathlib import Path

from avlib.core.params import Choice, ListOf, Schema, Str
from avlib.models.temporal import VIDEO_KINDS
from avlib.stages.shared import plugin
from avlib.stages.shared.classify import history_frame  # noqa: F401 - the notebook's stage.history_frame
from avlib.stages.shared.clip_store import reuse_clips

SIDE = plugin.VIDEO
DATASETS = plugin.DATASETS  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 2.5)  # where the reports site shows it: part of the talk, order within it (after Table 1)
PREMISE = "reports/premise_avclips/metrics.json"  # the premise stage's verdict (a DVC dep of this stage)
PARAMS = Schema(
    "t2_video",
    rows=ListOf(Choice(*VIDEO_KINDS)), selection_model=Choice(*VIDEO_KINDS),
    **plugin.COMMON_FIELDS, **plugin.VIDEO_FIELDS, seeds_from=Str(nonempty=False),  # "": train every run
)
PARAMS.rules.append(plugin.selection_seed_rule("t2_video"))

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = [*plugin.HEADLINE, "premise/holds"]

smoke, load_data, choose_ogm, grid_note = plugin.smoke, plugin.load_data, plugin.choose_ogm, plugin.grid_note
write_all_runs = plugin.write_all_runs
first_pass = partial(plugin.first_pass, side=SIDE)
run_table = partial(plugin.run_table, side=SIDE)
plugin_table = partial(plugin.plugin_table, side=SIDE)
table_note = partial(plugin.table_note, side=SIDE)
delta_figure = partial(plugin.delta_figure, side=SIDE)


def read_back(p, grid_runs: list, runs: list, data) -> dict:
    """{"grid": n, "table": n, "seeds": [...]}: how many of the grid's and the table's runs were read from
    `seeds_from`, and the seeds whose every run was."""
    grid = reuse_clips(p.seeds_from, [r.job for r in grid_runs], data=data)
    table = reuse_clips(p.seeds_from, [r.job for r in runs], data=data)
    seeds = [s for s in p.seeds if all(i in table for i, r in enumerate(runs) if r.seed == s)]
    return {"grid": len(grid), "table": len(table), "seeds": seeds}


def run_metrics(runs: list, p, premise: dict | None, read: dict) -> dict:
    """plugin's metrics, and how many runs trained here and were read back (the grid's included)."""
    n_read, n_grid = read["grid"] + read["table"], len(p.alpha_grid) * len(p.window_grid)
    return {**plugin.run_metrics(runs, p, premise=premise),
            "runs": {"trained": len(runs) + n_grid - n_read, "read_back": n_read}}


def findings(runs: list, *, p, data, reference, premise: dict | None, read: dict) -> str:
    """plugin's findings, with a line on the runs read back from `seeds_from` after the premise."""
    line = (f"- Read back from {p.seeds_from} (t2_video_more_seeds's runs, the very same jobs): the OGM-GE grid's "
            f"{read['grid']} runs and {read['table']} of the table's {len(runs)} (seeds {read['seeds']}); the rest "
            "trained here.")
    text = plugin.findings(runs, p=p, side=SIDE, data=data, reference=reference, premise=premise)
    head, _, rest = text.partition("\n\n")
    return f"{head}\n\n{line}\n{rest}"


def premise() -> dict | None:
    """The premise stage's values and checks (None before it has run)."""
    return plugin.read_premise(Path(__file__).resolve().parents[2] / PREMISE)
