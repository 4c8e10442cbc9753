"""QA training's evaluation (avlib/tasks/qa/train.py) and its allocator setting (avlib/tasks/qa/memory.py)."""

import sys

import torch
from fixtures.avqa import FakeQA

from avlib.core.runtime import single_threaded
from avlib.models.avst import ablation_row
from avlib.tasks.qa.memory import keep_large_blocks
from avlib.tasks.qa.metrics import type_counts
from avlib.tasks.qa.train import evaluate


class CountingQA(FakeQA):
    """FakeQA that counts the batches gathered from it."""

    gathered = 0

    def __getitems__(self, idx):
        self.gathered += 1
        return super().__getitems__(idx)


def test_evaluate_gathers_each_batch_once_and_counts_as_the_batches_do():
    data = CountingQA(n=40, hw=2, channels=32)
    torch.manual_seed(0)
    model = ablation_row("AV+Q+TG+SG", vocab_size=20, n_answers=5, hidden=16, visual_dim=32)
    with single_threaded():
        counts, predictions = evaluate(model, data, batch_size=16)
    assert data.gathered == 3  # 40 questions in batches of 16: one pass, not a second one for the labels
    # what the two-pass version counted: each batch's own labels and types
    batches = [data.__getitems__(torch.arange(i, min(i + 16, 40))) for i in range(0, 40, 16)]
    labels, types = torch.cat([b["label"] for b in batches]), torch.cat([b["type"] for b in batches])
    assert counts == type_counts(predictions == labels, types, data.types)
    assert predictions.shape == (40,) and sum(n for _, n in counts.values()) == 40


def test_the_allocator_setting_is_taken_on_glibc_and_harmless_elsewhere():
    taken = keep_large_blocks()
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert taken
    assert keep_large_blocks() == taken  # idempotent: every run sets it again

