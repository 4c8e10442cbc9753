"""MUSIC-AVQA question answering data, shared by the real loader (`music_avqa.py`) and the embedded
AV-Scenes (`avscenes.py`): the annotation format, question tokenization, vocabularies and the in-memory
dataset both return.

The annotation format (Li et al., CVPR 2022; the official `avqa-{train,val,test}.json`): a JSON list of
records
    {"video_id": "00000272", "question_id": 7, "type": "[\"Audio\", \"Counting\"]",
     "question_content": "Is the <Object> louder than the <Object>?", "templ_values": "[\"cello\", \"piano\"]",
     "question_deleted": 0, "anser": "yes"}
`type` and `templ_values` are JSON-encoded lists inside strings; `anser` (sic) is the answer. Two templates
end in a space after the "?", one ends in a full-width "？".

Tokenization follows the official code: the trailing "?" (or "？") is stripped, each placeholder
(`<Object>`, `<LR>`, ...) is replaced, in order, by the next value of `templ_values`, and the question is
split on spaces and padded to 14 tokens. Unlike the official code we also lower-case (its vocabulary holds
"Is" and "is" apart) and map words unseen in train to "<unk>" (index 1; "<pad>" is 0) instead of failing.
Both vocabularies are built from the train split only; a val/test answer train never has gets label -100
(`UNSEEN_ANSWER`: ignored by cross_entropy, and counted wrong since no model predicts it).

Items: {"audio": float32 [T, 128], "visual": float32 [T, 512, H, W], "question": int64 [14],
"label": int64 answer index, "type": int64 index into `dataset.types`, "video": int64 video index}.
Features are held once per video and gathered per batch (`__getitems__`), so one video's 10 x 512 x H x W
map is not copied for each of its questions.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from avlib.data.errors import DatasetError

MAX_QUESTION_LEN = 14  # the official code pads every question to 14 tokens (the longest template)
PAD, UNK = "<pad>", "<unk>"
UNSEEN_ANSWER = -100  # label of an answer train never has: cross_entropy's ignore_index; never predicted, so wrong
# The 9 question types of the paper's Table 2, in its order, spelled "<Modality>/<Type>" from the JSON.
TYPES = ("Audio/Counting", "Audio/Comparative", "Visual/Counting", "Visual/Location",
         "Audio-Visual/Existential", "Audio-Visual/Counting", "Audio-Visual/Location",
         "Audio-Visual/Comparative", "Audio-Visual/Temporal")
MODALITIES = ("Audio", "Visual", "Audio-Visual")
PLACEHOLDER = re.compile(r"<[A-Za-z]+>")
RECORD_KEYS = ("video_id", "question_id", "type", "question_content", "templ_values", "anser")


@dataclass(frozen=True)
class QARecord:
    """One parsed annotation record."""

    video_id: str
    question_id: int
    type: str  # "<Modality>/<Type>", e.g. "Audio-Visual/Temporal"
    template: str  # question_content as written (placeholders kept, quirks kept)
    values: tuple  # templ_values
    answer: str
    deleted: bool

    @property
    def modality(self) -> str:
        return self.type.split("/")[0]

    @property
    def tokens(self) -> list:
        return tokenize(self.template, self.values)


def template_key(template: str) -> str:
    """A template without its quirks (surrounding spaces, the trailing "?"/"？"): how templates are matched."""
    return template.strip().rstrip("?？").strip()


def fill(template: str, values) -> str:
    """The question with its placeholders replaced, in order, by `values` (the question mark kept)."""
    values = list(values)
    n = len(PLACEHOLDER.findall(template))
    if n != len(values):
        raise ValueError(f"{n} placeholders but {len(values)} templ_values")
    it = iter(values)
    return PLACEHOLDER.sub(lambda _m: str(next(it)), template)


def tokenize(template: str, values) -> list:
    """Question tokens as the official code makes them (module docstring), lower-cased."""
    return fill(template_key(template), values).lower().split()


def read_annotations(path, *, keep_deleted: bool = False) -> list:
    """The QARecords of one official annotation file; malformed records raise a DatasetError naming the file
    and the record. Records with `question_deleted` set are dropped unless `keep_deleted`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotation file {path} not found; expected the official avqa-<split>.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"annotation file {path} is not valid JSON ({err})") from None
    if not isinstance(raw, list):
        raise DatasetError(f"annotation file {path} holds a {type(raw).__name__}; expected a list of records")
    if not raw:
        raise DatasetError(f"annotation file {path} holds no records ([]); expected a list of question records")
    records = [_parse_record(r, path, i) for i, r in enumerate(raw)]
    return [r for r in records if keep_deleted or not r.deleted]


