"""AVTS training jobs for the run engine: `train(job, data)`, one pretraining (-> PretrainResult) or one
downstream run (-> ProbeResult).

`avlib.core.pool.run_tasks(train, jobs, data)` runs them single-threaded in worker processes; each job
seeds itself (`seed_everything`) and draws its pairs and batches from generators seeded by its own seed,
so its result does not depend on the number of workers. `data` = {"train", "val", "test"}: AVSync splits.

PretrainJob (Korbar et al. 2018, Sec. 3): the two networks trained with the contrastive loss (Eq. 1) on
pairs sampled per epoch by `avlib.tasks.avts.sampling` (half positives; negatives easy, or easy:hard per the
schedule). The epoch is chosen on val: the best mean val AUC over the three negative kinds (`SELECT`, the
same criterion for every schedule; ties: the earlier epoch), so a run is reported at its best val epoch, and
`best_epoch` says where that was (in the last 20% of the epochs: val was still improving).
Evaluation: fixed held-out pairs of every kind (EVAL_PER_CLIP per clip and kind, the same for every run); a pair is
called in sync when d < tau, tau chosen on val (best balanced accuracy, positives vs all negative kinds
weighed equally); test reports, per negative kind, the balanced accuracy (positives vs that kind) and AUC,
and the AUC-versus-shift curve: per |shift| of 1..clip_frames - window frames, test pairs of that shift (one
per clip, never re-aligned beyond the tolerance) against the test positives (`auc_shift`).

ProbeJob (Sec. 4.2-4.3): one encoder (video: UCF101/HMDB51 in the paper; audio: ESC-50) from AVTS, from a
variant, from L3-style pretraining or from scratch, on the clip labels with few labelled train clips:
  linear    a logistic regression on the frozen pooled conv features (the paper: a linear SVM on conv5),
            averaged over the clip's windows;
  finetune  encoder + linear head trained with cross-entropy on windows (Adam), the epoch chosen on val
            clip accuracy (window logits averaged; ties: the earlier epoch), then test.
A ProbeResult's val and test are {"acc": clip accuracy}; it keeps its test predictions, so two inits whose
accuracies tie can be told apart (or not) clip by clip (avts_probe's agreement table).
SharedStart: pretraining runs that draw the same pairs until some epoch (one seed, the same knobs; the
curriculum and L3-style draw only easy negatives until the curriculum's switch) train once up to that
epoch (the fork); each then goes on from its own copy of the model, the optimizer and the selection so
far. Bit-identical to training each alone (every epoch's pairs come from a generator seeded by the run's
seed and the epoch; tests/tasks/test_avts.py), for the cost of the shared epochs once.
`pretrain_all(jobs, data)` finds them and returns the results in job order.
Reductions (AVTS-lite): Adam with one step decay of the lr (`lr_decay_at`) instead of the paper's SGD with a
plateau schedule; tiny networks
(avlib/models/avts.py); one labelled dataset drawn from the same generator as the pretraining clips.
"""

import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from avlib.core.memory import keep_freed_memory
from avlib.core.pool import run_tasks
from avlib.core.runtime import seed_everything
from avlib.models.avts import AVTSNet, ClipClassifier, contrastive_loss, pair_distance
from avlib.tasks.avts.events import Events
from avlib.tasks.avts.sampling import (
    EVAL_SEED,
    KINDS,
    Shifts,
    cut_windows,
    draw,
    epoch_counts,
    eval_pairs,
    hard_fraction,
    sample_pairs,
)
from avlib.tasks.result import BestEpoch, Result

SELECT = "val_auc_mean"  # the epoch criterion: mean val AUC over easy, hard and super-hard negatives


@dataclass(frozen=True)
class NetConfig:
    width: int = 8
    dim: int = 64
    n_3d: int = 2


@dataclass(frozen=True)
class PretrainJob:
    schedule: str  # avts_sampling.SCHEDULES
    seed: int
    epochs: int = 20
    pairs_per_epoch: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    # one step decay, lr *= lr_gamma from epoch round(lr_decay_at * epochs) on (1.0: none, a constant lr): the
    # paper lowers SGD's lr when val plateaus; avts_pretrain chooses the fraction on val (params.yaml)
    lr_decay_at: float = 1.0
    lr_second_decay_at: float = 1.0  # a second x lr_gamma from round(this * epochs) on (1.0: none)
    lr_gamma: float = 0.1
    margin: float = 0.99
    switch_fraction: float = 50 / 90
    hard_share: float = 0.25
    shifts: Shifts = field(default_factory=Shifts)
    net: NetConfig = field(default_factory=NetConfig)


