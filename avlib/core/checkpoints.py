"""Resume a killed stage: each finished job of `run_tasks` saved under AVLAB_RESUME_DIR, keyed by a hash of
avlib's source, the task, the data and the job, so that a restarted stage trains only what had not finished
and ends bit-identical to an uninterrupted run."""

import enum
import hashlib
import os
import pickle
import types
from functools import partial
from pathlib import Path

import torch

from avlib.core.atomic import atomic_write_bytes


class Unfingerprintable(TypeError):
    pass


def fingerprint(obj, h=None, _seen=None):
    """A hash of `obj`'s content that is the same in every process (pickle is not: a set of strings
    pickles in hash-seed order, and torch.save stamps a random id), fed into `h` (sha256)."""
    h = h if h is not None else hashlib.sha256()
    seen = _seen if _seen is not None else {}  # id -> object: held, so that no id is reused meanwhile
    put = h.update
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes | enum.Enum | Path):
        put(f"{type(obj).__name__}:{obj!r};".encode())
        return h
    if id(obj) in seen:
        put(b"<cycle>;")
        return h
    seen[id(obj)] = obj
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        put(f"tensor{t.dtype}{tuple(t.shape)}:".encode())
        put(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif type(obj).__module__ == "numpy" and hasattr(obj, "tobytes"):
        put(f"ndarray{obj.dtype}{getattr(obj, 'shape', ())}:".encode() + obj.tobytes())
    elif isinstance(obj, dict):
        put(f"{type(obj).__name__}{{".encode())
        for k, v in obj.items():
            fingerprint(k, h, seen)
            fingerprint(v, h, seen)
        put(b"}")
    elif isinstance(obj, list | tuple):
        put(f"{type(obj).__name__}[".encode())
        for v in obj:
            fingerprint(v, h, seen)
        put(b"]")
    elif isinstance(obj, set | frozenset):
        put(b"set" + b"".join(sorted(fingerprint(v, None, seen).digest() for v in obj)))
    elif isinstance(obj, partial):
        put(b"partial")
        fingerprint((obj.func, obj.args, obj.keywords), h, seen)
    elif isinstance(obj, types.FunctionType | types.BuiltinFunctionType | type | types.ModuleType):
        put(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj.__name__)};".encode())
    elif isinstance(obj, torch.Generator):
        fingerprint(obj.get_state(), h, seen)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        put(f"{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        state = dict(getattr(obj, "__dict__", {}))
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                state[name] = getattr(obj, name)
        fingerprint(state, h, seen)
        put(b")")
    else:
        raise Unfingerprintable(f"cannot fingerprint a {type(obj).__qualname__} for resume")
    return h


def _source_fingerprint() -> str:
    """avlib's own code: a checkpoint made before an edit is never reused after it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # avlib/
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class Checkpoints:
    """Finished jobs of one `run_tasks` call, one pickle each under `folder`, named by the hash of
    (avlib's source, the data, the task, the job)."""

    def __init__(self, folder: Path, base: str):
        self.folder, self.base = Path(folder), base

    @classmethod
    def from_env(cls, task, data):
        folder = os.environ.get("AVLAB_RESUME_DIR")
        if not folder:
            return None
        try:
            h = hashlib.sha256(_source_fingerprint().encode())
            fingerprint((task, data), h)
        except Exception as err:  # noqa: BLE001 - no resume, but the same results
            import warnings

            warnings.warn(f"{err}; this stage's runs will not be checkpointed", stacklevel=3)
            return None
        return cls(Path(folder), h.hexdigest())

    def path(self, job) -> Path | None:
        try:
            h = fingerprint(job, hashlib.sha256(self.base.encode()))
        except Exception:  # noqa: BLE001 - this job is not checkpointed; it still runs
            return None
        return self.folder / f"{h.hexdigest()[:32]}.pkl"

    def load(self, job):
        path = self.path(job)
        try:
            return True, pickle.loads(path.read_bytes())
        except (AttributeError, OSError, pickle.UnpicklingError, EOFError, ImportError):
            return False, None  # absent, or from code that no longer loads: run it again

    def save(self, job, result) -> None:
        if (path := self.path(job)) is not None:
            atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
