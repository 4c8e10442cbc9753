"""The last unclear errors: each bad input is one line that names the file or parameter and what was expected.

params.yaml missing, empty, a scalar, not YAML, a stage section empty or a scalar; a value that passes the type
check but makes no physical sense (snr_db=-1000); non-finite generated data; a full disk under libsndfile or
torch.save; an empty or malformed avqa-<split>.json; a CSV or readme that is not UTF-8; an empty survey readme.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import run_stage
import torch

from avlib.core.atomic import NonFiniteError, check_finite, naming_write_errors, save_tensors
from avlib.core.params import ParamError
from avlib.data.errors import DatasetError

ROOT = Path(__file__).resolve().parents[2]

BROKEN_PARAMS = {
    "empty": ("", r"params.yaml is empty; expected a mapping of stage sections"),
    "scalar": ("42\n", r"params.yaml holds a int; expected a mapping of stage sections"),
    "not YAML": ("survey_trends:\n  smoke: false\n   readme: [\n", r"params.yaml:3:\d+: not valid YAML \("),
    "not UTF-8": (b"survey_trends:\n  readme: '\xff'\n", r"params.yaml: not UTF-8 text \(byte \d+\)"),
}


@pytest.mark.parametrize("case", list(BROKEN_PARAMS))
def test_a_broken_params_file_is_one_line_naming_it(tmp_path, case):
    text, message = BROKEN_PARAMS[case]
    path = tmp_path / "params.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ParamError, match=message) as err:
        run_stage.read_params(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_missing_params_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(ParamError, match=r"params.yaml: no such file; expected the params file"):
        run_stage.read_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("section", [None, {}, 3, "x", [1, 2]], ids=["null", "empty", "int", "str", "list"])
def test_an_empty_or_scalar_stage_section_is_one_line(monkeypatch, section):
    monkeypatch.setattr(run_stage, "read_params", lambda: {"survey_trends": section})
    with pytest.raises(ParamError, match=r"^params.yaml: section 'survey_trends' (is empty|is .*, not a mapping); "
                                         r"expected a mapping of its params \['readme', 'smoke', 'top_venues'\]$"):
        run_stage.stage_params("survey_trends", [])


def test_a_set_value_that_is_not_yaml_is_one_line():
    with pytest.raises(ParamError, match=r"^--set top_venues:1:\d+: not valid YAML"):
        run_stage.stage_params("survey_trends", ["top_venues=[1, 2"])


@pytest.fixture(scope="module")
def copy_with_params(tmp_path_factory):
    """tools/run_stage.py beside a params.yaml of our own, with the real avlib and notebooks linked in."""
    root = tmp_path_factory.mktemp("broken")
    (root / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "run_stage.py", root / "tools")
    for name in ("avlib", "notebooks"):
        (root / name).symlink_to(ROOT / name)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "not YAML"])
def test_the_runner_exits_2_with_one_line_for_a_broken_params_file(copy_with_params, tmp_path, case):
    params = copy_with_params / "params.yaml"
    params.unlink(missing_ok=True)
    if case != "missing":
        params.write_text(BROKEN_PARAMS[case][0])
    proc = subprocess.run([sys.executable, str(copy_with_params / "tools" / "run_stage.py"), "survey_trends",
                           "--reports", str(tmp_path / "reports")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(copy_with_params)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"bad parameter: {params}"), last


# --- values that pass the type check but make no physical sense; non-finite data -----------------------

@pytest.mark.parametrize(("stage", "key", "value"), [
    ("data_avdigits", "snr_db", -1000), ("data_avdigits", "snr_db", 1e6), ("data_avdigits", "snr_jitter_db", 500),
    ("data_avclips", "snr_db", -1000), ("data_avevents", "snr_db", -1000), ("data_avspeech", "snr_db", -1000),
    ("data_avsync", "snr_db", -1000)])
def test_an_absurd_snr_is_refused_naming_the_parameter_and_the_range(stage, key, value):
    with pytest.raises(ParamError, match=rf"^{stage}\.{key}={value!r}: expected a finite number in \["):
        run_stage.stage_params(stage, [f"{key}={value}"])


def test_the_avdigits_generator_refuses_an_absurd_snr_itself():
    from avlib.data.embedded.avdigits import AVDigitsConfig

    with pytest.raises(DatasetError, match=r"avdigits: snr_db=-1000; expected a ratio in \[-60.0, 60.0\] dB"):
        AVDigitsConfig(snr_db=-1000)


def test_non_finite_generated_tensors_are_refused_before_anything_is_written(tmp_path):
    good = {"audio": torch.zeros(2, 3), "label": torch.tensor([1, 2]), "voice": ["a", "b"]}
    save_tensors(good, tmp_path / "ok.pt")
    bad = {**good, "audio": torch.tensor([[0.0, float("nan")]])}
    with pytest.raises(NonFiniteError, match=r"train\.pt: \['audio'\] holds NaN or infinite values"):
        save_tensors(bad, tmp_path / "train.pt")
    assert not (tmp_path / "train.pt").exists()
    with pytest.raises(NonFiniteError, match=r"avdigits val audio: \[1\] holds NaN"):
        check_finite([np.zeros(3, np.float32), np.array([np.inf], np.float32)], "avdigits val audio")


# --- a full disk under a library that names no file ----------------------------------------------------

def test_a_full_disk_under_libsndfile_names_the_file_and_says_so(tmp_path, monkeypatch):
    import soundfile

    def full(*args, **kwargs):
        raise soundfile.LibsndfileError(2)  # "System error.", as libsndfile reports ENOSPC

    monkeypatch.setattr(soundfile, "write", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 100, 0))
    wav = tmp_path / "wav" / "train" / "00001_3.wav"
    with pytest.raises(OSError) as err:
        with naming_write_errors(wav) as path:
            soundfile.write(path, np.zeros(10), 16000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(wav)
    assert str(err.value) == f"[Errno 28] No space left on device: '{wav}'"


def test_a_write_error_with_space_left_still_names_the_file(tmp_path, monkeypatch):
    def failing(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", failing)
    with pytest.raises(OSError, match=r"write failed \(RuntimeError: .*\): '.*x\.pt'") as err:
        save_tensors({"a": torch.zeros(1)}, tmp_path / "x.pt")
    assert err.value.errno == errno.EIO and err.value.filename == str(tmp_path / "x.pt")


def test_an_unrelated_error_is_not_disguised(tmp_path):
    with pytest.raises(ValueError, match="not about writing"):
        with naming_write_errors(tmp_path / "x.wav"):
            raise ValueError("not about writing")


# --- annotations, CSVs, readmes -------------------------------------------------------------------------

def _record(**overrides):
    record = {"video_id": "00000001", "question_id": 7, "type": '["Audio", "Counting"]',
              "question_content": "How many instruments are sounding?", "templ_values": "[]", "anser": "two"}
    return {**record, **overrides}


def test_an_empty_annotation_file_is_one_line_naming_it(tmp_path):
    from avlib.data.qa import read_annotations

    path = tmp_path / "avqa-test.json"
    path.write_text("[]")
    with pytest.raises(DatasetError, match=rf"^annotation file {path} holds no records \(\[\]\); expected"):
        read_annotations(path)


@pytest.mark.parametrize("qid", ["abc", None, 1.5, True])
def test_a_non_numeric_question_id_is_one_line_naming_the_record(tmp_path, qid):
    from avlib.data.qa import read_annotations

    path = tmp_path / "avqa-test.json"
    path.write_text(json.dumps([_record(), _record(question_id=qid)]))
    with pytest.raises(DatasetError, match=rf"^annotation file {path}, record 1: question_id .*; expected an integer"):
        read_annotations(path)
    path.write_text(json.dumps([_record(question_id="12")]))  # the official files hold ints; a digit string reads
    assert read_annotations(path)[0].question_id == 12


@pytest.mark.parametrize("reader", ["cremad", "kinetics_sounds", "vggsound"])
def test_a_csv_that_is_not_utf8_is_one_line_naming_the_file_and_line(tmp_path, reader):
    from avlib.data.real import cremad, kinetics_sounds, vggsound

    read = {"cremad": cremad.read_split_csv, "kinetics_sounds": kinetics_sounds.read_split_list,
            "vggsound": vggsound.read_csv}[reader]
    path = tmp_path / "list.csv"
    path.write_bytes(b"1001_DFA_ANG_XX,ANG\n" + "caf\u00e9,NEU\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=rf"^{path} line 2: byte b'\\xe9' is not UTF-8; expected a UTF-8 CSV"):
        read(path)


def test_an_empty_or_non_utf8_survey_readme_is_one_line_naming_it(tmp_path):
    from avlib.survey.papers import load_papers

    readme = tmp_path / "README.md"
    readme.write_text("")
    with pytest.raises(ValueError, match=rf"^readme='{readme}': no paper entries found \(0 lines\); expected"):
        load_papers(str(readme))
    readme.write_bytes(b"## Audio-visual\n- [caf\xe9](http://x), CVPR 2020\n")
    with pytest.raises(ValueError, match=rf"^readme='{readme}': byte b'\\xe9' at offset \d+ is not UTF-8"):
        load_papers(str(readme))
