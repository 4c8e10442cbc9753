"""Stage `fig_imbalance_sweep`: when does OGM-GE help? AV-Digits regenerated at several audio SNRs, from
visual-dominant (audio drowned in noise) through balanced to strongly audio-dominant (clean audio); at each
level concat, concat + OGM-GE (α chosen on val at that level, over two selection seeds) and the GE-alone
control (OGM-GE's noise, k = 1) trained on the same seeds, plotted against the measured uni-modal gap
(audio-only minus visual-only test accuracy), with the paired Δ (Holm-adjusted over the table), the weak
encoder's linear probe, and whether OGM-GE's gain follows the weak encoder's under-optimization or appears
regardless of it.

Every level is the data stage's generator (`avlib.data.embedded.avdigits`) with the data stage's knobs (read from the
dataset's meta.json) except `snr_db` and the split sizes; the speech is synthesized once and mixed at each
SNR (`generate_snr_levels`, byte-identical to `generate` per level). Only the audio changes with the SNR, so
the visual tensors are the same at every level: checked in code, and then visual-only is trained once.
"""

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from avlib.balance import OGMConfig
from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str, device
from avlib.data import DatasetError, load_splits
from avlib.data.embedded.avdigits import AVDigitsConfig, generate_snr_levels
from avlib.report import format_ci
from avlib.report.plots import line_with_band
from avlib.stages.shared import ogm_choice, records
from avlib.stages.shared.runs import group_runs, history_frame
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunSpec

DATASETS = ("avdigits",)  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 6)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "fig_imbalance_sweep",
    dataset=Choice(*DATASETS), root=Str(), snr_levels=ListOf(Float(), min_len=2),
    n_train=Int(min=1), n_val=Int(min=1), n_test=Int(min=1),
    seeds=ListOf(Int(min=0)), ogm_grid=Str(), ogm_params=Choice("conv", "all"),
    alpha_grid=ListOf(Float(positive=True), min_len=1), selection_seeds=ListOf(Int(min=0), min_len=1), width=Int(min=1),
    epochs=Int(min=1), batch_size=Int(min=1), lr=Float(positive=True), lr_unimodal=Float(positive=True),
    momentum=Float(min=0, max=1),
    weight_decay=Float(min=0), lr_decay_at=Float(positive=True, max=1), lr_gamma=Float(positive=True, max=1),
    device=device(), workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/delta_acc", "*/delta_acc_p_holm"]  # <= 12 numbers: GE alone's Δ is in metrics.json


def check(p):
    if p.n_train + p.n_val + p.n_test > 5000:
        raise ParamError(f"fig_imbalance_sweep.n_train + n_val + n_test = {p.n_train + p.n_val + p.n_test}: "
                         "expected at most the 5,000 MNIST digits AV-Digits draws from")
    if set(p.selection_seeds) & set(p.seeds):
        raise ParamError(f"fig_imbalance_sweep.selection_seeds={p.selection_seeds}: expected seeds outside "
                         f"seeds {p.seeds} (α is chosen on runs that are not reported)")


PARAMS.rules.append(check)

SMOKE_SIZES = {"n_train": 40, "n_val": 20, "n_test": 20}


def smoke(p):
    """Seconds: two levels, one seed, one epoch, a few dozen samples, runs in the notebook's process."""
    for key, value in SMOKE_SIZES.items():
        setattr(p, key, value)
    p.snr_levels, p.seeds, p.epochs, p.workers = p.snr_levels[:2], p.seeds[:1], 1, 1
    p.alpha_grid, p.selection_seeds = p.alpha_grid[:2], p.selection_seeds[:1]
    return p


# --- inputs ----------------------------------------------------------------------------------------

def base_config(p) -> AVDigitsConfig:
    """The data stage's generator config (root/meta.json) with this stage's split sizes."""
    path = Path(p.root) / "meta.json"
    if not path.is_file():
        raise DatasetError(f"fig_imbalance_sweep: {path} not found; expected the data stage's AV-Digits "
                           "(`dvc repro data_avdigits`), whose generator knobs every sweep level reuses")
    config = json.loads(path.read_text())["config"]
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return replace(AVDigitsConfig(**config), n_train=p.n_train, n_val=p.n_val, n_test=p.n_test)


