"""avlib.stages.shared.run_store: runs trained by one stage read back by another, only where the job and the
data are the very same; t3_imbalance.table_runs trains the rest."""

import gzip
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from avlib.balance import OGMConfig
from avlib.data.embedded.avdigits import AVDigits
from avlib.stages import t3_imbalance
from avlib.stages.shared import run_store
from avlib.tasks.classify.engine import make_jobs, run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunSpec

TRAIN = TrainConfig(epochs=2, batch_size=32, lr=0.05, device="cpu")
MODEL = {"encoder": "small_cnn", "width": 4}


def _data(shift: float = 0.0) -> dict:
    g = torch.Generator().manual_seed(0)

    def split(n):
        label = torch.arange(n) % 10
        audio = torch.randn(n, 1, 32, 20, generator=g) + label.view(-1, 1, 1, 1) * 0.5 + shift
        visual = torch.randn(n, 1, 28, 28, generator=g) + label.view(-1, 1, 1, 1) * 0.2
        return AVDigits.from_tensors(audio, visual, label)

    return {"train": split(64), "val": split(32), "test": split(32)}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """t1-like runs (concat, concat + OGM-GE, audio-only keeping its probabilities) at seeds 0 and 1, stored."""
    data = _data()
    specs = [RunSpec("concat", "concat"), RunSpec("concat+ogm_ge", "concat", OGMConfig(alpha=0.3, end_epoch=2)),
             RunSpec("audio_only", "audio_only", keep_outputs=True)]
    runs = run_specs(specs, [0, 1], data, train=TRAIN, model=MODEL, progress=False, lr_unimodal=0.1, workers=1)
    path = run_store.write_run_store(runs, tmp_path_factory.mktemp("t1"), data=data, stage="t1_fusion")
    return path, data, runs


