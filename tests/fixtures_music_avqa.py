"""A tiny MUSIC-AVQA fixture in the official on-disk format: avqa-{train,val,test}.json + feats/*/<id>.npy.

The records cover every placeholder, both quirks of the real files (a template ending in a space after the
"?", the full-width "？") and a deleted record.
"""

import json
from pathlib import Path

import numpy as np

VIDEOS = ("00000001", "00000002", "00000003")
TRAIN = [  # (video, type, template, values, answer)
    ("00000001", ["Audio", "Counting"], "Are there <Object> and <Object> sound? ", ["cello", "piano"], "yes"),
    ("00000001", ["Visual", "Location"], "What is the instrument on the <LR> of <Object>?", ["left", "violin"],
     "cello"),
    ("00000002", ["Visual", "Location"], "What kind of instrument is the <LRer> instrument? ", ["leftmost"], "piano"),
    ("00000002", ["Audio-Visual", "Counting"], "How many sounding <Object> in the video？", ["violin"], "two"),
    ("00000002", ["Audio-Visual", "Location"], "Is the <FL> sound coming from the <LR> instrument?", ["first", "right"],
     "no"),
    ("00000003", ["Audio-Visual", "Temporal"], "What is the <TH> instrument that comes in?", ["second"], "violin"),
    ("00000003", ["Audio-Visual", "Location"], "Where is the <LL> instrument?", ["loudest"], "left"),
    ("00000003", ["Audio-Visual", "Temporal"], "Which instrument makes sounds <BA> the <Object>?", ["before", "cello"],
     "piano"),
    ("00000003", ["Audio", "Counting"], "Is there a <Object> sound?", ["tuba"], "yes"),  # deleted below
]
DELETED_INDEX = 8
TEST = [
    ("00000001", ["Audio-Visual", "Existential"], "Is there a voiceover?", [], "no"),
    ("00000002", ["Visual", "Location"], "What kind of instrument is the <LRer> instrument? ", ["rightmost"], "cello"),
]


def record(i, video, kind, template, values, answer, deleted=0) -> dict:
    return {"video_id": video, "question_id": i, "type": json.dumps(kind), "question_content": template,
            "templ_values": json.dumps(values), "question_deleted": deleted, "anser": answer}


def write_fixture(root, *, pooled: bool = False, seconds: int = 60) -> Path:
    """The fixture under `root`; visual maps [60, 512, 14, 14] (or pooled [60, 512]). Returns root."""
    root = Path(root)
    (root / "feats" / "vggish").mkdir(parents=True, exist_ok=True)
    (root / "feats" / "res18_14x14").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for v in VIDEOS:
        np.save(root / "feats" / "vggish" / f"{v}.npy", rng.normal(size=(seconds, 128)).astype(np.float32))
        shape = (seconds, 512) if pooled else (seconds, 512, 14, 14)
        np.save(root / "feats" / "res18_14x14" / f"{v}.npy", rng.normal(size=shape).astype(np.float32))
    train = [record(i, *r, deleted=int(i == DELETED_INDEX)) for i, r in enumerate(TRAIN)]
    test = [record(100 + i, *r) for i, r in enumerate(TEST)]
    for split, records in (("train", train), ("val", test[:1]), ("test", test)):
        (root / f"avqa-{split}.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return root
