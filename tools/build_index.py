"""Rebuild the reports site from every reports/<stage>/ that has a provenance.json: reports/index.html (the
talk's structure, ours beside the paper's) and reports/site/<stage>.html (avlib/site.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.site import build_site  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {build_site(ROOT / 'reports')}")
