"""Who speaks: eSpeak NG voice variants grouped into speaker families, dealt into disjoint train and
held-out sets, and drawn per sample. Shared by every embedded generator that speaks (AV-Digits, its
clips, AV-Sync, AV-Speech)."""

import functools
from pathlib import Path

import espeakng_loader
import numpy as np

from avlib.data.errors import DatasetError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# eSpeak NG voice variants (the `!v` folder of espeak-ng-data), spoken with English rules. The seed
# deals them, family by family, into disjoint train and held-out speaker sets (module docstring).
VOICE_POOL = (
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2", "Henrique",
    "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Reed", "RicishayMax",
    "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "adam", "anika", "announcer", "antonio", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5",
    "fast", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta",
    "klatt", "klatt2", "klatt3", "klatt4", "linda", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo",
    "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert",
    "sandro", "shelby", "steph", "steph2", "steph3", "travis",
)


# The formants whose frequencies make a vowel (and so a speaker's vocal tract); heights and widths only
# colour the sound. A formant a variant file does not set keeps eSpeak NG's default, 100 %.
VOWEL_FORMANTS = (1, 2, 3)


DEFAULT_FORMANT = (100, 100, 100)  # frequency, height, width in % of the base voice


@functools.cache
def variant_formants(name: str) -> dict:
    """{formant number: (frequency, height, width[, freq offset])} as the variant file `name` sets them."""
    path = Path(espeakng_loader.get_data_path()) / "voices" / "!v" / name
    if not path.is_file():
        raise DatasetError(f"avdigits: voice variant file {path} not found; expected one per VOICE_POOL entry")
    formants = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split()  # comments start with '#' or '//', so never with the word 'formant'
        if len(words) >= 3 and words[0] == "formant":
            formants[int(words[1])] = tuple(int(w) for w in words[2:])
    return formants


def _name_stem(name: str) -> str:
    return name.lower().rstrip("0123456789")


def _speaker_keys(name: str) -> list:
    """What makes two variants one speaker: any key they share (see `voice_family`)."""
    formants = variant_formants(name)
    keys = [("name", _name_stem(name)),
            ("vowel formants", tuple(formants.get(k, DEFAULT_FORMANT)[0] for k in VOWEL_FORMANTS))]
    if formants.get(1, DEFAULT_FORMANT) != DEFAULT_FORMANT:
        keys.append(("F1 line", formants[1]))
    return keys


@functools.cache
def voice_families() -> dict:
    """{voice: family} over VOICE_POOL; a family is one speaker (see `voice_family`).

    Union-find over `_speaker_keys`, so sharing is transitive. A family is named by the first of its
    members' name stems in alphabetical order, whatever the order of VOICE_POOL.
    """
    parent = {v: v for v in VOICE_POOL}

    def root(v):
        while parent[v] != v:
            v = parent[v]
        return v

    first_with = {}
    for voice in VOICE_POOL:
        for key in _speaker_keys(voice):
            parent[root(voice)] = root(first_with.setdefault(key, voice))
    members = {}
    for voice in VOICE_POOL:
        members.setdefault(root(voice), []).append(voice)
    return {v: min(_name_stem(m) for m in group) for group in members.values() for v in group}


def voice_family(name: str) -> str:
    """The speaker family of a VOICE_POOL variant: variants that are near-copies of one another, so
    that no split hears a near-copy of another split's voice. Two variants are one speaker when
      - their names differ only by a number ('iven', 'iven2', ...; 'm1'...'m8'), or
      - their files set the same frequencies for the vowel formants F1-F3 ('Andy', 'AnxiousAndy'), or
      - their files set the very same F1 line, other than the default (eSpeak variants are often a
        copy of another variant's file with a few lines edited: 'linda', 'belinda');
    and families are closed under these links.
    """
    families = voice_families()
    if name not in families:
        raise DatasetError(f"avdigits: voice {name!r} is not in VOICE_POOL; expected one of {VOICE_POOL}")
    return families[name]


def deal_voices(voice_split, rng: np.random.Generator) -> dict:
    """Disjoint speaker sets {"train": [voice, ...], "held_out": [...]} from VOICE_POOL, dealt by
    family (a family is one speaker: no near-copy of a held-out voice is heard in training). Train gets
    round(voice_split[0] * families), at least one and leaving at least one held out."""
    families = sorted(set(voice_families().values()))
    order = [families[i] for i in rng.permutation(len(families))]
    n_train = min(max(round(voice_split[0] * len(families)), 1), len(families) - 1)
    train = set(order[:n_train])
    return {"train": [v for v in VOICE_POOL if voice_family(v) in train],
            "held_out": [v for v in VOICE_POOL if voice_family(v) not in train]}


def draw_speakers(voices: list, n: int, rng: np.random.Generator) -> list:
    """n speakers for a split: a family uniformly, then one of its variants, so every family weighs the
    same (a family with four variants is not four times as frequent)."""
    families = sorted({voice_family(v) for v in voices})
    members = {f: [v for v in voices if voice_family(v) == f] for f in families}
    picks = rng.integers(len(families), size=n)
    return [members[families[i]][rng.integers(len(members[families[i]]))] for i in picks]
