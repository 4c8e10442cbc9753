"""Rebuild the reports site from every reports/<stage>/ that has a provenance.json: reports/index.html (the
talk's structure, ours beside the paper's) and reports/site/<stage>.html (avlib/report/site.py).

    python tools/build_index.py [--reports reports]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.report.site import build_site  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="reports folder (default: reports/)")
    print(f"wrote {build_site(Path(parser.parse_args().reports))}")
