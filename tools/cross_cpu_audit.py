"""Does this machine reproduce the committed results bit for bit? For each training family, the first epoch of one
committed run (the stage's first reported seed; its first model, full AVST for MUSIC-AVQA; no balancing method)
trained here, single-threaded as the engine trains it, against that run's epoch-0 record in the committed
history.csv.

    python tools/cross_cpu_audit.py [STAGE ...]        # default: every stage below

An epoch-0 record holds the first epoch's training logs (loss, rho) and its val (and test) scores: a kernel that
computes other bits on this CPU shows there already, while one epoch is seconds of training. The committed
results name the machine that made them only by its bits, so run this on the machine you want to compare, and
read "differ" as "this machine would not reproduce that stage's committed numbers": `dvc repro --force <stage>`
would change them in the last digits, and maybe a reading. AV-ASR trains its towers, then the fused networks, in
one job: its check trains that job whole and compares every record. Prints one line per stage: identical, or
which columns differ and by how much (the largest relative difference).
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import avlib  # noqa: E402, F401 - the kernel pins, before numpy and torch load

# isort: split
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from avlib.core.runtime import single_threaded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def params(stage: str, module):
    return module.PARAMS.check(yaml.safe_load((ROOT / "params.yaml").read_text())[stage])


def classify(stage: str):
    """t1_fusion's concat run (the positive control: t1's runs were re-trained on an Intel and an AMD host alike)."""
    from avlib.stages import t1_fusion as module
    from avlib.tasks.classify.runs import RunSpec, run_one

    p = params(stage, module)
    data = module.load_data(p)
    train = replace(module.train_config(p), epochs=1)
    seed = p.seeds[0]
    result = run_one(RunSpec("concat", "concat"), seed, data, train=train, model=module.model_kwargs(p), probe=False)
    return result.history, {"label": "concat", "seed": seed}


def clips(stage: str):
    """t2_video / t2_speech: each row's model without OGM-GE (the first row: its first model)."""
    import importlib

    from avlib.stages.shared import plugin
    from avlib.tasks.classify.clips import train

    module = importlib.import_module(f"avlib.stages.{stage}")
    p = params(stage, module)
    data = module.load_data(p)
    job = plugin.table_jobs(p, None, side=module.SIDE)[0]
    result = train(replace(job, config=replace(job.config, epochs=1)), data)
    return result.history, {"label": job.label, "seed": job.seed}


def ave(stage: str):
    from avlib.stages import t4_ave as module
    from avlib.tasks.ave.train import train

    p = params(stage, module)
    data = module.load_data(p)
    config = replace(module.train_config(p), epochs=1)
    job = module.table_jobs(p, {m: None for m in p.models}, config)[0]
    result = train(job, data)
    return result.history, {"run": job.model, "seed": job.seed}


def qa(stage: str):
    from avlib.stages import avqa_ablation as module
    from avlib.tasks.qa.train import train

    p = params(stage, module)
    data = module.load_data(p)
    runs = pd.read_csv(ROOT / "reports" / stage / "runs.csv")
    lr = float(runs[runs.purpose != "lr selection (val only)"].lr.iloc[0])  # the table's lr, chosen on val
    job = replace(module.table_jobs(p, lr)[-len(p.seeds)], epochs=1)  # full AVST (the last row) at the first seed
    result = train(job, data)
    return result.history, {"model": job.model, "seed": job.seed}


def avts(stage: str):
    from avlib.stages import avts_pretrain as module
    from avlib.tasks.avts.train import train

    p = params(stage, module)
    data = module.load_data(p)
    job = replace(module.jobs(p)[0], epochs=1)
    result = train(job, data)
    return result.history, {"schedule": job.schedule, "seed": job.seed}


def asr(stage: str):
    from avlib.stages import avasr_fusion as module
    from avlib.tasks.asr.train import train

    p = params(stage, module)
    job = module.jobs(p)[0]
    result = train(job, {job.snr_db: module.load_levels(p)[job.snr_db]})
    return result.history, {"snr_db": job.snr_db, "seed": job.seed}


CHECKS = {"t1_fusion": classify, "t2_video": clips, "t2_speech": clips, "t4_ave": ave, "avqa_ablation": qa,
          "avts_pretrain": avts, "avasr_fusion": asr}


def compare(history: list, committed: pd.DataFrame, keys: dict, whole: bool) -> dict:
    """{column: largest relative difference} over the compared records' shared numeric columns (empty: identical)."""
    rows = committed
    for k, v in keys.items():
        rows = rows[rows[k] == v]
    if not whole:
        rows, history = rows[rows.epoch == 0], history[:1]
    if len(rows) != len(history):
        raise SystemExit(f"{keys}: {len(rows)} committed records against {len(history)} trained here")
    worst = {}
    for record, (_, row) in zip(history, rows.iterrows(), strict=True):
        for column, value in record.items():
            if column in keys or column not in row or not isinstance(value, int | float) or pd.isna(row[column]):
                continue
            mine, theirs = float(value), float(row[column])
            if mine != theirs:
                gap = abs(mine - theirs) / max(abs(theirs), 1e-30)
                worst[column] = max(worst.get(column, 0.0), gap)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", default=list(CHECKS), help=f"any of {list(CHECKS)}")
    args = parser.parse_args()
    for stage in args.stages:
        if stage not in CHECKS:
            raise SystemExit(f"unknown stage {stage!r}; expected one of {list(CHECKS)}")
        with single_threaded():  # as the engine's workers train every run
            history, keys = CHECKS[stage](stage)
        committed = pd.read_csv(ROOT / "reports" / stage / "history.csv")
        worst = compare(history, committed, keys, whole=stage == "avasr_fusion")
        what = ", ".join(f"{k}={v}" for k, v in keys.items())
        if not worst:
            print(f"{stage:14s} {what}: identical")
        else:
            detail = ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items(), key=lambda kv: -kv[1])[:4])
            print(f"{stage:14s} {what}: DIFFER in {len(worst)} columns (largest relative: {detail})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
