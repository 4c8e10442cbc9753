"""OGM-GE: On-the-fly Gradient Modulation with Generalization Enhancement (Peng et al., CVPR 2022).

For a batch B_t and modality u in {a, v} (paper Sec. 3.2-3.3):
    s^u     = sum_{i in B_t} softmax(logits^u_i)[y_i]                       (Eq. 6, uni-modal score)
    rho^a   = s^a / s^v,   rho^v = 1 / rho^a                                  (Eq. 6, discrepancy ratio)
    k^u     = 1 - tanh(alpha * rho^u)  if rho^u > 1  else 1                  (Eq. 7, coefficient)
    OGM:    theta^u <- theta^u - lr * k^u * g(theta^u)                       (Eq. 8)
    GE:     theta^u <- theta^u - lr * (k^u * g(theta^u) + h(theta^u)),
            h ~ N(0, std(g(theta^u))^2)                                       (Eq. 10)
The dominant modality's encoder is slowed; the other is left as it is. GE noise, with the std of the
unmodulated gradient, is added to both encoders, as the authors' code does.

`modulate=False` (method name `ge_only`) is the control for GE's share of OGM-GE's gain: k^u = 1 for both
encoders, and the same h ~ N(0, std(g(theta^u))^2) added to the same parameters, in the same window, from the
same noise stream (the paper has no such row; it isolates Eq. 10's noise from Eq. 8's scaling).

logits^u is modality u's share of the fused logits (`avlib.models.fusion`). Which parameters: by default
each encoder's convolution weights (the official code modulates those only); `params="all"` covers every
encoder parameter. They are chosen by module type and identity, never by a name substring.

Every tensor may carry a leading run dimension (the batched engine): scores, rho and k are then one per
run, and the std of the GE noise is taken per run.

Under DDP (`avlib.core.ddp`) s^a and s^v are summed over all ranks before rho, so B_t is the global batch and
every rank applies the same k; the GE noise comes from a generator seeded alike on every rank and is
scaled by the std of the already-averaged gradient: the same noise everywhere, parameters stay in step.
"""

from dataclasses import dataclass

import torch
from torch import nn

from avlib.balance.base import Balancer, MethodConfig, encoder_param_names, encoder_params, per_run
from avlib.core import ddp


def _scores(audio_logits, visual_logits, targets) -> torch.Tensor:
    """(2, ...): summed softmax probability of the true class, audio then visual, in one pass (under DDP:
    summed over the ranks' shares of the global batch too).

    logits (..., B, K), targets (..., B)."""
    probs = torch.softmax(torch.stack([audio_logits, visual_logits]).float(), dim=-1)  # (2, ..., B, K)
    index = targets.expand(2, *targets.shape).unsqueeze(-1)
    return ddp.all_reduce_sum(probs.gather(-1, index).squeeze(-1).sum(-1))  # (2, ...)


