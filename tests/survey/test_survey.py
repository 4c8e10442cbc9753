"""The survey stages' library: the paper-list parser, the taxonomy and its schema, papers per node, the
trend tables, and the dataset table's parsing."""

import re
import warnings

import matplotlib.figure
import pandas as pd
import pytest

from avlib.reference import load_reference
from avlib.stages import survey_datasets, survey_taxonomy, survey_trends
from avlib.survey.papers import (
    COLUMNS,
    MalformedLineWarning,
    load_papers,
    parse_readme,
    read_papers_csv,
    split_tag,
    write_papers_csv,
)
from avlib.survey.taxonomy import TaxonomyError, count_papers, load_taxonomy, unmatched, validate

# A tiny README in the list's layout, every heading level, with line numbers fixed by this text:
# entries: 6 good (one without a year, one with a title wrapped over two lines, one under a ##### topic,
# one with a 'VENUE YEAR' tag), 3 malformed lines (an unclosed tag, a tag without a title, a title without
# a tag); the preamble's links, [Back to Top](#top) and the Datasets table are not entries.
README = """\
<a name="top"></a>
# Overview
A curated list. [[arXiv]](https://arxiv.org/abs/2208.09579)

# Table of contents
- [Group A](#group-a)

## Group A

### Task A1

#### Sub A1a
**[CVPR-2020]**
[Paper One](https://example.org/1)
<br>
**Authors:** Ann, Bob
<br>
**Institution:** Somewhere

**[2021]**
[Paper Two: a preprint](https://example.org/2)
<br>
**Authors:** Cy

**[ICDIP 2022]**
[Paper Three](https://example.org/3)

#### Sub A1b
**[CVPR-2020]
[Paper Broken](https://example.org/broken)

**[NeurIPS]**
[Paper Four, no year](https://example.org/4)

### Task A2
**[ICASSP-2019]**
Not a title link
<br>

[Orphan Paper](https://example.org/orphan)
<br>
**Authors:** Dee

[Back to Top](#top)

## Group B

### Task B1

#### Sub B1a

##### Topic B1a-x
**[ACM MM-2023]**
[Paper Five, wrapped over
two lines](https://example.org/5)
<br>
**Authors:** Eve

### Task B2
**[IEEE TMM-2018]**
[Paper Six](https://example.org/6)

## Datasets

| Dataset | Year |
| :-: | :-: |
| [Something](https://example.org/d) | 2020 |
"""
MALFORMED_LINES = {29: "not of the form", 36: "no title link", 40: "no **[VENUE-YEAR]** tag"}


def _line_of(text: str) -> int:
    return README.splitlines().index(text) + 1


def test_fixture_line_numbers_are_what_the_test_claims():
    assert _line_of("**[CVPR-2020]") == 29
    assert _line_of("**[ICASSP-2019]**") == 36
    assert _line_of("[Orphan Paper](https://example.org/orphan)") == 40


def _parse():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = parse_readme(README, source="README.md")
    return parsed, [w for w in caught if issubclass(w.category, MalformedLineWarning)]


def test_parser_reads_every_entry_under_its_headings():
    papers = _parse()[0].papers
    assert list(papers.columns) == list(COLUMNS)
    assert papers["title"].tolist() == ["Paper One", "Paper Two: a preprint", "Paper Three", "Paper Four, no year",
                                        "Paper Five, wrapped over two lines", "Paper Six"]
    one = papers.iloc[0]
    assert (one["group"], one["task"], one["subtask"], one["venue"], one["year"]) == (
        "Group A", "Task A1", "Sub A1a", "CVPR", 2020)
    assert pd.isna(one["topic"])
    assert pd.isna(papers.iloc[1]["venue"]) and papers.iloc[1]["year"] == 2021  # [2021]: a year alone
    assert (papers.iloc[2]["venue"], papers.iloc[2]["year"]) == ("ICDIP", 2022)  # 'VENUE YEAR'
    five = papers.iloc[4]
    assert (five["group"], five["task"], five["subtask"], five["topic"]) == ("Group B", "Task B1", "Sub B1a",
                                                                             "Topic B1a-x")
    six = papers.iloc[5]  # ### after ##### resets the deeper levels
    assert (six["task"], six["venue"], six["year"]) == ("Task B2", "IEEE TMM", 2018)
    assert pd.isna(six["subtask"]) and pd.isna(six["topic"])
    assert set(papers["group"]) == {"Group A", "Group B"}  # the preamble and the Datasets table hold no entry


def test_entry_without_a_year_is_kept_with_an_empty_year():
    papers = _parse()[0].papers
    row = papers[papers["title"] == "Paper Four, no year"].iloc[0]
    assert row["venue"] == "NeurIPS" and pd.isna(row["year"])
    assert int(papers["year"].isna().sum()) == 1


