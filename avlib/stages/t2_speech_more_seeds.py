"""Stage `t2_speech_more_seeds`: OGM-GE Table 2's speech side at more seeds, and its OGM-GE grid, for t2_speech.

What t2_speech does (the OGM-GE grid at the selection seed, α chosen on val, every model ± the chosen OGM-GE), at
seeds beyond the ones t2_speech trains: its `trained_runs.json.gz` holds every run, and t2_speech reads back each
one it would train with the very same job (`avlib/stages/shared/clip_store.py`). The table, its Δs, Holm's
correction and the findings are t2_speech's, over all its seeds. Why another stage: the speech side's 8 seeds at
25 epochs do not fit t2_speech's 12 minutes (issue #27; the rule is in params.yaml, above t2_speech.epochs)."""

from functools import partial

from avlib.core.params import Choice, ListOf, Schema
from avlib.models.speech_branches import SPEECH_KINDS
from avlib.stages.shared import plugin

STAGE = "t2_speech_more_seeds"
SIDE = plugin.SPEECH
DATASETS = plugin.DATASETS  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 2.55)  # where the reports site shows it: just before t2_speech, which reads its runs
PARAMS = Schema(
    STAGE,
    rows=ListOf(Choice(*SPEECH_KINDS)), selection_model=Choice(*SPEECH_KINDS),
    **plugin.COMMON_FIELDS, **plugin.SPEECH_FIELDS,
)
PARAMS.rules.append(plugin.selection_seed_rule(STAGE))
HEADLINE = ["runs/trained"]  # `dvc exp show`

smoke, load_data, choose_ogm, grid_note = plugin.smoke, plugin.load_data, plugin.choose_ogm, plugin.grid_note
write_all_runs = plugin.write_all_runs
first_pass = partial(plugin.first_pass, side=SIDE)
run_table = partial(plugin.run_table, side=SIDE)
write_store = partial(plugin.write_store, stage=STAGE)
run_metrics = plugin.store_metrics
findings = partial(plugin.store_findings, side=SIDE, reader="t2_speech")