def chosen_ogm(p) -> OGMConfig:
    """The OGM-GE setting t1_fusion chose on val (`stages/shared/ogm_choice.py`, as t3_imbalance and
    fig_underopt read it): its window mapped onto this stage's epochs, and its α, which each level replaces by
    its own choice on val (`select_alpha`)."""
    return ogm_choice.chosen_ogm(p.ogm_grid, epochs=p.epochs, params=p.ogm_params)


def train_config(p) -> TrainConfig:
    return TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                       weight_decay=p.weight_decay, lr_decay_at=p.lr_decay_at, lr_gamma=p.lr_gamma,
                       seed=p.seeds[0], device=p.device)


# --- data ------------------------------------------------------------------------------------------

def generate_levels(p, base: AVDigitsConfig) -> dict:
    """{snr_db: {"train", "val", "test"} datasets}: each level generated into a temporary folder (speech
    synthesized once), loaded into memory, and the folder removed, also on failure."""
    cfgs = [replace(base, snr_db=float(snr)) for snr in p.snr_levels]
    with tempfile.TemporaryDirectory(prefix="avlab-sweep-") as tmp:
        roots = [Path(tmp) / f"snr{i}" for i in range(len(cfgs))]
        generate_snr_levels(roots, cfgs, progress=False)
        return {snr: load_splits("avdigits", root) for snr, root in zip(p.snr_levels, roots, strict=True)}


def visual_shared(levels: dict) -> bool:
    """Whether every level holds the very same visual tensors (so one visual-only model serves them all)."""
    first, *rest = levels.values()
    return all(torch.equal(d[s].visual, first[s].visual) and torch.equal(d[s].label, first[s].label)
               for d in rest for s in first)


def selection_specs(p, ogm: OGMConfig) -> list:
    return [RunSpec(f"alpha={a:g}", "concat", replace(ogm, alpha=a)) for a in p.alpha_grid]


def select_alpha(p, runs: list) -> dict:
    """α of this level: the grid's best mean val accuracy over the selection seeds (ties: the smaller α). Only
    concat + OGM-GE's own val accuracies are read: never concat's, never test. Returns {"alpha", "grid"
    ({α: mean val acc, percent}), "margin" (to the runner-up, points), "sd" (mean per-α SD over the
    selection seeds, points: the noise the margin is read against; None with one seed)}."""
    g = group_runs(runs)
    grid = {a: 100 * float(np.mean([r.val["acc"] for r in g[f"alpha={a:g}"]])) for a in p.alpha_grid}
    order = sorted(grid, key=lambda a: (-grid[a], a))
    sds = [np.std([100 * r.val["acc"] for r in g[f"alpha={a:g}"]], ddof=1) for a in p.alpha_grid
           if len(g[f"alpha={a:g}"]) > 1]
    return {"alpha": order[0], "grid": grid,
            "margin": grid[order[0]] - grid[order[1]] if len(order) > 1 else None,
            "sd": float(np.mean(sds)) if sds else None}


def run_levels(p, levels: dict, ogm: OGMConfig, train: TrainConfig) -> tuple[dict, dict]:
    """({snr_db: [RunResult, ...]}, {snr_db: select_alpha(...)}): per level, α chosen on val over the
    selection seeds, then audio-only, concat, concat + OGM-GE at that α and GE alone (k = 1) at every seed,
    and visual-only (trained once on the first level when the visual data are shared, else per level)."""
    model, shared = {"encoder": "small_cnn", "width": p.width}, visual_shared(levels)
    out, selections, visual = {}, {}, None
    for snr, data in levels.items():
        picked = run_specs(selection_specs(p, ogm), p.selection_seeds, data, train=train, model=model,
                           probe=False, workers=p.workers, progress=False)
        selections[snr] = select_alpha(p, picked)
        chosen = replace(ogm, alpha=selections[snr]["alpha"])
        specs = [RunSpec("audio_only", "audio_only"), RunSpec("concat", "concat"),
                 RunSpec("concat+ogm_ge", "concat", chosen), RunSpec("ge_only", "concat", replace(ogm, modulate=False))]
        if visual is None or not shared:
            specs.insert(1, RunSpec("visual_only", "visual_only"))
        runs = run_specs(specs, p.seeds, data, train=train, model=model, workers=p.workers, progress=False,
                         lr_unimodal=p.lr_unimodal)
        if visual is None or not shared:
            visual = [r for r in runs if r.kind == "visual_only"]
        out[snr] = [r for r in runs if r.kind != "visual_only"] + visual
    return out, selections


