"""Speaker families of AV-Digits: read from the eSpeak NG voice files, dealt whole to train or held-out."""

import numpy as np
import pytest

from avlib.data import DatasetError
from avlib.data.synth.voices import VOICE_POOL, deal_voices, variant_formants, voice_families, voice_family


def test_formant_twins_are_one_family():
    # AnxiousAndy is Andy's file with the higher formants edited: F1-F3 sit at the same frequencies.
    assert variant_formants("Andy")[1] == variant_formants("AnxiousAndy")[1] == (100, 100, 100, 120)
    assert voice_family("Andy") == voice_family("AnxiousAndy")
    # Files that are copies under other names: identical formant tables.
    assert variant_formants("Diogo") == variant_formants("michel") == variant_formants("miguel")
    assert voice_family("Diogo") == voice_family("michel") == voice_family("miguel")
    assert voice_family("max") == voice_family("RicishayMax")
    # belinda is linda's file with F2-F4 edited: the F1 line is the same.
    assert voice_family("linda") == voice_family("belinda")


def test_numbered_variants_stay_one_family():
    assert variant_formants("iven") == variant_formants("iven4")  # same formants: both rules agree
    assert variant_formants("m1") != variant_formants("m8")  # distinct formants, joined by the name rule
    assert voice_family("iven") == voice_family("iven4") and voice_family("m1") == voice_family("m8")


def test_distinct_voices_stay_apart():
    families = set(voice_families().values())
    assert 30 <= len(families) <= 50  # 61 by names alone; the formant rules merge some, not most
    assert voice_family("Andy") != voice_family("Alex") and voice_family("f1") != voice_family("m1")
    with pytest.raises(DatasetError, match="'nobody'"):
        voice_family("nobody")


@pytest.mark.parametrize("seed", range(5))
def test_families_are_dealt_whole_to_train_or_held_out(seed):
    dealt = deal_voices((0.6, 0.4), np.random.default_rng(seed))
    assert sorted(dealt["train"] + dealt["held_out"]) == sorted(VOICE_POOL)
    families = {s: {voice_family(v) for v in vs} for s, vs in dealt.items()}
    assert not families["train"] & families["held_out"]  # no family spans train and held-out
    n_families = len(families["train"]) + len(families["held_out"])
    assert len(families["train"]) == round(0.6 * n_families)


def test_legacy_three_way_split_reads_as_train_and_held_out():
    legacy = deal_voices((0.6, 0.2, 0.2), np.random.default_rng(0))
    assert legacy == deal_voices((0.6, 0.4), np.random.default_rng(0))
