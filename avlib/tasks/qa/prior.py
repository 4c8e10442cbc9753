"""The template prior: answer every question with the answer its template gets most often on train.

No model and no training: it measures how much of a split the answer prior alone answers, per question type and
pooled as the official evaluation pools (avlib.tasks.qa.metrics). A question-only model can learn this much
from the question's wording; what a model scores above it comes from the audio and the frames.
"""

from collections import Counter

from avlib.data.qa import TYPES, template_key
from avlib.tasks.qa.metrics import pooled_accuracy

PRIOR_NAME = "template prior (majority train answer per template)"


def majority_answers(records) -> dict:
    """{template: its most frequent answer in `records`}; a tie goes to the alphabetically first answer, so
    the result does not depend on the records' order."""
    counts: dict = {}
    for r in records:
        counts.setdefault(r.template, Counter())[r.answer] += 1
    return {t: min(c, key=lambda a: (-c[a], a)) for t, c in counts.items()}


def template_prior_accuracy(train_records, test_records, types=TYPES) -> dict:
    """Pooled accuracies (each type, each modality, "all"; as a trained model's `test`) of answering each test
    question with its template's majority train answer. A template never seen on train counts as wrong."""
    majority = majority_answers(train_records)
    counts = {name: [0, 0] for name in types}
    for r in test_records:
        if r.type not in counts:
            raise ValueError(f"question {r.question_id}: type {r.type!r} is none of the expected types {list(types)}")
        counts[r.type][0] += int(majority.get(r.template) == r.answer)
        counts[r.type][1] += 1
    return pooled_accuracy(counts)


def template_prior(data: dict) -> dict:
    """`template_prior_accuracy` fit on data["train"], scored on data["test"] (the splits of `load_data`)."""
    for split in ("train", "test"):
        if split not in data:
            raise ValueError(f"template prior: the data has no {split!r} split; expected train and test")
    return template_prior_accuracy(data["train"].records, data["test"].records, data["test"].types)


def template_prior_by_template(data: dict) -> dict:
    """{template (quirks removed): accuracy on data["test"] of its majority train answer}."""
    majority = majority_answers(data["train"].records)
    counts: dict = {}
    for r in data["test"].records:
        pair = counts.setdefault(template_key(r.template), [0, 0])
        pair[0], pair[1] = pair[0] + int(majority.get(r.template) == r.answer), pair[1] + 1
    return {t: right / n for t, (right, n) in counts.items()}
