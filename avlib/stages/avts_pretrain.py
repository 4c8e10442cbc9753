"""Stage `avts_pretrain`: AVTS-lite self-supervised synchronization on AV-Sync (Korbar et al. 2018, Sec. 3,
the curriculum of Sec. 3.2 and its ablation), with an L3-style correspondence-only pretraining beside it;
sync accuracy on held-out pairs per negative kind; the encoders saved for `avts_probe`."""

import io

import matplotlib.pyplot as plt
import pandas as pd
import torch

from avlib.core.atomic import atomic_write_bytes
from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.data import load_splits
from avlib.data.registry import display_name
from avlib.report import format_ci, ours_column
from avlib.report.plots import line_with_band
from avlib.stages.shared import runs as shared_runs
from avlib.stages.shared.avts import DATASETS, smoke_splits
from avlib.stages.shared.records import late_from
from avlib.stages.shared.stats import format_p, holm, holm_verdict, paired_difference
from avlib.tasks.avts.cues import cue_table
from avlib.tasks.avts.events import TOLERANCE, Events
from avlib.tasks.avts.sampling import KINDS, SCHEDULES, Shifts, eval_pairs, switch_epoch
from avlib.tasks.avts.train import NetConfig, PretrainJob

ROW_NAMES = {"curriculum": "AVTS-lite (curriculum: easy, then easy:hard 3:1)",
             "mixed": "AVTS-lite without curriculum (easy:hard 3:1 from epoch 1)",
             "easy_only": "L3-style (correspondence only: easy negatives, no shift)"}
NEGATIVES = KINDS[1:]
SMOKE_SIZES = {"train": 24, "val": 12, "test": 12}

PART = ("avts", 1)  # where the reports site shows it: part of the talk, order within it
# the training knobs, each spelled here once with its check: PretrainJob's, Shifts' and NetConfig's fields of
# these names (`jobs` and `shifts` read them)
JOB_FIELDS = dict(epochs=Int(min=1), pairs_per_epoch=Int(min=4), batch_size=Int(min=2), lr=Float(positive=True),
                  lr_decay_at=Float(min=0, max=1), lr_second_decay_at=Float(min=0, max=1),
                  lr_gamma=Float(positive=True), margin=Float(positive=True), switch_fraction=Float(min=0, max=1),
                  hard_share=Float(min=0, max=1))
SHIFT_FIELDS = dict(window=Int(min=1), hard_min=Int(min=1), superhard=ListOf(Int(min=1), min_len=2, unique=False))
NET_FIELDS = dict(width=Int(min=1), dim=Int(min=1), n_3d=Int(min=0, max=4))


def schema(stage: str) -> Schema:
    """The knobs of a stage that pretrains AVTS (this one; avts_more_seeds: the same recipe at more seeds)."""
    params = Schema(
        stage,
        dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2),
        schedules=ListOf(Choice(*SCHEDULES)), **JOB_FIELDS, **SHIFT_FIELDS, **NET_FIELDS, workers=Int(min=0),
    )
    params.rules.append(lambda p: check(p, stage))
    return params


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
# (<= 12 numbers: the paired Δs against AVTS and their Holm p; each run's AUCs are in metrics.json)
HEADLINE = ["*/delta_auc_easy", "*/delta_auc_hard", "*/delta_auc_superhard", "*/delta_auc_*_p_holm"]
COMPARED = {"mixed": "the curriculum (AVTS vs AVTS without curriculum)", "easy_only": "AVTS vs L3-style"}


