"""AVTS-lite: the two networks of AVTS and its contrastive loss, shrunk for AV-Sync on a CPU.

Korbar, Tran, Torresani, "Cooperative Learning of Audio and Video Models from Self-Supervised
Synchronization", NeurIPS 2018, Fig. 1 and Sec. 3:
  video   a mixed-convolution (MC) network: 3-D convolutions in the first `n_3d` blocks (they model motion
          and onsets, where time matters), 2-D convolutions (kernel 1 x 3 x 3, per frame) in the later ones;
          the paper's MC3 uses 3-D in conv1-conv2 of an 18-layer ResNet, we use 4 plain conv blocks.
  audio   2-D convolutions on the log-mel spectrogram.
Each ends in a fully connected layer to a `dim`-d embedding. Ours keeps the time axis to the end
(pooling space, or frequency, only) and flattens it into the FC layer, so the embedding can say *when*
an event happens: the paper's deep nets see it through their receptive fields; our 4-block nets would
lose it in a global average pool (a reduction named here, not the paper's).
Both keep weights and activations channels-last (NDHWC, NHWC; `channels_last=False`: NCHW): oneDNN's 3-D
and 2-D convolutions, batch norm and max pooling run ~1.4x faster per training step there than in NCHW on
the CPU (`make bench`, "AVTS training step"); same maths, other float sums, so other bits than NCHW's.
`features(x)` is what the downstream probes read: the last conv block, averaged over time and space
(the paper's conv5 features for the audio SVM).
"""

import torch
from torch import nn

from avlib.models.encoders import in_layout


def _block(conv: nn.Module, channels: int, bn: type) -> nn.Sequential:
    return nn.Sequential(conv, bn(channels), nn.ReLU(inplace=True))


class MixedConvVideoNet(nn.Module):
    """(B, 1, T, S, S) -> embedding (B, dim); S divisible by 4."""

    def __init__(self, *, frames: int, width: int = 8, dim: int = 64, n_3d: int = 2, n_blocks: int = 4,
                 channels_last: bool = True):
        super().__init__()
        if not 0 <= n_3d <= n_blocks:
            raise ValueError(f"n_3d={n_3d}: expected 0..n_blocks ({n_blocks})")
        chans = [1] + [width * min(2**i, 4) for i in range(n_blocks)]  # 1, w, 2w, 4w, 4w
        blocks = []
        for i in range(n_blocks):
            kernel, pad = ((3, 3, 3), (1, 1, 1)) if i < n_3d else ((1, 3, 3), (0, 1, 1))  # 3-D, then 2-D
            blocks.append(_block(nn.Conv3d(chans[i], chans[i + 1], kernel, padding=pad, bias=False),
                                 chans[i + 1], nn.BatchNorm3d))
            if i < 2:
                blocks.append(nn.MaxPool3d((1, 2, 2)))  # space halves twice; time is never pooled
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        self.convs = nn.Sequential(*blocks).to(memory_format=self.memory_format)
        self.out_channels = chans[-1]
        self.fc = nn.Linear(chans[-1] * frames, dim)

    def conv_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(in_layout(x, self.memory_format)).mean(dim=(3, 4))  # (B, C, T): space pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv_map(x).flatten(1))  # (B, C*T) -> (B, dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_map(x).mean(dim=2)  # (B, C)


class AudioNet(nn.Module):
    """(B, 1, n_mels, T * k) -> embedding (B, dim); time is pooled by k to the video frame rate."""

    def __init__(self, *, frames: int, mel_per_frame: int, n_mels: int = 32, width: int = 8, dim: int = 64,
                 channels_last: bool = True):
        super().__init__()
        chans = [1, width, 2 * width, 4 * width, 4 * width]
        pools = [(2, 1), (2, mel_per_frame), (2, 1), None]  # freq /8; time to one step per video frame
        blocks = []
        for i, pool in enumerate(pools):
            blocks.append(_block(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False), chans[i + 1],
                                 nn.BatchNorm2d))
            if pool is not None:
                blocks.append(nn.MaxPool2d(pool))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.convs = nn.Sequential(*blocks).to(memory_format=self.memory_format)
        self.out_channels = chans[-1]
        self.fc = nn.Linear(chans[-1] * frames, dim)

    def conv_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(in_layout(x, self.memory_format)).mean(dim=2)  # (B, C, T): frequency pooled, time kept

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv_map(x).flatten(1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_map(x).mean(dim=2)  # (B, C)


class AVTSNet(nn.Module):
    """Both networks; forward gives the two embeddings whose distance says in sync (small) or not."""

    def __init__(self, *, frames: int, mel_per_frame: int, n_mels: int, width: int = 8, dim: int = 64,
                 n_3d: int = 2, channels_last: bool = True):
        super().__init__()
        self.video = MixedConvVideoNet(frames=frames, width=width, dim=dim, n_3d=n_3d, channels_last=channels_last)
        self.audio = AudioNet(frames=frames, mel_per_frame=mel_per_frame, n_mels=n_mels, width=width, dim=dim,
                              channels_last=channels_last)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.video(video), self.audio(audio)


def pair_distance(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """d = ||f_v(v) - f_a(a)||_2 per pair, (B, dim) x2 -> (B,); the tiny epsilon keeps the gradient of the
    square root finite at d = 0."""
    return ((v - a).pow(2).sum(dim=1) + 1e-12).sqrt()


def contrastive_loss(v: torch.Tensor, a: torch.Tensor, y: torch.Tensor, margin: float = 0.99) -> torch.Tensor:
    """AVTS Eq. (1) (Sec. 3.1): E = 1/N sum_n [ y_n d_n^2 + (1 - y_n) max(eta - d_n, 0)^2 ], eta = margin
    (0.99 in the paper, Sec. 4): in-sync pairs (y = 1) are pulled together, the others pushed beyond eta."""
    d = pair_distance(v, a)
    return (y * d.pow(2) + (1 - y) * torch.relu(margin - d).pow(2)).mean()


class ClipClassifier(nn.Module):
    """One encoder (video or audio) and a linear layer on its pooled conv features: downstream fine-tuning."""

    def __init__(self, encoder: nn.Module, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.features(x))
