"""The three-loss sum: MMPareto's control (Wei & Hu, ICML 2024). Beyond the talk.

The same model MMPareto trains (the fused head and a linear head per modality, `unimodal_heads`) and the same
loss, L = L_mm + L_audio + L_visual, with the plain gradients of that sum: no Pareto integration. The gap
between this row and MMPareto is what the integration itself adds; the gap between this row and plain concat
is what the uni-modal heads' extra losses add (the review asked for it: MMPareto's +5.1 had no such control).
"""

from dataclasses import dataclass

from avlib.balance.base import Balancer, MethodConfig, cross_entropy_per_run


class ThreeLossSum(Balancer):
    def loss(self, out, targets, epoch):
        if out.audio_head is None or out.visual_head is None:
            raise ValueError("the three-loss sum needs the model's per-modality heads (unimodal_heads=True)")
        return sum(cross_entropy_per_run(logits, targets) for logits in (out.logits, out.audio_head, out.visual_head))


@dataclass(frozen=True)
class ThreeLossSumConfig(MethodConfig):
    name = "three_loss_sum"

    def describe(self) -> str:
        return "L_mm + L_audio + L_visual, plain gradients"

    def model_options(self) -> dict:
        return {"unimodal_heads": True}

    def build(self, model, *, seed: int, params: dict | None = None) -> ThreeLossSum:
        return ThreeLossSum()
