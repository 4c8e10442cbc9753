"""OPM: On-the-fly Prediction Modulation (Wei, Hu, Du, Wen, "On-the-fly Modulation for Balanced Multimodal
Learning", TPAMI 2024, arXiv 2410.11582: the OPM part of its method section, the feed-forward counterpart of
OGM; authors' code GeWu-Lab/BML_TPAMI2024, `models/Classifier.py`). Beyond the talk.

In the feed-forward stage the dominant modality's feature is dropped with a probability that grows with
the discrepancy. For a batch and modality u in {a, v}, scored like OGM (`ogm._scores`):
    s^u   = sum_i softmax(logits^u_i)[y_i]                  logits^u: u's share of the fused head, before dropping
    r^u   = tanh(relu(s^u / s^{u'} - 1))                    u' the other modality
    q^u   = clip(q_base * (1 + lambda * r^u), 0, 1) if r^u > 0 else 0      drop probability of u
With probability p_exe the drop is executed on this batch (else the features pass unchanged); then
    m_i^u ~ Bernoulli(1 - q^u)  per sample,     theta = (d_a q^a + d_v q^v) / (d_a + d_v)
    x~_i^u = m_i^u x_i^u / (1 - theta)          for both modalities (d_u: feature sizes)
and the loss is the fused head's cross-entropy on the modulated features.

Readings: we could not check the paper's equation numbers here, so the equations and the defaults
(q_base 0.4-0.5, lambda 0.5, p_exe 0.7) are those of the authors' code, which is unambiguous. Its removal
of samples that lose every modality never happens with two modalities (only the dominant one has q > 0),
so we keep every sample. `start_epoch` is the authors' warm-up (no drop before it). The
draws use the global torch generator (seeded per run). The hook needs each run's targets inside the
feature hook, which the batched engine's vmap does not slice: `batched = False`.
"""

from dataclasses import dataclass

import torch

from avlib.balance.base import Balancer, MethodConfig
from avlib.balance.ogm import _scores


def drop_probabilities(audio_logits, visual_logits, targets, *, q_base: float, lam: float) -> torch.Tensor:
    """(2,): q^audio, q^visual of one batch."""
    s = _scores(audio_logits, visual_logits, targets)
    r = torch.tanh(torch.relu(s / s.flip(0) - 1))
    return torch.where(r > 0, q_base * (1 + lam * r), torch.zeros_like(r)).clamp(0, 1)


class OPM(Balancer):
    def __init__(self, *, q_base: float, lam: float, p_exe: float, start_epoch: int = 0):
        for name, value in (("q_base", q_base), ("p_exe", p_exe)):
            if not 0 <= value <= 1:
                raise ValueError(f"OPM {name}={value}; expected in [0, 1]")
        if lam < 0:
            raise ValueError(f"OPM lambda={lam}; expected >= 0")
        self.q_base, self.lam, self.p_exe, self.start_epoch = q_base, lam, p_exe, start_epoch
        self._q = None

    @torch.no_grad()
    def _drop_probabilities(self, a, v, targets, unimodal) -> torch.Tensor:
        return drop_probabilities(*unimodal(a.detach(), v.detach()), targets, q_base=self.q_base, lam=self.lam)

    def features(self, a, v, epoch, targets=None, unimodal=None):
        self._q = None
        if epoch < self.start_epoch or self.q_base == 0 or self.p_exe == 0:
            return a, v
        q = self._q = self._drop_probabilities(a, v, targets, unimodal)
        if torch.rand(()) >= self.p_exe:  # this batch is not modulated
            return a, v
        d = torch.tensor([a.shape[-1], v.shape[-1]], dtype=q.dtype, device=q.device)
        theta = (d * q).sum() / d.sum()
        keep = torch.rand(2, a.shape[0], 1, device=a.device) >= q.view(2, 1, 1)  # (2, B, 1)
        scale = 1 / (1 - theta + 1e-5)  # the authors' epsilon
        return a * keep[0].to(a.dtype) * scale, v * keep[1].to(v.dtype) * scale

    def after_backward(self, out, targets, epoch) -> dict:
        return {} if self._q is None else {"q_audio": self._q[0], "q_visual": self._q[1]}


@dataclass(frozen=True)
class OPMConfig(MethodConfig):
    q_base: float = 0.4
    lam: float = 0.5
    p_exe: float = 0.7
    start_epoch: int = 0
    name = "opm"
    batched = False

    def __post_init__(self):
        OPM(q_base=self.q_base, lam=self.lam, p_exe=self.p_exe)  # raises on a bad setting

    def describe(self) -> str:
        return f"q_base={self.q_base:g}, λ={self.lam:g}, p_exe={self.p_exe:g}"

    def build(self, model, *, seed: int, params: dict | None = None) -> OPM:
        return OPM(q_base=self.q_base, lam=self.lam, p_exe=self.p_exe, start_epoch=self.start_epoch)
