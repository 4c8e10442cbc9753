"""Stage `t4_ave`: OGM-GE Table 4 (audio-visual event localization ± OGM-GE): AVGA-lite and PSP-lite, each
plain and with OGM-GE (alpha chosen on val at a selection seed), AVE's segment-level accuracy on test,
mean ± CI over seeds, the paired Δ, beside the paper's AVE numbers; findings read from the results."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.core.metrics import mean_ci, paired_difference
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.core.pool import run_tasks
from avlib.data import load_splits
from avlib.data.real.ave import SegmentDataset
from avlib.data.registry import display_name
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.runs import history_frame as runs_history
from avlib.tasks.ave.train import MODEL_NAMES, AVEJob, SegmentTrainConfig, train

DATASETS = ("avevents", "ave")  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 4)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "t4_ave",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
    models=ListOf(Choice(*MODEL_NAMES)), alphas=ListOf(Float(positive=True)), selection_seed=Int(min=0),
    epochs=Int(min=1), batch_size=Int(min=1), lr=Float(positive=True), momentum=Float(min=0, max=1),
    weight_decay=Float(min=0), lr_decay_at=Float(positive=True, max=1), lr_gamma=Float(positive=True, max=1),
    hidden=Int(min=1), dim_attention=Int(min=1), psp_threshold=Float(min=0, max=1), workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/acc", "*/delta_acc", "*/delta_acc_ci95"]


def check(p):
    if p.selection_seed in p.seeds:
        raise ParamError(f"t4_ave.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds} "
                         "(the tuned run must not be a reported one)")


PARAMS.rules.append(check)
SMOKE_SIZES = {"train": 32, "val": 16, "test": 16}
PAPER_DATASET = "ave"


def smoke(p):
    """Seconds: two seeds (the paired Δ needs two), one epoch, the first alpha, a few dozen clips."""
    p.seeds, p.epochs, p.alphas = p.seeds[:2], 1, p.alphas[:1]
    return p


def load_data(p) -> dict:
    data = load_splits(p.dataset, p.root)
    if p.smoke:
        data = {s: SegmentDataset.from_tensors(d.audio[:SMOKE_SIZES[s]], d.visual[:SMOKE_SIZES[s]],
                                               d.label[:SMOKE_SIZES[s]], n_classes=d.n_classes)
                for s, d in data.items()}
    return data


def train_config(p) -> SegmentTrainConfig:
    return SegmentTrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                              weight_decay=p.weight_decay, lr_decay_at=p.lr_decay_at, lr_gamma=p.lr_gamma,
                              hidden=p.hidden, dim_attention=p.dim_attention, psp_threshold=p.psp_threshold)


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


# --- table, metrics, history, figure, findings -------------------------------------------------------

def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def _paper(reference, model, with_ogm: bool):
    row = reference[reference["method"] == model]
    return float(row.iloc[0]["with_ogm_ge" if with_ogm else "without_ogm_ge"]) if len(row) else None


def row_name(label: str) -> str:
    model, _, ogm = label.partition("+")
    return MODEL_NAMES[model] + (" + OGM-GE" if ogm else "")


def ave_table(runs: list, *, p, reference: pd.DataFrame) -> pd.DataFrame:
    groups, rows = group_runs(runs), []
    for label, group in groups.items():
        model, with_ogm = group[0].job.model, group[0].job.alpha is not None
        plain = groups[model]
        rows.append({
            "method": row_name(label),
            "setting": f"OGM-GE α={group[0].job.alpha:g}" if with_ogm else "",
            ours_column(p.dataset, "segment acc"): format_ci(_acc(group)),
            "Δ vs without OGM-GE (paired)": str(paired_difference(_acc(group), _acc(plain))) if with_ogm else "",
            "audio share alone": format_ci(_acc(group, "audio_acc")),
            "visual share alone": format_ci(_acc(group, "visual_acc")),
            "ρ_audio, last epoch": format_ci([r.history[-1]["rho_audio"] for r in group], scale=1.0, digits=2),
            paper_column(PAPER_DATASET, "segment acc"): _paper(reference, model, with_ogm),
        })
    return pd.DataFrame(rows)


def table_note(p, chosen: dict) -> str:
    data = display_name(p.dataset)
    alphas = "; ".join(f"{MODEL_NAMES[m]} α={a:g}" for m, a in chosen.items())
    return (f"Ours: {data} test split, segment-level accuracy as the AVE benchmark defines it (correct segments, "
            f"events and background alike, over all test segments), mean ± 95% t-interval over seeds {p.seeds}, "
            f"epoch selected on val. OGM-GE α chosen on val at seed {p.selection_seed} (not reported; grid.md): "
            f"{alphas}. Δ = per-seed paired difference with the same model without OGM-GE (same init and data "
            "order): mean ± 95% t-interval (wins/seeds). Audio/visual share alone = the segment accuracy of "
            "each modality's share of the linear classifier's logits (what OGM-GE scores). ρ_audio = s_audio / "
            "s_visual over the last epoch's training batches. AVGA-lite, PSP-lite: reduced reimplementations "
            "(see avlib/models/avga.py, psp.py). Paper: Peng et al. CVPR 2022 Table 4, AVE (real videos, VGG "
            "features): another dataset; compare the direction of Δ, not the values.")


def grid_note(p) -> str:
    return (f"Val segment accuracy of each model with OGM-GE at each α ({display_name(p.dataset)}, "
            f"seed {p.selection_seed}, not a reported seed); the best per model is chosen.")


def run_metrics(runs: list) -> dict:
    """DVC metrics, percent: {label: {acc, acc_ci95, audio_share_acc, visual_share_acc, delta_acc, ...}}."""
    out, groups = {}, group_runs(runs)
    for label, group in groups.items():
        mean, half = mean_ci([100 * v for v in _acc(group)])
        entry = {"acc": round(mean, 4), **({"acc_ci95": round(half, 4)} if half is not None else {})}
        for key in ("audio_acc", "visual_acc"):
            entry[key.replace("_acc", "_share_acc")] = round(mean_ci([100 * v for v in _acc(group, key)])[0], 4)
        if group[0].job.alpha is not None:
            d = paired_difference(_acc(group), _acc(groups[group[0].job.model]))
            entry |= {"alpha": group[0].job.alpha, "delta_acc": round(d.mean, 4), "delta_acc_wins": d.wins}
            if d.half is not None:
                entry["delta_acc_ci95"] = round(d.half, 4)
        out[label] = entry
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


def findings(runs: list, *, p, reference: pd.DataFrame) -> str:
    groups = group_runs(runs)
    data = display_name(p.dataset)
    lines = [f"# t4_ave findings ({data}, seeds {p.seeds})", ""]
    for model in dict.fromkeys(r.job.model for r in runs):
        plain, ogm = groups[model], groups.get(f"{model}+ogm_ge")
        if ogm is None:
            continue
        d = paired_difference(_acc(ogm), _acc(plain))
        paper_d = _paper(reference, model, True) - _paper(reference, model, False)
        verdict = ("a gain whose interval excludes 0, as the paper reports" if d.excludes_zero and d.mean > 0 else
                   "a LOSS whose interval excludes 0: the opposite of the paper" if d.excludes_zero else
                   "an interval that includes 0: our data do NOT show the paper's gain")
        lines.append(f"- {MODEL_NAMES[model]}: {format_ci(_acc(plain))} → {format_ci(_acc(ogm))} % with OGM-GE "
                     f"(α={ogm[0].job.alpha:g}); paired Δ {d} points, {verdict}. Paper (AVE): "
                     f"{_paper(reference, model, False):.1f} → {_paper(reference, model, True):.1f} "
                     f"(Δ {paper_d:+.1f}).")
        rho = mean_ci([r.history[-1]["rho_audio"] for r in plain])[0]
        share = {m: mean_ci([100 * r.test[f"{m}_acc"] for r in plain])[0] for m in ("audio", "visual")}
        lines.append(f"  Without OGM-GE, ρ_audio at the last epoch is {rho:.2f} "
                     f"({'audio dominates' if rho > 1 else 'visual dominates'}); the audio share alone scores "
                     f"{share['audio']:.1f} %, the visual share {share['visual']:.1f} % of the test segments.")
    order = sorted(p.models, key=lambda m: -mean_ci(_acc(groups[m]))[0])
    if len(order) > 1:
        same = order[0] == "psp"
        lines.append(f"- Ranking without OGM-GE: {' > '.join(MODEL_NAMES[m] for m in order)}; the paper ranks PSP "
                     f"above AVGA ({'the same order' if same else 'NOT the order we get'}).")
    lines.append(f"- {data} is embedded synthetic data, not AVE: the absolute numbers are not comparable with the "
                 "paper's, only the direction of each Δ." if p.dataset != "ave" else
                 "- Run on the AVE release's features.")
    return "\n".join(lines) + "\n"
