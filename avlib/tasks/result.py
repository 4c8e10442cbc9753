"""The contract every task family keeps: a run's `Result`, and `BestEpoch`, the one place that selects the
epoch with the best val score, keeps its weights and puts them back for the single test evaluation.

    best = BestEpoch()                      # key "val_acc", higher is better, ties keep the first epoch
    for epoch in range(epochs):
        ...train...
        record = {"epoch": epoch, "loss": ..., "val_acc": ...}
        history.append(record)
        best.update(record, model)          # copies the weights only when this epoch is the new best
    best.restore(model)                     # the selected epoch's weights, then test once
    Result(val=best.val, test=evaluate(model, test), best_epoch=best.epoch, history=history, ...)

Test is never read while selecting: the val split alone decides (the official OGM-GE and MUSIC-AVQA code
select on test; `avlib` does not).
"""

import copy
from dataclasses import dataclass, field


class BestEpoch:
    """The epoch whose `record[key]` is best so far (ties: the earliest), with a copy of its weights."""

    def __init__(self, key: str = "val_acc", *, higher: bool = True):
        self.key, self.higher = key, higher
        self.record, self.state = None, None

    def better(self, value) -> bool:
        if self.record is None:
            return True
        best = self.record[self.key]
        return value > best if self.higher else value < best

    def update(self, record: dict, model=None, *, state: dict | None = None) -> bool:
        """Keep `record` (and a copy of `model`'s weights, or of `state`) if it beats the best so far."""
        if not self.better(record[self.key]):
            return False
        self.record = record
        source = state if state is not None else (model.state_dict() if model is not None else None)
        self.state = copy.deepcopy(source) if source is not None else None
        return True

    def restore(self, model) -> None:
        """Load the selected epoch's weights into `model`."""
        if self.state is None:
            raise RuntimeError("BestEpoch.restore: no epoch was selected (update() was never called)")
        model.load_state_dict(self.state)

    @property
    def epoch(self) -> int:
        return self.record["epoch"]

    @property
    def val(self) -> dict:
        """The selected epoch's val metrics, without their "val_" prefix."""
        return {k.removeprefix("val_"): v for k, v in self.record.items() if k.startswith("val_")}


@dataclass
class Result:
    """What every family's `train(job, data)` returns (a family may add fields of its own)."""

    job: object  # the frozen job that ran (it carries the seed)
    val: dict  # metrics of the selected epoch on val (what selected it)
    test: dict  # the same metrics on test, evaluated once
    best_epoch: int | None
    history: list = field(default_factory=list)  # one dict per epoch
    wall_s: float = 0.0
    cpu_s: float = 0.0
