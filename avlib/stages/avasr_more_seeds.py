"""Stage `avasr_more_seeds`: the bilinear AV-ASR table's level (avasr_fusion's `main_snr_db`) at more seeds, for
avasr_fusion.

What avasr_fusion trains per (seed, SNR) — the two towers, the frozen-tower softmax and every fused network, one
`avlib.tasks.asr.train.train` job — at the table's seeds beyond the sweep's, at the table's level only. Its
`trained_runs.json.gz` holds every run, and avasr_fusion reads back each one it would train with the very same
job (`avlib/stages/shared/asr_store.py`). The table, its Δs, Holm's correction and the findings are
avasr_fusion's, over all its seeds. Why another stage: the seeds the PER comparison needs (issue #29; the rule is
in params.yaml, at avasr_fusion) do not fit one 12-minute stage beside the SNR sweep."""

from avlib.core.params import Choice, Float, Int, ListOf, Schema, Str
from avlib.stages.shared.asr import (  # noqa: F401 - the notebook's
    CONFIG_FIELDS,
    DATASETS,
    config,
    history_frame,
    load_levels,
    runs_frame,
)
from avlib.tasks.asr.train import AVASRJob

STAGE = "avasr_more_seeds"
PART = ("avasr", 0.9)  # where the reports site shows it: just before avasr_fusion, which reads its runs
PARAMS = Schema(
    STAGE,
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=1), main_snr_db=Float(),
    **CONFIG_FIELDS, workers=Int(min=0),
)
HEADLINE = ["runs/trained"]  # `dvc exp show`


def smoke(p):
    """Seconds: one seed, one epoch each, two decoding penalties, run in this process."""
    p.seeds, p.epochs, p.joint_epochs, p.frozen_epochs = p.seeds[:1], 1, 1, 1
    p.penalties, p.workers = p.penalties[:2], 1
    return p


def load_level(p) -> dict:
    """{main_snr_db: {split: AVSpeech}}: the table's level only (the shape `train` takes)."""
    return load_levels(p.dataset, p.root, [p.main_snr_db])


def jobs(p) -> list:
    cfg = config(p)
    return [AVASRJob(seed=seed, snr_db=p.main_snr_db, config=cfg) for seed in p.seeds]


def run_metrics(results) -> dict:
    return {"runs": {"trained": len(results), "seeds": sorted(r.job.seed for r in results)}}


def findings(p, results) -> str:
    cpu = sum(r.cpu_s for r in results)
    return (f"# Bilinear AV-ASR: more seeds for avasr_fusion\n\n"
            f"- {len(results)} jobs at audio SNR {p.main_snr_db:g} dB (avasr_fusion's table level), seeds "
            f"{list(p.seeds)}: each trains the two towers, the frozen-tower softmax and every fused network, with "
            "avasr_fusion's knobs (a test keeps them equal), so avasr_fusion reads each run back instead of "
            "training it.\n"
            "- Their table, Δs, Holm's correction and convergence are avasr_fusion's (reports/avasr_fusion), over "
            "these seeds and its own. This stage reads no test number.\n"
            f"- Training CPU time {cpu:.0f} s over {len(results)} jobs ({cpu / max(len(results), 1):.0f} s each).\n")