def test_malformed_lines_are_warned_by_line_and_counted_never_silently_dropped():
    parsed, caught = _parse()
    assert {m.line for m in parsed.malformed} == set(MALFORMED_LINES)
    assert len(caught) == len(MALFORMED_LINES)
    for (line, reason), warning, item in zip(sorted(MALFORMED_LINES.items()), caught, parsed.malformed,
                                              strict=True):
        message = str(warning.message)
        assert message.startswith(f"README.md:{line}: ") and reason in message
        assert item.line == line and item.text == README.splitlines()[line - 1]
    table = parsed.malformed_table
    assert len(table) == 3 and list(table.columns) == ["line", "text", "reason"]
    # the unclosed tag's title and the orphan are not counted as papers
    assert not parsed.papers["title"].isin(["Paper Broken", "Orphan Paper"]).any()


def test_a_single_malformed_line_is_named_in_the_warning():
    with pytest.warns(MalformedLineWarning, match=re.escape("list.md:3: venue tag not of the form")):
        parsed = parse_readme("## G\n### T\n**[CVPR-2020]*\n[A](u)\n", source="list.md")
    assert len(parsed.malformed) == 1 and parsed.papers.empty


@pytest.mark.parametrize("tag, expected", [("CVPR-2016", ("CVPR", 2016)), ("ICDIP 2022", ("ICDIP", 2022)),
                                           ("2019", ("", 2019)), ("CVPR", ("CVPR", None)),
                                           ("IEEE/ACM TASLP-2021", ("IEEE/ACM TASLP", 2021))])
def test_split_tag(tag, expected):
    assert split_tag(tag) == expected


def test_csv_round_trip_keeps_facts_source_and_malformed_lines(tmp_path):
    parsed = _parse()[0]
    parsed.meta.update(source_repo="owner/list", source_commit="a" * 40, source_date="2024-01-02")
    path = write_papers_csv(parsed, tmp_path / "papers.csv")
    head = path.read_text().splitlines()
    assert "# source_repo: owner/list" in head and f"# source_commit: {'a' * 40}" in head
    assert "# malformed_lines: 3" in head
    back = read_papers_csv(path)
    pd.testing.assert_frame_equal(back.papers, parsed.papers)
    assert back.meta["source_commit"] == "a" * 40
    assert [m.line for m in back.malformed] == [29, 36, 40]
    assert "owner/list @ " + "a" * 40 in back.describe()


def test_load_papers_reparses_a_readme_path(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    with pytest.warns(MalformedLineWarning):
        parsed = load_papers(str(readme))
    assert len(parsed.papers) == 6 and len(parsed.malformed) == 3
    assert parsed.meta["read_from"] == str(readme) and parsed.meta["source_commit"]
    with pytest.raises(FileNotFoundError, match="readme='/nowhere/README.md'"):
        load_papers("/nowhere/README.md")


def test_committed_papers_name_their_source_and_the_three_groups():
    parsed = load_papers()
    assert parsed.meta["source_repo"] == "GeWu-Lab/awesome-audiovisual-learning"
    assert re.fullmatch(r"[0-9a-f]{40}", parsed.meta["source_commit"])
    assert set(parsed.papers["group"]) == set(survey_trends.APPROX_COLUMNS)
    assert parsed.papers["title"].notna().all() and len(parsed.papers) > 100


# --- taxonomy -------------------------------------------------------------------------------------

TINY_TAXONOMY = """
source: test
groups:
  - name: A
    heading: Group A
    section: "3"
    tasks:
      - name: A one
        heading: Task A1
        subtasks:
          - {name: a, heading: Sub A1a}
          - {name: b, heading: Sub A1b}
          - {name: c, heading: Sub A1c}
      - name: A two
        heading: Task A2
        subtasks:
          - {name: unsplit, heading: null}
  - name: B
    heading: Group B
    section: "4"
    tasks:
      - {name: B one, heading: Task B1}
"""


def test_committed_taxonomy_follows_the_schema_and_the_survey():
    taxonomy = load_taxonomy()
    assert [g["name"] for g in taxonomy["groups"]] == ["Audio-visual Boosting", "Cross-modal Perception",
                                                       "Audio-visual Collaboration"]
    tasks = {g["name"]: [t["name"] for t in g["tasks"]] for g in taxonomy["groups"]}
    assert len(tasks["Audio-visual Boosting"]) == 2 and len(tasks["Cross-modal Perception"]) == 3
    assert len(tasks["Audio-visual Collaboration"]) == 4


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("subtasks:\n          - {name: a", "subtask:\n          - {name: a"),
     r"groups\[0\]\.tasks\[0\]: unknown key 'subtask'"),
    (lambda t: t.replace("{name: b, heading: Sub A1b}", "{heading: Sub A1b}"),
     r"groups\[0\]\.tasks\[0\]\.subtasks\[1\]: missing key 'name'"),
    (lambda t: t.replace("{name: c, heading: Sub A1c}", "{name: a, heading: Sub A1c}"),
     r"groups\[0\]\.tasks\[0\]\.subtasks\[2\]: name 'a' repeats a sibling's"),
    (lambda t: t.replace('section: "4"', "section: 4"), r"groups\[1\]\.section: expected a string"),
    (lambda t: t.replace("source: test", "sauce: test"), r"top level: unknown key 'sauce'"),
    (lambda t: t.replace("  - name: B\n", "  - name: [B\n"), r"not valid YAML"),
])
def test_bad_taxonomy_is_rejected_with_a_clear_error(edit, message):
    load_taxonomy(TINY_TAXONOMY, source="tiny.yaml")  # the unedited one passes
    with pytest.raises(TaxonomyError, match=r"^tiny\.yaml: .*" + message):
        load_taxonomy(edit(TINY_TAXONOMY), source="tiny.yaml")


