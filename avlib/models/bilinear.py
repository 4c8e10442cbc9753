"""Bilinear audio-visual fusion for frame classification (Mroueh, Marcheret, Goel, "Deep multimodal learning
for audio-visual speech recognition", ICASSP 2015; the talk's notes, /work/shared/seeds/004).

The notes give the equations as images; what is implemented is their text's description, in the paper's
notation: x1 audio, x2 visual, y one of C classes (context states), g(y) its parent phone (G groups).

  uni-modal DNN   (notes, "Bilinear DNN", the layer equation)  h_{l+1} = sigma(W_l h_l + b_l), sigmoid
                  hidden layers, a softmax on the last one; one per modality.
  feature fusion  (notes, "uni-modal DNNs and feature fusion") the two DNNs trained separately, their last
                  (low-dimensional) hidden layers concatenated into a fixed joint feature space, a softmax
                  trained on it (the notes' shallow variant: 35.83% PER on IBM AV-ASR). The same softmax as
                  the head of a `BimodalDNN` is the jointly trained concat control: the bilinear networks'
                  training with the bilinear term left out.
  bilinear        (notes, the fusion equation at the last hidden layer)
                  p(y | x1, x2) ∝ exp(h1ᵀ W_y h2 + <u_y, h1> + <v_y, h2> + b_y),   W_y ∈ R^{D1 x D2}
  factored        (notes, "Factored Bilinear Softmax", the CCA-motivated factorization)
                  W_y = U1 diag(w_y) U2ᵀ, U1 ∈ R^{D1 x F}, U2 ∈ R^{D2 x F}:
                  h1ᵀ W_y h2 = <w_y, (U1ᵀ h1) ⊙ (U2ᵀ h2)>; a linear hyperplane per class in the F-dim fusion
                  space (parameters C·F + (D1 + D2)·F instead of C·D1·D2); λ‖·‖² on U1, U2, w (weight decay).
  shared          (notes, "Factored Bilinear Softmax with sharing") w_y = w_{g(y)}: leaves with one parent
                  share the bilinear weights, C x F -> G x F; the linear terms stay per class. Only the
                  phone-level audio-visual correlation is modelled ("phone-level pooling").
  averaging       (notes, results) the posteriors of the bimodal (feature-fusion) and bilinear networks
                  averaged: `average_log_posteriors`.
"""

import torch
from torch import nn


class FrameDNN(nn.Module):
    """Sigmoid MLP over stacked context frames: (B, in_dim) -> last hidden (B, bottleneck) -> logits (B, C)."""

    def __init__(self, *, in_dim: int, hidden: tuple, bottleneck: int, n_classes: int):
        super().__init__()
        layers, width = [], in_dim
        for size in (*hidden, bottleneck):
            layers += [nn.Linear(width, size), nn.Sigmoid()]
            width = size
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(bottleneck, n_classes)
        self.bottleneck = bottleneck

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, bottleneck): the last hidden layer, the fusion input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class FeatureFusionSoftmax(nn.Module):
    """Softmax on [h1; h2], the concatenated last hidden layers of two frozen uni-modal DNNs."""

    def __init__(self, *, audio_dim: int, visual_dim: int, n_classes: int):
        super().__init__()
        self.out = nn.Linear(audio_dim + visual_dim, n_classes)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([h1, h2], dim=1))  # (B, C)


class BilinearSoftmax(nn.Module):
    """logit_y = h1ᵀ W_y h2 + <u_y, h1> + <v_y, h2> + b_y, one full D1 x D2 matrix per class."""

    def __init__(self, *, audio_dim: int, visual_dim: int, n_classes: int):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(n_classes, audio_dim, visual_dim))  # starts as the linear model
        self.audio_linear = nn.Linear(audio_dim, n_classes)  # u_y, b_y
        self.visual_linear = nn.Linear(visual_dim, n_classes, bias=False)  # v_y

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        bilinear = torch.einsum("bi,cij,bj->bc", h1, self.W, h2)  # (B, C)
        return bilinear + self.audio_linear(h1) + self.visual_linear(h2)


