"""Classifiers for AV classification: two encoders and a fusion head, or one encoder alone.

Both return `AVOutput`; `audio_logits` / `visual_logits` are each modality's share of the logits,
detached (they feed OGM's scores and the logs, never the loss). `forward(audio, visual, features=None)`
takes an optional hook `(a, v) -> (a, v)` applied to the encoder features before fusion: where a
balancing method acts on features (modality dropout, OPM), training passes its `features` hook here.
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


class AVClassifier(nn.Module):
    def __init__(self, *, audio_encoder: nn.Module, visual_encoder: nn.Module, fusion: nn.Module):
        super().__init__()
        self.audio_encoder, self.visual_encoder, self.fusion = audio_encoder, visual_encoder, fusion

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, features=None) -> AVOutput:
        a, v = self.audio_encoder(audio), self.visual_encoder(visual)
        if self.training:
            self.fusion.observe(a.detach(), v.detach())  # the reference features of the uni-modal split
        if features is not None:
            a, v = features(a, v)
        logits = self.fusion(a, v)
        with torch.no_grad():
            audio_logits, visual_logits = self.fusion.unimodal(a.detach(), v.detach())
        return AVOutput(logits, audio_logits, visual_logits)


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
                     audio_channels: int = 1, visual_channels: int = 1) -> nn.Module:
    """kind: 'audio_only', 'visual_only' or a fusion name (baseline, concat, sum, film, gated)."""
    if kind not in KINDS:
        raise ValueError(f"model kind={kind!r}; expected one of {KINDS}")
    if kind in UNIMODAL:
        modality = kind.removesuffix("_only")
        channels = audio_channels if modality == "audio" else visual_channels
        enc = make_encoder(encoder, in_channels=channels, width=width)
        return UnimodalClassifier(encoder=enc, modality=modality, n_classes=n_classes)
    audio = make_encoder(encoder, in_channels=audio_channels, width=width)
    visual = make_encoder(encoder, in_channels=visual_channels, width=width)
    fusion = FUSIONS[kind](dim_audio=audio.dim, dim_visual=visual.dim, n_classes=n_classes)
    return AVClassifier(audio_encoder=audio, visual_encoder=visual, fusion=fusion)
