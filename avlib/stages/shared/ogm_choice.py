"""OGM-GE as stage t1_fusion chose it on val: the `chosen` row of its ogm_grid.csv, read by the stages that
train OGM-GE at that setting rather than choosing their own (fig_underopt, t3_imbalance). One choice, made
over t1_fusion's selection seeds, keeps every OGM-GE row of the talk at the same α and window."""

import re
from pathlib import Path

import pandas as pd

from avlib.balance import OGMConfig

# t1_fusion labels its grid points "α=<alpha>, window=<fraction of the epochs>" (t1_fusion.ogm_grid_specs);
# tests/stages/test_fig_underopt.py parses t1_fusion's own labels, so a change there fails a test, not a stage.
_SETTING = re.compile(r"α=(?P<alpha>[0-9.eE+-]+), window=(?P<window>[0-9.eE+-]+)")


def chosen_ogm(path, *, epochs: int, params: str = "conv") -> OGMConfig:
    """The OGM-GE setting stage t1_fusion chose on val (the `chosen` row of its ogm_grid.csv), with the
    window, a fraction of the epochs, mapped onto `epochs` as t1_fusion does (ends at round(w * epochs))."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing. This stage uses the OGM-GE α and window that stage t1_fusion "
                                "chose on val, read from this file; run `dvc repro t1_fusion` first")
    grid = pd.read_csv(path)
    if not {"setting", "chosen"} <= set(grid.columns):
        raise ValueError(f"{path}: expected columns 'setting' and 'chosen' (t1_fusion's ogm_grid); got "
                         f"{list(grid.columns)}. Re-run `dvc repro t1_fusion`")
    rows = grid[grid["chosen"].astype(str) == "True"]
    if len(rows) != 1:
        raise ValueError(f"{path}: expected exactly one row with chosen=True, found {len(rows)}")
    setting = rows["setting"].iloc[0]
    match = _SETTING.fullmatch(str(setting))
    if match is None:
        raise ValueError(f"{path}: chosen setting {setting!r} is not of the form 'α=<alpha>, window=<fraction>'")
    alpha, window = float(match["alpha"]), float(match["window"])
    return OGMConfig(alpha=alpha, start_epoch=0, end_epoch=max(1, round(window * epochs)), params=params)
