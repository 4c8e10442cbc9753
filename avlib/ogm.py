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


def contribution_ratio(audio_logits, visual_logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(rho_audio, rho_visual) of one batch, as 0-dim tensors (no host sync)."""
    s_a = torch.softmax(audio_logits.float(), dim=1).gather(1, targets[:, None]).sum()
    s_v = torch.softmax(visual_logits.float(), dim=1).gather(1, targets[:, None]).sum()
    return s_a / s_v, s_v / s_a


def ogm_coefficients(audio_logits, visual_logits, targets, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(k_audio, k_visual), Eq. 7: 1 - tanh(alpha * rho) for the dominant modality, 1 for the other."""
    one = torch.ones((), device=audio_logits.device)
    return tuple(torch.where(rho > 1, 1 - torch.tanh(alpha * rho), one)
                 for rho in contribution_ratio(audio_logits, visual_logits, targets))


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

    def _noise_like(self, grad: torch.Tensor) -> torch.Tensor:
        # Own generator: the noise stream is fixed by `seed`, whatever else draws random numbers.
        gen = self._generators.get(grad.device)
        if gen is None:
            gen = self._generators[grad.device] = torch.Generator(grad.device).manual_seed(self.seed)
        return torch.randn(grad.shape, generator=gen, device=grad.device, dtype=grad.dtype)

    @torch.no_grad()
    def after_backward(self, out, targets, epoch: int) -> dict:
        """Scale each encoder's gradients by its k (and add GE noise); return k for the logs."""
        if not self.active(epoch):
            return {}
        k_audio, k_visual = ogm_coefficients(out.audio_logits, out.visual_logits, targets, self.alpha)
        for params, k in ((self.audio_params, k_audio), (self.visual_params, k_visual)):
            for p in params:
                if p.grad is None:
                    continue
                noise = self._noise_like(p.grad) * p.grad.std() if self.ge else None
                p.grad.mul_(k)
                if noise is not None:
                    p.grad.add_(noise)
        return {"k_audio": k_audio, "k_visual": k_visual}
