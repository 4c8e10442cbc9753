"""AV-Scenes questions: the 33 MUSIC-AVQA templates (avlib/reference/avqa_templates.csv), each instantiated on
a scene with answers DERIVED from the scene (never sampled).

A scene (see avscenes.py) is a dict {"venue": "indoor"|"outdoor", "sources": [source, ...]}; a source is
{"name": instrument, "visible": bool, "region": "left"|"middle"|"right"|None, "x": float|None,
 "mask": [10 ints, 1 = sounding in that segment], "gain_db": float, "rate": notes per second, "group": int}
(sources of one `group` are visible copies of one instrument type playing in unison; a "staggered" copy of a type
has its own group and mask, coming in at another segment than its twin).

Which modality a template needs (the type the paper gives it) decides what the answer reads:
  Audio       only what is heard: which timbres sound, their loudness, rhythm (note rate), duration. Off-screen
              sources count; visible-but-silent ones do not (so the frames mislead).
  Visual      only what is seen: which instruments are in the frame, how many, where, the venue. Silent ones
              count; off-screen ones do not (so the audio misleads).
  Audio-Visual  both: e.g. which of the VISIBLE instruments sound, where the loudest one is, the order in which
              the instruments in the frame come in (off-screen sources excluded).
Two AV templates name an instrument by type and place; the answer is "no" when the premise is false (the
instrument is not in the frame, or not where the question puts it), so the audio alone cannot answer them.
Each answerer gets the scene, a numpy Generator and `want` ("yes"/"no" for yes/no templates, so the
generator can balance them; None otherwise) and returns (templ_values, answer) or None when the template
does not apply to the scene (e.g. "What kind of musical instrument is it?" needs a solo scene).
"""

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
LOUDER_DB = 5.0  # a loudness comparison is asked only when the gains differ by this much
LONGER_SEGMENTS = 2  # a duration comparison only when the sounding segments differ by this many


# --- scene facts -------------------------------------------------------------------------------------

def sounds(s) -> bool:
    return any(s["mask"])


def onset(s):
    return s["mask"].index(1) if sounds(s) else None


def visible(scene):
    return sorted((s for s in scene["sources"] if s["visible"]), key=lambda s: s["x"])


def heard_types(scene) -> list:
    return sorted({s["name"] for s in scene["sources"] if sounds(s)})


def visible_types(scene) -> list:
    return sorted({s["name"] for s in visible(scene)})


def unique_visible(scene, name):
    """The one visible source of type `name`, or None (absent or duplicated)."""
    found = [s for s in visible(scene) if s["name"] == name]
    return found[0] if len(found) == 1 else None


def type_source(scene, name):
    """The one source of type `name` (visible or not) when the type is not duplicated, else None."""
    found = [s for s in scene["sources"] if s["name"] == name]
    return found[0] if len(found) == 1 else None


def neighbour(scene, source, side: str):
    """The visible source next to `source` on `side` ("left"/"right") in the frame, or None."""
    row = visible(scene)
    i = row.index(source) + (-1 if side == "left" else 1)
    return row[i] if 0 <= i < len(row) else None


def by_onset(sources, which: str):
    """The source that comes in first/last among `sources` (sounding ones), if unique; else None."""
    timed = [(onset(s), s) for s in sources if sounds(s)]
    if not timed:
        return None
    t = min(o for o, _ in timed) if which == "first" else max(o for o, _ in timed)
    hits = [s for o, s in timed if o == t]
    return hits[0] if len(hits) == 1 else None


def same_type_pair(scene, name) -> list:
    """The visible sources of type `name` when there are exactly two and both sound, else []."""
    copies = [s for s in visible(scene) if s["name"] == name]
    return copies if len(copies) == 2 and all(sounds(s) for s in copies) else []


def which_copy_answer(pair, which: str) -> str:
    """Which of two same-type copies comes in `which` ("first"/"last"): its region, or "simultaneously" when their
    onsets fall in one segment (the scenes' time resolution: onsets are segment indices)."""
    a, b = pair
    if onset(a) == onset(b):
        return "simultaneously"
    early, late = (a, b) if onset(a) < onset(b) else (b, a)
    return (early if which == "first" else late)["region"]


def _pick(rng, items):
    items = list(items)
    return items[int(rng.integers(len(items)))] if items else None


