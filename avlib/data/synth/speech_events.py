"""eSpeak NG synthesis that also returns the phoneme events: which phoneme starts at which audio sample.

eSpeak NG reports a PHONEME event (type 7) for every phoneme it speaks when it is initialised with the
`espeakINITIALIZE_PHONEME_EVENTS` option; the event's `sample` field is the phoneme's first sample in the
22,050 Hz output and `id.string` its mnemonic (e.g. "'i:", "T", "_:"). `avlib.data.synth.speech` initialises
without that option (its callers need only audio), and eSpeak NG is initialised once per process, so
this module drives its own library instance, always in a fresh spawned process (as `speech.synthesize_many`
does, and for the same reason: eSpeak NG's hidden state and its random generator are reseeded per
utterance only in a process that has done nothing else). `avlib.data.synth.speech` is untouched: AV-Digits
bytes do not change.
"""

import ctypes
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from avlib.data.synth.speech import SAMPLE_RATE

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_POS_CHARACTER = 1


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h; `id` is the union's `char string[8]` (the phoneme mnemonic)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lib = None
_chunks: list[np.ndarray] = []
_events: list[tuple[str, int]] = []


@_CALLBACK
def _collect(wav, n_samples, events):
    if n_samples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        if events[i].type == _EVENT_PHONEME:
            _events.append((events[i].id.decode("ascii", "replace"), int(events[i].sample)))
        i += 1
    return 0


def _library():
    global _lib
    if _lib is None:
        import espeakng_loader

        lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate}); data path {data!r}")
        lib.espeak_SetSynthCallback(_collect)
        _lib = lib
    return _lib


def _speak(text: str, voice: str, rate: int, pitch: int, pitch_range: int = 50):
    lib = _library()
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"unknown eSpeak NG voice {voice!r}; expected e.g. 'en+m3'")
    for param, value in ((_ESPEAK_RATE, rate), (_ESPEAK_PITCH, pitch), (_ESPEAK_RANGE, pitch_range)):
        lib.espeak_SetParameter(param, int(value), 0)
    _chunks.clear()
    _events.clear()
    encoded = text.encode()
    lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
    lib.espeak_Synchronize()
    samples = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
    return samples.astype(np.float32) / 32768.0, list(_events)


def _speak_all(requests: list[dict]) -> list:
    out = []
    for request in requests:
        _library().espeak_ng_SetRandSeed(0)  # breathy voices draw noise from eSpeak's own generator
        out.append(_speak(**request))
    return out


def synthesize_with_events(requests: list[dict]) -> list[tuple[np.ndarray, list[tuple[str, int]]]]:
    """Speak each request (text, voice, rate, pitch) in a fresh process; return, per request, the float32
    samples at `SAMPLE_RATE` and the phoneme events [(mnemonic, first sample), ...] in spoken order."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_speak_all, requests).result()
