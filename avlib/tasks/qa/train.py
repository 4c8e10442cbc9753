"""QA training for MUSIC-AVQA-style data: `train(job, data) -> QAResult`, the task `avlib.core.pool.run_tasks` runs.

The paper's recipe (Sec. 5.1 and the authors' code): Adam, StepLR(step 8, gamma 0.1), batch 64, the model
of the epoch with the best val accuracy (all questions, pooled) kept and evaluated once on test; AVST adds
0.5 x the audio-visual matching loss. Items: {"audio" [B, T, 128], "visual" [B, T, 512, h, w], "question"
[B, L] (0 = pad), "label" [B], "type" [B] (index into `dataset.types`), "video" [B]}.
"""

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from avlib.core.matmul import openblas_matmuls
from avlib.core.runtime import seed_everything
from avlib.data.loader import make_loader
from avlib.data.qa import template_key
from avlib.models.avst import ABLATION_ROWS, VARIANTS, ablation_row
from avlib.models.qa_baselines import BASELINES
from avlib.tasks.qa.memory import keep_large_blocks
from avlib.tasks.qa.metrics import pooled_accuracy, type_counts
from avlib.tasks.result import BestEpoch, Result

MODELS = (*ABLATION_ROWS, *VARIANTS, *BASELINES)  # AVST's Table 5 rows by name, its labelled variants, the baselines


@dataclass(frozen=True)
class QAJob:
    model: str  # an AVST ablation row ("AV+Q+TG+SG" is full AVST) or a baseline name
    seed: int = 0
    hidden: int = 512
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-4
    step_size: int = 8
    gamma: float = 0.1
    match_weight: float = 0.5
    keep_state: bool = False  # return the selected weights (the attention figures rebuild the model)


@dataclass
class QAResult(Result):
    """`Result` with val / test = the pooled accuracies (each type, each modality, "all") of the selected
    epoch, and:"""

    test_counts: dict = field(default_factory=dict)  # {type: [n correct, n]} on test
    template_counts: dict = field(default_factory=dict)  # {template: [n correct, n]} on test
    state: dict | None = None  # the selected weights (job.keep_state)
    test_correct: str = ""  # "1"/"0" per test question in the split's order (the intervals with test sampling)


def build_qa_model(name: str, dataset, *, hidden: int):
    """Model `name` for `dataset`'s vocabularies and feature sizes."""
    audio_dim, visual_dim = dataset_dims(dataset)
    kwargs = dict(vocab_size=len(dataset.question_vocab), n_answers=dataset.n_answers, hidden=hidden,
                  audio_dim=audio_dim, visual_dim=visual_dim)
    if name in ABLATION_ROWS or name in VARIANTS:
        return ablation_row(name, **kwargs)
    if name in BASELINES:
        return BASELINES[name][0](**kwargs)
    raise ValueError(f"unknown QA model {name!r}; expected one of {list(MODELS)}")


def dataset_dims(dataset) -> tuple[int, int]:
    item = dataset[0]
    return item["audio"].shape[-1], item["visual"].shape[-3]


def qa_loss(out, labels, match_weight: float):
    loss = F.cross_entropy(out.logits, labels)
    if out.match_logits is not None:
        loss = loss + match_weight * F.cross_entropy(out.match_logits, out.match_labels)
    return loss


@torch.no_grad()
def evaluate(model, dataset, batch_size: int = 256) -> tuple[dict, torch.Tensor]:
    """({type: [correct, n]}, predictions [N]) of `model` on `dataset` (eval mode, dataset order). The labels
    and types are the dataset's own tensors (the batches hold them in the same order): one pass over the
    features, not a second one that gathers every batch again only to read its labels."""
    model.eval()
    predictions = torch.cat([model(batch["audio"], batch["visual"], batch["question"]).logits.argmax(-1)
                             for batch in make_loader(dataset, batch_size=batch_size, shuffle=False)])
    return type_counts(predictions == dataset.label, dataset.type, dataset.types), predictions


def correct_string(correct: torch.Tensor) -> str:
    """"1"/"0" per question (right / wrong), in the split's order: compact, and JSON as it is."""
    return "".join("1" if right else "0" for right in correct.tolist())


def template_counts(correct: torch.Tensor, records) -> dict:
    """{template (its quirks removed): [n correct, n questions]} over a split, in first-seen order."""
    out: dict = {}
    for right, record in zip(correct.tolist(), records, strict=True):
        pair = out.setdefault(template_key(record.template), [0, 0])
        pair[0], pair[1] = pair[0] + int(right), pair[1] + 1
    return out


@openblas_matmuls()  # MKL's reproducible sgemm costs ~2x per run here (avlib/core/matmul.py)
def train(job: QAJob, data: dict) -> QAResult:
    """Train `job.model` on data["train"], select the epoch on data["val"] (pooled accuracy over all
    questions, ties: the earlier epoch), evaluate it once on data["test"]."""
    keep_large_blocks()  # allocator only: fewer page faults, the same numbers (avlib/tasks/qa/memory.py)
    start, start_cpu = time.perf_counter(), time.process_time()
    seed_everything(job.seed)
    model = build_qa_model(job.model, data["train"], hidden=job.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=job.lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=job.step_size, gamma=job.gamma)
    negatives = torch.Generator().manual_seed(job.seed + 1)  # the matching's other-video draws
    train_loader = make_loader(data["train"], batch_size=job.batch_size, shuffle=True, seed=job.seed)
    best, history = BestEpoch("val_all"), []
    for epoch in range(job.epochs):
        model.train()
        total, n = 0.0, 0
        for batch in train_loader:
            out = model(batch["audio"], batch["visual"], batch["question"], video=batch["video"], generator=negatives)
            loss = qa_loss(out, batch["label"], job.match_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, n = total + float(loss.detach()) * len(batch["label"]), n + len(batch["label"])
        schedule.step()
        val = pooled_accuracy(evaluate(model, data["val"])[0])
        history.append({"epoch": epoch, "loss": total / n, **{f"val_{k}": v for k, v in val.items()}})
        best.update(history[-1], model)
    best.restore(model)
    counts, predictions = evaluate(model, data["test"])
    return QAResult(job=job, val=best.val, test=pooled_accuracy(counts), test_counts=counts,
                    template_counts=template_counts(predictions == data["test"].label, data["test"].records),
                    test_correct=correct_string(predictions == data["test"].label),
                    best_epoch=best.epoch,
                    history=history, wall_s=time.perf_counter() - start, cpu_s=time.process_time() - start_cpu,
                    state=best.state if job.keep_state else None)
