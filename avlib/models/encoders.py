"""Uni-modal encoders: input tensor -> feature vector (B, dim).

`SmallCNN` is the AV-Digits encoder (trains in seconds on a CPU); `resnet18` (resnet.py) is the
paper's encoder for real data. Both accept frames: a visual batch (B, T, C, H, W) is encoded frame
by frame and averaged over T, as OGM-GE does for multi-frame clips.
"""

import torch
import torch.nn.functional as F
from torch import nn


def fold_frames(encode, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D encoder to (B, C, H, W), or to every frame of (B, T, C, H, W) and average over T."""
    if x.dim() == 5:
        b, t = x.shape[:2]
        return encode(x.flatten(0, 1)).view(b, t, -1).mean(dim=1)
    return encode(x)


def in_layout(x: torch.Tensor, memory_format) -> torch.Tensor:
    """`x` in `memory_format`; inside `vmap` (batched runs, a GPU path) as it is: vmap cannot re-layout."""
    if torch._C._functorch.is_batchedtensor(x):
        return x
    return x.contiguous(memory_format=memory_format)


class GlobalAvgPool(nn.Module):
    """(B, C, H, W) -> (B, C): the mean over the whole map. `avg_pool2d` rather than `AdaptiveAvgPool2d(1)`
    (a `mean`): its backward keeps the channels_last layout, where the mean's broadcast gradient sends the
    ReLU before it down a strided path ~30x slower on the CPU (`make bench`, per-run cost)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, x.shape[-2:]).flatten(1)


class SmallCNN(nn.Module):
    """Three conv blocks and global average pooling: (B, in_channels, H, W) -> (B, width * 4).

    The first conv has stride 2: on 2 CPU cores it halves the step time for the same accuracy class.
    `channels_last` (default): weights and activations in NHWC, where oneDNN's convolutions and the
    batch-norm/ReLU kernels run ~1.5x faster per step on the CPU than in NCHW (`make bench` measures it
    against NCHW in one run). Same model, same maths; the float sums run in another order, so the bits
    differ from an NCHW run's (every stage was re-run on it). The ReLUs work in place (batch norm's backward
    reads its input, not its output): one pass over the activation less, ~3.5% of a step, the same bits.
    """

    def __init__(self, *, in_channels: int = 1, width: int = 8, channels_last: bool = True):
        super().__init__()

        def block(c_in, c_out, stride=1, pool=False):
            layers = [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                      nn.ReLU(inplace=True)]
            return layers + [nn.MaxPool2d(2)] if pool else layers

        self.net = nn.Sequential(
            *block(in_channels, width, stride=2),
            *block(width, width * 2, pool=True),
            *block(width * 2, width * 4),
            GlobalAvgPool(),
        )
        self.dim = width * 4
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_frames(lambda f: self.net(in_layout(f, self.memory_format)), x)
