"""Stage `t2_plugin`: OGM-GE Table 2, OGM-GE plugged into temporal AV models (video side: TSN-AV, TSM-AV,
TBN-lite, PSP-lite) and into speaker-recognition audio branches (speech side: X-vector, I-vector-lite),
each ± OGM-GE on AV-Digits clips, beside the paper's Kinetics-Sounds / VGGSound / CREMA-D numbers.

Every training goes through `avlib.core.pool.run_tasks` with `avlib.tasks.classify.clips.train(job, data)`,
which builds the model, the OGM-GE balancer (`OGMConfig.build`) and calls `avlib.tasks.classify.fit.fit`."""

import matplotlib.pyplot as plt
import pandas as pd

from avlib.balance import OGMConfig
from avlib.core.metrics import mean_ci, paired_difference
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.core.pool import run_tasks
from avlib.data import load_splits
from avlib.data.loader import head
from avlib.data.registry import display_name
from avlib.models.speech_branches import SPEECH_KINDS
from avlib.models.temporal import VIDEO_KINDS
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.classify import TRAIN_FIELDS, history_frame  # noqa: F401 - the notebook's stage.history_frame
from avlib.stages.shared.runs import group_runs
from avlib.tasks.classify.clips import ClipJob, ClipResult, ogm_for, train
from avlib.tasks.classify.fit import TrainConfig

ROW_NAMES = {"tsn_av": "TSN-AV", "tsm_av": "TSM-AV", "tbn_lite": "TBN-lite: one-segment aligned binding windows",
             "psp_lite": "PSP-lite: one PSP layer, clip classification", "x_vector": "X-vector (width-reduced)",
             "i_vector": "I-vector-lite: GMM-UBM + PCA total variability (no EM)", "mwtsm": "MWTSM"}
PAPER_NAMES = {"tsn_av": "tsn_av", "tsm_av": "tsm_av", "tbn_lite": "tbn", "psp_lite": "psp", "x_vector": "x_vector",
               "i_vector": "i_vector", "mwtsm": "mwtsm"}
VIDEO_PAPER = {"kinetics_sounds": "ks_acc", "vggsound": "vggsound_acc"}
SPEECH_PAPER = {"cremad": "cremad_acc"}
SMOKE_SIZES = {"train": 96, "val": 48, "test": 48}

DATASETS = ("avclips",)  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 2)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "t2_plugin",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
    video_rows=ListOf(Choice(*VIDEO_KINDS), min_len=0), speech_rows=ListOf(Choice(*SPEECH_KINDS), min_len=0),
    paper_only_rows=ListOf(Choice("mwtsm"), min_len=0),
    **{k: v for k, v in TRAIN_FIELDS.items() if k != "encoder"},
    shift_div=Int(min=2), hidden=Int(min=1), tau=Float(min=0, max=1), xvector_channels=Int(min=1),
    ivector_components=Int(min=1), ivector_rank=Int(min=1),
    alpha_grid=ListOf(Float(positive=True)), window_grid=ListOf(Float(positive=True, max=1)),
    selection_model=Choice(*VIDEO_KINDS, *SPEECH_KINDS), selection_seed=Int(min=0), ogm_params=Choice("conv", "all"),
    workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/delta_acc", "*/delta_acc_ci95"]


def check(p):
    if p.selection_seed in p.seeds:
        raise ParamError(f"t2_plugin.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds} "
                         "(the tuned run must not be a reported one)")
    if not p.video_rows and not p.speech_rows:
        raise ParamError("t2_plugin.video_rows / speech_rows: expected at least one model to train")


PARAMS.rules.append(check)


def smoke(p):
    """Seconds: two seeds (a paired Δ needs two), one epoch, the first grid point, ~100 clips."""
    p.seeds, p.epochs = p.seeds[:2], 1
    p.alpha_grid, p.window_grid = p.alpha_grid[:1], p.window_grid[:1]
    return p


def load_data(p) -> dict:
    data = load_splits(p.dataset, p.root)
    if p.smoke:
        data = {s: head(d, SMOKE_SIZES[s]) for s, d in data.items()}
    return data


def train_config(p) -> TrainConfig:
    return TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                       weight_decay=p.weight_decay, lr_decay_at=p.lr_decay_at, lr_gamma=p.lr_gamma, device="cpu")


def model_options(p) -> dict:
    return dict(width=p.width, shift_div=p.shift_div, hidden=p.hidden, tau=p.tau,
                xvector_channels=p.xvector_channels, ivector_components=p.ivector_components,
                ivector_rank=p.ivector_rank)


# --- OGM-GE's alpha and window, chosen on val ---------------------------------------------------------

def grid_methods(p) -> list[OGMConfig]:
    return [OGMConfig(alpha=a, start_epoch=0, end_epoch=max(1, round(w * p.epochs)), params=p.ogm_params)
            for a in p.alpha_grid for w in p.window_grid]