def contribution_ratio(audio_logits, visual_logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(rho_audio, rho_visual) of one batch, as tensors of the run shape (no host sync)."""
    s = _scores(audio_logits, visual_logits, targets)
    return s[0] / s[1], s[1] / s[0]


def ogm_coefficients(audio_logits, visual_logits, targets, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(k_audio, k_visual), Eq. 7: 1 - tanh(alpha * rho) for the dominant modality, 1 for the other."""
    s = _scores(audio_logits, visual_logits, targets)
    rho = s / s.flip(0)  # (rho_audio, rho_visual)
    k = torch.where(rho > 1, 1 - torch.tanh(alpha * rho), torch.ones_like(rho))
    return k[0], k[1]


class OGMGE(Balancer):
    """Scales each encoder's gradients by its k (and adds GE noise) between backward and the step.

    start_epoch <= epoch < end_epoch is the modulation window (end_epoch=None: to the last epoch).
    """

    def __init__(self, *, audio_params, visual_params, alpha: float, start_epoch: int = 0,
                 end_epoch: int | None = None, ge: bool = True, modulate: bool = True, seed: int = 0):
        if alpha <= 0:
            raise ValueError(f"OGM alpha={alpha}; expected > 0")
        self.audio_params, self.visual_params = list(audio_params), list(visual_params)
        if not self.audio_params or not self.visual_params:
            raise ValueError("OGM needs parameters of both encoders; got an empty group")
        if not (modulate or ge):
            raise ValueError("OGM with modulate=False and ge=False does nothing; use plain training")
        self.alpha, self.start_epoch, self.end_epoch, self.ge = alpha, start_epoch, end_epoch, ge
        self.modulate = modulate
        self.seed, self._generators = seed, {}

    def active(self, epoch: int) -> bool:
        return self.start_epoch <= epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def _generator(self, device) -> torch.Generator:
        # Own generator: the noise stream is fixed by `seed`, whatever else draws random numbers.
        if device not in self._generators:
            self._generators[device] = torch.Generator(device).manual_seed(self.seed)
        return self._generators[device]

    def _ge_noise(self, grads: list[torch.Tensor], run_dims: int) -> list[torch.Tensor]:
        """h ~ N(0, std(g)^2) for each gradient g: std over the whole tensor (as the authors' code), per run."""
        gen = self._generator(grads[0].device)
        noise = []
        for g in grads:
            std = g.flatten(run_dims).std(-1).nan_to_num(0.0)  # a 1-element gradient has no spread
            noise.append(torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype).mul_(per_run(std, g)))
        return noise

    @torch.no_grad()
    def after_backward(self, out, targets, epoch: int) -> dict:
        """Scale each encoder's gradients by its k (and add GE noise); return k for the logs."""
        if not self.active(epoch):
            return {}
        if not self.modulate:
            return self._ge_alone(run_dims=targets.dim() - 1)  # targets (B,) or (N, B)
        k_audio, k_visual = ogm_coefficients(out.audio_logits, out.visual_logits, targets, self.alpha)
        for params, k in ((self.audio_params, k_audio), (self.visual_params, k_visual)):
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            noise = self._ge_noise(grads, k.dim()) if self.ge else None  # std of the unmodulated gradient
            if k.dim() == 0:  # one run: fused multi-tensor ops (as torch.optim uses), no host sync
                torch._foreach_mul_(grads, k)
            else:  # stacked runs: each run's slice by its own k
                for g in grads:
                    g.mul_(per_run(k, g))
            if noise is not None:
                torch._foreach_add_(grads, noise)
        return {"k_audio": k_audio, "k_visual": k_visual}

    def _ge_alone(self, run_dims: int) -> dict:
        """GE without OGM: k = 1, so g + h with h drawn exactly as `after_backward` draws it (same order of
        encoders and tensors, same generator), leaving the noise stream aligned with OGM-GE's."""
        for params in (self.audio_params, self.visual_params):
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                torch._foreach_add_(grads, self._ge_noise(grads, run_dims))
        return {}


@dataclass(frozen=True)
class OGMConfig(MethodConfig):
    """OGM-GE settings of a run (`ge=False`: OGM alone; `modulate=False`: GE alone); `build` makes the
    balancer for a model."""

    alpha: float = 0.8
    start_epoch: int = 0
    end_epoch: int | None = None  # exclusive; None = to the last epoch
    ge: bool = True
    params: str = "conv"  # "conv" (as the official code) or "all"
    modulate: bool = True  # False: GE alone (k = 1), the `ge_only` control

    @property
    def name(self) -> str:
        if not self.modulate:
            return "ge_only"
        return "ogm_ge" if self.ge else "ogm"

    def __post_init__(self):
        if self.alpha <= 0:
            raise ValueError(f"OGM alpha={self.alpha}; expected > 0")
        encoder_params(nn.Identity(), self.params)  # raises on an unknown choice
        if self.end_epoch is not None and self.end_epoch <= self.start_epoch:
            raise ValueError(f"OGM window [{self.start_epoch}, {self.end_epoch}) is empty")
        if not (self.modulate or self.ge):
            raise ValueError("OGM with modulate=False and ge=False does nothing; use plain training")

    def describe(self) -> str:
        end = "last" if self.end_epoch is None else str(self.end_epoch - 1)
        if not self.modulate:
            return f"GE noise alone (k = 1), epochs {self.start_epoch}–{end}"
        return f"α={self.alpha:g}, epochs {self.start_epoch}–{end}{'' if self.ge else ', no GE'}"

    def param_groups(self, model: nn.Module) -> dict:
        """{"audio": [names], "visual": [names]}: the parameters modulated, by name in `model`."""
        return encoder_param_names(model, self.params, method="OGM-GE")

    def build(self, model: nn.Module, *, seed: int, params: dict | None = None) -> OGMGE:
        """The balancer for `model`; `params` (name -> tensor) replaces the model's own (stacked runs)."""
        groups, params = self.param_groups(model), params or dict(model.named_parameters())
        return OGMGE(audio_params=[params[n] for n in groups["audio"]],
                     visual_params=[params[n] for n in groups["visual"]], alpha=self.alpha,
                     start_epoch=self.start_epoch, end_epoch=self.end_epoch, ge=self.ge,
                     modulate=self.modulate, seed=seed)
