"""avlab's library: data, models, balancing methods, the run engine and reports for the paper notebooks.

The public API is small; everything else is importable from its module (avlib.balance, avlib.report, ...).
The names below load on first use (PEP 562): importing one submodule, e.g. `avlib.data.embedded.avdigits`, does not
import the rest of avlib, so a DVC stage depends only on the files its notebook really imports.
"""

import importlib

from avlib.core.pins import pin_kernels

pin_kernels()  # before numpy loads, where it has not yet: the same probe bits on every x86-64 machine

_EXPORTS = {
    "METHODS": "avlib.balance", "OGMConfig": "avlib.balance", "method_config": "avlib.balance",
    "load_dataset": "avlib.data", "load_splits": "avlib.data", "run_specs": "avlib.tasks.classify.engine",
    "RunSpec": "avlib.tasks.classify.runs", "run_classifier": "avlib.tasks.classify.runs",
    "build_classifier": "avlib.models",
    "TrainConfig": "avlib.tasks.classify.fit", "fit": "avlib.tasks.classify.fit",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'avlib' has no attribute {name!r}")
