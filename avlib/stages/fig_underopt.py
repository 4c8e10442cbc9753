"""Stage `fig_underopt`: the under-optimized uni-modal encoders of a jointly trained model, over training
(OGM-GE Fig. 1, VGGSound in the paper; the talk's motivating figure).

Against the epoch: the val accuracy of the audio-only and visual-only models, and the val accuracy of a
linear probe on each frozen encoder of the fused model (and of the fused model with OGM-GE) at that
epoch. Every encoder, the uni-modal models' included, gets the same probe (`avlib.tasks.classify.probe.linear_probe`:
one logistic regression fit on train features), so the probes compare like with like. The claim tested:
the weaker encoder inside the joint model ends clearly below its uni-modal counterpart, and OGM-GE
narrows that gap. OGM-GE's α and window are not knobs here: they are stage t1_fusion's choice on val,
read from its `ogm_grid.csv`.
"""

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from avlib.balance import OGMConfig
from avlib.core.metrics import Paired, mean_ci
from avlib.core.params import Bool, Choice, Float, Int, ListOf, Schema, Str, device
from avlib.data.registry import display_name
from avlib.models.fusion import FUSIONS
from avlib.report import format_ci
from avlib.report.plots import line_with_band
from avlib.stages.shared.classify import (  # noqa: F401 - load_data, ...: the notebook's stage.load_data(p)
    DATASETS,
    LOADER_FIELD,
    TRAIN_FIELDS,
    ddp_rule,
    history_frame,
    load_data,
    model_kwargs,
    train_config,
)
from avlib.stages.shared.ogm_choice import chosen_ogm  # noqa: F401 - the notebook's stage.chosen_ogm
from avlib.stages.shared.records import (  # noqa: F401 - write_runs: the notebook's stage.write_runs
    convergence,
    convergence_sentence,
    holm_family,
    resolved,
    runs_frame,
    write_runs,
)
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.classify.runs import RunSpec

PART = ("ogmge", 5)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "fig_underopt",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0)), fusion=Choice(*FUSIONS),
    **TRAIN_FIELDS, lr_unimodal=Float(positive=True),
    ogm_grid=Str(), ogm_params=Choice("conv", "all"),
    device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0),
    loader=LOADER_FIELD,
)
PARAMS.rules.append(ddp_rule("fig_underopt"))

MODALITIES = ("audio", "visual")


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["visual/concat/gap", "visual/concat+ogm_ge/gap", "*/ogm_ge_minus_concat/gap_change",
            "visual/ogm_ge_minus_concat/gap_change_ci95", "*/ogm_ge_minus_concat/gap_change_p_holm",
            "convergence_check/late_share"]


def smoke(p):
    """Seconds, not minutes: one seed, two epochs (a curve needs two points), a few hundred samples."""
    p.seeds, p.epochs = p.seeds[:1], min(p.epochs, 2)
    return p


def specs(fusion: str, ogm: OGMConfig) -> list:
    """The four curves' models, every one probed after each epoch."""
    return [RunSpec("audio_only", "audio_only", probe_every_epoch=True),
            RunSpec("visual_only", "visual_only", probe_every_epoch=True),
            RunSpec(fusion, fusion, probe_every_epoch=True),
            RunSpec(f"{fusion}+ogm_ge", fusion, ogm, probe_every_epoch=True)]


# --- curves ----------------------------------------------------------------------------------------


def curves(history: pd.DataFrame, fusion: str) -> pd.DataFrame:
    """What the figure draws, long format (modality, curve, seed, epoch, acc): for each modality the
    uni-modal model's val accuracy, and the val accuracy of the probe on that modality's encoder trained
    alone, inside `fusion` and inside `fusion` + OGM-GE."""
    sources = {"{m}-only model": ("{m}_only", "val_acc"), "probe: {m}-only encoder": ("{m}_only", "probe_{m}_val"),
               "probe: {m} encoder in " + fusion: (fusion, "probe_{m}_val"),
               "probe: {m} encoder in " + fusion + " + OGM-GE": (fusion + "+ogm_ge", "probe_{m}_val")}
    parts = []
    for m in MODALITIES:
        for curve, (label, column) in sources.items():
            rows = history[history["label"] == label.format(m=m)]
            parts.append(pd.DataFrame({"modality": m, "curve": curve.format(m=m), "seed": rows["seed"],
                                       "epoch": rows["epoch"], "acc": rows[column.format(m=m)]}))
    return pd.concat(parts, ignore_index=True)


def _last(history: pd.DataFrame, label: str, column: str) -> list:
    """`column` at the last epoch of each seed of `label`, in seed order."""
    runs = history[history["label"] == label].sort_values(["seed", "epoch"])
    return runs.groupby("seed", sort=True)[column].last().tolist()


