"""AVGA-lite: audio-guided visual attention + BiLSTMs + a per-segment classifier (Tian et al., ECCV 2018).

Tian, Shi, Li, Duan, Xu, *Audio-Visual Event Localization in Unconstrained Videos*, ECCV 2018:
  Sec. 3.2, Eq. 1-2   audio-guided visual attention over the k = 7x7 regions of segment t's map v_t:
        x_t = w^T tanh(W_v v_t + (W_a a_t) 1^T)     (k scores)      w_t = softmax(x_t)     (Eq. 1)
        v_att_t = sum_i w_t^i v_t^i                 (512)                                   (Eq. 2)
  Sec. 3.3            temporal modelling: one (Bi)LSTM over the audio segments, one over the attended
                      visual segments; supervised localization: a per-segment classifier over the
                      events + background on the fused hidden states (the "A+V-att" model, Table 2).
Reductions (named "AVGA-lite" in the tables): attention space `dim_attention` (default 32, the paper's is
the LSTM size), no separate U_a/U_v pre-layers (Eq. 1's W_a/W_v act on the features directly), fusion by
concatenation of the two BiLSTMs' states (the paper's A+V-att; no DMRN), hidden size `hidden`. Added: a
per-channel standardisation of the attended feature before the visual BiLSTM (`ChannelNorm`): AV-Events'
visual features share ONE mean/std, so each channel of the attended average sits at its own offset with a
small spread across segments; without it the visual BiLSTM saw a nearly constant input. It could not make the
visual share name classes on AV-Events at the first choice of visual noise (0.7): there the frames carried
whether a digit is seen but not which (a linear probe on them at chance), so the visual share could only gate
(background or not) and its alone-accuracy sat at the majority rate. The data's difficulty was re-chosen with
a "sight carries the class" criterion (issue #27; avlib/data/embedded/avevents.py).

Uni-modal shares (what OGM-GE scores): the classifier is linear in [h_a; h_v], so
    logits = W_a h_a + W_v h_v + b,   audio share = W_a h_a + b/2,   visual share = W_v h_v + b/2
as `avlib.models.fusion.ConcatFusion` splits them. Parameter groups OGM-GE modulates (`param_groups`):
audio = the audio BiLSTM; visual = the attention (it shapes the visual stream, though guided by audio) and
the visual BiLSTM. The classifier is shared and never modulated.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SegmentOutput:
    """Per-segment logits of an event-localization model: each (B, T, K); attention (B, T, 49) or None."""

    logits: torch.Tensor
    audio_logits: torch.Tensor
    visual_logits: torch.Tensor
    attention: torch.Tensor | None = None


class AudioGuidedAttention(nn.Module):
    """Eq. 1-2: audio a_t guides a softmax over the 49 regions of v_t; returns the attended 512-d feature."""

    def __init__(self, *, dim_audio: int = 128, dim_visual: int = 512, dim: int = 32):
        super().__init__()
        self.audio_proj = nn.Linear(dim_audio, dim)  # W_a
        self.visual_proj = nn.Linear(dim_visual, dim)  # W_v
        self.score = nn.Linear(dim, 1, bias=False)  # w

    def forward(self, audio, visual):
        # audio (B, T, 128), visual (B, T, 7, 7, 512) -> attended (B, T, 512), weights (B, T, 49)
        regions = visual.float().flatten(2, 3)  # (B, T, 49, 512)
        joint = torch.tanh(self.visual_proj(regions) + self.audio_proj(audio).unsqueeze(2))  # (B, T, 49, dim)
        weights = torch.softmax(self.score(joint).squeeze(-1), dim=-1)  # (B, T, 49), sums to 1
        return torch.einsum("btk,btkc->btc", weights, regions), weights


class ChannelNorm(nn.Module):
    """Per-channel standardisation of the attended visual feature (B, T, C) over the batch's segments, running
    statistics at eval, no learned scale: BatchNorm1d(C, affine=False) on the flattened segments."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels, affine=False)

    def forward(self, x):
        return self.norm(x.flatten(0, 1)).reshape(x.shape)


def split_linear(fc: nn.Linear, a, v):
    """A linear classifier on [a; v] split into each input's share (the bias halved between them)."""
    w_a, w_v = fc.weight[:, : a.shape[-1]], fc.weight[:, a.shape[-1] :]
    half_bias = fc.bias / 2
    return a @ w_a.T + half_bias, v @ w_v.T + half_bias


class AVGA(nn.Module):
    """AVGA-lite (module docstring): (audio [B,10,128], visual [B,10,7,7,512]) -> SegmentOutput."""

    def __init__(self, *, n_classes: int, hidden: int = 32, dim_attention: int = 32, dim_audio: int = 128,
                 dim_visual: int = 512):
        super().__init__()
        self.attention = AudioGuidedAttention(dim_audio=dim_audio, dim_visual=dim_visual, dim=dim_attention)
        self.audio_lstm = nn.LSTM(dim_audio, hidden, batch_first=True, bidirectional=True)
        self.visual_norm = ChannelNorm(dim_visual)
        self.visual_lstm = nn.LSTM(dim_visual, hidden, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(4 * hidden, n_classes)

    def param_groups(self) -> dict:
        """{"audio", "visual"}: the parameters before fusion, per modality (what OGM-GE modulates)."""
        return {"audio": list(self.audio_lstm.parameters()),
                "visual": [*self.attention.parameters(), *self.visual_lstm.parameters()]}

    def forward(self, audio, visual) -> SegmentOutput:
        attended, weights = self.attention(audio, visual)  # (B, T, 512), (B, T, 49)
        h_a, _ = self.audio_lstm(audio)  # (B, T, 2h)
        h_v, _ = self.visual_lstm(self.visual_norm(attended))  # (B, T, 2h)
        a_logits, v_logits = split_linear(self.classifier, h_a, h_v)  # (B, T, K) each
        return SegmentOutput(logits=a_logits + v_logits, audio_logits=a_logits, visual_logits=v_logits,
                             attention=weights)
