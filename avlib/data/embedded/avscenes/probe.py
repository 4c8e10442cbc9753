"""The modality check of AV-Scenes: can a question be answered from the modality its type names, and only
from it? Small MLPs are trained on the question alone, the question + what is HEARD, the question + what is
SEEN, and the question + both, and compared per modality group (Audio / Visual / Audio-Visual questions).

What is heard / seen is the scene's ground truth restricted to one modality (not the extracted features: this
checks the questions and their answers, whatever an extractor keeps):
  heard  per instrument type: its sounding mask (10), gain, rate (one-hot of 1/2/4 notes/s), heard at all;
         off-screen sources included, silent visible ones absent.
  seen   per instrument type: how many are in the frame in each region (left/middle/right) and in all; the venue.
  both   heard + seen + what links them: per type, the seen counts per region times its heard flag, gain and
         mask (a small MLP does not find these products from a few thousand questions).
A question is the one-hot of its template and of each placeholder value; each placeholder that names an
instrument also gathers that instrument's row of the view ("slot" features), so a small MLP need not learn
the lookup.

The probes must generalize, or their val gaps say little about the data: each is trained on a fit part of a
pool of extra generated scenes (probe_pool) and stopped on a held-out part of it (split_heldout, by scene), and the
capacity (hidden width x weight decay, a small grid) is chosen per view on held-out accuracy among the settings
that do not memorize (fit - held-out accuracy <= a stated bound; choose_probes). Val is read only by the chosen
probes, once (modality_check): it is where the verdict is read, so nothing is chosen on it.
"""

import numpy as np
import torch

from avlib.core.matmul import openblas_matmuls
from avlib.data.embedded.avscenes.media import INSTRUMENTS, SEGMENTS
from avlib.data.embedded.avscenes.questions import sounds
from avlib.data.embedded.avscenes.scenes import AVScenesConfig, as_records, ask, load_templates, quotas, sample_scene

VIEWS = {"question": (), "audio": ("audio",), "visual": ("visual",), "audio-visual": ("audio", "visual", "joint")}
RATES = (1, 2, 4)
REGIONS = ("left", "middle", "right")
MAX_SLOTS = 4


def heard_view(scene) -> np.ndarray:
    """[types, 15]: mask (10), gain (scaled), rate one-hot (3), heard."""
    out = np.zeros((len(INSTRUMENTS), SEGMENTS + 5), np.float32)
    done = set()
    for s in scene["sources"]:
        if not sounds(s) or s["group"] in done:
            continue
        done.add(s["group"])
        row = out[INSTRUMENTS.index(s["name"])]
        row[:SEGMENTS] = np.maximum(row[:SEGMENTS], s["mask"])  # a staggered copy (own group) adds its segments
        row[SEGMENTS] = (s["gain_db"] + 18) / 18
        row[SEGMENTS + 1 + RATES.index(s["rate"])] = 1
        row[-1] = 1
    return out


def seen_view(scene) -> tuple:
    """([types, 4] counts per region and in all, venue flag)."""
    out = np.zeros((len(INSTRUMENTS), 4), np.float32)
    for s in scene["sources"]:
        if s["visible"]:
            out[INSTRUMENTS.index(s["name"]), REGIONS.index(s["region"])] += 1
            out[INSTRUMENTS.index(s["name"]), 3] += 1
    return out, float(scene["venue"] == "indoor")


def design(records, scenes, templates: list, values: list) -> dict:
    """{"question": [N, q], "audio": [N, a], "visual": [N, v]} float32 feature blocks of `records`."""
    blocks = {"question": [], "audio": [], "visual": [], "joint": []}
    for r in records:
        scene = scenes[r.video_id]
        q = np.zeros(len(templates) + MAX_SLOTS * len(values), np.float32)
        q[templates.index(r.template)] = 1
        heard, (seen, venue) = heard_view(scene), seen_view(scene)
        slots_a = np.zeros((MAX_SLOTS, heard.shape[1]), np.float32)
        slots_v = np.zeros((MAX_SLOTS, seen.shape[1]), np.float32)
        # what links the two: per type, its seen counts per region times its heard row (flag, gain, mask)
        joint = seen[:, :3, None] * np.concatenate([heard[:, -1:], heard[:, SEGMENTS : SEGMENTS + 1],
                                                    heard[:, :SEGMENTS]], axis=1)[:, None, :]
        slots_j = np.zeros((MAX_SLOTS,) + joint.shape[1:], np.float32)
        for k, value in enumerate(r.values[:MAX_SLOTS]):
            if value in values:
                q[len(templates) + k * len(values) + values.index(value)] = 1
            if value in INSTRUMENTS:
                t = INSTRUMENTS.index(value)
                slots_a[k], slots_v[k], slots_j[k] = heard[t], seen[t], joint[t]
        blocks["question"].append(q)
        blocks["audio"].append(np.concatenate([slots_a.ravel(), heard.ravel()]))
        blocks["visual"].append(np.concatenate([slots_v.ravel(), seen.ravel(), [venue]]))
        blocks["joint"].append(np.concatenate([slots_j.ravel(), joint.ravel()]))
    return {k: torch.from_numpy(np.stack(v).astype(np.float32)) for k, v in blocks.items()}


