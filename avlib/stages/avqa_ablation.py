"""Stage `avqa_ablation`: MUSIC-AVQA's Table 5, the ablation of AVST (Q, A+Q, V+Q, AV+Q, AV+Q+TG,
AV+Q+TG+SG), each row the AVST code with what it names switched off (`avlib.models.avst.ABLATION_ROWS`);
accuracies pooled over the audio / visual / audio-visual questions and all, mean ± 95% CI over seeds, the
paired Δ of each row over the previous one, the paper's numbers beside; and the template prior
(`avlib.tasks.qa.prior`: the majority train answer per template, no training) as a first row, the floor a
question-only model can reach from the answer prior alone. The runs `seeds_from` holds (avqa_more_seeds: the lr
grid and the seeds beyond this stage's budget) are read back, not trained again (`stages/shared/qa_store.py`)."""

import pandas as pd

from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.data.real import music_avqa  # noqa: F401 - the loaders this stage reads (its DVC deps)
from avlib.data.registry import display_name
from avlib.models.avst import ABLATION_ROWS
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.avst_runs import FULL, write_avst_runs  # noqa: F401 - write_avst_runs: the notebook's
from avlib.stages.shared.qa import (  # noqa: F401 - the notebook's: chosen_of, groups_figure, load_data, ...
    DATASETS,
    GROUP_COLUMNS,
    GROUPS,
    QA_FIELDS,
    SAMPLING_NOTE,
    SCHEDULE_WITHOUT_SG,
    ablation_jobs,
    ablation_lr_jobs,
    accuracy_cells,
    by_model,
    chosen_of,
    convergence_line,
    groups_figure,
    history_frame,
    job,
    load_data,
    lr_grid_frame,
    run_longest_first,
    sampling_cell,
    summary,
    time_note,
    write_runs,
)
from avlib.stages.shared.qa_store import stored_stage, train_or_read_qa  # noqa: F401 - the notebook's
from avlib.stages.shared.records import holm_family, resolved
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.qa.prior import PRIOR_NAME

PART = ("avqa", 3)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "avqa_ablation",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2), seeds_from=Str(nonempty=False),
    rows=ListOf(Choice(*ABLATION_ROWS), min_len=2), lr_grid=ListOf(Float(positive=True)), selection_seed=Int(min=0),
    **QA_FIELDS, **SCHEDULE_WITHOUT_SG,
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/all/mean", "*/all/ci95"]


def check(p):
    if p.selection_seed in p.seeds:
        raise ParamError(f"avqa_ablation.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds}")
    order = [r for r in ABLATION_ROWS if r in p.rows]
    if list(p.rows) != order:
        raise ParamError(f"avqa_ablation.rows={p.rows}: expected the table's order {order} "
                         "(each Δ is over the previous row)")


PARAMS.rules.append(check)


def smoke(p):
    """Seconds: two seeds (a paired Δ needs two), one epoch, the first lr of the grid."""
    p.seeds, p.epochs, p.epochs_without_sg, p.lr_grid = p.seeds[:2], 1, 1, p.lr_grid[:1]
    return p


lr_jobs, table_jobs = ablation_lr_jobs, ablation_jobs


def read_back_line(p, read: set, results) -> str:
    """The findings line that says which runs were read back from `seeds_from` (none: all trained here)."""
    if not read:
        return "- Every run was trained here."
    seeds = sorted({results[i].job.seed for i in read})
    return (f"- The runs at seeds {seeds} were trained by {stored_stage(p.seeds_from) or 'another stage'} and "
            f"read back from {p.seeds_from} (the very same jobs on the same data: the same bits); the others "
            "were trained here.")


def ablation_table(results, *, p, reference: pd.DataFrame, prior: dict | None = None, clusters=None) -> pd.DataFrame:
    """One row per ablation row (mean ± CI over seeds, Δ over the previous row, the paper's numbers beside); with
    `prior` (`avlib.tasks.qa.prior.template_prior`) a first row: the template prior on our data; with `clusters`
    (the video of each test question) the Δ's half-width with the test questions' sampling (with_test_sampling)."""
    ours, paper = ours_column(p.dataset), paper_column("music_avqa")
    groups = by_model(results)
    adjusted = holm_family(dict(order_checks(results)))
    rows, previous = [], None
    if prior is not None:
        rows.append({"method": PRIOR_NAME, **{f"{ours} {GROUP_COLUMNS[g]}": "–" if prior.get(g) is None else
                                               format_ci([prior[g]]) for g in GROUPS}})
    for name, runs in groups.items():
        row = {"method": name, **accuracy_cells(runs, GROUPS, ours)}
        if previous is None:
            row["Δ all vs previous row"] = row["Holm p"] = row["± with test sampling"] = ""
        else:
            delta = paired_difference([r.test["all"] for r in runs], [r.test["all"] for r in groups[previous]])
            row["Δ all vs previous row"] = str(delta)
            row["± with test sampling"] = sampling_cell(delta, runs, groups[previous], clusters)
            row["Holm p"] = format_p(adjusted.get(f"{previous} < {name}"))
        ref = reference[reference["method"] == name]
        for key, col in zip(GROUPS, ("audio_q", "visual_q", "audio_visual_q", "all"), strict=True):
            row[f"{paper} {GROUP_COLUMNS[key]}"] = float(ref[col].iloc[0]) if len(ref) else None
        rows.append(row)
        previous = name
    return pd.DataFrame(rows)