def _order(rng, a, b):
    return (a, b) if rng.random() < 0.5 else (b, a)


def _absent(rng, present: list, all_names, prefer=()):
    """A type not in `present`: half the time one of `prefer` (a misleading choice) when there is one."""
    prefer = [n for n in prefer if n not in present]
    if prefer and rng.random() < 0.5:
        return _pick(rng, prefer)
    return _pick(rng, [n for n in all_names if n not in present])


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


# --- the answerers, one per template -------------------------------------------------------------------

def make_answerers(instruments: tuple) -> dict:
    """{template (exactly as the CSV spells it): answerer}."""

    def two_present(present, misleading):
        def answer(scene, rng, want):
            have, others = present(scene), misleading(scene)
            if want == "yes":
                if len(have) < 2:
                    return None
                a, b = rng.choice(len(have), size=2, replace=False)
                return [have[a], have[b]], "yes"
            a = _absent(rng, have, instruments, others)
            b = _pick(rng, [n for n in instruments if n != a]) if rng.random() < 0.5 or not have else _pick(rng, have)
            return list(_order(rng, a, b)), "no"
        return answer

    def one_present(present, misleading):
        def answer(scene, rng, want):
            have = present(scene)
            if want == "yes":
                return ([_pick(rng, have)], "yes") if have else None
            return [_absent(rng, have, instruments, misleading(scene))], "no"
        return answer

    def heard_pair(key, margin):
        """Audio comparisons of two heard, non-duplicated types whose `key` differs by at least `margin`."""
        def answer(scene, rng, want):
            pool = [type_source(scene, n) for n in heard_types(scene)]
            pairs = [(a, b) for a in pool for b in pool if a and b and key(a) - key(b) >= margin]
            if not pairs:
                return None
            big, small = _pick(rng, pairs)
            first, second = (big, small) if want == "yes" else (small, big)
            return [first["name"], second["name"]], want
        return answer

    def placed_pair(key, margin, named: bool):
        """AV comparisons of the sounding visible sources on the left and the right."""
        def answer(scene, rng, want):
            left = [s for s in visible(scene) if s["region"] == "left" and sounds(s)]
            right = [s for s in visible(scene) if s["region"] == "right" and sounds(s)]
            if len(left) != 1 or len(right) != 1 or abs(key(left[0]) - key(right[0])) < margin:
                return None
            big, small = (left[0], right[0]) if key(left[0]) > key(right[0]) else (right[0], left[0])
            first, second = (big, small) if want == "yes" else (small, big)
            if named and want == "no" and rng.random() < 0.5:  # a false premise: the regions swapped
                return [big["name"], small["region"], small["name"], big["region"]], "no"
            if named:
                return [first["name"], first["region"], second["name"], second["region"]], want
            return [first["region"], second["region"]], want
        return answer

    def count(words_of):
        def answer(scene, rng, want):
            n = words_of(scene)
            return ([], NUMBERS[n]) if n is not None else None
        return answer

    def object_count(scene, rng, want):  # Visual: how many <Object> are in the frame (zero when absent)
        names = visible_types(scene)
        name = _pick(rng, names) if rng.random() < 0.8 else _absent(rng, names, instruments, heard_types(scene))
        return [name], NUMBERS[sum(s["name"] == name for s in visible(scene))]

    def beside(scene, rng, want):  # Visual: the instrument on the <LR> of <Object>
        options = [(side, s) for s in visible(scene) if unique_visible(scene, s["name"])
                   for side in ("left", "right") if neighbour(scene, s, side)]
        if not options:
            return None
        side, s = _pick(rng, options)
        return [side, s["name"]], neighbour(scene, s, side)["name"]

    def extreme(scene, rng, want):  # Visual: the leftmost / rightmost instrument
        row = visible(scene)
        if len(row) < 2:
            return None
        side = _pick(rng, ("leftmost", "rightmost"))
        return [side], (row[0] if side == "leftmost" else row[-1])["name"]

    def solo(scene, rng, want):
        row = visible(scene)
        return ([], row[0]["name"]) if len(row) == 1 else None

    def sounding_object_count(scene, rng, want):  # AV: how many sounding <Object> in the frame
        names = visible_types(scene)
        if not names:
            return None
        silent = [n for n in names if not any(sounds(s) for s in visible(scene) if s["name"] == n)]
        name = _pick(rng, silent) if silent and rng.random() < 0.4 else _pick(rng, names)
        return [name], NUMBERS[sum(s["name"] == name and sounds(s) for s in visible(scene))]

    def first_last_from(scene, rng, want):  # AV: is the first/last sound coming from the left/right instrument
        which, side = _pick(rng, ("first", "last")), None
        source = by_onset(scene["sources"], which)
        if source is None:
            return None
        on_side = source["visible"] and source["region"] in ("left", "right")
        if want == "yes":
            if not on_side:
                return None
            side = source["region"]
        else:
            regions = [r for r in ("left", "right") if r != source["region"] or not source["visible"]]
            regions = [r for r in regions if any(s["region"] == r for s in visible(scene))]
            if not regions:
                return None
            side = _pick(rng, regions)
        return [which, side], want

    def beside_first_last(scene, rng, want):  # AV: the <LR> instrument of the <FL> sounding instrument
        options = []
        for which in ("first", "last"):
            s = by_onset(visible(scene), which)
            options += [(side, which, s) for side in ("left", "right") if s and neighbour(scene, s, side)]
        if not options:
            return None
        side, which, s = _pick(rng, options)
        return [side, which], neighbour(scene, s, side)["name"]

    def loudest_where(scene, rng, want):  # AV: where is the loudest / lowest instrument
        playing = sorted((s for s in visible(scene) if sounds(s)), key=lambda s: s["gain_db"])
        if len(playing) < 2:
            return None
        which = _pick(rng, ("loudest", "lowest"))
        top, nxt = (playing[-1], playing[-2]) if which == "loudest" else (playing[0], playing[1])
        if abs(top["gain_db"] - nxt["gain_db"]) < LOUDER_DB:
            return None
        return [which], top["region"]

    def same_time(scene, rng, want):  # AV: which instrument (in the frame) sounds at the same time as <Object>
        options = []
        for s in visible(scene):
            if not sounds(s) or not unique_visible(scene, s["name"]):
                continue
            overlap = [(sum(a & b for a, b in zip(s["mask"], o["mask"], strict=True)), o) for o in visible(scene)
                       if o["name"] != s["name"]]
            best = max((n for n, _ in overlap), default=0)
            hits = [o for n, o in overlap if n == best]
            if best > 0 and len({o["name"] for o in hits}) == 1:
                options.append((s, hits[0]))
        if not options:
            return None
        s, other = _pick(rng, options)
        return [s["name"]], other["name"]

    def always(scene, rng, want):  # AV: is the <Object> in the video always playing
        row = visible(scene)
        yes = [s["name"] for s in row if all(s["mask"])]
        no = [s["name"] for s in row if not all(s["mask"]) and s["name"] not in yes]
        off = [s["name"] for s in scene["sources"] if not s["visible"] and all(s["mask"])]
        if off and rng.random() < 0.5:  # always heard, but not in the video: "no"
            no = off
        pool = yes if want == "yes" else no
        return ([_pick(rng, pool)], want) if pool else None

    def voiceover(scene, rng, want):  # AV: a sound whose source is not in the frame
        flag = any(sounds(s) and not s["visible"] for s in scene["sources"])
        return ([], _yes_no(flag)) if _yes_no(flag) == want else None

    def from_video(scene, rng, want):  # AV: is (some of) this sound from the instruments in the frame
        flag = any(sounds(s) for s in visible(scene))
        return ([], _yes_no(flag)) if _yes_no(flag) == want else None

    def comes_in(scene, rng, want):  # AV: the first / second / third instrument (in the frame) that comes in
        playing = [s for s in visible(scene) if sounds(s)]
        onsets = sorted(onset(s) for s in playing)
        if len(playing) < 2 or len(set(onsets)) != len(onsets):
            return None
        k = int(rng.integers(min(3, len(playing))))
        ordered = sorted(playing, key=onset)
        return [("first", "second", "third")[k]], ordered[k]["name"]

    def first_last_where(scene, rng, want):  # AV: where is the first / last sounding instrument
        which = _pick(rng, ("first", "last"))
        s = by_onset(visible(scene), which)
        if s is None or sum(sounds(o) for o in visible(scene)) < 2:
            return None
        return [which], s["region"]

    def which_copy(scene, rng, want):  # AV: which of the two <Object> in the frame makes the sound first / last
        options = [pair for n in visible_types(scene) if len(pair := same_type_pair(scene, n)) == 2]
        if not options:
            return None
        which, pair = _pick(rng, ("first", "last")), _pick(rng, options)
        return [pair[0]["name"], which], which_copy_answer(pair, which)

    def before_after(scene, rng, want):  # AV: which instrument makes sounds before / after the <Object>
        playing = [s for s in visible(scene) if sounds(s) and unique_visible(scene, s["name"])]
        options = []
        for s in playing:
            for which in ("before", "after"):
                others = [o for o in playing if (onset(o) < onset(s) if which == "before" else onset(o) > onset(s))]
                if not others:
                    continue
                t = max(map(onset, others)) if which == "before" else min(map(onset, others))
                hits = [o for o in others if onset(o) == t]
                if len(hits) == 1:
                    options.append((which, s, hits[0]))
        if not options:
            return None
        which, s, other = _pick(rng, options)
        return [which, s["name"]], other["name"]

    def n_heard(scene):
        return len(heard_types(scene)) or None

    return {
        "Are there <Object> and <Object> sound? ": two_present(heard_types, visible_types),
        "How many musical instruments were heard throughout the video?": count(n_heard),
        "Is there a <Object> sound?": one_present(heard_types, visible_types),
        "Is the <Object> louder than the <Object>?": heard_pair(lambda s: s["gain_db"], LOUDER_DB),
        "Is the <Object> more rhythmic than the <Object>?": heard_pair(lambda s: s["rate"], 1),
        "Is the <Object> playing longer than the <Object>?": heard_pair(lambda s: sum(s["mask"]), LONGER_SEGMENTS),
        "Are there <Object> and <Object> instruments in the video?": two_present(visible_types, heard_types),
        "How many <Object> are in the entire video?": object_count,
        "How many types of musical instruments appeared in the entire video?":
            count(lambda sc: len(visible_types(sc)) or None),
        "Is there a <Object> in the entire video?": one_present(visible_types, heard_types),
        "What is the instrument on the <LR> of <Object>?": beside,
        "What kind of instrument is the <LRer> instrument? ": extreme,
        "What kind of musical instrument is it?": solo,
        "Where is the performance?": lambda scene, rng, want: ([], scene["venue"]),
        "How many instruments are sounding in the video?": count(lambda sc: sum(sounds(s) for s in visible(sc))),
        "How many instruments in the video did not sound from beginning to end?":
            count(lambda sc: sum(not sounds(s) for s in visible(sc))),
        "How many sounding <Object> in the video？": sounding_object_count,
        "How many types of musical instruments sound in the video?":
            count(lambda sc: len({s["name"] for s in visible(sc) if sounds(s)})),
        "Is the <Object> on the <LR> louder than the <Object> on the <LR>?":
            placed_pair(lambda s: s["gain_db"], LOUDER_DB, named=True),
        "Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?":
            placed_pair(lambda s: s["rate"], 1, named=True),
        "Is the instrument on the <LR> louder than the instrument on the <LR>?":
            placed_pair(lambda s: s["gain_db"], LOUDER_DB, named=False),
        "Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?":
            placed_pair(lambda s: s["rate"], 1, named=False),
        "Is the <FL> sound coming from the <LR> instrument?": first_last_from,
        "What is the <LR> instrument of the <FL> sounding instrument?": beside_first_last,
        "Where is the <LL> instrument?": loudest_where,
        "Which is the musical instrument that sounds at the same time as the <Object>?": same_time,
        "Is the <Object> in the video always playing?": always,
        "Is there a voiceover?": voiceover,
        "Is this sound from the instrument in the video?": from_video,
        "What is the <TH> instrument that comes in?": comes_in,
        "Where is the <FL> sounding instrument?": first_last_where,
        "Which <Object> makes the sound <FL>?": which_copy,
        "Which instrument makes sounds <BA> the <Object>?": before_after,
    }


YES_NO = "yes|no"


def is_yes_no(example_answers: str) -> bool:
    """Whether a template's typical answers (the CSV column) are yes/no: such templates are balanced."""
    return set(str(example_answers).split("|")) == {"yes", "no"}