class FactoredBilinearSoftmax(nn.Module):
    """W_y = U1 diag(w_y) U2ᵀ: logit_y = <w_{g(y)}, (U1ᵀ h1) ⊙ (U2ᵀ h2)> + <u_y, h1> + <v_y, h2> + b_y.

    groups: None (no sharing: every class its own w_y) or (C,) the parent of each class (w shared
    within a parent: G x F bilinear weights)."""

    def __init__(self, *, audio_dim: int, visual_dim: int, n_classes: int, rank: int, groups=None):
        super().__init__()
        self.U1 = nn.Parameter(torch.randn(audio_dim, rank) / audio_dim**0.5)
        self.U2 = nn.Parameter(torch.randn(visual_dim, rank) / visual_dim**0.5)
        groups = torch.arange(n_classes) if groups is None else torch.as_tensor(groups, dtype=torch.long)
        if groups.shape != (n_classes,):
            raise ValueError(f"groups has shape {tuple(groups.shape)}; expected ({n_classes},), one parent per class")
        self.register_buffer("groups", groups)
        self.w = nn.Parameter(torch.zeros(int(groups.max()) + 1, rank))  # (G, F), G = C without sharing
        self.audio_linear = nn.Linear(audio_dim, n_classes)
        self.visual_linear = nn.Linear(visual_dim, n_classes, bias=False)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        fused = (h1 @ self.U1) * (h2 @ self.U2)  # (B, F): the joint representation in the fusion space
        bilinear = (fused @ self.w.T)[:, self.groups]  # (B, G) -> (B, C): each leaf reads its parent's score
        return bilinear + self.audio_linear(h1) + self.visual_linear(h2)

    @classmethod
    def from_full(cls, full: BilinearSoftmax) -> "FactoredBilinearSoftmax":
        """The factored layer equal to `full` at full rank F = D1·D2: U1 = I ⊗ 1ᵀ, U2 = 1ᵀ ⊗ I pick the
        pair (i, j) in fusion dimension i·D2 + j, and w_y[i·D2 + j] = W_y[i, j]."""
        n_classes, d1, d2 = full.W.shape
        layer = cls(audio_dim=d1, visual_dim=d2, n_classes=n_classes, rank=d1 * d2)
        with torch.no_grad():
            layer.U1.copy_(torch.kron(torch.eye(d1), torch.ones(1, d2)))  # (D1, D1·D2)
            layer.U2.copy_(torch.kron(torch.ones(1, d1), torch.eye(d2)))  # (D2, D1·D2)
            layer.w.copy_(full.W.reshape(n_classes, d1 * d2))
            layer.audio_linear.load_state_dict(full.audio_linear.state_dict())
            layer.visual_linear.load_state_dict(full.visual_linear.state_dict())
        return layer


def start_from_concat(head: nn.Module, concat: FeatureFusionSoftmax) -> nn.Module:
    """Give a bilinear `head` the linear terms of `concat` ([u_y; v_y] = its weight's halves, b_y its bias):
    with the bilinear weights at zero (their init), every fused model then starts as the same function, so
    the comparison measures only what the bilinear term learns. Returns `head`."""
    d1 = head.audio_linear.in_features
    with torch.no_grad():
        head.audio_linear.weight.copy_(concat.out.weight[:, :d1])
        head.audio_linear.bias.copy_(concat.out.bias)
        head.visual_linear.weight.copy_(concat.out.weight[:, d1:])
    return head


class BimodalDNN(nn.Module):
    """Two towers (uni-modal DNN bodies) joined at their last hidden layers by a fusion head, trained
    jointly: the head's gradient reaches each tower through the other's features (the notes' 2 -> 1
    messages of back-propagation)."""

    def __init__(self, audio: FrameDNN, visual: FrameDNN, head: nn.Module):
        super().__init__()
        self.audio, self.visual, self.head = audio, visual, head

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.head(self.audio.features(x1), self.visual.features(x2))  # (B, C)


def average_log_posteriors(*log_probs: torch.Tensor) -> torch.Tensor:
    """log of the mean of the posteriors (the notes' posterior averaging of two networks)."""
    return torch.logsumexp(torch.stack(log_probs), dim=0) - torch.log(torch.tensor(float(len(log_probs))))
