"""Fusion heads: (audio feature a, visual feature v) -> class logits, plus each modality's logits.

OGM-GE needs a uni-modal score s_u per modality (paper Eq. 6): the softmax probability of the true class
under that modality's share of the fused logits. Each head therefore also returns
`unimodal(a, v) -> (audio_logits, visual_logits)` with audio_logits + visual_logits == logits:
  concat   the paper's split of the output layer: W_a·a + b/2 and W_v·v + b/2 (Sec. 3.2);
  sum      the paper's two branches: fc_a(a) and fc_v(v);
  others   the head is not additive in a and v, so we use the two-player Shapley value of each
           modality on the logits, with a zero feature as "absent" (our reading; see `Fusion.unimodal`).
           For concat this gives exactly the paper's split (tested), so it extends the paper's
           definition rather than inventing a new one.
"""

import torch
from torch import nn


class Fusion(nn.Module):
    """A head maps features a (B, d_a) and v (B, d_v) to logits (B, K) in `forward`."""

    def unimodal(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapley split with zero reference: phi_a = [f(a,0) - f(0,0) + f(a,v) - f(0,v)] / 2 + f(0,0) / 2.

        phi_a + phi_v = f(a, v) exactly; the constant f(0, 0) (the bias) is shared half and half.
        """
        b = a.shape[0]
        za, zv = torch.zeros_like(a), torch.zeros_like(v)
        out = self(torch.cat([a, a, za, za]), torch.cat([v, zv, v, zv]))  # one batched call, 4B rows
        f_av, f_a0, f_0v, f_00 = out.split(b)
        audio = 0.5 * (f_a0 - f_00 + f_av - f_0v) + 0.5 * f_00
        visual = 0.5 * (f_0v - f_00 + f_av - f_a0) + 0.5 * f_00
        return audio, visual


class ConcatFusion(Fusion):
    """logits = W [a; v] + b (paper Eq. 1)."""

    def __init__(self, *, dim_audio: int, dim_visual: int, n_classes: int):
        super().__init__()
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
        super().__init__()
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
        super().__init__()
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
        super().__init__()
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
        super().__init__()
        if dim_audio != dim_visual:
            raise ValueError(f"BaselineFusion needs equal feature sizes, got {dim_audio} and {dim_visual}")
        self.fc = nn.Linear(dim_audio + dim_visual, n_classes)

    def forward(self, a, v):
        return self.fc(torch.cat([a, torch.sigmoid(a * v) * v], dim=1))


FUSIONS = {"baseline": BaselineFusion, "concat": ConcatFusion, "sum": SumFusion, "film": FiLMFusion,
           "gated": GatedFusion}
