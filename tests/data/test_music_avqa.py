"""The MUSIC-AVQA real-format loader, tokenization and vocabularies, on a fixture in the official format."""

import json
import warnings

import numpy as np
import pytest
import torch
from fixtures.music_avqa import DELETED_INDEX, TEST, TRAIN, VIDEOS, record, write_fixture

from avlib.data import DatasetError, load_dataset, make_loader
from avlib.data.qa import MAX_QUESTION_LEN, TYPES, Vocab, read_annotations, template_key, tokenize
from avlib.data.real.music_avqa import annotation_path


def test_tokenize_strips_marks_fills_placeholders_in_order():
    assert tokenize("Are there <Object> and <Object> sound? ", ["cello", "piano"]) == \
        ["are", "there", "cello", "and", "piano", "sound"]
    assert tokenize("How many sounding <Object> in the video？", ["violin"]) == \
        ["how", "many", "sounding", "violin", "in", "the", "video"]
    assert tokenize("Is the <FL> sound coming from the <LR> instrument?", ["first", "right"])[2] == "first"
    assert template_key("What kind of instrument is the <LRer> instrument? ") == \
        "What kind of instrument is the <LRer> instrument"


def test_vocab_round_trip_pad_unk(tmp_path):
    records = read_annotations(write_fixture(tmp_path / "m") / "avqa-train.json")
    vocab = Vocab.questions(records)
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    ids = vocab.encode_question(["where", "is", "the", "loudest", "instrument"])
    assert ids.shape == (MAX_QUESTION_LEN,) and ids.dtype == torch.int64
    assert vocab.decode_question(ids.tolist()) == ["where", "is", "the", "loudest", "instrument"]
    assert vocab.encode_question(["never-seen"])[0] == 1 and vocab.encode_question([])[0] == 0


def test_loader_reads_the_official_format(tmp_path):
    root = write_fixture(tmp_path / "m")
    train = load_dataset("music_avqa", root, "train")
    assert len(train) == len(TRAIN) - 1  # the deleted record is dropped
    assert all(r.question_id != DELETED_INDEX for r in train.records)
    assert len(load_dataset("music_avqa", root, "train", keep_deleted=True)) == len(TRAIN)
    item = train[0]
    assert item["audio"].shape == (10, 128) and item["audio"].dtype == torch.float32
    assert item["visual"].shape == (10, 512, 14, 14)
    # every 6th second, as the official code samples: row t is second 6 t
    raw = np.load(root / "feats" / "vggish" / f"{VIDEOS[0]}.npy")
    assert torch.equal(item["audio"], torch.from_numpy(raw[::6]))
    words = train.question_vocab.decode_question(item["question"].tolist())
    assert words == ["are", "there", "cello", "and", "piano", "sound"]
    assert train.answer_vocab.tokens[int(item["label"])] == "yes"
    assert train.types[int(item["type"])] == "Audio/Counting" and list(train.types) == list(TYPES)
    assert train.n_classes == train.n_answers == len({r[4] for r in TRAIN[:DELETED_INDEX]})
    test = load_dataset("music_avqa", root, "test")
    assert test.question_vocab.tokens == train.question_vocab.tokens  # vocabularies from train
    assert "rightmost" not in train.question_vocab  # a test word unseen in train -> <unk>
    assert 1 in test[1]["question"].tolist()
    batch = next(iter(make_loader(train, batch_size=4, shuffle=True, seed=0)))
    assert batch["visual"].shape == (4, 10, 512, 14, 14) and batch["video"].dtype == torch.int64
    preloaded = load_dataset("music_avqa", root, "train", preload=True)
    assert torch.equal(preloaded.__getitems__([0, 3])["visual"], train.__getitems__([0, 3])["visual"])
    sub = train.subset([1, 2])
    assert len(sub) == 2 and torch.equal(sub[0]["question"], train[1]["question"])


def test_pooled_visual_features(tmp_path):
    root = write_fixture(tmp_path / "m", pooled=True)
    assert load_dataset("music_avqa", root, "val")[0]["visual"].shape == (10, 512, 1, 1)


def _rewrite(root, split, index, **changes):
    path = root / f"avqa-{split}.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    records[index].update(changes)
    path.write_text(json.dumps(records), encoding="utf-8")


@pytest.mark.parametrize("changes, says", [
    ({"type": "Audio Counting"}, "type"),
    ({"type": json.dumps(["Audio", "Guessing"])}, "type"),
    ({"templ_values": "cello"}, "templ_values"),
    ({"templ_values": json.dumps(["cello"])}, "placeholder"),
])
def test_malformed_records_name_file_and_record(tmp_path, changes, says):
    root = write_fixture(tmp_path / "m")
    _rewrite(root, "train", 0, **changes)
    with pytest.raises(DatasetError, match=rf"avqa-train.json, record 0 .*{says}"):
        load_dataset("music_avqa", root, "train")


def test_missing_root_and_feature_file(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset("music_avqa", tmp_path / "nowhere", "train")
    root = write_fixture(tmp_path / "m")
    (root / "feats" / "res18_14x14" / f"{VIDEOS[1]}.npy").unlink()
    with pytest.raises(DatasetError, match=f"video '{VIDEOS[1]}'.*res18_14x14/{VIDEOS[1]}.npy is missing"):
        load_dataset("music_avqa", root, "test")


def test_short_feature_file(tmp_path):
    root = write_fixture(tmp_path / "m", seconds=30)
    with pytest.raises(DatasetError, match="has 30 rows; expected at least 55"):
        load_dataset("music_avqa", root, "train")


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")


def test_json_update_is_the_default_when_present(tmp_path):
    root = write_fixture(tmp_path / "m")
    assert annotation_path(root, "test") == root / "avqa-test.json"  # no json_update/: the original
    corrected = [record(100, *TEST[0]), record(101, *TEST[1][:4], "piano")]
    _write(root / "json_update" / "avqa-test.json", corrected)
    assert annotation_path(root, "test") == root / "json_update" / "avqa-test.json"
    assert annotation_path(root, "train") == root / "avqa-train.json"  # per file: no corrected train here
    assert annotation_path(root, "test", annotations="original") == root / "avqa-test.json"
    test = load_dataset("music_avqa", root, "test")
    assert [r.answer for r in test.records] == ["no", "piano"] and test.annotation_file.parent.name == "json_update"
    assert [r.answer for r in load_dataset("music_avqa", root, "test", annotations="original").records] == \
        ["no", "cello"]
    with pytest.raises(DatasetError, match="annotations='newest'"):
        annotation_path(root, "test", annotations="newest")
    with pytest.raises(DatasetError, match="json_update/avqa-train.json not found"):
        load_dataset("music_avqa", root, "val", annotations="json_update")


def test_duplicated_question_ids_are_named_in_one_warning(tmp_path):
    root = write_fixture(tmp_path / "m")
    same = record(101, *TEST[1])
    records = [record(100, *TEST[0]), record(100, *TEST[0][:4], "yes"),  # id 100: two answers -> dropped
               same, dict(same),  # id 101: identical copies -> kept once
               record(102, *TEST[1][:4], "piano"), record(102, *TEST[1][:4], "violin")]  # id 102: dropped
    _write(root / "avqa-test.json", records)
    with pytest.warns(UserWarning) as caught:
        test = load_dataset("music_avqa", root, "test")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "2 question ID(s)" in message and "[100, 102]" in message and "DROPPED" in message
    assert "1 question ID(s)" in message and "kept once: [101]" in message and "avqa-test.json" in message
    assert [r.question_id for r in test.records] == [101]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file without duplicates: no warning
        load_dataset("music_avqa", root, "train")
