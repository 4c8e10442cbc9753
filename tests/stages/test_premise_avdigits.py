"""Stage `premise_avdigits` (scaffolded from `fig_underopt` by tools/new_stage.py): its schema, params.yaml and the
notebook's parameters cell agree. Add the stage's own checks here (a smoke run, its table, its findings)."""

import json
from pathlib import Path

import yaml

from avlib.stages import premise_avdigits as stage

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["premise_avdigits"]


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "premise_avdigits.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/premise_avdigits"
    assert values == PARAMS


def test_pilot_seeds_are_no_tables_seeds():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    reported = {s for name, section in params.items()  # a premise stage's seeds are pilot seeds, not reported
                if isinstance(section, dict) and not name.startswith("premise_")
                for key in ("seeds", "selection_seeds") for s in section.get(key, []) or []}
    reported |= {params[t].get("selection_seed") for t in ("t1_fusion", "t3_imbalance")}
    assert not set(PARAMS["seeds"]) & reported


def test_the_choice_is_the_largest_weak_gap_among_settings_meeting_every_criterion():
    import pandas as pd

    table = pd.DataFrame({"meets all": [True, False, True, True], "visual probe gap": [6.0, 20.0, 9.0, 7.0]})
    assert stage.choose_setting(table) == 2
    assert stage.choose_setting(table.assign(**{"meets all": False})) is None


def test_a_run_peaking_in_the_last_fifth_of_its_epochs_counts_as_still_learning():
    from types import SimpleNamespace

    runs = [SimpleNamespace(best_epoch=e, history=[{}] * 20) for e in (15, 16, 19, 3)]
    assert stage.late_share(runs) == 0.5  # epochs 16..19 are the last 20% of 20


def test_schedules_choose_the_best_converging_candidate_per_family():
    import pandas as pd

    table = pd.DataFrame({"schedule": ["a", "b", "a", "b"], "family": ["fused", "fused", "uni-modal", "uni-modal"],
                          "val acc": [80.0, 78.0, 70.0, 60.0], "converges": [False, True, False, False]})
    assert stage.choose_schedules(table) == {"fused": "b", "uni-modal": "a"}
