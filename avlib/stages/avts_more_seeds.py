"""Stage `avts_more_seeds`: AVTS pretraining at more seeds, for `avts_probe`.

What avts_pretrain does (the same jobs, the same shared start, the encoders saved the same way), at seeds beyond
its own and for the schedules the probe reads. avts_probe fine-tunes and probes the encoders of both stages: its
intervals and paired differences run over every pretraining seed. Why another stage: more seeds do not fit
avts_pretrain's 12 minutes, and over its 3 seeds the probes' intervals were too wide to carry a verdict (issue
#29; the rule that chose the seeds is in params.yaml, at avts_probe). avts_pretrain's table stays at its own
seeds: these runs are not a second reading of it; their numbers are in `runs.csv`."""

from avlib.core.metrics import mean_ci
from avlib.data.registry import display_name
from avlib.stages import avts_pretrain as base
from avlib.stages.avts_pretrain import (  # noqa: F401 - the notebook's stage.history_frame, stage.runs_frame, ...
    DATASETS,
    NEGATIVES,
    ROW_NAMES,
    by_schedule,
    convergence,
    history_frame,
    jobs,
    runs_frame,
    save_encoders,
    smoke,
)

STAGE = "avts_more_seeds"
PART = ("avts", 1.5)  # where the reports site shows it: after avts_pretrain, before avts_probe
PARAMS = base.schema(STAGE)
HEADLINE = ["*/auc_hard", "*/auc_superhard"]  # `dvc exp show`


def load_data(p) -> dict:
    return base.load_data(p, STAGE)


def run_metrics(results: list) -> dict:
    """Per schedule: mean test AUC (points) per negative kind over these seeds; no Δ (avts_pretrain's table
    compares the schedules) and the CPU seconds of a run."""
    out = {}
    for name, group in by_schedule(results).items():
        entry = {f"auc_{kind}": round(mean_ci([100 * r.test[f"auc_{kind}"] for r in group])[0], 4)
                 for kind in NEGATIVES}
        entry["cpu_s"] = round(mean_ci([r.cpu_s for r in group])[0], 1)
        out[name] = entry
    return out


def findings(results: list, p) -> str:
    lines = [f"# AVTS pretraining at seeds {p.seeds} ({display_name(p.dataset)}, embedded data)", "",
             f"- {len(results)} runs: {', '.join(ROW_NAMES[s].split(' (')[0] for s in p.schedules)} at seeds "
             f"{p.seeds}, avts_pretrain's recipe knob for knob ({p.epochs} epochs; its params.yaml section).",
             f"- {convergence(results)}"]
    for name, group in by_schedule(results).items():
        aucs = ", ".join(f"{kind} {mean_ci([100 * r.test[f'auc_{kind}'] for r in group])[0]:.1f}"
                         for kind in NEGATIVES)
        lines.append(f"- {ROW_NAMES[name].split(' (')[0]}: mean test AUC {aucs} (every run: runs.csv).")
    lines += ["- avts_probe reads these encoders (`encoders.pt`) beside avts_pretrain's: its table's intervals and "
              "paired differences run over both stages' seeds. avts_pretrain's table of the schedules stays at its "
              "own seeds.", ""]
    return "\n".join(lines)
