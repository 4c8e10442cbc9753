"""Speech synthesis with eSpeak NG, called through ctypes.

The shared library and its voice data ship inside the `espeakng-loader` wheel, so synthesis needs no
system package. eSpeak NG synthesizes at 22,050 Hz; callers resample to what they need.

Determinism: eSpeak NG carries hidden state from one utterance to the next (the same call gives a
few samples more or less the second time; re-initialising does not reset it), and breathy voices
draw noise from its own random generator. `synthesize_many` therefore speaks a whole list in a fresh
process, reseeding that generator before each utterance: the same list gives the same samples.
Use it wherever samples must be reproducible.
"""

import ctypes
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SAMPLE_RATE = 22_050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_lock = threading.Lock()  # eSpeak NG keeps global state: one synthesis at a time
_lib = None
_chunks: list[np.ndarray] = []


@_CALLBACK
def _collect(wav, n_samples, _events):
    if n_samples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    return 0  # 0 = continue synthesis


def _library():
    global _lib
    if _lib is None:
        import espeakng_loader  # ships libespeak-ng and its voice data

        lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate}); data path {data!r}")
        lib.espeak_SetSynthCallback(_collect)
        _lib = lib
    return _lib


def synthesize(
    text: str, *, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50
) -> np.ndarray:
    """Speak `text`; return float32 samples in [-1, 1] at `SAMPLE_RATE`.

    voice: an eSpeak NG voice name, optionally with a variant ("en+m3", "en-us+f2").
    rate: words per minute (80-450). pitch, pitch_range: 0-100.
    Not reproducible across calls within one process (see the module docstring).
    """
    with _lock:
        lib = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"unknown eSpeak NG voice {voice!r}; expected e.g. 'en+m3' or 'en-us+f2'")
        for param, value in ((_ESPEAK_RATE, rate), (_ESPEAK_PITCH, pitch), (_ESPEAK_RANGE, pitch_range)):
            lib.espeak_SetParameter(param, int(value), 0)
        _chunks.clear()
        encoded = text.encode()
        lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        lib.espeak_Synchronize()
        samples = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
        _chunks.clear()
    return samples.astype(np.float32) / 32768.0


def _speak_all(requests: list[dict]) -> list[np.ndarray]:
    out = []
    for request in requests:
        # Breathy voices (f2, f3, f5, ...) draw noise from eSpeak NG's own generator: restart its stream.
        _library().espeak_ng_SetRandSeed(0)
        out.append(synthesize(**request))
    return out


def synthesize_many(requests: list[dict]) -> list[np.ndarray]:
    """Speak each request (the keyword arguments of `synthesize`) in order, in a fresh process."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_speak_all, requests).result()
