"""MLA-reduced: Multimodal Learning with Alternating Unimodal Adaptation (Zhang, Yoon, Bansal, Yao,
"Multimodal Representation Learning by Alternating Unimodal Adaptation", CVPR 2024; authors' code
Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation). Beyond the talk.

The method (paper Sec. 3; equation numbers not checked here, the paper's text was not at hand, so the
formulas below are our reading of Sec. 3.1-3.3 checked against the authors' code):
- 3.1 alternating uni-modal training: one head h(x) = W x + b SHARED by the modalities; a step trains one
  modality's encoder and the shared head on that modality's loss alone, CE(h(x^u), y), modalities in turn.
- 3.2 gradient modification of the shared head: so that a step on modality u does not undo what the head
  learned from the previous steps, the head weight's gradient is projected off the feature directions
  seen so far (orthogonal weight modification): with r_t the step's batch-mean feature of its modality,
      k_t = P_{t-1} r_t,    P_t = P_{t-1} - k_t k_t^T / (alpha + r_t^T k_t),    P_0 = I
      grad W <- grad W  P_{t-1}^T           (the bias keeps its plain gradient)
  P is the regularised projector onto the complement of span{r_1..r_{t-1}}: the head's response to the
  earlier modalities' mean features is (nearly) unchanged by the step.
- 3.3 test-time dynamic fusion: each modality's prediction weighted by its certainty,
      e^u = -sum_c p^u_c log p^u_c   (p^u = softmax(h(x^u)), per sample)
      lambda^u = exp(max_j e^j - e^u) / sum_v exp(max_j e^j - e^v)
      logits = sum_u lambda^u h(x^u)                                           (`entropy_fusion`)

What the hooks express, and how:
- the shared head: the model's two per-modality heads (`unimodal_heads`, equal feature sizes needed, e.g.
  SmallCNN's width*4 for both) are tied: `build` copies the audio head into the visual one and every step
  gives both the same gradient, so plain SGD (momentum, weight decay) keeps them equal bit for bit.
- alternation: the `loss` hook returns CE of the current modality's head only; step t trains audio when t
  is even (`first="audio"`), visual when odd.
- the projection: in `after_backward`, on the head's weight gradient; r_t is read off the head itself
  (d/dW[0] of sum_i h(x_i)[0] = sum_i x_i), so it also works on the batched engine's stacked runs.
- the reported prediction: fit evaluates the model's fused logits, so the fusion head is tied to the shared
  head (concat: W_f = [W, W], b_f = 2b; sum: both branches = the head) and gets the matching gradients:
  logits = W x^a + W x^v + 2b = h(x^a) + h(x^v), the equal-weight sum of the two uni-modal logits.

MLA-reduced, as a table note should say: "modalities alternate across mini-batches (one optimiser step per
batch on one modality; the paper steps every modality on every batch in turn), and the test-time fusion is
the equal-weight sum of the shared head's uni-modal logits, not the paper's entropy-weighted dynamic fusion
(fit evaluates the model's fused logits; `entropy_fusion` is implemented and tested but not in the
reported numbers)". Also our reading, not the code's: alpha is constant (the code decays it from 0.1 to 0.01
within each epoch), P is not renormalised (the code divides P by its Frobenius norm each step), and the
step's own feature enters P after its gradient is projected (memory of the *previous* steps; the code folds
it in first). In the public code the projection's parameter test (`n == "module.weight"` on an nn.Linear,
whose weight is named "weight") seems never to match, so there the head may train unprojected; we apply
the projection as the paper describes. Every quantity carries the runs' leading dimension in the batched
engine (P is (N, d, d)).
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig, cross_entropy_per_run

MODALITIES = ("audio", "visual")


def owm_update(P: torch.Tensor, r: torch.Tensor, alpha: float) -> torch.Tensor:
    """P - k k^T / (alpha + r^T k), k = P r: the projector with direction r folded in. P (..., d, d), r (..., d)."""
    k = (P @ r.unsqueeze(-1)).squeeze(-1)  # (..., d)
    denom = alpha + (r * k).sum(-1)
    return P - k.unsqueeze(-1) * k.unsqueeze(-2) / denom[..., None, None]


def project(grad: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """grad W (..., K, d) projected on the input side: grad P^T."""
    return grad @ P.transpose(-1, -2)


def entropy_fusion(audio_logits: torch.Tensor, visual_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fused logits (..., B, K), weights (2, ..., B)): Sec. 3.3's certainty weighting, per sample."""
    logits = torch.stack([audio_logits, visual_logits]).float()
    logp = torch.log_softmax(logits, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)  # (2, ..., B)
    weights = torch.softmax(entropy.amax(0, keepdim=True) - entropy, dim=0)  # exp(max e - e^u), normalised
    return (weights.unsqueeze(-1) * logits).sum(0), weights