def test_validate_rejects_a_non_mapping():
    with pytest.raises(TaxonomyError, match="top level: expected a mapping"):
        validate(["groups"], "x.yaml")


def _hand_papers() -> pd.DataFrame:
    rows = [("Group A", "Task A1", "Sub A1a", None)] * 3 + [("Group A", "Task A1", "Sub A1b", None)] * 2 + [
        ("Group A", "Task A2", None, None), ("Group B", "Task B1", "Sub B1x", None),
        ("Group B", "Task B1", "Sub B1x", "Topic"), ("Group B", "Task B9", None, None)]
    return pd.DataFrame([dict(zip(("group", "task", "subtask", "topic"), r, strict=True)) | {"title": f"p{i}"}
                         for i, r in enumerate(rows)]).astype("string")


def test_papers_per_node_on_a_hand_counted_example():
    counts = count_papers(load_taxonomy(TINY_TAXONOMY), _hand_papers())
    got = dict(zip(counts["name"], counts["papers"], strict=True))
    # Group A: 3 + 2 + 1; Task A1: 5; a 3, b 2, c 0; Task A2: 1; 'unsplit' has no heading: no count
    assert {k: got[k] for k in ("A", "A one", "a", "b", "c", "A two", "B", "B one")} == {
        "A": 6, "A one": 5, "a": 3, "b": 2, "c": 0, "A two": 1, "B": 3, "B one": 2}
    assert pd.isna(got["unsplit"])
    sides = unmatched(load_taxonomy(TINY_TAXONOMY), _hand_papers())
    assert sides["list_only"] == [("Group B", "Task B1", "Sub B1x"), ("Group B", "Task B1", "Sub B1x", "Topic"),
                                  ("Group B", "Task B9")]
    assert sides["taxonomy_only"] == [("Group A", "Task A1", "Sub A1c")]


def test_taxonomy_tree_adds_list_only_nodes_under_their_parent():
    tree = survey_taxonomy.tree_rows(load_taxonomy(TINY_TAXONOMY), _hand_papers(), list_only=True)
    names = tree["name"].tolist()
    assert names.index("Sub B1x") == names.index("B one") + 1 and names.index("Topic") == names.index("Sub B1x") + 1
    row = tree[tree["name"] == "Sub B1x"].iloc[0]
    assert row["kind"] == survey_taxonomy.LIST_ONLY and row["papers"] == 2 and row["path"] == ("B", "B one",
                                                                                                "Sub B1x")
    assert len(survey_taxonomy.tree_rows(load_taxonomy(TINY_TAXONOMY), _hand_papers(), list_only=False)) == 9
    table = survey_taxonomy.node_table(tree)
    assert table.loc[table["node"] == "unsplit", "note"].iloc[0] == survey_taxonomy.NOT_SPLIT
    fig = survey_taxonomy.tree_figure(tree, n_papers=9, commit="abcdef1234")
    assert isinstance(fig, matplotlib.figure.Figure)


# --- trends ---------------------------------------------------------------------------------------

def test_per_year_tables_fill_missing_years_and_total():
    papers = _parse()[0].papers
    table = survey_trends.per_year_group(papers)
    assert table["year"].tolist() == list(range(2018, 2024))
    assert table.set_index("year").loc[2020, "Group A"] == 1 and table.set_index("year").loc[2019, "total"] == 0
    assert table["total"].sum() == 5  # the entry without a year is not in any year
    tasks = survey_trends.per_task(papers)
    assert tasks.set_index("task").loc["Task A1", "total"] == 4  # total counts the one without a year too


