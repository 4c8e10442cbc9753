"""One training run from plain values: seed, build, balancer, fit, probe. What the run engine executes."""

from dataclasses import dataclass, replace

import torch

from avlib.core.runtime import pick_device, seed_everything
from avlib.models import build_classifier
from avlib.tasks.classify.fit import FitResult, TrainConfig, fit
from avlib.tasks.classify.probe import linear_probe


@dataclass(frozen=True)
class RunSpec:
    """One row of a results table: a label, a model kind and (optionally) a balancing method's config
    (`avlib.balance`, e.g. `OGMConfig(alpha=0.3)`); every seed of the row trains the same spec.
    `probe_every_epoch`: also probe each encoder on val after every epoch (`epoch_probes`), logged in the
    history as probe_<modality>_val; training itself is unchanged."""

    label: str
    kind: str
    method: object | None = None
    probe_every_epoch: bool = False


@dataclass
class RunResult:
    kind: str
    label: str
    method: object | None
    seed: int
    fit: FitResult
    probe: dict  # linear-probe accuracy of each encoder present: {"val": {"audio": ..}, "test": {...}}


def build_run(spec: RunSpec, n_classes: int, seed: int, model: dict | None = None):
    """(network, balancer or None) of `spec`, initialised from `seed` (what every engine path starts from)."""
    if spec.method is not None and spec.kind.endswith("_only"):
        raise ValueError(f"run {spec.label!r}: a balancing method needs two modalities; model kind "
                         f"{spec.kind!r} has one")
    seed_everything(seed)
    options = spec.method.model_options() if spec.method is not None else {}
    net = build_classifier(spec.kind, n_classes=n_classes, **(model or {}), **options)
    return net, (spec.method.build(net, seed=seed) if spec.method is not None else None)


def run_data(data: dict, method) -> dict:
    """The splits a run of `method` trains on: `data`, or, when the method asks for held-out data
    (`method.holdout` > 0), train split into train and "holdout" by `method.holdout_seed` (the same split
    for every seed of a row). Val and test are never touched."""
    fraction = getattr(method, "holdout", 0.0)
    if not fraction:
        return data
    held, train = split_off(data["train"], fraction, seed=method.holdout_seed)
    return {**data, "train": train, "holdout": held}


def split_off(dataset, fraction: float, *, seed: int) -> tuple:
    """(part, rest): a random `fraction` of `dataset` (at least one item, fixed by `seed`) and the rest,
    each keeping `n_classes` and in-memory batching. E.g. held-out data carved from train."""
    if not 0 < fraction < 1:
        raise ValueError(f"split_off fraction={fraction}; expected in (0, 1)")
    n = len(dataset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = min(max(1, round(fraction * n)), n - 1)
    return _subset(dataset, order[:k].sort().values), _subset(dataset, order[k:].sort().values)


def _subset(dataset, index: torch.Tensor):
    if hasattr(dataset, "from_tensors"):  # in memory: index the tensors
        return type(dataset).from_tensors(dataset.audio[index], dataset.visual[index], dataset.label[index])
    subset = torch.utils.data.Subset(dataset, index.tolist())
    subset.n_classes = dataset.n_classes
    return subset


def probe_encoders(net, data: dict, device) -> dict:
    """{"val": {modality: acc}, "test": {...}} of a linear probe on each encoder present."""
    probes = {"val": {}, "test": {}}
    for m in ("audio", "visual"):
        encoder = getattr(net, f"{m}_encoder")
        if encoder is not None:
            for split, acc in linear_probe(encoder, data, m, device).items():
                probes[split][m] = acc
    return probes


def epoch_probes(data: dict, device):
    """`fit`'s epoch callback for `RunSpec.probe_every_epoch`: (model, epoch) -> {"probe_<m>_val": acc}, the
    val accuracy of the same linear probe as `probe_encoders` (fit on train) on each encoder present, at
    that epoch. Reads the encoders in eval mode without gradients: the run trains exactly as without it."""
    def callback(net, epoch: int) -> dict:
        logs = {}
        for m in ("audio", "visual"):
            encoder = getattr(net, f"{m}_encoder")
            if encoder is not None:
                logs[f"probe_{m}_val"] = linear_probe(encoder, data, m, device, splits=("val",))["val"]
        return logs

    return callback


def run_one(spec: RunSpec, seed: int, data: dict, *, train: TrainConfig, model: dict | None = None,
            probe: bool = True, progress: bool = False) -> RunResult:
    """Train `spec` at `seed` with `fit` (probing its encoders every epoch if the spec asks), then probe
    its encoders in the selected epoch's state."""
    train = replace(train, seed=seed)
    try:
        net, balancer = build_run(spec, data["train"].n_classes, seed, model)
        callback = epoch_probes(data, pick_device(train.device)) if spec.probe_every_epoch else None
        result = fit(net, run_data(data, spec.method), train, balancer=balancer, progress=progress,
                     desc=f"{spec.label} s{seed}", epoch_callback=callback)
        # the probe reads the whole train split, whatever the method held out
        probes = probe_encoders(net, data, pick_device(train.device)) if probe else {"val": {}, "test": {}}
    finally:
        torch.use_deterministic_algorithms(False)  # leave the process as we found it
    return RunResult(kind=spec.kind, label=spec.label, method=spec.method, seed=seed, fit=result, probe=probes)


def run_classifier(kind: str, data: dict, *, train: TrainConfig, method=None, model: dict | None = None,
                   probe: bool = True, progress: bool = True, label: str | None = None) -> RunResult:
    """Train one AV classifier (`kind`: audio_only, visual_only, baseline, concat, sum, film, gated) at
    `train.seed`; `label` names its table row (default: the kind)."""
    return run_one(RunSpec(label or kind, kind, method), train.seed, data, train=train, model=model,
                   probe=probe, progress=progress)
