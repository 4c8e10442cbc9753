"""Stage `t1_fusion`: OGM-GE Table 1 (fusion methods with and without OGM-GE), the α/window choice on
val, the imbalance figure and the findings."""


import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from avlib.balance import OGMConfig
from avlib.core.metrics import mean_ci
from avlib.core.params import Bool, Choice, Float, Int, ListOf, ParamError, Schema, Str, device
from avlib.data.registry import display_name
from avlib.models import KINDS
from avlib.report import format_ci, ours_column, paper_column
from avlib.report.plots import bars_with_ci, line_with_band
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
from avlib.stages.shared.run_store import write_run_store  # noqa: F401 - the notebook's stage.write_run_store
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.classify.engine import SELECTION_RULE, choose_from, margin_sentence, run_groups, selection_margin
from avlib.tasks.classify.runs import RunSpec

PART = ("ogmge", 1)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "t1_fusion",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0)), main_seeds=ListOf(Int(min=0), min_len=0),
    rows=ListOf(Choice(*KINDS)),
    **TRAIN_FIELDS, lr_unimodal=Float(positive=True),
    alpha_grid=ListOf(Float(positive=True)), window_grid=ListOf(Float(positive=True, max=1)),
    selection_seeds=ListOf(Int(min=0)), paper_alpha=Float(positive=True), ogm_params=Choice("conv", "all"),
    device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0),
    loader=LOADER_FIELD,
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["audio_only/acc", "visual_only/acc", "concat/acc", "concat+ogm_ge/acc", "concat+ogm_ge/delta_acc",
            "concat+ogm_ge/delta_acc_ci95", "concat+ogm_ge/delta_acc_p_holm", "concat/visual_probe",
            "concat+ogm_ge/visual_probe", "concat/test_selection_gap", "convergence_check/late_share"]


def check(p):
    if not any(not r.endswith("_only") for r in p.rows):
        raise ParamError(f"t1_fusion.rows={p.rows}: expected at least one fusion (OGM-GE needs two modalities)")
    if set(p.main_seeds) & set(p.seeds):
        raise ParamError(f"t1_fusion.main_seeds={p.main_seeds}: expected seeds beyond seeds {p.seeds} (the main "
                         "comparison's extra seeds); shared: " + str(sorted(set(p.main_seeds) & set(p.seeds))))
    if p.main_seeds and "concat" not in p.rows:
        raise ParamError(f"t1_fusion.main_seeds={p.main_seeds}: the main comparison is concat vs concat + OGM-GE; "
                         f"expected 'concat' among rows {p.rows}")
    if p.paper_alpha not in p.alpha_grid:
        raise ParamError(f"t1_fusion.paper_alpha={p.paper_alpha}: expected one of alpha_grid {p.alpha_grid} (the "
                         "grid compares the paper's α with the others on val)")
    shared = sorted(set(p.selection_seeds) & set(p.seeds + p.main_seeds))
    if shared:
        raise ParamError(f"t1_fusion.selection_seeds={p.selection_seeds}: expected seeds outside seeds {p.seeds} "
                         f"(the tuned runs must not be reported ones; {shared} in both)")


PARAMS.rules += [check, ddp_rule("t1_fusion")]

# ‡: our reading of the paper's "Baseline" (avlib/models/fusion.py), not the authors' model
METHOD_NAMES = {"audio_only": "Audio-only", "visual_only": "Visual-only", "baseline": "Baseline‡",
                "concat": "Concatenation", "sum": "Summation", "film": "FiLM", "gated": "Gated"}


def smoke(p):
    """Seconds, not minutes: one seed, one epoch, the first grid point, a few hundred samples."""
    return replace_ns(p, seeds=p.seeds[:1], epochs=1, alpha_grid=[p.paper_alpha], window_grid=p.window_grid[:1])


def replace_ns(p, **changes):
    for k, v in changes.items():
        setattr(p, k, v)
    return p


def ogm_grid_specs(p) -> list:
    """concat + OGM-GE at each (α, window end as a fraction of the epochs); the window starts at 0."""
    return [RunSpec(f"α={a:g}, window={w:g}", "concat",
                    OGMConfig(alpha=a, start_epoch=0, end_epoch=max(1, round(w * p.epochs)), params=p.ogm_params))
            for a in p.alpha_grid for w in p.window_grid]