def check(p, stage: str = "avts_pretrain"):
    if "curriculum" not in p.schedules:
        raise ParamError(f"{stage}.schedules={p.schedules}: expected 'curriculum' among them (every Δ is "
                         "paired with it)")
    if len(p.superhard) != 2:
        raise ParamError(f"{stage}.superhard={p.superhard}: expected [min, max] frames")
    lo, hi = p.superhard
    if not lo <= hi < p.hard_min:
        raise ParamError(f"{stage}.superhard={p.superhard}, hard_min={p.hard_min}: expected "
                         "superhard min <= max < hard_min (a little shift, then a far one)")
    if not p.lr_decay_at > 0:
        raise ParamError(f"{stage}.lr_decay_at={p.lr_decay_at}: expected a fraction of the epochs in (0, 1] "
                         "(1.0: a constant lr)")
    if p.lr_second_decay_at < 1 and not p.lr_second_decay_at > p.lr_decay_at:
        raise ParamError(f"{stage}.lr_second_decay_at={p.lr_second_decay_at}: expected after lr_decay_at="
                         f"{p.lr_decay_at}, or 1.0 (no second decay)")
    if p.hard_min <= TOLERANCE:
        raise ParamError(f"{stage}.hard_min={p.hard_min}: expected > {TOLERANCE} frame, the alignment "
                         "tolerance (a hard negative must never be aligned with its video)")


PARAMS = schema("avts_pretrain")


def smoke(p):
    """Seconds: two seeds (for the paired Δ), 2 epochs, few pairs, in the notebook's process (no worker start-up)."""
    p.seeds, p.epochs, p.pairs_per_epoch, p.workers = p.seeds[:2], 2, 128, 1
    return p


