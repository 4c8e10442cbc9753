"""Raw-data preparation stages: `python tools/prep.py prep_cremad` / `prep_clips`, reading params.yaml.

With the section's `raw_root` empty (the default) nothing is prepared: the stage writes a report saying
so (reports/<stage>/report.md, metrics.json with "configured": false) and exits 0, so `dvc repro` of the
whole pipeline never fails for want of raw data. Point it at the release to prepare:

    dvc exp run prep_cremad -S prep_cremad.raw_root=/data/CREMA-D
    dvc exp run prep_clips  -S prep_clips.raw_root=/data/ks/videos -S prep_clips.dataset=kinetics_sounds

The data lands in the section's `out_root` (manifest.json, prep_report.md beside it); a rerun skips the
finished clips and redoes half-written ones (`avlib.prep.common`). Exit 1 when a clip failed or a listed
clip is missing, after writing everything (the report lists them); `allow_missing: true` makes that exit 0.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.prep.clips import FORMATS, prepare_clips  # noqa: E402
from avlib.prep.common import atomic_text, write_json  # noqa: E402
from avlib.prep.cremad import prepare_cremad  # noqa: E402

KEYS = {"prep_cremad": {"raw_root", "out_root", "fps", "workers", "allow_missing"},
        "prep_clips": {"dataset", "raw_root", "out_root", "list_format", "train_list", "test_list", "fps",
                       "sample_rate", "workers", "allow_missing"}}


def check(stage: str, p: dict) -> None:
    """One clear error per bad knob, before anything runs."""
    if set(p) != KEYS[stage]:
        raise SystemExit(f"params.yaml {stage}: keys {sorted(set(p) ^ KEYS[stage])} unknown or missing; "
                         f"expected {sorted(KEYS[stage])}")
    for key in ("fps", "workers") + (("sample_rate",) if stage == "prep_clips" else ()):
        if not (isinstance(p[key], int) and not isinstance(p[key], bool) and p[key] >= 1):
            raise SystemExit(f"{stage}.{key}={p[key]!r}; expected an integer >= 1")
    if stage == "prep_clips":
        if p["dataset"] not in ("kinetics_sounds", "vggsound"):
            raise SystemExit(f"prep_clips.dataset={p['dataset']!r}; expected kinetics_sounds or vggsound")
        if p["list_format"] not in FORMATS:
            raise SystemExit(f"prep_clips.list_format={p['list_format']!r}; expected one of {FORMATS}")
    if p["raw_root"] and not Path(p["raw_root"]).is_dir():
        raise SystemExit(f"{stage}.raw_root={p['raw_root']!r} is not a directory")


def run(stage: str, p: dict, reports: Path, progress: bool = True) -> int:
    check(stage, p)
    out = reports / stage
    if not p["raw_root"]:
        text = (f"# {stage}: not configured\n\n`{stage}.raw_root` is empty, so nothing was prepared. Set it to "
                f"the raw release, e.g. `dvc exp run {stage} -S {stage}.raw_root=/path/to/raw`.\n")
        atomic_text(out / "report.md", text)
        write_json(out / "metrics.json", {"configured": False})
        Path(p["out_root"]).mkdir(parents=True, exist_ok=True)
        return 0
    if stage == "prep_cremad":
        m = prepare_cremad(p["raw_root"], p["out_root"], fps=p["fps"], workers=p["workers"], progress=progress)
    else:
        lists = ({"train": p["train_list"], "test": p["test_list"]} if p["train_list"] or p["test_list"]
                 else None)
        m = prepare_clips(p["dataset"], p["raw_root"], p["out_root"], list_format=p["list_format"], lists=lists,
                          fps=p["fps"], sample_rate=p["sample_rate"], workers=p["workers"], progress=progress)
    report = (Path(p["out_root"]) / "prep_report.md").read_text()
    atomic_text(out / "report.md", report)
    metrics = {"configured": True, **m["counts"], "missing": m["missing"], "unlisted": m["unlisted"],
               **{f"{s}_written": v["written"] for s, v in m["splits"].items()}, "sha256": m["sha256"]}
    write_json(out / "metrics.json", metrics)
    bad = m["counts"]["failed"] + m["missing"]
    if bad and not p["allow_missing"]:
        print(f"{stage}: {bad} listed clips not prepared (failed or missing); see {out / 'report.md'}",
              file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=sorted(KEYS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override (YAML value)")
    args = parser.parse_args(argv)
    p = dict(yaml.safe_load((ROOT / "params.yaml").read_text())[args.stage])
    for item in args.set:
        key, _, value = item.partition("=")
        p[key] = yaml.safe_load(value)
    code = run(args.stage, p, ROOT / "reports")
    print(json.dumps(json.loads((ROOT / "reports" / args.stage / "metrics.json").read_text())))
    return code


if __name__ == "__main__":
    sys.exit(main())