@dataclass(frozen=True)
class ProbeJob:
    init: str  # a pretraining's name, or "scratch"
    modality: str  # "video" or "audio"
    mode: str  # "linear" or "finetune"
    seed: int
    state: dict | None = None  # the encoder's state dict (None: scratch)
    window: int = 10
    labelled_per_class: int = 10
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    net: NetConfig = field(default_factory=NetConfig)


@dataclass
class PretrainResult(Result):
    """`Result` with val / test = `sync_metrics` of the selected epoch (val: at the threshold chosen on it), and:"""

    threshold: float = 0.0  # tau, chosen on the selected epoch's val pairs
    state: dict | None = None  # {"video": state dict, "audio": state dict} of the selected epoch
    auc_shift: dict = field(default_factory=dict)  # {|shift| in frames: test AUC of that shift vs positives}


@dataclass
class ProbeResult(Result):
    """`Result` with val / test = {"acc": clip accuracy}; best_epoch None for the linear probe; and:"""

    predictions: list = field(default_factory=list)  # the predicted class of every test clip, in clip order


def build_net(net: NetConfig, split, window: int) -> AVTSNet:
    return AVTSNet(frames=window, mel_per_frame=split.mel_per_frame, n_mels=split.audio.shape[1], width=net.width,
                   dim=net.dim, n_3d=net.n_3d)


