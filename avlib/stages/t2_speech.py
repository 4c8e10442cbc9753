"""Stage `t2_speech`: OGM-GE Table 2, speech side: OGM-GE plugged into speaker-recognition audio branches
(X-vector, I-vector-lite) fused with a visual branch, each ± OGM-GE on AV-Digits clips, beside the paper's
CREMA-D numbers (MWTSM: the paper's numbers only, its source not found).

Reported on its own, never pooled with the video side (t2_video). Its schedule (25 epochs, lr 0.05 decayed x0.1
after epoch 15) is the longest candidate of the speech family's val pilot at seeds 200-203, by the rules in
params.yaml (above t2_speech.width), written before each run. OGM-GE's alpha is chosen on val with
`selection_model` at `selection_seed`; every model ± OGM-GE trains at every seed; each paired Δ gets its paired-t
p-value, Holm-adjusted over this side's models. runs.csv holds every run. The OGM-GE grid and the seeds beyond the
ones it trains are t2_speech_more_seeds's runs, read back from its store (`seeds_from`; the very same jobs).
The machinery is `avlib.stages.shared.plugin`, shared with t2_video."""

from functools import partial

from avlib.core.params import Choice, ListOf, Schema, Str
from avlib.models.speech_branches import SPEECH_KINDS
from avlib.stages.shared import plugin
from avlib.stages.shared.classify import history_frame  # noqa: F401 - the notebook's stage.history_frame

SIDE = plugin.SPEECH
DATASETS = plugin.DATASETS  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 2.6)  # where the reports site shows it: part of the talk, order within it (after the video side)
PARAMS = Schema(
    "t2_speech",
    rows=ListOf(Choice(*SPEECH_KINDS)), selection_model=Choice(*SPEECH_KINDS),
    paper_only_rows=ListOf(Choice("mwtsm"), min_len=0),
    **plugin.COMMON_FIELDS, **plugin.SPEECH_FIELDS, seeds_from=Str(nonempty=False),  # "": train every run
)
PARAMS.rules.append(plugin.selection_seed_rule("t2_speech"))

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = plugin.HEADLINE

smoke, load_data, choose_ogm, grid_note = plugin.smoke, plugin.load_data, plugin.choose_ogm, plugin.grid_note
run_metrics, write_all_runs, read_back = plugin.run_metrics, plugin.write_all_runs, plugin.read_back
first_pass = partial(plugin.first_pass, side=SIDE)
run_table = partial(plugin.run_table, side=SIDE)
plugin_table = partial(plugin.plugin_table, side=SIDE)
table_note = partial(plugin.table_note, side=SIDE)
delta_figure = partial(plugin.delta_figure, side=SIDE)
findings = partial(plugin.findings, side=SIDE)
