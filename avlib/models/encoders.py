"""Uni-modal encoders: input tensor -> feature vector (B, dim).

`SmallCNN` is the AV-Digits encoder (trains in seconds on a CPU); `resnet18` (resnet.py) is the
paper's encoder for real data. Both accept frames: a visual batch (B, T, C, H, W) is encoded frame
by frame and averaged over T, as OGM-GE does for multi-frame clips.
"""

import torch
from torch import nn


def fold_frames(encode, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D encoder to (B, C, H, W), or to every frame of (B, T, C, H, W) and average over T."""
    if x.dim() == 5:
        b, t = x.shape[:2]
        return encode(x.flatten(0, 1)).view(b, t, -1).mean(dim=1)
    return encode(x)


class SmallCNN(nn.Module):
    """Three conv blocks and global average pooling: (B, in_channels, H, W) -> (B, width * 4).

    The first conv has stride 2: on 2 CPU cores it halves the step time for the same accuracy class.
    """

    def __init__(self, *, in_channels: int = 1, width: int = 8):
        super().__init__()

        def block(c_in, c_out, stride=1, pool=False):
            layers = [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            return layers + [nn.MaxPool2d(2)] if pool else layers

        self.net = nn.Sequential(
            *block(in_channels, width, stride=2),
            *block(width, width * 2, pool=True),
            *block(width * 2, width * 4),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dim = width * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_frames(self.net, x)
