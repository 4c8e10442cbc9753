"""Stage `t3_imbalance`: OGM-GE Table 3 (OGM-GE against other imbalance methods), each method's knobs chosen
on val over the selection seeds (the grid's runs trained by stage t3_grid and read back here), the table beside
the paper's and BalanceBenchmark's numbers, and the findings."""

import itertools
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from avlib.balance import METHODS, method_config
from avlib.core.metrics import mean_ci
from avlib.core.params import Bool, Choice, Float, Int, ListOf, ParamError, Schema, Str, device
from avlib.data.registry import display_name
from avlib.models.fusion import FUSIONS
from avlib.report import format_ci, ours_column, paper_column
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
from avlib.stages.shared.ogm_choice import chosen_ogm
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
from avlib.stages.shared.run_store import reuse
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.stats import format_p, holm_verdict, paired_difference
from avlib.tasks.classify.engine import (
    SELECTION_RULE,
    make_jobs,
    margin_sentence,
    run_groups,
    selection_grid,
    selection_margin,
)
from avlib.tasks.classify.fit import split_metrics
from avlib.tasks.classify.runs import RunJob, RunResult, RunSpec

PLAIN = "concat"  # the row without a balancing method: the fusion trained jointly, as it is
# Methods whose setting is not chosen here: OGM-GE's α and window are t1_fusion's choice on val (four α over two
# selection seeds, read from its ogm_grid.csv), so every OGM-GE row of the talk runs at one setting.
FROM_T1 = ("ogm_ge",)
# Controls with no knob of their own: OGM-GE's chosen config with one half switched off, so GE's and OGM's
# shares of OGM-GE's effect show at the same α and window (the paper has no such rows).
DERIVED = {"ge_only": lambda ogm_ge: replace(ogm_ge, modulate=False),
           "ogm_at_ogm_ge_alpha": lambda ogm_ge: replace(ogm_ge, ge=False)}
# The late-fusion ensemble: an audio-only and a visual-only model trained apart (each at the uni-modal lr chosen
# on val), their class probabilities averaged. A row built from two runs per seed (`late_fusion`), not a method.
LATE = "late_fusion"
LATE_PARTS = ("audio_only", "visual_only")
ROW_NAMES = {PLAIN: "Concatenation (ours)", LATE: "Late fusion (uni-modal ensemble) *",
             "modality_drop_audio": "Modality-Drop (audio)",
             "modality_drop_visual": "Modality-Drop (visual)", "gradient_blending": "Grad-Blending", "ogm": "OGM",
             "ogm_ge": "OGM-GE", "ge_only": "GE alone (control) *", "ogm_at_ogm_ge_alpha": "OGM (at OGM-GE's α)",
             "opm": "OPM *", "agm": "AGM *", "mmpareto": "MMPareto *",
             "three_loss_sum": "Three-loss sum (MMPareto's control) *", "mla": "MLA-reduced *", "MLA": "MLA *"}
IN_THE_TALK = (PLAIN, "modality_drop_audio", "modality_drop_visual", "gradient_blending", "ogm", "ogm_at_ogm_ge_alpha",
               "ogm_ge")
# BalanceBenchmark's method names for our rows (its "OGM" row runs the OGM_GE config, with noise).
BENCHMARK_NAMES = {PLAIN: "Baseline", "gradient_blending": "GBlending", "ogm_ge": "OGM", "opm": "OPM", "agm": "AGM",
                   "mmpareto": "MMPareto", "MLA": "MLA", "mla": "MLA"}
BENCHMARK_DATASETS = {"CREMA-D": "CREMA-D", "Kinetics-Sounds": "Kinetics-Sounds"}
PAPER_DATASETS = {"CREMA-D": "cremad_acc", "Kinetics-Sounds": "ks_acc"}


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["concat/acc", "ogm_ge/acc", "ogm_ge/delta_acc", "ogm_ge/delta_acc_p_holm", "ge_only/delta_acc",
            "mmpareto/delta_acc", "mmpareto/delta_acc_p_holm", "three_loss_sum/delta_acc", "late_fusion/delta_acc",
            "concat/test_selection_gap", "convergence_check/late_share"]
# (at most 12 numbers: what `dvc exp show` can compare at a glance)


def _grids(value):
    """{method: {option: [values]}}: each method's grid, every point a valid config (checked here)."""
    if not isinstance(value, dict):
        raise ValueError(f"a mapping method -> {{option: [values]}}, methods among {sorted(METHODS)}")
    out = {}
    for name, grid in value.items():
        if name not in METHODS:
            raise ValueError(f"a mapping whose keys are methods among {sorted(METHODS)} (got {name!r})")
        grid = grid or {}
        if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
            raise ValueError(f"{name}: a mapping option -> non-empty list of values (got {grid!r})")
        for point in grid_points(grid):
            try:
                method_config(name, **point)
            except ValueError as err:
                raise ValueError(f"{name}: a valid grid ({err})") from None
        out[name] = grid
    return out


