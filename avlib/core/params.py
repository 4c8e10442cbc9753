"""Stage parameters, checked before any work starts.

Each stage module (`avlib/stages/<stage>.py`) declares `PARAMS = Schema(...)`: one checker per key of the
stage's `params.yaml` section. `Schema.check(values)` rejects unknown and missing keys, wrong types, values
out of range and unknown names, each with a `ParamError` that names `<stage>.<key>`, the value given and
what was expected. The same check runs twice on purpose: in `tools/run_stage.py` before papermill starts
(so a typo costs nothing and the error is the last line the user sees) and in the notebook's first cell
(so a notebook run from JupyterLab is checked too).

Checkers are plain functions `(value) -> value` that raise `ValueError(expected)`; `Schema` adds the name.
"""

import math
from collections.abc import Callable
from types import SimpleNamespace


class ParamError(ValueError):
    """A stage parameter is unknown, missing or has a value the stage cannot use."""


def _number(value, kind):
    # bool is an int subclass in Python: `epochs: true` must not pass as 1
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError
    return value


def Int(*, min: int | None = None, max: int | None = None) -> Callable:  # noqa: A002 - reads as the range
    def check(value):
        try:
            _number(value, int)
        except ValueError:
            raise ValueError(f"an integer{_range(min, max)}") from None
        if (min is not None and value < min) or (max is not None and value > max):
            raise ValueError(f"an integer{_range(min, max)}")
        return value
    return check


def Float(*, min: float | None = None, max: float | None = None, positive: bool = False) -> Callable:  # noqa: A002
    def check(value):
        what = f"a finite number{' > 0' if positive else ''}{_range(min, max)}"
        try:
            _number(value, int | float)
        except ValueError:
            raise ValueError(what) from None
        if not math.isfinite(value):  # YAML's .nan / .inf are floats too
            raise ValueError(what)
        if (positive and value <= 0) or (min is not None and value < min) or (max is not None and value > max):
            raise ValueError(what)
        return float(value)
    return check


# Signal-to-noise ratios that make physical sense. At -60 dB the speech has a millionth of the noise's power
# (silence to any listener or model); beyond +60 dB the noise is below 16-bit PCM's own quantisation floor in
# practice. Outside, the mixing gain under- or overflows float32 (snr_db=-1000 wrote non-finite audio).
SNR_DB_RANGE = (-60.0, 60.0)
SNR_JITTER_DB_MAX = 20.0


def Decibels(*, jitter: bool = False) -> Callable:
    """A signal-to-noise ratio in dB, in SNR_DB_RANGE; `jitter=True`: a +/- spread, in [0, SNR_JITTER_DB_MAX]."""
    if jitter:
        return Float(min=0.0, max=SNR_JITTER_DB_MAX)
    return Float(min=SNR_DB_RANGE[0], max=SNR_DB_RANGE[1])


def Bool() -> Callable:
    def check(value):
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    return check


def Str(*, nonempty: bool = True) -> Callable:
    def check(value):
        if not isinstance(value, str) or (nonempty and not value):
            raise ValueError("a non-empty string" if nonempty else "a string")
        return value
    return check


def Choice(*options) -> Callable:
    def check(value):
        if value not in options:
            raise ValueError(f"one of {list(options)}")
        return value
    return check


def ListOf(item: Callable, *, min_len: int = 1, unique: bool = True) -> Callable:
    def check(value):
        what = f"a list of {min_len} or more{' distinct' if unique else ''} items"
        if not isinstance(value, list | tuple) or len(value) < min_len:
            raise ValueError(what)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except ValueError as err:
                raise ValueError(f"{what}, each {err} (item {i} is {v!r})") from None
        if unique and len(set(map(repr, out))) != len(out):
            raise ValueError(what + f" (got a repeated item in {value!r})")
        return out
    return check


def Dict(**fields: Callable) -> Callable:
    """A mapping whose keys are a subset of `fields` (each checked); absent keys keep the callee's default."""
    def check(value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"a mapping with keys among {sorted(fields)}")
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ValueError(f"a mapping with keys among {sorted(fields)} (unknown: {unknown})")
        out = {}
        for key, v in value.items():
            try:
                out[key] = fields[key](v)
            except ValueError as err:
                raise ValueError(f"{key}: {err} (got {v!r})") from None
        return out
    return check


def device() -> Callable:
    """A torch device name: auto (CUDA when present, else CPU), cpu, cuda or cuda:<index>."""
    def check(value):
        ok = value in ("auto", "cpu", "cuda") or (
            isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit())
        if not ok:
            raise ValueError("'auto', 'cpu', 'cuda' or 'cuda:<index>'")
        return value
    return check


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    return f" <= {hi}" if hi is not None else ""


class Schema:
    """The keys of one stage's params section and how each is checked."""

    def __init__(self, stage: str, **fields: Callable):
        self.stage = stage
        self.fields = {"smoke": Bool(), **fields}
        self.rules = []  # checks across keys: functions of the checked namespace that raise ParamError

    def __iter__(self):
        return iter(self.fields)

    def check(self, values: dict) -> SimpleNamespace:
        """Every key of `values` checked; unknown or missing keys raise. Returns the values as attributes."""
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise ParamError(f"{self.stage}.{unknown[0]}: unknown parameter of stage {self.stage!r}; "
                             f"expected one of {sorted(self.fields)}")
        missing = sorted(set(self.fields) - set(values))
        if missing:
            raise ParamError(f"{self.stage}.{missing[0]}: missing; every key of {sorted(self.fields)} is needed")
        out = {}
        for key, checker in self.fields.items():
            try:
                out[key] = checker(values[key])
            except ValueError as err:
                raise ParamError(f"{self.stage}.{key}={values[key]!r}: expected {err}") from None
        checked = SimpleNamespace(**out)
        for rule in self.rules:
            rule(checked)
        return checked
