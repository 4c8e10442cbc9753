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

Which parameters: by default each encoder's convolution weights (the official code modulates those
only); `params="all"` covers every encoder parameter. The caller passes the encoders themselves: no
parameter is picked by its name.
"""

import torch
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _scores(audio_logits, visual_logits, targets) -> torch.Tensor:
    """(s_audio, s_visual): summed softmax probability of the true class, both modalities in one pass."""
    probs = torch.softmax(torch.stack([audio_logits, visual_logits]).float(), dim=-1)  # (2, B, K)
    return probs.gather(2, targets.expand(2, -1).unsqueeze(-1)).sum(dim=(1, 2))  # (2,)


def contribution_ratio(audio_logits, visual_logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(rho_audio, rho_visual) of one batch, as 0-dim tensors (no host sync)."""
    s = _scores(audio_logits, visual_logits, targets)
    return s[0] / s[1], s[1] / s[0]


def ogm_coefficients(audio_logits, visual_logits, targets, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(k_audio, k_visual), Eq. 7: 1 - tanh(alpha * rho) for the dominant modality, 1 for the other."""
    s = _scores(audio_logits, visual_logits, targets)
    rho = s / s.flip(0)  # (rho_audio, rho_visual)
    k = torch.where(rho > 1, 1 - torch.tanh(alpha * rho), torch.ones_like(rho))
    return k[0], k[1]


def encoder_params(encoder: nn.Module, which: str = "conv") -> list[nn.Parameter]:
    """The parameters OGM modulates: 'conv' = convolution weights, 'all' = every parameter."""
    if which == "all":
        return list(encoder.parameters())
    if which == "conv":
        return [m.weight for m in encoder.modules() if isinstance(m, _CONV)]
    raise ValueError(f"OGM params={which!r}; expected 'conv' or 'all'")


class OGMGE:
    """Call `after_backward` between `loss.backward()` and `optimizer.step()`.

    start_epoch <= epoch < end_epoch is the modulation window (end_epoch=None: to the last epoch).
    """

    def __init__(self, *, audio_params, visual_params, alpha: float, start_epoch: int = 0,
                 end_epoch: int | None = None, ge: bool = True, seed: int = 0):
        if alpha <= 0:
            raise ValueError(f"OGM alpha={alpha}; expected > 0")
        self.audio_params, self.visual_params = list(audio_params), list(visual_params)
        if not self.audio_params or not self.visual_params:
            raise ValueError("OGM needs parameters of both encoders; got an empty group")
        self.alpha, self.start_epoch, self.end_epoch, self.ge = alpha, start_epoch, end_epoch, ge
        self.seed, self._generators = seed, {}

    def active(self, epoch: int) -> bool:
        return self.start_epoch <= epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def _generator(self, device) -> torch.Generator:
        # Own generator: the noise stream is fixed by `seed`, whatever else draws random numbers.
        if device not in self._generators:
            self._generators[device] = torch.Generator(device).manual_seed(self.seed)
        return self._generators[device]

    def _ge_noise(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """h ~ N(0, std(g)^2) for each gradient g (std over the whole tensor, as the authors' code)."""
        gen = self._generator(grads[0].device)
        return [torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype).mul_(g.std()) for g in grads]

    @torch.no_grad()
    def after_backward(self, out, targets, epoch: int) -> dict:
        """Scale each encoder's gradients by its k (and add GE noise); return k for the logs."""
        if not self.active(epoch):
            return {}
        k_audio, k_visual = ogm_coefficients(out.audio_logits, out.visual_logits, targets, self.alpha)
        for params, k in ((self.audio_params, k_audio), (self.visual_params, k_visual)):
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            noise = self._ge_noise(grads) if self.ge else None  # std of the unmodulated gradient
            # Fused multi-tensor ops (as torch.optim uses): one kernel for the whole group, no host sync.
            torch._foreach_mul_(grads, k)
            if noise is not None:
                torch._foreach_add_(grads, noise)
        return {"k_audio": k_audio, "k_visual": k_visual}
