"""Reports: tables with the paper's column beside ours, figures, DVC metrics, provenance, the index page.

Every write is atomic (temp file + rename), so an interrupted stage never leaves half a file. The one
place in avlib that knows the layout of `reports/`.
"""

import io
import json
import os
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from avlib.core.atomic import atomic_write_bytes, atomic_write_text
from avlib.core.metrics import mean_ci
from avlib.data.registry import display_name

# --- tables, metrics, figures --------------------------------------------------------------------

def ours_column(dataset: str, metric: str = "") -> str:
    return f"ours ({display_name(dataset)}){' ' + metric if metric else ''}"


def paper_column(dataset: str, metric: str = "") -> str:
    return f"paper ({display_name(dataset)}){' ' + metric if metric else ''}"


def format_ci(values, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± half-width' of the 95% t-interval over seeds, in percent by default; the mean alone for one
    seed (no interval is better than a '± 0.0' that claims certainty)."""
    mean, half = mean_ci([v * scale for v in values])
    return f"{mean:.{digits}f}" + (f" ± {half:.{digits}f}" if half is not None else "")


def write_table(df: pd.DataFrame, out_dir, name: str = "table", note: str = "") -> None:
    """`<name>.csv` and `<name>.md` (a pipe table, with `note` under it: which data, what the columns are)."""
    atomic_write_text(Path(out_dir) / f"{name}.csv", df.to_csv(index=False))
    md = df.astype(object).where(df.notna(), None).to_markdown(index=False, missingval="–")
    atomic_write_text(Path(out_dir) / f"{name}.md", md + (f"\n\n{note}\n" if note else "\n"))


def write_metrics(metrics: dict, out_dir, name: str = "metrics.json") -> None:
    """DVC metrics: plain JSON, keys sorted, so `dvc metrics diff` and git diffs stay stable."""
    atomic_write_text(Path(out_dir) / name, json.dumps(metrics, indent=2, sort_keys=True) + "\n")


# What a run rewrites is not the code's state. `:(top)`: paths from the checkout's top, whatever the cwd.
SOURCE_EXCLUDES = (":(top,exclude)reports", ":(top,exclude)data", ":(top,exclude)dvc.lock")


def git_commit(cwd=None) -> str:
    """The commit the code came from, with '+dirty' when a source file is modified, staged or untracked
    (the pipeline's own outputs, reports/, data/ and dvc.lock, do not count: a run rewrites them)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=cwd).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal", "--", ":(top)",
                                *SOURCE_EXCLUDES], capture_output=True, text=True, check=True, cwd=cwd).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict:
    """The versions that decide the numbers: libraries, eSpeak NG's data, and the CPU threads in use."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    out = {}
    for name in ("torch", "torchaudio", "numpy", "scipy", "scikit-learn", "pandas", "espeakng-loader", "mlxtend"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    out["torch_threads"] = torch.get_num_threads()
    out["openblas_coretype"] = os.environ.get("OPENBLAS_CORETYPE", "by CPU")  # avlib/core/pins.py
    from avlib.core.pins import PINS, cpu

    out["kernel_pins"] = {name: os.environ.get(name, "by CPU") for name in PINS}  # avlib/core/pins.py
    out["cpu"] = cpu()  # the pins hold one kernel family; some of its kernels still block by this CPU's caches
    out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    return out


def save_figure(fig, out_dir, name: str) -> Path:
    """PNG without timestamp or commit (provenance.json names them): an unchanged result is unchanged bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(Path(out_dir) / f"{name}.png", buffer.getvalue())

