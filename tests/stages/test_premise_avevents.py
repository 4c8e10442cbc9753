"""Stage `premise_avevents` (Table 4's premise): schema, params.yaml and the notebook agree; every criterion read
on VAL from synthetic runs (test numbers never reach it); bad knobs refused; the words t4_ave quotes; the
notebook's smoke run."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from avlib.core.params import ParamError
from avlib.data.real.ave import SegmentDataset
from avlib.stages import premise_avevents as stage
from avlib.stages.shared import ave_premise
from avlib.tasks.ave.train import AVEJob, SegmentTrainConfig, majority_rate, train

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["premise_avevents"]
SIGHT = {"probe_val": 31.0, "chance": 10.0, "required": 20.0, "sight_carries_class": True}
GOOD = {"acc": 0.75, "audio_acc": 0.70, "visual_acc": 0.55, "acc_without_audio": 0.55, "acc_without_visual": 0.65,
        "audio_event_names_class": 0.80, "audio_event_says_background": 0.10, "visual_event_names_class": 0.30,
        "visual_event_says_background": 0.60}


def test_schema_and_params_yaml_agree():
    assert set(stage.PARAMS.fields) == set(PARAMS)
    stage.PARAMS.check(PARAMS)  # the committed defaults pass their own check


def test_notebook_parameters_are_params_yaml():
    nb = json.loads((ROOT / "notebooks" / "premise_avevents.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)  # plain assignments only
    assert values.pop("out_dir") == "reports/premise_avevents"
    assert values == PARAMS


@pytest.mark.parametrize("key, value", [("epochs", 2), ("models", ["cmran"]), ("seeds", [200]),
                                        ("dataset", "avdigits")])
def test_bad_knobs_are_refused_naming_the_parameter(key, value):
    with pytest.raises(ParamError, match=f"premise_avevents.{key}"):
        stage.PARAMS.check(PARAMS | {key: value})


def test_jobs_train_every_model_plain_at_every_pilot_seed():
    p = stage.PARAMS.check(PARAMS)
    jobs = stage.jobs(p)
    assert [(j.model, j.seed) for j in jobs] == [(m, s) for m in p.models for s in p.seeds]
    assert all(j.alpha is None for j in jobs)  # no OGM-GE anywhere in this stage
    config = jobs[0].config
    assert (config.epochs, config.lr, config.lr_decay_at, config.hidden, config.psp_threshold) == (
        p.epochs, p.lr, p.lr_decay_at, p.hidden, p.psp_threshold)


def test_premise_criteria_on_synthetic_numbers():
    met = stage.premise(GOOD, majority=0.5, rho=1.5)
    assert tuple(met) == ave_premise.CRITERIA and all(met.values())
    dead = stage.premise(GOOD | {"visual_acc": 0.5, "acc_without_visual": 0.745}, majority=0.5, rho=1.5)
    assert not dead["visual_share_not_constant"] and not dead["visual_branch_learns"] and dead["audio_branch_learns"]
    saturated = stage.premise(GOOD | {"acc": 0.9}, majority=0.5, rho=0.9)
    assert not saturated["fused_in_range"] and not saturated["audio_dominant"]
    assert not stage.premise(GOOD, majority=0.5, rho=1.0)["audio_dominant"]  # rho 1.0 is not > 1


def _segments(n: int, informative: bool, seed: int) -> SegmentDataset:
    """Clips of 3 event classes + background; each event segment's frames hold its class's direction (plus
    noise) when `informative`, noise only otherwise."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(4, (n, 10), generator=g)
    directions = torch.eye(512)[:4] * 3.0
    visual = torch.randn(n, 10, 7, 7, 512, generator=g)
    if informative:
        visual += directions[label][:, :, None, None, :]
    return SegmentDataset.from_tensors(torch.zeros(n, 10, 128), visual.half(), label, n_classes=4)


def test_the_sight_probe_names_the_class_only_when_the_frames_carry_it():
    seen = stage.sight({"train": _segments(40, True, 0), "val": _segments(20, True, 1)})
    blind = stage.sight({"train": _segments(40, False, 0), "val": _segments(20, False, 1)})
    assert seen["sight_carries_class"] and seen["probe_val"] > 90 and seen["chance"] == pytest.approx(100 / 3, abs=1e-3)
    assert not blind["sight_carries_class"] and blind["probe_val"] < 60
    assert seen["required"] == pytest.approx(200 / 3, abs=1e-3)  # twice chance
    assert "NOT met: a linear probe" in ave_premise.sight_line({"sight": blind})
    assert "model-free): met: a linear probe" in ave_premise.sight_line({"sight": seen})


def test_event_readings_tell_a_gating_share_from_a_naming_one():
    from avlib.tasks.ave.train import event_readings

    labels = torch.tensor([[0, 1, 3, 3]])  # two event segments (classes 0, 1), two background (3, the last)
    names = torch.zeros(1, 4, 4)
    names[0, :, 0] = 1  # always class 0: right on one event segment
    gates = torch.zeros(1, 4, 4)
    gates[0, :, 3] = 1  # always background
    out = event_readings({"audio": names, "visual": gates}, labels)
    assert out == {"audio_event_names_class": 0.5, "audio_event_says_background": 0.0,
                   "visual_event_names_class": 0.0, "visual_event_says_background": 1.0}


def test_majority_rate_is_the_most_frequent_segment_label():
    data = SegmentDataset.from_tensors(torch.zeros(2, 10, 128), torch.zeros(2, 10, 7, 7, 512).half(),
                                       torch.tensor([[3] * 7 + [0] * 3, [3] * 5 + [1] * 5]), n_classes=4)
    assert majority_rate(data) == pytest.approx(0.6)


