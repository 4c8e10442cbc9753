"""AGM: Adaptive Gradient Modulation (Li, Li, Hu, Wu, "Boosting Multi-modal Model Performance with Adaptive
Gradient Modulation", ICCV 2023: its method section, mono-modal responses by Shapley values, the
discrepancy ratio and its running target; authors' code lihong2303/AGM_ICCV2023). Beyond the talk.

Per training step t and modality u in {a, v} (u' the other one), with phi^u u's mono-modal response:
    s^u_t  = -(1/B) sum_i log max(softmax(phi^u_i)[y_i], 1e-8)      mono-modal cross-entropy (lower: stronger)
    r^u_t  = exp(s^{u'}_t - s^u_t)                                    discrepancy ratio (> 1: u dominates)
    S^u_t  = (1/(t-1)) sum_{j<t} s^u_j                                running mean of the scores (S^u_1 = 0)
    rt^u_t = exp(S^{u'}_t - S^u_t)                                    running target of the ratio
    B^u_t  = exp(alpha * min(rt^u_t - r^u_t, 10))                     coefficient
    g(theta^u) <- B^u_t * g(theta^u)                                  u's encoder gradient, between backward and step
A modality stronger than its running level (r^u above the target) is slowed, a weaker one sped up: the
ratio is pulled back towards its own history rather than towards 1, unlike OGM.

Readings (equation numbers not checked here; the formulas are the authors' code's, which several of its
copies agree on). Where we differ from the authors' code (lihong2303/AGM_ICCV2023, `run/CREMAD_main.py`,
`model/CREMAD_net.py`, read for these facts):
- phi^u: the code takes the two-player Shapley value with the other modality's *input* zeroed,
  phi^a = (f(a, v) - f(0_a, v) + f(a, 0_v)) / 2, from three extra forward passes of the whole network (in
  eval mode); we use the fusion head's uni-modal split (`avlib.models.fusion`; for concatenation
  W_u x^u + b/2, the Shapley value of the head with a zero feature standing for "absent"), no extra pass.
- where B^u acts: the code scales the gradient that flows back *through u's Shapley response* (a backward
  hook on phi^u, the model's output being phi^a + phi^v), so it reaches the fusion head and, through the
  zero-padded passes, both encoders; we scale u's encoder gradient directly, as OGM does: each encoder's
  convolution weights (`params="conv"`; "all": every encoder parameter), chosen by module, not by a name
  substring.
- the clip: when any entry of the fusion head's weight gradient leaves [-1, 1], the code clips the whole
  model's gradient norm to 1.0 (5.0 on UR-Funny); left out here.
- the code modulates within a window of epochs (`modulation_starts`..`modulation_ends`); we modulate every
  epoch, and the running mean S^u runs over all steps since the first, as the code's does.
Every quantity carries the runs' leading dimension in the batched engine.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avlib.balance.base import Balancer, MethodConfig, encoder_param_names, encoder_params, per_run
from avlib.core import ddp


def mono_scores(audio_logits, visual_logits, targets) -> torch.Tensor:
    """(2, ...): s^audio, s^visual, the mean clamped cross-entropy of each modality's response per run
    (under DDP: the mean over the global batch, ranks holding equal shares)."""
    logp = F.log_softmax(torch.stack([audio_logits, visual_logits]).float(), dim=-1)  # (2, ..., B, K)
    index = targets.expand(2, *targets.shape).unsqueeze(-1)
    return ddp.all_reduce_mean(-logp.gather(-1, index).squeeze(-1).clamp_min(torch.log(torch.tensor(1e-8))).mean(-1))


def agm_coefficients(scores: torch.Tensor, running: torch.Tensor, alpha: float) -> torch.Tensor:
    """(2, ...): B^audio, B^visual from this step's scores and the running mean of the earlier ones."""
    ratio = torch.exp(scores.flip(0) - scores)
    target = torch.exp(running.flip(0) - running)
    return torch.exp(alpha * (target - ratio).clamp(max=10))


class AGM(Balancer):
    def __init__(self, *, audio_params, visual_params, alpha: float):
        if alpha < 0:
            raise ValueError(f"AGM alpha={alpha}; expected >= 0")
        self.audio_params, self.visual_params = list(audio_params), list(visual_params)
        if not self.audio_params or not self.visual_params:
            raise ValueError("AGM needs parameters of both encoders; got an empty group")
        self.alpha, self.running, self.steps = alpha, None, 0

    @torch.no_grad()
    def after_backward(self, out, targets, epoch) -> dict:
        scores = mono_scores(out.audio_logits, out.visual_logits, targets)  # (2, ...)
        if self.running is None:
            self.running = torch.zeros_like(scores)
        k = agm_coefficients(scores, self.running, self.alpha)
        self.steps += 1
        self.running += (scores - self.running) / self.steps  # the mean of s_1..s_t
        for params, k_u in ((self.audio_params, k[0]), (self.visual_params, k[1])):
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(per_run(k_u, p.grad))
        return {"k_audio": k[0], "k_visual": k[1]}


@dataclass(frozen=True)
class AGMConfig(MethodConfig):
    alpha: float = 0.1
    params: str = "conv"
    name = "agm"

    def __post_init__(self):
        if not self.alpha >= 0:
            raise ValueError(f"AGM alpha={self.alpha}; expected >= 0")
        encoder_params(torch.nn.Identity(), self.params)  # raises on an unknown choice

    def describe(self) -> str:
        return f"α={self.alpha:g}"

    def build(self, model, *, seed: int, params: dict | None = None) -> AGM:
        groups, params = encoder_param_names(model, self.params, method="AGM"), params or dict(model.named_parameters())
        return AGM(audio_params=[params[n] for n in groups["audio"]],
                   visual_params=[params[n] for n in groups["visual"]], alpha=self.alpha)
