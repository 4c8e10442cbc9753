"""One training run from plain values: seed, build, (OGM-GE), fit, probe. What a notebook loops over."""

from dataclasses import dataclass, replace

import torch

from avlib.models import build_classifier
from avlib.ogm import OGMGE, encoder_params
from avlib.probe import linear_probe
from avlib.train import FitResult, TrainConfig, fit, pick_device, seed_everything


@dataclass(frozen=True)
class OGMConfig:
    alpha: float = 0.8
    start_epoch: int = 0
    end_epoch: int | None = None
    ge: bool = True
    params: str = "conv"  # "conv" (as the official code) or "all"


@dataclass
class RunResult:
    kind: str
    label: str
    ogm: OGMConfig | None
    seed: int
    fit: FitResult
    probe: dict  # linear-probe accuracy of each encoder present: {"val": {"audio": ..}, "test": {...}}


def run_classifier(kind: str, data: dict, *, train: TrainConfig, ogm: OGMConfig | None = None,
                   model: dict | None = None, probe: bool = True, progress: bool = True,
                   label: str | None = None) -> RunResult:
    """Train one AV classifier (`kind`: audio_only, visual_only, baseline, concat, sum, film, gated);
    `label` names its table row (default: the kind)."""
    if ogm is not None and kind.endswith("_only"):
        raise ValueError(f"OGM-GE needs two modalities; model kind {kind!r} has one")
    seed_everything(train.seed)
    net = build_classifier(kind, n_classes=data["train"].n_classes, **(model or {}))
    balancer = None
    if ogm is not None:
        balancer = OGMGE(audio_params=encoder_params(net.audio_encoder, ogm.params),
                         visual_params=encoder_params(net.visual_encoder, ogm.params),
                         alpha=ogm.alpha, start_epoch=ogm.start_epoch, end_epoch=ogm.end_epoch,
                         ge=ogm.ge, seed=train.seed)
    tag = f"{kind}{'+ogm' if ogm else ''} s{train.seed}"
    try:
        result = fit(net, data, train, balancer=balancer, progress=progress, desc=tag)
        probes = {"val": {}, "test": {}}
        if probe:
            device = pick_device(train.device)
            for m in ("audio", "visual"):
                encoder = getattr(net, f"{m}_encoder")
                if encoder is not None:
                    for split, acc in linear_probe(encoder, data, m, device).items():
                        probes[split][m] = acc
    finally:
        torch.use_deterministic_algorithms(False)  # leave the process as we found it
    return RunResult(kind=kind, label=label or kind, ogm=ogm, seed=train.seed, fit=result, probe=probes)


@dataclass(frozen=True)
class RunSpec:
    """One row of a results table: a label, a model kind and (optionally) OGM-GE settings."""

    label: str
    kind: str
    ogm: OGMConfig | None = None


def run_specs(specs: list, seeds: list, data: dict, *, train: TrainConfig, model: dict | None = None,
              probe: bool = True, progress: bool = True) -> list[RunResult]:
    """Every spec at every seed, in a fixed order (spec-major), with one progress bar over all runs."""
    from tqdm import tqdm

    jobs = [(spec, seed) for spec in specs for seed in seeds]
    results = []
    for spec, seed in tqdm(jobs, desc="runs", disable=not progress):
        results.append(run_classifier(spec.kind, data, train=replace(train, seed=seed), ogm=spec.ogm, model=model,
                                      probe=probe, progress=False, label=spec.label))
    return results


def ogm_grid_search(kind: str, data: dict, *, train: TrainConfig, alphas: list, windows: list,
                    base: OGMConfig = OGMConfig(), model: dict | None = None, progress: bool = True):
    """Val accuracy of `kind` + OGM-GE for each (alpha, window end as a fraction of the epochs).

    Returns (DataFrame of the grid, the OGMConfig with the best val accuracy; ties go to the first).
    Only val is looked at: the test split never informs the choice.
    """
    import pandas as pd

    specs = [RunSpec(f"alpha={a}, window={w}", kind,
                     replace(base, alpha=a, start_epoch=0, end_epoch=max(1, round(w * train.epochs))))
             for a in alphas for w in windows]
    runs = run_specs(specs, [train.seed], data, train=train, model=model, probe=False, progress=progress)
    grid = pd.DataFrame([{"alpha": r.ogm.alpha, "window_end_epoch": r.ogm.end_epoch,
                          "val_acc": r.fit.val["acc"], "val_audio_acc": r.fit.val.get("audio_acc"),
                          "val_visual_acc": r.fit.val.get("visual_acc")} for r in runs])
    best = runs[int(grid["val_acc"].to_numpy().argmax())].ogm
    grid["chosen"] = [r.ogm == best for r in runs]
    return grid, best
