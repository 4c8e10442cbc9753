"""Floor 3: what a stage writes into reports/<stage>/ (`write`), the plots several stages draw (`plots`),
and the reports site built from every stage's folder (`site`).

Notebooks use `from avlib import report` and call `report.write_table`, `report.save_figure`, ...: the
writers of `write.py`, the one atomic write and the papers' numbers, re-exported here. The site is not
imported here: no stage's output depends on its code.
"""

from avlib.core.atomic import atomic_write_bytes, atomic_write_text
from avlib.reference import load_reference
from avlib.report.write import (
    format_ci,
    git_commit,
    ours_column,
    paper_column,
    save_figure,
    versions,
    write_metrics,
    write_table,
)

__all__ = ["atomic_write_bytes", "atomic_write_text", "format_ci", "git_commit", "load_reference", "ours_column",
           "paper_column", "save_figure", "versions", "write_metrics", "write_table"]
