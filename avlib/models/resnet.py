"""ResNet-18 (He et al. 2016), trained from scratch as in OGM-GE (Sec. 4.1): no pretrained weights.

`in_channels` is 1 for spectrograms and 3 for RGB frames; the output is the pooled 512-d feature.
"""

import torch
from torch import nn

from avlib.models.encoders import fold_frames


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:  # projection shortcut where the shape changes
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """(B, in_channels, H, W) or (B, T, in_channels, H, W) -> (B, 512)."""

    def __init__(self, *, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        widths, stages, c_in = (64, 128, 256, 512), [], 64
        for i, c_out in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_frames(lambda f: self.pool(self.stages(self.stem(f))), x)
