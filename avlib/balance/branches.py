"""Per-head copies of a run's model, trained from its current state on one head's loss alone: what
Gradient-Blending measures each branch's overfitting and generalization on (Wang et al., CVPR 2020, Sec. 3-4).

The hooks hand a balancer no data, only `predict(split)` at `epoch_end`; in both engines that is
`functools.partial(predict_split, model, loaders, device, amp)` (`avlib.tasks.classify.fit`), so `run_handles`
reads the run's model (one module, or the batched engine's `StackedRuns`) and its split loaders from it and
refuses anything else loudly. A copy is a deep copy of that model, trained with its own SGD, so the run itself
is never touched (its parameters, optimiser state and random streams stay as they were).

Batched runs: the copy of a `StackedRuns` trains every run's copy at once, run r on its own order (seed + r);
run 0's order is the one a single run with the same seed draws.
"""

import copy
import math
from functools import partial

import torch

from avlib.balance.base import cross_entropy_runs


def run_handles(predict) -> tuple:
    """(model, loaders, device, amp) behind fit's `predict` partial; a clear error for any other callable."""
    if not (isinstance(predict, partial) and getattr(predict.func, "__name__", "") == "predict_split"
            and len(predict.args) == 4):
        raise TypeError("Gradient-Blending trains per-head copies from the run's model and train split; it needs "
                        "fit's predict (functools.partial of predict_split), got " + repr(predict))
    return predict.args


def _batches(model, dataset, *, batch_size: int, seed: int, device):
    """An endless stream of shuffled training batches: one run's (B, ...), or stacked runs' (N, B, ...), run r
    in its own order (seed + r). Drawn here, not through avlib.data's loaders: the balancers sit on the floor
    below the data and task packages (tests/core/test_layers.py)."""
    runs = getattr(model, "n", None)  # StackedRuns (the batched engine) has n runs
    generators = [torch.Generator().manual_seed(seed + r) for r in range(runs or 1)]
    n = len(dataset)
    while True:
        orders = [torch.randperm(n, generator=g) for g in generators]
        for start in range(0, n, batch_size):
            items = [_take(dataset, order[start : start + batch_size]) for order in orders]
            batch = items[0] if runs is None else {k: torch.stack([it[k] for it in items]) for k in items[0]}
            yield {k: v.to(device) for k, v in batch.items()}


def _take(dataset, index: torch.Tensor) -> dict:
    """{"audio", "visual", "label"} of the items at `index`: tensors indexed at once when the data are in memory."""
    if all(hasattr(dataset, k) for k in ("audio", "visual", "label")):
        return {"audio": dataset.audio[index], "visual": dataset.visual[index], "label": dataset.label[index]}
    items = [dataset[int(i)] for i in index]
    return {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in ("audio", "visual", "label")}


def head_loss(out, head: str, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of one AVOutput head per run, summed over runs (each run's gradient its own)."""
    return cross_entropy_runs(getattr(out, head), targets).sum()


def train_copy(model, dataset, head: str, *, steps: int, batch_size: int, lr: float, momentum: float,
               weight_decay: float, seed: int, device):
    """A deep copy of `model` after `steps` SGD steps on head `head`'s loss alone (AVOutput field: "logits",
    "audio_head" or "visual_head"); parameters the head does not reach get no gradient and stay."""
    branch = copy.deepcopy(model)
    branch.train()
    params = list(branch.parameters())
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    batches = _batches(branch, dataset, batch_size=batch_size, seed=seed, device=device)
    for _ in range(steps):
        batch = next(batches)
        optimizer.zero_grad(set_to_none=True)
        head_loss(branch(batch["audio"], batch["visual"]), head, batch["label"]).backward()
        optimizer.step()
    branch.eval()
    return branch


def copy_steps(n_train: int, batch_size: int, epochs: float) -> int:
    """Optimizer steps in `epochs` passes over `n_train` items (at least one)."""
    return max(1, round(epochs * math.ceil(n_train / batch_size)))
