"""Checkpoint and resume: a run_tasks call killed mid-way, started again, trains only what had not finished and
ends bit-identical to an uninterrupted call; disk-full and permission errors name the path."""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import run_stage
import torch
import yaml

from avlib.core.atomic import atomic_write_text
from avlib.core.checkpoints import fingerprint
from avlib.tasks.classify import engine, runs
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunSpec

ROOT = Path(__file__).resolve().parents[2]

JOBS = [(f"run{i}", seed) for i, seed in enumerate([0, 1, 2, 3, 4, 5])]

# A stage in miniature: run_tasks over six jobs, each leaving a mark when it starts (to count how often a
# job trained) and taking a moment; the results are pickled at the end.
SCRIPT = """
import pickle, sys, time
from pathlib import Path
import torch
from avlib.core.pool import run_tasks

marks = Path(sys.argv[1]) if __name__ in ("__main__", "__mp_main__") else None  # spawned workers get argv too

def task(job, data):
    name, seed = job
    with open(marks / name, "a") as f:
        f.write("x")
    time.sleep(0.1 if seed < 2 else 1.5)  # the kill comes after the first two, well before the last
    g = torch.Generator().manual_seed(seed)
    return name, (torch.randn(5, generator=g) * data["scale"]).sum(), torch.rand(3, generator=g)

if __name__ == "__main__":
    results = run_tasks(task, JOBS, {"scale": torch.tensor(2.0)}, workers=int(sys.argv[3]), progress=False)
    Path(sys.argv[2]).write_bytes(pickle.dumps(results))
""".replace("JOBS", repr(JOBS))


def _start(tmp_path, name, resume):
    marks, out = tmp_path / f"marks_{name}", tmp_path / f"{name}.pkl"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AVLAB_RESUME_DIR": str(resume)}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "mini_stage.py"), str(marks), str(out), "2"], env=env,
                            start_new_session=True)  # its own process group: the kill takes its workers too
    return proc, marks, out


def _runs_per_job(marks: Path) -> dict:
    return {p.name: len(p.read_text()) for p in marks.iterdir()}