def _fake_run(model, seed, *, val, rhos, test=None):
    """A run whose test numbers are wild (0.99 everywhere): a criterion that read them would flip."""
    job = SimpleNamespace(model=model, alpha=None, seed=seed)
    return SimpleNamespace(job=job, label=model, seed=seed, val=val, test=test or dict.fromkeys(GOOD, 0.99),
                           history=[{"rho_audio": r} for r in rhos], best_epoch=0)


def test_values_are_read_on_val_means_over_the_seeds():
    p = stage.PARAMS.check(PARAMS | {"models": ["psp"]})
    runs = [_fake_run("psp", 200, val=GOOD | {"acc": 0.70}, rhos=[2.0, 2.0, 2.0, 0.9]),
            _fake_run("psp", 201, val=GOOD | {"acc": 0.80}, rhos=[1.0, 1.0, 1.0, 1.3])]
    block = stage.metrics(runs, p, majority=0.5, sight_entry=SIGHT)["premise"]
    entry = block["psp"]
    assert entry["fused_val"] == pytest.approx(75.0)  # val: (70 + 80) / 2, not test's 99
    assert entry["rho_audio_last"] == pytest.approx(1.1) and entry["rho_audio_early"] == pytest.approx(1.5)
    assert entry["audio_ablation_cost"] == pytest.approx(20.0) and entry["visual_ablation_cost"] == pytest.approx(10.0)
    assert entry["holds"] is True and block["holds"] is True
    assert stage.metrics(runs, p, majority=0.5, sight_entry=SIGHT | {"sight_carries_class": False})["premise"][
        "holds"] is False  # blind frames fail the premise whatever the models do
    values = set(entry) - {*ave_premise.CRITERIA, "holds"}  # a check never overwrites the value it checks
    assert len(values) == 13 and all(isinstance(entry[k], float) for k in values)
    assert entry["visual_event_names_class_val"] == pytest.approx(30.0)  # what the share says on event segments
    assert (block["split"], block["seeds"], block["majority_val"]) == ("val", [200, 201], 50.0)
    table = stage.table(block, p)
    assert list(table["criterion"]) == ["sight_carries_class", *ave_premise.CRITERIA] and table["met"].all()
    assert set(table.columns) >= {"model", "criterion", "measure", "value", "required", "met"}


def test_findings_say_what_holds_and_what_fails_and_t4_ave_can_quote_it():
    p = stage.PARAMS.check(PARAMS)
    runs = [_fake_run("avga", s, val=GOOD | {"visual_acc": 0.5}, rhos=[1.2] * 4) for s in (200, 201)]
    runs += [_fake_run("psp", s, val=GOOD, rhos=[0.9] * 4) for s in (200, 201)]
    block = stage.metrics(runs, p, majority=0.5, sight_entry=SIGHT)["premise"]
    block = json.loads(json.dumps(block))  # as t4_ave reads it
    assert block["avga"]["visual_share_not_constant"] is False and block["psp"]["audio_dominant"] is False
    text = stage.findings(block, p)
    data_line, avga, psp = (line for line in text.splitlines() if line.startswith("- Premise"))
    assert "NOT met: the visual share alone 50.0%" in avga and "does NOT hold for AVGA-lite" in avga
    assert "NOT met: ρ_audio 0.90" in psp and "fused 75.0%" in psp.split("NOT met")[0]
    assert "does NOT hold for AVGA-lite, PSP-lite" in text
    assert "the visual share names the class on 30% and says background on 60%" in avga
    assert data_line.startswith("- Premise (the data, model-free): met: a linear probe")


def test_every_val_key_a_criterion_reads_comes_out_of_training():
    g = torch.Generator().manual_seed(1)
    data = {s: SegmentDataset.from_tensors(torch.randn(n, 10, 128, generator=g),
                                           torch.randn(n, 10, 7, 7, 512, generator=g).half(),
                                           torch.randint(4, (n, 10), generator=g), n_classes=4)
            for s, n in (("train", 8), ("val", 8), ("test", 8))}
    result = train(AVEJob("avga", None, 0, SegmentTrainConfig(epochs=1, batch_size=8, hidden=4, dim_attention=4)),
                   data)
    keys = set(stage.VAL_KEYS + stage.EVENT_KEYS)
    assert keys <= set(result.val) and keys <= set(result.test)


@pytest.mark.slow
def test_premise_avevents_notebook_smoke(tmp_path):
    import run_stage

    from avlib.data.embedded.avevents import AVEventsConfig, generate

    root = tmp_path / "avevents"
    generate(root, AVEventsConfig(n_train=32, n_val=16, n_test=16), progress=False)  # t4_ave's smoke fixture
    out = run_stage.run("premise_avevents", ["smoke=true", f"root={root}", "workers=1", "hidden=4",
                                             "dim_attention=4"], tmp_path / "reports")
    for name in ("table.md", "table.csv", "findings.md", "runs.csv", "history.csv", "metrics.json", "headline.json"):
        assert (out / name).exists(), name
    premise = json.loads((out / "metrics.json").read_text())["premise"]
    assert {"avga", "psp", "holds", "seeds", "epochs", "split"} <= set(premise) and premise["split"] == "val"
    assert {*ave_premise.CRITERIA, "holds", "fused_val", "rho_audio_early"} <= set(premise["avga"])
    assert (out / "findings.md").read_text().count("- Premise (") == 3  # the data, then each model
    assert set(premise["sight"]) == {"probe_val", "chance", "required", "sight_carries_class"}
