"""AV-Speech: an embedded audio-visual speech set with frame-level phone labels (bilinear AV-ASR stage).

Each utterance is 2-4 tokens (digit words and short English words) spoken by an eSpeak NG voice:
  labels  eSpeak NG reports every phoneme it speaks with its first audio sample
          (`avlib.data.synth.speech_events`); a phone lasts until the next one starts. Each phone segment is
          cut into three equal thirds (begin/middle/end states), so the frame classes are
          (phone, state) pairs and the phones are their parents: a depth-2 tree of context states ->
          phones, a small analogue of the notes' 1328 context-dependent states under 42 phones.
          Pauses (eSpeak's "_", "_:") and the padding around the speech are the phone `sil`.
  audio   the speech, 16 kHz, padded with 0.1-0.3 s of silence at each end; white noise is added
          when the split is LOADED, at the `snr_db` asked for (default: the generator's), from a
          noise stream fixed by the seed: only its level changes between SNRs, so an SNR sweep
          remixes in a second instead of re-synthesizing. Features: 24 log-mel bands, 25 ms windows,
          10 ms hop (100 frames/s, the notes' rate), mean/variance normalised per utterance and
          stacked +-4 frames around the centre frame (the notes' 9-frame context): 216 dims.
  visual  SYNTHETIC, not a video: a rendered 8 x 12 grey-level mouth image per frame (`avlib.data.synth.mouth`):
          six articulators chase each phone's viseme targets as a damped second-order system (undershoot and
          coarticulation), the jaw also follows the clean speech's loudness envelope, phone boundaries are
          moved by a per-utterance lag and per-boundary jitter, the mouth's size, position, drift and
          lighting vary per utterance, it is held at 25 frames/s (repeated to 100/s as AV-ASR front-ends
          upsample) and noised per pixel (`visual_noise_std`). No pixel codes the phone: a model must learn
          to read the mouth. Phones of one viseme (p/b/m, f/v, ...) look alike by construction: vision
          disambiguates place of articulation, never voicing. Normalised per pixel and utterance, stacked
          +-2 video frames (5 x 96 dims).
Speakers are AV-Digits' eSpeak NG voice families (imported from `avlib.data.embedded.avdigits`): train gets the
fraction `voice_split[0]` of the families, val and test both draw from the rest.

On disk, under `root`:
  meta.json     every knob, the phone inventory, the class -> phone table, voices, sizes
  {split}.pt    speech (int16, utterances back to back), wave_offsets, visual (frames, 96) uint8, label
                (frames,) state class, frame_offsets, ref_phones (concatenated) + ref_offsets, voice, text
"""

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio
from scipy.signal import resample_poly

from avlib.core.atomic import atomic_dir, check_finite, save_tensors
from avlib.data.errors import DatasetError
from avlib.data.synth import mouth
from avlib.data.synth.speech import SAMPLE_RATE as SPEECH_RATE
from avlib.data.synth.voices import DIGIT_WORDS, deal_voices, draw_speakers

SPLITS = ("train", "val", "test")
WORDS = DIGIT_WORDS + (
    "oh", "yes", "no", "stop", "go", "left", "right", "up", "down", "red", "green", "blue", "white", "black",
    "bag", "pin", "bed", "fish", "thumb", "shoe", "judge", "vision", "ring", "wool", "yellow", "house", "cheap",
    "mouth", "lip", "bird", "car", "cook", "this", "boy", "toy", "hat", "map", "van", "zoo", "wet")
STATES = 3  # begin / middle / end of a phone: the leaves under each phone
CONTEXT = 4  # +-4 stacked frames (the notes: 9 frames around the central frame of interest)
VISUAL_CONTEXT, VISUAL_STRIDE = 2, 4  # +-2 video frames (+-80 ms): at 25 frames/s, 4 feature frames apart
SAMPLE_RATE, HOP, WINDOW, N_MELS = 16_000, 160, 400, 24
SILENCE = "sil"

PHONE_VISEME = {
    "p": "bilabial", "b": "bilabial", "m": "bilabial", "f": "labiodental", "v": "labiodental",
    "T": "dental", "D": "dental", "t": "alveolar", "d": "alveolar", "n": "alveolar", "s": "alveolar",
    "z": "alveolar", "l": "alveolar", "S": "postalveolar", "Z": "postalveolar", "tS": "postalveolar",
    "dZ": "postalveolar", "k": "velar", "g": "velar", "N": "velar", "h": "velar", "r": "r", "w": "w", "j": "j",
    "a": "open", "aI": "open", "aU": "open", "A@": "open", "A:": "open", "V": "open", "0": "open",
    "i:": "spread", "I": "spread", "E": "spread", "eI": "spread", "i@": "spread", "i": "spread", "I2": "spread",
    "u:": "rounded", "U": "rounded", "oU": "rounded", "o@": "rounded", "O:": "rounded", "OI": "rounded",
    "U@": "rounded", "@": "mid", "3:": "mid", "@L": "mid", "e@": "mid", "@2": "mid", "@5": "mid", "a#": "mid",
}
VISUAL_DIM = mouth.HEIGHT * mouth.WIDTH  # pixels of one mouth image


