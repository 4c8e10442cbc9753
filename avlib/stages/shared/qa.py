"""What the MUSIC-AVQA model stages (avqa_ablation, avqa_baselines, avqa_attention) share: the datasets they
read, their training knobs, the jobs they run through `avlib.core.pool.run_tasks`, the learning rate chosen on
val, and the pooled per-modality columns of their tables."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.core.atomic import atomic_write_text
from avlib.core.metrics import mean_ci
from avlib.core.params import Float, Int, ParamError
from avlib.data import load_splits
from avlib.models.avst import ABLATION_ROWS, VARIANTS
from avlib.report import format_ci
from avlib.stages.shared import longest_first
from avlib.stages.shared.records import convergence, convergence_sentence, late_from
from avlib.stages.shared.runs import group_runs
from avlib.stages.shared.runs import history_frame as runs_history_frame
from avlib.stages.shared.sampling import with_test_sampling
from avlib.tasks.qa.metrics import MODALITIES
from avlib.tasks.qa.train import QAJob, train

DATASETS = ("avscenes", "music_avqa")
SMOKE_SIZES = {"train": 96, "val": 48, "test": 48}
GROUPS = (*MODALITIES, "all")  # the pooled columns, in the paper's order
GROUP_COLUMNS = {"Audio": "audio", "Visual": "visual", "Audio-Visual": "audio-visual", "all": "all"}

# the knobs of every QA training, the same keys in each stage's params section: QAJob's fields of those names
# (`job` reads them), and the worker count
JOB_FIELDS = dict(hidden=Int(min=8), epochs=Int(min=1), batch_size=Int(min=2), step_size=Int(min=1),
                  gamma=Float(positive=True, max=1), match_weight=Float(min=0))
QA_FIELDS = dict(**JOB_FIELDS, workers=Int(min=0))
# the schedule of the ablation's rows without spatial grounding (issue #28: they converge later than full AVST,
# at a fifth of its cost per epoch); `epochs` and `step_size` stay full AVST's, the recipe avqa_baselines shares
SCHEDULE_WITHOUT_SG = dict(epochs_without_sg=Int(min=1), step_size_without_sg=Int(min=1))


def load_data(p) -> dict:
    """The three splits of `p.dataset` under `p.root`; a smoke run keeps the first questions of each."""
    data = load_splits(p.dataset, p.root)
    if p.smoke:
        data = {s: d.subset(range(min(SMOKE_SIZES[s], len(d)))) for s, d in data.items()}
    return data


def job(p, model: str, seed: int, lr: float, *, keep_state: bool = False) -> QAJob:
    return QAJob(model=model, seed=seed, lr=lr, keep_state=keep_state, **{k: getattr(p, k) for k in JOB_FIELDS})


FULL_AVST = "AV+Q+TG+SG"  # Table 5's last row: full AVST, whose val accuracy chooses the lr


def ablation_lr_jobs(p) -> list:
    """The lr grid: full AVST at the selection seed, once per lr (val only)."""
    return [job(p, FULL_AVST, p.selection_seed, lr) for lr in p.lr_grid]


def ablation_jobs(p, lr: float) -> list:
    """Every row of the ablation at every seed (`row_job`: each row's own schedule)."""
    return [row_job(p, row, seed, lr) for row in p.rows for seed in p.seeds]


def row_job(p, row: str, seed: int, lr: float, *, keep_state: bool = False) -> QAJob:
    """`job`, with the schedule of the rows without spatial grounding (`SCHEDULE_WITHOUT_SG`) for such a row."""
    out = job(p, row, seed, lr, keep_state=keep_state)
    if (ABLATION_ROWS | VARIANTS)[row]["spatial"]:
        return out
    return dataclasses.replace(out, epochs=p.epochs_without_sg, step_size=p.step_size_without_sg)


# Single-threaded CPU seconds of one 12-epoch run at width 128 on AV-Scenes (issue #28's profile), scaled by a
# job's epochs: only their order is used, to hand the longest runs out first. Full AVST's spatial grounding
# projects every one of the 16 positions of every segment, ~5x the cost of the rows without it.
RUN_CPU_S = {"Q": 25, "A+Q": 27, "V+Q": 30, "AV+Q": 33, "AV+Q+TG": 44, "AV+Q+TG+SG": 140,
             "AV+Q+TG+SG, learned temperature": 140, "fcnlstm_lite": 28, "gru_lite": 21, "mcan_lite": 84,
             "psac_lite": 73, "avsd_lite": 100}


def run_longest_first(jobs: list, data, *, workers: int, desc: str) -> list:
    """`run_tasks(train, jobs, data)` with the jobs handed to the workers longest first (`RUN_CPU_S`), results
    in the order of `jobs` (`stages/shared/longest_first.py`). In the tables' order (the cheap rows first, full
    AVST last) the last AVST run trained alone while the other core idled."""
    return longest_first.run_longest_first(train, jobs, data, workers=workers, desc=desc,
                                           cost=lambda job: RUN_CPU_S.get(job.model, 0) * job.epochs / 12)


def lr_grid_frame(results) -> pd.DataFrame:
    """One row per tried lr (val accuracies of the selection run), the best val 'all' marked chosen (ties:
    the first). Test is never read."""
    grid = pd.DataFrame([{"lr": r.job.lr, "model": r.job.model, "seed": r.job.seed, "best_epoch": r.best_epoch,
                          **{f"val {GROUP_COLUMNS[g]}": r.val[g] for g in GROUPS}} for r in results])
    best = int(grid["val all"].to_numpy().argmax())
    grid["chosen"] = [i == best for i in range(len(grid))]
    return grid


def chosen_lr(path) -> float:
    """The lr stage avqa_ablation chose on val: the `chosen` row of its lr_grid.csv."""
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"lr_from={str(path)!r}: no such file; expected avqa_ablation's lr grid "
                         "(run `dvc repro avqa_ablation` first)")
    grid = pd.read_csv(path)
    if "chosen" not in grid or "lr" not in grid or int(grid["chosen"].sum()) != 1:
        raise ParamError(f"lr_from={str(path)!r}: expected columns lr and chosen with exactly one chosen row")
    return float(grid.loc[grid["chosen"], "lr"].iloc[0])


