"""One error type for every bad input a loader can meet, so callers catch one thing."""


class DatasetError(ValueError):
    """A dataset root, split file, media file or parameter is missing or malformed.

    The message names the path or value and says what was expected.
    """


def require_utf8(path, expected: str = "UTF-8 text") -> None:
    """Raise a DatasetError naming `path` and the offending byte if the file is not UTF-8 (a CSV saved as
    Latin-1 or UTF-16 by a spreadsheet, say), instead of a UnicodeDecodeError that names no file."""
    from pathlib import Path

    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DatasetError(f"{path} line {line}: byte {data[err.start:err.start + 1]!r} is not UTF-8; expected "
                           f"{expected} (re-save the file as UTF-8)") from None
