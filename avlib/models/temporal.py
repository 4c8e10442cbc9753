"""Temporal AV classifiers over clips of T segments (OGM-GE Table 2, video side), each an `AVClassifier`.

Inputs: audio (B, T, 1, n_mels, frames), visual (B, T, 1, H, W). Every model is an
`avlib.models.AVClassifier` (two encoders + a fusion head): `audio_encoder` / `visual_encoder` are the
modules OGM-GE modulates, and the head's `unimodal` split gives each modality's detached share of the
logits (ConcatFusion's split of the output layer, or the Shapley split of `Fusion` for the others).

  tsn_av    TSN (Wang et al., ECCV 2016, Sec. 3.1): each segment encoded alone, the segment consensus G
            = average over segments, here of the features, then ConcatFusion. (For a linear head,
            averaging features and averaging the segments' class scores, TSN's consensus, are the same.)
  tsm_av    TSM (Lin et al., ICCV 2019, Sec. 3): as tsn_av, with a temporal shift of 1/shift_div of the
            channels forward and 1/shift_div backward between neighbouring segments before the 2nd and
            3rd conv blocks of both encoders (zero-padded at the clip ends, the offline TSM).
  tbn_lite  TBN-lite: Temporal Binding Network (Kazakos et al., ICCV 2019, Sec. 3) reduced to binding
            windows one segment wide and aligned across modalities (no random offset within a window):
            per segment, mid-level fusion of the two modalities' features (concat -> linear -> ReLU),
            a per-window class score, averaged over windows.
  psp_lite  PSP-lite: positive sample propagation (Zhou et al., CVPR 2021, Sec. 3.2) reduced to one PSP
            layer for clip classification: cross-modal segment-to-segment affinities, thresholded at tau
            (only positive pairs kept), L1-normalised; each segment gets its positive partners' features
            added; per-segment class scores of the concatenated features, averaged over segments.
"""

import torch
from torch import nn

from avlib.models.classifier import AVClassifier
from avlib.models.encoders import SmallCNN, in_layout
from avlib.models.fusion import ConcatFusion, Fusion

VIDEO_KINDS = ("tsn_av", "tsm_av", "tbn_lite", "psp_lite")


def temporal_shift(x: torch.Tensor, segments: int, shift_div: int) -> torch.Tensor:
    """TSM's shift (Lin et al. 2019, Fig. 1b): x (B*T, C, H, W) -> same shape, where channels
    [0, C/div) take the *next* segment's values, [C/div, 2C/div) the *previous* one's, the rest stay;
    zeros where the neighbour is outside the clip."""
    bt, c, h, w = x.shape
    x = x.view(bt // segments, segments, c, h, w)
    fold = c // shift_div
    if fold < 1:
        raise ValueError(f"temporal_shift: {c} channels / shift_div {shift_div} shifts none; expected c >= shift_div")
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # shift left in time: segment t sees t+1
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]  # shift right: segment t sees t-1
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(bt, c, h, w)


class TemporalShift(nn.Module):
    def __init__(self, *, segments: int, shift_div: int = 8):
        super().__init__()
        self.segments, self.shift_div = segments, shift_div

    def forward(self, x):
        return temporal_shift(x, self.segments, self.shift_div)


def segment_consensus(x: torch.Tensor) -> torch.Tensor:
    """TSN's consensus function G (Eq. 1), the average: (B, T, d) -> (B, d)."""
    return x.mean(dim=1)


