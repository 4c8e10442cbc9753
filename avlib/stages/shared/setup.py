"""What every stage notebook does first: check its parameters, shrink them for a smoke run, and record
what will actually run.

    p = setup(stage.PARAMS, globals(), smoke=stage.smoke)

`setup` runs the notebook from the project root (paths in params.yaml are relative to it, whether the
notebook runs under DVC/papermill or from JupyterLab, whose kernels start in notebooks/) and writes
`<out_dir>/run_params.json`: the values the notebook runs with, after smoke. `tools/run_stage.py` moves
them into provenance.json, so a smoke run never claims the knobs it did not use.
"""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import avlib
from avlib.core.params import Schema


def project_root() -> Path:
    """The checkout avlib was installed from (editable install): the folder holding notebooks/."""
    root = Path(avlib.__file__).resolve().parents[1]
    if not (root / "notebooks").is_dir():
        raise RuntimeError(f"avlib at {root} is not in an avlab checkout (no notebooks/ beside it); "
                           "install it with `pip install -e .` from the checkout (make venv does)")
    return root


def setup(schema: Schema, namespace: dict, *, smoke=None) -> SimpleNamespace:
    """Checked parameters of the notebook whose globals are `namespace` (smoke applied by `smoke(p)`)."""
    os.chdir(project_root())
    p = schema.check({k: namespace[k] for k in schema.fields if k in namespace})  # a missing key raises
    if p.smoke and smoke is not None:
        p = smoke(p)
    out_dir = Path(namespace["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run_params.json").write_text(json.dumps(vars(p), indent=2, default=str) + "\n")
    return p
