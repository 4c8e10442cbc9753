"""Reports: tables with the paper's column beside ours, figures, DVC metrics, provenance, the index page.

Every write is atomic (temp file + rename), so an interrupted stage never leaves half a file. The one
place in avlib that knows the layout of `reports/`.
"""

import html
import io
import json
import os
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are rendered headless
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from avlib.metrics import mean_ci  # noqa: E402

DATASET_NAMES = {"avdigits": "AV-Digits", "cremad": "CREMA-D", "vggsound": "VGGSound",
                 "kinetics_sounds": "KS", "ave": "AVE", "music_avqa": "MUSIC-AVQA"}


# --- atomic writes -------------------------------------------------------------------------------

def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


# --- reference numbers ---------------------------------------------------------------------------

def load_reference(name: str):
    """A paper-number file from avlib/reference (CSV -> DataFrame, YAML -> dict)."""
    file = resources.files("avlib") / "reference" / name
    if not file.is_file():
        raise FileNotFoundError(f"no reference file {name!r} in avlib/reference")
    if name.endswith(".csv"):
        return pd.read_csv(file, comment="#")
    return yaml.safe_load(file.read_text())


# --- tables, metrics, figures --------------------------------------------------------------------

def ours_column(dataset: str, metric: str = "") -> str:
    return f"ours ({DATASET_NAMES.get(dataset, dataset)}){' ' + metric if metric else ''}"


def paper_column(dataset: str, metric: str = "") -> str:
    return f"paper ({DATASET_NAMES.get(dataset, dataset)}){' ' + metric if metric else ''}"


def format_ci(values, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± half-width' of the 95% CI over seeds, in percent by default."""
    mean, half = mean_ci([v * scale for v in values])
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def write_table(df: pd.DataFrame, out_dir, name: str = "table", note: str = "") -> None:
    """`<name>.csv` and `<name>.md` (a pipe table, with `note` under it: which data, what the columns are)."""
    atomic_write_text(Path(out_dir) / f"{name}.csv", df.to_csv(index=False))
    md = df.astype(object).where(df.notna(), None).to_markdown(index=False, missingval="–")
    atomic_write_text(Path(out_dir) / f"{name}.md", md + (f"\n\n{note}\n" if note else "\n"))


def write_metrics(metrics: dict, out_dir, name: str = "metrics.json") -> None:
    """DVC metrics: plain JSON, keys sorted, so `dvc metrics diff` and git diffs stay stable."""
    atomic_write_text(Path(out_dir) / name, json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def git_commit() -> str:
    """The commit the code came from, with '+dirty' when source files have uncommitted changes
    (the pipeline's own outputs, reports/, data/ and dvc.lock, do not count: a run rewrites them)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!reports", ":!data", ":!dvc.lock"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_figure(fig, out_dir, name: str, stage: str) -> Path:
    """PNG with a footer naming the notebook and commit that drew it."""
    fig.text(0.995, 0.005, f"notebooks/{stage}.ipynb @ {git_commit()}", ha="right", va="bottom",
             fontsize=6, color="0.5")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(Path(out_dir) / f"{name}.png", buffer.getvalue())


# --- index page ----------------------------------------------------------------------------------

def _stage_section(stage_dir: Path) -> str:
    prov = json.loads((stage_dir / "provenance.json").read_text())
    parts = [f'<section id="{stage_dir.name}"><h2>{html.escape(stage_dir.name)}</h2>']
    parts.append("<table class='prov'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in prov.items() if k != "params") + "</table>")
    parts.append(f"<details><summary>params</summary><pre>{html.escape(yaml.safe_dump(prov.get('params', {})))}"
                 "</pre></details>")
    for table in sorted(stage_dir.glob("*.csv")):
        notes = stage_dir / f"{table.stem}.md"
        if not notes.exists():  # raw data (e.g. per-epoch logs): linked, not inlined
            parts.append(f"<p><a href='{stage_dir.name}/{table.name}'>{table.name}</a></p>")
            continue
        parts.append(f"<h3>{table.stem}</h3>" + pd.read_csv(table).to_html(index=False, na_rep=""))
        if "\n\n" in notes.read_text().strip():
            parts.append(f"<p class='note'>{html.escape(notes.read_text().strip().split(chr(10) * 2, 1)[1])}</p>")
    for text in sorted(stage_dir.glob("findings.md")):
        parts.append(f"<pre class='findings'>{html.escape(text.read_text())}</pre>")
    for fig in sorted(stage_dir.glob("*.png")):
        parts.append(f"<figure><img src='{stage_dir.name}/{fig.name}' alt='{fig.stem}'>"
                     f"<figcaption>{fig.stem}</figcaption></figure>")
    if (stage_dir / "notebook.html").exists():
        parts.append(f"<p><a href='{stage_dir.name}/notebook.html'>executed notebook</a></p>")
    return "\n".join(parts) + "</section>"


def build_index(reports_dir="reports") -> Path:
    """reports/index.html: every stage's tables and figures with their provenance."""
    reports_dir = Path(reports_dir)
    stages = sorted(d for d in reports_dir.iterdir() if (d / "provenance.json").exists())
    toc = "".join(f"<li><a href='#{d.name}'>{d.name}</a></li>" for d in stages)
    body = "\n".join(_stage_section(d) for d in stages)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}img{max-width:100%}"
             ".prov th{text-align:left;background:#f4f4f4}.note{color:#444}"
             ".findings{white-space:pre-wrap;background:#f8f8f0;padding:8px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>avlab reports</title>"
            f"<style>{style}</style></head><body><h1>avlab reports</h1>"
            "<p>Every number under <em>ours</em> was computed by the stage's notebook on the data its provenance "
            "names; <em>paper</em> columns are the published numbers, on the published datasets.</p>"
            f"<ul>{toc}</ul>{body}</body></html>\n")
    return atomic_write_text(reports_dir / "index.html", page)
