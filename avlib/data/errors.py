"""One error type for every bad input a loader can meet, so callers catch one thing."""


class DatasetError(ValueError):
    """A dataset root, split file, media file or parameter is missing or malformed.

    The message names the path or value and says what was expected.
    """