def _knobs(p, names) -> dict:
    """{name: p.name} (lists as tuples: the jobs are frozen)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ((k, getattr(p, k)) for k in names)}


def shifts(p) -> Shifts:
    return Shifts(**_knobs(p, SHIFT_FIELDS))


def load_data(p, stage: str = "avts_pretrain") -> dict:
    """The splits; the shift ranges checked against the clip length before any training."""
    data = load_splits(p.dataset, p.root)
    try:
        shifts(p).check(data["train"].clip_frames)
    except ValueError as err:
        raise ParamError(f"{stage}.window/hard_min/superhard: {err}") from None
    if p.smoke:
        data = smoke_splits(data, SMOKE_SIZES)
    return data


def cue_check(data: dict, p) -> pd.DataFrame:
    """data_avsync's cue table on this stage's test evaluation pairs, with this stage's shifts: what each kind
    of negative gives away to content and to timing, beside what the models reach on the same pairs."""
    return cue_table(Events.of(data["test"]), eval_pairs(data["test"], shifts(p)), p.window, KINDS).round(3)


def jobs(p) -> list:
    net = NetConfig(**_knobs(p, NET_FIELDS))
    return [PretrainJob(schedule=s, seed=seed, shifts=shifts(p), net=net, **_knobs(p, JOB_FIELDS))
            for s in p.schedules for seed in p.seeds]


def by_schedule(results: list) -> dict:
    """{schedule: [PretrainResult, ...]} in first-seen order, each list in seed order."""
    return shared_runs.group_runs(results, label=lambda r: r.job.schedule)


def _values(group, key):
    return [r.test[key] for r in group]


def deltas(results: list) -> dict:
    """{(schedule, kind): PairedTest of test AUC, AVTS (curriculum) minus that schedule} with the Holm-adjusted
    p over the whole family (every compared schedule x negative kind: the table's comparisons)."""
    groups, out = by_schedule(results), {}
    for name in [n for n in groups if n != "curriculum"]:
        for kind in NEGATIVES:
            out[(name, kind)] = paired_difference(_values(groups["curriculum"], f"auc_{kind}"),
                                                  _values(groups[name], f"auc_{kind}"))
    adjusted = holm([d.p for d in out.values()])
    return {key: (d, adj) for (key, d), adj in zip(out.items(), adjusted, strict=True)}


def sync_table(results: list, p) -> pd.DataFrame:
    """One row per pretraining: test AUC and balanced sync accuracy per negative kind (τ chosen on val), and
    the paired Δ AUC of AVTS (curriculum) over this row with its Holm-adjusted p (family: the whole table)."""
    groups, rows, family = by_schedule(results), [], deltas(results)
    for name, group in groups.items():
        row = {"pretraining": ROW_NAMES[name]}
        for kind in NEGATIVES:
            row[ours_column(p.dataset, f"AUC, {kind}")] = format_ci(_values(group, f"auc_{kind}"))
        for kind in NEGATIVES:
            row[ours_column(p.dataset, f"sync acc, {kind}")] = format_ci(_values(group, f"acc_{kind}"))
        for kind in NEGATIVES:
            d, adj = family.get((name, kind), (None, None))
            row[f"Δ AUC {kind}: AVTS − row (paired; Holm p)"] = "" if d is None else f"{d} (p {format_p(adj)})"
        rows.append(row)
    return pd.DataFrame(rows)


def table_note(p) -> str:
    sw = switch_epoch(p.epochs, p.switch_fraction)
    return (f"Ours: {display_name(p.dataset)} (embedded, generated by avlab) test clips, two held-out pairs of "
            f"each kind per clip (the same pairs for every run). AUC of −d, positives vs that negative kind; sync "
            f"acc = balanced accuracy of 'in sync iff d < τ', τ chosen on val (positives vs all kinds). Negatives: "
            f"easy = audio of another clip; hard = same clip, shift >= {p.hard_min} frames either way (beyond an "
            f"event's extent); super-hard = same clip, shift {p.superhard[0]}-{p.superhard[1]} frame(s) (0.1 s "
            f"each); every window holds an event onset and no negative shifted beyond ±{TOLERANCE} frame is re-aligned "
            "(cues.md). "
            f"Training: up to {p.epochs} epochs of {p.pairs_per_epoch} pairs (half positives), Adam lr {p.lr}"
            f"{decay_note(p)}, the epoch chosen on val (mean val AUC over the three kinds; runs.csv); "
            f"curriculum = easy only for epochs 1-{sw}, then easy:hard {1 - p.hard_share:.2f}:{p.hard_share:.2f} "
            f"(the paper: 1-50 easy, 51-90 3:1 of 90). Super-hard negatives are never trained on. Mean ± 95% "
            f"t-interval over seeds {p.seeds}; Δ = "
            "per-seed paired difference of AUC points, AVTS minus the row: mean ± 95% t (AVTS better on "
            "wins/seeds), paired-t p Holm-adjusted over the table's comparisons (every row x kind). The paper "
            "reports sync accuracy on Kinetics/AudioSet, not transcribed in avlib/reference: no paper column.")


def decay_note(p) -> str:
    """' (x <gamma> from epoch <n>[ and again from <m>])' (1-based) for a decayed lr; '' for a constant one."""
    decays = [round(at * p.epochs) + 1 for at in (p.lr_decay_at, p.lr_second_decay_at)
              if round(at * p.epochs) < p.epochs]
    return f" (x {p.lr_gamma:g} from epoch {' and again from '.join(map(str, decays))})" if decays else ""


def run_metrics(results: list) -> dict:
    out, groups, family = {}, by_schedule(results), deltas(results)
    for name, group in groups.items():
        entry = {}
        for key in [f"{m}_{k}" for m in ("acc", "auc") for k in NEGATIVES]:
            mean, half = mean_ci([100 * v for v in _values(group, key)])
            entry[key] = round(mean, 4)
            if half is not None:
                entry[f"{key}_ci95"] = round(half, 4)
        for kind in NEGATIVES:
            if (name, kind) in family:
                d, adj = family[(name, kind)]
                entry[f"delta_auc_{kind}"] = round(d.mean, 4)
                entry[f"delta_auc_{kind}_wins"] = d.wins
                entry[f"delta_auc_{kind}_p_holm"] = None if adj is None else round(adj, 4)
        entry["cpu_s"] = round(mean_ci([r.cpu_s for r in group])[0], 1)
        out[name] = entry
    return out


def runs_frame(results: list) -> pd.DataFrame:
    """runs.csv: one row per run: schedule, seed, the knobs that vary, the val-selected epoch (and whether it
    is in the last 20% of the epochs), the val criterion, test AUC and accuracy per kind, CPU seconds."""
    rows = []
    for r in results:
        late = r.best_epoch >= late_from(r.job.epochs)
        rows.append({"schedule": r.job.schedule, "seed": r.job.seed, "lr": r.job.lr, "epochs": r.job.epochs,
                     "switch_epoch": switch_epoch(r.job.epochs, r.job.switch_fraction), "best_epoch": r.best_epoch,
                     "best_epoch_late": late, "val_auc_mean": r.val["auc_mean"], "threshold": r.threshold,
                     **{f"test_{k}": r.test[k] for k in sorted(r.test)}, "cpu_s": round(r.cpu_s, 1)})
    return pd.DataFrame(rows)


def convergence(results: list) -> str:
    """One line: where the val-selected epochs fall, and how many are in the last 20% of the epochs."""
    best = sorted(r.best_epoch + 1 for r in results)
    epochs = results[0].job.epochs
    late = sum(r.best_epoch >= late_from(r.job.epochs) for r in results)
    return (f"Convergence: the val-selected epoch (1-based, of {epochs}) is {best[0]}-{best[-1]}, median "
            f"{best[len(best) // 2]}; {late}/{len(best)} runs select an epoch in the last 20% "
            f"(>= {late_from(epochs) + 1}), where training may not have converged.")


def shift_frame(results: list) -> pd.DataFrame:
    """auc_vs_shift.csv: every run's test AUC per |shift| (frames; seconds at 10 fps), long."""
    return pd.DataFrame([{"schedule": r.job.schedule, "seed": r.job.seed, "shift_frames": s, "shift_s": s / 10,
                          "auc": auc} for r in results for s, auc in r.auc_shift.items()])


def curve_line(results: list, p) -> str:
    """One line: each pretraining's mean test AUC at a one-frame shift, over the shifts between that and the hard
    range, and over the hard range (the AUC-versus-shift curve in three numbers; all of it: auc_vs_shift_table.md)."""
    parts = []
    for name, group in by_schedule(results).items():
        def band(lo, hi, runs=group):
            return 100 * sum(r.auc_shift[s] for r in runs for s in r.auc_shift if lo <= s <= hi) / sum(
                1 for r in runs for s in r.auc_shift if lo <= s <= hi)
        parts.append(f"{LABELS[name]} {band(1, 1):.1f} / {band(2, p.hard_min - 1):.1f} / "
                     f"{band(p.hard_min, max(group[0].auc_shift)):.1f}")
    return (f"AUC versus shift (test AUC % at 1 frame, the mean over 2-{p.hard_min - 1} frames, the mean over the "
            f"hard shifts >= {p.hard_min}): " + "; ".join(parts) + ".")


SHIFT = "audio shift (frames, either way)"  # no "|": the table is also markdown


def shift_table(shifts: pd.DataFrame) -> pd.DataFrame:
    """Mean ± 95% t test AUC per |shift| (rows) and pretraining (columns): the AUC-versus-shift curve."""
    out = {}
    for (name, s), g in shifts.groupby(["schedule", "shift_frames"], sort=False):
        out.setdefault(s, {SHIFT: s})[ROW_NAMES[name].split(" (")[0]] = format_ci(g["auc"].tolist())
    return pd.DataFrame(list(out.values())).sort_values(SHIFT)


LABELS = {"easy_only": "L3-style", "curriculum": "AVTS", "mixed": "no curriculum"}


def shift_figure(shifts: pd.DataFrame, p):
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    line_with_band(ax, shifts.assign(auc=100 * shifts["auc"]), x="shift_frames", y="auc", hue="schedule",
                   labels=LABELS)
    for x, label in ((p.superhard[0] - 0.5, "super-hard"), (p.hard_min - 0.5, "hard")):
        ax.axvline(x, color="grey", ls=":", lw=1)
        ax.text(x + 0.1, ax.get_ylim()[0] + 1, label, fontsize=7, color="grey")
    ax.set(xlabel="|audio shift| (frames of 0.1 s)", ylabel="test AUC (%)")
    ax.set_title(f"{display_name(p.dataset)}: sync AUC vs the audio shift (band: 95% t over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def history_frame(results: list) -> pd.DataFrame:
    """history.csv: every run's per-epoch log, long, after its schedule and seed."""
    return shared_runs.history_frame(results, history=lambda r: r.history,
                                     columns=lambda r: {"schedule": r.job.schedule, "seed": r.job.seed})


def curves_figure(history: pd.DataFrame, p):
    """Val AUC per epoch against each negative kind, one line per pretraining (band: 95% t over seeds)."""
    fig, axes = plt.subplots(1, len(NEGATIVES), figsize=(4.2 * len(NEGATIVES), 3.2), sharey=True)
    for ax, kind in zip(axes, NEGATIVES, strict=True):
        line_with_band(ax, history, x="epoch", y=f"val_auc_{kind}", hue="schedule", labels=LABELS)
        ax.axvline(switch_epoch(p.epochs, p.switch_fraction) - 0.5, color="grey", ls=":", lw=1)
        ax.set_title(f"val AUC vs {kind} negatives", fontsize=9)
    fig.suptitle(f"{display_name(p.dataset)}: sync on held-out val pairs during pretraining "
                 "(dotted: the curriculum adds hard negatives)", fontsize=9)
    fig.tight_layout()
    return fig


def save_encoders(results: list, p, path) -> None:
    """What avts_probe reads: every run's video and audio state dicts (of its val-selected epoch) and how they
    were built. Floating tensors are stored in half precision (the file is committed with the report);
    `load_state_dict` casts them back, so the probe starts from these rounded weights."""
    blob = {"root": p.root, "window": p.window, "net": _knobs(p, NET_FIELDS),
            "seeds": p.seeds, "smoke": p.smoke,
            "encoders": {r.job.schedule: {} for r in results}}
    for r in results:
        blob["encoders"][r.job.schedule][r.job.seed] = _half(r.state)
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _half(state):
    if isinstance(state, dict):
        return {k: _half(v) for k, v in state.items()}
    return state.half() if torch.is_tensor(state) and state.is_floating_point() else state


def findings(results: list, p) -> str:
    g, family = by_schedule(results), deltas(results)
    ref = g["curriculum"]
    sw = switch_epoch(p.epochs, p.switch_fraction)
    lines = [f"# Findings on {display_name(p.dataset)} (embedded data, not the paper's)", ""]
    for kind in NEGATIVES:
        lines.append(f"- AVTS-lite, held-out {kind} negatives: AUC {format_ci(_values(ref, f'auc_{kind}'))}, "
                     f"sync acc {format_ci(_values(ref, f'acc_{kind}'))}%.")
    order = sorted(NEGATIVES, key=lambda k: mean_ci(_values(ref, f"auc_{k}"))[0], reverse=True)
    lines.append(f"- Difficulty for AVTS-lite (AUC, easiest first): {' > '.join(order)}"
                 + (" — the paper's ordering." if order == list(NEGATIVES) else
                    " — not the paper's ordering (easy > hard > super-hard)."))
    lines.append(f"- {curve_line(results, p)}")
    lines.append(f"- {convergence(results)}")
    lines.append(f"- The curriculum contrast: curriculum and L3-style runs share epochs 1-{sw} (easy negatives, "
                 f"same seed and pairs); they differ for {p.epochs - sw} of {p.epochs} epochs.")
    for (name, kind), (d, adj) in family.items():
        good = adj is not None and adj < 0.05 and d.mean != 0
        side = ("AVTS better, " if d.mean > 0 else "AVTS worse, ") if good else ""
        lines.append(f"- {COMPARED[name]}, {kind} negatives: Δ AUC {d} points — {side}"
                     f"{holm_verdict(adj, len(family))}.")
    lines += ["", "The paper claims the curriculum is needed (training with hard negatives from the start "
              "learns worse) and that temporal synchronization beats correspondence alone (L3). Where a Δ "
              "above is not resolved after Holm's correction, our data does not show that claim.",
              "", "Δ: per-seed paired differences, AVTS minus the other (mean ± 95% t-interval, AVTS better on "
              "wins/seeds); p: paired t-test, Holm-adjusted over the table's comparisons."]
    return "\n".join(lines) + "\n"