def choose_ogm(p, data) -> tuple[pd.DataFrame, OGMConfig]:
    """`selection_model` + OGM-GE at each grid point, once at the selection seed; best val accuracy
    (ties: the first). Test is never read."""
    methods = grid_methods(p)
    jobs = [ClipJob(p.selection_model, m, p.selection_seed, train_config(p), model_options(p)) for m in methods]
    runs = run_tasks(train, jobs, data, workers=p.workers, desc="OGM-GE grid")
    grid = pd.DataFrame([{"model": ROW_NAMES[p.selection_model], "setting": m.describe(),
                          "val_acc": r.val["acc"], "val_audio_acc": r.val.get("audio_acc"),
                          "val_visual_acc": r.val.get("visual_acc")} for m, r in zip(methods, runs, strict=True)])
    best = int(grid["val_acc"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(grid))]
    return grid, methods[best]


def table_jobs(p, chosen: OGMConfig) -> list[ClipJob]:
    """Every model, without then with OGM-GE, at every seed."""
    return [ClipJob(kind, method, seed, train_config(p), model_options(p))
            for kind in (*p.video_rows, *p.speech_rows) for method in (None, chosen) for seed in p.seeds]


def run_table(p, data, chosen: OGMConfig) -> list[ClipResult]:
    return run_tasks(train, table_jobs(p, chosen), data, workers=p.workers, desc="t2_plugin")


# --- table, metrics, history -------------------------------------------------------------------------

def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def _paper(reference: pd.DataFrame, kind: str, ogm: bool, column: str):
    ref = reference[(reference["method"] == PAPER_NAMES[kind]) & (reference["ogm_ge"] == ogm)]
    return float(ref.iloc[0][column]) if len(ref) else None


def plugin_table(runs: list, *, p, chosen: OGMConfig, video_ref: pd.DataFrame,
                 speech_ref: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, ± OGM-GE): ours (acc, mAP, each modality's share accuracy, paired Δ) and the
    paper's accuracy on its datasets (video rows: KS, VGGSound; speech rows: CREMA-D)."""
    groups, rows = group_runs(runs), []
    for kind in (*p.video_rows, *p.speech_rows, *p.paper_only_rows):
        side = "speech" if kind in (*SPEECH_KINDS, "mwtsm") else "video"
        for ogm in (False, True):
            label = kind + ("+ogm_ge" if ogm else "")
            row = {"side": side, "method": ROW_NAMES[kind] + (" + OGM-GE" if ogm else "")}
            if kind in groups or label in groups:
                group, plain = groups[label], groups[kind]
                row |= {"setting": ogm_for(kind, chosen).describe() if ogm else "",
                        ours_column(p.dataset, "acc"): format_ci(_acc(group)),
                        ours_column(p.dataset, "mAP"): format_ci(_acc(group, "map")),
                        "audio share acc": format_ci(_acc(group, "audio_acc")),
                        "visual share acc": format_ci(_acc(group, "visual_acc")),
                        "Δ acc vs w/o OGM-GE (paired)":
                            str(paired_difference(_acc(group), _acc(plain))) if ogm else ""}
            else:
                row["setting"] = "not reimplemented: source not found"
            refs = (VIDEO_PAPER, video_ref) if side == "video" else (SPEECH_PAPER, speech_ref)
            row |= {paper_column(d, "acc"): _paper(refs[1], kind, ogm, c) for d, c in refs[0].items()}
            rows.append(row)
    return pd.DataFrame(rows)


def grid_note(p) -> str:
    return (f"Val accuracy of {ROW_NAMES[p.selection_model]} + OGM-GE at each grid point, seed {p.selection_seed} "
            "(not a reported seed); the chosen point serves every OGM-GE row.")


def table_note(p, chosen: OGMConfig) -> str:
    return (f"Ours: {display_name(p.dataset)} test split (clips of T segments, params.yaml data_avclips), "
            f"mean ± 95% t-interval over seeds {p.seeds}, model selected on val. OGM-GE ({chosen.describe()}) chosen "
            f"on val with {ROW_NAMES[p.selection_model]} at seed {p.selection_seed} (not reported; ogm_grid.md). "
            "Δ = per-seed paired difference with the same model without OGM-GE (same init and data order): "
            "mean ± 95% t-interval (wins/seeds). Share acc = accuracy of each modality's share of the fused logits. "
            "-lite rows are reduced reimplementations (their names say how). MWTSM: paper numbers only. Paper: "
            "Peng et al. CVPR 2022 Table 2 (Kinetics-Sounds, VGGSound; CREMA-D for the speech side): other data "
            "and encoders, compare directions of the Δ, not values.")


def run_metrics(runs: list) -> dict:
    """{label: {acc, acc_ci95, map, [delta_acc, delta_acc_ci95, delta_acc_wins]}} in percent, test."""
    out, groups = {}, group_runs(runs)
    for label, group in groups.items():
        mean, half = mean_ci([100 * a for a in _acc(group)])
        entry = {"acc": round(mean, 4), "acc_ci95": round(half, 4),
                 "map": round(mean_ci(_acc(group, "map"))[0] * 100, 4)}
        if label.endswith("+ogm_ge"):
            d = paired_difference(_acc(group), _acc(groups[label.removesuffix("+ogm_ge")]))
            entry |= {"delta_acc": round(d.mean, 4), "delta_acc_ci95": round(d.half, 4), "delta_acc_wins": d.wins}
        single = [r.single_segment["test"] for r in group if r.single_segment]
        if single:
            entry["single_segment_acc"] = round(mean_ci(single)[0] * 100, 4)
        out[label] = entry
    return out


def delta_figure(runs: list, p):
    """Paired Δ (OGM-GE − without) per model, each seed a dot, the mean a bar."""
    groups = group_runs(runs)
    kinds = [k for k in (*p.video_rows, *p.speech_rows) if k in groups]
    fig, ax = plt.subplots(figsize=(1.3 * len(kinds) + 2, 3.2))
    for i, kind in enumerate(kinds):
        diffs = [100 * (a - b) for a, b in zip(_acc(groups[kind + "+ogm_ge"]), _acc(groups[kind]), strict=True)]
        ax.bar(i, sum(diffs) / len(diffs), color="tab:blue" if kind in VIDEO_KINDS else "tab:orange", alpha=0.6)
        ax.scatter([i] * len(diffs), diffs, color="k", s=12, zorder=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(kinds)), [ROW_NAMES[k].split(":")[0] for k in kinds], rotation=20)
    ax.set_ylabel("Δ test acc, OGM-GE − without (points)")
    ax.set_title(f"OGM-GE plugged in ({display_name(p.dataset)}; dots: seeds)")
    fig.tight_layout()
    return fig


