"""Speaker-recognition audio branches fused with the visual branch (OGM-GE Table 2, speech side).

Audio input (B, T, 1, n_mels, frames): the T segments' log-mel frames are read as one utterance of
T * frames frames, n_mels features each. The visual branch is the TSN encoder (`SegmentCNN`, consensus),
the head ConcatFusion, the whole an `AVClassifier` (so OGM-GE and `fit` work unchanged).

  x_vector  X-vector (Snyder et al., ICASSP 2018, Table 1), width-reduced: five TDNN layers (1-D
            convolutions over frames with contexts [t-2, t+2], {t-2, t, t+2}, {t-3, t, t+3}, {t}, {t}),
            statistics pooling (mean and standard deviation over all frames), one segment-level layer.
  i_vector  I-vector-lite (Dehak et al., IEEE TASLP 2011): a diagonal GMM-UBM (scikit-learn) fit on the
            training frames, each utterance's Baum-Welch statistics, and the i-vector as the posterior
            mean of the total-variability factor, w = (I + T' S^-1 N T)^-1 T' S^-1 F~ (Sec. II.B).
            Reduced: T is the PCA of the whitened training supervectors (the usual initialisation of
            T), not re-estimated by EM. The front end is fixed (buffers, fit on train before training);
            only a linear layer on the i-vector trains, so OGM-GE modulates that layer (no conv).
"""

import numpy as np
import torch
from torch import nn

from avlib.models.classifier import AVClassifier
from avlib.models.fusion import ConcatFusion
from avlib.models.temporal import SegmentCNN

SPEECH_KINDS = ("x_vector", "i_vector")


def utterance_frames(audio: torch.Tensor) -> torch.Tensor:
    """(B, T, 1, n_mels, F) -> (B, n_mels, T * F): the segments' frames one after another."""
    b, t, _, m, f = audio.shape
    return audio.squeeze(2).permute(0, 2, 1, 3).reshape(b, m, t * f)


