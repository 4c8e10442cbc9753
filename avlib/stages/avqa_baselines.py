"""Stage `avqa_baselines`: MUSIC-AVQA's Table 3, accuracy per question type (audio counting, comparative;
visual counting, location; audio-visual existential, location, counting, comparative, temporal; the three
modality averages pooled over their questions, and all) of reduced reimplementations of five published
baselines (`avlib.models.qa_baselines`) and AVST, trained on the same features with the same recipe (AVST's
runs are avqa_ablation's, read from its avst_runs.json: `avlib.stages.shared.avst_runs`); the
other published methods as paper-only rows: those of Table 3 with every column, the later ones
(avlib/reference/avqa_later_models.csv) with their published "all" and its source; and the template prior
(`avlib.tasks.qa.prior`: the majority train answer per template, no training) as a floor."""

import pandas as pd

from avlib.core.params import Choice, Dict, Float, Int, ListOf, ParamError, Schema, Str
from avlib.data.real import music_avqa  # noqa: F401 - the loaders this stage reads (its DVC deps)
from avlib.data.registry import display_name
from avlib.models.qa_baselines import BASELINES
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.avst_runs import FULL as AVST
from avlib.stages.shared.avst_runs import read_avst_runs
from avlib.stages.shared.qa import (  # noqa: F401 - the notebook's: chosen_lr, groups_figure, load_data, ...
    DATASETS,
    QA_FIELDS,
    SAMPLING_NOTE,
    by_model,
    chosen_lr,
    convergence_line,
    groups_figure,
    history_frame,
    job,
    load_data,
    run_longest_first,
    sampling_cell,
    summary,
    template_table,
    time_note,
    write_runs,
)
from avlib.stages.shared.records import holm_family, resolved
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.qa.prior import PRIOR_NAME

# our column keys -> the reference file's columns (Table 3's order)
TYPE_COLUMNS = {"Audio/Counting": "a_counting", "Audio/Comparative": "a_comparative", "Audio": "a_avg",
                "Visual/Counting": "v_counting", "Visual/Location": "v_location", "Visual": "v_avg",
                "Audio-Visual/Existential": "av_existential", "Audio-Visual/Location": "av_location",
                "Audio-Visual/Counting": "av_counting", "Audio-Visual/Comparative": "av_comparative",
                "Audio-Visual/Temporal": "av_temporal", "Audio-Visual": "av_avg", "all": "all_avg"}
PREFIX = {"Audio": "A", "Visual": "V", "Audio-Visual": "AV"}
LABELS = {key: (f"{PREFIX[key.split('/')[0]]} {key.split('/')[1].lower()}" if "/" in key else
                "all" if key == "all" else f"{PREFIX[key]} avg") for key in TYPE_COLUMNS}
PAPER_NAMES = {AVST: "AVST (ours in the paper)", **{k: v[1] for k, v in BASELINES.items()}}
ROW_NAMES = {AVST: "AVST", **{k: f"{v[1]}-lite (reduced)" for k, v in BASELINES.items()}}

PART = ("avqa", 4)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "avqa_baselines",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
    models=ListOf(Choice(*BASELINES, AVST)), lr_from=Str(), avst_from=Str(),
    lrs=Dict(**{model: Float(positive=True) for model in BASELINES}), **QA_FIELDS,
)


def check(p):
    missing = [m for m in p.models if m != AVST and m not in p.lrs]
    if missing:
        raise ParamError(f"avqa_baselines.lrs lacks {missing}: expected an lr for every baseline in models "
                         "(chosen on val: tools/pilot_avqa_lr.py and the rule in params.yaml)")


PARAMS.rules.append(check)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/all/mean"]


def smoke(p):
    p.seeds, p.epochs = p.seeds[:2], 1
    return p


def table_jobs(p) -> list:
    """The runs this stage trains: every model at every seed, each at its own lr (`p.lrs`, chosen on val), but
    AVST, whose runs with this very recipe avqa_ablation trained already (`reused_runs`)."""
    return [job(p, model, seed, p.lrs[model]) for model in p.models if model != AVST for seed in p.seeds]


