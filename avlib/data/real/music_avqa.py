"""MUSIC-AVQA (Li et al., CVPR 2022) from the official annotations and pre-extracted features.

On disk, under `root` (the layout of the official code's defaults, `./data/feats/...`, with the JSON files
beside `feats/`):
  avqa-{train,val,test}.json          the official annotations (see avlib/data/avqa.py); with
                                      `variant="real"` / `"fake"`: avqa-{split}_real.json / _fake.json
  feats/vggish/<video_id>.npy         audio: VGGish embeddings, float [60, 128] (one per second)
  feats/res18_14x14/<video_id>.npy    visual: ResNet-18 last-block maps, float [60, 512, 14, 14]
                                      (or pooled [60, 512], returned as [T, 512, 1, 1])
The folder names are parameters (`audio_dir`, `visual_dir`). As the official code does, every `stride`-th
second is kept: 60 seconds -> T = 10 segments.

Corrected annotations: the official release also has `json_update/` (`root/json_update/avqa-<split>.json`, same
format) with corrected records (9,129 test questions); it fixes the original avqa-test.json's 55 question IDs
that occur twice with two different answers (27 such IDs in avqa-val.json). `annotations="auto"` (the default)
reads json_update/avqa-<split>.json when it exists and the original file otherwise; "json_update" or "original"
insist on one (an absent file is an error naming it).
Duplicated question IDs in whatever file is read: an ID whose copies disagree (different answer, template,
values, type or video) is DROPPED, every copy of it: the file gives two labels for one question and nothing says
which is right (json_update is the fix); copies that agree are kept once. Either case is named in ONE warning per
file, with the counts and the IDs, never silently.

The question and answer vocabularies are built from the train annotations whatever the split (val and test
words unseen in train become "<unk>"; an answer unseen in train is an error). Records flagged
`question_deleted` are dropped (`keep_deleted=True` keeps them).

A full split's 14x14 maps do not fit in memory (4 MB per video in float32), so by default features are read
per batch from memory-mapped `.npy` files; `preload=True` holds them all (small subsets, tests).
"""

import warnings
from pathlib import Path

import numpy as np
import torch

from avlib.data.errors import DatasetError
from avlib.data.qa import QADataset, Vocab, read_annotations

AUDIO_SHAPE = (60, 128)
UPDATE_DIR = "json_update"  # the official release's corrected annotations
ANNOTATIONS = ("auto", "json_update", "original")


def annotation_path(root, split: str, variant: str = "", annotations: str = "auto") -> Path:
    """The annotation file of `split`: root/json_update/avqa-<split>.json when `annotations` is "json_update",
    or "auto" and that file exists; else root/avqa-<split>.json (with `_<variant>` for variant "real" / "fake")."""
    if variant not in ("", "real", "fake"):
        raise DatasetError(f"music_avqa: variant={variant!r}; expected '', 'real' or 'fake'")
    if annotations not in ANNOTATIONS:
        raise DatasetError(f"music_avqa: annotations={annotations!r}; expected one of {ANNOTATIONS}")
    name = f"avqa-{split}{'_' + variant if variant else ''}.json"
    updated = Path(root) / UPDATE_DIR / name
    if annotations == "json_update" or (annotations == "auto" and updated.is_file()):
        return updated
    return Path(root) / name


def read_split(root, split: str, variant: str = "", annotations: str = "auto", keep_deleted: bool = False) -> list:
    """The records of `split` (`annotation_path`), duplicated question IDs resolved by `drop_conflicting_ids`."""
    path = annotation_path(root, split, variant, annotations)
    return drop_conflicting_ids(read_annotations(path, keep_deleted=keep_deleted), path)


def _content(r) -> tuple:
    return r.video_id, r.type, r.template, tuple(r.values), r.answer


def drop_conflicting_ids(records: list, path) -> list:
    """`records` with each duplicated question ID resolved: copies that disagree (answer, template, values, type
    or video) are all dropped (two labels for one question, neither known right); copies that agree are kept once.
    One warning per call names the IDs of both kinds and their counts."""
    copies: dict = {}
    for r in records:
        copies.setdefault(r.question_id, []).append(r)
    conflicting = sorted(q for q, rs in copies.items() if len({_content(r) for r in rs}) > 1)
    repeated = sorted(q for q, rs in copies.items() if len(rs) > 1 and q not in conflicting)
    if not conflicting and not repeated:
        return records
    parts = []
    if conflicting:
        parts.append(f"{len(conflicting)} question ID(s) occur more than once with different answers or content "
                     f"and are DROPPED, every copy (nothing says which label is right; the release's {UPDATE_DIR}/ "
                     f"corrects them): {conflicting}")
    if repeated:
        parts.append(f"{len(repeated)} question ID(s) occur more than once with identical records and are kept "
                     f"once: {repeated}")
    warnings.warn(f"music_avqa: {path}: " + "; ".join(parts), stacklevel=3)
    drop, seen, out = set(conflicting), set(), []
    for r in records:
        if r.question_id in drop or r.question_id in seen:
            continue
        seen.add(r.question_id)
        out.append(r)
    return out