def train(job, data: dict) -> PretrainResult | ProbeResult | tuple:
    """One job: a PretrainJob -> PretrainResult, a ProbeJob -> ProbeResult, a SharedStart -> a PretrainResult per
    job it holds, in its order (see the module docstring)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    keep_freed_memory()  # allocator only: ~1.05x per job, the same numbers (avlib/core/memory.py)
    seed_everything(job.seed)
    if isinstance(job, SharedStart):
        return _pretrain_shared(job, data)
    if isinstance(job, PretrainJob):
        out = _pretrain(job, data)
    elif isinstance(job, ProbeJob):
        out = _downstream(job, data)
    else:
        raise TypeError(f"avts train takes a PretrainJob, SharedStart or ProbeJob, got {type(job).__name__}")
    out.wall_s, out.cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    return out


# --- pretraining ------------------------------------------------------------------------------------

def shift_pairs(split, window: int) -> dict:
    """{|shift|: one same-clip pair per clip shifted by exactly that many frames}, 1..clip_frames - window,
    from a fixed generator (a shift beyond the tolerance is never re-aligned, as in training)."""
    generator = torch.Generator().manual_seed(EVAL_SEED + 1)
    events = Events.of(split)
    return {s: draw(events, len(split), "shift", window, generator, (s, s))
            for s in range(1, split.clip_frames - window + 1)}


def auc_by_shift(model, split, window: int, d_pos: torch.Tensor) -> dict:
    """{|shift|: AUC of -d, the test positives (distances d_pos) against that shift's pairs}."""
    out = {}
    for s, pairs in shift_pairs(split, window).items():
        d = distances(model, split, pairs, window)
        labels = np.r_[np.ones(len(d_pos)), np.zeros(len(d))]
        out[s] = float(roc_auc_score(labels, -torch.cat([d_pos, d]).numpy()))
    return out


@torch.no_grad()
def distances(model: AVTSNet, split, pairs: dict, window: int, batch: int = 128) -> torch.Tensor:
    """d per pair, in eval mode, `batch` pairs at a time: 128 keeps a batch's activations in cache, ~1.7x faster
    than 512 on the val pass every epoch runs (measured: the same bits at 32-512 on AV-Sync's val pairs)."""
    model.eval()
    out = []
    for i in range(0, len(pairs["clip_v"]), batch):
        part = {k: v[i : i + batch] for k, v in pairs.items()}
        video, audio = cut_windows(split.video, split.audio, part, window, split.mel_per_frame)
        out.append(pair_distance(*model(video, audio)))
    return torch.cat(out)


def choose_threshold(d: torch.Tensor, kind: torch.Tensor) -> float:
    """tau maximising balanced accuracy: (share of positives with d < tau + mean over negative kinds of the
    share with d >= tau) / 2. Candidates: midpoints between sorted distances (ties: the smallest tau)."""
    values = torch.sort(d).values.double()
    candidates = torch.cat([values[:1] - 1, (values[1:] + values[:-1]) / 2, values[-1:] + 1])
    pos = (d[kind == 0].double()[None, :] < candidates[:, None]).double().mean(1)
    negs = [(d[kind == k].double()[None, :] >= candidates[:, None]).double().mean(1)
            for k in range(1, len(KINDS)) if (kind == k).any()]
    score = (pos + torch.stack(negs).mean(0)) / 2
    return float(candidates[int(score.argmax())])


def sync_metrics(d: torch.Tensor, kind: torch.Tensor, tau: float) -> dict:
    """Per negative kind: balanced accuracy (positives vs that kind) at tau, and the AUC of -d."""
    pos = d[kind == 0]
    out = {"acc_positive": float((pos < tau).double().mean())}
    for k, name in enumerate(KINDS[1:], start=1):
        neg = d[kind == k]
        out[f"acc_{name}"] = (out["acc_positive"] + float((neg >= tau).double().mean())) / 2
        labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        out[f"auc_{name}"] = float(roc_auc_score(labels, -torch.cat([pos, neg]).numpy()))
    return out


def decay_epoch(job: PretrainJob, at: float | None = None) -> int | None:
    """The first epoch at the decayed lr, or None for a constant lr (lr_decay_at 1.0); `at`: another fraction
    (the second decay's)."""
    at = job.lr_decay_at if at is None else at
    if not 0 < at <= 1:
        raise ValueError(f"lr_decay_at={at}; expected a fraction of the epochs in (0, 1]")
    epoch = round(at * job.epochs)
    return epoch if epoch < job.epochs else None


def decay_epochs(job: PretrainJob) -> list[int]:
    """The epochs from which the lr is multiplied by lr_gamma (once each), in order."""
    if job.lr_second_decay_at < 1 and not job.lr_second_decay_at > job.lr_decay_at:
        raise ValueError(f"lr_second_decay_at={job.lr_second_decay_at}; expected after lr_decay_at="
                         f"{job.lr_decay_at}, or 1.0 (none)")
    return [e for e in (decay_epoch(job), decay_epoch(job, job.lr_second_decay_at)) if e is not None]


def lr_at(epoch: int, job: PretrainJob) -> float:
    return job.lr * job.lr_gamma ** sum(epoch >= e for e in decay_epochs(job))


@dataclass
class _Training:
    """What a pretraining carries from epoch to epoch: copied whole at a SharedStart's fork."""

    model: AVTSNet
    optimizer: torch.optim.Optimizer
    best: BestEpoch
    history: list


def _begin(job: PretrainJob, data: dict) -> _Training:
    model = build_net(job.net, data["train"], job.shifts.window)
    return _Training(model, torch.optim.Adam(model.parameters(), lr=job.lr), BestEpoch(SELECT), [])


def _train_epochs(run: _Training, job: PretrainJob, data: dict, evals: dict, epochs: range) -> None:
    train = data["train"]
    events = Events.of(train)
    model, optimizer = run.model, run.optimizer
    for epoch in epochs:
        lr = lr_at(epoch, job)
        for group in optimizer.param_groups:
            group["lr"] = lr
        hard = hard_fraction(epoch, job.epochs, job.schedule, switch_fraction=job.switch_fraction,
                             hard_share=job.hard_share)
        generator = torch.Generator().manual_seed(job.seed * 100_003 + epoch)
        pairs = sample_pairs(events, epoch_counts(job.pairs_per_epoch, hard), job.shifts, generator)
        order = torch.randperm(len(pairs["y"]), generator=generator)
        model.train()
        total, n = 0.0, 0
        for i in range(0, len(order), job.batch_size):
            part = {k: v[order[i : i + job.batch_size]] for k, v in pairs.items()}
            video, audio = cut_windows(train.video, train.audio, part, job.shifts.window, train.mel_per_frame)
            loss = contrastive_loss(*model(video, audio), part["y"], job.margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, n = total + float(loss.detach()) * len(part["y"]), n + len(part["y"])
        d_val = distances(model, data["val"], evals["val"], job.shifts.window)
        tau = choose_threshold(d_val, evals["val"]["kind"])
        val = sync_metrics(d_val, evals["val"]["kind"], tau)
        val["auc_mean"] = float(np.mean([val[f"auc_{k}"] for k in KINDS[1:]]))
        run.history.append({"epoch": epoch, "hard_fraction": hard, "lr": lr, "loss": total / n, "threshold": tau,
                            **{f"val_{k}": v for k, v in val.items()}})
        run.best.update(run.history[-1], model)


def _result(run: _Training, job: PretrainJob, data: dict, evals: dict) -> PretrainResult:
    model, best = run.model, run.best
    best.restore(model)
    tau = best.record["threshold"]
    d_test = distances(model, data["test"], evals["test"], job.shifts.window)
    test = sync_metrics(d_test, evals["test"]["kind"], tau)
    test["auc_mean"] = float(np.mean([test[f"auc_{k}"] for k in KINDS[1:]]))
    curve = auc_by_shift(model, data["test"], job.shifts.window, d_test[evals["test"]["kind"] == 0])
    return PretrainResult(job=job, val=best.val, test=test, best_epoch=best.epoch, history=run.history,
                          threshold=tau, state={m: {k: v.clone() for k, v in getattr(model, m).state_dict().items()}
                                                for m in ("video", "audio")}, auc_shift=curve)


def _evals(job: PretrainJob, data: dict) -> dict:
    return {s: eval_pairs(data[s], job.shifts) for s in ("val", "test")}


def _pretrain(job: PretrainJob, data: dict) -> PretrainResult:
    run = _begin(job, data)
    evals = _evals(job, data)
    _train_epochs(run, job, data, evals, range(job.epochs))
    return _result(run, job, data, evals)


# --- runs that share their first epochs -------------------------------------------------------------

@dataclass(frozen=True)
class SharedStart:
    """PretrainJobs that draw the same pairs for epochs 0..fork-1: trained once that far, then each from a copy."""

    jobs: tuple  # of PretrainJob: equal but for the schedule
    fork: int

    @property
    def seed(self) -> int:
        return self.jobs[0].seed


def hard_fractions(job: PretrainJob) -> list:
    """The share of hard negatives at every epoch: what, with the seed, decides an epoch's pairs."""
    return [hard_fraction(e, job.epochs, job.schedule, switch_fraction=job.switch_fraction,
                          hard_share=job.hard_share) for e in range(job.epochs)]


def shared_epochs(a: PretrainJob, b: PretrainJob) -> int:
    """How many first epochs a and b train identically: 0 unless they differ in the schedule alone."""
    if replace(a, schedule=b.schedule) != b:
        return 0
    return next((e for e, (x, y) in enumerate(zip(hard_fractions(a), hard_fractions(b), strict=True)) if x != y),
                a.epochs)


def share_starts(jobs: list) -> list:
    """`jobs` with each set that shares first epochs (with the first job of the set) as one SharedStart; the
    others as they are. Longest first: the pool hands them out in this order, so the long ones do not finish
    last."""
    tasks, taken = [], set()
    for i, job in enumerate(jobs):
        if i in taken or not isinstance(job, PretrainJob):
            continue
        mates = [j for j in range(i + 1, len(jobs)) if j not in taken and isinstance(jobs[j], PretrainJob)
                 and shared_epochs(job, jobs[j]) > 0]
        if mates:
            group = (job, *(jobs[j] for j in mates))
            fork = min(shared_epochs(job, other) for other in group[1:])
            taken.update(mates)
            tasks.append(SharedStart(group, fork))
        else:
            tasks.append(job)
    tasks += [job for job in jobs if not isinstance(job, PretrainJob)]
    return sorted(tasks, key=cost, reverse=True)  # stable: equal costs keep the jobs' order


def cost(task) -> int:
    """Epochs trained (a SharedStart: the shared ones once)."""
    if isinstance(task, SharedStart):
        return task.fork + sum(job.epochs - task.fork for job in task.jobs)
    return task.epochs


def _pretrain_shared(task: SharedStart, data: dict) -> tuple:
    """Each job's PretrainResult; its wall and CPU time: its own epochs plus an equal share of the shared ones."""
    start, start_cpu = time.perf_counter(), time.process_time()
    first = task.jobs[0]
    trunk = _begin(first, data)
    evals = _evals(first, data)
    _train_epochs(trunk, first, data, evals, range(task.fork))
    shared_s = (time.perf_counter() - start) / len(task.jobs), (time.process_time() - start_cpu) / len(task.jobs)
    out = []
    for job in task.jobs:
        start, start_cpu = time.perf_counter(), time.process_time()
        run = copy.deepcopy(trunk)  # model, optimizer (its state and its references to the model), selection
        _train_epochs(run, job, data, evals, range(task.fork, job.epochs))
        result = _result(run, job, data, evals)
        result.wall_s = shared_s[0] + time.perf_counter() - start
        result.cpu_s = shared_s[1] + time.process_time() - start_cpu
        out.append(result)
    return tuple(out)


def pretrain_all(jobs: list, data: dict, **engine) -> list:
    """`run_tasks(train, ...)` over `jobs` (`engine`: its keywords), the runs that share first epochs trained
    as one SharedStart; a PretrainResult per job, in `jobs` order, each bit-identical to its job alone."""
    tasks = share_starts(jobs)
    results = {}
    for task, result in zip(tasks, run_tasks(train, tasks, data, **engine), strict=True):
        pairs = zip(task.jobs, result, strict=True) if isinstance(task, SharedStart) else [(task, result)]
        results.update({id(job): r for job, r in pairs})
    return [results[id(job)] for job in jobs]


# --- downstream classification ---------------------------------------------------------------------

def labelled_clips(split, per_class: int) -> torch.Tensor:
    """The first `per_class` clips of each class, in clip order (the same for every seed and init)."""
    keep = [torch.nonzero(split.label == c).flatten()[:per_class] for c in range(split.n_classes)]
    return torch.sort(torch.cat(keep)).values


def clip_windows(split, clips: torch.Tensor, modality: str, window: int) -> torch.Tensor:
    """The non-overlapping windows of each clip: (len(clips) * W, 1, ...) clip-major, W = frames // window."""
    starts = torch.arange(0, split.clip_frames - window + 1, window)
    c = clips.repeat_interleave(len(starts))
    s = starts.repeat(len(clips))
    video, audio = cut_windows(split.video, split.audio, dict(clip_v=c, start_v=s, clip_a=c, start_a=s), window,
                               split.mel_per_frame)
    return video if modality == "video" else audio


def _encoder(job: ProbeJob, split):
    encoder = getattr(build_net(job.net, split, job.window), job.modality)
    if job.state is not None:
        encoder.load_state_dict(job.state)
    return encoder


@torch.no_grad()
def _clip_outputs(fn, x: torch.Tensor, n_windows: int, batch: int = 512) -> torch.Tensor:
    """fn over windows, averaged per clip: (clips * W, ...) -> (clips, D)."""
    out = torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])
    return out.view(-1, n_windows, out.shape[-1]).mean(1)