def first_pass(p, data, train, model) -> tuple[list, list]:
    """(grid runs, plain runs): OGM-GE's grid at the selection seeds and every row without OGM-GE (which does
    not wait for the grid's choice), concat also at `main_seeds`, in one pool of workers."""
    # the uni-modal runs keep their class probabilities: t3_imbalance's late-fusion row averages them
    # (read from trained_runs.json.gz, `stages/shared/run_store.py`); training is unchanged
    plain = [RunSpec(kind, kind, keep_outputs=kind.endswith("_only")) for kind in p.rows]
    groups = [(ogm_grid_specs(p), p.selection_seeds, False), (plain, p.seeds, True)]
    if p.main_seeds and "concat" in p.rows:
        groups.append(([RunSpec("concat", "concat")], p.main_seeds, True))
    grid_runs, *plain_runs = run_groups(groups, data, train=train, model=model, workers=p.workers, ddp=p.ddp,
                                        lr_unimodal=p.lr_unimodal)
    return grid_runs, [r for group in plain_runs for r in group]


def choose_ogm(p, grid_runs: list) -> tuple[pd.DataFrame, OGMConfig]:
    """(grid table, chosen OGMConfig): val accuracy of each grid point at each selection seed and their mean
    (what chooses; ties: the first); `paper` marks the paper's α."""
    specs = ogm_grid_specs(p)
    grid = choose_from(grid_runs)
    grid.insert(1, "window_end_epoch", [s.method.end_epoch for s in specs])
    grid.insert(2, "paper", [s.method.alpha == p.paper_alpha for s in specs])
    return grid, specs[int(grid["chosen"].to_numpy().argmax())].method


def grid_note(p, chosen: OGMConfig) -> str:
    return (f"Val accuracy of concat + OGM-GE on {display_name(p.dataset)} at each selection seed "
            f"{p.selection_seeds} (not reported seeds; val_acc_s<seed>), their mean val_acc (what chooses) and "
            f"their spread (max − min). Chosen: {chosen.describe()}. {SELECTION_RULE}")


MAIN = ("concat", "concat+ogm_ge")  # the main comparison: the one `main_seeds` adds seeds to


def ogm_rows(p, chosen: OGMConfig, data, train, model) -> list:
    """Every fusion with OGM-GE at its chosen setting, at `seeds`, and concat + OGM-GE at `main_seeds` too:
    the precision the question needs where it is asked, the other rows at the seeds the budget leaves."""
    specs = table_specs(p, chosen)
    groups = [(specs, p.seeds, True)]
    main = [s for s in specs if s.label in MAIN]
    if p.main_seeds and main:
        groups.append((main, p.main_seeds, True))
    return [r for group in run_groups(groups, data, train=train, model=model, workers=p.workers, ddp=p.ddp)
            for r in group]


def table_specs(p, chosen: OGMConfig) -> list:
    """The OGM-GE rows: each fusion of `rows` with the chosen setting. (The paper's α is compared on val in
    the grid, not as a test row: the budget keeps the test rows for the question the table asks.)"""
    return [RunSpec(f"{kind}+ogm_ge", kind, chosen) for kind in p.rows if not kind.endswith("_only")]


# --- table, metrics, history -----------------------------------------------------------------------


def _plain_label(group) -> str:
    return group[0].kind  # the row without OGM-GE that an OGM-GE row is compared with


def last_rho(group) -> str:
    values = [r.history[-1]["rho_audio"] for r in group if "rho_audio" in r.history[-1]]
    return format_ci(values, scale=1.0, digits=2) if values else ""


def ogm_deltas(groups: dict) -> dict:
    """{label: paired Δ test acc vs the same fusion without OGM-GE}: every "X vs X+OGM-GE" comparison of the
    table (the family Holm corrects over), in table order."""
    return {label: paired_by_seed(group, groups[group[0].kind], lambda r: r.test["acc"])
            for label, group in groups.items() if group[0].method is not None and group[0].kind in groups}


def paired_by_seed(with_runs: list, without_runs: list, value):
    """Paired Δ of `value(run)` over the seeds both groups ran (the main comparison has extra seeds)."""
    without = {r.seed: value(r) for r in without_runs}
    pairs = [(value(r), without[r.seed]) for r in with_runs if r.seed in without]
    return paired_difference([a for a, _ in pairs], [b for _, b in pairs])


