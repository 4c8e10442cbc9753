"""Rebuild reports/index.html from every reports/<stage>/ that has a provenance.json."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.report import build_index  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {build_index(ROOT / 'reports')}")
