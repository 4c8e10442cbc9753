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
"""

import numpy as np
import torch

from avlib.data.embedded.avscenes.media import INSTRUMENTS, SEGMENTS
from avlib.data.embedded.avscenes.questions import sounds

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


def train_modality_probe(job: dict, data: dict) -> dict:
    """One probe: job {"view": key of VIEWS, "seed", "epochs", "hidden", "lr"}; data {"train", "eval"} each
    {"x": {block: tensor}, "y": labels, "modality": [N] strings}, "n_answers". Returns accuracy per
    modality group on data["eval"] (and overall), and on data["train"] as "train <group>" / "train overall": a
    probe that fits train far better than eval has memorized, and its eval gaps say little about the data."""
    torch.manual_seed(job["seed"])
    def inputs(split):
        return torch.cat([data[split]["x"]["question"], *(data[split]["x"][b] for b in VIEWS[job["view"]])], dim=1)
    x, y = inputs("train"), data["train"]["y"]  # train answers are all known (index >= 0)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], job["hidden"]), torch.nn.ReLU(),
                              torch.nn.Linear(job["hidden"], data["n_answers"]))
    opt = torch.optim.Adam(net.parameters(), lr=job["lr"], weight_decay=1e-4)
    g = torch.Generator().manual_seed(job["seed"])
    for _ in range(job["epochs"]):
        for idx in torch.randperm(len(y), generator=g).split(64):
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    out = {"view": job["view"], "seed": job["seed"]}
    for split, prefix in (("train", "train "), ("eval", "")):
        with torch.no_grad():
            right = (net(inputs(split)).argmax(1) == data[split]["y"]).numpy()
        groups = np.asarray(data[split]["modality"])
        out |= {f"{prefix}overall": float(right.mean()),
                **{f"{prefix}{m}": float(right[groups == m].mean()) for m in sorted(set(groups))}}
    return out


def probe_data(records: dict, scenes: dict) -> dict:
    """The `data` of train_modality_probe: records {"train": [QARecord], "eval": [QARecord]} (from AV-Scenes
    annotations) and the scenes they ask about. Answers are indexed over the train answers; an eval question
    whose answer train never has counts as wrong for every view."""
    templates = sorted({r.template for rs in records.values() for r in rs})
    values = sorted({v for r in records["train"] for v in r.values})
    answers = sorted({r.answer for r in records["train"]})
    out = {"n_answers": len(answers)}
    for key, rs in records.items():
        y = torch.tensor([answers.index(r.answer) if r.answer in answers else -1 for r in rs], dtype=torch.int64)
        out[key] = {"x": design(rs, scenes, templates, values), "y": y, "modality": [r.modality for r in rs]}
    return out