def selection_frame(selections: dict) -> pd.DataFrame:
    """alpha_grid.csv: per level and α, the mean val accuracy over the selection seeds and the choice."""
    return pd.DataFrame([{"snr_db": snr, "alpha": a, "val_acc_mean": round(v, 4), "chosen": a == sel["alpha"],
                          "margin_to_runner_up": None if sel["margin"] is None else round(sel["margin"], 4),
                          "selection_seed_sd": None if sel["sd"] is None else round(sel["sd"], 4)}
                         for snr, sel in selections.items() for a, v in sel["grid"].items()])


# --- table, metrics --------------------------------------------------------------------------------

def _acc(group) -> list:
    return [r.test["acc"] for r in group]


def _probe(group, m: str) -> list:
    return [r.probe["test"][m] for r in group]


def level_summary(results: dict, selections: dict | None = None) -> list[dict]:
    """Per level, plain numbers (percent): uni-modal accuracies and gap, each fusion's accuracy, the paired
    Δ of OGM-GE and of GE alone (with their Holm-adjusted p over the whole table: both Δs at every level),
    the α chosen on val, the weak encoder (lower uni-modal accuracy) and its probe alone / in concat / with
    OGM-GE, and its under-optimization inside concat (probe alone − in concat, paired)."""
    rows = []
    for snr, runs in results.items():
        g = group_runs(runs)
        audio, visual = (mean_ci([100 * a for a in _acc(g[f"{m}_only"])])[0] for m in ("audio", "visual"))
        weak = "visual" if audio >= visual else "audio"
        rows.append({
            "snr_db": snr, "audio_only": audio, "visual_only": visual, "gap": audio - visual, "weak": weak,
            "concat": _acc(g["concat"]), "ogm": _acc(g["concat+ogm_ge"]),
            "delta": paired_difference(_acc(g["concat+ogm_ge"]), _acc(g["concat"])),
            "probe_alone": _probe(g[f"{weak}_only"], weak), "probe_concat": _probe(g["concat"], weak),
            "probe_ogm": _probe(g["concat+ogm_ge"], weak),
            "probe_delta": paired_difference(_probe(g["concat+ogm_ge"], weak), _probe(g["concat"], weak)),
            "under": paired_difference(_probe(g[f"{weak}_only"], weak), _probe(g["concat"], weak)),
            "ge": _acc(g["ge_only"]) if "ge_only" in g else None,
            "ge_delta": paired_difference(_acc(g["ge_only"]), _acc(g["concat"])) if "ge_only" in g else None,
            "selection": (selections or {}).get(snr),
        })
    family = {(i, key): r[key] for i, r in enumerate(rows) for key in ("delta", "ge_delta") if r[key] is not None}
    adjusted = records.holm_family(family)
    for (i, key), value in adjusted.items():
        rows[i][f"{key}_p_holm"] = value
    for r in rows:
        r["holm_m"] = len(family)
    return rows


def _verdict(d, adjusted) -> str:
    if d is None:
        return "–"
    if d.half is None:
        return "one seed"
    return ("yes, better" if d.mean > 0 else "yes, worse") if records.resolved(d, adjusted) else "no"


def _alpha_cell(sel) -> str:
    if sel is None:
        return "t1_fusion's"
    margin = "" if sel["margin"] is None else f" (+{sel['margin']:.1f} val pts over the runner-up)"
    return f"{sel['alpha']:g}{margin}"


