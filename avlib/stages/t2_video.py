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
run_metrics, write_all_runs, read_back = plugin.run_metrics, plugin.write_all_runs, plugin.read_back
first_pass = partial(plugin.first_pass, side=SIDE)
run_table = partial(plugin.run_table, side=SIDE)
plugin_table = partial(plugin.plugin_table, side=SIDE)
table_note = partial(plugin.table_note, side=SIDE)
delta_figure = partial(plugin.delta_figure, side=SIDE)
findings = partial(plugin.findings, side=SIDE)


def premise() -> dict | None:
    """The premise stage's values and checks (None before it has run)."""
    return plugin.read_premise(Path(__file__).resolve().parents[2] / PREMISE)