def test_venues_fold_spellings_and_keep_year_only_tags_apart():
    assert survey_trends.normalize_venue("InterSpeech") == "Interspeech"
    assert survey_trends.normalize_venue("TMM") == "IEEE TMM"
    assert survey_trends.normalize_venue(pd.NA) == survey_trends.NO_VENUE
    papers = pd.DataFrame({"group": ["G"] * 4, "venue": ["INTERSPEECH", "Interspeech", "CVPR", pd.NA],
                           "title": list("abcd")})
    venues = survey_trends.venue_table(papers, top=1).set_index("venue")
    assert venues.loc["Interspeech", "entries"] == 2 and venues.loc["other venues", "entries"] == 1
    assert venues.loc[survey_trends.NO_VENUE, "entries"] == 1
    assert venues.loc["Interspeech", "spellings in the list"] == "INTERSPEECH, Interspeech"


def test_versus_survey_reads_the_reference_curve():
    approx = load_reference("survey_trend_paper_approx.csv")
    table = pd.DataFrame({"year": [2017, 2018], "Audio-visual Boosting": [2, 3], "Cross-modal Perception": [0, 1],
                          "Audio-visual Collaboration": [1, 1], "total": [3, 5]})
    versus = survey_trends.versus_survey(table, approx)
    row = versus[(versus["year"] == "2017") & (versus["group"] == "total")].iloc[0]
    assert row["companion list"] == 3 and row[survey_trends.APPROX_COLUMN] == approx.loc[0, "total"]
    assert versus["year"].str.contains("part").any()  # 2022.8: the survey's part year is labelled


def test_duplicates_split_same_heading_and_cross_listed():
    papers = pd.DataFrame({"group": ["G"] * 4, "task": ["T", "T", "U", "T"], "subtask": [pd.NA] * 4,
                           "topic": [pd.NA] * 4, "title": ["A", "a ", "A", "B"]})
    assert survey_trends.duplicates(papers) == {"distinct_titles": 2, "repeated_entries": 2,
                                                "repeated_in_same_node": 1, "repeated_across_nodes": 1}


# --- datasets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, unit, expected", [("200k+", "", (200000.0, True)), ("306245", "", (306245.0, False)),
                                                  ("2M+", "", (2e6, True)), ("5.4k", "", (5400.0, False)),
                                                  ("2000h+", "h", (2000.0, True)), ("5.2h", "h", (5.2, False))])
def test_parse_amount(text, unit, expected):
    assert survey_datasets.parse_amount(text, unit) == expected


def test_parse_amount_empty_and_bad():
    value, bound = survey_datasets.parse_amount(float("nan"))
    assert pd.isna(value) and not bound
    with pytest.raises(ValueError, match="cannot read 'lots'"):
        survey_datasets.parse_amount("lots")


def test_dataset_points_highlights_and_our_embedded_data():
    survey = load_reference("survey_datasets.csv")
    assert survey_datasets.parse_years("2016, 2018, 2018") == [2016, 2018, 2018]
    found, missing = survey_datasets.find_highlights(survey, ["vggsound", "AVE", "NoSuchSet", "LRS2"])
    assert sorted(found) == ["AVE", "LRS2", "vggsound"] and missing == ["NoSuchSet"]
    embedded = survey_datasets.embedded_datasets()
    from avlib.data.embedded.avdigits import AVDigitsConfig

    cfg = AVDigitsConfig()
    digits = embedded.set_index("name").loc["AV-Digits"]
    assert digits["clips"] == cfg.n_train + cfg.n_val + cfg.n_test
    assert digits["hours"] == pytest.approx(digits["clips"] * cfg.clip_seconds / 3600)
    pts = survey_datasets.points(survey, ["VGGSound"], embedded)
    assert len(pts) == len(survey) + len(embedded)
    vgg = pts[pts["name"] == "VGGSound"].iloc[0]
    assert vgg["highlighted"] and vgg["videos_lower_bound"] and vgg["videos"] == 200000
    lrs = pts[pts["name"] == "LRW, LRS2, LRS3"].iloc[0]
    assert (lrs["first_year"], lrs["last_year"]) == (2016, 2018)
    table = survey_datasets.dataset_table(survey, ["VGGSound"], embedded)
    assert table.loc[table["name"] == "VGGSound", "highlighted"].iloc[0] == "yes"
    assert table["highlighted"].iloc[-1] == survey_datasets.OURS
    fig = survey_datasets.scatter_figure(pts, missing=["CREMA-D"])
    assert isinstance(fig, matplotlib.figure.Figure)
    assert "CREMA-D" in fig._suptitle.get_text()
