"""The one atomic write: a file, or a whole folder, appears complete or not at all.

Every writer in avlib goes through here: a kill or a full disk mid-write never leaves half a file in
`reports/` or a data folder, and the error names the path.
"""

import os
import shutil
import tempfile
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