POOL_STREAM = 2**32 - 1  # the pool's random stream: [seed, POOL_STREAM]; the data draws from seed and [seed, video]


def probe_pool(config: AVScenesConfig, n_scenes: int) -> tuple[list, dict]:
    """(QARecords, {video id: scene}): `n_scenes` extra scenes drawn as the data's (sample_scene with `config`'s
    knobs) on a stream the data never draws from, asked `config.questions_per_video` questions each in the
    templates' test-count proportions (`ask`, as the generator does). Scenes and questions only (no media); ids
    "pool000000"... The probes are fit on these, so that they learn what a question needs from enough examples."""
    rng = np.random.default_rng([config.seed, POOL_STREAM])
    scenes = {f"pool{i:06d}": sample_scene(rng, config) for i in range(n_scenes)}
    templates = load_templates()
    quota = quotas(n_scenes * config.questions_per_video, templates["n_test"])
    return as_records(ask(scenes, list(scenes), templates, quota, rng)), scenes


def split_heldout(records: list, fraction: float, seed: int) -> tuple[list, list]:
    """(fit, held-out): `records` (the train split's QARecords) parted by video, so that no video has questions
    on both sides. round(fraction * videos) videos (at least one, and at least one left to fit), drawn by `seed`
    from the sorted video ids, are held out; the rest are fit. Order within each part is the records' order."""
    videos = sorted({r.video_id for r in records})
    if len(videos) < 2:
        raise ValueError(f"a held-out part needs >= 2 train videos, got {len(videos)}")
    n_held = min(max(round(fraction * len(videos)), 1), len(videos) - 1)
    held = set(np.random.default_rng(seed).permutation(videos)[:n_held].tolist())
    return [r for r in records if r.video_id not in held], [r for r in records if r.video_id in held]


def _inputs(part: dict, view: str) -> torch.Tensor:
    return torch.cat([part["x"]["question"], *(part["x"][b] for b in VIEWS[view])], dim=1)


def _net(n_in: int, hidden: int, n_out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out))


def _accuracy(net, part: dict, view: str, prefix: str) -> dict:
    """{"<prefix>overall", "<prefix><group>"...}: accuracy of `net` on a part, overall and per modality group."""
    with torch.no_grad():
        right = (net(_inputs(part, view)).argmax(1) == part["y"]).numpy()
    groups = np.asarray(part["modality"])
    return {f"{prefix}overall": float(right.mean()),
            **{f"{prefix}{m}": float(right[groups == m].mean()) for m in sorted(set(groups))}}


