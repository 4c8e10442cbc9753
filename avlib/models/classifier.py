"""Classifiers for AV classification: two encoders and a fusion head, or one encoder alone.

Both return `AVOutput`; `audio_logits` / `visual_logits` are each modality's share of the logits,
detached (they feed OGM's scores and the logs, never the loss). `forward(audio, visual, features=None)`
takes an optional hook `(a, v, unimodal=) -> (a, v)` applied to the encoder features before fusion, in
training mode only: where a balancing method acts on features (modality dropout, OPM), training passes its
`features` hook here (`unimodal` is the fusion head's uni-modal split, for methods that score modalities).

`unimodal_heads=True` (asked for by Gradient-Blending and MMPareto through their config) adds a trainable
linear classifier per modality on its encoder's features: `AVOutput.audio_head` / `visual_head`, not
detached, trained by the method's loss. The default builds exactly the model without them (same
parameters, same initialisation).
"""

from dataclasses import dataclass

import torch
from torch import nn

from avlib.models.encoders import SmallCNN
from avlib.models.fusion import FUSIONS
from avlib.models.resnet import ResNet18

MODALITIES = ("audio", "visual")
UNIMODAL = ("audio_only", "visual_only")
KINDS = UNIMODAL + tuple(FUSIONS)


@dataclass
class AVOutput:
    logits: torch.Tensor  # (B, K), trained with cross-entropy
    audio_logits: torch.Tensor | None = None  # (B, K), detached
    visual_logits: torch.Tensor | None = None
    audio_head: torch.Tensor | None = None  # (B, K), a trainable per-modality head (unimodal_heads=True)
    visual_head: torch.Tensor | None = None


class AVClassifier(nn.Module):
    def __init__(self, *, audio_encoder: nn.Module, visual_encoder: nn.Module, fusion: nn.Module,
                 heads: tuple[nn.Module, nn.Module] | None = None):
        super().__init__()
        self.audio_encoder, self.visual_encoder, self.fusion = audio_encoder, visual_encoder, fusion
        if heads is not None:  # registered only when asked: the default model's state_dict is unchanged
            self.audio_head, self.visual_head = heads

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, features=None) -> AVOutput:
        a, v = self.audio_encoder(audio), self.visual_encoder(visual)
        if self.training:
            self.fusion.observe(a.detach(), v.detach())  # the reference features of the uni-modal split
            if features is not None:
                a, v = features(a, v, unimodal=self.fusion.unimodal)
        logits = self.fusion(a, v)
        with torch.no_grad():
            audio_logits, visual_logits = self.fusion.unimodal(a.detach(), v.detach())
        heads = {}
        if hasattr(self, "audio_head"):
            heads = {"audio_head": self.audio_head(a), "visual_head": self.visual_head(v)}
        return AVOutput(logits, audio_logits, visual_logits, **heads)


class UnimodalClassifier(nn.Module):
    """Audio-only / visual-only rows: an encoder trained alone with a linear classifier."""

    def __init__(self, *, encoder: nn.Module, modality: str, n_classes: int):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality={modality!r}; expected one of {MODALITIES}")
        self.modality, self.encoder = modality, encoder
        self.fc = nn.Linear(encoder.dim, n_classes)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, features=None) -> AVOutput:
        logits = self.fc(self.encoder(audio if self.modality == "audio" else visual))
        return AVOutput(logits, **{f"{self.modality}_logits": logits.detach()})

    @property
    def audio_encoder(self):
        return self.encoder if self.modality == "audio" else None

    @property
    def visual_encoder(self):
        return self.encoder if self.modality == "visual" else None


def make_encoder(name: str, *, in_channels: int, width: int = 8) -> nn.Module:
    if name == "small_cnn":
        return SmallCNN(in_channels=in_channels, width=width)
    if name == "resnet18":
        return ResNet18(in_channels=in_channels)
    raise ValueError(f"encoder={name!r}; expected 'small_cnn' or 'resnet18'")


def build_classifier(kind: str, *, n_classes: int, encoder: str = "small_cnn", width: int = 8,
                     audio_channels: int = 1, visual_channels: int = 1, unimodal_heads: bool = False) -> nn.Module:
    """kind: 'audio_only', 'visual_only' or a fusion name (baseline, concat, sum, film, gated).
    unimodal_heads: also a trainable linear head per modality (fusions only)."""
    if kind not in KINDS:
        raise ValueError(f"model kind={kind!r}; expected one of {KINDS}")
    if unimodal_heads and kind in UNIMODAL:
        raise ValueError(f"unimodal_heads needs a fusion model; {kind!r} has one modality")
    if kind in UNIMODAL:
        modality = kind.removesuffix("_only")
        channels = audio_channels if modality == "audio" else visual_channels
        enc = make_encoder(encoder, in_channels=channels, width=width)
        return UnimodalClassifier(encoder=enc, modality=modality, n_classes=n_classes)
    audio = make_encoder(encoder, in_channels=audio_channels, width=width)
    visual = make_encoder(encoder, in_channels=visual_channels, width=width)
    fusion = FUSIONS[kind](dim_audio=audio.dim, dim_visual=visual.dim, n_classes=n_classes)
    # built after the rest: encoders and fusion start from the same initialisation as without heads
    heads = (nn.Linear(audio.dim, n_classes), nn.Linear(visual.dim, n_classes)) if unimodal_heads else None
    return AVClassifier(audio_encoder=audio, visual_encoder=visual, fusion=fusion, heads=heads)