def gaps(runs: list, history: pd.DataFrame, fusion: str) -> dict:
    """{(modality, training): {"probe", "model", "gap", "gap_probe", "probe_test", "gap_test"}}, lists per seed
    in seed order and their paired differences.

    gap: last-epoch val accuracy of the probe minus the uni-modal model's last-epoch val accuracy (paired
    by seed). gap_probe: the same against the probe of the uni-modal model's encoder (probe vs probe: the
    classifier on top is the same). gap_test: probe minus uni-modal model at the epoch each run selected on
    val, on test (the probes of the selected states, as Table 1 reports them)."""
    by_label = {}
    for r in sorted(runs, key=lambda r: r.seed):
        by_label.setdefault(r.label, []).append(r)
    out = {}
    for m in MODALITIES:
        alone = f"{m}_only"
        model_val = _last(history, alone, "val_acc")
        model_test = [r.test["acc"] for r in by_label[alone]]
        alone_probe = _last(history, alone, f"probe_{m}_val")
        for training, label in (("alone", alone), (fusion, fusion), (f"{fusion} + OGM-GE", f"{fusion}+ogm_ge")):
            probe = _last(history, label, f"probe_{m}_val")
            probe_test = [r.probe["test"][m] for r in by_label[label]]
            out[m, training] = {"probe": probe, "model": model_val, "gap": paired_difference(probe, model_val),
                                "gap_probe": paired_difference(probe, alone_probe), "probe_test": probe_test,
                                "gap_test": paired_difference(probe_test, model_test)}
    return out


OGM_SUFFIX = " + OGM-GE"


def effects(g: dict) -> dict:
    """The figure's family of paired effects, {(modality, training, name): Paired}: every gap of the table
    (gap, gap_test; gap_probe except for the uni-modal encoder) and, per modality, OGM-GE's change of the joint
    encoder's gap ((modality, "ogm_ge_minus_<fusion>", "gap_change")). Holm corrects over all of them."""
    out = {}
    for (m, training), v in g.items():
        out[m, training, "gap"] = v["gap"]
        if training != "alone":
            out[m, training, "gap_probe"] = v["gap_probe"]
        out[m, training, "gap_test"] = v["gap_test"]
    for (m, training) in g:
        if training.endswith(OGM_SUFFIX) and (m, training.removesuffix(OGM_SUFFIX)) in g:
            fusion = training.removesuffix(OGM_SUFFIX)
            out[m, f"ogm_ge_minus_{fusion}", "gap_change"] = ogm_effect(g, m, fusion)
    return out


def gap_table(g: dict, *, dataset: str) -> pd.DataFrame:
    ours = f"ours ({display_name(dataset)})"
    adjusted = holm_family(effects(g))
    rows = []
    for (m, training), v in g.items():
        rows.append({
            "encoder": m, "trained": training,
            f"{ours} probe, last epoch (val)": format_ci(v["probe"]),
            f"{ours} uni-modal model, last epoch (val)": format_ci(v["model"]),
            "probe − uni-modal model (val, paired)": str(v["gap"]),
            "probe − uni-modal encoder's probe (val, paired)": "" if training == "alone" else str(v["gap_probe"]),
            f"{ours} probe, selected epoch (test)": format_ci(v["probe_test"]),
            "probe − uni-modal model (test, paired)": str(v["gap_test"]),
            "Holm p (val gap)": format_p(adjusted[m, training, "gap"]),
            "Holm p (val, probe vs probe)": "" if training == "alone" else format_p(adjusted[m, training, "gap_probe"]),
            "Holm p (test gap)": format_p(adjusted[m, training, "gap_test"]),
        })
    return pd.DataFrame(rows)


def table_note(dataset: str, seeds: list, ogm: OGMConfig) -> str:
    return (f"Ours: {display_name(dataset)}, mean ± 95% t-interval over seeds {seeds}. Probe = "
            "accuracy of one logistic regression fit on the frozen encoder's train features (the same probe for "
            "every encoder). Gap = probe minus the uni-modal model's own accuracy, per seed (same seed: same "
            "data order), mean ± 95% t-interval (seeds where the probe is higher / seeds); 'probe − uni-modal "
            "encoder's probe' subtracts the same probe on the uni-modal model's encoder instead (the same "
            "classifier on both). Last epoch: val split, "
            "the split the curves show. Selected epoch: each run in the state it selected on val, on test. "
            "Holm p = the two-sided paired-t p-value, Holm-adjusted over every paired effect of the figure (these "
            "gaps and OGM-GE's change of each joint encoder's gap; resolved: < 0.05). "
            f"OGM-GE: {ogm.describe()}, as stage t1_fusion chose it on val. The paper's figure has no numbers "
            "to put beside these (VGGSound, read off a plot).")


