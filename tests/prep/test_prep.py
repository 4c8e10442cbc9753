"""Raw-data preparation on tiny real-format media the tests encode with the same ffmpeg (imageio-ffmpeg):
3 s of synthetic video + audio as flv (CREMA-D's VideoFlash) and mp4 (Kinetics-Sounds / VGGSound clips),
a truncated file, a missing one, and the resume behaviour."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avlib.core.params import ParamError
from avlib.data.errors import DatasetError
from avlib.data.real.cremad import CremaD, read_split_csv
from avlib.data.real.kinetics_sounds import KineticsSounds
from avlib.data.real.vggsound import VGGSound
from avlib.prep import clips as clips_prep
from avlib.prep.common import RECORDS
from avlib.prep.cremad import OFFICIAL_SPLITS, prepare_cremad
from avlib.prep.media import MediaError, check_complete, ffmpeg_exe, probe
from avlib.prep.stage import PrepError, prepare
from avlib.stages import prep_cremad as prep_cremad_stage

ROOT = Path(__file__).resolve().parents[2]


def _p(**values):
    return prep_cremad_stage.PARAMS.check({"smoke": False, **values})


def encode(path: Path, *, seconds: float = 3.0) -> None:
    """A synthetic test pattern (64x48, 15 fps) with a 440 Hz tone: flv (Sorenson + ADPCM) or mp4 (MPEG-4 + AAC)."""
    codecs = ["-c:v", "flv", "-c:a", "adpcm_swf"] if path.suffix == ".flv" else ["-c:v", "mpeg4", "-c:a", "aac"]
    rate = 22050 if path.suffix == ".flv" else 16000
    video = f"testsrc=size=64x48:rate=15:duration={seconds}"
    tone = f"sine=frequency=440:sample_rate={rate}:duration={seconds}"
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", tone,
                    "-shortest", *codecs, str(path)], check=True)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def cremad_raw(tmp_path_factory):
    """A CREMA-D release in miniature: ok1, ok2, trunc (flv cut in half), gone (no flv), extra (unlisted)."""
    raw = tmp_path_factory.mktemp("cremad_raw")
    (raw / "AudioWAV").mkdir()
    (raw / "VideoFlash").mkdir()
    for clip in ("1001_DFA_ANG_XX", "1002_DFA_HAP_XX", "1003_DFA_SAD_XX", "1004_DFA_NEU_XX", "1005_DFA_FEA_XX"):
        write_wav(raw / "AudioWAV" / f"{clip}.wav")
    for clip in ("1001_DFA_ANG_XX", "1002_DFA_HAP_XX", "1003_DFA_SAD_XX", "1005_DFA_FEA_XX"):
        encode(raw / "VideoFlash" / f"{clip}.flv")
    truncate(raw / "VideoFlash" / "1003_DFA_SAD_XX.flv")
    lists = raw / "lists"
    lists.mkdir()
    (lists / "train.csv").write_text("1001_DFA_ANG_XX,ANG\n1003_DFA_SAD_XX,SAD\n1004_DFA_NEU_XX,NEU\n")
    (lists / "test.csv").write_text("1002_DFA_HAP_XX,HAP\n")
    return raw, {"train": lists / "train.csv", "test": lists / "test.csv"}


def test_the_official_split_lists_are_shipped_whole():
    train, test = (read_split_csv(OFFICIAL_SPLITS[s]) for s in ("train", "test"))
    assert (len(train), len(test)) == (6698, 744)  # OGM-GE data/CREMAD/{train,test}.csv
    assert not {c for c, _ in train} & {c for c, _ in test}


def test_probe_catches_a_truncated_flv_that_ffmpeg_decodes_without_error(cremad_raw):
    raw, _ = cremad_raw
    good = probe(raw / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    assert good.has_video and good.has_audio and abs(good.declared_s - 3.0) < 0.05
    check_complete(good, "good")
    cut = probe(raw / "VideoFlash" / "1003_DFA_SAD_XX.flv")
    with pytest.raises(MediaError, match="truncated"):
        check_complete(cut, "cut")


def test_cremad_prep_reports_every_dropped_clip_and_the_loader_reads_the_result(cremad_raw, tmp_path):
    raw, lists = cremad_raw
    out = tmp_path / "cremad"
    m = prepare_cremad(raw, out, splits=lists, workers=2, progress=False)
    assert m["counts"] == {"clips": 3, "prepared": 2, "skipped": 0, "failed": 1}
    assert m["missing"] == 1 and m["unlisted"] == 1  # 1004 has no flv; 1005 is in no list
    assert m["splits"] == {"train": {"listed": 3, "written": 1}, "test": {"listed": 1, "written": 1}}
    report = (out / "prep_report.md").read_text()
    assert "| 1003_DFA_SAD_XX | train | 1003_DFA_SAD_XX.flv: truncated" in report
    assert "| 1004_DFA_NEU_XX | train | missing: VideoFlash/1004_DFA_NEU_XX.flv |" in report
    assert (out / "train.csv").read_text() == "1001_DFA_ANG_XX,ANG\n"
    assert sorted(p.name for p in (out / "Image-01-FPS" / "1001_DFA_ANG_XX").iterdir()) == \
        ["00000.jpg", "00001.jpg", "00002.jpg"]  # 3 s at 1 fps
    wav = "AudioWAV/1002_DFA_HAP_XX.wav"
    assert (out / wav).read_bytes() == (raw / wav).read_bytes()
    item = CremaD(out, "test", image_size=32, n_frames=2)[0]
    assert item["visual"].shape == (2, 3, 32, 32) and item["audio"].shape == (1, 257, 188) and item["label"] == 1
    assert json.loads((out / "manifest.json").read_text())["sha256"] == m["sha256"]


def test_a_rerun_skips_finished_clips_and_redoes_a_half_written_one(cremad_raw, tmp_path):
    raw, lists = cremad_raw
    out = tmp_path / "cremad"
    first = prepare_cremad(raw, out, splits=lists, workers=2, progress=False)
    records = {c: (out / RECORDS / f"{c}.json").stat().st_mtime_ns for c in ("1001_DFA_ANG_XX", "1002_DFA_HAP_XX")}
    again = prepare_cremad(raw, out, splits=lists, workers=2, progress=False)
    assert again["counts"] == {"clips": 3, "prepared": 0, "skipped": 2, "failed": 1}
    assert again["sha256"] == first["sha256"]
    assert (out / RECORDS / "1002_DFA_HAP_XX.json").stat().st_mtime_ns == records["1002_DFA_HAP_XX"]
    # a run killed inside clip 1001: its record gone, a frame half written, a temp folder left behind
    (out / RECORDS / "1001_DFA_ANG_XX.json").unlink()
    frame = out / "Image-01-FPS" / "1001_DFA_ANG_XX" / "00001.jpg"
    frame.write_bytes(frame.read_bytes()[:50])
    (out / "Image-01-FPS" / ".tmp-1001_DFA_ANG_XX.999").mkdir()
    # and clip 1002 finished, but one of its frames was cut afterwards: its size no longer matches the record
    cut = out / "Image-01-FPS" / "1002_DFA_HAP_XX" / "00000.jpg"
    cut.write_bytes(cut.read_bytes()[:50])
    third = prepare_cremad(raw, out, splits=lists, workers=2, progress=False)
    assert third["counts"] == {"clips": 3, "prepared": 2, "skipped": 0, "failed": 1}
    assert third["sha256"] == first["sha256"]  # redone to the same bytes
    assert not (out / "Image-01-FPS" / ".tmp-1001_DFA_ANG_XX.999").exists()


@pytest.fixture(scope="module")
def clips_raw(tmp_path_factory):
    raw = tmp_path_factory.mktemp("clips_raw")
    (raw / "sub").mkdir()
    encode(raw / "sub" / "vidA_000010.mp4")
    encode(raw / "vidB_000020.mp4")
    encode(raw / "vidD_000040.mp4")
    truncate(raw / "vidB_000020.mp4")  # the index (moov) is at the end: ffmpeg cannot open it
    lists = raw / "vggsound.csv"
    lists.write_text('vidA,10,"playing guitar, loudly",train\nvidB,20,dog barking,train\nvidC,30,dog barking,test\n'
                     'vidD,40,dog barking,train\n')
    return raw, lists


def test_clip_prep_writes_16k_wav_and_frames_and_lists_the_bad_clips(clips_raw, tmp_path):
    raw, lists = clips_raw
    out = tmp_path / "vgg"
    m = clips_prep.prepare_clips("vggsound", raw, out, list_format="vggsound",
                                 lists={"train": lists, "test": lists}, workers=2, progress=False)
    assert m["counts"] == {"clips": 3, "prepared": 2, "skipped": 0, "failed": 1} and m["missing"] == 1
    info = sf.info(str(out / "audio" / "vidA_000010.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16") and abs(info.duration - 3) < 0.1
    assert len(list((out / "visual" / "vidA_000010").glob("*.jpg"))) == 3
    # the release's csv, holding the prepared clips only (a label with a comma stays one quoted field)
    assert list(csv.reader((out / "vggsound.csv").open())) == [["vidA", "10", "playing guitar, loudly", "train"],
                                                               ["vidD", "40", "dog barking", "train"]]
    assert m["splits"] == {"train": {"listed": 3, "written": 2}, "test": {"listed": 1, "written": 0}}
    report = (out / "prep_report.md").read_text()
    assert "vidB_000020 | train | ffmpeg cannot read vidB_000020.mp4" in report
    assert "vidC_000030 | test | missing: no vidC_000030.mp4 under raw_root" in report
    again = clips_prep.prepare_clips("vggsound", raw, out, list_format="vggsound",
                                     lists={"train": lists, "test": lists}, workers=2, progress=False)
    assert again["counts"]["skipped"] == 2 and again["sha256"] == m["sha256"]
    # the vggsound loader reads what was written: two train clips (one carved off as val), no test rows
    train = VGGSound(out, "train", val_fraction=0.5, image_size=16, n_frames=2)
    val = VGGSound(out, "val", val_fraction=0.5, image_size=16, n_frames=2)
    assert (len(train), len(val), train.classes) == (1, 1, ["dog barking", "playing guitar, loudly"])
    assert sorted(train.clips + val.clips) == ["vidA_000010", "vidD_000040"]
    assert train[0]["visual"].shape == (2, 3, 16, 16) and train[0]["audio"].shape == (1, 257, 188)
    with pytest.raises(DatasetError, match="no 'test' rows"):
        VGGSound(out, "test")


def test_kinetics_sounds_prep_writes_the_loaders_split_files_with_frame_counts(clips_raw, tmp_path):
    raw, _ = clips_raw
    train, test = tmp_path / "my_train.txt", tmp_path / "my_test.txt"
    train.write_text("vidA_000010,10,4\nvidB_000020,10,7\nvidD_000040,10,9\n")  # OGM-GE's: clip, frames, label
    test.write_text("vidC_000030,10,2\n")
    out = tmp_path / "ks"
    m = clips_prep.prepare_clips("kinetics_sounds", raw, out, list_format="kinetics_sounds",
                                 lists={"train": train, "test": test}, workers=2, progress=False)
    assert m["split_files"] == ["train.txt", "test.txt"] and m["counts"]["prepared"] == 2
    assert (out / "train.txt").read_text() == "vidA_000010,3,4\nvidD_000040,3,9\n"  # 3 s at 1 fps, not 10
    assert (out / "test.txt").read_text() == ""
    train = KineticsSounds(out, "train", val_fraction=0.5, image_size=16, n_frames=3)
    val = KineticsSounds(out, "val", val_fraction=0.5, image_size=16, n_frames=3)
    assert sorted(train.labels + val.labels) == [4, 9]
    assert train[0]["visual"].shape == (3, 3, 16, 16) and train[0]["audio"].shape == (1, 257, 188)


def test_lists_that_the_loader_cannot_read_are_refused_before_any_clip_is_prepared(clips_raw, tmp_path):
    raw, lists = clips_raw
    names = tmp_path / "names.csv"
    names.write_text("vidA_000010,playing guitar\n")
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="names.csv: clip 'vidA_000010' has label 'playing guitar'.*0..30"):
        clips_prep.prepare_clips("kinetics_sounds", raw, out, list_format="csv", lists={"train": names})
    odd = tmp_path / "odd.csv"
    odd.write_text("clip7,dog\n")
    with pytest.raises(ValueError, match="odd.csv: clip 'clip7'.*<youtube id>_<start seconds as 6 digits>"):
        clips_prep.prepare_clips("vggsound", raw, out, list_format="csv", lists={"train": odd})
    assert not out.exists()


def test_kinetics_sounds_lists_are_read_in_the_ogm_ge_format(tmp_path):
    rows = clips_prep.read_lists("kinetics_sounds", clips_prep.KS_LISTS)
    assert (len(rows["train"]), len(rows["test"])) == (14799, 2597)
    assert rows["train"][0] == ("--4-0ihtnBU_000058_000068", "4")
    bad = tmp_path / "bad.txt"
    bad.write_text("a,b\n")
    with pytest.raises(ValueError, match="expected 3 comma-separated fields"):
        clips_prep.read_lists("kinetics_sounds", {"train": bad})


def test_the_stage_without_a_raw_root_succeeds_with_a_not_configured_report(tmp_path):
    p = {"raw_root": "", "out_root": str(tmp_path / "data"), "fps": 1, "workers": 1, "allow_missing": False}
    out = tmp_path / "reports" / "prep_cremad"
    assert prepare("prep_cremad", _p(**p), out) == {"configured": False, "clips_written": 0}
    assert json.loads((out / "metrics.json").read_text()) == {"configured": False, "clips_written": 0}
    assert "not configured" in (out / "report.md").read_text()
    with pytest.raises(ParamError, match=r"prep_cremad.fps=0: expected an integer >= 1"):
        _p(**{**p, "fps": 0})
    with pytest.raises(ParamError, match="prep_cremad.raw_root='/nonexistent': expected the raw release's folder"):
        _p(**{**p, "raw_root": "/nonexistent"})


def test_the_stage_fails_after_reporting_when_a_listed_clip_is_missing(cremad_raw, tmp_path, monkeypatch):
    raw, lists = cremad_raw
    monkeypatch.setattr("avlib.prep.cremad.OFFICIAL_SPLITS", lists)
    p = {"raw_root": str(raw), "out_root": str(tmp_path / "data"), "fps": 1, "workers": 2, "allow_missing": False}
    out = tmp_path / "reports" / "prep_cremad"
    with pytest.raises(PrepError, match="2 listed clips not prepared"):
        prepare("prep_cremad", _p(**p), out)
    metrics = json.loads((out / "metrics.json").read_text())  # written before the error
    assert metrics["failed"] == 1 and metrics["missing"] == 1 and metrics["train_written"] == 1
    assert prepare("prep_cremad", _p(**{**p, "allow_missing": True}), out)["train_written"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["prep_cremad", "prep_clips"])
def test_the_prep_notebook_runs_not_configured_through_the_runner(stage, tmp_path):
    import run_stage

    out = run_stage.run(stage, [f"out_root={tmp_path / 'data'}"], tmp_path / "reports")
    for name in ("report.md", "metrics.json", "headline.json", "notebook.html", "provenance.json"):
        assert (out / name).exists(), name
    assert "not configured" in (out / "report.md").read_text()
    assert json.loads((out / "headline.json").read_text()) == {stage: {"clips_written": 0}}


@pytest.mark.slow
def test_from_the_released_mp4s_to_table_1_kinetics_sounds(tmp_path):
    """The whole real-data path on the CPU: mp4 clips as released -> prep_clips -> t1_fusion (smoke) reads them."""
    import run_stage

    raw, out, reports = tmp_path / "raw", tmp_path / "ks", tmp_path / "reports"
    raw.mkdir()
    train_rows, test_rows = [], []
    for i in range(8):
        clip = f"clip{i}_{10 * i:06d}"
        encode(raw / f"{clip}.mp4", seconds=2.0)
        (test_rows if i >= 6 else train_rows).append(f"{clip},20,{i % 2}")
    (tmp_path / "train.txt").write_text("\n".join(train_rows) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(test_rows) + "\n")
    lists = [f"train_list={tmp_path / 'train.txt'}", f"test_list={tmp_path / 'test.txt'}"]
    prepared = run_stage.run("prep_clips", [f"raw_root={raw}", f"out_root={out}", *lists, "workers=2"], reports)
    assert json.loads((prepared / "metrics.json").read_text())["clips_written"] == 8
    t1 = run_stage.run("t1_fusion", ["smoke=true", "workers=1", "dataset=kinetics_sounds", f"root={out}",
                                     "rows=[audio_only, concat]", "batch_size=4", "width=2",
                                     "loader={image_size: 16, val_fraction: 0.34, augment: true}"], reports)
    assert "ours (KS) acc" in (t1 / "table.md").read_text()
    metrics = json.loads((t1 / "metrics.json").read_text())
    assert {"audio_only", "concat", "concat+ogm_ge"} <= set(metrics)
    ran = json.loads((t1 / "provenance.json").read_text())["ran_with"]
    assert ran["dataset"] == "kinetics_sounds" and ran["loader"]["augment"] is True
