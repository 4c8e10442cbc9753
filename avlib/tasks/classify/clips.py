"""Clip classification with temporal and speech-branch models (stages t2_video, t2_speech, premise_avclips): one
(model, ± OGM-GE, seed) run on clips of T segments, trained by `avlib.tasks.classify.fit.fit`.

    job = ClipJob("tsm_av", OGMConfig(alpha=0.5), seed=0, config=TrainConfig(...), model={...})
    result = train(job, data)     # result.val, result.test, ..., result.single_segment (TSN-AV only)

The video side (TSN-AV, TSM-AV, TBN-lite, PSP-lite: `avlib.models.temporal`) and the speech side (X-vector,
I-vector-lite: `avlib.models.speech_branches`); OGM-GE is `OGMConfig.build` on the model's parameters.
"""

from dataclasses import dataclass, field, replace

import torch

from avlib.balance import OGMConfig
from avlib.core.runtime import seed_everything
from avlib.data.loader import EVAL_BATCH_SIZE, make_loader
from avlib.models.speech_branches import build_speech_model
from avlib.models.temporal import VIDEO_KINDS, build_video_model
from avlib.tasks.classify.fit import TrainConfig, evaluate, fit
from avlib.tasks.result import Result


@dataclass(frozen=True)
class ClipJob:
    """One (model, ± OGM-GE, seed) run with everything it needs as plain values (picklable)."""

    kind: str
    method: OGMConfig | None
    seed: int
    config: TrainConfig  # its seed is replaced by `seed`
    model: dict  # build options: width, shift_div, hidden, tau, xvector_channels, ivector_*; blank (below)

    @property
    def label(self) -> str:
        blank = self.model.get("blank", "")
        return self.kind + (f"-{blank}" if blank else "") + ("+ogm_ge" if self.method is not None else "")


@dataclass
class ClipResult(Result):
    """`Result` and, for TSN-AV, the selected model's accuracy on segment 0 alone: {"val": acc, "test": acc}."""

    single_segment: dict = field(default_factory=dict)

    label = property(lambda self: self.job.label)
    kind = property(lambda self: self.job.kind)
    seed = property(lambda self: self.job.seed)


def build_model(kind: str, data: dict, seed: int, options: dict) -> torch.nn.Module:
    """The `kind` model for AV-Digits clips (seed first: the init and the i-vector front end are drawn here)."""
    seed_everything(seed)
    audio = data["train"].audio  # (N, T, 1, n_mels, frames)
    if kind in VIDEO_KINDS:
        return build_video_model(kind, n_classes=data["train"].n_classes, segments=audio.shape[1],
                                 width=options["width"], shift_div=options["shift_div"], hidden=options["hidden"],
                                 tau=options["tau"])
    return build_speech_model(kind, n_classes=data["train"].n_classes, segments=audio.shape[1],
                              n_mels=audio.shape[3], width=options["width"], channels=options["xvector_channels"],
                              train_audio=audio, components=options["ivector_components"],
                              rank=options["ivector_rank"], seed=seed)


def ogm_for(kind: str, method: OGMConfig | None) -> OGMConfig | None:
    """The I-vector-lite audio branch has no convolution (a fixed front end, a trainable linear layer):
    OGM-GE modulates all its trainable parameters ("all"), the other models their conv weights as chosen."""
    return replace(method, params="all") if method is not None and kind == "i_vector" else method


BLANKS = ("", "audio", "visual")  # model option "blank": the modality zeroed in every split ("": none)


def blank_modality(data: dict, blank: str) -> dict:
    """`data` with the `blank` modality's input replaced by zeros in every split (the normalised features'
    mean): the same model then learns from the other modality alone, a uni-modal baseline with the same
    architecture, init and data order (the premise check of stage premise_avclips). "": `data` unchanged."""
    if blank not in BLANKS:
        raise ValueError(f"clips blank={blank!r}; expected one of {BLANKS}")
    if not blank:
        return data
    out = {}
    for split, d in data.items():
        audio = torch.zeros_like(d.audio) if blank == "audio" else d.audio
        visual = torch.zeros_like(d.visual) if blank == "visual" else d.visual
        out[split] = type(d).from_tensors(audio, visual, d.label)
    return out


def train(job: ClipJob, data: dict) -> ClipResult:
    """Seed, build, OGM-GE balancer (if any), `fit` (selection on val), and for TSN-AV the selected model's
    accuracy on the first segment alone."""
    try:
        data = blank_modality(data, job.model.get("blank", ""))
        net = build_model(job.kind, data, job.seed, job.model)
        method = ogm_for(job.kind, job.method)
        balancer = method.build(net, seed=job.seed) if method is not None else None
        fitted = fit(net, data, replace(job.config, seed=job.seed), balancer=balancer, progress=False)
        single = {}
        if job.kind == "tsn_av":  # the consensus takes any number of segments
            for split in ("val", "test"):
                d = data[split]
                one = type(d).from_tensors(d.audio[:, :1], d.visual[:, :1], d.label)
                loader = make_loader(one, batch_size=EVAL_BATCH_SIZE, shuffle=False)
                single[split] = evaluate(net, loader, torch.device("cpu"))["acc"]
    finally:
        torch.use_deterministic_algorithms(False)
    return ClipResult(job=job, val=fitted.val, test=fitted.test, best_epoch=fitted.best_epoch, history=fitted.history,
                      wall_s=fitted.wall_s, cpu_s=fitted.cpu_s, single_segment=single)
