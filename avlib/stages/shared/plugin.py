"""OGM-GE Table 2, what its two stages share: OGM-GE plugged into other AV models on AV-Digits clips, one side per
stage, never pooled:
  Video side (t2_video): TSN-AV, TSM-AV, TBN-lite, PSP-lite (paper: Kinetics-Sounds, VGGSound);
  Speech side (t2_speech): X-vector, I-vector-lite as the audio branch (paper: CREMA-D; MWTSM paper-only).
Each side has its own schedule (the video family's 25 epochs do not fit the whole table in one 12-minute stage),
chooses its own OGM-GE alpha on val with its own selection model, and Holm-adjusts over its own comparisons.

A stage's steps, all through `avlib.tasks.classify.clips.train(job, data)` (the model, OGM-GE's balancer from
`OGMConfig.build`, `avlib.tasks.classify.fit.fit`) handed out longest first:
  first_pass  the OGM-GE grid (selection model at the selection seed) and every row without OGM-GE;
  choose_ogm  the alpha/window with the best val accuracy (test never read);
  run_table   every row with the chosen OGM-GE; then the table, metrics, runs.csv, findings.
The premise of the video side is its own stage (premise_avclips), read here for the findings."""

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from avlib.balance import OGMConfig
from avlib.core.atomic import atomic_write_text
from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Str
from avlib.data import load_splits
from avlib.data.loader import head
from avlib.data.registry import display_name
from avlib.models.speech_branches import SPEECH_KINDS
from avlib.models.temporal import VIDEO_KINDS
from avlib.report import format_ci, ours_column, paper_column
from avlib.stages.shared.classify import TRAIN_FIELDS
from avlib.stages.shared.clip_store import reuse_clips, train_or_read, write_clip_store
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
SMOKE_SIZES = {"train": 96, "val": 48, "test": 48}
DATASETS = ("avclips",)  # the datasets Table 2's stages read (their loaders are the stages' DVC deps)


@dataclass(frozen=True)
class Side:
    """One side of Table 2: its models, their build options, the paper's columns and reference file."""

    name: str
    kinds: tuple
    options: tuple  # the params a model of this side is built from (ClipJob.model)
    paper: dict  # {paper dataset: reference column}
    reference: str  # avlib/reference/<file>
    colour: str


VIDEO = Side("Video", VIDEO_KINDS, ("width", "shift_div", "hidden", "tau"),
             {"kinetics_sounds": "ks_acc", "vggsound": "vggsound_acc"}, "ogmge_t2_plugin_video.csv", "tab:blue")
SPEECH = Side("Speech", SPEECH_KINDS, ("width", "xvector_channels", "ivector_components", "ivector_rank"),
              {"cremad": "cremad_acc"}, "ogmge_t2_plugin_speech.csv", "tab:orange")

# the schema fields both stages have (each adds its rows, selection model and model options)
COMMON_FIELDS = dict(
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
    **{k: v for k, v in TRAIN_FIELDS.items() if k != "encoder"},
    alpha_grid=ListOf(Float(positive=True)), window_grid=ListOf(Float(positive=True, max=1)),
    selection_seed=Int(min=0), ogm_params=Choice("conv", "all"), workers=Int(min=0),
)
VIDEO_FIELDS = dict(shift_div=Int(min=2), hidden=Int(min=1), tau=Float(min=0, max=1))
SPEECH_FIELDS = dict(xvector_channels=Int(min=1), ivector_components=Int(min=1), ivector_rank=Int(min=1))

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/delta_acc", "*/delta_acc_p_holm"]


def selection_seed_rule(stage: str):
    """A schema rule: the seed OGM-GE's alpha is chosen at is not a reported one."""
    def check(p):
        if p.selection_seed in p.seeds:
            raise ParamError(f"{stage}.selection_seed={p.selection_seed}: expected a seed outside seeds {p.seeds} "
                             "(the tuned run must not be a reported one)")
    return check


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


def model_options(p, *, side: Side, blank: str = "") -> dict:
    return {**{k: getattr(p, k) for k in side.options}, "blank": blank}


# Single-threaded CPU seconds of one run per epoch on AV-Digits clips at width 8 (tools/pilot_t2_schedule.py, 15
# epochs, plain, 2 workers): only their order is used, to hand the longest runs out first (`run_cost`).
EPOCH_CPU_S = {"tsn_av": 1.33, "tsm_av": 1.61, "tbn_lite": 1.33, "psp_lite": 1.40, "x_vector": 1.52, "i_vector": 1.73}