def fusion_table(runs: list, *, dataset: str, reference: pd.DataFrame) -> pd.DataFrame:
    """Method, OGM-GE setting, ours acc/mAP, paired Δ acc vs the same fusion without OGM-GE and its
    Holm-adjusted p (over every such Δ of the table), paper acc/mAP (CREMA-D), each encoder's linear probe,
    the last-epoch ρ_audio, and the test accuracy at the best TEST epoch with its optimism over ours."""
    groups, rows = group_runs(runs), []
    deltas = ogm_deltas(groups)
    adjusted = holm_family(deltas)
    for label, group in groups.items():
        first = group[0]
        paper = reference[(reference["method"] == first.kind) & (reference["ogm_ge"] == (first.method is not None))]
        probe = {m: [r.probe["test"][m] for r in group if m in r.probe["test"]] for m in ("audio", "visual")}
        delta = str(deltas[label]) if label in deltas else ""
        rows.append({
            "method": METHOD_NAMES[first.kind] + ("†" if first.method else ""),
            "OGM-GE": first.method.describe() if first.method else "",
            ours_column(dataset, "acc"): format_ci([r.test["acc"] for r in group]),
            ours_column(dataset, "mAP"): format_ci([r.test["map"] for r in group]),
            "Δ acc vs w/o OGM-GE (paired)": delta,
            "Holm p": format_p(adjusted[label]) if label in deltas else "",
            paper_column("cremad", "acc"): paper["cremad_acc"].iloc[0] if len(paper) else None,
            paper_column("cremad", "mAP"): paper["cremad_map"].iloc[0] if len(paper) else None,
            "audio encoder probe": format_ci(probe["audio"]) if probe["audio"] else "",
            "visual encoder probe": format_ci(probe["visual"]) if probe["visual"] else "",
            "ρ_audio, last epoch": last_rho(group),
            **optimism_cells(group),
        })
    return pd.DataFrame(rows)


def table_note(dataset: str, seeds: list, main_seeds: list = ()) -> str:
    extra = (f" (Concatenation and Concatenation† also over seeds {list(main_seeds)}: the main comparison's "
             "precision)") if main_seeds else ""
    return (f"Ours: {display_name(dataset)} test split, mean ± 95% t-interval over seeds {seeds}{extra} "
            "(no interval with one seed), model selected on val. ‡ = our reading of the paper's Baseline "
            "(avlib/models/fusion.py), not the authors' model. Δ = per-seed paired difference with the same "
            "fusion without OGM-GE (same init and data order): mean ± 95% t-interval (wins/seeds); Holm p = its "
            "two-sided paired-t p-value, Holm-adjusted over every Δ of this table (resolved: < 0.05). "
            f"'{TEST_SELECTED}': each run at the epoch with the best test accuracy, the selection of the official "
            f"OGM-GE code and BalanceBenchmark; '{OPTIMISM}': that minus ours, per seed (mean ± 95% t-interval). "
            "Paper: "
            "CREMA-D, Peng et al. CVPR 2022 Table 1 (the talk's table has no Gated rows). † = with OGM-GE. "
            "Encoder probe = test accuracy of a logistic regression on the frozen encoder's features. "
            "ρ_audio = s_audio / s_visual averaged over the last epoch's training batches (> 1: audio dominates).")


def run_metrics(runs: list) -> dict:
    """DVC metrics: {label: {acc, acc_ci95, map, map_ci95, <m>_probe, delta_acc, delta_acc_ci95, delta_acc_wins,
    delta_acc_p, delta_acc_p_holm, delta_acc_resolved, acc_best_test_epoch, test_selection_gap}} in percent,
    from test; "convergence_check": the share of runs whose best val epoch is in the last 20% of the epochs,
    and the runs per best epoch."""
    out, groups = {}, group_runs(runs)
    deltas = ogm_deltas(groups)
    adjusted = holm_family(deltas)
    for label, group in groups.items():
        entry = {}
        for key in ("acc", "map"):
            mean, half = mean_ci([100 * r.test[key] for r in group])
            entry[key] = round(mean, 4)
            if half is not None:
                entry[f"{key}_ci95"] = round(half, 4)
        for m in ("audio", "visual"):
            values = [100 * r.probe["test"][m] for r in group if m in r.probe["test"]]
            if values:
                entry[f"{m}_probe"] = round(mean_ci(values)[0], 4)
        if label in deltas:
            d = deltas[label]
            entry["delta_acc"] = round(d.mean, 4)
            if d.half is not None:
                entry["delta_acc_ci95"] = round(d.half, 4)
            entry["delta_acc_wins"] = d.wins
            if d.p is not None:
                entry["delta_acc_p"] = round(d.p, 6)
                entry["delta_acc_p_holm"] = round(adjusted[label], 6)
            entry["delta_acc_resolved"] = resolved(d, adjusted[label])
        out[label] = entry | optimism_metrics(group)
    out["convergence_check"] = convergence(runs_frame(runs))
    return out



