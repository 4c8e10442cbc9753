"""What the AV-ASR stages (avasr_fusion, avasr_more_seeds) share: the dataset they read, their training knobs
(AVASRConfig's fields, the same keys in each stage's params section), the runs and history files they write."""

import pandas as pd

from avlib.core.params import Float, Int, ListOf
from avlib.data import load_dataset
from avlib.stages.shared.records import late_from
from avlib.stages.shared.runs import history_frame as runs_history_frame
from avlib.tasks.asr.train import AVASRConfig

DATASETS = ("avspeech",)  # the datasets these stages read (their loaders are their DVC deps)
# the training knobs: AVASRConfig's fields by name (each spelled here once, with its check; `config` reads them)
CONFIG_FIELDS = dict(
    hidden=ListOf(Int(min=1), min_len=1, unique=False), bottleneck=Int(min=1), rank=Int(min=1),
    epochs=Int(min=1), joint_epochs=Int(min=1), frozen_epochs=Int(min=1), batch_size=Int(min=1),
    lr=Float(positive=True),
    lr_decay_at=Float(min=0, max=1), lr_gamma=Float(positive=True),
    joint_lr=Float(positive=True), weight_decay=Float(min=0), penalties=ListOf(Float(min=0), min_len=1),
)


def config(p) -> AVASRConfig:
    """AVASRConfig from the params of the same names (lists as tuples: the config is frozen)."""
    values = {name: getattr(p, name) for name in CONFIG_FIELDS}
    return AVASRConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_levels(dataset: str, root: str, levels) -> dict:
    """{snr: {split: AVSpeech}}: the stored speech remixed with the same noise stream at each level."""
    return {snr: {s: load_dataset(dataset, root, s, snr_db=snr) for s in ("train", "val", "test")} for snr in levels}


def history_frame(results: list) -> pd.DataFrame:
    """history.csv: every trained network's val frame accuracy per epoch, long, after its SNR and seed (the
    record's `model` names the network: a tower, the frozen-tower softmax or a fused net; `selected` marks the
    epoch it kept). reports/convergence reads it."""
    return runs_history_frame(results, history=lambda r: r.history,
                              columns=lambda r: {"snr_db": r.job.snr_db, "seed": r.job.seed})


def runs_frame(results: list) -> pd.DataFrame:
    """runs.csv: one row per (SNR, seed, model): val and test frame accuracy, frame error and PER (fractions),
    the decoding penalty, the epochs trained, the val-selected epoch and whether it lies in the last 20% of
    them (the convergence check), and the average's partner."""
    rows = []
    for r in results:
        for m in r.test:
            epochs, best = r.epochs.get(m), r.selected.get(m)
            rows.append({"snr_db": r.job.snr_db, "seed": r.job.seed, "model": m,
                         "val_frame_acc": r.val[m]["frame_acc"], "test_frame_acc": r.test[m]["frame_acc"],
                         "val_frame_err": 1 - r.val[m]["frame_acc"], "test_frame_err": 1 - r.test[m]["frame_acc"],
                         "val_per": r.val[m]["per"], "test_per": r.test[m]["per"], "penalty": r.penalty[m],
                         "epochs": epochs, "best_epoch": best,
                         "best_epoch_late": None if epochs is None else best >= late_from(epochs),
                         "lr": r.job.config.lr if m in ("audio", "visual") else r.job.config.joint_lr,
                         "partner": r.partner if m == "average" else None})
    return pd.DataFrame(rows).astype({"epochs": "Int64", "best_epoch": "Int64"})  # blank for the average
