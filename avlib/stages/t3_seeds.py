"""Stage `t3_seeds`: OGM-GE Table 3's rows at more seeds, trained in a stage of their own.

Each row of Table 3 (its method at the setting t3_imbalance chooses: the grid's runs read back from stage t3_grid,
OGM-GE's α and window from t1_fusion's grid) trains at this stage's `seeds`, exactly as t3_imbalance would train
it there; runs t1_fusion already made with the very same job (concat, concat + OGM-GE) are read back from its
store. Everything is written to `trained_runs.json.gz` (`stages/shared/run_store.py`), from which t3_imbalance
reads these seeds back (the same jobs give the same bits): the table, its Δs, Holm's correction and the findings
are t3_imbalance's, over all its seeds. Why a stage of its own: Table 3's three seeds fill t3_imbalance's
12-minute budget, and at three seeds a paired interval is wide (t(0.975, 2) = 4.3; issue #26).

The knobs are t3_imbalance's, knob for knob: a different one trains other jobs, which the table then does not
find here and trains itself."""

from avlib.balance import METHODS
from avlib.core.params import Bool, Choice, Float, Int, ListOf, ParamError, Schema, Str, device
from avlib.data.registry import display_name
from avlib.models.fusion import FUSIONS
from avlib.stages import t3_imbalance as table
from avlib.stages.shared.classify import (  # noqa: F401 - load_data, ...: the notebook's stage.load_data(p)
    DATASETS,
    LOADER_FIELD,
    TRAIN_FIELDS,
    ddp_rule,
    load_data,
    model_kwargs,
    train_config,
)
from avlib.stages.shared.records import write_runs  # noqa: F401 - the notebook's stage.write_runs
from avlib.stages.shared.run_store import write_run_store

PART = ("ogmge", 2.95)  # where the reports site shows it: after t3_grid, just before Table 3


def schema(stage: str, **extra) -> Schema:
    """The knobs of a stage that trains Table 3's rows at more seeds (this one, t3_more_seeds: `extra` its own)."""
    params = Schema(
        stage,
        dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=1), fusion=Choice(*FUSIONS),
        rows=ListOf(Choice(table.PLAIN, *METHODS, *table.DERIVED, table.LATE)),
        **TRAIN_FIELDS, lr_unimodal=Float(positive=True),
        grids=table._grids, selection_seeds=ListOf(Int(min=0)), ogm_grid=Str(), ogm_params=Choice("conv", "all"),
        reuse_from=Str(), grid_from=Str(), **extra,
        device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0), loader=LOADER_FIELD,
    )
    params.rules += [lambda p: check(p, stage), ddp_rule(stage)]
    return params


def check(p, stage: str = "t3_seeds"):
    shared = sorted(set(p.selection_seeds) & set(p.seeds))
    if shared:
        raise ParamError(f"{stage}.selection_seeds={p.selection_seeds}: expected seeds outside seeds {p.seeds} "
                         f"(the tuned runs must not be reported ones; {shared} in both)")
    if table.PLAIN not in p.rows:
        raise ParamError(f"{stage}.rows={p.rows}: expected {table.PLAIN!r} among them (every Δ is paired with it)")
    missing = [r for r in p.rows if r not in (table.PLAIN, table.LATE, *table.FROM_T1, *table.DERIVED)
               and r not in p.grids]
    if missing:
        raise ParamError(f"{stage}.grids: expected a grid for every method row; none for {missing} "
                         "(write {} for a method run at its defaults)")


PARAMS = schema("t3_seeds")
HEADLINE = ["runs/trained", "runs/read_back"]  # `dvc exp show`


def smoke(p):
    """Seconds: one seed, one epoch, each grid's first point (as t3_imbalance's smoke)."""
    p.seeds, p.epochs = p.seeds[:1], 1
    p.grids = {name: {k: v[:1] for k, v in grid.items()} for name, grid in p.grids.items()}
    return p


def choose(p, data, *, train, model) -> dict:
    """{method: chosen config}: t3_imbalance's own choice (its grid read back from t3_grid's runs)."""
    _, chosen = table.choose_methods(p, data, train, model)
    return chosen


def table_runs(p, chosen: dict, data, *, train, model) -> tuple[list, list]:
    """(every row at every seed, spec-major, the late-fusion row as its two runs; labels of the rows read whole
    from t1_fusion's runs): t3_imbalance's `table_runs` at this stage's seeds."""
    runs, reused, _ = table.table_runs(p, table.table_specs(p, chosen), data, train=train, model=model)
    return runs, reused


def write_store(runs: list, out_dir, data) -> None:
    write_run_store(runs, out_dir, data=data, stage="t3_seeds")


def run_metrics(runs: list, reused: list) -> dict:
    """DVC metrics: how many runs trained here and how many were read back from t1_fusion."""
    read_back = sum(r.label in reused for r in runs)
    return {"runs": {"trained": len(runs) - read_back, "read_back": read_back}}


def findings(p, runs: list, reused: list, chosen: dict) -> str:
    read_back = sorted({label.split("|")[0] for label in reused})
    picked = "; ".join(f"{table.ROW_NAMES.get(k, k)}: {c.describe()}" for k, c in chosen.items())
    return "\n".join([
        f"# Table 3's rows at seeds {p.seeds} ({display_name(p.dataset)}, {p.fusion} fusion)", "",
        f"- {len(runs)} runs: every row of Table 3 at seeds {p.seeds}, at the settings t3_imbalance chooses "
        f"({picked}).",
        f"- Read back from t1_fusion's runs (the very same jobs): "
        f"{', '.join(table.ROW_NAMES.get(r, r) for r in read_back) or 'none'}; every other run trained here.",
        "- t3_imbalance reads these runs back (`trained_runs.json.gz`) for its table: its Δs, Holm's correction and "
        "findings cover these seeds with its own. `runs.csv` gives each run's numbers.", ""])