# --- findings --------------------------------------------------------------------------------------

def _mean(values) -> float:
    return mean_ci([100 * v for v in values])[0]


def _single(d) -> str:
    """The verdict of a comparison outside the table's Holm family (one comparison: its own p)."""
    if d.p is None:
        return "one seed: no p-value"
    return (f"{'resolved' if d.p < 0.05 and d.mean != 0 else 'not resolved'}: p = {format_p(d.p)}, a single "
            "comparison outside the table's family")


def findings(runs: list, *, dataset: str, reference: pd.DataFrame, grid: pd.DataFrame | None = None) -> str:
    """What Table 1 shows on our data, next to what the paper reports on CREMA-D (read from reference); with
    `grid` (choose_ogm's), how clearly val chose OGM-GE's setting."""
    g = group_runs(runs)
    ref = reference.set_index(["method", "ogm_ge"])["cremad_acc"]
    name = display_name(dataset)
    lines = [f"# Findings on {name} (not the paper's data)", ""]
    if "audio_only" in g and "visual_only" in g:
        a, v = _mean([r.test["acc"] for r in g["audio_only"]]), _mean([r.test["acc"] for r in g["visual_only"]])
        lines.append(f"- Uni-modal models: audio-only {a:.1f}%, visual-only {v:.1f}% "
                     f"({'audio' if a > v else 'visual'} dominant by {abs(a - v):.1f} points; paper, CREMA-D: "
                     f"audio {ref['audio_only', False]:.1f}% vs visual {ref['visual_only', False]:.1f}%).")
    rhos = {k: _mean([r.history[-1]["rho_audio"] for r in g[k]]) / 100 for k in g
            if k in METHOD_NAMES and not k.endswith("_only")}
    if rhos:
        listed = ", ".join(f"{k} {v:.2f}" for k, v in rhos.items())
        dominant = [k for k, v in rhos.items() if v > 1]
        lines.append(f"- Last-epoch ρ_audio in plain training (> 1: audio dominates): {listed}. Audio dominates in "
                     f"{len(dominant)} of {len(rhos)} fusions.")
    if "visual_only" in g and "concat" in g:
        alone = _mean([r.probe["test"]["visual"] for r in g["visual_only"]])
        joint = _mean([r.probe["test"]["visual"] for r in g["concat"]])
        verdict = "under-optimized" if joint < alone else "not under-optimized"
        lines.append(f"- Joint training (concat) leaves the visual encoder {verdict}: its linear probe reaches "
                     f"{joint:.1f}% vs {alone:.1f}% when trained alone (the paper's Fig. 1 claim).")
    family = ogm_deltas(g)
    adjusted, m = holm_family(family), len(family)
    deltas = []
    for kind in METHOD_NAMES:
        if f"{kind}+ogm_ge" in family:
            label = f"{kind}+ogm_ge"
            paper_gain = (ref[kind, True] - ref[kind, False]) if (kind, True) in ref.index else None
            deltas.append((kind, family[label], adjusted[label], paper_gain))
    if deltas:
        lines.append(f"- OGM-GE vs the same fusion without it (paired over seeds, test accuracy, points; Holm over "
                     f"the table's {m} comparisons with and without OGM-GE):")
        for kind, d, adj, paper_gain in deltas:
            paper = f"; paper, CREMA-D: {paper_gain:+.1f}" if paper_gain is not None else ""
            lines.append(f"  - {kind}: Δ {d} — {holm_verdict(adj, m)}{paper}.")
        for label in family:  # the table's other OGM-GE rows (e.g. the paper's α)
            if label not in {f"{k}+ogm_ge" for k, *_ in deltas}:
                lines.append(f"  - {label}: Δ {family[label]} — {holm_verdict(adjusted[label], m)}.")
        helped = [k for k, d, adj, _ in deltas if resolved(d, adj) and d.mean > 0]
        hurt = [k for k, d, adj, _ in deltas if resolved(d, adj) and d.mean < 0]
        lines.append(f"  After Holm correction, OGM-GE helps resolvably in {len(helped)} of {len(deltas)} fusions"
                     f"{' (' + ', '.join(helped) + ')' if helped else ''} and hurts resolvably in {len(hurt)}"
                     f"{' (' + ', '.join(hurt) + ')' if hurt else ''}; the paper reports a gain for every fusion "
                     "on CREMA-D.")
    if "concat+ogm_ge" in g and "concat" in g:
        d = paired_difference([r.probe["test"]["visual"] for r in g["concat+ogm_ge"]],
                              [r.probe["test"]["visual"] for r in g["concat"]])
        lines.append(f"- OGM-GE moves the visual encoder's probe inside concat by {d} points ({_single(d)}).")
    lines.append("- " + optimism_sentence(g, lambda k: METHOD_NAMES.get(k, k)))
    if grid is not None:
        lines.append("- Choice of OGM-GE's setting on val: " + margin_sentence(selection_margin(grid)))
        lines += paper_alpha_sentence(grid)
    lines.append("- " + convergence_sentence(convergence(runs_frame(runs))))
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds). Resolved: the two-sided "
              "paired-t p-value, Holm-adjusted over every comparison of the table with and without OGM-GE, is "
              "below 0.05; anything else is not a finding. " + SELECTION_RULE]
    return "\n".join(lines) + "\n"