PART = ("ogmge", 3)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "t3_imbalance",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=2), fusion=Choice(*FUSIONS),
    rows=ListOf(Choice(PLAIN, *METHODS, *DERIVED, LATE)),
    paper_only_rows=ListOf(Choice("MLA", "MMPareto"), min_len=0),
    **TRAIN_FIELDS, lr_unimodal=Float(positive=True),
    grids=_grids, selection_seeds=ListOf(Int(min=0)), ogm_grid=Str(), ogm_params=Choice("conv", "all"),
    reuse_from=Str(), grid_from=Str(), seeds_from=Str(),
    device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0),
    loader=LOADER_FIELD,
)


def check(p):
    shared = sorted(set(p.selection_seeds) & set(p.seeds))
    if shared:
        raise ParamError(f"t3_imbalance.selection_seeds={p.selection_seeds}: expected seeds outside seeds "
                         f"{p.seeds} (the tuned runs must not be reported ones; {shared} in both)")
    if PLAIN not in p.rows:
        raise ParamError(f"t3_imbalance.rows={p.rows}: expected {PLAIN!r} among them (every Δ is paired with it)")
    missing = [r for r in p.rows if r not in (PLAIN, LATE, *FROM_T1, *DERIVED) and r not in p.grids]
    if set(FROM_T1) & set(p.grids):
        raise ParamError(f"t3_imbalance.grids: {sorted(set(FROM_T1) & set(p.grids))} take the setting stage t1_fusion "
                         f"chose on val over its selection seeds (`ogm_grid`: {p.ogm_grid}); remove the grid")
    if any(r in DERIVED for r in p.rows) and "ogm_ge" not in p.rows:
        raise ParamError(f"t3_imbalance.rows={p.rows}: the controls {sorted(DERIVED)} take OGM-GE's chosen "
                         "setting; expected 'ogm_ge' among the rows")
    if missing:
        raise ParamError(f"t3_imbalance.grids: expected a grid for every method row; none for {missing} "
                         "(write {} for a method run at its defaults)")


PARAMS.rules += [check, ddp_rule("t3_imbalance")]


def smoke(p):
    """Seconds, not minutes: two seeds (the table's paired Δ needs two), one epoch, each grid's first point."""
    p.seeds, p.epochs = p.seeds[:2], 1
    p.grids = {name: {k: v[:1] for k, v in grid.items()} for name, grid in p.grids.items()}
    return p


# --- choosing each method's knobs on val --------------------------------------------------------------