def reused_runs(p, lr: float, data: dict) -> list:
    """AVST's runs at `p.seeds`, read from avqa_ablation's `p.avst_from` (checked to be this stage's recipe:
    `avlib.stages.shared.avst_runs`); none when AVST is not among `p.models`."""
    return read_avst_runs(p.avst_from, p=p, lr=lr, data=data) if AVST in p.models else []


def table_results(p, trained: list, reused: list) -> list:
    """The table's runs in `p.models` x `p.seeds` order, the order a run of every model here gives: AVST's
    reused runs where AVST stands among the models, the trained ones (`table_jobs`' order) around them."""
    trained, reused = iter(trained), iter(reused)
    return [next(reused if model == AVST else trained) for model in p.models for _ in p.seeds]


def column(prefix: str, key: str) -> str:
    return f"{prefix} {LABELS[key]}"


def baselines_table(results, *, p, reference: pd.DataFrame, later: pd.DataFrame | None = None,
                    prior: dict | None = None, clusters=None) -> pd.DataFrame:
    """Our rows (per-type test accuracy, mean ± CI), then the paper-only rows of the published methods we did
    not reimplement; the paper's number of the method each row reduces beside, all columns of Table 3. With
    `prior` (`avlib.tasks.qa.prior.template_prior`) a first row: the template prior on our data; with `later`
    (avqa_later_models.csv) the later methods' published "all", each with its source; with `clusters` (the
    video of each test question) each Δ's half-width with the test questions' sampling."""
    ours, paper = ours_column(p.dataset), paper_column("music_avqa")
    rows = [] if prior is None else [prior_row(prior, ours)]
    groups = by_model(results)
    full = groups.get(AVST)
    adjusted = holm_family(avst_deltas(groups))
    for name, runs in groups.items():
        row = {"method": ROW_NAMES[name], "family": BASELINES[name][2] if name in BASELINES else "AVQA"}
        for key in TYPE_COLUMNS:
            values = [r.test[key] for r in runs]
            row[column(ours, key)] = "–" if None in values else format_ci(values)
        delta = (None if name == AVST or full is None else
                 paired_difference([r.test["all"] for r in runs], [r.test["all"] for r in full]))
        row["Δ all vs AVST"] = "" if delta is None else str(delta)
        row["± with test sampling"] = "" if delta is None else sampling_cell(delta, runs, full, clusters)
        row["Holm p"] = format_p(adjusted.get(name)) if name != AVST and full is not None else ""
        ref = reference[reference["method"] == PAPER_NAMES[name]]
        for key, col in TYPE_COLUMNS.items():
            row[column(paper, key)] = float(ref[col].iloc[0]) if len(ref) else None
        rows.append(row)
    ours_paper = {PAPER_NAMES[name] for name in groups}
    for _, ref in reference.iterrows():
        if ref["method"] in ours_paper:
            continue
        row = {"method": f"{ref['method']} (paper only, not reimplemented)", "family": ref["task"]}
        for key, col in TYPE_COLUMNS.items():
            row[column(paper, key)] = float(ref[col])
        rows.append(row)
    rows += [] if later is None else later_rows(later, paper)
    return pd.DataFrame(rows)


def avst_deltas(groups: dict) -> dict:
    """{baseline: paired Δ all of AVST − it}: the table's family for Holm's correction (empty without AVST)."""
    if AVST not in groups:
        return {}
    full = [r.test["all"] for r in groups[AVST]]
    return {name: paired_difference(full, [r.test["all"] for r in runs])
            for name, runs in groups.items() if name != AVST}


def prior_row(prior: dict, ours: str) -> dict:
    """The template prior's accuracies on our test split: one number per cell (no seeds, no training)."""
    row = {"method": PRIOR_NAME, "family": "prior (no model)"}
    for key in TYPE_COLUMNS:
        row[column(ours, key)] = "–" if prior.get(key) is None else format_ci([prior[key]])
    return row


LATER_COLUMNS = ("model", "all_acc", "source")


def later_rows(later: pd.DataFrame, paper: str) -> list:
    """Paper-only rows of the later methods: their published accuracy over all questions and its source."""
    missing = [c for c in LATER_COLUMNS if c not in later.columns]
    if missing:
        raise ValueError(f"avqa_later_models.csv lacks the column(s) {missing}; expected {list(LATER_COLUMNS)}")
    return [{"method": f"{r['model']} (paper only, later)", "family": "AVQA (later)",
             column(paper, "all"): float(r["all_acc"]), "source": r["source"]} for _, r in later.iterrows()]