class SegmentCNN(nn.Module):
    """`SmallCNN` applied to every segment: (B, T, C, H, W) -> (B, dim) after the consensus, or the
    segments' features side by side, (B, T * dim), with `keep_segments` (for heads that fuse per segment).

    shift_div > 0 inserts a `TemporalShift` before the 2nd and 3rd conv blocks (TSM)."""

    def __init__(self, *, in_channels: int = 1, width: int = 8, segments: int = 3, shift_div: int = 0,
                 keep_segments: bool = False):
        super().__init__()
        layers = list(SmallCNN(in_channels=in_channels, width=width).net)
        if shift_div:
            convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
            for i in reversed(convs[1:]):  # before blocks 2 and 3 (the first sees the raw input)
                layers.insert(i, TemporalShift(segments=segments, shift_div=shift_div))
        self.net = nn.Sequential(*layers)
        self.segments, self.keep_segments, self.shifts = segments, keep_segments, bool(shift_div)
        self.feature_dim = width * 4  # per segment
        self.dim = self.feature_dim * (segments if keep_segments else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        if t != self.segments and (self.keep_segments or self.shifts):  # the consensus alone takes any T
            raise ValueError(f"SegmentCNN built for {self.segments} segments got {t}")
        feats = self.net(in_layout(x.flatten(0, 1), torch.channels_last)).view(b, t, -1)  # (B, T, d)
        return feats.flatten(1) if self.keep_segments else segment_consensus(feats)


class TBNLiteFusion(Fusion):
    """TBN-lite head: a (B, T*d_a), v (B, T*d_v) -> per window fc(relu(W [a_t; v_t])) -> mean over t."""

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int, segments: int, hidden: int = 32):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        self.segments = segments
        self.bind = nn.Sequential(nn.Linear((dim_audio + dim_visual) // segments, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, a, v):
        a, v = a.unflatten(1, (self.segments, -1)), v.unflatten(1, (self.segments, -1))  # (B, T, d)
        return self.fc(self.bind(torch.cat([a, v], dim=-1))).mean(dim=1)  # (B, K)


def positive_propagation(query: torch.Tensor, key: torch.Tensor, tau: float) -> torch.Tensor:
    """PSP's positive-pair weights (Zhou et al. 2021, Eqs. 2-4): query (B, T, d), key (B, T, d) ->
    beta (B, T, T): alpha = softmax over partners of the scaled dot product, beta = relu(alpha - tau),
    each row L1-normalised (a row with no positive partner stays zero)."""
    alpha = torch.softmax(query @ key.transpose(1, 2) / query.shape[-1] ** 0.5, dim=-1)
    beta = torch.relu(alpha - tau)
    return beta / beta.sum(-1, keepdim=True).clamp_min(1e-8)


class PSPLiteFusion(Fusion):
    """PSP-lite head on per-segment features a (B, T*d_a), v (B, T*d_v):
        p_a = W_a a_t, p_v = W_v v_t                                    (common space, dim `hidden`)
        a'_t = p_a,t + sum_s beta^{av}_{ts} p_v,s,  v'_t = p_v,t + sum_s beta^{va}_{ts} p_a,s
        logits = mean_t fc([a'_t; v'_t])
    """

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int, segments: int, hidden: int = 32,
                 tau: float = 0.1):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        self.segments, self.tau = segments, tau
        self.to_audio = nn.Linear(dim_audio // segments, hidden)
        self.to_visual = nn.Linear(dim_visual // segments, hidden)
        self.fc = nn.Linear(2 * hidden, n_classes)

    def forward(self, a, v):
        pa = torch.relu(self.to_audio(a.unflatten(1, (self.segments, -1))))  # (B, T, h)
        pv = torch.relu(self.to_visual(v.unflatten(1, (self.segments, -1))))
        a2 = pa + positive_propagation(pa, pv, self.tau) @ pv
        v2 = pv + positive_propagation(pv, pa, self.tau) @ pa
        return self.fc(torch.cat([a2, v2], dim=-1)).mean(dim=1)


def build_video_model(kind: str, *, n_classes: int, segments: int, width: int = 8, shift_div: int = 8,
                      hidden: int = 32, tau: float = 0.1, visual_channels: int = 1) -> AVClassifier:
    """One of VIDEO_KINDS, as an AVClassifier (seed before calling: the init is drawn here)."""
    if kind not in VIDEO_KINDS:
        raise ValueError(f"temporal model kind={kind!r}; expected one of {VIDEO_KINDS}")
    per_segment = kind in ("tbn_lite", "psp_lite")
    shift = shift_div if kind == "tsm_av" else 0

    def encoder(channels):
        return SegmentCNN(in_channels=channels, width=width, segments=segments, shift_div=shift,
                          keep_segments=per_segment)

    audio, visual = encoder(1), encoder(visual_channels)
    dims = dict(dim_audio=audio.dim, dim_visual=visual.dim, n_classes=n_classes)
    if kind == "tbn_lite":
        fusion = TBNLiteFusion(**dims, segments=segments, hidden=hidden)
    elif kind == "psp_lite":
        fusion = PSPLiteFusion(**dims, segments=segments, hidden=hidden, tau=tau)
    else:
        fusion = ConcatFusion(**dims)
    return AVClassifier(audio_encoder=audio, visual_encoder=visual, fusion=fusion)
