"""What OGM-GE Table 4's stages (t4_ave, premise_avevents) share: the data they read, cut to a few dozen clips in a
smoke run, and the training config built from their identical schedule knobs."""

from avlib.data import load_splits
from avlib.data.real.ave import SegmentDataset
from avlib.tasks.ave.train import SegmentTrainConfig

SMOKE_SIZES = {"train": 32, "val": 16, "test": 16}


def load_data(p) -> dict:
    data = load_splits(p.dataset, p.root)
    if p.smoke:
        data = {s: SegmentDataset.from_tensors(d.audio[:SMOKE_SIZES[s]], d.visual[:SMOKE_SIZES[s]],
                                               d.label[:SMOKE_SIZES[s]], n_classes=d.n_classes)
                for s, d in data.items()}
    return data


def train_config(p) -> SegmentTrainConfig:
    return SegmentTrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                              weight_decay=p.weight_decay, lr_decay_at=p.lr_decay_at, lr_gamma=p.lr_gamma,
                              hidden=p.hidden, dim_attention=p.dim_attention, psp_threshold=p.psp_threshold)