def table_note(p, lr, results) -> str:
    return (f"Data: {display_name(p.dataset)} ({p.root}); test accuracy (%) per question type, "
            "the A/V/AV averages and all pooled over their questions (the official evaluation), mean ± 95% "
            f"t-interval over seeds {p.seeds}; Δ: paired per-seed difference of 'all' with AVST; Holm p: its paired-t "
            "p-value adjusted by Holm over the reimplemented baselines. '-lite': a reduced "
            "reimplementation (see avlib/models/qa_baselines.py), inputs by family (AudioQA: audio; VisualQA, "
            f"VideoQA: frames; AVQA: both). Width {p.hidden}, {p.epochs} epochs (StepLR({p.step_size}, {p.gamma:g})), "
            f"Adam at each model's lr chosen on val from the same grid at the selection seed: AVST {lr:g} (by "
            f"avqa_ablation), {lrs_note(p)}. Paper: MUSIC-AVQA Table 3 (real features); 'later' rows: the "
            "published 'all' of later methods (avlib/reference/avqa_later_models.csv, source per row). "
            f"{PRIOR_NOTE} {SAMPLING_NOTE} {time_note(results)}{reuse_note(results)}.")


def lrs_note(p) -> str:
    """'<row name> <lr>, ...' for the baselines among `p.models`."""
    return ", ".join(f"{ROW_NAMES[m]} {p.lrs[m]:g}" for m in p.models if m != AVST)


def reuse_note(results) -> str:
    """Where AVST's runs come from when they were avqa_ablation's (the same recipe, not retrained here)."""
    n = sum(r.job.model == AVST for r in results)
    return f"; AVST's {n} are avqa_ablation's runs (the same recipe), read from its avst_runs.json" if n else ""


# the answer-prior choice of AV-Scenes, stated beside the paper columns
PRIOR_NOTE = ("Template prior: every test question answered with its template's most frequent train answer (no "
              "training). AV-Scenes balances the yes/no answers of each template (where its scenes allow), which "
              "removes most of MUSIC-AVQA's answer prior: this is why the question-only model scores far below the "
              "paper's Q row (54.09% in its Table 5) here; compare ours with the template-prior row, the paper's "
              "with its own data's prior.")


def findings(results, *, p, reference, clusters=None) -> str:
    groups = by_model(results)
    ranked = sorted(groups, key=lambda n: -summary(groups[n])["mean"])
    lines = [f"# QA baselines on {display_name(p.dataset)}", "",
             "Ranking by test accuracy over all questions (mean over seeds): "
             + ", ".join(f"{ROW_NAMES[n]} {summary(groups[n])['mean']:.1f}" for n in ranked) + ".", ""]
    deltas = avst_deltas(groups)
    if deltas:
        adjusted = holm_family(deltas)
        for name, d in deltas.items():
            ok = resolved(d, adjusted[name])
            direction = ("AVST better: " if d.mean > 0 else "AVST worse: ") if ok else ""
            cell = sampling_cell(d, groups[AVST], groups[name], clusters)
            sampling = "" if cell == "–" else f" ({cell} with the test questions' sampling)"
            lines.append(f"- AVST − {ROW_NAMES[name]}: {d}{sampling} — "
                         f"{direction}{holm_verdict(adjusted[name], len(deltas))}.")
        beaten = sum(resolved(d, adjusted[n]) and d.mean > 0 for n, d in deltas.items())
        lines += ["", "In the paper AVST is best overall (71.52 vs 68.93 for Pano-AVQA); here AVST is "
                  + ("resolvably above every reimplemented baseline after Holm's correction." if beaten == len(deltas)
                     else f"resolvably above {beaten} of the {len(deltas)} reimplemented baselines after Holm's "
                          "correction: a finding about this data and budget.")]
    lines += ["", convergence_line(results)]
    return "\n".join(lines) + "\n"


def run_metrics(results) -> dict:
    keys = [*TYPE_COLUMNS]
    return {ROW_NAMES[name]: {k: summary(runs, k) for k in keys} for name, runs in by_model(results).items()}
