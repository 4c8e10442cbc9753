"""Stage `t3_more_seeds`: OGM-GE Table 3's rows at two more seeds, beside t3_seeds's.

What t3_seeds does (each row at the setting t3_imbalance chooses, trained exactly as the table would train it,
t1_fusion's identical runs read back), at the seeds beyond it: its `seeds` list t3_seeds's too, whose runs it reads
back from t3_seeds's store (`seeds_from`, the very same jobs), and trains the others. Its `trained_runs.json.gz`
then holds every extra seed, and t3_imbalance reads them all back from it: the table, its Δs, Holm's correction
and the findings are t3_imbalance's, over all its seeds. Why another stage: two more seeds do not fit t3_seeds's
12 minutes, and at five seeds 11 of the table's 12 half-widths were above Table 1's 1.0-point target (issue #26;
the rule that chose the seeds is in params.yaml)."""

from avlib.core.params import Str
from avlib.data.registry import display_name
from avlib.stages import t3_imbalance as table
from avlib.stages import t3_seeds as base
from avlib.stages.shared.run_store import write_run_store
from avlib.stages.t3_seeds import (  # noqa: F401 - the notebook's stage.load_data, stage.smoke, ...
    choose,
    load_data,
    model_kwargs,
    smoke,
    train_config,
    write_runs,
)

PART = ("ogmge", 2.96)  # where the reports site shows it: after t3_seeds, just before Table 3
PARAMS = base.schema("t3_more_seeds", seeds_from=Str())
HEADLINE = ["runs/trained", "runs/read_back"]  # `dvc exp show`


def table_runs(p, chosen: dict, data, *, train, model) -> tuple[list, list, set]:
    """(every row at every seed, spec-major; the seeds read whole from `seeds_from`; the (label, seed) of every run
    read back, from there or from t1_fusion): t3_imbalance's `table_runs` at this stage's seeds."""
    runs, _, read_seeds, read = table.table_runs(p, table.table_specs(p, chosen), data, train=train, model=model,
                                                 with_read=True)
    return runs, read_seeds, read


def write_store(runs: list, out_dir, data) -> None:
    write_run_store(runs, out_dir, data=data, stage="t3_more_seeds")


def run_metrics(runs: list, read: set) -> dict:
    """DVC metrics: how many runs trained here and how many were read back (from t1_fusion or from `seeds_from`)."""
    return {"runs": {"trained": len(runs) - len(read), "read_back": len(read)}}


def findings(p, runs: list, read_seeds: list, read: set, chosen: dict) -> str:
    trained = sorted({r.seed for r in runs} - set(read_seeds))
    picked = "; ".join(f"{table.ROW_NAMES.get(k, k)}: {c.describe()}" for k, c in chosen.items())
    from_t1 = sorted(f"{table.ROW_NAMES.get(label.split('|')[0], label)} (seed {seed})" for label, seed in read
                     if seed not in read_seeds)
    return "\n".join([
        f"# Table 3's rows at seeds {p.seeds} ({display_name(p.dataset)}, {p.fusion} fusion)", "",
        f"- {len(runs)} runs: every row of Table 3 at seeds {p.seeds}, at the settings t3_imbalance chooses "
        f"({picked}).",
        f"- Seeds {list(read_seeds)}: read back from {p.seeds_from} (the very same jobs). Seeds {trained}: trained "
        f"here, {len(runs) - len(read)} runs, but for the runs t1_fusion made with the very same job, read back "
        f"from its store: {', '.join(from_t1) or 'none'}.",
        "- t3_imbalance reads these runs back (`trained_runs.json.gz`) for its table: its Δs, Holm's correction and "
        "findings cover these seeds with its own. `runs.csv` gives each run's numbers.", ""])
