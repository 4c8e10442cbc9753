"""Full AVST's runs, trained once by `avqa_ablation` (its last row) and read by `avqa_baselines` (its AVST row).

Both stages train AVST with one recipe: the lr avqa_ablation chose on val, the same schedule, width, batch,
matching weight, seeds and data. Runs are deterministic (same job, same data: bit-identical results), so
avqa_baselines would only repeat the three most expensive runs of its table (issue #28). avqa_ablation writes
what the baselines consume of each run into `avst_runs.json` (JSON, not pickle: Python writes every float so
that it reads back the same): the job; val and test accuracies (each type, each modality, all: runs.csv's
columns, the paired Δs and Holm family over seeds, metrics.json); the test counts per type and per template
(per_template.md); the selected epoch and the per-epoch history (the convergence check); its wall and CPU
time (the table note); which test questions it answered right (the intervals that count the test questions'
sampling).

Beside them, the recipe that made them. avqa_baselines refuses a file whose recipe is not its own (or that
lacks one of its seeds), naming the file, the keys that differ and the stage to run.
"""

import dataclasses
import json
from pathlib import Path

from avlib.core.atomic import atomic_write_text
from avlib.core.params import ParamError
from avlib.stages.shared.qa import FULL_AVST, JOB_FIELDS
from avlib.tasks.qa.train import QAJob, QAResult

FULL = FULL_AVST  # full AVST: avqa_ablation's last row, avqa_baselines' AVST row
FILE = "avst_runs.json"
RESULT_FIELDS = ("val", "test", "test_counts", "template_counts", "best_epoch", "history", "wall_s", "cpu_s",
                 "test_correct")


def recipe(p, lr: float, data: dict) -> dict:
    """What makes AVST's run at a seed the same run in both stages: the data (dataset, root, smoke, the
    questions per split) and the training knobs; the seeds are listed beside."""
    return {"dataset": p.dataset, "root": p.root, "smoke": bool(p.smoke),
            "questions": {split: len(d) for split, d in data.items()}, "lr": float(lr),
            **{key: getattr(p, key) for key in JOB_FIELDS}}


def run_record(result: QAResult) -> dict:
    return {"job": dataclasses.asdict(result.job), **{key: getattr(result, key) for key in RESULT_FIELDS}}


def from_record(record: dict) -> QAResult:
    return QAResult(job=QAJob(**record["job"]), **{key: record[key] for key in RESULT_FIELDS})


def write_avst_runs(results, out_dir, *, p, lr: float, data: dict) -> Path:
    """<out_dir>/avst_runs.json (atomically): full AVST's runs of `results` with their recipe; no runs when
    the ablation's rows leave full AVST out (the file is there for avqa_baselines to say so)."""
    runs = [r for r in results if r.job.model == FULL]
    payload = {"written_by": "avqa_ablation", "model": FULL, "recipe": recipe(p, lr, data),
               "seeds": [r.job.seed for r in runs], "runs": [run_record(r) for r in runs]}
    path = Path(out_dir) / FILE
    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
    return path


def read_avst_runs(path, *, p, lr: float, data: dict) -> list:
    """Full AVST's runs at `p.seeds` (in that order) from avqa_ablation's avst_runs.json at `path`, checked to
    be the runs `p`'s recipe with `lr` trains on `data`; a ParamError naming the file, what differs and the
    stage to run otherwise."""
    path = Path(path)
    where = f"avst_from={str(path)!r}"
    if not path.is_file():
        raise ParamError(f"{where}: no such file; expected avqa_ablation's full-AVST runs (run `dvc repro "
                         "avqa_ablation` first, or `python tools/run_stage.py avqa_ablation`)")
    payload = json.loads(path.read_text())
    differ = recipe_differences(payload.get("recipe", {}), recipe(p, lr, data))
    if differ:
        raise ParamError(f"{where}: avqa_ablation trained AVST with another recipe than avqa_baselines' "
                         f"({'; '.join(differ)}); give both stages the same params and re-run avqa_ablation "
                         "(`dvc repro avqa_ablation`)")
    runs = {r["job"]["seed"]: r for r in payload.get("runs", [])}
    missing = [s for s in p.seeds if s not in runs]
    if missing:
        raise ParamError(f"{where}: no AVST run at seed(s) {missing} (the file has {sorted(runs)}); expected every "
                         "seed of avqa_baselines.seeds among avqa_ablation.seeds, with AV+Q+TG+SG among its rows "
                         "(then `dvc repro avqa_ablation`)")
    return [from_record(runs[s]) for s in p.seeds]


def recipe_differences(theirs: dict, ours: dict) -> list:
    """'key: avqa_ablation X, avqa_baselines Y' for every key of `ours` that `theirs` lacks or has otherwise
    (roots compared as resolved paths)."""
    def same(key):
        if key == "root" and key in theirs:
            return Path(theirs[key]).resolve() == Path(ours[key]).resolve()
        return key in theirs and theirs[key] == ours[key]

    return [f"{key}: avqa_ablation {theirs.get(key, '(missing)')!r}, avqa_baselines {ours[key]!r}"
            for key in ours if not same(key)]
