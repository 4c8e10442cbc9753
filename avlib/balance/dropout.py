"""Modality dropout: the "Modality-Drop (audio)" and "Modality-Drop (visual)" rows of OGM-GE's Table 3
(Peng et al., CVPR 2022, Sec. 4.3, a baseline the paper compares with; ModDrop, Neverova et al., TPAMI 2016).

For each training sample i and the chosen modality u, with its encoder feature x_i^u (the vector the
fusion head receives):
    m_i ~ Bernoulli(1 - p)                 (one draw per sample, the whole feature vector at once)
    x~_i^u = m_i * x_i^u / (1 - p)         (inverted dropout: E[x~] = x, so evaluation needs no rescaling)
The other modality is untouched; at evaluation nothing is dropped (the model calls `features` in training
mode only). The paper gives no equations for this baseline; dropping the whole modality feature per sample
with inverted scaling is our reading of "modality dropout". The mask comes from the global torch generator
(like `nn.Dropout`), which `seed_everything` seeds per run; with p = 0 nothing is drawn at all.
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig

MODALITIES = ("audio", "visual")


class ModalityDropout(Balancer):
    def __init__(self, *, modality: str, p: float):
        if modality not in MODALITIES:
            raise ValueError(f"modality dropout modality={modality!r}; expected one of {MODALITIES}")
        if not 0 <= p < 1:
            raise ValueError(f"modality dropout p={p}; expected in [0, 1)")
        self.modality, self.p = modality, p

    def features(self, a, v, epoch, targets=None, unimodal=None):
        if self.p == 0:
            return a, v
        x = a if self.modality == "audio" else v
        keep = torch.rand_like(x[..., :1]) >= self.p  # (B, 1): one draw per sample (per run under vmap)
        x = x * (keep.to(x.dtype) / (1 - self.p))
        return (x, v) if self.modality == "audio" else (a, x)


@dataclass(frozen=True)
class ModalityDropConfig(MethodConfig):
    modality: str = "audio"
    p: float = 0.5

    def __post_init__(self):
        ModalityDropout(modality=self.modality, p=self.p)  # raises on a bad setting

    @property
    def name(self) -> str:
        return f"modality_drop_{self.modality}"

    def describe(self) -> str:
        return f"drop {self.modality}, p={self.p:g}"

    def build(self, model, *, seed: int, params: dict | None = None) -> ModalityDropout:
        return ModalityDropout(modality=self.modality, p=self.p)
