"""Stage `t4_ave`: OGM-GE Table 4 (audio-visual event localization ± OGM-GE): AVGA-lite and PSP-lite, each
plain and with OGM-GE (alpha chosen on val at a selection seed), AVE's segment-level accuracy on test,
mean ± CI over seeds, the paired Δ with its Holm-adjusted p over the table's Δs, beside the paper's AVE numbers;
runs.csv (every run: val/test acc, best epoch, test acc at the best TEST epoch and that optimism); findings read
from the results.

The premise (without OGM-GE each model's fused accuracy neither trivial nor hopeless, audio dominant, both branches
learning) is its own stage, premise_avevents, read on val at pilot seeds no table reports, on this schedule, by
criteria written before the data's difficulty was chosen; its verdict heads the findings (read from
reports/premise_avevents/metrics.json, a DVC dep of this stage). Nothing here reads a premise off the test split."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.core.pool import run_tasks
from avlib.data.registry import display_name
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared import ave_premise
from avlib.stages.shared.ave import load_data, train_config  # noqa: F401 - the notebook calls stage.load_data
from avlib.stages.shared.records import (  # noqa: F401 - write_runs: the notebook's stage.write_runs
    OPTIMISM,
    TEST_SELECTED,
    convergence,
    convergence_sentence,
    holm_family,
    optimism_cells,
    optimism_metrics,
    optimism_sentence,
    resolved,
    runs_frame,
    write_runs,
)
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.runs import history_frame as runs_history
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.ave.train import (
    MODEL_NAMES,
    AVEJob,
    majority_rate,  # noqa: F401 - the notebook's stage.majority_rate (on test)
    train,
)

DATASETS = ("avevents", "ave")  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 4)  # where the reports site shows it: part of the talk, order within it
PREMISE = "reports/premise_avevents/metrics.json"  # the premise stage's verdict (a DVC dep of this stage)
PARAMS = Schema(
    "t4_ave",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
    models=ListOf(Choice(*MODEL_NAMES)), alphas=ListOf(Float(positive=True)), selection_seed=Int(min=0),
    epochs=Int(min=1), batch_size=Int(min=1), lr=Float(positive=True), momentum=Float(min=0, max=1),
    weight_decay=Float(min=0), lr_decay_at=Float(positive=True, max=1), lr_gamma=Float(positive=True, max=1),
    hidden=Int(min=1), dim_attention=Int(min=1), psp_threshold=Float(min=0, max=1), workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/acc", "*/delta_acc", "*/delta_acc_ci95", "*/delta_acc_p_holm", "convergence_check/late_share"]


def check(p):
    if p.selection_seed in p.seeds:
        raise ParamError(f"t4_ave.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds} "
                         "(the tuned run must not be a reported one)")


PARAMS.rules.append(check)
PAPER_DATASET = "ave"


def smoke(p):
    """Seconds: two seeds (the paired Δ needs two), one epoch, the first alpha, a few dozen clips."""
    p.seeds, p.epochs, p.alphas = p.seeds[:2], 1, p.alphas[:1]
    return p


# --- alpha on val, then the table's runs -----------------------------------------------------------

def choose_alpha(p, data, config) -> tuple[pd.DataFrame, dict]:
    """Each model with OGM-GE at each alpha, once, at the selection seed; the best val segment accuracy
    per model is kept (ties: the first). Test is never looked at. Returns (grid table, {model: alpha})."""
    jobs = [AVEJob(m, a, p.selection_seed, config) for m in p.models for a in p.alphas]
    runs = run_tasks(train, jobs, data, workers=p.workers, desc="alpha on val")
    grid = pd.DataFrame([{"model": MODEL_NAMES[r.job.model], "alpha": r.job.alpha, "val_acc": r.val["acc"],
                          "val_audio_share_acc": r.val["audio_acc"], "val_visual_share_acc": r.val["visual_acc"]}
                         for r in runs])
    chosen, flags = {}, []
    for i, r in enumerate(runs):
        best = grid[grid["model"] == MODEL_NAMES[r.job.model]]["val_acc"].idxmax()
        flags.append(i == best)
        if i == best:
            chosen[r.job.model] = r.job.alpha
    grid["chosen"] = flags
    return grid, chosen


def table_jobs(p, chosen: dict, config) -> list:
    return [AVEJob(m, a, s, config) for m in p.models for a in (None, chosen[m]) for s in p.seeds]


def run_table(p, data, chosen, config) -> list:
    return run_tasks(train, table_jobs(p, chosen, config), data, workers=p.workers, desc="t4_ave")


# --- the premise (measured by stage premise_avevents, on val at pilot seeds), as findings lines ------------

def premise() -> dict | None:
    """The premise stage's block of metrics.json (values, criteria met, thresholds; None before it has run)."""
    return ave_premise.read(Path(__file__).resolve().parents[2] / PREMISE)


