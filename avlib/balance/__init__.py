"""Balancing methods for modality imbalance, one file each, behind the hooks of `base.Balancer`.

A method is chosen by name (`METHODS`, what notebooks read from params.yaml) and configured by a frozen
dataclass (`base.MethodConfig`) whose `build(model, *, seed, params=None)` returns the `Balancer`. `params`
maps parameter names to tensors: the model's own parameters for one run, the stacked ones (leading run
dimension) in the batched engine. Parameter groups come from the model's modules (`encoder_param_names`);
nothing is picked by a name substring.

    name                   config                                 paper
    modality_drop_audio    ModalityDropConfig(modality="audio")   modality dropout (OGM-GE Table 3 baseline)
    modality_drop_visual   ModalityDropConfig(modality="visual")
    gradient_blending      GBlendConfig                           Wang et al., CVPR 2020
    ogm                    OGMConfig(ge=False)                    Peng et al., CVPR 2022 (OGM alone)
    ogm_ge                 OGMConfig                              Peng et al., CVPR 2022
    ge_only                OGMConfig(modulate=False)              control: OGM-GE's GE noise, no modulation (k = 1)
    opm                    OPMConfig                              Wei et al., TPAMI 2024
    agm                    AGMConfig                              Li et al., ICCV 2023
    mmpareto               MMParetoConfig                         Wei & Hu, ICML 2024
    three_loss_sum         ThreeLossSumConfig                     control: MMPareto's loss, plain gradients
    mla                    MLAConfig                              Zhang et al., CVPR 2024 (MLA-reduced, see mla.py)
"""

from functools import partial

from avlib.balance.agm import AGM, AGMConfig
from avlib.balance.base import (
    Balancer,
    MethodConfig,
    cross_entropy_per_run,
    cross_entropy_runs,
    encoder_param_names,
    encoder_params,
)
from avlib.balance.dropout import ModalityDropConfig, ModalityDropout
from avlib.balance.gblend import GBlendConfig, GradientBlending
from avlib.balance.mla import MLA, MLAConfig
from avlib.balance.mmpareto import MMPareto, MMParetoConfig
from avlib.balance.multitask import ThreeLossSum, ThreeLossSumConfig
from avlib.balance.ogm import OGMGE, OGMConfig, contribution_ratio, ogm_coefficients
from avlib.balance.opm import OPM, OPMConfig


def _ogm(**options) -> OGMConfig:
    """OGM without generalization enhancement (the paper's "OGM" row)."""
    if "ge" in options:
        raise TypeError("'ogm' is OGM without GE; use 'ogm_ge' for GE (got ge=...)")
    return OGMConfig(ge=False, **options)


def _ge_only(**options) -> OGMConfig:
    """GE alone: OGM-GE's noise with k = 1 for both encoders (a control, not a paper row)."""
    for fixed in ("ge", "modulate"):
        if fixed in options:
            raise TypeError(f"'ge_only' fixes {fixed}; got {fixed}=...")
    return OGMConfig(modulate=False, **options)


METHODS = {
    "modality_drop_audio": partial(ModalityDropConfig, modality="audio"),
    "modality_drop_visual": partial(ModalityDropConfig, modality="visual"),
    "gradient_blending": GBlendConfig,
    "ogm": _ogm,
    "ogm_ge": OGMConfig,
    "ge_only": _ge_only,
    "opm": OPMConfig,
    "agm": AGMConfig,
    "mmpareto": MMParetoConfig,
    "three_loss_sum": ThreeLossSumConfig,
    "mla": MLAConfig,
}


def method_config(name: str, **options):
    """The config of method `name` (see METHODS) with `options`; unknown names or options raise."""
    if name not in METHODS:
        raise ValueError(f"unknown balancing method {name!r}; expected one of {sorted(METHODS)}")
    try:
        return METHODS[name](**options)
    except TypeError as err:
        raise ValueError(f"method {name!r}: {err}") from None


__all__ = ["AGM", "METHODS", "MLA", "MMPareto", "OGMGE", "OPM", "AGMConfig", "Balancer", "GBlendConfig",
           "GradientBlending", "MLAConfig", "MMParetoConfig", "MethodConfig", "ModalityDropConfig",
           "ModalityDropout", "OGMConfig", "OPMConfig", "ThreeLossSum", "ThreeLossSumConfig",
           "contribution_ratio", "cross_entropy_per_run", "cross_entropy_runs", "encoder_param_names",
           "encoder_params", "method_config", "ogm_coefficients"]