# --- findings ----------------------------------------------------------------------------------------

def findings(runs: list, *, p, video_ref: pd.DataFrame, speech_ref: pd.DataFrame) -> str:
    groups = group_runs(runs)
    lines = [f"# Findings on {display_name(p.dataset)} (not the paper's data)", ""]
    if "tsn_av" in groups:
        clip = mean_ci([100 * a for a in _acc(groups["tsn_av"])])[0]
        one = mean_ci([100 * r.single_segment["test"] for r in groups["tsn_av"]])[0]
        lines.append(f"- TSN-AV reads the whole clip at {clip:.1f}% test accuracy, its first segment alone at "
                     f"{one:.1f}% (same trained models): the clip's segments carry evidence one segment lacks.")
    shares = {m: mean_ci([100 * a for k in groups if "+" not in k for a in _acc(groups[k], f"{m}_acc")])[0]
              for m in ("audio", "visual")}
    lines.append(f"- Without OGM-GE, over all models, the audio share of the fused logits is right "
                 f"{shares['audio']:.1f}% of the time and the visual share {shares['visual']:.1f}%"
                 + (": audio is the stronger share, as on the paper's data." if shares["audio"] > shares["visual"] else
                    ": audio is NOT the dominant share here, though the generator's knobs aimed at it (params.yaml)."))
    lines.append("- OGM-GE against the same model without it (paired over seeds, test accuracy, points; the paper's "
                 "gain beside it):")
    gains, losses, deltas = [], [], {}
    for kind in (*p.video_rows, *p.speech_rows):
        d = deltas[kind] = paired_difference(_acc(groups[kind + "+ogm_ge"]), _acc(groups[kind]))
        ref, cols = (video_ref, VIDEO_PAPER) if kind in VIDEO_KINDS else (speech_ref, SPEECH_PAPER)
        paper = ", ".join(f"{display_name(ds)} {_paper(ref, kind, True, c) - _paper(ref, kind, False, c):+.1f}"
                          for ds, c in cols.items())
        resolved = "the 95% interval excludes 0" if d.excludes_zero else "the 95% interval includes 0"
        lines.append(f"  - {ROW_NAMES[kind]}: Δ {d} — {resolved}; paper: {paper}.")
        if d.excludes_zero:
            (gains if d.mean > 0 else losses).append(ROW_NAMES[kind].split(":")[0])
    pairs = [(_paper(r, k, True, c), _paper(r, k, False, c)) for k in PAPER_NAMES if k != "mwtsm"
             for r, cols in ((video_ref, VIDEO_PAPER), (speech_ref, SPEECH_PAPER)) for c in cols.values()
             if _paper(r, k, False, c) is not None]
    raised = sum(with_ > without for with_, without in pairs)
    lines.append(f"  Resolvable gains here: {', '.join(gains) or 'none'}; "
                 f"resolvable losses: {', '.join(losses) or 'none'}; "
                 f"the other {len(deltas) - len(gains) - len(losses)} of {len(deltas)} are within seed noise. In the "
                 f"paper OGM-GE raises {raised} of its {len(pairs)} reimplemented (model, dataset) pairs "
                 "(one run each, no intervals).")
    if not gains:
        lines.append("- So on our data the paper's claim that OGM-GE helps every plugged-in model is NOT reproduced "
                     "at this budget (few epochs, tiny encoders, three seeds).")
    if p.paper_only_rows:
        lines.append(f"- Not reimplemented (source not found; paper numbers only): "
                     f"{', '.join(ROW_NAMES[r] for r in p.paper_only_rows)}.")
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds). A difference whose interval "
              "includes 0 is not a finding."]
    return "\n".join(lines) + "\n"
