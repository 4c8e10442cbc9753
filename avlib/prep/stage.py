"""What the raw-data preparation stages (`prep_cremad`, `prep_clips`) do with their checked params.

With `raw_root` empty (the default) nothing is prepared: the stage writes a report saying so and succeeds,
so `dvc repro` of the whole pipeline never fails for want of raw data. Otherwise the clips are prepared
into `out_root` (manifest.json, prep_report.md beside them; a rerun skips finished clips and redoes
half-written ones, `avlib.prep.common`), the report is copied into the stage's report folder, and a listed
clip that failed or is missing raises `PrepError` after everything is written (`allow_missing: true`: the
report lists them and the stage succeeds).
"""

from pathlib import Path

from avlib.prep.clips import prepare_clips
from avlib.prep.common import atomic_text, write_json
from avlib.prep.cremad import prepare_cremad


class PrepError(RuntimeError):
    """Listed clips could not be prepared (failed or missing); the report names each and why."""


def prepare(stage: str, p, out_dir) -> dict:
    """Prepare the clips `p` (a stage's checked params) names; write report.md and metrics.json into
    `out_dir`; return the metrics."""
    out = Path(out_dir)
    if not p.raw_root:
        atomic_text(out / "report.md", f"# {stage}: not configured\n\n`{stage}.raw_root` is empty, so nothing was "
                    f"prepared. Set it to the raw release, e.g. `dvc exp run {stage} -S "
                    f"{stage}.raw_root=/path/to/raw`.\n")
        metrics = {"configured": False, "clips_written": 0}
        write_json(out / "metrics.json", metrics)
        Path(p.out_root).mkdir(parents=True, exist_ok=True)
        return metrics
    if stage == "prep_cremad":
        m = prepare_cremad(p.raw_root, p.out_root, fps=p.fps, workers=p.workers, progress=True)
    else:
        lists = {"train": p.train_list, "test": p.test_list} if p.train_list or p.test_list else None
        m = prepare_clips(p.dataset, p.raw_root, p.out_root, list_format=p.list_format, lists=lists, fps=p.fps,
                          sample_rate=p.sample_rate, workers=p.workers, progress=True)
    atomic_text(out / "report.md", (Path(p.out_root) / "prep_report.md").read_text())
    written = {f"{s}_written": v["written"] for s, v in m["splits"].items()}
    metrics = {"configured": True, "clips_written": sum(written.values()), **m["counts"], "missing": m["missing"],
               "unlisted": m["unlisted"], **written, "sha256": m["sha256"]}
    write_json(out / "metrics.json", metrics)
    bad = m["counts"]["failed"] + m["missing"]
    if bad and not p.allow_missing:
        raise PrepError(f"{stage}: {bad} listed clips not prepared (failed or missing); the reasons are in "
                        f"{Path(p.out_root) / 'prep_report.md'} (allow_missing: true accepts them)")
    return metrics
