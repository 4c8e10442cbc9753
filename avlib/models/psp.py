"""PSP-lite: positive sample propagation between the audio and visual segments (Zhou et al., CVPR 2021).

Zhou, Zheng, Zhong, Guo, Wang, *Positive Sample Propagation along the Audio-Visual Event Line*, CVPR 2021:
  Sec. 3.1   features: audio-guided visual attention (AVGA's, `avlib.models.avga`) then one BiLSTM per
             modality: a, v in R^{T x d}.
  Sec. 3.2   PSP. All-pair affinities between the segments of the two modalities,
                 beta^va = softmax_row( (v W_1^v)(a W_1^a)^T / sqrt(d) ),  beta^av likewise from a to v  (Eq. 1)
             pruned to the POSITIVE pairs by a threshold tau and renormalised (L1 per row),
                 beta = ReLU(beta - tau),   beta_ij <- beta_ij / (sum_j beta_ij + eps)                      (Eq. 2)
             then each modality gathers features from the other's positive segments,
                 v_psp = v + beta^va (a W_2^a),    a_psp = a + beta^av (v W_2^v)                            (Eq. 3)
  Sec. 3.3   classification of each segment from the propagated features.
Reductions (named "PSP-lite" in the tables): one linear per-segment classifier over events + background
on [a_psp; v_psp] (the paper's event-relevance and category heads are not built), no audio-visual pair
similarity loss (Sec. 3.4), AVGA-lite's attention sizes, layer norm after Eq. 3.

Uni-modal shares for OGM-GE: the classifier is linear in [a_psp; v_psp], split as in AVGA (audio share
W_a a_psp + b/2; note a_psp already carries visual information through Eq. 3). Parameter groups OGM-GE
modulates: ONLY those before the PSP module, as the OGM-GE authors' supplement describes: audio = the audio
BiLSTM; visual = the attention and the visual BiLSTM. The PSP module and the classifier are not modulated.
"""

import math

import torch
from torch import nn

from avlib.models.avga import AudioGuidedAttention, ChannelNorm, SegmentOutput, split_linear


class PositiveSamplePropagation(nn.Module):
    """Eq. 1-3 on (a, v) of shape (B, T, d); returns (a_psp, v_psp) and the pruned affinities (B, T, T)."""

    def __init__(self, dim: int, *, threshold: float = 0.095):
        super().__init__()
        self.key_audio, self.key_visual = nn.Linear(dim, dim), nn.Linear(dim, dim)  # W_1^a, W_1^v
        self.value_audio, self.value_visual = nn.Linear(dim, dim), nn.Linear(dim, dim)  # W_2^a, W_2^v
        self.norm_audio, self.norm_visual = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.threshold = threshold

    def _positive(self, scores):
        # (B, T, T) raw affinities -> row-softmax, prune below tau, L1-renormalise (Eq. 1-2)
        beta = torch.relu(torch.softmax(scores, dim=-1) - self.threshold)
        return beta / (beta.sum(-1, keepdim=True) + 1e-8)

    def forward(self, a, v):
        ka, kv = self.key_audio(a), self.key_visual(v)  # (B, T, d)
        scores = kv @ ka.transpose(1, 2) / math.sqrt(a.shape[-1])  # (B, T_v, T_a)
        beta_va, beta_av = self._positive(scores), self._positive(scores.transpose(1, 2))
        v_psp = self.norm_visual(v + beta_va @ self.value_audio(a))  # Eq. 3
        a_psp = self.norm_audio(a + beta_av @ self.value_visual(v))
        return a_psp, v_psp, beta_va


class PSP(nn.Module):
    """PSP-lite (module docstring): (audio [B,10,128], visual [B,10,7,7,512]) -> SegmentOutput."""

    def __init__(self, *, n_classes: int, hidden: int = 32, dim_attention: int = 32, threshold: float = 0.095,
                 dim_audio: int = 128, dim_visual: int = 512):
        super().__init__()
        self.attention = AudioGuidedAttention(dim_audio=dim_audio, dim_visual=dim_visual, dim=dim_attention)
        self.audio_lstm = nn.LSTM(dim_audio, hidden, batch_first=True, bidirectional=True)
        self.visual_norm = ChannelNorm(dim_visual)
        self.visual_lstm = nn.LSTM(dim_visual, hidden, batch_first=True, bidirectional=True)
        self.psp = PositiveSamplePropagation(2 * hidden, threshold=threshold)
        self.classifier = nn.Linear(4 * hidden, n_classes)

    def param_groups(self) -> dict:
        """{"audio", "visual"}: the parameters BEFORE the PSP module, per modality (what OGM-GE modulates)."""
        return {"audio": list(self.audio_lstm.parameters()),
                "visual": [*self.attention.parameters(), *self.visual_lstm.parameters()]}

    def forward(self, audio, visual) -> SegmentOutput:
        attended, weights = self.attention(audio, visual)  # (B, T, 512), (B, T, 49)
        h_a, _ = self.audio_lstm(audio)  # (B, T, 2h)
        h_v, _ = self.visual_lstm(self.visual_norm(attended))  # (B, T, 2h)
        a_psp, v_psp, _ = self.psp(h_a, h_v)  # (B, T, 2h) each
        a_logits, v_logits = split_linear(self.classifier, a_psp, v_psp)
        return SegmentOutput(logits=a_logits + v_logits, audio_logits=a_logits, visual_logits=v_logits,
                             attention=weights)
