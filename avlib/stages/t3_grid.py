"""Stage `t3_grid`: OGM-GE Table 3's choice of each method's knobs on val, over several selection seeds.

Every point of every method's grid (params.yaml `grids`; a one-point grid has nothing to choose) trains at each
selection seed, on Table 3's data, fusion and training settings, without probes; `grid.md` gives each point's
val accuracy per seed, their mean (what chooses), their spread, and the chosen point per method; the findings
say, per method, the chosen point's lead over the runner-up and whether it is within noise (a reseed could undo
it). The runs are written to `trained_runs.json.gz` (`stages/shared/run_store.py`), from which `t3_imbalance`
reads back every run it would otherwise train for its choice: the same jobs give the same bits, so the table
chooses exactly as here. Why a stage of its own: with two selection seeds the grid's 12 runs (~3.5 min on 2
cores) no longer fit in t3_imbalance's 12-minute budget beside its table (issue #26: one seed's grid could not
say whether a choice was noise).

The knobs are t3_imbalance's, knob for knob (a different one chooses for settings the table does not train, and
the table then reads nothing back and trains its grid itself: said in its note)."""

from avlib.balance import METHODS
from avlib.core.params import Bool, Choice, Int, ListOf, ParamError, Schema, Str, device
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
from avlib.stages.shared.run_store import write_run_store
from avlib.tasks.classify.engine import SELECTION_RULE, margin_sentence

PART = ("ogmge", 2.9)  # where the reports site shows it: just before Table 3
PARAMS = Schema(
    "t3_grid",
    dataset=Choice(*DATASETS), root=Str(), fusion=Choice(*FUSIONS),
    rows=ListOf(Choice(table.PLAIN, *METHODS, *table.DERIVED, table.LATE)),
    **TRAIN_FIELDS, grids=table._grids, selection_seeds=ListOf(Int(min=0), min_len=1),
    device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0), loader=LOADER_FIELD,
)
HEADLINE = ["*/margin"]  # each choice's lead over its runner-up (val points), `dvc exp show`


def check(p):
    if not table.grid_specs(p):
        raise ParamError(f"t3_grid.grids={p.grids}: expected a grid of >= 2 points for at least one method among "
                         f"rows {p.rows} (the stage chooses among points; a one-point grid has nothing to choose)")


PARAMS.rules += [check, ddp_rule("t3_grid")]


def smoke(p):
    """Seconds: one epoch, the first selection seed, every grid as written (at most two points each here)."""
    p.epochs, p.selection_seeds = 1, p.selection_seeds[:1]
    return p


def grid_runs(p, data, *, train, model) -> list:
    """Every grid point at each selection seed (t3_imbalance's `grid_runs`, nothing read back)."""
    return table.grid_runs(p, data, train=train, model=model)


def write_store(runs: list, out_dir, data) -> None:
    write_run_store(runs, out_dir, data=data, stage="t3_grid")


def choose(p, runs: list):
    """(grid table, {method: chosen config}): t3_imbalance's own choice on these runs."""
    return table.choose_from_runs(p, runs)


def grid_note(p, chosen: dict) -> str:
    picked = "; ".join(f"{table.ROW_NAMES.get(k, k)}: {c.describe()}" for k, c in chosen.items())
    return (f"Val accuracy of each grid point ({p.fusion} fusion, {display_name(p.dataset)}) at each selection "
            f"seed {p.selection_seeds} (never reported; val_acc_s<seed>), their mean val_acc (what chooses) and "
            f"spread (max − min). Chosen: {picked}. t3_imbalance reads these runs back and chooses the same. "
            f"{SELECTION_RULE}")


def run_metrics(grid) -> dict:
    """DVC metrics: {method: {chosen, runner_up, margin, chosen_spread, runner_up_spread, within_noise, seeds}}
    (val points), per method with at least two points."""
    out = {}
    for method, m in table.margins(grid).items():
        if m is not None:
            out[method] = {k: (round(100 * v, 4) if isinstance(v, float) else v) for k, v in m.items()}
    return out


def findings(grid, p) -> str:
    lines = [f"# Table 3's choices on val ({display_name(p.dataset)}, selection seeds {p.selection_seeds})", ""]
    for method, m in table.margins(grid).items():
        lines.append(f"- {table.ROW_NAMES.get(method, method)}: " + margin_sentence(m))
    return "\n".join(lines) + "\n\n" + SELECTION_RULE + "\n"
