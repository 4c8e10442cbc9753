"""The reduced QA baselines (avlib/models/qa_baselines.py): shapes, the inputs each family reads, attention
distributions, and one training epoch each through `train`."""

import pytest
import torch
from fixtures.avqa import FakeQA, fake_splits

from avlib.core.runtime import single_threaded
from avlib.models.qa_baselines import BASELINES
from avlib.tasks.qa.train import QAJob, build_qa_model, train

READS = {"AudioQA": (True, False), "VisualQA": (False, True), "VideoQA": (False, True), "AVQA": (True, True)}


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():  # tiny tensors: threads only cost (and the suite shares 2 cores)
        yield


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_reads_the_inputs_of_its_family(name):
    torch.manual_seed(0)
    data = FakeQA(n=6, hw=3, channels=32)
    model = build_qa_model(name, data, hidden=16).eval()
    batch = data.__getitems__(torch.arange(6))
    audio, visual, question = batch["audio"], batch["visual"], batch["question"]
    out = model(audio, visual, question)
    assert out.logits.shape == (6, data.n_answers)
    reads_audio, reads_visual = READS[BASELINES[name][2]]
    assert (not torch.allclose(out.logits, model(torch.randn_like(audio), visual, question).logits)) == reads_audio
    assert (not torch.allclose(out.logits, model(audio, torch.randn_like(visual), question).logits)) == reads_visual
    assert not torch.allclose(out.logits, model(audio, visual, question.flip(0)).logits)  # the question matters
    for weights in out.attention.values():  # every attention is a distribution over what it attends
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


def test_every_baseline_trains_one_epoch_deterministically():
    data = fake_splits(n=24, hw=2, channels=32)
    for name in BASELINES:
        job = QAJob(model=name, hidden=16, epochs=1, batch_size=8, lr=1e-3, seed=1)
        first, second = train(job, data), train(job, data)
        assert first.test == second.test and first.history == second.history, name
        assert 0 <= first.test["all"] <= 1


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="unknown QA model 'hme'"):
        build_qa_model("hme", FakeQA(n=2), hidden=8)
