"""MMPareto (Wei, Hu, "MMPareto: Boosting Multimodal Learning with Innocent Unimodal Assistance", ICML 2024;
authors' code GeWu-Lab/MMPareto_ICML2024). Beyond the talk.

Multitask training: the fused head and a linear head per modality (`unimodal_heads`), loss
    L = L_mm + L_audio + L_visual.
For each encoder u (all its parameters theta^u), the gradients of its two losses are integrated (the
paper's method section, Pareto integration of the multimodal and uni-modal gradients):
    g_m = grad_{theta^u} L_mm,   g_u = grad_{theta^u} L_u          (flattened over theta^u for the angle)
    (w_m, w_u) = (1/2, 1/2)                      if cos(g_m, g_u) > 0   (no conflict)
               = argmin_{w in simplex} ||w_m g_m + w_u g_u||^2   else  (MGDA's min-norm point; for two
                 vectors w_m = clip((g_u.g_u - g_m.g_u) / ||g_m - g_u||^2, 0.001, 0.999), w_u = 1 - w_m)
    h = 2 (w_m g_m + w_u g_u)                                      per parameter tensor
    h <- h * max(1, ||g_m + g_u|| / ||h||)                         magnitude at least the plain sum's
    gradient of theta^u = alpha * h
The heads keep their plain gradients.

Readings (equation numbers not checked here; the steps are the authors' code's): the per-tensor
rescaling and the factor alpha follow the authors' code (alpha = 1.5 in BalanceBenchmark's configs); the
clip at 0.001/0.999 is that code's two-vector min-norm solver. The three extra gradients are computed with
`torch.autograd.grad` in the loss hook, so a step costs about two backward passes more than plain
training. The gradients of single runs only: `batched = False`.
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig, cross_entropy_per_run, encoder_param_names
from avlib.core import ddp


def pareto_weights(g_m: torch.Tensor, g_u: torch.Tensor) -> tuple[float, float]:
    """(w_m, w_u) for two flattened gradients: equal halves without conflict, else the min-norm point."""
    mm, mu, uu = g_m @ g_m, g_m @ g_u, g_u @ g_u
    if mu > 0:  # cos > 0
        return 0.5, 0.5
    if mu >= mm:
        w = 0.999
    elif mu >= uu:
        w = 0.001
    else:
        w = float((uu - mu) / (mm + uu - 2 * mu))
    return w, 1 - w


class MMPareto(Balancer):
    def __init__(self, *, audio_params, visual_params, alpha: float = 1.0):
        if not alpha > 0:
            raise ValueError(f"MMPareto alpha={alpha}; expected > 0")
        self.params = {"audio": list(audio_params), "visual": list(visual_params)}
        self.alpha, self._grads = alpha, None

    def loss(self, out, targets, epoch):
        if out.audio_head is None or out.visual_head is None:
            raise ValueError("MMPareto needs the model's per-modality heads (unimodal_heads=True)")
        losses = {"mm": cross_entropy_per_run(out.logits, targets),
                  "audio": cross_entropy_per_run(out.audio_head, targets),
                  "visual": cross_entropy_per_run(out.visual_head, targets)}
        both = self.params["audio"] + self.params["visual"]
        g_mm = torch.autograd.grad(losses["mm"], both, retain_graph=True, allow_unused=True)
        n_audio = len(self.params["audio"])
        self._grads = {}
        for m, g_m in (("audio", g_mm[:n_audio]), ("visual", g_mm[n_audio:])):
            g_u = torch.autograd.grad(losses[m], self.params[m], retain_graph=True, allow_unused=True)
            self._grads[m] = ([_or_zero(g, p) for g, p in zip(g_m, self.params[m], strict=True)],
                              [_or_zero(g, p) for g, p in zip(g_u, self.params[m], strict=True)])
        return losses["mm"] + losses["audio"] + losses["visual"]

    @torch.no_grad()
    def after_backward(self, out, targets, epoch) -> dict:
        logs = {}
        for m, (g_m, g_u) in self._grads.items():
            if ddp.is_distributed():  # autograd.grad bypasses DDP's averaging: average them here
                g_m, g_u = [ddp.all_reduce_mean(g) for g in g_m], [ddp.all_reduce_mean(g) for g in g_u]
            flat_m, flat_u = torch.cat([g.flatten() for g in g_m]), torch.cat([g.flatten() for g in g_u])
            w_m, w_u = pareto_weights(flat_m.float(), flat_u.float())
            for p, gm, gu in zip(self.params[m], g_m, g_u, strict=True):
                h = 2 * (w_m * gm + w_u * gu)
                ratio = torch.linalg.vector_norm(gm + gu) / torch.linalg.vector_norm(h).clamp_min(1e-30)
                p.grad = self.alpha * h * ratio.clamp_min(1.0)
            logs[f"w_mm_{m}"] = torch.tensor(w_m)
        self._grads = None
        return logs


def _or_zero(grad, param):
    return torch.zeros_like(param) if grad is None else grad


@dataclass(frozen=True)
class MMParetoConfig(MethodConfig):
    alpha: float = 1.0
    name = "mmpareto"
    batched = False

    def __post_init__(self):
        if not self.alpha > 0:
            raise ValueError(f"MMPareto alpha={self.alpha}; expected > 0")

    def describe(self) -> str:
        return f"α={self.alpha:g}"

    def model_options(self) -> dict:
        return {"unimodal_heads": True}

    def build(self, model, *, seed: int, params: dict | None = None) -> MMPareto:
        groups, params = encoder_param_names(model, "all", method="MMPareto"), params or dict(model.named_parameters())
        return MMPareto(audio_params=[params[n] for n in groups["audio"]],
                        visual_params=[params[n] for n in groups["visual"]], alpha=self.alpha)