def test_a_stored_run_reads_back_identical_under_the_readers_label(stored):
    path, data, runs = stored
    specs = [RunSpec("ogm_ge", "concat", OGMConfig(alpha=0.3, end_epoch=2)),
             RunSpec("late_fusion|audio_only", "audio_only", keep_outputs=True)]
    jobs = make_jobs(specs, [0, 1], train=TRAIN, model=MODEL, probe=True, lr_unimodal=0.1)
    found = run_store.reuse(path, jobs, data=data)
    assert sorted(found) == [0, 1, 2, 3]
    for i, original in zip(range(4), runs[2:], strict=True):
        got = found[i]
        assert got.job is jobs[i] and got.label == specs[i // 2].label  # the reader's own job and label
        for name in run_store.FIELDS:
            assert getattr(got, name) == getattr(original, name), name
        assert got.outputs.keys() == original.outputs.keys()
        for name, t in original.outputs.items():
            assert got.outputs[name].dtype == t.dtype and torch.equal(got.outputs[name], t), name
    assert found[0].outputs == {}  # not asked for


def test_another_knob_another_seed_or_other_data_is_trained_not_read(stored):
    path, data, _ = stored
    asks = [(RunSpec("concat", "concat"), TRAIN, [2]),  # a seed t1 did not run
            (RunSpec("concat", "concat"), replace(TRAIN, lr=0.02), [0]),  # another lr
            (RunSpec("ogm", "concat", OGMConfig(alpha=0.8, end_epoch=2)), TRAIN, [0]),  # another α
            (RunSpec("v", "visual_only", keep_outputs=True), TRAIN, [0])]  # a run t1 did not train
    for spec, train, seeds in asks:
        jobs = make_jobs([spec], seeds, train=train, model=MODEL, probe=True, lr_unimodal=0.1)
        assert run_store.reuse(path, jobs, data=data) == {}, spec
    jobs = make_jobs([RunSpec("concat", "concat")], [0], train=TRAIN, model=MODEL, probe=True, lr_unimodal=None)
    assert run_store.reuse(path, jobs, data=_data(shift=0.01)) == {}  # the same job on other data
    assert run_store.reuse(path.parent / "missing.json.gz", jobs, data=data) == {}  # no file: train everything


def test_the_file_is_plain_json_with_fixed_bytes(stored, tmp_path):
    path, data, runs = stored
    again = run_store.write_run_store(runs, tmp_path, data=data, stage="t1_fusion")
    assert again.read_bytes() == path.read_bytes()  # gzip's mtime fixed: the bytes depend on the runs alone
    assert gzip.decompress(path.read_bytes()).startswith(b"{")
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.json.gz: not a readable trained_runs.json.gz"):
        run_store.reuse(tmp_path / "bad.json.gz", [], data=data)


def test_t3_table_runs_reads_whole_rows_and_trains_the_rest_in_order(stored, monkeypatch):
    path, data, runs = stored
    trained = []

    def fake_run_groups(groups, data, **kwargs):
        trained.extend((s.label, seed) for specs, seeds, _ in groups for s in specs for seed in seeds)
        return [[SimpleNamespace(label=s.label, seed=seed) for s in specs for seed in seeds]
                for specs, seeds, _ in groups]

    monkeypatch.setattr(t3_imbalance, "run_groups", fake_run_groups)
    p = SimpleNamespace(seeds=[0, 1], lr_unimodal=0.1, reuse_from=path, workers=0, ddp=0)
    specs = [RunSpec("concat", "concat"), RunSpec("opm", "concat", OGMConfig(alpha=0.5, end_epoch=2)),
             RunSpec("late_fusion|audio_only", "audio_only", keep_outputs=True)]
    out, reused, read_seeds = t3_imbalance.table_runs(p, specs, data, train=TRAIN, model=MODEL)
    assert trained == [("opm", 0), ("opm", 1)] and reused == ["concat", "late_fusion|audio_only"]
    assert read_seeds == []  # no seeds_from
    assert [(r.label, r.seed) for r in out] == [(s.label, seed) for s in specs for seed in (0, 1)]
    assert out[0].test == runs[0].test and torch.equal(out[4].outputs["test"], runs[4].outputs["test"])
    assert "Concatenation (ours), Late fusion" in t3_imbalance.reuse_sentence(p, reused)


def test_t3_table_runs_reads_each_job_from_either_store_and_trains_only_the_missing_ones(stored, tmp_path,
                                                                                         monkeypatch):
    """t1_fusion's store has seeds 0-1, t3_seeds's store (`seeds_from`) seed 2 of concat: only the one job in
    neither trains, alone; a row is 'read whole' from t1 only at every seed, a seed only with every row."""
    path, data, runs = stored
    seed2 = run_specs([RunSpec("concat", "concat")], [2], data, train=TRAIN, model=MODEL, progress=False, workers=1)
    more = run_store.write_run_store(seed2, tmp_path, data=data, stage="t3_seeds")
    trained = []

    def fake_run_groups(groups, data, **kwargs):
        trained.extend((s.label, seed) for specs, seeds, _ in groups for s in specs for seed in seeds)
        return [[SimpleNamespace(label=s.label, seed=seed) for s in specs for seed in seeds]
                for specs, seeds, _ in groups]

    monkeypatch.setattr(t3_imbalance, "run_groups", fake_run_groups)
    p = SimpleNamespace(seeds=[0, 1, 2], lr_unimodal=0.1, reuse_from=path, seeds_from=more, workers=0, ddp=0)
    specs = [RunSpec("concat", "concat"), RunSpec("late_fusion|audio_only", "audio_only", keep_outputs=True)]
    out, reused, read_seeds = t3_imbalance.table_runs(p, specs, data, train=TRAIN, model=MODEL)
    assert trained == [("late_fusion|audio_only", 2)]
    assert reused == [] and read_seeds == []  # concat lacks seed 2 in t1's store; seed 2 lacks a row in t3_seeds's
    assert [r.test for r in out[:3]] == [runs[0].test, runs[1].test, seed2[0].test]
    assert out[3].test == runs[4].test and out[5].label == "late_fusion|audio_only"
    p.seeds = [2]
    _, _, read_seeds = t3_imbalance.table_runs(p, specs[:1], data, train=TRAIN, model=MODEL)
    assert read_seeds == [2]
    assert f"Seeds [2]: every row's runs as stage {Path(more).parent.name} stored them" in t3_imbalance.reuse_sentence(
        p, [], [2])
