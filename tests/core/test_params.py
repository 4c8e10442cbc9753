from pathlib import Path

import pytest
import yaml

from avlib.core.params import Bool, Choice, Dict, Float, Int, ListOf, ParamError, Schema, Str, device
from avlib.stages import t1_fusion, t3_imbalance

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"


def _rejects(checker, value, expected: str):
    with pytest.raises(ValueError, match=expected) as err:
        checker(value)
    assert str(err.value), "a rejection must say what was expected"


def test_int_accepts_integers_in_range_and_rejects_bools_floats_and_out_of_range():
    check = Int(min=1, max=5)
    assert check(1) == 1 and check(5) == 5
    for bad in (0, 6, 2.0, "3", None, True):  # True == 1 in Python, but `epochs: true` is a typo
        _rejects(check, bad, r"an integer in \[1, 5\]")
    _rejects(Int(min=0), -1, "an integer >= 0")
    assert Int()(-7) == -7


def test_float_accepts_ints_and_floats_and_rejects_bools_strings_and_out_of_range():
    check = Float(min=0, max=1)
    assert check(0) == 0.0 and isinstance(check(1), float) and check(0.25) == 0.25
    for bad in (-0.1, 1.5, "0.5", True, None):
        _rejects(check, bad, r"a finite number in \[0, 1\]")
    positive = Float(positive=True)
    assert positive(1e-9) == 1e-9
    for bad in (0, -1.0, False):
        _rejects(positive, bad, "a finite number > 0")


def test_float_rejects_non_finite_numbers():
    for bad in (float("nan"), float("inf")):
        _rejects(Float(positive=True), bad, "a finite number")
        _rejects(Float(min=0, max=1), bad, "a finite number")


def test_bool_str_and_choice():
    assert Bool()(False) is False
    for bad in (0, 1, "true", None):
        _rejects(Bool(), bad, "true or false")
    assert Str()("data/x") == "data/x"
    _rejects(Str(), "", "a non-empty string")
    _rejects(Str(), 3, "a non-empty string")
    assert Str(nonempty=False)("") == ""
    assert Choice("conv", "all")("all") == "all"
    _rejects(Choice("conv", "all"), "bias", r"one of \['conv', 'all'\]")
    _rejects(Choice("conv", "all"), ["conv"], "one of")


def test_list_of_checks_length_items_and_repeats():
    check = ListOf(Int(min=0))
    assert check([0, 3]) == [0, 3] and check((1,)) == [1]
    _rejects(check, [], "a list of 1 or more distinct items")
    _rejects(check, 3, "a list of 1 or more")
    _rejects(check, [0, -1], r"each an integer >= 0 \(item 1 is -1\)")
    _rejects(check, [2, 2], "repeated item")
    assert ListOf(Int(), unique=False, min_len=0)([2, 2]) == [2, 2]
    assert ListOf(Float())([1, 2]) == [1.0, 2.0]  # items come back checked (converted)


def test_dict_checks_each_known_key():
    check = Dict(n_frames=Int(min=1), augment=Bool())
    assert check(None) == {} and check({}) == {}
    assert check({"n_frames": 3}) == {"n_frames": 3}
    _rejects(check, {"n_frame": 3}, r"unknown: \['n_frame'\]")
    _rejects(check, {"n_frames": 0}, r"n_frames: an integer >= 1 \(got 0\)")
    _rejects(check, [("n_frames", 3)], "a mapping")


def test_device_names():
    check = device()
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert check(good) == good
    for bad in ("gpu", "cuda:", "cuda:x", "", 0, None):
        _rejects(check, bad, "'auto', 'cpu', 'cuda' or 'cuda:<index>'")


def test_schema_names_stage_and_key():
    schema = Schema("demo", epochs=Int(min=1), lr=Float(positive=True))
    ok = schema.check({"smoke": False, "epochs": 3, "lr": 1})
    assert (ok.smoke, ok.epochs, ok.lr) == (False, 3, 1.0)
    with pytest.raises(ParamError, match=r"demo\.epochs='3': expected an integer >= 1"):
        schema.check({"smoke": False, "epochs": "3", "lr": 0.1})
    with pytest.raises(ParamError, match=r"demo\.epochs=True: expected an integer"):
        schema.check({"smoke": False, "epochs": True, "lr": 0.1})  # a bool is not an int
    with pytest.raises(ParamError, match=r"demo\.lr=0: expected a finite number > 0"):
        schema.check({"smoke": False, "epochs": 3, "lr": 0})
    with pytest.raises(ParamError, match=r"demo\.epoch: unknown parameter"):
        schema.check({"smoke": False, "epochs": 3, "lr": 0.1, "epoch": 2})
    with pytest.raises(ParamError, match=r"demo\.lr: missing"):
        schema.check({"smoke": False, "epochs": 3})
    with pytest.raises(ParamError, match=r"demo\.smoke: missing"):
        schema.check({"epochs": 3, "lr": 0.1})  # every schema has `smoke`