def by_model(results) -> dict:
    """{model name: [QAResult, ...]} in first-seen order, each list in seed order."""
    return group_runs(results, label=lambda r: r.job.model)


def accuracy_cells(runs, keys, ours) -> dict:
    """{'<ours> <key>': 'mean ± ci'} of the test accuracies of `runs` (in %)."""
    cells = {}
    for key in keys:
        values = [r.test[key] for r in runs]
        cells[f"{ours} {GROUP_COLUMNS.get(key, key)}"] = "–" if None in values else format_ci(values)
    return cells


def summary(runs, key: str = "all") -> dict | None:
    values = [r.test[key] for r in runs]
    if None in values:  # no question of this group in the split
        return None
    mean, half = mean_ci([v * 100 for v in values])
    return {"mean": round(mean, 3), "ci95": None if half is None else round(half, 3)}


def time_note(results) -> str:
    cpu = sum(r.cpu_s for r in results)
    return f"{len(results)} trainings, {cpu:.0f} s CPU in all ({cpu / len(results):.1f} s each)"


def chosen_of(grid: pd.DataFrame) -> float:
    return float(grid.loc[grid["chosen"], "lr"].iloc[0])


def groups_figure(results, names: dict | None = None):
    """Test accuracy (%) per model and question group (audio / visual / audio-visual / all), 95% t-intervals."""
    import matplotlib.pyplot as plt

    from avlib.report.plots import bars_with_ci

    df = pd.DataFrame([{"model": (names or {}).get(r.job.model, r.job.model), "questions": GROUP_COLUMNS[g],
                        "accuracy (%)": 100 * r.test[g]} for r in results for g in GROUPS if r.test[g] is not None])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * df["model"].nunique()), 3.6))
    bars_with_ci(ax, df, x="model", y="accuracy (%)", hue="questions")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def template_table(results, names: dict | None = None, prior: dict | None = None) -> pd.DataFrame:
    """Test accuracy (%) per question template (rows, with their type and question count) and model (columns:
    mean over seeds), the template prior's accuracy first when given ({template: accuracy})."""
    groups = by_model(results)
    first = next(iter(groups.values()))[0]
    rows = []
    for template, (_, n) in first.template_counts.items():
        row = {"template": template, "questions": n}
        if prior is not None:
            row["template prior"] = round(100 * prior[template], 1) if template in prior else None
        for name, runs in groups.items():
            accs = [100 * r.template_counts[template][0] / r.template_counts[template][1] for r in runs]
            row[(names or {}).get(name, name)] = round(float(np.mean(accs)), 1)
        rows.append(row)
    return pd.DataFrame(rows)