def mean_feature(head_logits: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(..., d): the batch-mean input feature of a linear head, read through autograd from its output
    (..., B, K) and weight (..., K, d): d/dW[0] of sum_i z_i[0] is sum_i x_i."""
    (grad,) = torch.autograd.grad(head_logits[..., 0].sum(), weight, retain_graph=True)
    return grad[..., 0, :].detach() / head_logits.shape[-2]


class MLA(Balancer):
    def __init__(self, *, heads: dict, fusion: dict, alpha: float = 0.1, first: str = "audio"):
        """heads: {"audio": (weight, bias), "visual": (weight, bias)}, tied; fusion: {"concat": (weight,
        bias)} or {"sum": ((w_a, b_a), (w_v, b_v))}, tied to the head (see `MLAConfig.build`)."""
        if not alpha > 0:
            raise ValueError(f"MLA alpha={alpha}; expected > 0")
        if first not in MODALITIES:
            raise ValueError(f"MLA first={first!r}; expected one of {MODALITIES}")
        self.heads, self.fusion, self.alpha = heads, fusion, alpha
        self.order = (first, MODALITIES[1 - MODALITIES.index(first)])
        self.step, self.P, self._r, self._modality = 0, None, None, None

    def modality(self, step: int) -> str:
        return self.order[step % 2]

    def loss(self, out, targets, epoch):
        if out.audio_head is None or out.visual_head is None:
            raise ValueError("MLA needs the model's per-modality heads (unimodal_heads=True)")
        m = self._modality = self.modality(self.step)
        logits = getattr(out, f"{m}_head")
        self._r = mean_feature(logits, self.heads[m][0])
        return cross_entropy_per_run(logits, targets)

    @torch.no_grad()
    def after_backward(self, out, targets, epoch) -> dict:
        m, (weight, bias) = self._modality, self.heads[self._modality]
        if self.P is None:
            d = weight.shape[-1]
            self.P = torch.eye(d, device=weight.device).expand(*weight.shape[:-2], d, d).clone()
        plain = weight.grad
        grad_w = project(plain, self.P.to(plain.dtype))  # memory of the previous steps only
        self.P = owm_update(self.P, self._r.to(self.P.dtype), self.alpha)  # then this step's feature joins it
        grad_b = bias.grad
        for w, b in self.heads.values():  # both copies of the shared head: the same gradient, so they stay tied
            w.grad, b.grad = grad_w.clone(), grad_b.clone()
        if "concat" in self.fusion:  # W_f = [W, W], b_f = 2b
            w, b = self.fusion["concat"]
            w.grad, b.grad = torch.cat([grad_w, grad_w], dim=-1), 2 * grad_b
        else:
            for w, b in self.fusion["sum"]:
                w.grad, b.grad = grad_w.clone(), grad_b.clone()
        kept = torch.linalg.vector_norm(grad_w.flatten(-2), dim=-1) / torch.linalg.vector_norm(
            plain.flatten(-2), dim=-1).clamp_min(1e-30)
        self.step += 1
        return {"mla_audio_step": torch.full_like(kept, float(m == "audio")), "mla_grad_kept": kept}


@dataclass(frozen=True)
class MLAConfig(MethodConfig):
    alpha: float = 0.1  # the projector's regulariser (the authors' code: 0.1 at an epoch's start)
    first: str = "audio"  # the modality of step 0
    name = "mla"

    def __post_init__(self):
        MLA(heads={}, fusion={}, alpha=self.alpha, first=self.first)  # raises on a bad setting

    def describe(self) -> str:
        return f"α={self.alpha:g}, {self.first} first (MLA-reduced)"

    def model_options(self) -> dict:
        return {"unimodal_heads": True}

    @torch.no_grad()
    def build(self, model, *, seed: int, params: dict | None = None) -> MLA:
        """Ties the visual head and the fusion head to the audio head (in `params`: the model's own, or the
        batched engine's stacked ones) and returns the balancer."""
        params = params or dict(model.named_parameters())
        if "audio_head.weight" not in params:
            raise ValueError("MLA needs the model's per-modality heads (unimodal_heads=True)")
        heads = {m: (params[f"{m}_head.weight"], params[f"{m}_head.bias"]) for m in MODALITIES}
        if heads["audio"][0].shape != heads["visual"][0].shape:
            raise ValueError("MLA's shared head needs equal feature sizes; got audio "
                             f"{tuple(heads['audio'][0].shape)} and visual {tuple(heads['visual'][0].shape)} heads")
        w, b = heads["audio"]
        heads["visual"][0].copy_(w)
        heads["visual"][1].copy_(b)
        kind = type(model.fusion).__name__  # by name: the balancers sit below avlib.models (test_layers)
        if kind == "ConcatFusion":
            fusion = {"concat": (params["fusion.fc.weight"], params["fusion.fc.bias"])}
            fusion["concat"][0].copy_(torch.cat([w, w], dim=-1))
            fusion["concat"][1].copy_(2 * b)
        elif kind == "SumFusion":
            fusion = {"sum": tuple((params[f"fusion.fc_{m}.weight"], params[f"fusion.fc_{m}.bias"])
                                   for m in MODALITIES)}
            for fw, fb in fusion["sum"]:
                fw.copy_(w)
                fb.copy_(b)
        else:
            raise ValueError(f"MLA reports the shared head's summed uni-modal logits through a concat or sum "
                             f"fusion; got {type(model.fusion).__name__}")
        return MLA(heads=heads, fusion=fusion, alpha=self.alpha, first=self.first)
