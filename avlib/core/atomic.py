"""The one atomic write: a file, or a whole folder, appears complete or not at all.

Every writer in avlib goes through here: a kill or a full disk mid-write never leaves half a file in
`reports/` or a data folder, and the error names the path.
"""

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `path` whole or not at all. A full disk or a folder it may not write raises the OSError with
    `path` as its filename (a failed write() alone names no file)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(err.filename or path)) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are for everyone to read
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_dir(root, write):
    """`write(tmp)` into a temporary sibling of `root`, renamed to `root` only when it succeeded; returns
    what `write` returned."""
    final = Path(root)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        meta = write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return meta


def atomic_move_dir(tmp: Path, final: Path) -> None:
    """Replace folder `final` by the finished folder `tmp`."""
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)


@contextmanager
def naming_write_errors(path):
    """Let a failed write of `path` by a library that names no file (libsndfile's "System error.", torch's
    "file write failed") surface as an OSError that names `path`; a full disk says "No space left on device"."""
    path = Path(path)
    try:
        yield path
    except OSError as err:
        if err.filename or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err
    except (RuntimeError, ValueError) as err:  # LibsndfileError is a RuntimeError
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = None
        if free is not None and free < 1 << 20:
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from err
        if "write" in str(err).lower() or "system error" in str(err).lower():
            raise OSError(errno.EIO, f"write failed ({type(err).__name__}: {err})", str(path)) from err
        raise


def _non_finite(obj, where: str):
    """The first key path in `obj` (nested dicts/lists of tensors and arrays) holding NaN or +-inf, else None."""
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        return where if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else None
    if isinstance(obj, np.ndarray):
        return where if obj.dtype.kind in "fc" and not bool(np.isfinite(obj).all()) else None
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return None
    for key, value in items:
        if (found := _non_finite(value, f"{where}[{key!r}]")) is not None:
            return found
    return None


class NonFiniteError(ValueError):
    """Generated data holds NaN or infinity: a parameter out of its sensible range, or a numerical bug."""


def check_finite(obj, what) -> None:
    """Raise NonFiniteError naming `what` and the key if any float tensor or array in `obj` is not finite."""
    found = _non_finite(obj, "")
    if found is not None:
        raise NonFiniteError(f"{what}: {found or 'the data'} holds NaN or infinite values; expected finite numbers "
                             "(a generator parameter out of its sensible range, or a numerical bug)")


def save_tensors(obj, path) -> Path:
    """torch.save(obj, path) after checking that every float tensor is finite; a failed write names `path`."""
    import torch

    check_finite(obj, str(path))
    with naming_write_errors(path):
        torch.save(obj, path)
    return Path(path)