def run_metrics(g: dict, fusion: str, runs: list | None = None) -> dict:
    """DVC metrics, in percent: {modality: {training: last-epoch val probe and the paired gaps, each with its
    p, Holm-adjusted p (over `effects`) and resolved flag}}; with `runs`, "convergence_check"."""
    out = {m: {} for m in MODALITIES}
    adjusted = holm_family(effects(g))
    for (m, training), v in g.items():
        entry = {"probe_val_last": round(mean_ci([100 * x for x in v["probe"]])[0], 4)}
        for name in ("gap", "gap_test") + (() if training == "alone" else ("gap_probe",)):
            entry |= _paired_entry(name, v[name], adjusted[m, training, name])
        out[m][training.replace(OGM_SUFFIX, "+ogm_ge")] = entry
    for m in MODALITIES:
        key = f"ogm_ge_minus_{fusion}"
        out[m][key] = _paired_entry("gap_change", ogm_effect(g, m, fusion), adjusted[m, key, "gap_change"])
    if runs is not None:
        out["convergence_check"] = convergence(runs_frame(runs))
    return out


def _paired_entry(name: str, d: Paired, adjusted: float | None = None) -> dict:
    entry = {name: round(d.mean, 4), **({f"{name}_ci95": round(d.half, 4)} if d.half is not None else {})}
    if d.p is not None:
        entry |= {f"{name}_p": round(d.p, 6), f"{name}_p_holm": round(adjusted, 6)}
    return entry | {f"{name}_resolved": resolved(d, adjusted)}


def ogm_effect(g: dict, m: str, fusion: str) -> Paired:
    """Gap with OGM-GE minus gap without, per seed. Both gaps subtract the same seed's uni-modal model, so
    this is the paired difference of the two probes: > 0 moves the encoder toward its uni-modal model."""
    return paired_difference(g[m, f"{fusion} + OGM-GE"]["probe"], g[m, fusion]["probe"])


# --- figure ----------------------------------------------------------------------------------------