def sweep_table(rows: list) -> pd.DataFrame:
    return pd.DataFrame([{
        "audio SNR (dB)": f"{r['snr_db']:g}", "audio-only acc": f"{r['audio_only']:.1f}",
        "visual-only acc": f"{r['visual_only']:.1f}", "gap (audio − visual)": f"{r['gap']:+.1f}",
        "concat acc": format_ci(r["concat"]), "concat + OGM-GE acc": format_ci(r["ogm"]),
        "α (chosen on val)": _alpha_cell(r.get("selection")),
        "Δ acc (paired)": str(r["delta"]), "Holm p": format_p(r.get("delta_p_holm")),
        "resolved (Holm)": _verdict(r["delta"], r.get("delta_p_holm")),
        "GE alone acc": "–" if r.get("ge") is None else format_ci(r["ge"]),
        "Δ GE alone (paired)": "–" if r.get("ge_delta") is None else str(r["ge_delta"]),
        "GE alone Holm p": format_p(r.get("ge_delta_p_holm")), "weak encoder": r["weak"],
        "weak under-optimized in concat (alone − concat)": str(r["under"]),
        "weak probe: alone": format_ci(r["probe_alone"]), "weak probe: concat": format_ci(r["probe_concat"]),
        "weak probe: concat + OGM-GE": format_ci(r["probe_ogm"]), "Δ weak probe (paired)": str(r["probe_delta"]),
    } for r in rows])


def table_note(p, ogm: OGMConfig) -> str:
    return (f"AV-Digits regenerated per audio SNR (the data stage's knobs, {p.n_train}/{p.n_val}/{p.n_test} "
            f"train/val/test samples; per-sample SNR jitter as the data stage), test split, seeds {p.seeds}. "
            "Uni-modal accuracies are means over seeds; gap = audio-only − visual-only (points). concat and "
            "concat + OGM-GE: mean ± 95% t-interval. Δ = per-seed paired difference (same init and data order): "
            f"mean ± 95% t-interval (wins/seeds); Holm p: its paired-t p-value adjusted by Holm over the table's "
            f"{2 * len(p.snr_levels)} comparisons (OGM-GE and GE alone against concat at every level); resolved = "
            f"adjusted p < 0.05. OGM-GE: window as stage t1_fusion chose on val, α chosen on val per level from "
            f"{list(p.alpha_grid)} (mean over selection seeds {p.selection_seeds}, alpha_grid.csv). GE alone: "
            "OGM-GE's noise with k = 1 (the control for the noise's own effect). "
            "Weak encoder = the modality with the lower uni-modal accuracy at that level; its probe = test "
            "accuracy of a logistic regression on the frozen encoder, trained alone / inside concat ± OGM-GE.")


def sweep_metrics(rows: list) -> dict:
    """DVC metrics per level ("snr_<dB>"), percent."""
    out = {}
    for r in rows:
        entry = {"audio_only": round(r["audio_only"], 4), "visual_only": round(r["visual_only"], 4),
                 "gap": round(r["gap"], 4), "concat": round(mean_ci([100 * a for a in r["concat"]])[0], 4),
                 "concat_ogm_ge": round(mean_ci([100 * a for a in r["ogm"]])[0], 4),
                 "delta_acc": round(r["delta"].mean, 4), "delta_acc_wins": r["delta"].wins,
                 "weak_probe_delta": round(r["probe_delta"].mean, 4)}
        if r.get("delta_p_holm") is not None:
            entry["delta_acc_p_holm"] = round(r["delta_p_holm"], 4)
        if r.get("ge_delta") is not None:
            entry["ge_only_delta_acc"] = round(r["ge_delta"].mean, 4)
        if r.get("selection") is not None:
            entry["alpha"] = r["selection"]["alpha"]
        if r["delta"].half is not None:
            entry["delta_acc_ci95"] = round(r["delta"].half, 4)
            entry["weak_probe_delta_ci95"] = round(r["probe_delta"].half, 4)
        out[f"snr_{r['snr_db']:g}"] = entry
    return out


def runs_frame(results: dict) -> pd.DataFrame:
    """Every run's numbers (`records.runs_frame`: val/test accuracy, best epoch and its convergence flag,
    test-selection optimism, probes, ρ/k summary), long format with the level's snr_db first."""
    return pd.concat([records.runs_frame(runs).assign(snr_db=snr) for snr, runs in results.items()],
                     ignore_index=True).pipe(lambda f: f[["snr_db", *[c for c in f.columns if c != "snr_db"]]])