def paper_alpha_sentence(grid: pd.DataFrame) -> list:
    """A findings line on the paper's α in the grid (val only), where it was not the one chosen."""
    if "paper" not in grid or not grid["paper"].any() or grid.loc[grid["paper"], "chosen"].any():
        return []
    paper, chosen = grid[grid["paper"]].iloc[0], grid[grid["chosen"]].iloc[0]
    return [f"- The paper's setting ({paper['setting']}) reaches {100 * paper['val_acc']:.1f}% on val, "
            f"{100 * (chosen['val_acc'] - paper['val_acc']):.1f} points below the chosen {chosen['setting']} "
            "(ogm_grid.md; not run on test)."]


# --- figure ----------------------------------------------------------------------------------------

def imbalance_figure(runs: list, history: pd.DataFrame, *, fused: str = "concat", ogm_label: str):
    """(a) ρ per epoch and (b) k per epoch for `fused` with and without OGM-GE; (c) linear-probe test
    accuracy of each encoder, trained alone vs inside `fused` (± OGM-GE). Bands: 95% t-intervals over seeds."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    line_with_band(axes[0], history[history["label"].isin([fused, ogm_label])], x="epoch", y="rho_audio", hue="label")
    axes[0].axhline(1.0, color="0.5", ls=":")
    axes[0].set(title="ρ audio = s_audio / s_visual (train batches)", yscale="log", ylabel="ρ audio (log scale)")
    axes[0].set_yticks([0.25, 0.5, 1, 2, 4, 8], labels=["¼", "½", "1", "2", "4", "8"])
    axes[0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # only the labelled powers of 2
    ogm = history[history["label"] == ogm_label]
    if "k_audio" in ogm:
        k = ogm.melt(id_vars=["epoch", "seed"], value_vars=["k_audio", "k_visual"], var_name="coefficient")
        line_with_band(axes[1], k.dropna(), x="epoch", y="value", hue="coefficient")
    axes[1].set(title=f"OGM-GE coefficients k ({ogm_label})", ylim=(0, 1.05), ylabel="mean k per epoch")

    groups, bars = group_runs(runs), []
    for setting, label in (("trained alone", None), (fused, fused), (fused + " + OGM-GE", ogm_label)):
        for m in ("audio", "visual"):
            for r in (groups.get(f"{m}_only") if label is None else groups.get(label)) or []:
                bars.append({"encoder": m, "training": setting, "probe test acc (%)": 100 * r.probe["test"][m]})
    bars_with_ci(axes[2], pd.DataFrame(bars), x="encoder", y="probe test acc (%)", hue="training")
    axes[2].set(title="what each encoder learned (linear probe)", ylim=(0, 100))
    fig.tight_layout()
    return fig