def table_note(p, results, reference: pd.DataFrame | None = None) -> str:
    return (f"Data: {display_name(p.dataset)} ({p.root}); test accuracy (%) pooled over each "
            f"modality's questions (not a mean of type accuracies), mean ± 95% t-interval over seeds {p.seeds}; "
            "Δ: paired per-seed difference of 'all' with the previous row, ± 95% interval (seeds better); "
            "Holm p: its paired-t p-value adjusted by Holm over the ablation's six steps (Q < A+Q, Q < V+Q, "
            f"A+Q < AV+Q, V+Q < AV+Q, AV+Q < +TG, +TG < +SG; the findings list all six). {SAMPLING_NOTE} "
            f"Width {p.hidden}, batch {p.batch_size}; full AVST {p.epochs} epochs, StepLR({p.step_size}, {p.gamma}); "
            f"the rows without spatial grounding {p.epochs_without_sg} epochs, StepLR({p.step_size_without_sg}, "
            f"{p.gamma}) (each schedule chosen on val for convergence: params.yaml). "
            f"Paper: MUSIC-AVQA Table 5 (real features, width 512). {prior_note(results, reference)} "
            f"{time_note(results)}.")


def prior_note(results, reference: pd.DataFrame | None) -> str:
    """The answer-prior choice of AV-Scenes, with the question-only accuracies (ours, the paper's) it explains."""
    q_ours = summary(by_model(results)["Q"]) if "Q" in by_model(results) else None
    q_paper = None if reference is None else reference.loc[reference["method"] == "Q", "all"]
    numbers = ""
    if q_ours is not None and q_paper is not None and len(q_paper):
        numbers = f" (Q only: {q_ours['mean']:.1f}% here vs {float(q_paper.iloc[0]):.1f}% in the paper)"
    return ("Template prior: every test question answered with its template's most frequent train answer (no "
            "training). AV-Scenes balances the yes/no answers of each template (where its scenes allow), which "
            f"removes most of MUSIC-AVQA's answer prior: that is why the question-only row is lower here{numbers}; "
            "compare our rows with the template-prior row, the paper's with its own data's prior.")


def order_checks(results) -> list:
    """(claim, paired Δ) for each step of the paper's ordering Q < A+Q, V+Q < AV+Q < +TG < +SG."""
    return [(claim, delta) for claim, delta, _ in order_steps(results)]


def order_steps(results) -> list:
    """(claim, paired Δ, (better runs, worse runs)) for each step of the paper's ordering."""
    groups = by_model(results)
    steps = [("A+Q", "Q"), ("V+Q", "Q"), ("AV+Q", "A+Q"), ("AV+Q", "V+Q"), ("AV+Q+TG", "AV+Q"),
             ("AV+Q+TG+SG", "AV+Q+TG")]
    out = []
    for better, worse in steps:
        if better in groups and worse in groups:
            delta = paired_difference([r.test["all"] for r in groups[better]], [r.test["all"] for r in groups[worse]])
            out.append((f"{worse} < {better}", delta, (groups[better], groups[worse])))
    return out


def findings(results, *, p, lr_grid: pd.DataFrame, clusters=None, read: set = frozenset()) -> str:
    lr = float(lr_grid.loc[lr_grid["chosen"], "lr"].iloc[0])
    lines = [f"# AVST ablation on {display_name(p.dataset)}", "",
             f"- lr {lr:g}, chosen on val from {list(p.lr_grid)} by full AVST's val accuracy (all questions) at "
             f"selection seed {p.selection_seed} (not a reported seed).", ""]
    holds, steps = [], order_steps(results)
    adjusted = holm_family({claim: delta for claim, delta, _ in steps})
    for claim, delta, (better, worse) in steps:
        ok = resolved(delta, adjusted[claim])
        direction = ("holds: " if delta.mean > 0 else "reversed: ") if ok else ""
        holds.append(ok and delta.mean > 0)
        cell = sampling_cell(delta, better, worse, clusters)
        sampling = "" if cell == "–" else f" ({cell} with the test questions' sampling)"
        lines.append(f"- {claim}: Δ all {delta}{sampling} — {direction}{holm_verdict(adjusted[claim], len(steps))}.")
    lines += ["", ("The paper's ordering holds at every step on this data." if holds and all(holds) else
                   f"The paper's ordering does NOT hold at every step here: {sum(holds)}/{len(holds)} steps are "
                   "resolved in the paper's direction after Holm's correction (a finding about this data and "
                   "budget, not about the paper's numbers).")]
    lines += ["", convergence_line(results), read_back_line(p, read, results)]
    return "\n".join(lines) + "\n"


def run_metrics(results) -> dict:
    return {name: {GROUP_COLUMNS[g]: summary(runs, g) for g in GROUPS} for name, runs in by_model(results).items()}
