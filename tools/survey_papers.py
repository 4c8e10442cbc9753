"""Re-parse the survey's companion paper list into the committed facts, avlib/reference/survey_papers.csv.

    git clone https://github.com/GeWu-Lab/awesome-audiovisual-learning /tmp/avl-list
    python tools/survey_papers.py /tmp/avl-list/README.md            # commit and date read from git

Only bibliographic facts (group, task, sub-task, topic, title, venue, year) are written, under a `#` header
naming the source repository and commit. Malformed lines are warned about (file:line) and listed in the
header. To report on a README without re-committing the CSV, set `survey_trends.readme` (and
`survey_taxonomy.readme`) in params.yaml instead.
"""

import argparse
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.survey.papers import COMMITTED, SOURCE_REPO, git_head, parse_readme, write_papers_csv  # noqa: E402


def commit_date(folder: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(folder), "log", "-1", "--format=%cs"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("readme", type=Path, help="README.md of a copy of " + SOURCE_REPO)
    parser.add_argument("--commit", default="", help="its commit (default: read from git)")
    parser.add_argument("--date", default="", help="the commit's date, YYYY-MM-DD (default: read from git)")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "avlib" / "reference" / COMMITTED)
    args = parser.parse_args()
    warnings.simplefilter("always")  # every malformed line, not only the first
    parsed = parse_readme(args.readme.read_text(encoding="utf-8"), source="README.md")
    parsed.meta.update(source_repo=SOURCE_REPO, source_commit=args.commit or git_head(args.readme.parent) or "unknown",
                       source_date=args.date or commit_date(args.readme.parent))
    write_papers_csv(parsed, args.out)
    years = parsed.papers["year"].dropna()
    print(f"{len(parsed.papers)} entries, years {years.min()}-{years.max()}, {len(parsed.malformed)} malformed "
          f"line(s) -> {args.out}")
    print(parsed.papers.groupby("group").size().to_string())


if __name__ == "__main__":
    main()
