"""Stage `t1_seeds`: more seeds for OGM-GE Table 1's four comparisons, trained in a stage of their own.

Each fusion's pair (without and with OGM-GE at t1_fusion's choice on val) trains at this stage's `extra_seeds`,
exactly as t1_main would train it there (`t1_main.table_runs`); everything is written to `trained_runs.json.gz`
(`stages/shared/run_store.py`), from which t1_main reads these seeds back (the same jobs give the same bits):
the table, its Δs, Holm's correction and the findings are t1_main's, over all its seeds. Why a stage of its own:
t1_main's own seeds fill its 12-minute budget, and the rule in params.yaml asks for more (issue #26).

The knobs are t1_main's, knob for knob: a different one trains other jobs, which t1_main then does not find here
and trains itself."""

from types import SimpleNamespace

from avlib.core.params import Bool, Choice, Dict, Int, ListOf, ParamError, Schema, Str, device
from avlib.data.registry import display_name
from avlib.models.fusion import FUSIONS
from avlib.stages import t1_main as table
from avlib.stages.shared.classify import (  # noqa: F401 - load_data, ...: the notebook's stage.load_data(p)
    DATASETS,
    LOADER_FIELD,
    TRAIN_FIELDS,
    ddp_rule,
    load_data,
    model_kwargs,
    train_config,
)
from avlib.stages.shared.ogm_choice import chosen_ogm  # noqa: F401 - the notebook's stage.chosen_ogm
from avlib.stages.shared.records import write_runs  # noqa: F401 - the notebook's stage.write_runs
from avlib.stages.shared.run_store import write_run_store

PART = ("ogmge", 2.5)  # where the reports site shows it: after t1_main, before Table 3's stages
PARAMS = Schema(
    "t1_seeds",
    dataset=Choice(*DATASETS), root=Str(), extra_seeds=Dict(**{f: ListOf(Int(min=0)) for f in FUSIONS}),
    fusions=ListOf(Choice(*FUSIONS)), **TRAIN_FIELDS, ogm_grid=Str(), ogm_params=Choice("conv", "all"),
    reuse_from=Str(), device=device(), amp=Bool(), num_workers=Int(min=0), workers=Int(min=0), ddp=Int(min=0),
    loader=LOADER_FIELD,
)
HEADLINE = ["runs/trained", "runs/read_back"]  # `dvc exp show`


def check(p):
    for kind in p.extra_seeds:
        if kind not in p.fusions:
            raise ParamError(f"t1_seeds.extra_seeds.{kind}: expected a fusion among fusions {p.fusions}")
    if not any(p.extra_seeds.values()):
        raise ParamError(f"t1_seeds.extra_seeds={p.extra_seeds}: expected at least one seed for one fusion")


PARAMS.rules += [check, ddp_rule("t1_seeds")]


def smoke(p):
    """Seconds: the first extra seed of each fusion that has any, one epoch."""
    p.epochs = 1
    p.extra_seeds = {kind: seeds[:1] for kind, seeds in p.extra_seeds.items() if seeds}
    return p


def table_runs(p, data, *, train, model, chosen) -> tuple[list, int]:
    """(each fusion's pair at its extra seeds, in t1_main's order; how many were read back from t1_fusion's
    runs): t1_main's `table_runs` with no common seeds."""
    runs, read_back = table.table_runs(SimpleNamespace(**{**vars(p), "seeds": []}), data, train=train, model=model,
                                       chosen=chosen)
    return runs, sum(read_back.values())


def write_store(runs: list, out_dir, data) -> None:
    write_run_store(runs, out_dir, data=data, stage="t1_seeds")


def run_metrics(runs: list, read_back: int) -> dict:
    """DVC metrics: how many runs trained here and how many were read back from t1_fusion."""
    return {"runs": {"trained": len(runs) - read_back, "read_back": read_back}}


def findings(p, runs: list, read_back: int) -> str:
    seeds = "; ".join(f"{table.NAMES[kind]} {seeds}" for kind, seeds in p.extra_seeds.items() if seeds)
    return "\n".join([
        f"# Table 1's comparisons at more seeds ({display_name(p.dataset)})", "",
        f"- {len(runs)} runs: each fusion's pair without and with OGM-GE at seeds {seeds}; {read_back} read back "
        "from t1_fusion's runs (the very same jobs), the rest trained here.",
        "- t1_main reads these runs back (`trained_runs.json.gz`) for its table: its Δs, Holm's correction and "
        "findings cover these seeds with its own. `runs.csv` gives each run's numbers.", ""])