def histories(results: dict) -> pd.DataFrame:
    """history.csv: every run's per-epoch log (loss, ρ_audio, OGM-GE's k per encoder inside its window,
    val accuracies), long, after the level, row label and seed."""
    return pd.concat([history_frame(runs, columns=lambda r, snr=snr: {"snr_db": snr, "label": r.label,
                                                                       "seed": r.seed})
                      for snr, runs in results.items()], ignore_index=True)


# --- figure ----------------------------------------------------------------------------------------

def sweep_figure(rows: list):
    """Against the measured uni-modal gap: (a) concat and concat + OGM-GE test accuracy, (b) the paired Δ with
    its 95% interval, (c) the weak encoder's probe alone / in concat / with OGM-GE. Bands: 95% t-intervals."""
    rows = sorted(rows, key=lambda r: r["gap"])  # lines run left to right even if the gap is not monotone in SNR
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    long = lambda key, name: [{"gap": r["gap"], "setting": name, "value": 100 * v}  # noqa: E731
                              for r in rows for v in r[key]]
    acc = pd.DataFrame(long("concat", "concat") + long("ogm", "concat + OGM-GE"))
    line_with_band(axes[0], acc, x="gap", y="value", hue="setting")
    axes[0].set(title="test accuracy", ylabel="test accuracy (%)")

    gaps = np.array([r["gap"] for r in rows])
    axes[1].axhline(0, color="0.5", ls=":")
    for key, name, shift in (("delta", "OGM-GE", 0.0), ("ge_delta", "GE alone (k = 1)", 0.8)):
        if any(r.get(key) is None for r in rows):
            continue
        means = np.array([r[key].mean for r in rows])
        halves = np.array([np.nan if r[key].half is None else r[key].half for r in rows])
        axes[1].errorbar(gaps + shift, means, yerr=np.nan_to_num(halves), marker="o", capsize=3, label=name)
    for r in rows:
        axes[1].annotate(f"{r['snr_db']:g} dB", (r["gap"], r["delta"].mean), fontsize=7,
                         textcoords="offset points", xytext=(4, 4))
    axes[1].legend(fontsize=8)
    axes[1].set(title="Δ vs concat (paired, 95% CI)", ylabel="Δ test accuracy (points)")

    probe = pd.DataFrame(long("probe_alone", "trained alone") + long("probe_concat", "in concat")
                         + long("probe_ogm", "in concat + OGM-GE"))
    line_with_band(axes[2], probe, x="gap", y="value", hue="setting")
    axes[2].set(title="weak encoder's linear probe (weak = lower uni-modal acc)", ylabel="probe test accuracy (%)")
    for ax in axes:
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_xlabel("uni-modal gap: audio-only − visual-only test acc (points)\n← visual dominant | audio "
                      "dominant →")
    fig.tight_layout()
    return fig


# --- findings --------------------------------------------------------------------------------------

def _interval(d) -> str:
    if d.half is None:
        return "one seed: no interval"
    return "the 95% interval excludes 0" if d.excludes_zero else "the 95% interval includes 0"


def follows_imbalance(rows: list) -> tuple | None:
    """(Spearman ρ, p) across levels between OGM-GE's Δ and the weak encoder's under-optimization inside
    concat (probe alone − in concat, points): positive if the gain is larger where the weak encoder is held
    back more (OGM-GE's mechanism); None with fewer than 3 levels."""
    if len(rows) < 3:
        return None
    from scipy.stats import spearmanr

    rho, pvalue = spearmanr([r["under"].mean for r in rows], [r["delta"].mean for r in rows])
    return float(rho), float(pvalue)


