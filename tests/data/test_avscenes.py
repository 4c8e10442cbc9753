"""AV-Scenes: template instantiation on hand-built scenes, quotas, determinism, the loader, and the modality
check (a question-only and a wrong-modality probe must be clearly worse than the right-modality one, with probes
that generalize; the selection itself: tests/data/test_avscenes_probe.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avlib.core.runtime import single_threaded
from avlib.data import DatasetError, load_dataset, make_loader
from avlib.data.embedded.avscenes.media import INSTRUMENTS
from avlib.data.embedded.avscenes.probe import (
    VIEWS,
    choose_probes,
    modality_check,
    probe_data,
    selection_data,
    split_heldout,
    train_modality_probe,
)
from avlib.data.embedded.avscenes.questions import is_yes_no, make_answerers
from avlib.data.embedded.avscenes.scenes import (
    AVScenesConfig,
    as_records,
    ask,
    generate,
    load_templates,
    quotas,
    sample_scene,
)
from avlib.data.qa import PLACEHOLDER, TYPES, tokenize

TINY = AVScenesConfig(n_train=6, n_val=3, n_test=3, questions_per_video=4, map_size=2)

ROOT = Path(__file__).resolve().parents[2]


def source(name, region=None, mask=(0,) * 10, gain=0.0, rate=1, group=0):
    x = {"left": 0.17, "middle": 0.5, "right": 0.83}.get(region)
    return {"name": name, "visible": region is not None, "region": region, "x": x, "y": 0.5 if region else None,
            "mask": list(mask), "gain_db": gain, "rate": rate, "group": group}


ON = (1,) * 10
LATE = (0, 0, 0, 1, 1, 1, 1, 1, 1, 1)
EARLY = (1, 1, 1, 1, 0, 0, 0, 0, 0, 0)
# violin left (sounds late, quiet, slow), piano middle (silent), cello right (always, loud, rhythmic), tuba off-screen
SCENE = {"venue": "outdoor", "sources": [
    source("violin", "left", LATE, gain=-12.0, rate=1, group=0), source("piano", "middle", group=1),
    source("cello", "right", ON, gain=0.0, rate=4, group=2), source("tuba", None, EARLY, gain=-6.0, rate=2, group=3)]}


def _answers(template, want=None, seeds=range(40)):
    answer = make_answerers(INSTRUMENTS)[template]
    return {(tuple(got[0]), got[1]) for s in seeds if (got := answer(SCENE, np.random.default_rng(s), want))}


def test_every_template_fills_every_placeholder():
    templates = load_templates()
    answerers = make_answerers(INSTRUMENTS)
    assert len(templates) == 33 and set(answerers) == set(templates["template"])
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, AVScenesConfig()) for _ in range(60)]
    for template, examples in zip(templates["template"], templates["example_answers"], strict=True):
        wants = ("yes", "no") if is_yes_no(examples) else (None,)
        made = [got for sc in scenes for want in wants if (got := answerers[template](sc, rng, want))]
        assert made, template
        for values, answer in made:
            assert len(values) == len(PLACEHOLDER.findall(template)), template
            assert "<" not in " ".join(tokenize(template, values)) and answer


def test_answers_are_derived_from_the_scene():
    assert _answers("Is there a <Object> sound?", "yes") <= {(("violin",), "yes"), (("cello",), "yes"),
                                                             (("tuba",), "yes")}  # off-screen tuba is heard
    assert (("piano",), "no") in _answers("Is there a <Object> sound?", "no")  # seen, silent: not heard
    assert (("tuba",), "no") in _answers("Is there a <Object> in the entire video?", "no")  # heard, not seen
    assert _answers("How many musical instruments were heard throughout the video?") == {((), "three")}
    assert _answers("How many instruments are sounding in the video?") == {((), "two")}  # tuba is off-screen
    assert _answers("How many instruments in the video did not sound from beginning to end?") == {((), "one")}
    assert _answers("How many types of musical instruments appeared in the entire video?") == {((), "three")}
    assert _answers("Where is the performance?") == {((), "outdoor")}
    assert _answers("What kind of instrument is the <LRer> instrument? ") == {(("leftmost",), "violin"),
                                                                             (("rightmost",), "cello")}
    assert _answers("What is the instrument on the <LR> of <Object>?") == {
        (("right", "violin"), "piano"), (("left", "piano"), "violin"), (("right", "piano"), "cello"),
        (("left", "cello"), "piano")}
    assert _answers("Is the <Object> louder than the <Object>?", "yes") <= {
        (("cello", "violin"), "yes"), (("cello", "tuba"), "yes"), (("tuba", "violin"), "yes")}
    assert _answers("Is the instrument on the <LR> louder than the instrument on the <LR>?", "yes") == {
        (("right", "left"), "yes")}
    assert _answers("Where is the <LL> instrument?") == {(("loudest",), "right"), (("lowest",), "left")}
    assert _answers("What is the <TH> instrument that comes in?") == {(("first",), "cello"), (("second",), "violin")}
    assert _answers("Where is the <FL> sounding instrument?") == {(("first",), "right"), (("last",), "left")}
    assert _answers("Is there a voiceover?", "yes") == {((), "yes")} and not _answers("Is there a voiceover?", "no")
    assert _answers("Is the <Object> in the video always playing?", "yes") == {(("cello",), "yes")}
    assert _answers("Which instrument makes sounds <BA> the <Object>?") == {(("after", "cello"), "violin"),
                                                                            (("before", "violin"), "cello")}
    assert _answers("What kind of musical instrument is it?") == set()  # not a solo scene


def test_quotas_follow_the_weights_and_sum():
    counts = quotas(100, [3, 1, 1])
    assert counts.tolist() == [60, 20, 20]
    assert quotas(7, [1, 1, 1]).sum() == 7


def test_template_frequencies_follow_the_real_test_counts():
    rng = np.random.default_rng(1)
    cfg = AVScenesConfig()
    scenes = {f"{i:08d}": sample_scene(rng, cfg) for i in range(200)}
    templates = load_templates()
    quota = quotas(2000, templates["n_test"])
    made = ask(scenes, sorted(scenes), templates, quota, rng)
    counts = {t: sum(q["template"] == t for q in made) for t in templates["template"]}
    reached = np.array([counts[t] for t in templates["template"]]) / quota
    assert np.median(reached) == 1.0 and reached.min() > 0.5, dict(zip(templates["template"], reached, strict=True))


def test_generation_is_deterministic_and_loads(tmp_path):
    metas = [generate(tmp_path / f"g{i}", TINY, progress=False) for i in range(2)]
    assert metas[0] == metas[1]
    for name in ("avqa-train.json", "avqa-val.json", "avqa-test.json", "scenes.json", "meta.json"):
        assert (tmp_path / "g0" / name).read_bytes() == (tmp_path / "g1" / name).read_bytes(), name
    a, b = (torch.load(tmp_path / f"g{i}" / "features.pt") for i in range(2))
    assert torch.equal(a["audio"], b["audio"]) and torch.equal(a["visual"], b["visual"])
    raw = json.loads((tmp_path / "g0" / "avqa-train.json").read_text())
    assert {"video_id", "question_id", "type", "question_content", "templ_values", "question_deleted", "anser"} == \
        set(raw[0])
    train = load_dataset("avscenes", tmp_path / "g0", "train")
    item = train[0]
    assert item["audio"].shape == (10, 128) and item["visual"].shape == (10, 512, 2, 2)
    assert item["visual"].dtype == torch.float32 and train.visual_feats.dtype == torch.float16
    assert item["question"].shape == (14,) and train.types == list(TYPES) and train.map_size == 2
    assert len(train) == 6 * 4 and train.n_classes == train.n_answers == len(train.answer_vocab)
    test = load_dataset("avscenes", tmp_path / "g0", "test")
    assert test.question_vocab.tokens == train.question_vocab.tokens
    batch = next(iter(make_loader(test, batch_size=5, shuffle=False)))
    assert batch["visual"].shape == (5, 10, 512, 2, 2) and batch["type"].dtype == torch.int64


def test_full_size_maps(tmp_path):
    cfg = AVScenesConfig(n_train=1, n_val=1, n_test=1, questions_per_video=2, map_size=14)
    generate(tmp_path / "g", cfg, progress=False)
    assert load_dataset("avscenes", tmp_path / "g", "val")[0]["visual"].shape == (10, 512, 14, 14)


def test_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="features.pt not found"):
        load_dataset("avscenes", tmp_path, "train")
    with pytest.raises(DatasetError, match="map_size=0"):
        AVScenesConfig(map_size=0)
    with pytest.raises(DatasetError, match="p_dubbed=1.5"):
        AVScenesConfig(p_dubbed=1.5)


def _modality_check(seed: int) -> dict:
    """The stage's modality check (one probe seed) on a generated set of 250 train and 80 eval videos: {view: the
    chosen probe's result, with train (fit), held-out and val (eval) accuracies}."""
    rng = np.random.default_rng(seed)
    cfg = AVScenesConfig()
    scenes = {f"{i:08d}": sample_scene(rng, cfg) for i in range(330)}
    ids = sorted(scenes)
    templates = load_templates()
    train = as_records(ask(scenes, ids[:250], templates, quotas(250 * 10, templates["n_test"]), rng))
    fit, heldout = split_heldout(train, 0.2, 0)
    records = {"fit": fit, "heldout": heldout,
               "eval": as_records(ask(scenes, ids[250:], templates, quotas(80 * 10, templates["n_test"]), rng))}
    data = probe_data(records, scenes)
    jobs = [{"view": v, "seed": 0, "hidden": h, "weight_decay": wd, "lr": 3e-3, "batch": 256, "epochs": 60,
             "patience": 15, "max_gap": 0.1} for v in VIEWS for h in (32, 128) for wd in (1e-4, 1e-2)]
    with single_threaded():
        grid = [train_modality_probe(job, selection_data(data)) for job in jobs]
    return {r["view"]: r for r in modality_check(grid, choose_probes(grid, 0.1), data)}


