"""Stage `avqa_more_seeds`: MUSIC-AVQA's Table 5 (the AVST ablation) at more seeds, and its lr choice, for
avqa_ablation.

What avqa_ablation does (the lr chosen on val for full AVST at the selection seed, every row at each seed, the
rows without spatial grounding on their own schedule), at seeds beyond the ones avqa_ablation trains: its
`trained_runs.json.gz` holds every run, and avqa_ablation reads back each one it would train with the very same
job (`avlib/stages/shared/qa_store.py`), the lr grid's included. The table, its Δs, Holm's correction and the
findings are avqa_ablation's, over all its seeds. Why another stage: at the schedule the rows converge under,
five seeds do not fit one 12-minute stage (issue #28; the rule is in params.yaml, at avqa_ablation)."""

from avlib.core.params import Choice, Float, Int, ListOf, Schema, Str
from avlib.data.real import music_avqa  # noqa: F401 - the loaders this stage reads (its DVC deps)
from avlib.models.avst import ABLATION_ROWS
from avlib.stages.shared.qa import (  # noqa: F401 - the notebook's
    DATASETS,
    QA_FIELDS,
    SCHEDULE_WITHOUT_SG,
    ablation_jobs,
    ablation_lr_jobs,
    chosen_of,
    history_frame,
    load_data,
    lr_grid_frame,
    run_longest_first,
    time_note,
    write_runs,
)
from avlib.stages.shared.qa_store import write_qa_store

STAGE = "avqa_more_seeds"
PART = ("avqa", 2.9)  # where the reports site shows it: just before avqa_ablation, which reads its runs
PARAMS = Schema(
    STAGE,
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0)),
    rows=ListOf(Choice(*ABLATION_ROWS), min_len=2), lr_grid=ListOf(Float(positive=True)), selection_seed=Int(min=0),
    **QA_FIELDS, **SCHEDULE_WITHOUT_SG,
)
HEADLINE = ["runs/trained"]  # `dvc exp show`


def smoke(p):
    """Seconds: one seed, one epoch, the first lr of the grid."""
    p.seeds, p.epochs, p.epochs_without_sg, p.lr_grid = p.seeds[:1], 1, 1, p.lr_grid[:1]
    return p


def write_store(grid_runs, runs, out_dir, data):
    """trained_runs.json.gz: the lr grid's runs and the table's, what avqa_ablation reads back."""
    return write_qa_store([*grid_runs, *runs], out_dir, data=data, stage=STAGE)


def run_metrics(grid_runs, runs, lr: float) -> dict:
    return {"lr": lr, "runs": {"trained": len(grid_runs) + len(runs), "lr_grid": len(grid_runs),
                               "seeds": sorted({r.job.seed for r in runs})}}


def findings(p, grid_runs, runs, lr: float) -> str:
    return (f"# AVST ablation: more seeds for avqa_ablation\n\n"
            f"- lr {lr:g}, chosen on val from {list(p.lr_grid)} by full AVST's val accuracy (all questions) at "
            f"selection seed {p.selection_seed} (not a reported seed); the grid's runs are stored too, so "
            "avqa_ablation reads the same choice.\n"
            f"- {len(runs)} runs: rows {list(p.rows)} at seeds {list(p.seeds)}; full AVST {p.epochs} epochs, "
            f"StepLR({p.step_size}, {p.gamma}); the rows without spatial grounding {p.epochs_without_sg} epochs, "
            f"StepLR({p.step_size_without_sg}, {p.gamma}).\n"
            "- Their table, Δs, Holm's correction and convergence are avqa_ablation's (reports/avqa_ablation), "
            "over these seeds and its own. This stage reads no test number.\n"
            f"- {time_note([*grid_runs, *runs])}.\n")