@pytest.fixture
def t1() -> dict:
    return yaml.safe_load(PARAMS_YAML.read_text())["t1_fusion"]


def test_the_t1_fusion_section_of_params_yaml_passes(t1):
    p = t1_fusion.PARAMS.check(t1)
    assert p.seeds == t1["seeds"] and not set(p.selection_seeds) & set(p.seeds) and p.lr == float(t1["lr"])
    assert set(t1_fusion.PARAMS) == set(t1)  # the schema and the file name the same keys


@pytest.mark.parametrize(("change", "message"), [
    ({"lr": "abc"}, r"t1_fusion\.lr='abc': expected a finite number > 0"),
    ({"seeds": []}, r"t1_fusion\.seeds=\[\]: expected a list of 1 or more"),
    ({"rows": ["late"]}, r"t1_fusion\.rows=\['late'\]: expected .*item 0 is 'late'"),
    ({"epochs": 0}, r"t1_fusion\.epochs=0"),
    ({"amp": "no"}, r"t1_fusion\.amp='no': expected true or false"),
    ({"device": "gpu"}, r"t1_fusion\.device='gpu'"),
    ({"loader": {"n_frame": 2}}, r"t1_fusion\.loader=.*unknown: \['n_frame'\]"),
    ({"lr_decay_at": 1.5}, r"t1_fusion\.lr_decay_at=1\.5"),
    ({"selection_seeds": [0]}, r"t1_fusion\.selection_seeds=\[0\]: expected seeds outside seeds"),
    ({"rows": ["audio_only", "visual_only"]}, r"t1_fusion\.rows=.*expected at least one fusion"),
])
def test_t1_fusion_rejects_bad_values_naming_the_key(t1, change, message):
    with pytest.raises(ParamError, match=message):
        t1_fusion.PARAMS.check({**t1, **change})


def test_t1_fusion_unknown_and_missing_keys(t1):
    with pytest.raises(ParamError, match=r"t1_fusion\.lr_step: unknown parameter"):
        t1_fusion.PARAMS.check({**t1, "lr_step": 14})  # the old name of lr_decay_at
    del t1["lr_decay_at"]
    with pytest.raises(ParamError, match=r"t1_fusion\.lr_decay_at: missing"):
        t1_fusion.PARAMS.check(t1)


@pytest.fixture
def t3() -> dict:
    return yaml.safe_load(PARAMS_YAML.read_text())["t3_imbalance"]


def test_the_t3_imbalance_section_passes_and_has_a_grid_per_method_row(t3):
    p = t3_imbalance.PARAMS.check(t3)
    assert not set(p.selection_seeds) & set(p.seeds) and "concat" in p.rows
    # controls take OGM-GE's choice, OGM-GE takes t1_fusion's, the late-fusion row is two plain uni-modal runs
    no_grid = {"concat", t3_imbalance.LATE, *t3_imbalance.FROM_T1, *t3_imbalance.DERIVED}
    assert set(p.rows) - no_grid <= set(p.grids) and not set(t3_imbalance.FROM_T1) & set(p.grids)
    assert len(t3_imbalance.grid_points({"a": [1, 2], "b": [3, 4, 5]})) == 6
    assert t3_imbalance.grid_points({}) == [{}]


@pytest.mark.parametrize(("change", "message"), [
    ({"grids": {"ogm": {"beta": [1]}}}, r"t3_imbalance\.grids=.*ogm: a valid grid"),
    ({"grids": {"ogm": {"alpha": [0]}}}, r"t3_imbalance\.grids=.*alpha"),
    ({"grids": {"dropout": {}}}, r"t3_imbalance\.grids=.*'dropout'"),
    ({"grids": {"ogm": {"alpha": []}}}, r"t3_imbalance\.grids=.*non-empty list"),
    ({"rows": ["concat", "ogm", "late"]}, r"t3_imbalance\.rows="),
    ({"rows": ["ogm"]}, r"t3_imbalance\.rows=.*'concat'"),
    ({"selection_seeds": [1]}, r"t3_imbalance\.selection_seeds=\[1\]: expected seeds outside seeds"),
    ({"seeds": [0]}, r"t3_imbalance\.seeds=\[0\]: expected a list of 2 or more"),
    ({"paper_only_rows": ["UMT"]}, r"t3_imbalance\.paper_only_rows"),
])
def test_t3_imbalance_rejects_bad_values_naming_the_key(t3, change, message):
    with pytest.raises(ParamError, match=message):
        t3_imbalance.PARAMS.check({**t3, **change})


def test_t3_imbalance_needs_a_grid_for_every_method_row(t3):
    grids = dict(t3["grids"])
    del grids["agm"]
    with pytest.raises(ParamError, match=r"t3_imbalance\.grids: .*none for \['agm'\]"):
        t3_imbalance.PARAMS.check({**t3, "grids": grids})