def run_cost(job: ClipJob) -> float:
    return EPOCH_CPU_S.get(job.kind, 0.0) * job.config.epochs


# --- OGM-GE's alpha and window, chosen on val ---------------------------------------------------------

def grid_methods(p) -> list[OGMConfig]:
    return [OGMConfig(alpha=a, start_epoch=0, end_epoch=max(1, round(w * p.epochs)), params=p.ogm_params)
            for a in p.alpha_grid for w in p.window_grid]


def grid_jobs(p, *, side: Side) -> list[ClipJob]:
    """`selection_model` + OGM-GE at each grid point, once at the selection seed."""
    return [ClipJob(p.selection_model, m, p.selection_seed, train_config(p), model_options(p, side=side))
            for m in grid_methods(p)]


def table_jobs(p, method: OGMConfig | None, *, side: Side) -> list[ClipJob]:
    """Every row's model with `method` (None: without OGM-GE) at every seed, model-major."""
    return [ClipJob(kind, method, seed, train_config(p), model_options(p, side=side))
            for kind in p.rows for seed in p.seeds]


def _longest_first(jobs: list) -> list:
    return sorted(range(len(jobs)), key=lambda i: -run_cost(jobs[i]))


def first_pass(p, data, *, side: Side, store: str = "") -> tuple[list, list]:
    """(OGM-GE grid runs, table runs without OGM-GE). Neither waits for the other's result, so they train in one
    pool, longest first: two pools one after another left a core idle at the first one's tail. The runs `store`
    (a trained_runs.json.gz of another stage, "" none) holds with the very same job are read back, not trained."""
    grid, plain = grid_jobs(p, side=side), table_jobs(p, None, side=side)
    runs, _ = train_or_read(train, [*grid, *plain], data, store=store, order=_longest_first, workers=p.workers,
                            desc="OGM-GE grid, rows without OGM-GE")
    return runs[:len(grid)], runs[len(grid):]


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