@pytest.fixture(scope="module")
def modality_checks():
    return {seed: _modality_check(seed) for seed in (5, 6)}


@pytest.mark.slow
def test_audio_and_visual_questions_need_their_own_modality(modality_checks):
    """Small MLPs on the question + what is heard / seen (the scene's ground truth per modality), their capacity
    chosen on a held-out part of train (as the stage's), on two generated datasets. Every chosen probe
    generalizes (train - eval <= 15 points: the stage's bound is 10 on three probe seeds, and one seed on an
    80-video eval set moves it by ~3; the old probes' gaps were 30-40). Audio and Visual questions: the
    question-only and the wrong-modality probes are >= 5 points below the right one on each set (measured:
    Audio 10.6 and 7.7, Visual 27 and 15 points)."""
    for seed, acc in modality_checks.items():
        for view, r in acc.items():
            assert r["train overall"] - r["overall"] <= 0.15, (seed, view, r)
        for group, own, wrong in (("Audio", "audio", ("question", "visual")),
                                  ("Visual", "visual", ("question", "audio"))):
            for other in wrong:
                assert acc[own][group] >= acc[other][group] + 0.05, (seed, group, other, acc)


def _committed_premise() -> dict:
    return json.loads((ROOT / "reports" / "premise_avscenes" / "metrics.json").read_text())


