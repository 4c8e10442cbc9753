"""avlab's library: data, models, OGM-GE, training and reports for the paper notebooks.

The public API is small; everything else is importable from its module (avlib.ogm, avlib.report, ...).
"""

from avlib.data import load_dataset, load_splits
from avlib.experiment import OGMConfig, RunSpec, run_classifier, run_specs
from avlib.models import build_classifier
from avlib.ogm import OGMGE, ogm_coefficients
from avlib.train import TrainConfig, fit

__all__ = ["OGMGE", "OGMConfig", "RunSpec", "TrainConfig", "build_classifier", "fit", "load_dataset",
           "load_splits", "ogm_coefficients", "run_classifier", "run_specs"]