def run_table(p, data, chosen: OGMConfig, plain: list, *, side: Side, store: str = "") -> list[ClipResult]:
    """The table's runs: each model without OGM-GE (`plain`, from `first_pass`) then with the chosen OGM-GE
    (trained here, longest first, but for the runs `store` holds), at every seed."""
    ogm, _ = train_or_read(train, table_jobs(p, chosen, side=side), data, store=store, order=_longest_first,
                           workers=p.workers, desc="rows with OGM-GE")
    n = len(p.seeds)
    return [r for k in range(len(plain) // n) for r in (*plain[k * n:(k + 1) * n], *ogm[k * n:(k + 1) * n])]


# --- more seeds: a side's runs at seeds beyond the stage's own, trained by another stage and read back ----------

def read_back(p, grid_runs: list, runs: list, data) -> dict:
    """{"grid": n, "table": n, "seeds": [...], "stage": name}: how many of the grid's and the table's runs were
    read from `p.seeds_from`, the seeds whose every run was, and the stage that wrote them."""
    grid = reuse_clips(p.seeds_from, [r.job for r in grid_runs], data=data)
    table = reuse_clips(p.seeds_from, [r.job for r in runs], data=data)
    seeds = [s for s in p.seeds if all(i in table for i, r in enumerate(runs) if r.seed == s)]
    return {"grid": len(grid), "table": len(table), "seeds": seeds, "stage": Path(p.seeds_from).parent.name}


def write_store(grid_runs: list, runs: list, out_dir, data, *, stage: str) -> None:
    """A more-seeds stage's trained_runs.json.gz: its grid and table runs, for the table's stage to read back."""
    write_clip_store([*grid_runs, *runs], out_dir, data=data, stage=stage)


def store_metrics(grid_runs: list, runs: list) -> dict:
    return {"runs": {"trained": len(grid_runs) + len(runs)}}


def store_findings(p, grid_runs: list, runs: list, chosen: OGMConfig, *, side: Side, reader: str) -> str:
    """A more-seeds stage's findings.md: what it trained, and who reads it."""
    return "\n".join([
        f"# Table 2's {side.name.lower()} side at seeds {p.seeds} ({display_name(p.dataset)})", "",
        f"- {len(grid_runs)} runs of the OGM-GE grid ({p.selection_model} at selection seed {p.selection_seed}; "
        f"chosen on val: {chosen.describe()}), as {reader}'s.",
        f"- {len(runs)} runs: every model of {p.rows} without and with the chosen OGM-GE at seeds {p.seeds}, "
        f"{p.epochs} epochs ({reader}'s recipe, knob for knob).",
        f"- {reader} reads these runs back (`trained_runs.json.gz`) for its table: its Δs, Holm's correction and "
        "findings cover these seeds with its own. `runs.csv` gives each run's numbers.", ""])


# --- table, metrics, history -------------------------------------------------------------------------

def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def _paper(reference: pd.DataFrame, kind: str, ogm: bool, column: str):
    ref = reference[(reference["method"] == PAPER_NAMES[kind]) & (reference["ogm_ge"] == ogm)]
    return float(ref.iloc[0][column]) if len(ref) else None


def paper_only_rows(p) -> list:
    return list(getattr(p, "paper_only_rows", []))


def table_kinds(p, groups: dict) -> list:
    return [k for k in p.rows if k in groups and k + "+ogm_ge" in groups]


def deltas(runs: list, p) -> tuple[dict, dict]:
    """({kind: PairedTest of OGM-GE − plain on test}, {kind: Holm-adjusted p over this side's models})."""
    groups = group_runs(runs)
    out = {k: paired_difference(_acc(groups[k + "+ogm_ge"]), _acc(groups[k])) for k in table_kinds(p, groups)}
    return out, holm_family(out)


def _best_epochs(group) -> str:
    """The val-selected epochs (0-based) of a row's runs, in seed order."""
    return ", ".join(str(r.best_epoch) for r in group)


def plugin_table(runs: list, *, p, side: Side, chosen: OGMConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, ± OGM-GE): ours (acc, mAP, each modality's share accuracy, best val epochs, test at
    the best TEST epoch and its optimism, paired Δ with its Holm-adjusted p) and the paper's accuracy on its
    datasets (video side: KS, VGGSound; speech side: CREMA-D)."""
    groups, rows = group_runs(runs), []
    diffs, adjusted = deltas(runs, p)
    for kind in (*p.rows, *paper_only_rows(p)):
        for ogm in (False, True):
            label = kind + ("+ogm_ge" if ogm else "")
            row = {"method": ROW_NAMES[kind] + (" + OGM-GE" if ogm else "")}
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
            row |= {paper_column(d, "acc"): _paper(reference, kind, ogm, c) for d, c in side.paper.items()}
            rows.append(row)
    return pd.DataFrame(rows)


def grid_note(p) -> str:
    return (f"Val accuracy of {ROW_NAMES[p.selection_model]} + OGM-GE at each grid point, seed {p.selection_seed} "
            "(not a reported seed); the chosen point serves every OGM-GE row of this side.")


def table_note(p, chosen: OGMConfig, *, side: Side) -> str:
    papers = ", ".join(display_name(d) for d in side.paper)
    return (f"Ours: {display_name(p.dataset)} test split (clips of T segments, params.yaml data_avclips), "
            f"mean ± 95% t-interval over seeds {p.seeds}, model selected on val; {p.epochs} epochs, lr {p.lr:g} "
            f"decayed x{p.lr_gamma:g} after epoch {round(p.lr_decay_at * p.epochs)}. OGM-GE ({chosen.describe()}) "
            f"chosen on val with {ROW_NAMES[p.selection_model]} at seed {p.selection_seed} (not reported; "
            "ogm_grid.md). Δ = per-seed paired difference with the same model without OGM-GE (same init and data "
            f"order): mean ± 95% t-interval (wins/seeds); Holm p: its paired-t p-value, Holm-adjusted over the "
            f"{side.name.lower()} side's {len(p.rows)} models (the other side is its own stage, never pooled). "
            "Test acc at best TEST epoch: the official code's selection; optimism: its gap over ours. "
            "Share acc = accuracy of each modality's share of the fused logits. -lite rows are reduced "
            "reimplementations (their names say how)"
            + ("; MWTSM: paper numbers only" if paper_only_rows(p) else "")
            + f". Paper: Peng et al. CVPR 2022 Table 2 ({papers}): other data and encoders, compare directions of "
            "the Δ, not values.")


def run_metrics(runs: list, p, premise: dict | None = None, read: dict | None = None) -> dict:
    """{label: {acc, acc_ci95, map, acc_best_test_epoch, test_selection_gap, [delta_acc, delta_acc_ci95,
    delta_acc_wins, delta_acc_p, delta_acc_p_holm, resolved]}} in percent, test; "premise": the premise stage's
    values and checks (video side); "convergence": the best-epoch check of the table's runs; "runs": how many
    trained here and were read back (`read`: `read_back`'s, for a side that reads a more-seeds stage's runs)."""
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
    if read is not None:
        n_read, n_grid = read["grid"] + read["table"], len(p.alpha_grid) * len(p.window_grid)
        out["runs"] = {"trained": len(runs) + n_grid - n_read, "read_back": n_read}
    return out


def write_all_runs(parts: dict, out_dir) -> pd.DataFrame:
    """runs.csv: `runs_frame` of every run of every part ({"ogm_grid": runs, "table": runs, ...}), with the part
    and the zeroed input of a premise run ("blank")."""
    frames = []
    for part, runs in parts.items():
        frame = runs_frame(runs)
        frame.insert(0, "part", part)
        frame.insert(2, "blank", [r.job.model.get("blank", "") for r in runs])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    atomic_write_text(f"{out_dir}/runs.csv", frame.to_csv(index=False))
    return frame


def delta_figure(runs: list, p, *, side: Side):
    """Paired Δ (OGM-GE − without) per model, each seed a dot, the mean a bar."""
    groups = group_runs(runs)
    kinds = [k for k in p.rows if k in groups]
    fig, ax = plt.subplots(figsize=(1.3 * len(kinds) + 2, 3.2))
    for i, kind in enumerate(kinds):
        diffs = [100 * (a - b) for a, b in zip(_acc(groups[kind + "+ogm_ge"]), _acc(groups[kind]), strict=True)]
        ax.bar(i, sum(diffs) / len(diffs), color=side.colour, alpha=0.6)
        ax.scatter([i] * len(diffs), diffs, color="k", s=12, zorder=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(kinds)), [ROW_NAMES[k].split(":")[0] for k in kinds], rotation=20)
    ax.set_ylabel("Δ test acc, OGM-GE − without (points)")
    ax.set_title(f"OGM-GE plugged in, {side.name.lower()} side ({display_name(p.dataset)}; dots: seeds)")
    fig.tight_layout()
    return fig


# --- the premise (measured by stage premise_avclips), as a findings line ----------------------------------

def read_premise(path) -> dict | None:
    """The premise block of premise_avclips' metrics.json (its values, "checks", "holds", "model", "seeds", ...),
    None if absent."""
    path = Path(path)
    return json.loads(path.read_text()).get("premise") if path.exists() else None


def premise_sentence(premise: dict) -> str:
    """One findings line from the premise stage's values and checks."""
    failed = [c for c in ("dominant", "weak_gap", "room") if not premise["checks"][c]]
    verdict = ("holds: audio dominates and the visual encoder is under-optimized inside the joint model, the "
               "paper's premise" if premise["holds"] else
               f"does NOT hold ({', '.join(failed)} failed): OGM-GE's premise is not met on this data, and the "
               "table below tests it anyway")
    return (f"- Premise ({ROW_NAMES[premise['model']]}, val, seeds {premise['seeds']}, {premise['epochs']} epochs; "
            f"stage premise_avclips): rho_audio over the first {premise['early_epochs']} epochs "
            f"{premise['rho_audio_early']:.2f} (all epochs {premise['rho_audio_mean']:.2f}); audio-only "
            f"{premise['audio_only_val']:.1f}%, visual-only {premise['visual_only_val']:.1f}%, joint "
            f"{premise['plain_val']:.1f}% with visual share {premise['visual_share_val']:.1f}% (gap "
            f"{premise['weak_gap']:.1f} points, required >= {premise['gap_min']:g}). The premise {verdict}.")


# --- findings ----------------------------------------------------------------------------------------

def majority_rate(data: dict, split: str = "test") -> float:
    """The share of the most frequent class in `split`: the accuracy of always answering it."""
    return float(data[split].label.bincount().max()) / len(data[split].label)


def _sd(values) -> float:
    return float(pd.Series(values).std(ddof=1)) if len(values) > 1 else float("nan")


def side_lines(runs: list, *, p, side: Side, diffs: dict, adjusted: dict, reference, majority: float) -> list:
    """The side's findings: plain accuracy and seed SD, shares against the majority-class rate, convergence,
    each Δ with its Holm verdict and the paper's gain."""
    groups, m = group_runs(runs), len(adjusted)
    kinds = table_kinds(p, groups)
    if not kinds:
        return []
    lines = [f"## {side.name} side ({', '.join(ROW_NAMES[k].split(':')[0] for k in kinds)})", ""]
    for kind in kinds:
        accs = [100 * a for a in _acc(groups[kind])]
        shares = {s: mean_ci([100 * a for a in _acc(groups[kind], f"{s}_acc")])[0] for s in ("audio", "visual")}
        lines.append(f"- {ROW_NAMES[kind].split(':')[0]} without OGM-GE: {mean_ci(accs)[0]:.1f}% test, seed SD "
                     f"{_sd(accs):.1f} points; audio share {shares['audio']:.1f}%, visual share "
                     f"{shares['visual']:.1f}% (majority-class rate {100 * majority:.1f}%).")
    lines.append("- " + convergence_sentence(convergence(runs_frame(runs))))
    lines.append("- OGM-GE against the same model without it (paired over seeds, test accuracy, points; Holm over "
                 f"this side's {m} comparisons; the paper's gain beside it):")
    for kind in kinds:
        d = diffs[kind]
        pairs = {ds: (_paper(reference, kind, True, c), _paper(reference, kind, False, c))
                 for ds, c in side.paper.items()}
        paper = ", ".join(f"{display_name(ds)} {w - wo:+.1f}" for ds, (w, wo) in pairs.items() if wo is not None)
        paper = paper or "none"
        word = "resolved" if resolved(d, adjusted[kind]) else "not resolved"
        lines.append(f"  - {ROW_NAMES[kind].split(':')[0]}: Δ {d}, p {format_p(d.p)}, "
                     f"{holm_verdict(adjusted[kind], m)} — {word}; paper: {paper}.")
    gains = [k for k in kinds if resolved(diffs[k], adjusted[k]) and diffs[k].mean > 0]
    losses = [k for k in kinds if resolved(diffs[k], adjusted[k]) and diffs[k].mean < 0]
    lines.append(f"  Resolved gains: {', '.join(ROW_NAMES[k].split(':')[0] for k in gains) or 'none'}; resolved "
                 f"losses: {', '.join(ROW_NAMES[k].split(':')[0] for k in losses) or 'none'}; "
                 f"{len(kinds) - len(gains) - len(losses)} of {len(kinds)} within seed noise after Holm.")
    if not gains:
        lines.append(f"  So on our data the paper's claim that OGM-GE helps the {side.name.lower()} models is NOT "
                     f"reproduced ({len(p.seeds)} seeds, {p.epochs} epochs).")
    return lines + [""]


def findings(runs: list, *, p, side: Side, data: dict, reference: pd.DataFrame, premise: dict | None = None,
             read: dict | None = None) -> str:
    """findings.md, read from the results: what was read back from a more-seeds stage (`read`: `read_back`'s),
    the premise (video side), then the side's models."""
    groups = group_runs(runs)
    diffs, adjusted = deltas(runs, p)
    lines = [f"# Findings on {display_name(p.dataset)} (not the paper's data): Table 2, {side.name.lower()} side", ""]
    if read is not None:
        lines.append(f"- Read back from {p.seeds_from} ({read['stage']}'s runs, the very same jobs): the OGM-GE "
                     f"grid's {read['grid']} runs and {read['table']} of the table's {len(runs)} (seeds "
                     f"{read['seeds']}); the rest trained here.")
    if side is VIDEO:
        lines.append(premise_sentence(premise) if premise is not None else
                     "- Premise: not measured (no reports/premise_avclips/metrics.json: run stage premise_avclips "
                     "first); the table below does not know whether OGM-GE's premise holds on this data.")
    if "tsn_av" in groups:
        clip = mean_ci([100 * a for a in _acc(groups["tsn_av"])])[0]
        one = mean_ci([100 * r.single_segment["test"] for r in groups["tsn_av"]])[0]
        lines.append(f"- TSN-AV reads the whole clip at {clip:.1f}% test accuracy, its first segment alone at "
                     f"{one:.1f}% (same trained models).")
    lines.append("- " + optimism_sentence(dict(groups), name=lambda lb: ROW_NAMES[lb.split("+")[0]].split(":")[0]
                                          + (" + OGM-GE" if "+" in lb else "")))
    lines.append("")
    lines += side_lines(runs, p=p, side=side, diffs=diffs, adjusted=adjusted, reference=reference,
                        majority=majority_rate(data))
    if paper_only_rows(p):
        lines.append(f"- Not reimplemented (source not found; paper numbers only): "
                     f"{', '.join(ROW_NAMES[r] for r in paper_only_rows(p))}.")
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds), paired-t p, Holm-adjusted "
              f"over the {side.name.lower()} side's comparisons. A difference not resolved after Holm is not a "
              "finding."]
    return "\n".join(lines) + "\n"