def test_every_question_group_needs_its_own_modality_in_the_committed_check():
    """premise_avscenes's committed verdict, its probes fit on a pool of extra scenes from the data's generator:
    every group's own view beats every wrong one by >= the margin (Audio-Visual questions need both). Fit on the
    train split alone (3,768 questions), no probe within the bound learned the Audio-Visual templates, and this
    test was a strict xfail."""
    metrics = _committed_premise()
    assert all(group["ok"] for group in metrics["modality_check"].values()), metrics["modality_check"]


@pytest.mark.xfail(strict=True, reason="question + heard's train - val gap is 10.2 points against the 10-point bound "
                   "written first (9.8 on MKL's bits, before the probes' products moved to OpenBLAS at ed462e8): "
                   "the bound sits within the numerics' noise; issue #28")
def test_every_compared_probe_generalizes_in_the_committed_check():
    """Without it the gaps above are not evidence: a probe that memorizes measures itself, not the data."""
    metrics = _committed_premise()
    assert all(view["generalizes"] for view in metrics["generalization"].values()), metrics["generalization"]


def _pair_scene(left_mask, right_mask):
    """Two violins (left, right) with the given masks, a cello in the middle that comes in first."""
    return {"venue": "indoor", "sources": [
        source("violin", "left", left_mask, group=0), source("cello", "middle", ON, group=1),
        source("violin", "right", right_mask, group=2)]}


def test_which_copy_answers_the_onset_order_of_two_copies():
    template = "Which <Object> makes the sound <FL>?"
    answer = make_answerers(INSTRUMENTS)[template]

    def answers(scene):
        return {tuple(got[0]): got[1] for s in range(40) if (got := answer(scene, np.random.default_rng(s), None))}

    assert answers(_pair_scene(LATE, EARLY)) == {("violin", "first"): "right", ("violin", "last"): "left"}
    assert answers(_pair_scene(EARLY, LATE)) == {("violin", "first"): "left", ("violin", "last"): "right"}
    assert answers(_pair_scene(LATE, LATE)) == {("violin", "first"): "simultaneously",
                                                ("violin", "last"): "simultaneously"}
    assert answers(_pair_scene(LATE, (0,) * 10)) == {}  # one copy silent: no order to ask about
    assert answers(SCENE) == {}  # no type has two copies in the frame


def test_staggered_copies_come_in_at_another_segment():
    rng = np.random.default_rng(0)
    cfg = AVScenesConfig(p_solo=0.0, p_double=1.0, p_stagger=0.5, p_dubbed=0.0, p_silent=0.0)
    scenes = [sample_scene(rng, cfg) for _ in range(200)]
    onsets = []
    for scene in scenes:
        name = scene["sources"][len([s for s in scene["sources"] if s["visible"]]) - 1]["name"]
        pair = [s for s in scene["sources"] if s["visible"] and s["name"] == name]
        assert len(pair) == 2
        onsets.append(pair[0]["mask"].index(1) == pair[1]["mask"].index(1))
        if onsets[-1]:
            assert pair[0]["group"] == pair[1]["group"] and pair[0]["mask"] == pair[1]["mask"]  # in unison
        else:
            assert pair[0]["group"] != pair[1]["group"]  # its own part, synthesized on its own
    assert 0.35 < 1 - np.mean(onsets) < 0.65  # ~p_stagger of them staggered
    with pytest.raises(DatasetError, match="p_stagger=2"):
        AVScenesConfig(p_stagger=2)
