"""Checkpoints cannot run code: only a file signed with this checkout's key is unpickled; anything else
(a planted pickle, a corrupt or truncated file, another job's checkpoint renamed) is discarded with one line
naming it, and its job runs again with the same result."""

import os
import pickle
import stat
from dataclasses import dataclass, field

import pytest
import torch

from avlib.core import checkpoints
from avlib.core.checkpoints import MAGIC, Checkpoints, key_path, secret_key
from avlib.core.pool import run_tasks

JOBS = [("a", 0), ("b", 1), ("c", 2)]


@dataclass(frozen=True)
class Config:
    lr: float = 0.1
    sizes: tuple = (1, 2)


@dataclass
class Result:  # like RunResult/FitResult: a dataclass nesting dicts, lists, tuples, tensors and a config
    name: str
    weights: torch.Tensor
    history: list = field(default_factory=list)
    config: Config = Config()


def _train(job, data):
    name, seed = job
    g = torch.Generator().manual_seed(seed)
    return Result(name, torch.randn(4, generator=g) * data, [{"epoch": 0, "acc": (seed, 1.5)}])


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def resume(tmp_path, monkeypatch):
    monkeypatch.setenv("AVLAB_RESUME_DIR", str(tmp_path / "resume"))
    monkeypatch.setenv("AVLAB_RESUME_KEY", str(tmp_path / "key"))
    return tmp_path / "resume"


def _same(a, b):
    return (a.name, a.history, a.config) == (b.name, b.history, b.config) and torch.equal(a.weights, b.weights)


def test_a_resumed_result_is_exactly_the_saved_one(resume):
    first = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)
    files = sorted(resume.glob("*.pkl"))
    assert len(files) == 3 and all(f.read_bytes().startswith(MAGIC) for f in files)
    again = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)
    loaded = Checkpoints.from_env(_train, 2.0)
    for job, result in zip(JOBS, first, strict=True):
        found, value = loaded.load(job)
        assert found and _same(value, result) and type(value.history[0]["acc"]) is tuple
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))


def test_a_planted_pickle_runs_nothing_and_is_replaced(resume, tmp_path, capsys):
    first = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)
    target = Checkpoints.from_env(_train, 2.0).path(JOBS[1])
    marker = tmp_path / "pwned"
    target.write_bytes(pickle.dumps(Planted(marker)))
    again = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)
    assert not marker.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"resume: discarded checkpoint {target} (not signed by this checkout's key, or damaged; "
                   "not unpickled); its job runs again"]
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert target.read_bytes().startswith(MAGIC)  # re-run, and checkpointed properly this time


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "renamed", "other key", "signed garbage"])
def test_a_damaged_checkpoint_is_discarded_with_one_line_and_its_job_reruns(resume, tmp_path, capsys, damage):
    first = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)
    ck = Checkpoints.from_env(_train, 2.0)
    target, other = ck.path(JOBS[0]), ck.path(JOBS[2])
    blob = target.read_bytes()
    if damage == "truncated":
        target.write_bytes(blob[: len(blob) // 2])
    elif damage == "flipped":
        target.write_bytes(blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:])
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "renamed":  # a valid checkpoint of another job under this job's name
        target.write_bytes(other.read_bytes())
    elif damage == "other key":
        Checkpoints(ck.folder, ck.base, key=b"k" * 32).save(JOBS[0], first[0])
    else:  # signed with our key, but not a pickle of anything that loads
        payload = b"\x80\x05garbage"
        target.write_bytes(MAGIC + checkpoints._mac(ck.key, target.name, payload) + payload)
    found, _ = ck.load(JOBS[0])
    assert not found and not target.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"resume: discarded checkpoint {target} (")
    again = run_tasks(_train, JOBS, 2.0, workers=1, progress=False)  # the stage completes
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert ck.load(JOBS[0])[0]


def test_the_key_is_private_made_once_and_outside_the_work_tree(tmp_path, monkeypatch):
    monkeypatch.delenv("AVLAB_RESUME_KEY", raising=False)
    path = key_path()
    assert path.name in ("avlab-resume.key", "resume.key")
    assert ".git" in path.parts or "worktrees" in path.parts or ".cache" in path.parts  # never a tracked file
    own = tmp_path / "sub" / "k"
    key = secret_key(own)
    assert len(key) == 32 and secret_key(own) == key
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert not list(own.parent.glob(".*.tmp"))
