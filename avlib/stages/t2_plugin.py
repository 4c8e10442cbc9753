"""Stage `t2_plugin`: OGM-GE Table 2, OGM-GE plugged into temporal AV models (video side: TSN-AV, TSM-AV,
TBN-lite, PSP-lite) and into speaker-recognition audio branches (speech side: X-vector, I-vector-lite),
each ± OGM-GE on AV-Digits clips, beside the paper's Kinetics-Sounds / VGGSound / CREMA-D numbers.

First, the premise (written in params.yaml before any OGM-GE run, read on val at `premise_seeds`, which no table
reports): `premise_model` trained plain, audio-only and visual-only (the other input zeroed, same architecture).
  dominant  the plain model's rho_audio, mean over the first `early_epochs` epochs, > 1 (audio learned faster,
            as on the paper's Kinetics-Sounds / VGGSound);
  weak_gap  visual-only val acc minus the plain model's visual share val acc >= `gap_min` points (the visual
            encoder under-optimized inside the joint model, what OGM-GE sets out to fix);
  room      audio-only and visual-only val acc within `room`.
The data knobs (params.yaml data_avclips) were chosen by these criteria in a pilot (numbers there), never by an
OGM-GE result; this stage re-reads them at its own premise seeds and reports whether they hold. The schedule
(lr 0.05, 15 epochs, decay at 0.5, width 8) was chosen on val at pilot seeds 200, 201 for all models at once, by
the rule in params.yaml (the highest val among the schedules whose val curves have stopped rising).
Pilot (TSN-AV, width 8, lr 0.02, 15 epochs, seeds 200/201, val): snr 0 dB / visual noise 0.8 / occlusion 12:
rho_audio first 3 epochs 1.06, audio-only 60.9%, visual-only 27.0%, visual share in the joint model 18.7%
(gap 8.3 points); 0 / 1.0 / 14: rho 1.07, visual-only 23.0%, share 15.2% (gap 7.8).

Then OGM-GE's alpha is chosen on val (`selection_model`, `selection_seed`), every model ± OGM-GE trains at every
seed, and each paired Δ gets its paired-t p-value, Holm-adjusted over the table's comparisons (all models; the
video and speech sides are reported on separate lines, never pooled). runs.csv holds every run.

Every training goes through `avlib.core.pool.run_tasks` with `avlib.tasks.classify.clips.train(job, data)`,
which builds the model, the OGM-GE balancer (`OGMConfig.build`) and calls `avlib.tasks.classify.fit.fit`."""

import matplotlib.pyplot as plt
import pandas as pd

from avlib.balance import OGMConfig
from avlib.core.atomic import atomic_write_text
from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.data import load_splits
from avlib.data.loader import head
from avlib.data.registry import display_name
from avlib.models.speech_branches import SPEECH_KINDS
from avlib.models.temporal import VIDEO_KINDS
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.classify import TRAIN_FIELDS, history_frame  # noqa: F401 - the notebook's stage.history_frame
from avlib.stages.shared.longest_first import run_longest_first
from avlib.stages.shared.records import (
    convergence,
    convergence_sentence,
    holm_family,
    optimism_cells,
    optimism_metrics,
    optimism_sentence,
    resolved,
    runs_frame,
)
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
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
    premise_model=Choice(*VIDEO_KINDS), premise_seeds=ListOf(Int(min=0), min_len=1), early_epochs=Int(min=1),
    gap_min=Float(min=0), room=ListOf(Float(min=0, max=1), min_len=2, unique=True),
    alpha_grid=ListOf(Float(positive=True)), window_grid=ListOf(Float(positive=True, max=1)),
    selection_model=Choice(*VIDEO_KINDS, *SPEECH_KINDS), selection_seed=Int(min=0), ogm_params=Choice("conv", "all"),
    workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/delta_acc", "*/delta_acc_p_holm", "premise/holds"]


