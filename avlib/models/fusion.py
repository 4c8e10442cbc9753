"""Fusion heads: (audio feature a, visual feature v) -> class logits, plus each modality's logits.

OGM-GE needs a uni-modal score s_u per modality (paper Eq. 6): the softmax probability of the true class
under that modality's share of the fused logits. Each head therefore also returns
`unimodal(a, v) -> (audio_logits, visual_logits)` with audio_logits + visual_logits == logits:
  concat   the paper's split of the output layer: W_a·a + b/2 and W_v·v + b/2 (Sec. 3.2);
  sum      the paper's two branches: fc_a(a) and fc_v(v);
  others   the head is not additive in a and v, so we use the two-player Shapley value of each
           modality on the logits, with a *reference* feature standing for "modality absent".

Why a reference, not zero: the encoders end in ReLU + pooling, so a zero feature is a point no real
input reaches, and for gated fusion f(a, 0) carries almost nothing (the gate multiplies a zero value
path), which credited visual with audio's work and made OGM slow the wrong encoder. The reference is
the running mean of that modality's training features (an EMA kept as a buffer, like BatchNorm's
statistics, saved with the model): "absent" means "an average input of that modality", the usual
baseline of Shapley attributions. For an additive head the split then equals the paper's up to a
constant per class (tested).
"""

import torch
from torch import nn


class Fusion(nn.Module):
    """A head maps features a (B, d_a) and v (B, d_v) to logits (B, K) in `forward`.

    Subclasses call `super().__init__(dim_audio=..., dim_visual=...)` to get the reference buffers.
    """

    momentum = 0.1  # weight of the newest batch in the reference EMA (BatchNorm's default)

    def __init__(self, *, dim_audio: int, dim_visual: int):
        super().__init__()
        # EMA of the training features and its total weight: reference = ema / weight is the debiased
        # running mean (Adam-style), with no branch on the first batch (the batched engine vmaps this).
        self.register_buffer("audio_ema", torch.zeros(dim_audio))
        self.register_buffer("visual_ema", torch.zeros(dim_visual))
        self.register_buffer("ema_weight", torch.zeros(()))

    @torch.no_grad()
    def observe(self, a: torch.Tensor, v: torch.Tensor) -> None:
        """Fold one training batch's mean features into the references."""
        m = self.momentum
        self.audio_ema.mul_(1 - m).add_(a.mean(0), alpha=m)
        self.visual_ema.mul_(1 - m).add_(v.mean(0), alpha=m)
        self.ema_weight.mul_(1 - m).add_(m)

    def references(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a_ref, v_ref): the running mean features (zeros before any training batch)."""
        weight = self.ema_weight.clamp_min(1e-12)
        return self.audio_ema / weight, self.visual_ema / weight

    def unimodal(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapley split with reference (ā, v̄):
            phi_a = [f(a, v̄) - f(ā, v̄) + f(a, v) - f(ā, v)] / 2 + f(ā, v̄) / 2, and symmetrically phi_v.
        phi_a + phi_v = f(a, v) exactly; the constant f(ā, v̄) is shared half and half.
        """
        b = a.shape[0]
        a_ref, v_ref = (r.expand_as(x) for r, x in zip(self.references(), (a, v), strict=True))
        out = self(torch.cat([a, a, a_ref, a_ref]), torch.cat([v, v_ref, v, v_ref]))  # one call, 4B rows
        f_av, f_a0, f_0v, f_00 = out.split(b)
        audio = 0.5 * (f_a0 - f_00 + f_av - f_0v) + 0.5 * f_00
        visual = 0.5 * (f_0v - f_00 + f_av - f_a0) + 0.5 * f_00
        return audio, visual


class ConcatFusion(Fusion):
    """logits = W [a; v] + b (paper Eq. 1)."""

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        self.dim_audio = dim_audio
        self.fc = nn.Linear(dim_audio + dim_visual, n_classes)

    def forward(self, a, v):
        return self.fc(torch.cat([a, v], dim=1))

    def unimodal(self, a, v):
        w_a, w_v = self.fc.weight[:, : self.dim_audio], self.fc.weight[:, self.dim_audio :]
        half_bias = self.fc.bias / 2
        return a @ w_a.T + half_bias, v @ w_v.T + half_bias


class SumFusion(Fusion):
    """logits = fc_a(a) + fc_v(v)."""

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        self.fc_audio = nn.Linear(dim_audio, n_classes)
        self.fc_visual = nn.Linear(dim_visual, n_classes)

    def forward(self, a, v):
        return self.fc_audio(a) + self.fc_visual(v)

    def unimodal(self, a, v):
        return self.fc_audio(a), self.fc_visual(v)


class FiLMFusion(Fusion):
    """FiLM (Perez et al. 2018): one modality scales and shifts the other's features.

    logits = fc(gamma(x) * y + beta(x)); by default x = audio conditions y = visual, as in OGM-GE's setup.
    """

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int, condition: str = "audio"):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        if condition not in ("audio", "visual"):
            raise ValueError(f"FiLMFusion condition={condition!r}; expected 'audio' or 'visual'")
        self.condition = condition
        dim_x, dim_y = (dim_audio, dim_visual) if condition == "audio" else (dim_visual, dim_audio)
        self.film = nn.Linear(dim_x, 2 * dim_y)
        self.fc = nn.Linear(dim_y, n_classes)

    def forward(self, a, v):
        x, y = (a, v) if self.condition == "audio" else (v, a)
        gamma, beta = self.film(x).chunk(2, dim=1)
        return self.fc(gamma * y + beta)


class GatedFusion(Fusion):
    """Gated fusion (Kiela et al. 2018): one modality gates the other's projected features.

    logits = fc(sigmoid(g(x)) * h(y)); by default x = audio gates y = visual.
    """

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int, gate: str = "audio", dim: int = 0):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        if gate not in ("audio", "visual"):
            raise ValueError(f"GatedFusion gate={gate!r}; expected 'audio' or 'visual'")
        self.gate = gate
        dim_x, dim_y = (dim_audio, dim_visual) if gate == "audio" else (dim_visual, dim_audio)
        dim = dim or dim_y
        self.to_gate = nn.Linear(dim_x, dim)
        self.to_value = nn.Linear(dim_y, dim)
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, a, v):
        x, y = (a, v) if self.gate == "audio" else (v, a)
        return self.fc(torch.sigmoid(self.to_gate(x)) * self.to_value(y))


class BaselineFusion(Fusion):
    """The paper's "Baseline" row: "an introduced vanilla fusion method that uses activation function to
    mark out the related feature component of one modality compared with another" (OGM-GE, Sec. 4;
    the paper gives no formula and the official code has none).

    Our reading: a parameter-free mask m = sigmoid(a * v) marks where the visual feature agrees with the
    audio one; logits = W [a; m * v] + b. Needs dim_audio == dim_visual.
    """

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int):
        super().__init__(dim_audio=dim_audio, dim_visual=dim_visual)
        if dim_audio != dim_visual:
            raise ValueError(f"BaselineFusion needs equal feature sizes, got {dim_audio} and {dim_visual}")
        self.fc = nn.Linear(dim_audio + dim_visual, n_classes)

    def forward(self, a, v):
        return self.fc(torch.cat([a, torch.sigmoid(a * v) * v], dim=1))


FUSIONS = {"baseline": BaselineFusion, "concat": ConcatFusion, "sum": SumFusion, "film": FiLMFusion,
           "gated": GatedFusion}