def _downstream(job: ProbeJob, data: dict) -> ProbeResult:
    train = data["train"]
    n_windows = train.clip_frames // job.window
    clips = {"train": labelled_clips(train, job.labelled_per_class),
             **{s: torch.arange(len(data[s])) for s in ("val", "test")}}
    x = {s: clip_windows(data[s], c, job.modality, job.window) for s, c in clips.items()}
    y = {s: data[s].label[c] for s, c in clips.items()}
    encoder = _encoder(job, train)
    if job.mode == "linear":
        encoder.eval()
        feats = {s: _clip_outputs(encoder.features, x[s], n_windows).numpy() for s in x}
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(feats["train"], y["train"].numpy())
        predicted = clf.predict(feats["test"])
        return ProbeResult(job=job, val={"acc": float(clf.score(feats["val"], y["val"].numpy()))},
                           test={"acc": float((predicted == y["test"].numpy()).mean())}, best_epoch=None,
                           predictions=[int(c) for c in predicted])
    if job.mode != "finetune":
        raise ValueError(f"mode={job.mode!r}; expected 'linear' or 'finetune'")
    model = ClipClassifier(encoder, train.n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=job.lr)
    window_labels = y["train"].repeat_interleave(n_windows)
    generator = torch.Generator().manual_seed(job.seed)
    best, history = BestEpoch("val_acc"), []
    for epoch in range(job.epochs):
        model.train()
        order = torch.randperm(len(window_labels), generator=generator)
        for i in range(0, len(order), job.batch_size):
            idx = order[i : i + job.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x["train"][idx]), window_labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        val = float((_clip_outputs(model, x["val"], n_windows).argmax(1) == y["val"]).double().mean())
        history.append({"epoch": epoch, "val_acc": val})
        best.update(history[-1], model)
    best.restore(model)
    model.eval()
    predicted = _clip_outputs(model, x["test"], n_windows).argmax(1)
    return ProbeResult(job=job, val=best.val, test={"acc": float((predicted == y["test"]).double().mean())},
                       best_epoch=best.epoch, history=history, predictions=predicted.tolist())