# --- runs.csv: one row per run, and the convergence check --------------------------------------------------

def runs_frame(results, selection=()) -> pd.DataFrame:
    """runs.csv: one row per run (the table's `results` and the lr grid's `selection` runs, `purpose` says
    which): model, seed, lr, epochs, the val-selected epoch and whether it lies in the last 20% of the epochs,
    val and test accuracy pooled ("all") and per modality, and test accuracy per question type."""
    rows = []
    for purpose, runs in (("lr selection (val only)", selection), ("table", results)):
        for r in runs:
            row = {"purpose": purpose, "model": r.job.model, "seed": r.job.seed, "lr": r.job.lr,
                   "epochs": r.job.epochs, "best_epoch": r.best_epoch,
                   "best_epoch_late": r.best_epoch >= late_from(r.job.epochs)}
            row |= {f"val_{g}": r.val.get(g) for g in GROUPS}
            row |= {f"test_{g}": r.test.get(g) for g in GROUPS} | {f"test_{k}": v for k, v in r.test.items()
                                                                    if k not in GROUPS}
            rows.append(row)
    return pd.DataFrame(rows)


def write_runs(results, out_dir, selection=()) -> pd.DataFrame:
    """runs_frame, written to <out_dir>/runs.csv (atomically); returned for the notebook to show."""
    frame = runs_frame(results, selection)
    atomic_write_text(Path(out_dir) / "runs.csv", frame.to_csv(index=False))
    return frame


def history_frame(results) -> pd.DataFrame:
    """history.csv: every run's per-epoch log, long, after its model and seed (reports/convergence reads it)."""
    return runs_history_frame(results, history=lambda r: r.history,
                              columns=lambda r: {"model": r.job.model, "seed": r.job.seed})


def convergence_line(results) -> str:
    """The findings line of the convergence check over the table's runs (records.convergence_sentence)."""
    return "- " + convergence_sentence(convergence(runs_frame(results)))


# --- the Δ intervals that count the test questions' sampling ----------------------------------------------

def sampling_cell(delta, runs, others, clusters) -> str:
    """'± x' of with_test_sampling for a paired Δ of `runs` minus `others` ('–' without the per-question data)."""
    half = None if clusters is None else with_test_sampling(delta, [r.test_correct for r in runs],
                                                            [r.test_correct for r in others], clusters)
    return "–" if half is None else f"± {half:.1f}"


SAMPLING_NOTE = ("'± with test sampling': the Δ's 95% half-width when the test questions are counted as a sample "
                 "too (the seed t half-width and 1.96 x the SD of a bootstrap of the test questions, resampled by "
                 "video, added in quadrature; `avlib/stages/shared/sampling.py`). The Holm p reads "
                 "the seeds only (the questions held fixed, as every row is scored on the same questions).")
