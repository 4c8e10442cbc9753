"""tools/run_stage.py: a stop (SIGTERM, SIGHUP, the parent's death) ends the command within STOP_GRACE_S even
when the cleanup it starts hangs: the fallback removes the temp folder, says so and exits 128 + the signal."""

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the runner mid-stage: the handlers armed as main() and _run_locked arm them, a temp folder, and a
# cleanup that never returns once the stop's exception reaches it (what a hung kernel shutdown looks like).
HUNG = """
import os, signal, sys, threading, time
sys.path.insert(0, {tools!r})
import run_stage
from pathlib import Path
run_stage.STOP_GRACE_S = 1.0
tmp = Path({tmp!r}); tmp.mkdir()
run_stage._hard_stop_ready.update(armed=True, stage="probe", tmp=tmp, executed=tmp / "nb.ipynb",
                                  failed=Path({failed!r}))
(tmp / "nb.ipynb").write_text("{{}}")
signal.signal(signal.SIGTERM, run_stage._terminate)
print("ready", flush=True)
try:
    time.sleep(60)
finally:
    threading.Event().wait()  # the cleanup hangs
"""


def test_a_stop_whose_cleanup_hangs_still_ends_within_the_grace(tmp_path):
    tmp, failed = tmp_path / ".probe.tmp", tmp_path / ".failed" / "probe.ipynb"
    code = HUNG.format(tools=str(ROOT / "tools"), tmp=str(tmp), failed=str(failed))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and time.time() - start < 15
    assert "stage probe stopped by SIGTERM (its cleanup did not end within 1 s" in err
    assert not tmp.exists() and failed.exists()  # nothing half-written; the partial notebook kept


def test_the_fallback_is_armed_only_while_main_runs(monkeypatch, tmp_path):
    import run_stage

    seen = []
    monkeypatch.setattr(run_stage, "run", lambda *a, **k: seen.append(dict(run_stage._hard_stop_ready)) or tmp_path)
    monkeypatch.setattr(sys, "argv", ["run_stage.py", "data_avdigits", "--reports", str(tmp_path)])
    run_stage.main()
    assert seen == [{"armed": True}]  # the command arms it for its run ...
    assert run_stage._hard_stop_ready == {}  # ... and leaves it unarmed: a library call of run() is never ended