def check(p):
    if p.selection_seed in p.seeds:
        raise ParamError(f"t2_plugin.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds} "
                         "(the tuned run must not be a reported one)")
    shared = sorted(set(p.premise_seeds) & {*p.seeds, p.selection_seed})
    if shared:
        raise ParamError(f"t2_plugin.premise_seeds={p.premise_seeds}: seeds {shared} are also reported or the "
                         "selection seed; expected pilot seeds no table reports")
    if len(p.room) != 2 or not p.room[0] < p.room[1]:
        raise ParamError(f"t2_plugin.room={p.room}; expected [lowest, highest] val accuracy, lowest first")
    if not p.video_rows and not p.speech_rows:
        raise ParamError("t2_plugin.video_rows / speech_rows: expected at least one model to train")


PARAMS.rules.append(check)


def smoke(p):
    """Seconds: two seeds (a paired Δ needs two), one premise seed, one epoch, the first grid point, ~100 clips."""
    p.seeds, p.epochs, p.premise_seeds = p.seeds[:2], 1, p.premise_seeds[:1]
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


def model_options(p, blank: str = "") -> dict:
    return dict(width=p.width, shift_div=p.shift_div, hidden=p.hidden, tau=p.tau,
                xvector_channels=p.xvector_channels, ivector_components=p.ivector_components,
                ivector_rank=p.ivector_rank, blank=blank)


# --- the premise, on val at the premise seeds, before any OGM-GE run ----------------------------------

PREMISE_ROWS = {"": "plain", "visual": "audio-only", "audio": "visual-only"}  # blanked input -> what remains


def premise_jobs(p) -> list[ClipJob]:
    return [ClipJob(p.premise_model, None, seed, train_config(p), model_options(p, blank))
            for blank in PREMISE_ROWS for seed in p.premise_seeds]


# Single-threaded CPU seconds of one run per epoch on AV-Digits clips at width 8 (tools/pilot_t2_schedule.py, 15
# epochs, plain, 2 workers): only their order is used, to hand the longest runs out first (`run_cost`).
EPOCH_CPU_S = {"tsn_av": 1.33, "tsm_av": 1.61, "tbn_lite": 1.33, "psp_lite": 1.40, "x_vector": 1.52, "i_vector": 1.73}


def run_cost(job: ClipJob) -> float:
    return EPOCH_CPU_S.get(job.kind, 0.0) * job.config.epochs


def first_pass(p, data) -> tuple[list, list, list]:
    """(premise runs, OGM-GE grid runs, table runs without OGM-GE). None of them waits for another's result, so
    they train in one pool, longest first: three pools one after another left a core idle at each one's tail.
    The premise is still read first (the notebook reports it before the grid and the table)."""
    premise, grid, plain = premise_jobs(p), grid_jobs(p), table_jobs(p, None)
    runs = run_longest_first(train, [*premise, *grid, *plain], data, cost=run_cost, workers=p.workers,
                             desc="premise, OGM-GE grid, rows without OGM-GE")
    return runs[:len(premise)], runs[len(premise):len(premise) + len(grid)], runs[len(premise) + len(grid):]


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def premise_values(runs: list, early_epochs: int) -> dict:
    """The premise's numbers (val, means over the premise seeds; accuracies in points): rho_audio_early (the
    plain model's rho_audio over the first `early_epochs` epochs), rho_audio_mean (all epochs), plain_val,
    audio_share_val / visual_share_val (the plain model's modality shares), audio_only_val, visual_only_val,
    weak_gap (visual_only_val - visual_share_val)."""
    groups = group_runs(runs, label=lambda r: r.job.model.get("blank", ""))
    plain, audio_only, visual_only = groups[""], groups["visual"], groups["audio"]
    out = {"rho_audio_early": _mean([_mean([h.get("rho_audio") for h in r.history[:early_epochs]]) for r in plain]),
           "rho_audio_mean": _mean([_mean([h.get("rho_audio") for h in r.history]) for r in plain]),
           "plain_val": 100 * _mean([r.val["acc"] for r in plain]),
           "audio_share_val": 100 * _mean([r.val.get("audio_acc") for r in plain]),
           "visual_share_val": 100 * _mean([r.val.get("visual_acc") for r in plain]),
           "audio_only_val": 100 * _mean([r.val["acc"] for r in audio_only]),
           "visual_only_val": 100 * _mean([r.val["acc"] for r in visual_only])}
    out["weak_gap"] = out["visual_only_val"] - out["visual_share_val"]
    return {k: round(v, 4) for k, v in out.items()}