def statistics_pooling(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """X-vector statistics pooling: (B, C, L) -> (B, 2C), [mean over L; standard deviation over L]
    (population std, sqrt(var + eps) so the gradient is finite for a constant channel)."""
    mean = x.mean(dim=-1)
    std = (x.var(dim=-1, unbiased=False) + eps).sqrt()
    return torch.cat([mean, std], dim=-1)


class XVectorEncoder(nn.Module):
    """TDNN frame layers -> statistics pooling -> segment layer: (B, T, 1, n_mels, F) -> (B, dim)."""

    def __init__(self, *, n_mels: int, channels: int = 32, dim: int = 32):
        super().__init__()

        def tdnn(c_in, c_out, kernel, dilation):
            return [nn.Conv1d(c_in, c_out, kernel, dilation=dilation, bias=False), nn.BatchNorm1d(c_out), nn.ReLU()]

        self.frames = nn.Sequential(
            *tdnn(n_mels, channels, 5, 1), *tdnn(channels, channels, 3, 2), *tdnn(channels, channels, 3, 3),
            *tdnn(channels, channels, 1, 1), *tdnn(channels, 3 * channels, 1, 1))
        self.segment = nn.Sequential(nn.Linear(6 * channels, dim), nn.ReLU())
        self.dim = dim

    def forward(self, audio):
        return self.segment(statistics_pooling(self.frames(utterance_frames(audio))))


class IVectorExtractor(nn.Module):
    """A fixed GMM-UBM + total-variability front end: (B, T, 1, n_mels, F) -> i-vectors (B, rank).

    Buffers: UBM log-weights (C,), means (C, D), variances (C, D); T (C, D, R). Build with `fit`."""

    def __init__(self, *, weights, means, variances, total_variability):
        super().__init__()
        for name, value in (("log_weights", np.log(weights)), ("means", means), ("variances", variances),
                            ("tv", total_variability)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))
        self.rank = self.tv.shape[-1]

    @classmethod
    def fit(cls, train_audio: torch.Tensor, *, components: int = 16, rank: int = 20, max_frames: int = 20_000,
            seed: int = 0) -> "IVectorExtractor":
        """UBM on (a subsample of) the training frames, T from the PCA of the whitened supervectors."""
        from sklearn.mixture import GaussianMixture

        frames = utterance_frames(train_audio).transpose(1, 2)  # (N, L, D)
        flat = frames.reshape(-1, frames.shape[-1]).numpy().astype(np.float64)
        rng = np.random.default_rng(seed)
        sample = flat[rng.choice(len(flat), size=min(max_frames, len(flat)), replace=False)]
        ubm = GaussianMixture(components, covariance_type="diag", max_iter=50, random_state=seed).fit(sample)
        zero_tv = np.zeros((components, flat.shape[1], rank))
        probe = cls(weights=ubm.weights_, means=ubm.means_, variances=ubm.covariances_, total_variability=zero_tv)
        n, f = probe.statistics(train_audio)  # (N, C), (N, C, D) centred first-order
        sup = (f / n.clamp_min(1e-3).unsqueeze(-1) / probe.variances.sqrt()).flatten(1).double()  # whitened
        sup = sup - sup.mean(0)
        _, s, vh = torch.linalg.svd(sup, full_matrices=False)
        scale = s[:rank] / np.sqrt(len(sup))  # T's columns: principal directions with their spread
        tv = (vh[:rank].T * scale).view(components, -1, rank) * probe.variances.sqrt().double().unsqueeze(-1)
        return cls(weights=ubm.weights_, means=ubm.means_, variances=ubm.covariances_, total_variability=tv.numpy())

    def statistics(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Baum-Welch statistics: zeroth order N (B, C), centred first order F~ (B, C, D)."""
        x = utterance_frames(audio).transpose(1, 2)  # (B, L, D)
        diff = x.unsqueeze(2) - self.means  # (B, L, C, D)
        log_like = -0.5 * ((diff**2 / self.variances) + torch.log(2 * torch.pi * self.variances)).sum(-1)
        post = torch.softmax(log_like + self.log_weights, dim=-1)  # (B, L, C) frame posteriors
        return post.sum(1), torch.einsum("blc,blcd->bcd", post, diff)

    @torch.no_grad()
    def forward(self, audio):
        n, f = self.statistics(audio)
        tv_prec = self.tv / self.variances.unsqueeze(-1)  # S^-1 T, (C, D, R)
        gram = torch.einsum("cdr,cds->crs", tv_prec, self.tv)  # T_c' S_c^-1 T_c, (C, R, R)
        precision = torch.eye(self.rank) + torch.einsum("bc,crs->brs", n, gram)  # (B, R, R)
        rhs = torch.einsum("cdr,bcd->br", tv_prec, f)  # T' S^-1 F~, (B, R)
        return torch.linalg.solve(precision, rhs)


class IVectorEncoder(nn.Module):
    """A fixed i-vector front end, then a trainable linear layer: (B, T, 1, n_mels, F) -> (B, dim)."""

    def __init__(self, extractor: IVectorExtractor, *, dim: int = 32):
        super().__init__()
        self.extractor = extractor
        self.project = nn.Sequential(nn.LayerNorm(extractor.rank), nn.Linear(extractor.rank, dim), nn.ReLU())
        self.dim = dim

    def forward(self, audio):
        return self.project(self.extractor(audio))


def build_speech_model(kind: str, *, n_classes: int, segments: int, n_mels: int, width: int = 8,
                       channels: int = 32, train_audio: torch.Tensor | None = None, components: int = 16,
                       rank: int = 20, seed: int = 0) -> AVClassifier:
    """One of SPEECH_KINDS fused (concat) with the TSN visual branch. `i_vector` needs `train_audio`
    (N, T, 1, n_mels, F) to fit its front end."""
    if kind not in SPEECH_KINDS:
        raise ValueError(f"speech model kind={kind!r}; expected one of {SPEECH_KINDS}")
    visual = SegmentCNN(in_channels=1, width=width, segments=segments)
    if kind == "x_vector":
        audio = XVectorEncoder(n_mels=n_mels, channels=channels, dim=visual.dim)
    else:
        if train_audio is None:
            raise ValueError("i_vector needs train_audio to fit its GMM-UBM and total variability")
        extractor = IVectorExtractor.fit(train_audio, components=components, rank=rank, seed=seed)
        audio = IVectorEncoder(extractor, dim=visual.dim)
    fusion = ConcatFusion(dim_audio=audio.dim, dim_visual=visual.dim, n_classes=n_classes)
    return AVClassifier(audio_encoder=audio, visual_encoder=visual, fusion=fusion)
