"""What the AV-classification training stages (t1_fusion, t3_imbalance, fig_underopt) share: the datasets
they read, their training knobs' schema, the data, TrainConfig and model options built from them, and the
per-epoch logs of their runs (history.csv; t2_plugin's too)."""

from avlib.core.params import Bool, Choice, Dict, Float, Int, ParamError
from avlib.data import load_splits
from avlib.data.loader import head
from avlib.stages.shared import runs
from avlib.tasks.classify.fit import TrainConfig

DATASETS = ("avdigits", "cremad", "kinetics_sounds", "vggsound")  # the real ones as prep_cremad / prep_clips write them
SMOKE_SIZES = {"train": 256, "val": 128, "test": 128}

# the knobs of the optimiser and the run, the same keys in every training stage's params section
TRAIN_FIELDS = dict(
    encoder=Choice("small_cnn", "resnet18"), width=Int(min=1), epochs=Int(min=1), batch_size=Int(min=1),
    lr=Float(positive=True), momentum=Float(min=0, max=1), weight_decay=Float(min=0),
    lr_decay_at=Float(positive=True, max=1), lr_gamma=Float(positive=True, max=1),
)
LOADER_FIELD = Dict(val_fraction=Float(positive=True, max=0.99), val_seed=Int(min=0), n_frames=Int(min=1),
                    image_size=Int(min=8), augment=Bool())


def load_data(p) -> dict:
    """The three splits of `p.dataset` under `p.root` (real data: with `p.loader`'s options); a smoke run
    keeps the first few hundred samples of each."""
    data = load_splits(p.dataset, p.root, **(p.loader if p.dataset != "avdigits" else {}))
    if p.smoke:
        data = {s: head(d, SMOKE_SIZES[s]) for s, d in data.items()}
    return data


def train_config(p, seed: int = 0) -> TrainConfig:
    return TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                       weight_decay=p.weight_decay, lr_decay_at=p.lr_decay_at, lr_gamma=p.lr_gamma,
                       seed=seed, amp=p.amp, device=p.device, num_workers=p.num_workers)


def model_kwargs(p) -> dict:
    """Encoder options: real datasets have RGB frames, AV-Digits grey digits."""
    return {"encoder": p.encoder, "width": p.width, **({"visual_channels": 3} if p.dataset != "avdigits" else {})}


def ddp_rule(stage: str):
    """A Schema rule: under torchrun (`ddp: N`) every global batch must split into N equal shares."""
    def check(p):
        if p.ddp > 1 and p.batch_size % p.ddp:
            raise ParamError(f"{stage}.ddp={p.ddp}: expected a number of processes that divides "
                             f"batch_size={p.batch_size} (each rank trains on batch_size / ddp samples)")
    return check


def history_frame(results: list):
    """Per-epoch logs of every run (a `Result` with a label and a seed), long format: label, seed, then the
    epoch's record (epoch, loss, rho_audio, k_*, val_*, probe_*)."""
    return runs.history_frame(results)