@pytest.mark.slow
def test_a_run_killed_after_k_jobs_resumes_from_them_and_ends_bit_identical(tmp_path, monkeypatch):
    # two worker processes (the CPU default) in a subprocess killed with SIGKILL once two runs are done
    (tmp_path / "mini_stage.py").write_text(SCRIPT)
    resume = tmp_path / "resume"
    proc, marks, out = _start(tmp_path, "killed", resume)
    deadline = time.time() + 120
    while len(list(resume.glob("*.pkl"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run, no cleanup
    proc.wait()
    finished = len(list(resume.glob("*.pkl")))
    assert 2 <= finished < len(JOBS) and not out.exists()
    assert not list(resume.glob(".*.tmp"))  # checkpoints are written whole or not at all
    first_pass = _runs_per_job(marks)

    proc, marks, out = _start(tmp_path, "resumed", resume)
    assert proc.wait(120) == 0
    resumed = pickle.loads(out.read_bytes())
    second_pass = _runs_per_job(marks)
    # the finished runs were loaded, not trained again; only the others ran, once each
    assert len(second_pass) == len(JOBS) - finished and set(second_pass.values()) == {1}
    assert {name for name, _ in JOBS} - set(first_pass) <= set(second_pass)  # what never started runs now

    # an uninterrupted run, here: the same results bit for bit, in job order
    monkeypatch.delenv("AVLAB_RESUME_DIR", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    import mini_stage

    (tmp_path / "marks_here").mkdir()
    monkeypatch.setattr(mini_stage, "marks", tmp_path / "marks_here")
    straight = engine.run_tasks(mini_stage.task, JOBS, {"scale": torch.tensor(2.0)}, workers=1, progress=False)
    assert [r[0] for r in resumed] == [name for name, _ in JOBS]
    for a, b in zip(resumed, straight, strict=True):
        assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])


def _draw(job, data):
    name, seed = job
    torch.manual_seed(seed)
    return name, torch.randn(3) * data["scale"]


def test_a_checkpoint_is_used_only_for_the_same_task_job_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("AVLAB_RESUME_DIR", str(tmp_path))
    first = engine.run_tasks(_draw, JOBS[:2], {"scale": torch.tensor(1.0)}, workers=1, progress=False)
    assert len(list(tmp_path.glob("*.pkl"))) == 2
    again = engine.run_tasks(_draw, JOBS[:2], {"scale": torch.tensor(1.0)}, workers=1, progress=False)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    other = engine.run_tasks(_draw, JOBS[:2], {"scale": torch.tensor(3.0)}, workers=1, progress=False)
    assert torch.equal(other[0][1], first[0][1] * 3)  # other data: computed, not the checkpoint
    assert len(list(tmp_path.glob("*.pkl"))) == 4


@pytest.mark.slow
def test_fingerprint_is_by_content_and_the_same_in_another_process():
    a = {"x": torch.arange(4.0), "names": {"b", "a", "c"}, "spec": RunSpec("concat", "concat")}
    b = {"x": torch.arange(4.0), "names": {"c", "a", "b"}, "spec": RunSpec("concat", "concat")}
    assert fingerprint(a).hexdigest() == fingerprint(b).hexdigest()
    b["x"][0] = 1.0
    assert fingerprint(a).hexdigest() != fingerprint(b).hexdigest()
    code = ("import torch; from avlib.core.checkpoints import fingerprint; "
            "from avlib.tasks.classify.runs import RunSpec; "
            "print(fingerprint({'x': torch.arange(4.0), 'names': {'b', 'a', 'c'}, "
            "'spec': RunSpec('concat', 'concat')}).hexdigest())")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "7"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == fingerprint(a).hexdigest()


@pytest.mark.slow
def test_run_specs_resumes_real_training_bit_identically(tmp_path, monkeypatch, tiny_avdigits):
    from avlib.data import load_splits

    data = load_splits("avdigits", tiny_avdigits)
    train = TrainConfig(epochs=1, batch_size=16, lr=0.05, device="cpu")
    specs = [RunSpec("concat", "concat"), RunSpec("sum", "sum")]
    plain = run_specs(specs, [0], data, train=train, model={"width": 4}, progress=False, workers=1)
    monkeypatch.setenv("AVLAB_RESUME_DIR", str(tmp_path))
    run_specs(specs[:1], [0], data, train=train, model={"width": 4}, progress=False, workers=1)  # then "killed"
    calls = []
    real = runs.train
    monkeypatch.setattr(runs, "train", lambda job, *a, **k: calls.append(job.label) or real(job, *a, **k))
    resumed = run_specs(specs, [0], data, train=train, model={"width": 4}, progress=False, workers=1)
    assert calls == ["sum"]  # concat came from its checkpoint
    for p, r in zip(plain, resumed, strict=True):
        assert (p.label, p.history, p.test, p.val, p.probe) == (r.label, r.history, r.test,
                                                                              r.val, r.probe)


def test_without_the_resume_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("AVLAB_RESUME_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    engine.run_tasks(_draw, JOBS[:1], {"scale": 1.0}, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- the runner's headline and timing ------------------------------------------------------------

def test_headline_picks_the_named_numbers_with_wildcards_in_order():
    metrics = {"concat": {"acc": 80.0, "map": 90.0}, "concat+ogm_ge_alpha0.8": {"acc": 81.0, "delta_acc": 1.0},
               "ogm": {"delta_acc": -1.0, "note": "text"}, "n": 3, "flag": True}
    assert run_stage.headline(metrics, ["concat/acc", "*/delta_acc", "n", "flag", "missing/x", "ogm/note"]) == {
        "concat/acc": 80.0, "concat+ogm_ge_alpha0.8/delta_acc": 1.0, "ogm/delta_acc": -1.0, "n": 3}


def test_every_stage_has_a_headline_that_its_metrics_answer():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for stage in [name for name, s in dvc["stages"].items() if "run_stage.py" in s["cmd"]]:
        paths = run_stage.headline_paths(stage)
        assert paths, f"avlib/stages/{stage}.py has no HEADLINE"
        assert f"reports/{stage}/headline.json" in dvc["metrics"], stage
        metrics = ROOT / "reports" / stage / "metrics.json"
        if metrics.exists():
            numbers = run_stage.headline(json.loads(metrics.read_text()), paths)
            assert 1 <= len(numbers) <= 12, (stage, numbers)


# --- disk full, permissions -----------------------------------------------------------------------

def test_a_full_disk_names_the_file_and_leaves_no_temp(tmp_path, monkeypatch):
    import avlib.core.atomic as report

    def full(fd, mode):
        class Full:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                os.close(fd)

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")
        return Full()

    monkeypatch.setattr(report.os, "fdopen", full)
    with pytest.raises(OSError, match="No space left on device") as err:
        atomic_write_text(tmp_path / "reports" / "t1" / "table.md", "x")
    assert err.value.filename == str(tmp_path / "reports" / "t1" / "table.md")
    assert err.value.errno == errno.ENOSPC and not list((tmp_path / "reports" / "t1").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_folder_names_the_path(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as err:
            atomic_write_text(folder / "table.md", "x")
        assert str(folder) in str(err.value)
    finally:
        folder.chmod(0o755)


def test_the_runner_says_which_path_it_cannot_write(tmp_path, monkeypatch, capsys):
    # a reports folder that cannot be created (a file stands where it goes): the same exit as a read-only
    # mount, and one that root cannot override
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    argv = ["run_stage.py", "survey_datasets", "--set", "smoke=true", "--reports", str(blocker / "sub")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        run_stage.main()
    assert exit_.value.code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("cannot write ") and str(blocker) in last, last
