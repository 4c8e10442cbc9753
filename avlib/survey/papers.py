"""The survey's companion paper list, parsed into bibliographic facts.

The survey (Wei et al., arXiv 2208.09579) counts papers per year per group from Google Scholar keyword
searches (the footnote of its paper-per-year figure). Its authors also keep a curated list,
GeWu-Lab/awesome-audiovisual-learning, whose README files each paper under the survey's taxonomy (Sec. 3-5):

    ## Audio-visual Boosting                  group      (## Datasets: a table, no entries)
    ### Audio-visual Recognition              task
    #### Speech Recognition                   sub-task
    ##### Speech                              topic      (a finer split a few sub-tasks have)
    **[CVPR-2016]**                           one entry: venue and year ([2019]: year only, a preprint)
    [Temporal Multimodal ...](https://...)    its title (a link; may wrap over lines)
    <br> **Authors:** ... <br> **Institution:** ...    not kept

`parse_readme` turns it into one row per entry: group, task, subtask, topic, title, venue, year. An entry
without a year is kept (year empty) and counted. A line that looks like part of an entry but cannot be read
(a venue tag not closed as `**[...]**`, a tag with no title link after it, a title link with no tag before
it, a title never closed) is never dropped silently: it raises a `MalformedLineWarning` naming the line and
is returned in `ParsedList.malformed`, so reports can count and list it.

`write_papers_csv`/`read_papers_csv` keep the facts as a CSV whose `# key: value` header names the source
repository and commit; `load_papers` is what stages call: the committed `avlib/reference/survey_papers.csv`
by default, or a newer README re-parsed when a path is given.
"""

import re
import subprocess
import warnings
from dataclasses import dataclass, field
from importlib import resources
from io import StringIO
from pathlib import Path

import pandas as pd

COLUMNS = ("group", "task", "subtask", "topic", "title", "venue", "year")
HEADING_COLUMNS = ("group", "task", "subtask", "topic")  # heading levels ## .. #####
COMMITTED = "survey_papers.csv"  # in avlib/reference
SOURCE_REPO = "GeWu-Lab/awesome-audiovisual-learning"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TAG = re.compile(r"^\*\*\[(?P<tag>[^\]]*)\]\*\*\s*$")
_TAG_START = re.compile(r"^\*\*\[")
_YEAR = re.compile(r"^(?:(?P<venue>.*?)[\s\-–]+)?(?P<year>(?:19|20)\d{2})$")
_LINK = re.compile(r"^\[(?P<title>.+)\]\((?P<url>[^)\s]*)\)")
_ANCHOR_LINK = re.compile(r"^\[[^\]]*\]\(#[^)]*\)\s*$")  # [Back to Top](#top)
_MAX_TITLE_LINES = 4  # a title wrapped over more lines than this is taken as never closed


class MalformedLineWarning(UserWarning):
    """A README line looks like part of a paper entry but cannot be read as one."""


@dataclass(frozen=True)
class Malformed:
    line: int  # 1-based line number in the README
    text: str
    reason: str

    def message(self, source: str) -> str:
        return f"{source}:{self.line}: {self.reason}: {self.text.strip()!r}"


@dataclass
class ParsedList:
    papers: pd.DataFrame  # COLUMNS, one row per entry, README order
    malformed: list = field(default_factory=list)  # [Malformed]
    meta: dict = field(default_factory=dict)  # source_repo, source_commit, source_path, ...

    def describe(self) -> str:
        """'<repo> @ <commit> (<date>), read from <file>': where the facts come from, for notes and captions."""
        m = self.meta
        date = f" ({m['source_date']})" if m.get("source_date") else ""
        return (f"{m.get('source_repo') or 'a README'} @ {m.get('source_commit') or 'unknown commit'}{date}, "
                f"read from {m.get('read_from') or m.get('source_path', '?')}")

    @property
    def malformed_table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(m) for m in self.malformed], columns=["line", "text", "reason"])


def split_tag(tag: str) -> tuple[str, int | None]:
    """'CVPR-2016' -> ('CVPR', 2016); 'ICDIP 2022' -> ('ICDIP', 2022); '2019' -> ('', 2019);
    'CVPR' -> ('CVPR', None): no year."""
    tag = tag.strip()
    m = _YEAR.match(tag)
    if not m:
        return tag, None
    return (m["venue"] or "").strip(), int(m["year"])


def parse_readme(text: str, *, source: str = "README.md", warn: bool = True) -> ParsedList:
    """One row per paper entry of the list's README (module docstring); malformed lines warned and returned."""
    lines = text.splitlines()
    path = [None] * len(HEADING_COLUMNS)  # the current ## .. ##### headings; None before the first ##
    rows, malformed = [], []

    def bad(i: int, reason: str) -> None:
        item = Malformed(i + 1, lines[i], reason)
        malformed.append(item)
        if warn:
            warnings.warn(item.message(source), MalformedLineWarning, stacklevel=3)

    i = 0
    while i < len(lines):
        line = lines[i].strip()
        heading = _HEADING.match(line)
        if heading:
            level = len(heading[1])
            if level == 1:  # '# Overview', '# Table of contents': outside the list
                path = [None] * len(HEADING_COLUMNS)
            elif level - 2 < len(HEADING_COLUMNS):
                path[level - 2] = heading[2]
                path[level - 1:] = [None] * (len(HEADING_COLUMNS) - level + 1)
            else:
                bad(i, "heading deeper than ##### (not a level of the list)")
            i += 1
            continue
        if path[0] is None:  # the preamble: overview, table of contents
            i += 1
            continue
        tag = _TAG.match(line)
        if tag:
            venue, year = split_tag(tag["tag"])
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            title, end = _read_title(lines, j)
            if title is None:
                bad(i, "venue tag with no title link [Title](url) after it")
                i += 1
                continue
            rows.append({**dict(zip(HEADING_COLUMNS, path, strict=True)), "title": title, "venue": venue or None,
                         "year": year})
            i = _skip_entry_body(lines, end + 1)
            continue
        if _TAG_START.match(line):
            bad(i, "venue tag not of the form **[VENUE-YEAR]**")
            title, end = _read_title(lines, i + 1)  # its title belongs to this one broken entry: not warned again
            i = _skip_entry_body(lines, end + 1) if title is not None else i + 1
            continue
        if line.startswith("[") and not _ANCHOR_LINK.match(line):
            title, end = _read_title(lines, i)
            bad(i, "title link with no **[VENUE-YEAR]** tag before it" if title is not None
                else "title link never closed with ](url)")
            i = end + 1 if title is not None else i + 1
            continue
        i += 1
    return ParsedList(_typed(pd.DataFrame(rows, columns=list(COLUMNS))), malformed, {"source_path": source})