def premise_lines(premise: dict | None, p) -> list[str]:
    """The findings' first lines: premise_avevents' verdict for each model of this table, or why there is none."""
    if premise is None:
        return [f"- Premise: not measured (no {PREMISE}): run stage premise_avevents first; the table below does "
                "not know whether OGM-GE's premise holds on this data."]
    lines = [ave_premise.sight_line(premise)]
    lines += [ave_premise.model_line(m, premise) if m in premise else
             f"- Premise ({MODEL_NAMES[m]}): not measured by premise_avevents (its `models` lack {m})."
             for m in p.models]
    if premise["epochs"] != p.epochs:
        lines.append(f"- The premise was read at {premise['epochs']} epochs, this table trains {p.epochs}: rerun "
                     "premise_avevents on this schedule before reading the verdict above.")
    return lines


# --- table, metrics, history, figure, findings -------------------------------------------------------

def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def _sd(group) -> float:
    """Seed SD of the test accuracy, in points."""
    return round(100 * float(np.std(_acc(group), ddof=1)), 4) if len(group) > 1 else float("nan")


def _paper(reference, model, with_ogm: bool):
    row = reference[reference["method"] == model]
    return float(row.iloc[0]["with_ogm_ge" if with_ogm else "without_ogm_ge"]) if len(row) else None


def row_name(label: str) -> str:
    model, _, ogm = label.partition("+")
    return MODEL_NAMES[model] + (" + OGM-GE" if ogm else "")


def ogm_deltas(groups: dict) -> dict:
    """{label with OGM-GE: PairedTest vs the same model without it, paired by seed}: the table's Holm family."""
    out = {}
    for label, group in groups.items():
        plain = {r.seed: r for r in groups.get(group[0].job.model, [])}
        if group[0].job.alpha is None or not plain:
            continue
        pairs = [(r.test["acc"], plain[r.seed].test["acc"]) for r in group if r.seed in plain]
        out[label] = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
    return out


def ave_table(runs: list, *, p, reference: pd.DataFrame, majority: float) -> pd.DataFrame:
    groups, rows = group_runs(runs), []
    deltas = ogm_deltas(groups)
    adjusted = holm_family(deltas)
    for label, group in groups.items():
        model, with_ogm = group[0].job.model, group[0].job.alpha is not None
        rows.append({
            "method": row_name(label),
            "setting": f"OGM-GE α={group[0].job.alpha:g}" if with_ogm else "",
            ours_column(p.dataset, "segment acc"): format_ci(_acc(group)),
            "seed SD": round(_sd(group), 2),
            "Δ vs without OGM-GE (paired)": str(deltas[label]) if label in deltas else "",
            "Holm p": format_p(adjusted[label]) if label in deltas else "",
            "audio share alone": format_ci(_acc(group, "audio_acc")),
            "visual share alone": format_ci(_acc(group, "visual_acc")),
            "majority rate": round(100 * majority, 1),
            "without audio branch": format_ci(_acc(group, "acc_without_audio")),
            "without visual branch": format_ci(_acc(group, "acc_without_visual")),
            "ρ_audio, last epoch": format_ci([r.history[-1]["rho_audio"] for r in group], scale=1.0, digits=2),
            **optimism_cells(group),
            paper_column(PAPER_DATASET, "segment acc"): _paper(reference, model, with_ogm),
        })
    return pd.DataFrame(rows)


def table_note(p, chosen: dict) -> str:
    data = display_name(p.dataset)
    alphas = "; ".join(f"{MODEL_NAMES[m]} α={a:g}" for m, a in chosen.items())
    return (f"Ours: {data} test split, segment-level accuracy as the AVE benchmark defines it (correct segments, "
            f"events and background alike, over all test segments), mean ± 95% t-interval over seeds {p.seeds}, "
            f"epoch selected on val; seed SD in points. OGM-GE α chosen on val at seed {p.selection_seed} (not "
            f"reported; grid.md): {alphas}. Δ = per-seed paired difference with the same model without OGM-GE "
            "(same init and data order): mean ± 95% t-interval (wins/seeds); Holm p = its two-sided paired-t "
            "p-value, Holm-adjusted over every Δ of this table (resolved: < 0.05). Audio/visual share alone = "
            "the segment accuracy of each modality's share of the linear classifier's logits (what OGM-GE "
            "scores), beside the majority-class rate (background: what a constant predictor scores); without audio/"
            "visual branch = the fused accuracy with that share replaced by its mean over the test segments (what "
            "the branch adds). ρ_audio = "
            f"s_audio / s_visual over the last epoch's training batches. '{TEST_SELECTED}': each run at the "
            f"epoch with the best TEST accuracy (the official OGM-GE code's selection); '{OPTIMISM}': that minus "
            "ours. AVGA-lite, PSP-lite: reduced reimplementations (see avlib/models/avga.py, psp.py). Paper: "
            "Peng et al. CVPR 2022 Table 4, AVE (real videos, VGG features): another dataset; compare the "
            "direction of Δ, not the values.")


def grid_note(p) -> str:
    return (f"Val segment accuracy of each model with OGM-GE at each α ({display_name(p.dataset)}, "
            f"seed {p.selection_seed}, not a reported seed); the best per model is chosen.")