def premise_check(values: dict, *, gap_min: float, room) -> dict:
    """Each criterion (module docstring) met or not, and `holds`: all of them."""
    low, high = 100 * room[0], 100 * room[1]
    checks = {"dominant": values["rho_audio_early"] > 1, "weak_gap": values["weak_gap"] >= gap_min,
              "room": all(low <= values[k] <= high for k in ("audio_only_val", "visual_only_val"))}
    return checks | {"holds": all(checks.values())}


def premise_table(values: dict, checks: dict, p) -> pd.DataFrame:
    rows = [("dominant", f"rho_audio, first {p.early_epochs} epochs", values["rho_audio_early"], "> 1"),
            ("weak_gap", "visual-only val acc − visual share val acc (points)", values["weak_gap"],
             f">= {p.gap_min:g}"),
            ("room", "audio-only / visual-only val acc (%)",
             f"{values['audio_only_val']:.1f} / {values['visual_only_val']:.1f}",
             f"in [{100 * p.room[0]:g}, {100 * p.room[1]:g}]")]
    return pd.DataFrame([{"criterion": c, "measure": m, "value": round(v, 3) if isinstance(v, float) else v,
                          "required": r, "met": checks[c]} for c, m, v, r in rows])


def premise_note(p) -> str:
    return (f"{ROW_NAMES[p.premise_model]} trained plain, audio-only and visual-only (the other input zeroed), "
            f"val, mean over seeds {p.premise_seeds} (no table reports them); criteria written in params.yaml "
            "before any OGM-GE run.")


def premise_sentence(values: dict, checks: dict, p) -> str:
    verdict = ("holds: audio dominates and the visual encoder is under-optimized inside the joint model, the "
               "paper's premise" if checks["holds"] else
               "does NOT hold (" + ", ".join(c for c in ("dominant", "weak_gap", "room") if not checks[c])
               + " failed): OGM-GE's premise is not met on this data, and the table below tests it anyway")
    return (f"- Premise ({ROW_NAMES[p.premise_model]}, val, seeds {p.premise_seeds}): rho_audio over the first "
            f"{p.early_epochs} epochs {values['rho_audio_early']:.2f} (all epochs {values['rho_audio_mean']:.2f}); "
            f"audio-only {values['audio_only_val']:.1f}%, visual-only {values['visual_only_val']:.1f}%, joint "
            f"{values['plain_val']:.1f}% with visual share {values['visual_share_val']:.1f}% (gap "
            f"{values['weak_gap']:.1f} points, required >= {p.gap_min:g}). The premise {verdict}.")


# --- OGM-GE's alpha and window, chosen on val ---------------------------------------------------------

def grid_methods(p) -> list[OGMConfig]:
    return [OGMConfig(alpha=a, start_epoch=0, end_epoch=max(1, round(w * p.epochs)), params=p.ogm_params)
            for a in p.alpha_grid for w in p.window_grid]


def grid_jobs(p) -> list[ClipJob]:
    """`selection_model` + OGM-GE at each grid point, once at the selection seed."""
    return [ClipJob(p.selection_model, m, p.selection_seed, train_config(p), model_options(p)) for m in grid_methods(p)]