@openblas_matmuls()  # MLPs: their time is in matrix products (avlib/core/matmul.py)
def train_modality_probe(job: dict, data: dict) -> dict:
    """One probe of the selection grid, trained on the fit part and stopped on the held-out part; val is not
    in `data` (a ValueError if it is): nothing this chooses can depend on it.

    job {"view": key of VIEWS, "seed", "hidden", "weight_decay", "lr", "batch", "epochs" (at most), "patience",
    "max_gap"}; data {"fit", "heldout"} each {"x": {block: tensor}, "y": labels, "modality": [N] strings},
    "n_answers" (probe_data, less "eval"). After every epoch the probe is scored on fit and held-out; an epoch
    is eligible when its fit - held-out accuracy is <= max_gap (it does not memorize). The weights kept are
    the eligible epoch's with the best held-out accuracy (the earliest of ties; if no epoch is eligible, the
    epoch with the smallest gap); training stops `patience` epochs after the kept epoch, or at `epochs`.
    Returns the job's keys, "epoch" (the kept one), "epochs run", "eligible", accuracy on fit ("train overall",
    "train <group>") and held-out ("heldout overall", "heldout <group>") at the kept epoch, and "state" (its
    weights, for score_probe)."""
    if set(data) - {"fit", "heldout", "n_answers"}:
        raise ValueError(f"the probes' selection sees the train split only (fit, heldout), got {sorted(data)}")
    torch.manual_seed(job["seed"])
    x, y = _inputs(data["fit"], job["view"]), data["fit"]["y"]  # train answers are all known (index >= 0)
    net = _net(x.shape[1], job["hidden"], data["n_answers"])
    opt = torch.optim.Adam(net.parameters(), lr=job["lr"], weight_decay=job["weight_decay"])
    g = torch.Generator().manual_seed(job["seed"])
    best, best_key = None, None
    for epoch in range(1, job["epochs"] + 1):
        for idx in torch.randperm(len(y), generator=g).split(job["batch"]):
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        scores = _accuracy(net, data["fit"], job["view"], "train ") | _accuracy(net, data["heldout"], job["view"],
                                                                                "heldout ")
        gap = scores["train overall"] - scores["heldout overall"]
        eligible = gap <= job["max_gap"]
        key = (eligible, scores["heldout overall"] if eligible else -gap)
        if best_key is None or key > best_key:
            best_key = key
            best = {"epoch": epoch, "eligible": eligible, **scores,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        if epoch - best["epoch"] >= job["patience"]:
            break
    return {k: job[k] for k in ("view", "seed", "hidden", "weight_decay")} | {"epochs run": epoch} | best


def choose_probes(results: list, max_gap: float) -> dict:
    """{view: {"hidden", "weight_decay", "heldout", "gap", "eligible", "grid"}}: per view, the grid setting whose probes
    (one per seed) have the best mean held-out accuracy among the settings whose every probe kept an eligible
    epoch (fit - held-out <= max_gap); if no setting has, the one with the smallest mean fit - held-out gap.
    "grid": {(hidden, weight_decay): {"heldout", "gap", "eligible"}} of every setting (means over seeds).
    Reads only the train split's numbers (fit and held-out accuracy): the results of train_modality_probe
    hold no val accuracy, and this never asks for one."""
    settings = {}
    for r in results:
        settings.setdefault(r["view"], {}).setdefault((r["hidden"], r["weight_decay"]), []).append(r)
    out = {}
    for view, by_setting in settings.items():
        summary = {s: {"heldout": float(np.mean([r["heldout overall"] for r in rs])),
                       "gap": float(np.mean([r["train overall"] - r["heldout overall"] for r in rs])),
                       "eligible": all(r["eligible"] for r in rs) and float(np.mean(
                           [r["train overall"] - r["heldout overall"] for r in rs])) <= max_gap}
                   for s, rs in by_setting.items()}
        ok = [s for s in summary if summary[s]["eligible"]]
        pick = (max(ok, key=lambda s: summary[s]["heldout"]) if ok else min(summary, key=lambda s: summary[s]["gap"]))
        out[view] = {"hidden": pick[0], "weight_decay": pick[1], **summary[pick], "grid": summary}
    return out


def score_probe(result: dict, part: dict, n_answers: int, prefix: str = "") -> dict:
    """Accuracy of a trained probe (a result of train_modality_probe, with its "state") on one part of
    probe_data (e.g. data["eval"], val), overall and per modality group, keys prefixed by `prefix`. An eval
    question whose answer train never has counts as wrong."""
    state = result["state"]
    net = _net(state["0.weight"].shape[1], result["hidden"], n_answers)
    net.load_state_dict(state)
    return _accuracy(net, part, result["view"], prefix)


def modality_check(results: list, choice: dict, data: dict) -> list:
    """The chosen probes (choose_probes: one setting per view, every seed), each scored on val (data["eval"])
    only now, after the choice: their train (fit), held-out and val accuracies (val keys unprefixed), without
    weights."""
    out = []
    for r in results:
        if (r["hidden"], r["weight_decay"]) == (choice[r["view"]]["hidden"], choice[r["view"]]["weight_decay"]):
            out.append({k: v for k, v in r.items() if k != "state"} | score_probe(r, data["eval"], data["n_answers"]))
    return out


def selection_data(data: dict) -> dict:
    """probe_data less "eval": what the selection grid (train_modality_probe) may see."""
    return {k: v for k, v in data.items() if k != "eval"}


def probe_data(records: dict, scenes: dict) -> dict:
    """The `data` of the probes: records {"fit": [QARecord], "heldout": [QARecord], "eval": [QARecord]} (fit +
    held-out = the questions the probes learn from, e.g. probe_pool's, parted by split_heldout; eval = val) and
    the scenes they ask about. Placeholder values and answers are indexed over fit + held-out, as a model trained
    on them would; a question whose answer they never have counts as wrong for every view."""
    train = records["fit"] + records["heldout"]
    templates = sorted({r.template for rs in records.values() for r in rs})
    values = sorted({v for r in train for v in r.values})
    answers = sorted({r.answer for r in train})
    out = {"n_answers": len(answers)}
    for key, rs in records.items():
        y = torch.tensor([answers.index(r.answer) if r.answer in answers else -1 for r in rs], dtype=torch.int64)
        out[key] = {"x": design(rs, scenes, templates, values), "y": y, "modality": [r.modality for r in rs]}
    return out