def run_metrics(runs: list, majority: float, premise: dict | None = None) -> dict:
    """DVC metrics, percent: {label: {acc, acc_ci95, acc_sd, audio_share_acc, visual_share_acc, delta_acc,
    delta_acc_ci95, delta_acc_p, delta_acc_p_holm, delta_acc_resolved, acc_best_test_epoch,
    test_selection_gap}}, "majority_rate", "convergence_check" (`records.convergence`) and "premise" (the
    premise stage's block, as read: its verdict, not measured here)."""
    out, groups = {}, group_runs(runs)
    deltas = ogm_deltas(groups)
    adjusted = holm_family(deltas)
    for label, group in groups.items():
        mean, half = mean_ci([100 * v for v in _acc(group)])
        entry = {"acc": round(mean, 4), **({"acc_ci95": round(half, 4)} if half is not None else {}),
                 "acc_sd": _sd(group)}
        for key in ("audio_acc", "visual_acc"):
            entry[key.replace("_acc", "_share_acc")] = round(mean_ci([100 * v for v in _acc(group, key)])[0], 4)
        for key in ("acc_without_audio", "acc_without_visual"):
            entry[key] = round(mean_ci([100 * v for v in _acc(group, key)])[0], 4)
        if label in deltas:
            entry |= delta_metrics(deltas[label], adjusted[label]) | {"alpha": group[0].job.alpha}
        out[label] = entry | optimism_metrics(group)
    out["majority_rate"] = round(100 * majority, 4)
    out["convergence_check"] = convergence(runs_frame(runs))
    if premise is not None:
        out["premise"] = premise
    return out


def delta_metrics(d, adjusted) -> dict:
    out = {"delta_acc": round(d.mean, 4), "delta_acc_wins": d.wins}
    if d.half is not None:
        out["delta_acc_ci95"] = round(d.half, 4)
    if d.p is not None:
        out |= {"delta_acc_p": round(d.p, 6), "delta_acc_p_holm": round(adjusted, 6),
                "delta_acc_resolved": resolved(d, adjusted)}
    return out


def history_frame(runs: list) -> pd.DataFrame:
    """Per-epoch logs, long format: run ('avga', 'avga+ogm_ge', ...), seed, then the epoch's record."""
    return runs_history(runs, columns=lambda r: {"run": r.label, "seed": r.seed})


def curves_figure(runs: list):
    """Val segment accuracy over the epochs (mean over seeds), each model plain vs with OGM-GE."""
    groups = group_runs(runs)
    models = list(dict.fromkeys(r.job.model for r in runs))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for label, style in ((model, "-"), (f"{model}+ogm_ge", "--")):
            if label not in groups:
                continue
            curves = np.array([[h["val_acc"] for h in r.history] for r in groups[label]]) * 100
            ax.plot(curves.mean(0), style, label=row_name(label))
        ax.set_title(MODEL_NAMES[model])
        ax.set_xlabel("epoch")
        ax.set_ylabel("val segment accuracy (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _verdict(d, adjusted) -> str:
    if resolved(d, adjusted):
        return "a gain, as the paper reports" if d.mean > 0 else "a LOSS: the opposite of the paper"
    return "our data do NOT show the paper's gain"


def findings(runs: list, *, p, reference: pd.DataFrame, premise: dict | None = None) -> str:
    """findings.md, read from the results: the premise stage's verdict first, then each model ± OGM-GE."""
    groups = group_runs(runs)
    deltas = ogm_deltas(groups)
    adjusted, m = holm_family(deltas), len(deltas)
    data = display_name(p.dataset)
    lines = [f"# t4_ave findings ({data}, seeds {p.seeds})", "", *premise_lines(premise, p)]
    for model in dict.fromkeys(r.job.model for r in runs):
        plain, label = groups[model], f"{model}+ogm_ge"
        if label not in deltas:
            continue
        d, ogm = deltas[label], groups[label]
        paper_d = _paper(reference, model, True) - _paper(reference, model, False)
        lines.append(f"- {MODEL_NAMES[model]}: {format_ci(_acc(plain))} → {format_ci(_acc(ogm))} % with OGM-GE "
                     f"(α={ogm[0].job.alpha:g}); paired Δ {d} points, {holm_verdict(adjusted[label], m)}: "
                     f"{_verdict(d, adjusted[label])}. Paper (AVE): {_paper(reference, model, False):.1f} → "
                     f"{_paper(reference, model, True):.1f} (Δ {paper_d:+.1f}).")
    order = sorted(p.models, key=lambda m: -mean_ci(_acc(groups[m]))[0])
    if len(order) > 1:
        same = order[0] == "psp"
        lines.append(f"- Ranking without OGM-GE: {' > '.join(MODEL_NAMES[m] for m in order)}; the paper ranks PSP "
                     f"above AVGA ({'the same order' if same else 'NOT the order we get'}).")
    lines.append("- " + optimism_sentence(groups, row_name))
    lines.append("- " + convergence_sentence(convergence(runs_frame(runs))))
    lines.append(f"- {data} is embedded synthetic data, not AVE: the absolute numbers are not comparable with the "
                 "paper's, only the direction of each Δ." if p.dataset != "ave" else
                 "- Run on the AVE release's features.")
    return "\n".join(lines) + "\n"