def figure(curve_df: pd.DataFrame, history: pd.DataFrame, fusion: str):
    """(a) audio and (b) visual: the uni-modal model's val accuracy and the probes' over the epochs;
    (c) each joint encoder's probe minus the probe of its uni-modal model's encoder, per epoch and seed (the
    same classifier on both, so the curve is the encoders' difference, not the heads'). Bands: 95%
    t-intervals over seeds."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, m in zip(axes[:2], MODALITIES, strict=True):
        sub = curve_df[curve_df["modality"] == m].assign(acc=lambda d: 100 * d["acc"])
        line_with_band(ax, sub, x="epoch", y="acc", hue="curve")
        for line in ax.get_lines():
            if "-only encoder" in line.get_label():
                line.set_linestyle(":")  # the uni-modal model's own encoder, probed: the reference for (c)
        ax.legend(fontsize=7)
        ax.set(title=f"{m}: uni-modal model vs encoders (val)", ylabel="val accuracy (%)", ylim=(0, 100))
    rows = []
    for m in MODALITIES:
        alone = history[history["label"] == f"{m}_only"].set_index(["seed", "epoch"])[f"probe_{m}_val"]
        for training, label in ((fusion, fusion), (f"{fusion} + OGM-GE", f"{fusion}+ogm_ge")):
            probe = history[history["label"] == label].set_index(["seed", "epoch"])[f"probe_{m}_val"]
            gap = (100 * (probe - alone)).rename("gap").reset_index()
            rows.append(gap.assign(encoder=f"{m} in {training}"))
    line_with_band(axes[2], pd.concat(rows, ignore_index=True), x="epoch", y="gap", hue="encoder")
    for line in axes[2].get_lines():
        if "OGM-GE" in line.get_label():
            line.set_linestyle("--")
    axes[2].legend(fontsize=7)
    axes[2].axhline(0, color="0.5", ls=":")
    axes[2].set(title="joint encoder's probe − uni-modal encoder's probe (val)", ylabel="points")
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def head_lag(history: pd.DataFrame, lr_step: int) -> dict:
    """{modality: (mean before the LR decay, mean at the last epoch)} of the uni-modal model's val accuracy
    minus the probe of its own encoder, in points, over seeds: how far the model's own classifier trails
    what its features hold (before the decay at `lr_step`, at the high learning rate)."""
    out = {}
    for m in MODALITIES:
        rows = history[history["label"] == f"{m}_only"]
        lag = 100 * (rows["val_acc"] - rows[f"probe_{m}_val"])
        last = rows["epoch"] == rows["epoch"].max()
        out[m] = (float(lag[rows["epoch"] < lr_step].mean()), float(lag[last].mean()))
    return out


# --- findings --------------------------------------------------------------------------------------

def _pct(values) -> float:
    return mean_ci([100 * v for v in values])[0]


def findings(g: dict, lag: dict, *, dataset: str, fusion: str, ogm: OGMConfig, seeds: list, lr_step: int,
             runs: list | None = None) -> str:
    """Is the weaker encoder inside the joint model below its uni-modal model, and does OGM-GE narrow it?
    `lag`: `head_lag(history, lr_step)`. Every verdict: Holm over the figure's paired effects (`effects`).
    With `runs`: the convergence check of their best val epochs."""
    name = display_name(dataset)
    family = effects(g)
    adjusted, n = holm_family(family), len(family)

    def verdict(m, training, key) -> str:
        return holm_verdict(adjusted[m, training, key], n)

    def is_resolved(m, training, key) -> bool:
        return resolved(family[m, training, key], adjusted[m, training, key])

    final = {m: _pct(g[m, "alone"]["model"]) for m in MODALITIES}
    weak, strong = sorted(MODALITIES, key=final.get)
    lines = [f"# Findings on {name} (not the paper's data: the paper's figure is on VGGSound)", "",
             f"- Uni-modal models at the last epoch (val): audio-only {final['audio']:.1f}%, visual-only "
             f"{final['visual']:.1f}%: {weak} is the weaker modality."]
    for m in (weak, strong):
        plain, ogm_row = g[m, fusion], g[m, f"{fusion} + OGM-GE"]
        d = plain["gap"]
        ok = is_resolved(m, fusion, "gap")
        where = "ends clearly below" if ok and d.mean < 0 else "ends above" if ok else "is not resolvably apart from"
        lines.append(f"- The {m} encoder inside {fusion} {where} the {m}-only model: last-epoch val probe "
                     f"{_pct(plain['probe']):.1f}% vs {_pct(plain['model']):.1f}%, gap {d} points "
                     f"({verdict(m, fusion, 'gap')}). On test at the selected epoch: gap {plain['gap_test']} "
                     f"({verdict(m, fusion, 'gap_test')}).")
        e = ogm_effect(g, m, fusion)
        lines.append(f"  - With OGM-GE ({ogm.describe()}): probe {_pct(ogm_row['probe']):.1f}%, gap {ogm_row['gap']}. "
                     f"Gap with OGM-GE minus gap without: {e} points (> 0: the probe is higher with OGM-GE; "
                     f"{verdict(m, f'ogm_ge_minus_{fusion}', 'gap_change')}).")
    e = ogm_effect(g, weak, fusion)
    below = g[weak, fusion]["gap"].mean < 0
    if is_resolved(weak, f"ogm_ge_minus_{fusion}", "gap_change"):
        change = ("narrows" if e.mean > 0 else "widens") if below else ("raises" if e.mean > 0 else "lowers")
        lines.append(f"- OGM-GE resolvably {change} the weaker ({weak}) encoder's gap on {name} (resolved after "
                     f"Holm correction over {n} comparisons).")
    else:
        lines.append(f"- OGM-GE does not resolvably change the weaker ({weak}) encoder's gap on {name} "
                     f"({e} points; {verdict(weak, f'ogm_ge_minus_{fusion}', 'gap_change')}; the claim tested: it "
                     "narrows it).")
    alone, same = g[weak, "alone"]["gap"], g[weak, fusion]["gap_probe"]
    lines.append(f"- Check of the probe: on the {weak}-only encoder it differs from the {weak}-only model's own "
                 f"classifier by {alone} points ({verdict(weak, 'alone', 'gap')}). Probe against probe (the same "
                 f"classifier on both encoders), the {weak} encoder inside {fusion} differs from the {weak}-only "
                 f"encoder by {same} points ({verdict(weak, fusion, 'gap_probe')}).")
    lines.append("- Why the gap is read at the last epoch: before the learning-rate decay (epoch "
                 f"{lr_step}), a uni-modal model's own val accuracy minus the probe of its own encoder averages "
                 f"{lag['audio'][0]:+.1f} (audio) and {lag['visual'][0]:+.1f} (visual) points; at the last epoch "
                 f"{lag['audio'][1]:+.1f} and {lag['visual'][1]:+.1f}. Mid-training a probe-vs-model gap also "
                 "measures the model's own classifier, so the figure's right panel compares probe with probe.")
    if runs is not None:
        lines.append("- " + convergence_sentence(convergence(runs_frame(runs))))
    lines += ["", f"Seeds {seeds}. Gaps are per-seed paired differences (mean ± 95% t-interval, seeds where the "
              "first is higher / seeds); the OGM-GE change of a gap is the paired difference of the two probes "
              "(the same uni-modal model is subtracted from both). Resolved: the two-sided paired-t p-value, "
              f"Holm-adjusted over the figure's {n} paired effects (every gap of the table and OGM-GE's change of "
              "each joint encoder's gap), is below 0.05; anything else is not a finding."]
    return "\n".join(lines) + "\n"