def choose_ogm(p, runs: list) -> tuple[pd.DataFrame, OGMConfig]:
    """(grid, chosen point) from the grid's runs (`grid_jobs`, in that order): best val accuracy (ties: the
    first). Test is never read."""
    methods = grid_methods(p)
    grid = pd.DataFrame([{"model": ROW_NAMES[p.selection_model], "setting": m.describe(),
                          "val_acc": r.val["acc"], "val_audio_acc": r.val.get("audio_acc"),
                          "val_visual_acc": r.val.get("visual_acc")} for m, r in zip(methods, runs, strict=True)])
    best = int(grid["val_acc"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(grid))]
    return grid, methods[best]


def table_jobs(p, method: OGMConfig | None) -> list[ClipJob]:
    """Every model with `method` (None: without OGM-GE) at every seed, model-major."""
    return [ClipJob(kind, method, seed, train_config(p), model_options(p))
            for kind in (*p.video_rows, *p.speech_rows) for seed in p.seeds]


def run_table(p, data, chosen: OGMConfig, plain: list) -> list[ClipResult]:
    """The table's runs: each model without OGM-GE (`plain`, from `first_pass`) then with the chosen OGM-GE
    (trained here, longest first), at every seed."""
    ogm = run_longest_first(train, table_jobs(p, chosen), data, cost=run_cost, workers=p.workers,
                            desc="rows with OGM-GE")
    n = len(p.seeds)
    return [r for k in range(len(plain) // n) for r in (*plain[k * n:(k + 1) * n], *ogm[k * n:(k + 1) * n])]


# --- table, metrics, history -------------------------------------------------------------------------

def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def _paper(reference: pd.DataFrame, kind: str, ogm: bool, column: str):
    ref = reference[(reference["method"] == PAPER_NAMES[kind]) & (reference["ogm_ge"] == ogm)]
    return float(ref.iloc[0][column]) if len(ref) else None


def table_kinds(p, groups: dict) -> list:
    return [k for k in (*p.video_rows, *p.speech_rows) if k in groups and k + "+ogm_ge" in groups]


def deltas(runs: list, p) -> tuple[dict, dict]:
    """({kind: PairedTest of OGM-GE − plain on test}, {kind: Holm-adjusted p over every model of the table})."""
    groups = group_runs(runs)
    out = {k: paired_difference(_acc(groups[k + "+ogm_ge"]), _acc(groups[k])) for k in table_kinds(p, groups)}
    return out, holm_family(out)


def _best_epochs(group) -> str:
    """The val-selected epochs (0-based) of a row's runs, in seed order."""
    return ", ".join(str(r.best_epoch) for r in group)


def plugin_table(runs: list, *, p, chosen: OGMConfig, video_ref: pd.DataFrame,
                 speech_ref: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, ± OGM-GE): ours (acc, mAP, each modality's share accuracy, best val epochs, test at
    the best TEST epoch and its optimism, paired Δ with its Holm-adjusted p) and the paper's accuracy on its
    datasets (video rows: KS, VGGSound; speech rows: CREMA-D)."""
    groups, rows = group_runs(runs), []
    diffs, adjusted = deltas(runs, p)
    for kind in (*p.video_rows, *p.speech_rows, *p.paper_only_rows):
        side = "speech" if kind in (*SPEECH_KINDS, "mwtsm") else "video"
        for ogm in (False, True):
            label = kind + ("+ogm_ge" if ogm else "")
            row = {"side": side, "method": ROW_NAMES[kind] + (" + OGM-GE" if ogm else "")}
            if label in groups:
                group = groups[label]
                row |= {"setting": ogm_for(kind, chosen).describe() if ogm else "",
                        ours_column(p.dataset, "acc"): format_ci(_acc(group)),
                        ours_column(p.dataset, "mAP"): format_ci(_acc(group, "map")),
                        "audio share acc": format_ci(_acc(group, "audio_acc")),
                        "visual share acc": format_ci(_acc(group, "visual_acc")),
                        "best val epoch (seeds)": _best_epochs(group), **optimism_cells(group),
                        "Δ acc vs w/o OGM-GE (paired)": str(diffs[kind]) if ogm and kind in diffs else "",
                        "Holm p": format_p(adjusted[kind]) if ogm and kind in diffs else ""}
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
            "mean ± 95% t-interval (wins/seeds); Holm p: its paired-t p-value, Holm-adjusted over every model of "
            "the table. Test acc at best TEST epoch: the official code's selection; optimism: its gap over ours. "
            "Share acc = accuracy of each modality's share of the fused logits. "
            "-lite rows are reduced reimplementations (their names say how). MWTSM: paper numbers only. Paper: "
            "Peng et al. CVPR 2022 Table 2 (Kinetics-Sounds, VGGSound; CREMA-D for the speech side): other data "
            "and encoders, compare directions of the Δ, not values.")


def run_metrics(runs: list, p, premise: dict | None = None) -> dict:
    """{label: {acc, acc_ci95, map, acc_best_test_epoch, test_selection_gap, [delta_acc, delta_acc_ci95,
    delta_acc_wins, delta_acc_p, delta_acc_p_holm, resolved]}} in percent, test; "premise": its values and
    checks; "convergence": the best-epoch check of the table's runs."""
    out, groups = {}, group_runs(runs)
    diffs, adjusted = deltas(runs, p)
    for label, group in groups.items():
        mean, half = mean_ci([100 * a for a in _acc(group)])
        entry = {"acc": round(mean, 4), "acc_ci95": round(half, 4),
                 "map": round(mean_ci(_acc(group, "map"))[0] * 100, 4), **optimism_metrics(group)}
        kind = label.removesuffix("+ogm_ge")
        if label.endswith("+ogm_ge") and kind in diffs:
            d = diffs[kind]
            entry |= {"delta_acc": round(d.mean, 4), "delta_acc_ci95": round(d.half, 4), "delta_acc_wins": d.wins,
                      "delta_acc_p": d.p, "delta_acc_p_holm": adjusted[kind],
                      "resolved": resolved(d, adjusted[kind])}
        single = [r.single_segment["test"] for r in group if r.single_segment]
        if single:
            entry["single_segment_acc"] = round(mean_ci(single)[0] * 100, 4)
        out[label] = entry
    if premise is not None:
        out["premise"] = premise
    out["convergence"] = convergence(runs_frame(runs))
    return out


def write_all_runs(parts: dict, out_dir) -> pd.DataFrame:
    """runs.csv: `runs_frame` of every run of every part ({"premise": runs, "ogm_grid": runs, "table": runs}),
    with the part and, for the premise's runs, the zeroed input ("blank")."""
    frames = []
    for part, runs in parts.items():
        frame = runs_frame(runs)
        frame.insert(0, "part", part)
        frame.insert(2, "blank", [r.job.model.get("blank", "") for r in runs])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    atomic_write_text(f"{out_dir}/runs.csv", frame.to_csv(index=False))
    return frame


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

def majority_rate(data: dict, split: str = "test") -> float:
    """The share of the most frequent class in `split`: the accuracy of always answering it."""
    return float(data[split].label.bincount().max()) / len(data[split].label)


def _sd(values) -> float:
    return float(pd.Series(values).std(ddof=1)) if len(values) > 1 else float("nan")


def side_lines(runs: list, *, p, side: str, kinds: list, diffs: dict, adjusted: dict, refs, majority: float) -> list:
    """A side's findings (video or speech, never pooled): plain accuracy and seed SD, shares against the
    majority-class rate, convergence, each Δ with its Holm verdict and the paper's gain."""
    groups, (ref, cols), m = group_runs(runs), refs, len(adjusted)
    if not kinds:
        return []
    lines = [f"## {side} side ({', '.join(ROW_NAMES[k].split(':')[0] for k in kinds)})", ""]
    for kind in kinds:
        accs = [100 * a for a in _acc(groups[kind])]
        shares = {s: mean_ci([100 * a for a in _acc(groups[kind], f"{s}_acc")])[0] for s in ("audio", "visual")}
        lines.append(f"- {ROW_NAMES[kind].split(':')[0]} without OGM-GE: {mean_ci(accs)[0]:.1f}% test, seed SD "
                     f"{_sd(accs):.1f} points; audio share {shares['audio']:.1f}%, visual share "
                     f"{shares['visual']:.1f}% (majority-class rate {100 * majority:.1f}%).")
    side_runs = [r for r in runs if r.kind in kinds]
    lines.append("- " + convergence_sentence(convergence(runs_frame(side_runs))))
    lines.append("- OGM-GE against the same model without it (paired over seeds, test accuracy, points; Holm over "
                 f"the table's {m} comparisons; the paper's gain beside it):")
    for kind in kinds:
        d = diffs[kind]
        paper = ", ".join(f"{display_name(ds)} {_paper(ref, kind, True, c) - _paper(ref, kind, False, c):+.1f}"
                          for ds, c in cols.items() if _paper(ref, kind, False, c) is not None) or "none"
        word = "resolved" if resolved(d, adjusted[kind]) else "not resolved"
        lines.append(f"  - {ROW_NAMES[kind].split(':')[0]}: Δ {d}, p {format_p(d.p)}, "
                     f"{holm_verdict(adjusted[kind], m)} — {word}; paper: {paper}.")
    gains = [k for k in kinds if resolved(diffs[k], adjusted[k]) and diffs[k].mean > 0]
    losses = [k for k in kinds if resolved(diffs[k], adjusted[k]) and diffs[k].mean < 0]
    lines.append(f"  Resolved gains: {', '.join(ROW_NAMES[k].split(':')[0] for k in gains) or 'none'}; resolved "
                 f"losses: {', '.join(ROW_NAMES[k].split(':')[0] for k in losses) or 'none'}; "
                 f"{len(kinds) - len(gains) - len(losses)} of {len(kinds)} within seed noise after Holm.")
    if not gains:
        lines.append(f"  So on our data the paper's claim that OGM-GE helps the {side.lower()} models is NOT "
                     f"reproduced ({len(p.seeds)} seeds, {p.epochs} epochs).")
    return lines + [""]


def findings(runs: list, *, p, data: dict, video_ref: pd.DataFrame, speech_ref: pd.DataFrame,
             premise: tuple | None = None) -> str:
    """findings.md, read from the results: the premise, then the video and the speech side on their own."""
    groups = group_runs(runs)
    diffs, adjusted = deltas(runs, p)
    lines = [f"# Findings on {display_name(p.dataset)} (not the paper's data)", ""]
    if premise is not None:
        lines.append(premise_sentence(*premise, p))
    if "tsn_av" in groups:
        clip = mean_ci([100 * a for a in _acc(groups["tsn_av"])])[0]
        one = mean_ci([100 * r.single_segment["test"] for r in groups["tsn_av"]])[0]
        lines.append(f"- TSN-AV reads the whole clip at {clip:.1f}% test accuracy, its first segment alone at "
                     f"{one:.1f}% (same trained models).")
    lines.append("- " + optimism_sentence({k: v for k, v in groups.items()},
                                          name=lambda lb: ROW_NAMES[lb.split("+")[0]].split(":")[0]
                                          + (" + OGM-GE" if "+" in lb else "")))
    lines.append("")
    kinds = table_kinds(p, groups)
    common = dict(p=p, diffs=diffs, adjusted=adjusted, majority=majority_rate(data))
    lines += side_lines(runs, side="Video", kinds=[k for k in kinds if k in VIDEO_KINDS],
                        refs=(video_ref, VIDEO_PAPER), **common)
    lines += side_lines(runs, side="Speech", kinds=[k for k in kinds if k in SPEECH_KINDS],
                        refs=(speech_ref, SPEECH_PAPER), **common)
    if p.paper_only_rows:
        lines.append(f"- Not reimplemented (source not found; paper numbers only): "
                     f"{', '.join(ROW_NAMES[r] for r in p.paper_only_rows)}.")
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds), paired-t p, Holm-adjusted "
              "over the table. A difference not resolved after Holm is not a finding."]
    return "\n".join(lines) + "\n"
