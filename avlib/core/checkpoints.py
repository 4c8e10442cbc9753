"""Resume a killed stage: each finished job of `run_tasks` saved under AVLAB_RESUME_DIR, keyed by a hash of
avlib's source, the task, the data and the job, so that a restarted stage trains only what had not finished
and ends bit-identical to an uninterrupted run.

A checkpoint cannot run code. Results are dataclasses (RunResult, FitResult, configs) nesting dicts, lists,
tuples and tensors; a pickle keeps every one of them exactly (types, tuple-vs-list, dtypes), which is what a
bit-identical resume needs, while `torch.load(weights_only=True)` would have to be told every class and would
still turn some of them into other types. But unpickling runs whatever the file says. So each file carries
an HMAC-SHA256, under a secret key of this checkout, of its name and its pickle; the MAC is checked before
a single byte is unpickled. A file planted in the folder, copied from another checkout, renamed to another
job's name, truncated or corrupt fails the check (or the unpickling) and is discarded with one line naming
it; its job simply runs again.

The key: 32 random bytes in `<git dir>/avlab-resume.key` (mode 0600; the git dir is never committed, and a
worktree has its own), `~/.cache/avlab/resume.key` outside a git checkout, or the file AVLAB_RESUME_KEY names.
"""

import enum
import hashlib
import hmac
import os
import pickle
import secrets
import sys
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


MAGIC = b"avlab-checkpoint-1\n"
KEY_NAME = "avlab-resume.key"


def key_path() -> Path:
    """Where this checkout's checkpoint key lives (see the module docstring)."""
    if os.environ.get("AVLAB_RESUME_KEY"):
        return Path(os.environ["AVLAB_RESUME_KEY"])
    for folder in Path(__file__).resolve().parents[2:]:
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git / KEY_NAME
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text().strip()
            if text.startswith("gitdir:"):
                gitdir = Path(text.removeprefix("gitdir:").strip())
                return (gitdir if gitdir.is_absolute() else folder / gitdir) / KEY_NAME
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "avlab" / "resume.key"


def secret_key(path: Path | None = None) -> bytes:
    """The checkout's key, made on first use: written whole to a private temp file, then linked into place
    (two processes making it at once agree on the first one)."""
    path = path or key_path()
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) < 16:
        raise ValueError(f"checkpoint key {path} holds {len(key)} bytes; expected 32 (delete it to make a new one)")
    return key


def _mac(key: bytes, name: str, payload: bytes) -> bytes:
    return hmac.new(key, name.encode() + b"\0" + payload, hashlib.sha256).digest()


class Checkpoints:
    """Finished jobs of one `run_tasks` call, one signed pickle each under `folder`, named by the hash of
    (avlib's source, the data, the task, the job)."""

    def __init__(self, folder: Path, base: str, key: bytes | None = None):
        self.folder, self.base = Path(folder), base
        self.key = key if key is not None else secret_key()

    @classmethod
    def from_env(cls, task, data):
        folder = os.environ.get("AVLAB_RESUME_DIR")
        if not folder:
            return None
        try:
            h = hashlib.sha256(_source_fingerprint().encode())
            fingerprint((task, data), h)
            key = secret_key()
        except Exception as err:  # noqa: BLE001 - no resume, but the same results
            import warnings

            warnings.warn(f"{err}; this stage's runs will not be checkpointed", stacklevel=3)
            return None
        return cls(Path(folder), h.hexdigest(), key)

    def path(self, job) -> Path | None:
        try:
            h = fingerprint(job, hashlib.sha256(self.base.encode()))
        except Exception:  # noqa: BLE001 - this job is not checkpointed; it still runs
            return None
        return self.folder / f"{h.hexdigest()[:32]}.pkl"

    def load(self, job):
        """(True, result) from the job's checkpoint, or (False, None): absent, or discarded (one line on
        stderr names the file) because it is unsigned, signed by another key, corrupt or no longer loads."""
        path = self.path(job)
        if path is None:
            return False, None
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return False, None
        except OSError as err:
            return self._discard(path, f"unreadable: {err.strerror or err}")
        head, mac, payload = blob[:len(MAGIC)], blob[len(MAGIC):len(MAGIC) + 32], blob[len(MAGIC) + 32:]
        if head != MAGIC or not hmac.compare_digest(mac, _mac(self.key, path.name, payload)):
            return self._discard(path, "not signed by this checkout's key, or damaged; not unpickled")
        try:
            return True, pickle.loads(payload)
        except Exception as err:  # noqa: BLE001 - signed by us, yet from code that no longer loads it
            return self._discard(path, f"signed but unreadable ({type(err).__name__}: {err})")

    def save(self, job, result) -> None:
        if (path := self.path(job)) is not None:
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            atomic_write_bytes(path, MAGIC + _mac(self.key, path.name, payload) + payload)

    @staticmethod
    def _discard(path: Path, why: str):
        path.unlink(missing_ok=True)
        print(f"resume: discarded checkpoint {path} ({why}); its job runs again", file=sys.stderr, flush=True)
        return False, None
