"""avlib.report's writers: format_ci, the atomic write it uses, git_commit for provenance (t1_fusion's own logic:
tests/stages/test_t1_fusion.py)."""

import os
import stat
import subprocess

import pytest

from avlib.core.atomic import atomic_write_text
from avlib.report import format_ci, git_commit

# --- formatting and writes ---------------------------------------------------------------------------


def test_format_ci_shows_no_interval_for_one_seed():
    assert format_ci([0.61]) == "61.0"
    assert format_ci([2.5], scale=1.0, digits=2) == "2.50"
    assert format_ci([0.60, 0.62]) == "61.0 ± 12.7"  # t(0.975, 1) = 12.706 * sd 1.414 / sqrt(2)


def test_atomic_write_text_makes_a_world_readable_file_and_no_leftovers(tmp_path):
    old = os.umask(0o077)  # a plain open() would give 0600 under this umask; mkstemp always gives 0600
    try:
        path = atomic_write_text(tmp_path / "sub" / "table.md", "first\n")
        atomic_write_text(path, "second\n")
    finally:
        os.umask(old)
    assert path.read_text() == "second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["table.md"]  # no temp file left


# --- provenance: git_commit -------------------------------------------------------------------------


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.email=test@example.org", "-c", "user.name=test",
                           "-c", "commit.gpgsign=false", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "avlib").mkdir()
    (tmp_path / "avlib" / "core.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("stages: {}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def test_git_commit_of_a_clean_checkout(repo):
    assert git_commit(cwd=repo) == _git(repo, "rev-parse", "--short", "HEAD")


@pytest.mark.parametrize("path", ["new_tool.py", "avlib/extra.py", "avlib/data/loader.py", "dataset.py"])
def test_an_untracked_source_file_makes_it_dirty(repo, path):
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("y = 2\n")
    assert git_commit(cwd=repo) == _git(repo, "rev-parse", "--short", "HEAD") + "+dirty"


def test_a_modified_or_staged_source_file_makes_it_dirty(repo):
    (repo / "avlib" / "core.py").write_text("x = 2\n")
    assert git_commit(cwd=repo).endswith("+dirty")
    _git(repo, "add", "avlib/core.py")
    assert git_commit(cwd=repo).endswith("+dirty")


def test_pipeline_outputs_do_not_make_it_dirty(repo):
    (repo / "reports" / "t1_fusion").mkdir(parents=True)
    (repo / "reports" / "t1_fusion" / "table.csv").write_text("a\n1\n")
    (repo / "data" / "avdigits").mkdir(parents=True)
    (repo / "data" / "avdigits" / "train.pt").write_bytes(b"\0")
    (repo / "dvc.lock").write_text("stages: {t1_fusion: {}}\n")  # tracked and modified
    assert git_commit(cwd=repo) == _git(repo, "rev-parse", "--short", "HEAD")


def test_a_change_outside_the_working_directory_makes_it_dirty(repo):
    (repo / "dvc.yaml").write_text("stages: {}\n")  # untracked, at the top of the checkout
    assert git_commit(cwd=repo / "avlib").endswith("+dirty")  # e.g. a kernel started in a subfolder


def test_git_commit_outside_a_repository_is_unknown(tmp_path):
    assert git_commit(cwd=tmp_path) == "unknown"
