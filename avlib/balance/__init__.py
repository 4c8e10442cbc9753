"""Balancing methods for modality imbalance, one file each, behind the hooks of `base.Balancer`.

A method is chosen by name (`METHODS`, what notebooks read from params.yaml) and configured by a frozen
dataclass whose `build(params, *, seed)` returns the `Balancer`. `params` maps parameter names to tensors:
the model's own parameters for one run, the stacked ones (leading run dimension) in the batched engine.
`param_groups(model)` says which names belong to which modality; nothing is picked by a name substring.
"""

from avlib.balance.base import Balancer, cross_entropy_per_run
from avlib.balance.ogm import OGMGE, OGMConfig, contribution_ratio, encoder_params, ogm_coefficients

METHODS = {"ogm_ge": OGMConfig}


def method_config(name: str, **options):
    """The config of method `name` (see METHODS) with `options`; unknown names or options raise."""
    if name not in METHODS:
        raise ValueError(f"unknown balancing method {name!r}; expected one of {sorted(METHODS)}")
    try:
        return METHODS[name](**options)
    except TypeError as err:
        raise ValueError(f"method {name!r}: {err}") from None


__all__ = ["METHODS", "OGMGE", "Balancer", "OGMConfig", "contribution_ratio", "cross_entropy_per_run",
           "encoder_params", "method_config", "ogm_coefficients"]
