"""The classification contract: a `RunJob` (one table row's spec at one seed, with its training knobs),
`train(job, data) -> RunResult` (seed, build, balancer, `fit`, probe). What the run engine executes.

    job = RunJob(RunSpec("concat+ogm_ge", "concat", OGMConfig(alpha=0.3)), seed=0, config=TrainConfig(...))
    result = train(job, data)     # result.val, result.test, result.best_epoch, result.history, result.probe
"""

from dataclasses import dataclass, field, replace

import torch

from avlib.core.runtime import pick_device, seed_everything
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.models import build_classifier
from avlib.tasks.classify.fit import FitResult, TrainConfig, fit, predict
from avlib.tasks.classify.probe import linear_probe
from avlib.tasks.result import Result


@dataclass(frozen=True)
class RunSpec:
    """One row of a results table: a label, a model kind and (optionally) a balancing method's config
    (`avlib.balance`, e.g. `OGMConfig(alpha=0.3)`); every seed of the row trains the same spec.
    `probe_every_epoch`: also probe each encoder on val after every epoch (`epoch_probes`), logged in the
    history as probe_<modality>_val; training itself is unchanged. `keep_outputs`: also keep the selected
    model's class probabilities on val and test (`RunResult.outputs`), for a table row built from several runs'
    predictions (a late-fusion ensemble); training is unchanged."""

    label: str
    kind: str
    method: object | None = None
    probe_every_epoch: bool = False
    keep_outputs: bool = False


@dataclass(frozen=True)
class RunJob:
    """One run: `spec` at `seed`, trained with `config` (its own seed is replaced by `seed`), the model's
    build options, and whether to probe the encoders once trained. Plain values: it pickles to a worker."""

    spec: RunSpec
    seed: int
    config: TrainConfig
    model: dict | None = None  # build options (encoder, width, ...)
    probe: bool = True
    progress: bool = False  # fit's progress bar (nothing else)

    @property
    def label(self) -> str:
        return self.spec.label


@dataclass
class RunResult(Result):
    """`Result` (val, test, best_epoch, history, wall_s, cpu_s of `fit`) and the encoders' linear probes."""

    probe: dict = field(default_factory=lambda: {"val": {}, "test": {}})  # {"val": {"audio": acc, ..}, "test": ..}
    # RunSpec.keep_outputs: {"val": (n, K) probabilities, "val_labels": (n,), "test": ..., "test_labels": ...}
    outputs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, job: RunJob, fitted: FitResult, probe: dict, outputs: dict | None = None) -> "RunResult":
        return cls(job=job, val=fitted.val, test=fitted.test, best_epoch=fitted.best_epoch, history=fitted.history,
                   wall_s=fitted.wall_s, cpu_s=fitted.cpu_s, probe=probe, outputs=outputs or {})

    # the job's spec, read through (table rows are grouped by label, paired by seed)
    label = property(lambda self: self.job.spec.label)
    kind = property(lambda self: self.job.spec.kind)
    method = property(lambda self: self.job.spec.method)
    seed = property(lambda self: self.job.seed)


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


def class_probabilities(net, data: dict, device, splits=("val", "test")) -> dict:
    """{split: (n, K) softmax of the model's logits, f"{split}_labels": (n,)} in the model's current (selected)
    state, eval mode: what `RunSpec.keep_outputs` keeps."""
    out = {}
    for split in splits:
        p = predict(net, make_loader(data[split], batch_size=EVAL_BATCH_SIZE, shuffle=False), device)
        out[split], out[f"{split}_labels"] = p["logits"].float().softmax(-1), p["labels"]
    return out


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


def train(job: RunJob, data: dict, *, device=None) -> RunResult:
    """Train `job.spec` at `job.seed` with `fit` (probing its encoders every epoch if the spec asks), then
    probe its encoders in the selected epoch's state. `device`: a torchrun rank's own (`avlib.core.torchrun`)."""
    spec = job.spec
    config = replace(job.config, seed=job.seed, **({"device": str(device)} if device is not None else {}))
    try:
        net, balancer = build_run(spec, data["train"].n_classes, job.seed, job.model)
        callback = epoch_probes(data, pick_device(config.device)) if spec.probe_every_epoch else None
        fitted = fit(net, run_data(data, spec.method), config, balancer=balancer, progress=job.progress,
                     desc=f"{spec.label} s{job.seed}", epoch_callback=callback)
        # the probe reads the whole train split, whatever the method held out
        probes = probe_encoders(net, data, pick_device(config.device)) if job.probe else {"val": {}, "test": {}}
        outputs = class_probabilities(net, data, pick_device(config.device)) if spec.keep_outputs else None
    finally:
        torch.use_deterministic_algorithms(False)  # leave the process as we found it
    return RunResult.of(job, fitted, probes, outputs)


_train = train  # for run_one and run_classifier, whose keyword `train` (a TrainConfig) hides the function


def run_one(spec: RunSpec, seed: int, data: dict, *, train: TrainConfig, model: dict | None = None,
            probe: bool = True, progress: bool = False) -> RunResult:
    """`train` of RunJob(spec, seed, ...): one run from its parts."""
    return _train(RunJob(spec, seed, train, model, probe, progress), data)


def run_classifier(kind: str, data: dict, *, train: TrainConfig, method=None, model: dict | None = None,
                   probe: bool = True, progress: bool = True, label: str | None = None) -> RunResult:
    """Train one AV classifier (`kind`: audio_only, visual_only, baseline, concat, sum, film, gated) at
    `train.seed`; `label` names its table row (default: the kind)."""
    return run_one(RunSpec(label or kind, kind, method), train.seed, data, train=train, model=model,
                   probe=probe, progress=progress)