@dataclass(frozen=True)
class AVSpeechConfig:
    """Every knob of the generator; meta.json stores it."""

    seed: int = 0
    n_train: int = 500  # utterances per split
    n_val: int = 150
    n_test: int = 300
    words: tuple = (2, 4)  # tokens per utterance, inclusive range
    snr_db: float = 0.0  # default speech-to-white-noise ratio when a split is loaded
    visual_noise_std: float = 0.1  # Gaussian noise per pixel (pixels in [0, 1]; lips vs skin differ by 0.3)
    tau_ms: float = 30.0  # the articulators' time constant (undershoot of short phones, coarticulation)
    envelope_weight: float = 0.4  # share of the jaw opening that follows the speech's loudness envelope
    visual_lag_ms: float = 40.0  # per-utterance audio-visual lag, uniform in +-this
    visual_boundary_jitter_ms: float = 20.0  # per phone boundary, Gaussian std
    voice_split: tuple = (0.6, 0.4)  # speaker families: train / held-out (val and test share them)
    rate_wpm: tuple = (140, 210)
    pitch: tuple = (20, 80)

    def __post_init__(self):
        for name in ("n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise DatasetError(f"avspeech: {name}={getattr(self, name)}; expected a positive count")
        if not 1 <= self.words[0] <= self.words[1]:
            raise DatasetError(f"avspeech: words={self.words}; expected (min, max) with 1 <= min <= max")
        if self.visual_noise_std < 0 or self.visual_lag_ms < 0 or self.visual_boundary_jitter_ms < 0:
            raise DatasetError("avspeech: visual_noise_std, visual_lag_ms, visual_boundary_jitter_ms must be >= 0")
        if self.tau_ms <= 0:
            raise DatasetError(f"avspeech: tau_ms={self.tau_ms}; expected a time constant > 0 ms")
        if not 0 <= self.envelope_weight <= 1:
            raise DatasetError(f"avspeech: envelope_weight={self.envelope_weight}; expected a share in [0, 1]")


def phone_of(mnemonic: str) -> str:
    """eSpeak NG mnemonic -> our phone: stress marks dropped, linking r ("r-") is r, every pause ("_",
    "_:", ...) and eSpeak's rare ";" are `sil`."""
    phone = mnemonic.replace("'", "").replace(",", "")
    if phone == "r-":
        return "r"
    return SILENCE if phone.startswith("_") or phone in ("", ";") else phone


def viseme_of(phone: str) -> str:
    if phone == SILENCE:
        return "sil"
    if phone not in PHONE_VISEME:
        raise DatasetError(f"avspeech: eSpeak NG phone {phone!r} has no viseme; expected one of "
                           f"{sorted(PHONE_VISEME)} (add it to PHONE_VISEME)")
    return PHONE_VISEME[phone]


def frame_phones(events: list, n_speech: int, pad_before: int, n_frames: int, rate_in: int) -> np.ndarray:
    """Per 10 ms frame (centre t * HOP at SAMPLE_RATE), the index into `events` of the phone spoken, or
    -1 in the padding. events: [(mnemonic, first sample at rate_in)]; a phone lasts until the next one
    starts, the last until the speech ends (n_speech samples at SAMPLE_RATE, after pad_before)."""
    starts = np.array([pad_before + s * SAMPLE_RATE / rate_in for _, s in events] + [pad_before + n_speech])
    centres = np.arange(n_frames) * HOP
    which = np.searchsorted(starts, centres, side="right") - 1  # last phone started at or before the centre
    which[(which < 0) | (which >= len(events))] = -1
    return which


def frame_states(which: np.ndarray) -> np.ndarray:
    """Per frame, the state (0, 1, 2) within its phone segment: the segment's frames cut in thirds."""
    state = np.zeros(len(which), np.int64)
    t = 0
    while t < len(which):
        end = t
        while end < len(which) and which[end] == which[t]:
            end += 1
        n = end - t
        state[t:end] = np.minimum(np.arange(n) * STATES // max(n, 1), STATES - 1)
        t = end
    return state


def _visual(events, speech: np.ndarray, pad: int, n_frames: int, cfg: AVSpeechConfig, rng) -> np.ndarray:
    """One utterance's mouth video: (n_frames, VISUAL_DIM) uint8 pixels (module docstring; `mouth`)."""
    targets = mouth_targets(events, len(speech), pad, n_frames, cfg, rng)
    clean = np.concatenate([np.zeros(pad, np.float32), speech])
    envelope = mouth.loudness_envelope(clean, n_frames, HOP)
    w = cfg.envelope_weight
    targets[:, 0] = (1 - w) * targets[:, 0] + w * envelope  # the jaw opens with the syllable too
    params = mouth.trajectory(targets, cfg.tau_ms)
    size = rng.uniform(0.8, 1.1)  # per utterance: the speaker's mouth, the camera's framing and light
    centre = rng.normal(0.0, 0.08, size=2) + np.cumsum(rng.normal(0.0, 0.01, size=(n_frames, 2)), axis=0)
    gain, offset = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
    phase = int(rng.integers(mouth.VIDEO_HOLD))  # where the video frames fall on the feature frames
    held = np.maximum(0, (np.arange(n_frames) + phase) // mouth.VIDEO_HOLD * mouth.VIDEO_HOLD - phase)
    image = gain * mouth.render(params[held], centre[held], size) + offset
    noisy = image.reshape(n_frames, VISUAL_DIM) + rng.normal(0.0, cfg.visual_noise_std, size=(n_frames, VISUAL_DIM))
    return np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8)  # an 8-bit camera


def mouth_targets(events, n_speech, pad, n_frames, cfg, rng) -> np.ndarray:
    """(n_frames, 6) articulator targets of the viseme being shown at each frame: the phone boundaries
    moved by a per-utterance lag and a per-boundary jitter."""
    lag = rng.uniform(-cfg.visual_lag_ms, cfg.visual_lag_ms) * SAMPLE_RATE / 1000
    jitter = rng.normal(0.0, cfg.visual_boundary_jitter_ms * SAMPLE_RATE / 1000, size=len(events))
    shifted = [(m, s + (lag + j) * SPEECH_RATE / SAMPLE_RATE) for (m, s), j in zip(events, jitter, strict=True)]
    shifted = sorted(shifted, key=lambda e: e[1])
    which = frame_phones(shifted, n_speech, pad, n_frames, SPEECH_RATE)
    shapes = np.array([mouth.VISEMES[viseme_of(phone_of(m))] for m, _ in shifted] + [mouth.VISEMES["sil"]])
    return shapes[which].astype(np.float64)  # which = -1 (padding) reads the last row: silence


def visual_features(pixels: torch.Tensor, frame_offsets) -> torch.Tensor:
    """uint8 pixels -> per pixel, mean and variance normalised over each utterance (the visual analogue of
    the audio's CMVN: it removes the utterance's lighting and mouth position, not its movements)."""
    out, bounds = pixels.float() / 255, [int(b) for b in frame_offsets]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        clip = out[a:b]
        out[a:b] = (clip - clip.mean(0)) / (clip.std(0) + 0.02)  # + 0.02: pixels that barely move stay small
    return out


def _plan(cfg: AVSpeechConfig):
    rng = np.random.default_rng(cfg.seed)
    voices = deal_voices(cfg.voice_split, rng)
    pool_of = {"train": "train", "val": "held_out", "test": "held_out"}
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    requests = {}
    for split in SPLITS:
        speakers = draw_speakers(voices[pool_of[split]], sizes[split], rng)
        n_words = rng.integers(cfg.words[0], cfg.words[1] + 1, size=sizes[split])
        rates = rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1, size=sizes[split])
        pitches = rng.integers(cfg.pitch[0], cfg.pitch[1] + 1, size=sizes[split])
        requests[split] = [dict(text=" ".join(WORDS[w] for w in rng.integers(len(WORDS), size=n_words[i])),
                                voice=f"en+{speakers[i]}", rate=int(rates[i]), pitch=int(pitches[i]))
                           for i in range(sizes[split])]
    return rng, voices, sizes, requests


def generate(root, cfg: AVSpeechConfig, progress: bool = True) -> dict:
    """Write AV-Speech under `root` (module docstring); atomically: `root` is complete or absent."""
    from avlib.data.synth.speech_events import synthesize_with_events

    rng, voices, sizes, requests = _plan(cfg)
    flat = [r for s in SPLITS for r in requests[s]]
    spoken = synthesize_with_events(flat)  # one fresh process: reproducible samples and events
    return atomic_dir(root, lambda tmp: _write(tmp, cfg, rng, voices, sizes, requests, spoken, progress))


def _write(root: Path, cfg, rng, voices, sizes, requests, spoken, progress) -> dict:
    from tqdm import tqdm

    phones = sorted({phone_of(m) for _, events in spoken for m, _ in events} | {SILENCE})
    phones.remove(SILENCE)
    phones = [SILENCE, *phones]  # silence is phone 0
    cursor = 0
    for split in tqdm(SPLITS, desc="avspeech", disable=not progress):
        waves, visual, labels, refs = [], [], [], []
        for _ in requests[split]:
            samples, events = spoken[cursor]
            cursor += 1
            speech = resample_poly(samples, 320, 441).astype(np.float32)  # 22,050 -> 16,000 Hz
            pad_before, pad_after = (int(x) for x in rng.integers(SAMPLE_RATE // 10, 3 * SAMPLE_RATE // 10, size=2))
            wave = np.concatenate([np.zeros(pad_before, np.float32), speech, np.zeros(pad_after, np.float32)])
            wave = wave[: len(wave) // HOP * HOP]
            n_frames = len(wave) // HOP + 1  # torchaudio's centred frames
            which = frame_phones(events, len(speech), pad_before, n_frames, SPEECH_RATE)
            phone_ids = np.array([phones.index(phone_of(m)) for m, _ in events] + [0], np.int64)[which]
            labels.append(phone_ids * STATES + frame_states(which))
            ref = [phones.index(phone_of(m)) for m, _ in events]
            refs.append(np.array([p for p in ref if p != 0], np.int64))
            visual.append(_visual(events, speech, pad_before, n_frames, cfg, rng))
            waves.append(wave)
        check_finite(waves, f"avspeech {split} audio")  # before int16 hides a NaN
        save_tensors({
            "speech": torch.from_numpy(np.round(np.concatenate(waves) * 32767).astype(np.int16)),
            "wave_offsets": torch.from_numpy(np.cumsum([0] + [len(w) for w in waves])),
            "visual": torch.from_numpy(np.concatenate(visual)),
            "label": torch.from_numpy(np.concatenate(labels)),
            "frame_offsets": torch.from_numpy(np.cumsum([0] + [len(lab) for lab in labels])),
            "ref_phones": torch.from_numpy(np.concatenate(refs)),
            "ref_offsets": torch.from_numpy(np.cumsum([0] + [len(r) for r in refs])),
            "voice": [r["voice"] for r in requests[split]], "text": [r["text"] for r in requests[split]],
        }, root / f"{split}.pt")
    meta = {"dataset": "avspeech", "config": asdict(cfg), "phones": phones, "states": STATES,
            "visemes": {p: viseme_of(p) for p in phones}, "voices": voices, "sizes": sizes,
            "features": {"sample_rate": SAMPLE_RATE, "hop": HOP, "window": WINDOW, "n_mels": N_MELS,
                         "context": CONTEXT, "visual_dim": VISUAL_DIM}}
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# --- loading: noise mixed at the asked SNR, features, context stacking -------------------------------

@functools.cache
def _mel_transform():
    return torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=WINDOW, win_length=WINDOW,
                                                hop_length=HOP, n_mels=N_MELS)


def log_mel_cmvn(wave: np.ndarray) -> torch.Tensor:
    """(samples,) -> (frames, N_MELS) log-mel, mean and variance normalised over the utterance."""
    feats = torch.log(_mel_transform()(torch.from_numpy(wave)) + 1e-6).T  # (frames, N_MELS)
    return (feats - feats.mean(0)) / (feats.std(0) + 1e-5)


def context_index(frame_offsets: torch.Tensor, context: int = CONTEXT, stride: int = 1) -> torch.Tensor:
    """(frames, 2 * context + 1) indices of each frame's neighbours t - context * stride .. t + context * stride
    (every `stride`-th), clamped inside its utterance."""
    total = int(frame_offsets[-1])
    utt = torch.searchsorted(frame_offsets, torch.arange(total), right=True) - 1
    start, end = frame_offsets[utt], frame_offsets[utt + 1] - 1
    offsets = torch.arange(-context, context + 1) * stride
    return torch.maximum(torch.minimum(torch.arange(total)[:, None] + offsets, end[:, None]), start[:, None])


REGENERATE = "regenerate it with `dvc repro -f data_avspeech`, or avlib.data.embedded.avspeech.generate"


class AVSpeech(torch.utils.data.Dataset):
    """One split of AV-Speech, its audio mixed with white noise at `snr_db` (default: meta.json's).

    Items are frames: {"audio": (9 * 24,), "visual": (5 * 96,), "label": state class}. Whole utterances
    are in `frame_offsets` (frames of utterance u: offsets[u]:offsets[u+1]) and `ref_phones`
    (`reference(u)`: the phone sequence eSpeak NG spoke, silence left out). `groups[c]` is the phone of
    class c (the tree's parent); class c = phone * STATES + state."""

    def __init__(self, root, split: str, snr_db: float | None = None):
        root = Path(root)
        path, meta_path = root / f"{split}.pt", root / "meta.json"
        if not path.is_file() or not meta_path.is_file():
            raise DatasetError(f"avspeech: {path} or {meta_path} not found; expected a generated AV-Speech "
                               f"(run `dvc repro data_avspeech`, or avlib.data.embedded.avspeech.generate)")
        try:
            data = torch.load(path, weights_only=True)
            meta = json.loads(meta_path.read_text())
        except Exception as err:
            raise DatasetError(f"avspeech: cannot load {path} ({type(err).__name__}); {REGENERATE}") from err
        keys = {"speech", "wave_offsets", "visual", "label", "frame_offsets", "ref_phones", "ref_offsets"}
        missing = keys - set(data)
        if missing:
            raise DatasetError(f"avspeech: split file {path} lacks {sorted(missing)}; {REGENERATE}")
        self.meta, self.phones = meta, meta["phones"]
        self.n_classes = len(self.phones) * STATES
        self.groups = torch.arange(self.n_classes) // STATES
        self.snr_db = float(meta["config"]["snr_db"] if snr_db is None else snr_db)
        self.frame_offsets, self.label = data["frame_offsets"], data["label"]
        self.ref_phones, self.ref_offsets = data["ref_phones"], data["ref_offsets"]
        self.voice, self.text = data["voice"], data["text"]
        self.visual_pixels = data["visual"]  # (frames, VISUAL_DIM) uint8, the camera's images (for figures)
        self.visual_frames = visual_features(self.visual_pixels, self.frame_offsets)
        self.audio_frames = self._features(data, meta["config"]["seed"], SPLITS.index(split))
        if len(self.audio_frames) != len(self.label) or len(self.visual_frames) != len(self.label):
            raise DatasetError(f"avspeech: split file {path} has {len(self.audio_frames)} audio, "
                               f"{len(self.visual_frames)} visual and {len(self.label)} label frames; {REGENERATE}")
        self.context = context_index(self.frame_offsets)
        # the video holds each image for 4 feature frames: its context steps by video frames, not by 10 ms
        self.visual_context = context_index(self.frame_offsets, VISUAL_CONTEXT, VISUAL_STRIDE)

    def _features(self, data, seed: int, split_index: int) -> torch.Tensor:
        """Speech + white noise at self.snr_db, per utterance; the noise stream depends only on the seed
        and the split, so two SNRs differ only by the noise's level."""
        speech = data["speech"].numpy().astype(np.float32) / 32767
        noise = np.random.default_rng([seed, 7919, split_index]).standard_normal(len(speech)).astype(np.float32)
        bounds = data["wave_offsets"].tolist()
        feats, threads = [], torch.get_num_threads()
        torch.set_num_threads(1)  # ~1000 tiny STFTs: threads only contend (30x slower on a busy machine)
        try:
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                feats.append(self._utterance(speech[a:b], noise[a:b]))
        finally:
            torch.set_num_threads(threads)
        return torch.cat(feats).float()

    def _utterance(self, wave: np.ndarray, noise: np.ndarray) -> torch.Tensor:
        voiced = wave[np.abs(wave) > 1e-4]
        power = float(np.mean(voiced**2)) if len(voiced) else 1e-8  # of the speech, not the padding
        scale = np.float32(np.sqrt(power / 10 ** (self.snr_db / 10)))
        return log_mel_cmvn(wave + noise * scale)

    @property
    def n_utterances(self) -> int:
        return len(self.frame_offsets) - 1

    def reference(self, u: int) -> torch.Tensor:
        return self.ref_phones[self.ref_offsets[u] : self.ref_offsets[u + 1]]

    def __len__(self) -> int:
        return len(self.label)

    def __getitems__(self, indices):
        indices = torch.as_tensor(indices)
        idx, vidx = self.context[indices], self.visual_context[indices]  # (B, 9), (B, 5)
        return {"audio": self.audio_frames[idx].flatten(1), "visual": self.visual_frames[vidx].flatten(1),
                "label": self.label[torch.as_tensor(indices)]}

    def __getitem__(self, i):
        batch = self.__getitems__([i])
        return {k: v[0] for k, v in batch.items()}