def _typed(papers: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas strings (missing: <NA>), year as a nullable integer: parsed == read back."""
    text = [c for c in COLUMNS if c != "year"]
    return papers.astype({**dict.fromkeys(text, "string"), "year": "Int64"})[list(COLUMNS)]


def _read_title(lines: list, j: int) -> tuple[str | None, int]:
    """(title, index of its last line) when lines[j] starts a [Title](url) link, closed within a few lines."""
    if j >= len(lines) or not lines[j].strip().startswith("["):
        return None, j
    parts = []
    for k in range(j, min(j + _MAX_TITLE_LINES, len(lines))):
        part = lines[k].strip()
        if not part or (k > j and (_HEADING.match(part) or _TAG_START.match(part))):
            break
        parts.append(part)
        m = _LINK.match(" ".join(parts))
        if m:
            return " ".join(m["title"].split()), k
    return None, j


def _skip_entry_body(lines: list, k: int) -> int:
    """The index after an entry's authors/institution lines: the next blank line, heading or tag."""
    while k < len(lines):
        line = lines[k].strip()
        if not line or _HEADING.match(line) or _TAG_START.match(line):
            return k
        k += 1
    return k


# --- the committed facts ---------------------------------------------------------------------------

def write_papers_csv(parsed: ParsedList, path, *, note: str = "") -> Path:
    """The papers as CSV under a `# key: value` header (source repository, commit, path, malformed lines)."""
    meta = dict(parsed.meta)
    header = ["# Bibliographic facts of the papers listed in the survey's companion list (Wei et al., "
              "arXiv 2208.09579),", "# parsed by avlib.survey.papers.parse_readme; the README itself is not copied."]
    if note:
        header.append(f"# {note}")
    for key in ("source_repo", "source_commit", "source_date", "source_path"):
        if meta.get(key):
            header.append(f"# {key}: {meta[key]}")
    header.append(f"# malformed_lines: {len(parsed.malformed)}")
    header += [f"# malformed: {m.message(meta.get('source_path', 'README.md'))}" for m in parsed.malformed]
    path = Path(path)
    path.write_text("\n".join(header) + "\n" + parsed.papers.to_csv(index=False))
    return path


def read_papers_csv(path) -> ParsedList:
    """The inverse of `write_papers_csv`: papers, malformed lines (from the header) and the header's facts."""
    text = (path if hasattr(path, "read_text") else Path(path)).read_text()
    head = [ln for ln in text.splitlines() if ln.startswith("#")]
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    meta, malformed = {}, []
    for ln in head:
        key, sep, value = ln[1:].strip().partition(": ")
        if sep and key == "malformed":
            m = re.match(r"^(?P<src>.*?):(?P<line>\d+): (?P<reason>.*?): (?P<text>.*)$", value)
            if m:
                malformed.append(Malformed(int(m["line"]), m["text"].strip("'\""), m["reason"]))
        elif sep and re.fullmatch(r"[a-z_]+", key):
            meta[key] = value
    papers = pd.read_csv(StringIO(body), dtype=str, keep_default_na=False)
    return ParsedList(_typed(papers.replace("", None)), malformed, meta)


def git_head(folder) -> str:
    """The commit of the git checkout holding `folder`, or '' when it is not one."""
    try:
        return subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def load_papers(readme: str = "") -> ParsedList:
    """The paper list a stage reports on: the committed facts (`avlib/reference/survey_papers.csv`) when
    `readme` is empty, else the README at that path, parsed now (its commit read from git when the README
    sits in a checkout of the list)."""
    if not readme:
        parsed = read_papers_csv(resources.files("avlib") / "reference" / COMMITTED)
        parsed.meta["read_from"] = f"avlib/reference/{COMMITTED}"
        return parsed
    path = Path(readme)
    if not path.is_file():
        raise FileNotFoundError(f"readme={readme!r}: no such file; expected the README.md of a copy of "
                                f"{SOURCE_REPO} (or an empty readme for the committed {COMMITTED})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"readme={readme!r}: byte {err.object[err.start:err.start + 1]!r} at offset {err.start} "
                         f"is not UTF-8; expected the UTF-8 README.md of {SOURCE_REPO}") from None
    parsed = parse_readme(text, source=str(path))
    if parsed.papers.empty:
        raise ValueError(f"readme={readme!r}: no paper entries found ({len(text.splitlines())} lines); expected the "
                         f"README.md of {SOURCE_REPO}, with '## <group>' headings and '- [title](link), venue year' "
                         "entries")
    parsed.meta.update(source_repo=SOURCE_REPO + " (a local copy)", read_from=str(path),
                       source_commit=git_head(path.parent) or "unknown (not a git checkout)")
    return parsed