def _parse_record(r, path, i) -> QARecord:
    where = f"annotation file {path}, record {i}"
    if not isinstance(r, dict):
        raise DatasetError(f"{where} is a {type(r).__name__}; expected an object")
    missing = [k for k in RECORD_KEYS if k not in r]
    if missing:
        raise DatasetError(f"{where} lacks {missing}; expected the keys {list(RECORD_KEYS)}")
    qid = r["question_id"]
    if isinstance(qid, bool) or not (isinstance(qid, int) or (isinstance(qid, str) and qid.strip().isdigit())):
        raise DatasetError(f"{where}: question_id {qid!r}; expected an integer")
    where += f" (question_id {qid})"
    kind = _json_list(r["type"], where, "type")
    if len(kind) != 2 or not all(isinstance(k, str) for k in kind) or "/".join(kind) not in TYPES:
        raise DatasetError(f"{where}: type {r['type']!r}; expected a JSON list [modality, type] naming one of "
                           f"{list(TYPES)} (as '<Modality>/<Type>')")
    values = _json_list(r["templ_values"], where, "templ_values")
    template = r["question_content"]
    if not isinstance(template, str):
        raise DatasetError(f"{where}: question_content {template!r}; expected a string")
    try:
        fill(template, values)
    except ValueError as err:
        raise DatasetError(f"{where}: question_content {template!r} with templ_values {r['templ_values']!r}: "
                           f"{err}; expected one value per placeholder") from None
    tokens = tokenize(template, values)
    if len(tokens) > MAX_QUESTION_LEN:
        raise DatasetError(f"{where}: the question has {len(tokens)} tokens; expected at most {MAX_QUESTION_LEN}")
    return QARecord(video_id=str(r["video_id"]), question_id=int(r["question_id"]), type="/".join(kind),
                    template=template, values=tuple(str(v) for v in values), answer=str(r["anser"]),
                    deleted=bool(int(r.get("question_deleted", 0) or 0)))


def _json_list(text, where, key) -> list:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        raise DatasetError(f"{where}: {key} {text!r}; expected a JSON-encoded list such as '[\"Audio\", \"Counting\"]'")
    return value


def encode_record(record: dict) -> dict:
    """A QARecord-like dict -> the JSON record of the official format (what AV-Scenes writes)."""
    modality, kind = record["type"].split("/")
    return {"video_id": record["video_id"], "question_id": int(record["question_id"]),
            "type": json.dumps([modality, kind]), "question_content": record["template"],
            "templ_values": json.dumps(list(record["values"])), "question_deleted": 0, "anser": record["answer"]}


class Vocab:
    """Tokens <-> indices. Question vocabularies start with "<pad>" (0) and "<unk>" (1)."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a vocabulary holds each token once")

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token) -> bool:
        return token in self.index

    @classmethod
    def questions(cls, records) -> "Vocab":
        """Every question word of `records` (train), in order of first appearance after <pad>, <unk>."""
        seen = dict.fromkeys([PAD, UNK])
        for r in records:
            seen.update(dict.fromkeys(r.tokens))
        return cls(seen)

    @classmethod
    def answers(cls, records) -> "Vocab":
        """Every answer of `records` (train), sorted (the official code keeps first appearance; sorted is
        stable whatever the record order)."""
        return cls(sorted({r.answer for r in records}))

    def encode_question(self, tokens, length: int = MAX_QUESTION_LEN) -> torch.Tensor:
        """tokens -> int64 [length], unknown words -> <unk>, padded with <pad>."""
        ids = [self.index.get(t, self.index[UNK]) for t in tokens][:length]
        return torch.tensor(ids + [self.index[PAD]] * (length - len(ids)), dtype=torch.int64)

    def decode_question(self, ids) -> list:
        return [self.tokens[i] for i in ids if self.tokens[i] != PAD]


class QADataset(torch.utils.data.Dataset):
    """QA pairs over per-video features held in memory.

    audio_feats  float32 [V, T, 128]         one row per video (`video_ids`)
    visual_feats float16/32 [V, T, 512, H, W]
    question [N, 14], label [N], type [N], video [N] (int64): one row per question; `video` indexes the
    feature rows. Batches come back in float32 whatever the stored dtype.
    """

    types = list(TYPES)

    def __init__(self, *, audio_feats, visual_feats, video_ids, records, question_vocab, answer_vocab,
                 name: str = "avqa"):
        self.audio_feats, self.visual_feats, self.video_ids = audio_feats, visual_feats, list(video_ids)
        self.records, self.question_vocab, self.answer_vocab = list(records), question_vocab, answer_vocab
        self.name = name
        row = {v: i for i, v in enumerate(self.video_ids)}
        self.question = (torch.stack([question_vocab.encode_question(r.tokens) for r in self.records])
                         if self.records else torch.zeros(0, MAX_QUESTION_LEN, dtype=torch.int64))
        self.label = torch.tensor([answer_vocab.index.get(r.answer, UNSEEN_ANSWER) for r in self.records],
                                  dtype=torch.int64)
        self.type = torch.tensor([TYPES.index(r.type) for r in self.records], dtype=torch.int64)
        self.video = torch.tensor([row[r.video_id] for r in self.records], dtype=torch.int64)

    @property
    def n_answers(self) -> int:
        return len(self.answer_vocab)

    @property
    def n_classes(self) -> int:
        return len(self.answer_vocab)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        batch = self.__getitems__(torch.tensor([i]))
        return {k: v[0] for k, v in batch.items()}

    def __getitems__(self, indices):
        """A whole batch in one gather per tensor (indices: a list or a LongTensor)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        video = self.video[idx]
        return {"audio": self.audio_feats[video].float(), "visual": self.visual_feats[video].float(),
                "question": self.question[idx], "label": self.label[idx], "type": self.type[idx], "video": video}

    def subset(self, indices) -> "QADataset":
        """The questions at `indices` (same features, vocabularies and types)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__dict__)
        out.records = [self.records[i] for i in idx.tolist()]
        for key in ("question", "label", "type", "video"):
            setattr(out, key, getattr(self, key)[idx])
        return out
