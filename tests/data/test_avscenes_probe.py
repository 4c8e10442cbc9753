"""The modality check's selection (avlib/data/embedded/avscenes/probe.py): the held-out part of train is carved
by video (disjoint, deterministic), each probe keeps the held-out-best epoch among those that do not memorize,
the capacity is chosen on held-out accuracy only, and val is read by the chosen probes alone, after the choice.
Fast: synthetic records and feature blocks, a few epochs."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from avlib.core.runtime import single_threaded
from avlib.data.embedded.avscenes.probe import (
    VIEWS,
    choose_probes,
    modality_check,
    score_probe,
    selection_data,
    split_heldout,
    train_modality_probe,
)
from avlib.stages import premise_avscenes as stage

GROUPS = ("Audio", "Visual", "Audio-Visual")


def _records(n_videos: int, per_video: int = 3) -> list:
    return [SimpleNamespace(video_id=f"{v:08d}", question=q) for v in range(n_videos) for q in range(per_video)]


def test_heldout_split_is_by_video_disjoint_and_deterministic():
    records = _records(50)
    fit, held = split_heldout(records, 0.2, seed=0)
    fit_videos, held_videos = {r.video_id for r in fit}, {r.video_id for r in held}
    assert not fit_videos & held_videos  # no video has questions on both sides
    assert len(held_videos) == 10 and len(fit_videos) == 40
    assert len(fit) + len(held) == len(records)
    assert {id(r) for r in fit} | {id(r) for r in held} == {id(r) for r in records}
    assert [r.video_id for r in fit] == sorted(r.video_id for r in fit)  # the records' own order is kept
    again = split_heldout(list(records), 0.2, seed=0)
    assert [r.video_id for r in again[1]] == [r.video_id for r in held]
    # the draw does not depend on the records' order, only on their videos and the seed
    shuffled = [records[i] for i in np.random.default_rng(1).permutation(len(records))]
    assert {r.video_id for r in split_heldout(shuffled, 0.2, seed=0)[1]} == held_videos
    assert {r.video_id for r in split_heldout(records, 0.2, seed=1)[1]} != held_videos


def test_heldout_split_keeps_a_video_on_each_side():
    fit, held = split_heldout(_records(3), 0.01, seed=0)
    assert len({r.video_id for r in held}) == 1 and len({r.video_id for r in fit}) == 2
    fit, held = split_heldout(_records(2), 0.9, seed=0)
    assert len({r.video_id for r in held}) == 1 and len({r.video_id for r in fit}) == 1
    with pytest.raises(ValueError, match="needs >= 2 train videos"):
        split_heldout(_records(1), 0.2, seed=0)


def _part(n: int, rng, signal: torch.Tensor | None = None) -> dict:
    y = torch.from_numpy(rng.integers(0, 3, n))
    x = {"question": torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))}
    for block in ("audio", "visual", "joint"):
        x[block] = torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32))
    x["audio"][:, 0] += 3 * y.float()  # what is heard names the answer; nothing else does
    return {"x": x, "y": y, "modality": [GROUPS[i % 3] for i in range(n)]}


def _data(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"fit": _part(90, rng), "heldout": _part(30, rng), "eval": _part(30, rng), "n_answers": 3}


def _job(**kw) -> dict:
    return {"view": "audio", "seed": 0, "hidden": 8, "weight_decay": 1e-4, "lr": 1e-2, "batch": 32, "epochs": 6,
            "patience": 3, "max_gap": 0.1} | kw


def test_a_probe_never_sees_val_and_keeps_its_held_out_best_weights():
    data = _data()
    with pytest.raises(ValueError, match="train split only"):
        train_modality_probe(_job(), data)  # val in the data: refused
    with single_threaded():
        r = train_modality_probe(_job(), selection_data(data))
    assert "eval" not in selection_data(data) and "overall" not in r  # no val accuracy anywhere
    assert 1 <= r["epoch"] <= r["epochs run"] <= 6
    assert r["eligible"] == (r["train overall"] - r["heldout overall"] <= 0.1)
    # the weights kept are the kept epoch's: they score on fit and held-out what the probe recorded there
    assert score_probe(r, data["heldout"], 3, "heldout ") == {k: v for k, v in r.items() if k.startswith("heldout ")}
    assert score_probe(r, data["fit"], 3, "train ") == {k: v for k, v in r.items() if k.startswith("train ")}
    with single_threaded():
        again = train_modality_probe(_job(), selection_data(data))
    assert {k: v for k, v in again.items() if k != "state"} == {k: v for k, v in r.items() if k != "state"}


def test_a_probe_that_memorizes_from_the_first_epoch_keeps_its_smallest_gap():
    with single_threaded():
        r = train_modality_probe(_job(max_gap=-1.0, epochs=4, patience=10), selection_data(_data()))
    assert not r["eligible"] and r["epochs run"] == 4


class _NoVal(dict):
    """A probe result whose val accuracies raise when read: a selection that reads one fails."""

    VAL = {"overall", *GROUPS}

    def __getitem__(self, key):
        if key in self.VAL:
            raise AssertionError(f"the selection read val ({key!r})")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


def _result(view, hidden, wd, seed, train, heldout, eligible=True, val=0.0):
    return _NoVal({"view": view, "hidden": hidden, "weight_decay": wd, "seed": seed, "train overall": train,
                   "heldout overall": heldout, "eligible": eligible, "overall": val, **{g: val for g in GROUPS}})


def test_the_choice_reads_held_out_accuracy_only_and_skips_memorizing_settings():
    grid = []
    for seed in (0, 1):
        grid += [_result("audio", 32, 1e-4, seed, 0.95, 0.70, eligible=False, val=0.99),  # best held-out: memorizes
                 _result("audio", 32, 1e-2, seed, 0.66, 0.60, val=0.10),
                 _result("audio", 128, 1e-2, seed, 0.64, 0.62, val=0.05),  # best eligible held-out, worst val
                 _result("question", 32, 1e-2, seed, 0.90, 0.50, eligible=False),
                 _result("question", 128, 1e-2, seed, 0.80, 0.50, eligible=False)]  # none eligible: smallest gap
    choice = choose_probes(grid, max_gap=0.1)
    assert (choice["audio"]["hidden"], choice["audio"]["weight_decay"]) == (128, 1e-2)
    assert choice["audio"]["eligible"] and choice["audio"]["heldout"] == pytest.approx(0.62)
    assert not choice["audio"]["grid"][(32, 1e-4)]["eligible"]
    assert (choice["question"]["hidden"], choice["question"]["eligible"]) == (128, False)
    # a mean gap over seeds beyond the bound makes a setting ineligible even if each run kept an eligible epoch
    wide = [_result("audio", 32, 1e-2, 0, 0.70, 0.55), _result("audio", 32, 1e-2, 1, 0.70, 0.65),
            _result("audio", 128, 1e-2, 0, 0.60, 0.55), _result("audio", 128, 1e-2, 1, 0.60, 0.55)]
    assert choose_probes(wide, max_gap=0.1)["audio"]["hidden"] == 32  # mean gap 0.10: within
    assert choose_probes(wide, max_gap=0.09)["audio"]["hidden"] == 128


def test_val_is_scored_for_the_chosen_probes_only():
    data = _data()
    jobs = [_job(view=v, hidden=h, epochs=3) for v in ("question", "audio") for h in (4, 8)]
    with single_threaded():
        grid = [train_modality_probe(j, selection_data(data)) for j in jobs]
    choice = choose_probes(grid, max_gap=0.1)
    results = modality_check(grid, choice, data)
    assert [(r["view"], r["hidden"]) for r in results] == [(v, choice[v]["hidden"]) for v in ("question", "audio")]
    for r in results:
        assert "state" not in r and {"overall", "train overall", "heldout overall", *GROUPS} <= set(r)
    runs = stage.probe_runs(grid, results)
    assert len(runs) == 4 and runs["chosen"].sum() == 2
    assert runs.loc[~runs["chosen"], "overall"].isna().all() and runs.loc[runs["chosen"], "overall"].notna().all()


def test_the_stage_states_the_criterion_and_reports_train_held_out_and_val():
    p = SimpleNamespace(probe_seeds=[0, 1], probe_hidden=[32, 128], probe_weight_decay=[1e-4, 1e-2],
                        probe_lr=3e-3, probe_batch=256, probe_epochs=60, probe_patience=15, probe_max_gap=0.1)
    jobs = stage.probe_jobs(p)
    assert len(jobs) == 2 * len(VIEWS) * 4 and all(j["max_gap"] == 0.1 for j in jobs)
    results = [{"view": v, "seed": s, "hidden": 32, "weight_decay": 1e-2, "train overall": 0.6 + 0.1 * (v == "audio"),
                "heldout overall": 0.55, "overall": 0.55, **{f"{pre}{g}": 0.5 for pre in ("", "train ", "heldout ")
                                                             for g in GROUPS}}
               for v in VIEWS for s in (0, 1)]
    choice = {v: {"hidden": 32, "weight_decay": 1e-2} for v in VIEWS}
    general = stage.generalization(results, choice, 0.1)
    assert general["audio"]["gap"] == pytest.approx(0.15) and not general["audio"]["generalizes"]
    assert general["visual"]["gap"] == pytest.approx(0.05) and general["visual"]["generalizes"]
    table = stage.probe_table(results)
    assert list(table["part"][:3]) == ["train", "held-out", "val"] and len(table) == 3 * len(VIEWS)
    verdict = stage.probe_verdict(results, 0.1)
    pool = {"scenes": 3000, "questions": 35000, "val questions": 939}
    text = stage.findings(pool, verdict, 0.1, general, 0.1, 0.2)
    assert text.index("Criterion") < text.index("Verdict") and "pool of 3000 extra scenes" in text
    assert "question + heard (hidden 32, weight decay 0.01)" in text and "does NOT generalize" in text
    assert "not evidence: question + heard does not generalize" in text


def test_the_pool_is_drawn_from_the_data_knobs_on_its_own_stream():
    """probe_pool: deterministic, scenes of the given knobs under ids no split uses, ~questions_per_video each,
    and another stream than the data's (the data's first scene is not the pool's)."""
    from avlib.data.embedded.avscenes.probe import probe_pool
    from avlib.data.embedded.avscenes.scenes import AVScenesConfig, sample_scene

    cfg = AVScenesConfig(questions_per_video=6)
    records, scenes = probe_pool(cfg, 30)
    again = probe_pool(cfg, 30)
    assert records == again[0] and scenes == again[1]
    assert sorted(scenes) == [f"pool{i:06d}" for i in range(30)] and {r.video_id for r in records} <= set(scenes)
    assert 0.8 * 30 * 6 <= len(records) <= 30 * 6
    _, solo = probe_pool(AVScenesConfig(questions_per_video=6, p_solo=1.0), 30)  # the knobs given are the ones used
    assert all(sum(s["visible"] for s in scene["sources"]) == 1 for scene in solo.values())
    assert scenes["pool000000"] != sample_scene(np.random.default_rng(cfg.seed), cfg)