def findings(rows: list, ogm: OGMConfig, seeds: list) -> str:
    """Per level the paired Δ of OGM-GE and GE alone with Holm's verdict; where OGM-GE helps; whether its gain
    follows the weak encoder's under-optimization; the α chosen per level; the weak probe."""
    m = rows[0].get("holm_m", 0) if rows else 0
    lines = ["# Findings on AV-Digits regenerated per audio SNR (not the paper's data)", "",
             f"OGM-GE window as t1_fusion chose on val ({ogm.describe().split(', ', 1)[-1]}), α chosen on val per "
             f"level; seeds {seeds}; gap = audio-only − visual-only test accuracy (points): < 0 visual dominant, > 0 "
             f"audio dominant. Resolved: Holm-adjusted p < 0.05 over the table's {m} comparisons.", "",
             "- Paired Δ against concat (test accuracy, points) per level:"]
    for r in rows:
        ge = ("" if r.get("ge_delta") is None else
              f"; GE alone Δ {r['ge_delta']} — {holm_verdict(r.get('ge_delta_p_holm'), m)}")
        lines.append(f"  - SNR {r['snr_db']:g} dB, gap {r['gap']:+.1f} (audio {r['audio_only']:.1f}%, visual "
                     f"{r['visual_only']:.1f}%), α {_alpha_cell(r.get('selection'))}: OGM-GE Δ {r['delta']} — "
                     f"{holm_verdict(r.get('delta_p_holm'), m)}{ge}.")
    helps = [r for r in rows if records.resolved(r["delta"], r.get("delta_p_holm")) and r["delta"].mean > 0]
    hurts = [r for r in rows if records.resolved(r["delta"], r.get("delta_p_holm")) and r["delta"].mean < 0]
    where = lambda rs: ", ".join(f"{r['snr_db']:g} dB (gap {r['gap']:+.1f})" for r in rs)  # noqa: E731
    lines.append(f"- OGM-GE helps resolvably at {len(helps)} of {len(rows)} levels"
                 f"{': ' + where(helps) if helps else ''}; it hurts resolvably at {len(hurts)}"
                 f"{': ' + where(hurts) if hurts else ''}. "
                 + ("At no level is OGM-GE's gain resolved after Holm's correction: on this data, with these seeds, "
                    "it is not shown anywhere along the imbalance axis." if not helps else ""))
    ge_rows = [r for r in rows if r.get("ge_delta") is not None]
    if ge_rows:
        closer = sum(abs(r["delta"].mean - r["ge_delta"].mean) <= max(r["delta"].half or 0, r["ge_delta"].half or 0)
                     for r in ge_rows)
        lines.append(f"- GE alone (OGM-GE's noise with k = 1) lands within the larger of the two intervals of OGM-GE's "
                     f"Δ at {closer} of {len(ge_rows)} levels: where it does, what OGM-GE adds over concat cannot be "
                     "told apart from its noise's effect at these seeds.")
    trend = follows_imbalance(rows)
    if trend is not None:
        lines.append(f"- Does the gain follow the imbalance? Across the {len(rows)} levels, Spearman ρ = "
                     f"{trend[0]:+.2f} (p = {format_p(trend[1])}) between OGM-GE's Δ and the weak encoder's "
                     "under-optimization inside concat (its probe trained alone − inside concat): "
                     + ("the gain grows where the weak encoder is held back more, as OGM-GE's mechanism predicts."
                        if trend[0] > 0 and trend[1] < 0.05 else
                        "no resolved relation at this many levels; the gain does not track the imbalance here."))
    lines.append("- The weak encoder's linear probe (alone → in concat → with OGM-GE, means; paired Δ OGM-GE − "
                 "concat, points, unadjusted):")
    for r in rows:
        means = [mean_ci([100 * v for v in r[k]])[0] for k in ("probe_alone", "probe_concat", "probe_ogm")]
        lines.append(f"  - SNR {r['snr_db']:g} dB, weak = {r['weak']}: {means[0]:.1f} → {means[1]:.1f} → "
                     f"{means[2]:.1f}; Δ {r['probe_delta']}.")
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds). α per level: the best mean val "
              "accuracy of concat + OGM-GE over the selection seeds (alpha_grid.csv gives the margin to the "
              "runner-up and the selection seeds' SD; a margin below that SD is a choice within noise). The x axis "
              "is measured on test (it describes each level; nothing is chosen on it). Per-epoch ρ and k of every "
              "run: history.csv; per-run numbers: runs.csv."]
    return "\n".join(lines) + "\n"