def grid_points(grid: dict) -> list[dict]:
    """Every combination of a {option: [values]} grid, in the order written ({} -> one point, the defaults)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def run_schedule(p, name: str) -> dict:
    """Options a method takes from the run's own training settings, not from its grid: Grad-Blending's branch
    copies train at the lr the run is at (its StepLR), which its hooks cannot read from the optimiser."""
    if name != "gradient_blending":
        return {}
    return {"lr_step": train_config(p).lr_step, "lr_gamma": p.lr_gamma}


def grid_specs(p) -> list:
    """One spec per (method row, grid point), labelled '<method>|<option>=<value>,...'."""
    specs = []
    for name in p.rows:
        if name in (PLAIN, LATE, *FROM_T1) or name in DERIVED or len(grid_points(p.grids[name])) == 1:
            continue  # nothing to choose: a control takes OGM-GE's choice, a one-point grid is its own choice
        for point in grid_points(p.grids[name]):
            setting = ",".join(f"{k}={v}" for k, v in point.items()) or "defaults"
            specs.append(RunSpec(f"{name}|{setting}", p.fusion, method_config(name, **point, **run_schedule(p, name))))
    return specs


def grid_runs(p, data, *, train, model, store: str | None = None) -> list:
    """Every grid point (`grid_specs`) at each selection seed, spec-major, without probes. A point whose run at
    every selection seed is in `store` (stage t3_grid's trained_runs.json.gz) with the very same job and data is
    read back (`stages/shared/run_store.py`: bit-identical); every other point trains here."""
    specs = grid_specs(p)
    if not specs:
        return []
    jobs = make_jobs(specs, p.selection_seeds, train=train, model=model, probe=False, lr_unimodal=None)
    found = reuse(store, jobs, data=data) if store else {}
    runs, _ = read_back_or_train(specs, p.selection_seeds, found, job_trainer(p, data, train=train, model=model,
                                                                              probe=False, lr_unimodal=None))
    return runs


def job_trainer(p, data, *, train, model, probe: bool, lr_unimodal):
    """todo [(spec, seed)] -> their runs, in that order: every job in one pool (`run_groups`, a job per group),
    as `run_specs` would train each (the same bits)."""
    def train_jobs(todo: list) -> list:
        groups = run_groups([([spec], [seed], probe) for spec, seed in todo], data, train=train, model=model,
                            workers=p.workers, ddp=p.ddp, lr_unimodal=lr_unimodal)
        return [run for group in groups for run in group]
    return train_jobs


def read_back_or_train(specs: list, seeds: list, found: dict, train_jobs) -> tuple[list, list]:
    """(runs of specs x seeds, spec-major; labels of the specs read back at every seed): each job in `found`
    ({job index: result}, `run_store.reuse`) is read back; the others, [(spec, seed)], are trained by
    `train_jobs` (`job_trainer`)."""
    n = len(seeds)
    todo = [(spec, seed) for k, spec in enumerate(specs) for j, seed in enumerate(seeds) if k * n + j not in found]
    trained = iter(train_jobs(todo) if todo else [])
    runs = [found[k * n + j] if k * n + j in found else next(trained) for k in range(len(specs)) for j in range(n)]
    return runs, [spec.label for k, spec in enumerate(specs) if all(k * n + j in found for j in range(n))]


def choose_methods(p, data, train, model) -> tuple[pd.DataFrame, dict]:
    """(grid table, {method: chosen config}): every grid point at each selection seed (`grid_runs`: read back
    from stage t3_grid's runs, `grid_from`, where it trained the very same jobs), the best val accuracy averaged
    over the seeds per method kept (ties: the first)."""
    fixed = {name: method_config(name, **grid_points(p.grids[name])[0], **run_schedule(p, name)) for name in p.rows
             if name not in (PLAIN, LATE, *FROM_T1) and name not in DERIVED and len(grid_points(p.grids[name])) == 1}
    if "ogm_ge" in p.rows:
        fixed["ogm_ge"] = chosen_ogm(p.ogm_grid, epochs=p.epochs, params=p.ogm_params)
    grid, chosen = choose_from_runs(p, grid_runs(p, data, train=train, model=model, store=p.grid_from))
    return grid, chosen | fixed


def choose_from_runs(p, runs: list) -> tuple[pd.DataFrame, dict]:
    """(grid table, {method: chosen config}) from `grid_runs`'s results. Columns: method, setting,
    val_acc_s<seed> per seed, val_acc (mean), val_acc_spread (max - min), val_audio_acc, val_visual_acc
    (means), chosen."""
    specs = grid_specs(p)
    if not specs:
        return pd.DataFrame(columns=["method", "setting", "val_acc", "chosen"]), {}
    grid = selection_grid(runs)
    labels = grid.pop("setting")
    grid.insert(0, "method", [label.split("|")[0] for label in labels])
    grid.insert(1, "setting", [label.split("|")[1] for label in labels])
    chosen, flags = {}, []
    for i in range(len(grid)):
        name = grid["method"][i]
        best = grid[grid["method"] == name]["val_acc"].idxmax()  # first maximum
        flags.append(i == best)
        if i == best:
            chosen[name] = specs[i].method
    grid["chosen"] = flags
    return grid, chosen


def margins(grid: pd.DataFrame) -> dict:
    """{method: selection_margin of its grid rows} (None for a method with one grid point)."""
    return {name: selection_margin(rows) for name, rows in grid.groupby("method", sort=False)}


def table_specs(p, chosen: dict) -> list:
    """One spec per row; the late-fusion row is two runs, labelled 'late_fusion|audio_only' and
    'late_fusion|visual_only', that keep their class probabilities (`late_fusion` combines them)."""
    configs = chosen | {name: DERIVED[name](chosen["ogm_ge"]) for name in p.rows if name in DERIVED}
    specs = []
    for name in p.rows:
        if name == LATE:
            specs += [RunSpec(f"{LATE}|{kind}", kind, keep_outputs=True) for kind in LATE_PARTS]
        else:
            specs.append(RunSpec(name, p.fusion, configs.get(name)))
    return specs


def table_runs(p, specs: list, data: dict, *, train, model, with_read: bool = False) -> tuple:
    """(runs, labels of the rows taken whole from `reuse_from`, the seeds taken whole from `seeds_from`; with
    `with_read` also the set of (label, seed) read back at all): every spec at every seed, spec-major (as
    `run_specs`). A job that t1_fusion (`p.reuse_from`, its trained_runs.json.gz) or a seeds stage (`p.seeds_from`,
    where set) ran with the very same job and data is read back instead of trained again
    (`stages/shared/run_store.py`: the results are bit-identical); every other job is trained here."""
    jobs = make_jobs(specs, p.seeds, train=train, model=model, probe=True, lr_unimodal=p.lr_unimodal)
    from_t1 = reuse(p.reuse_from, jobs, data=data)
    more = reuse(p.seeds_from, jobs, data=data) if getattr(p, "seeds_from", "") else {}
    runs, _ = read_back_or_train(specs, p.seeds, more | from_t1, job_trainer(
        p, data, train=train, model=model, probe=True, lr_unimodal=p.lr_unimodal))
    n = len(p.seeds)
    reused = [spec.label for k, spec in enumerate(specs) if all(k * n + j in from_t1 for j in range(n))]
    read_seeds = [seed for j, seed in enumerate(p.seeds) if more and all(k * n + j in more for k in range(len(specs)))]
    if with_read:
        read = {(spec.label, seed) for k, spec in enumerate(specs) for j, seed in enumerate(p.seeds)
                if k * n + j in more | from_t1}
        return runs, reused, read_seeds, read
    return runs, reused, read_seeds


def reuse_sentence(p, reused: list, read_seeds: list = ()) -> str:
    """Which rows were read from `reuse_from`, and which seeds from `seeds_from`, rather than trained here (the
    table note's last sentences)."""
    text = ""
    if reused:
        rows = sorted({label.split("|")[0] for label in reused})
        text += (f" Rows {', '.join(ROW_NAMES.get(r, r) for r in rows)}: the runs stage t1_fusion trained with the "
                 f"very same jobs and data ({p.reuse_from}), read back, not trained twice (bit-identical; their "
                 "training time is t1_fusion's).")
    if read_seeds:
        stage = Path(p.seeds_from).parent.name
        text += (f" Seeds {list(read_seeds)}: every row's runs as stage {stage} stored them with the very same "
                 f"jobs and data ({p.seeds_from}), read back (bit-identical; their training time is {stage}'s).")
    return text


def late_fusion(runs: list) -> tuple[list, list]:
    """(table runs, the ensemble's parts): each seed's 'late_fusion|audio_only' and '|visual_only' runs replaced
    by one `late_fusion` run whose val and test metrics are those of the mean of the two models' class
    probabilities, each model at its own val-selected epoch. The ensemble's probes are its parts' (each encoder
    trained alone), its CPU time their sum, its best epoch the later of theirs; it has no per-epoch history
    (no ρ, no test-selected epoch: blank cells). The parts go to runs.csv as the runs they are."""
    parts = [r for r in runs if r.label.startswith(f"{LATE}|")]
    table = [r for r in runs if not r.label.startswith(f"{LATE}|")]
    by_seed = {}
    for r in parts:
        by_seed.setdefault(r.seed, {})[r.kind] = r
    for seed, pair in by_seed.items():
        if set(pair) != set(LATE_PARTS):
            raise ValueError(f"late fusion at seed {seed}: expected runs {LATE_PARTS}, got {sorted(pair)}")
        audio, visual = pair["audio_only"], pair["visual_only"]
        metrics = {}
        for split in ("val", "test"):
            labels = audio.outputs[f"{split}_labels"]
            if not torch.equal(labels, visual.outputs[f"{split}_labels"]):
                raise ValueError(f"late fusion at seed {seed}: the two models' {split} labels differ")
            mean = (audio.outputs[split] + visual.outputs[split]) / 2
            metrics[split] = split_metrics(mean.log(), labels, audio.outputs[split], visual.outputs[split])
        job = RunJob(RunSpec(LATE, LATE), seed, audio.job.config, audio.job.model)
        table.append(RunResult(job=job, val=metrics["val"], test=metrics["test"],
                               best_epoch=max(audio.best_epoch, visual.best_epoch), history=[],
                               wall_s=audio.wall_s + visual.wall_s, cpu_s=audio.cpu_s + visual.cpu_s,
                               probe={s: {"audio": audio.probe[s].get("audio"), "visual": visual.probe[s].get("visual")}
                                      for s in ("val", "test")}))
    return table, parts


# --- table, metrics, history -------------------------------------------------------------------------


def setting(run) -> str:
    """A row's setting in words: its method's, the late-fusion ensemble's recipe, or nothing (plain)."""
    if run.label == LATE:
        return "audio-only + visual-only trained apart, probabilities averaged"
    return run.method.describe() if run.method is not None else ""


def _acc(group, key="acc"):
    return [r.test[key] for r in group]


def last_rho(group) -> str:
    values = [r.history[-1]["rho_audio"] for r in group if r.history and "rho_audio" in r.history[-1]]
    return format_ci(values, scale=1.0, digits=2) if values else ""


def time_ratio(group, plain) -> float:
    """Mean training CPU time of `group` over that of the plain rows (same stage run, same machine). CPU
    time, not wall time: each run is one single-threaded worker, and other jobs sharing the cores stretch
    wall times at random."""
    return mean_ci([r.cpu_s for r in group])[0] / mean_ci([r.cpu_s for r in plain])[0]


def paper_value(reference: pd.DataFrame, name: str, dataset: str):
    row = reference[reference["method"] == name]
    return float(row.iloc[0][PAPER_DATASETS[dataset]]) if len(row) else None


def benchmark_value(benchmark: pd.DataFrame, name: str, dataset: str):
    bench = BENCHMARK_NAMES.get(name)
    row = benchmark[(benchmark["dataset"] == dataset) & (benchmark["method"] == bench)]
    return float(row.iloc[0]["accuracy"]) if len(row) else None


def method_deltas(groups: dict) -> dict:
    """{method: paired Δ test acc vs Concatenation}: the table's family of comparisons, in table order."""
    return {name: paired_difference(_acc(group), _acc(groups[PLAIN])) for name, group in groups.items()
            if name != PLAIN}


def imbalance_table(runs: list, *, p, reference: pd.DataFrame, benchmark: pd.DataFrame) -> pd.DataFrame:
    """One row per method: setting, ours acc/mAP, paired Δ acc vs concatenation, encoder probes, last-epoch
    ρ, time ratio; then the paper's and BalanceBenchmark's CREMA-D / Kinetics-Sounds accuracies. Paper-only
    rows (not reimplemented yet) carry only the published numbers."""
    groups, rows = group_runs(runs), []
    plain = groups[PLAIN]
    deltas = method_deltas(groups)
    adjusted = holm_family(deltas)
    for name, group in groups.items():
        probe = {m: [r.probe["test"][m] for r in group if m in r.probe["test"]] for m in ("audio", "visual")}
        row = {
            "method": ROW_NAMES.get(name, name),
            "setting": setting(group[0]),
            ours_column(p.dataset, "acc"): format_ci(_acc(group)),
            ours_column(p.dataset, "mAP"): format_ci(_acc(group, "map")),
            "Δ acc vs Concatenation (paired)": str(deltas[name]) if name in deltas else "",
            "Holm p": format_p(adjusted[name]) if name in deltas else "",
            "audio encoder probe": format_ci(probe["audio"]) if probe["audio"] else "",
            "visual encoder probe": format_ci(probe["visual"]) if probe["visual"] else "",
            "ρ_audio, last epoch": last_rho(group),
            "training time vs Concatenation": f"{time_ratio(group, plain):.2f}×",
            **optimism_cells(group),
        }
        rows.append(row | _published(name, reference, benchmark))
    for name in p.paper_only_rows:
        key = name.lower() if name.lower() in METHODS else name
        if key in groups:
            continue  # reimplemented and run: its row is above
        rows.append({"method": ROW_NAMES.get(name, name), "setting": "not reimplemented yet"}
                    | _published(key, reference, benchmark))
    return pd.DataFrame(rows)


def _published(name, reference, benchmark) -> dict:
    name = {"ogm_at_ogm_ge_alpha": "ogm"}.get(name, name)  # the talk's OGM row, run at OGM-GE's setting
    out = {paper_column(d, "acc"): paper_value(reference, name, d) for d in PAPER_DATASETS}
    return out | {f"BalanceBenchmark ({d}) acc": benchmark_value(benchmark, name, d) for d in BENCHMARK_DATASETS}


def table_note(p, reused: list = (), read_seeds: list = ()) -> str:
    data = display_name(p.dataset)
    return (f"Ours: {data} test split, {p.fusion} fusion, mean ± 95% t-interval over seeds {p.seeds}, model "
            "selected on val; each method's setting chosen on val from the grid in params.yaml over selection "
            f"seeds {p.selection_seeds} (mean val accuracy; not reported; `grid.md`; the runs are stage t3_grid's, "
            "read back for the very same jobs). Δ = per-seed paired difference "
            "with Concatenation (same init and data order): mean ± 95% t-interval (wins/seeds); Holm p = its "
            "two-sided paired-t p-value, Holm-adjusted over every method's Δ in this table (resolved: < 0.05). "
            f"'{TEST_SELECTED}': each run at the epoch with the best test accuracy (the official OGM-GE code's and "
            f"BalanceBenchmark's selection); '{OPTIMISM}': that minus ours, per seed. Encoder probe = test accuracy "
            "of a logistic regression on the frozen encoder's features. ρ_audio = s_audio / s_visual over the last "
            "epoch's training batches (> 1: audio dominates). Training time = mean CPU time of a run's training "
            "(fit, val included) over Concatenation's, in this run. * = beyond the talk's table. Paper: Peng et al. "
            "CVPR 2022 Table 3 "
            "(CREMA-D, Kinetics-Sounds). BalanceBenchmark: Xu et al. 2025, an independent re-run by the same lab "
            "(ResNet-18, best epoch chosen on TEST, one run per number; its 'OGM' row is OGM-GE, trained with AdamW, "
            "whose per-parameter normalisation largely cancels OGM's scaling of the gradient). Concatenation (ours) "
            "is our concat fusion trained plainly; BalanceBenchmark's 'Baseline' beside it is its own plain model. "
            "OGM-GE's α and window: stage t1_fusion's choice on val over its selection seeds (its ogm_grid.md). "
            "Controls: GE alone = OGM-GE's noise with k = 1; OGM at OGM-GE's α = OGM-GE without the noise; both at "
            "OGM-GE's α and window. Late fusion = an audio-only and a visual-only model trained apart (uni-modal lr "
            f"{p.lr_unimodal:g}), each at its own val-selected epoch, their class probabilities averaged (no "
            "per-epoch history: no ρ and no test-selected epoch). Three-loss sum = MMPareto's model and loss "
            "without the Pareto step. "
            "MLA-reduced: see avlib/balance/mla.py (alternation across mini-batches; test-time fusion = the sum "
            "of the shared head's uni-modal logits, not the paper's entropy weighting). "
            "– = not reported there. Published numbers are other datasets and setups: compare orderings, "
            "not values." + reuse_sentence(p, reused, read_seeds))


def grid_note(p, chosen: dict) -> str:
    picked = "; ".join(f"{ROW_NAMES.get(k, k)}: {c.describe()}" for k, c in chosen.items())
    return (f"Val accuracy of each grid point ({p.fusion} fusion, {display_name(p.dataset)}) at each selection "
            f"seed {p.selection_seeds} (not reported seeds; val_acc_s<seed>), their mean val_acc (what chooses) and "
            f"spread (max − min). Chosen: {picked}. {SELECTION_RULE}")


def trained(runs: list, parts=()) -> list:
    """The runs that trained (the convergence check's population): every table run with a per-epoch history
    (the late-fusion ensemble has none) and the ensemble's parts."""
    return [r for r in runs if r.history] + list(parts)


def run_metrics(runs: list, parts=()) -> dict:
    """DVC metrics: {label: {acc, acc_ci95, map, <m>_probe, delta_acc, delta_acc_ci95, delta_acc_wins,
    delta_acc_p, delta_acc_p_holm, delta_acc_resolved, acc_best_test_epoch, test_selection_gap, time_ratio}} in
    percent, from test; "convergence_check": the best-val-epoch check over every trained run (`trained`)."""
    out, groups = {}, group_runs(runs)
    deltas = method_deltas(groups)
    adjusted = holm_family(deltas)
    for label, group in groups.items():
        entry = {}
        for key in ("acc", "map"):
            mean, half = mean_ci([100 * v for v in _acc(group, key)])
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
        entry["time_ratio"] = round(time_ratio(group, groups[PLAIN]), 3)
        out[label] = entry | optimism_metrics(group)
    out["convergence_check"] = convergence(runs_frame(trained(runs, parts)))
    return out



# --- findings ----------------------------------------------------------------------------------------

def _single(d) -> str:
    """The verdict of a comparison outside the table's Holm family (one comparison: its own p)."""
    if d.p is None:
        return "one seed: no p-value"
    return (f"{'resolved' if d.p < 0.05 and d.mean != 0 else 'not resolved'}: p = {format_p(d.p)}, a single "
            "comparison outside the table's family")


def paper_summary(reference: pd.DataFrame) -> str:
    """What the paper's Table 3 shows on CREMA-D, read from the reference file."""
    acc = reference.set_index("method")["cremad_acc"]
    beaten = [m for m in acc.index if m != PLAIN and acc[m] > acc[PLAIN]]
    best = acc.drop(PLAIN).idxmax()
    return (f"In the paper (CREMA-D), {len(beaten)} of {len(acc) - 1} methods beat Concatenation and "
            f"{ROW_NAMES.get(best, best)} is the best of the talk's rows ({acc[best]:.1f}%).")


def gblend_sentence(group: list, plain: list) -> str:
    """How Grad-Blending's online weights behaved (history.csv), read from every epoch after the first estimate:
    how often a head was starved (weight under the method's `starve_below`) and how often one head carried
    nearly the whole blend; beside each seed's test accuracy and Concatenation's."""
    h = history_frame(group)
    if "gblend_starved_fused" not in h or h["gblend_starved_fused"].isna().all():
        return "- Grad-Blending made no estimate of its weights (the runs ended before their first super-epoch)."
    est = h[h["gblend_starved_fused"].notna()]
    heads = ("fused", "audio", "visual")
    starved = (est[[f"gblend_starved_{k}" for k in heads]] > 0.5).any(axis=1)
    one_head = est[[f"w_{k}" for k in heads]].max(axis=1) > 0.95
    seeds = ", ".join(f"{100 * r.test['acc']:.1f}" for r in group)
    base = ", ".join(f"{100 * r.test['acc']:.1f}" for r in plain)
    return (f"- Grad-Blending's online weights (the paper's G/O², never clamped; history.csv): in "
            f"{starved.mean():.0%} of the epochs after the first estimate some head's weight is below "
            f"{group[0].method.starve_below:.3f} (starved), and in {one_head.mean():.0%} one head carries more than "
            f"95% of the blend. Test accuracy per seed: {seeds} (Concatenation: {base}). Short, noisy estimates of "
            "each branch's overfitting O on a small held-out split make G/O² swing to one head (our reading; "
            "avlib/balance/gblend.py).")


def late_sentence(group: list, parts: list, plain: list, d, adjusted: float, n: int) -> str:
    """The late-fusion ensemble against joint training: each part's own test accuracy, the ensemble's, and the
    paired Δ with Concatenation (does training the modalities together beat training them apart?)."""
    acc = {kind: mean_ci([100 * r.test["acc"] for r in parts if r.kind == kind])[0] for kind in LATE_PARTS}
    ens = mean_ci([100 * r.test["acc"] for r in group])[0]
    base = mean_ci([100 * r.test["acc"] for r in plain])[0]
    verdict = ("joint training beats training the modalities apart" if resolved(d, adjusted) and d.mean > 0 else
               "training the modalities apart beats joint training" if resolved(d, adjusted) else
               "joint training and the ensemble of separately trained models are not told apart at these seeds")
    return (f"- Late fusion (an audio-only model at {acc['audio_only']:.1f}% and a visual-only model at "
            f"{acc['visual_only']:.1f}%, trained apart, their probabilities averaged): {ens:.1f}% against "
            f"Concatenation's {base:.1f}%, Δ {d} ({holm_verdict(adjusted, n)}): {verdict}. The imbalance literature's "
            "point of reference: a joint model that does not beat this ensemble has not used the second modality "
            "better than two separate models do.")


def starvation_sentence(group: list) -> str:
    """Why Grad-Blending's heads were starved: every (run, estimate, head) whose weight fell below
    `starve_below`, by cause read off the same estimate's logs — G <= 0 (the branch's held-out loss rose over
    its copy's super-epoch: the paper's weight G/O^2 is then 0 by construction), else the head's OGR |O|/G the
    largest of the three (the blend's own reason), else neither (a head starved while another had a worse OGR:
    G/O^2 also shrinks with a large G at a given OGR)."""
    h = history_frame(group)
    if "gblend_starved_fused" not in h or h["gblend_starved_fused"].isna().all():
        return "- Grad-Blending: no estimate of its weights, so no head could be starved."
    heads = ("fused", "audio", "visual")
    est = h[h["gblend_starved_fused"].notna()].drop_duplicates(
        ["seed"] + [f"gblend_G_{k}" for k in heads] + [f"gblend_O_{k}" for k in heads])  # one row per estimate
    causes = {"G <= 0": 0, "largest OGR": 0, "neither": 0}
    for _, row in est.iterrows():
        ogr = {k: row[f"gblend_ogr_{k}"] for k in heads}
        for k in heads:
            if row[f"gblend_starved_{k}"] < 0.5:
                continue
            if row[f"gblend_G_{k}"] <= 0:
                causes["G <= 0"] += 1
            elif ogr[k] >= max(ogr.values()):
                causes["largest OGR"] += 1
            else:
                causes["neither"] += 1
    total = sum(causes.values())
    if not total:
        return f"- Grad-Blending: no head was starved in {len(est)} estimates."
    share = {k: f"{v} ({v / total:.0%})" for k, v in causes.items()}
    return (f"- Why Grad-Blending's heads were starved ({total} starved head-estimates over {len(est)} estimates of "
            f"{len(group)} runs; history.csv): the branch's held-out loss rose over its copy's super-epoch (G <= 0, so "
            f"the paper's weight G/O² is 0) in {share['G <= 0']}; its OGR |O|/G was the largest of the three in "
            f"{share['largest OGR']}; neither in {share['neither']}. Every starvation is the paper's formula "
            "applied to that estimate (never a clamp); what makes it frequent here is G measured over a short copy "
            "run on a small held-out split.")


def findings(runs: list, *, p, reference: pd.DataFrame, benchmark: pd.DataFrame,
             grid: pd.DataFrame | None = None, parts=()) -> str:
    """What the table shows on our data, next to what the paper and BalanceBenchmark report (read from files);
    with `grid` (choose_methods'), how clearly val chose each method's setting."""
    g = group_runs(runs)
    plain = g[PLAIN]
    name = display_name(p.dataset)
    lines = [f"# Findings on {name} (not the paper's data)", ""]
    rho = mean_ci([r.history[-1]["rho_audio"] for r in plain])[0]
    acc = mean_ci([100 * a for a in _acc(plain)])[0]
    lines.append(f"- Concatenation reaches {acc:.1f}% with a last-epoch ρ_audio of {rho:.2f} "
                 f"({'audio' if rho > 1 else 'visual'} dominates the joint training).")
    deltas = method_deltas(g)
    adjusted, n = holm_family(deltas), len(deltas)
    lines.append(f"- Each method against Concatenation (paired over seeds, test accuracy, points; Holm over the "
                 f"table's {n} comparisons; the paper's gain on CREMA-D beside it):")
    for label, group in g.items():
        if label == PLAIN:
            continue
        d = deltas[label]
        gain = paper_value(reference, label, "CREMA-D")
        base = paper_value(reference, PLAIN, "CREMA-D")
        paper = "; not in the paper's table" if gain is None or base is None else f"; paper: {gain - base:+.1f}"
        lines.append(f"  - {ROW_NAMES.get(label, label)} ({setting(group[0])}): Δ {d} — "
                     f"{holm_verdict(adjusted[label], n)}"
                     f"{paper}; time {time_ratio(group, plain):.2f}× Concatenation.")
    helps = [ROW_NAMES.get(k, k) for k, d in deltas.items() if resolved(d, adjusted[k]) and d.mean > 0]
    hurts = [ROW_NAMES.get(k, k) for k, d in deltas.items() if resolved(d, adjusted[k]) and d.mean < 0]
    lines.append(f"  After Holm correction, resolved gains: {', '.join(helps) or 'none'}; resolved losses: "
                 f"{', '.join(hurts) or 'none'}; the rest ({len(deltas) - len(helps) - len(hurts)} of {len(deltas)}) "
                 "are not resolved. "
                 + paper_summary(reference))
    talk = [k for k in IN_THE_TALK if k in deltas]
    if talk:
        best = max(talk, key=lambda k: deltas[k].mean)
        lines.append(f"- Of the talk's rows, the largest mean gain here is {ROW_NAMES[best]}'s "
                     f"({deltas[best].mean:+.1f}); "
                     f"{'it is' if best == 'ogm_ge' else 'OGM-GE is not'} the best of them on {name}.")
    if LATE in g and parts:
        lines.append(late_sentence(g[LATE], parts, plain, deltas[LATE], adjusted[LATE], n))
    if "gradient_blending" in g:
        lines.append(gblend_sentence(g["gradient_blending"], plain))
        lines.append(starvation_sentence(g["gradient_blending"]))
    if "ogm_ge" in g:
        d = paired_difference([r.probe["test"]["visual"] for r in g["ogm_ge"]],
                              [r.probe["test"]["visual"] for r in plain])
        lines.append(f"- OGM-GE moves the visual encoder's linear probe by {d} points ({_single(d)}).")
    bb_plain = benchmark_value(benchmark, PLAIN, "CREMA-D")
    paper_best = paper_value(reference, "ogm_ge", "CREMA-D")
    paper_plain = paper_value(reference, PLAIN, "CREMA-D")
    bb_ogm = benchmark_value(benchmark, "ogm_ge", "CREMA-D")
    if None not in (bb_plain, paper_best, paper_plain, bb_ogm):
        lines.append(
            f"- Reading the paper column: BalanceBenchmark's re-run by the same lab trains Concatenation to "
            f"{bb_plain:.1f}% on CREMA-D, above the paper's own OGM-GE ({paper_best:.1f}%) and far above the paper's "
            f"Concatenation ({paper_plain:.1f}%). The paper's gains (+{paper_best - paper_plain:.1f} for OGM-GE) are "
            f"measured against an under-trained baseline; over a well-trained one OGM-GE adds "
            f"{bb_ogm - bb_plain:+.1f} there, and BalanceBenchmark picks its best epoch on test (optimistic, one run "
            "per "
            "number, no intervals). So the paper column supports an ordering among methods under one setup, not "
            "the size of a gain, and neither published column is an accuracy our data should reproduce.")
    held = {ROW_NAMES.get(k, k): grp[0].method.holdout for k, grp in g.items()
            if grp[0].method is not None and grp[0].method.holdout}
    if held:
        lines.append("- " + ", ".join(f"{k} trains on {1 - f:.0%} of train (it holds out {f:.0%} for its weights)"
                                      for k, f in held.items()) + "; every other row trains on all of it.")
    if p.paper_only_rows:
        missing = [r for r in p.paper_only_rows if r.lower() not in g]
        if missing:
            lines.append(f"- Not reimplemented yet (published numbers only): {', '.join(missing)}.")
    lines.append("- " + optimism_sentence(g, lambda k: ROW_NAMES.get(k, k)))
    if grid is not None:
        for method, m in margins(grid).items():
            lines.append(f"- Choice of {ROW_NAMES.get(method, method)}'s setting on val: " + margin_sentence(m))
    lines.append("- " + convergence_sentence(convergence(runs_frame(trained(runs, parts)))))
    lines += ["", "Δ: per-seed paired differences (mean ± 95% t-interval, wins/seeds). Resolved: the two-sided "
              "paired-t p-value, Holm-adjusted over every method's comparison with Concatenation in the table, is "
              "below 0.05; anything else is not a finding. " + SELECTION_RULE]
    return "\n".join(lines) + "\n"