class NpyFeatures:
    """Per-video `.npy` features, read when indexed: features[LongTensor of rows] -> tensor [B, T, ...]."""

    def __init__(self, paths: list, stride: int, n_segments: int, expand_pooled: bool):
        self.paths, self.stride, self.n_segments, self.expand_pooled = paths, stride, n_segments, expand_pooled

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> torch.Tensor:
        array = np.load(self.paths[i], mmap_mode="r")
        sampled = np.array(array[:: self.stride][: self.n_segments], dtype=np.float32)  # a copy
        if len(sampled) != self.n_segments:
            raise DatasetError(f"music_avqa: feature file {self.paths[i]} has {len(array)} rows; expected at least "
                               f"{self.stride * (self.n_segments - 1) + 1} (stride {self.stride}, T={self.n_segments})")
        if self.expand_pooled and sampled.ndim == 2:  # pooled [T, 512] -> [T, 512, 1, 1]
            sampled = sampled[:, :, None, None]
        return torch.from_numpy(sampled)

    def __getitem__(self, rows) -> torch.Tensor:
        rows = torch.as_tensor(rows).reshape(-1).tolist()
        return torch.stack([self.load(i) for i in rows])


class MusicAVQA(QADataset):
    """One split of MUSIC-AVQA (module docstring for the layout and the params)."""

    def __init__(self, root, split: str, *, audio_dir: str = "feats/vggish", visual_dir: str = "feats/res18_14x14",
                 stride: int = 6, n_segments: int = 10, variant: str = "", keep_deleted: bool = False,
                 preload: bool = False, annotations: str = "auto"):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"music_avqa: root {root} is not a folder; expected one holding avqa-<split>.json "
                               f"and {audio_dir}/, {visual_dir}/")
        if stride < 1 or n_segments < 1:
            raise DatasetError(f"music_avqa: stride={stride}, n_segments={n_segments}; expected positive integers")
        train = read_split(root, "train", variant, annotations, keep_deleted)
        records = train if split == "train" else read_split(root, split, variant, annotations, keep_deleted)
        self.annotation_file = annotation_path(root, split, variant, annotations)  # which file was read
        video_ids = list(dict.fromkeys(r.video_id for r in records))
        features = {}
        for kind, folder in (("audio", audio_dir), ("visual", visual_dir)):
            paths = [root / folder / f"{v}.npy" for v in video_ids]
            absent = [(v, p) for v, p in zip(video_ids, paths, strict=True) if not p.is_file()]
            if absent:
                v, p = absent[0]
                raise DatasetError(f"music_avqa: {self.annotation_file} lists video {v!r} but its "
                                   f"{kind} feature file {p} is missing ({len(absent)} of {len(paths)} missing); "
                                   f"expected <root>/{folder}/<video_id>.npy")
            features[kind] = NpyFeatures(paths, stride, n_segments, expand_pooled=kind == "visual")
        if video_ids:
            _check_shapes(features["audio"].load(0), features["visual"].load(0), features["audio"].paths[0],
                          features["visual"].paths[0])
        if preload:
            features = {k: f[torch.arange(len(f))] if len(f) else torch.zeros(0) for k, f in features.items()}
        super().__init__(audio_feats=features["audio"], visual_feats=features["visual"], video_ids=video_ids,
                         records=records, question_vocab=Vocab.questions(train), answer_vocab=Vocab.answers(train),
                         name="music_avqa")


def _check_shapes(audio: torch.Tensor, visual: torch.Tensor, audio_path, visual_path):
    if audio.dim() != 2 or audio.shape[1] != AUDIO_SHAPE[1]:
        raise DatasetError(f"music_avqa: {audio_path} samples to shape {tuple(audio.shape)}; expected [T, 128] "
                           "(VGGish [60, 128])")
    if visual.dim() != 4 or visual.shape[1] != 512:
        raise DatasetError(f"music_avqa: {visual_path} samples to shape {tuple(visual.shape)}; expected [T, 512, H, W] "
                           "(ResNet-18 maps [60, 512, 14, 14] or pooled [60, 512])")
