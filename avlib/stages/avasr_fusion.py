"""Stage `avasr_fusion`: bilinear audio-visual fusion for speech recognition (Mroueh, Marcheret, Goel, ICASSP
2015, as the talk's notes give it) on the embedded AV-Speech, with an audio-SNR sweep from -15 dB to clean.

Every (seed, SNR) is one `avlib.tasks.asr.train.train` job through `avlib.core.pool.run_tasks`. First the
premise on val (`avlib.tasks.asr.premise`), then the main SNR's table: per model our frame error
(100 - frame accuracy, what the notes call PER: a frame classification error) beside the notes' number, the
edit-distance PER after the phone-loop decoder in its own column, and the paired Δ of both against the jointly
trained concat control, Holm-adjusted over every Δ of the table. The sweep remixes the audio noise at each
level (the loader does it from the stored clean speech; the visual stream is the same at every level).
"""

import matplotlib.pyplot as plt
import pandas as pd

from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.core.pool import run_tasks
from avlib.report import format_ci, ours_column, paper_column
from avlib.report.plots import line_with_band
from avlib.stages.shared.asr import (  # noqa: F401 - history_frame, runs_frame: the notebook's
    CONFIG_FIELDS,
    DATASETS,
    config,
    history_frame,
    load_levels,
    runs_frame,
)
from avlib.stages.shared.asr_store import reuse_asr, stored_stage
from avlib.stages.shared.records import convergence, convergence_sentence, holm_family
from avlib.stages.shared.stats import format_p, paired_difference
from avlib.stages.shared.store_file import train_missing
from avlib.tasks.asr.train import MODELS, AVASRJob

BASELINE = "concat"  # the joint concat control: same towers, same training as the bilinear networks
COMPARED = ("frozen", "bilinear", "factored", "shared", "average")  # the rows with a Δ vs BASELINE
ROW_NAMES = {"audio": "Audio-only DNN", "visual": "Visual-only DNN",
             "frozen": "Feature fusion, frozen towers (the notes' bimodal DNN)",
             "concat": "Concat softmax, towers fine-tuned jointly (control)",
             "bilinear": "Bilinear softmax (bilinear DNN)", "factored": "Factored bilinear softmax",
             "shared": "Factored bilinear, shared within phones", "average": "Average: concat + bilinear posteriors"}
PAPER_KEYS = {"audio": "audio_only_per", "frozen": "bimodal_dnn_concat_per", "average": "bilinear_plus_averaging_per"}
FRAME_ERR, PER = "frame error %", "PER % (edit distance)"
DELTA_ERR, DELTA_PER = "Δ frame error vs concat (paired)", "Δ PER vs concat (paired)"

PART = ("avasr", 1)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "avasr_fusion",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=1),
    snr_levels=ListOf(Float(), min_len=1), main_snr_db=Float(), main_seeds=ListOf(Int(min=0), min_len=1),
    seeds_from=Str(), **CONFIG_FIELDS, workers=Int(min=0),
)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
# (<= 12 numbers: the fused models at the table's SNR; uni-modal rows and the sweep's levels are in metrics.json)
HEADLINE = [f"{m}/{k}" for m in ("concat", "frozen", "bilinear", "factored", "shared", "average")
            for k in ("test_frame_err", "test_per")]


def check(p):
    if p.main_snr_db not in p.snr_levels:
        raise ParamError(f"avasr_fusion.main_snr_db={p.main_snr_db}: expected one of snr_levels {p.snr_levels} "
                         "(the table is the sweep's run at that level)")
    if not p.lr_decay_at > 0:
        raise ParamError(f"avasr_fusion.lr_decay_at={p.lr_decay_at}: expected a fraction of the tower epochs in "
                         "(0, 1] (1.0: a constant lr)")
    missing = [s for s in p.seeds if s not in p.main_seeds]
    if missing:
        raise ParamError(f"avasr_fusion.main_seeds={p.main_seeds}: expected every seed of seeds {p.seeds} among "
                         f"them (the table's level is also the sweep's; {missing} missing)")


PARAMS.rules.append(check)


def smoke(p):
    """Seconds: one seed, one epoch each, the main level only, two decoding penalties, run in this process."""
    p.seeds, p.snr_levels, p.epochs, p.joint_epochs, p.frozen_epochs = p.seeds[:1], [p.main_snr_db], 1, 1, 1
    p.main_seeds = p.seeds
    p.penalties, p.workers = p.penalties[:2], 1
    return p


def load_data(p) -> dict:
    """{snr: {split: AVSpeech}} at every level of the sweep."""
    return load_levels(p.dataset, p.root, p.snr_levels)


def jobs(p) -> list:
    """Every level at the sweep's seeds, then the table's level at its other seeds."""
    cfg = config(p)
    sweep = [AVASRJob(seed=seed, snr_db=snr, config=cfg) for snr in p.snr_levels for seed in p.seeds]
    more = [AVASRJob(seed=seed, snr_db=p.main_snr_db, config=cfg) for seed in p.main_seeds if seed not in p.seeds]
    return sweep + more


def train_or_read(task, p, data: dict) -> tuple[list, set]:
    """(a result per job of `jobs(p)`, in order; the indices read back from `p.seeds_from`): the runs that store
    holds for the very same job on the same data (`asr_store`; only the table's level is stored there) are read,
    the rest trained by `run_tasks(task, ...)` through the run engine."""
    every = jobs(p)  # a job's key holds its level: only the table's level can match the store
    read = reuse_asr(p.seeds_from, every, data=data[p.main_snr_db]) if p.seeds_from else {}
    return train_missing(every, read, lambda todo: run_tasks(task, todo, data, workers=p.workers, desc="avasr"))


def read_back_note(p, results: list, read: set) -> str:
    """One line for the findings: which runs were read back from which stage, which trained here."""
    if not read:
        return "Every run trained here."
    seeds = sorted({results[i].job.seed for i in read})
    return (f"Seeds {seeds} at {p.main_snr_db:g} dB were trained by {stored_stage(p.seeds_from) or 'another stage'} "
            f"(the very same jobs, read back from {p.seeds_from}); the other {len(results) - len(read)} jobs "
            "trained here.")


def chance(dataset) -> float:
    """The majority class's share of a split's frames: the frame accuracy of always answering it."""
    return float(dataset.label.bincount().max()) / len(dataset.label)


def _values(runs: pd.DataFrame, snr: float, model: str, key: str) -> list:
    rows = runs[(runs.snr_db == snr) & (runs.model == model)].sort_values("seed")
    return rows[key].tolist()


def deltas(runs: pd.DataFrame, snr: float) -> dict:
    """{(model, metric): PairedTest} of the table at `snr`: model minus the concat control, per seed, for
    test frame error and test PER (negative = fewer errors than concat)."""
    out = {}
    for model in [m for m in COMPARED if m in set(runs.model)]:
        for key in ("test_frame_err", "test_per"):
            out[model, key] = paired_difference(_values(runs, snr, model, key), _values(runs, snr, BASELINE, key))
    return out


def _delta_cell(d, adjusted) -> str:
    return f"{d} p_Holm={format_p(adjusted)}"


def fusion_table(runs: pd.DataFrame, *, p, reference: dict) -> pd.DataFrame:
    """The main SNR's rows: our frame error beside the notes' (frame-level) PER, our edit-distance PER, and
    the paired Δ of both vs the joint concat control with Holm-adjusted p over every Δ of the table."""
    snr, rows = p.main_snr_db, []
    family = deltas(runs, snr)
    adjusted = holm_family(family)
    for model in [m for m in MODELS if m in set(runs.model)]:
        paper = reference.get(PAPER_KEYS.get(model, ""))
        row = {"model": ROW_NAMES[model],
               ours_column("avspeech", FRAME_ERR): format_ci(_values(runs, snr, model, "test_frame_err")),
               paper_column("IBM AV-ASR", "PER % (frame-level)"): (f"about {paper}" if model == "audio" else
                                                                     f"{paper}") if paper else "–",
               ours_column("avspeech", PER): format_ci(_values(runs, snr, model, "test_per"))}
        for key, column in (("test_frame_err", DELTA_ERR), ("test_per", DELTA_PER)):
            row[column] = _delta_cell(family[model, key], adjusted[model, key]) if (model, key) in family else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def table_note(p, n_classes: int) -> str:
    return (f"Ours: AV-Speech (embedded; eSpeak NG speech, SYNTHETIC rendered-mouth visual stream), audio SNR "
            f"{p.main_snr_db:g} dB, test split, mean ± 95% t-interval over {len(p.main_seeds)} seeds "
            f"({p.main_seeds[0]}-{p.main_seeds[-1]}). Frame error = 100 − "
            f"frame accuracy over {n_classes} (phone, state) classes: the like of the notes' PER, a frame "
            f"classification error over 1328 context states. PER (edit distance) = after a phone-loop Viterbi "
            f"pass (switch penalty chosen on val PER), repeats collapsed, silence dropped. Δ = the row minus the "
            f"joint concat control, paired per seed (negative = fewer errors; (k/n) = seeds where the row has "
            f"MORE errors), two-sided paired-t p Holm-adjusted over all {2 * len(COMPARED)} Δ of this table. Every "
            f"fused network starts from the same two uni-modal towers and the same linear terms and trains "
            f"{p.joint_epochs} epochs with the same Adam (lr {p.joint_lr:g}); frozen keeps the towers fixed and trains "
            f"its softmax {p.frozen_epochs} epochs (its own schedule, chosen on val; params.yaml). Towers "
            f"[{', '.join(map(str, p.hidden))}, {p.bottleneck}], F = {p.rank} (the notes: [500, 500, 200], "
            f"F = 200). Paper: the notes' IBM AV-ASR numbers — a different task and data, compare orderings only.")


def sweep_runs(runs: pd.DataFrame, p) -> pd.DataFrame:
    """The sweep's runs: every level at `p.seeds` (the table's level has more seeds; the sweep compares levels
    over the same seeds)."""
    return runs[runs.seed.isin(p.seeds)]


def sweep_table(runs: pd.DataFrame, levels: list) -> pd.DataFrame:
    """Per SNR: each model's test frame error and PER, and the paired PER reduction of concat vs audio-only
    (`runs`: `sweep_runs`)."""
    rows = []
    for snr in levels:
        row = {"audio SNR dB": snr}
        for model in [m for m in MODELS if m in set(runs.model)]:
            row[f"{model} PER %"] = format_ci(_values(runs, snr, model, "test_per"))
        for model in [m for m in MODELS if m in set(runs.model)]:
            row[f"{model} frame err %"] = format_ci(_values(runs, snr, model, "test_frame_err"))
        if {"audio", BASELINE} <= set(runs.model):
            row["vision gain: audio − concat PER (paired, points)"] = str(
                paired_difference(_values(runs, snr, "audio", "test_per"), _values(runs, snr, BASELINE, "test_per")))
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_figure(runs: pd.DataFrame):
    """PER against audio SNR per model; right: the paired PER change of each bilinear variant vs concat."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    df = runs.assign(**{"test PER %": runs.test_per * 100})
    line_with_band(ax, df, x="snr_db", y="test PER %", hue="model", labels=ROW_NAMES)
    ax.set(xlabel="audio SNR (dB)", title="AV-Speech test PER (edit distance)")
    base = df[df.model == BASELINE].set_index(["snr_db", "seed"])["test PER %"]
    parts = []
    for model in ("bilinear", "factored", "shared", "average"):
        part = df[df.model == model].set_index(["snr_db", "seed"])["test PER %"]
        if len(part):
            parts.append((part - base).rename("PER − concat PER (points)").reset_index().assign(model=model))
    if parts:
        line_with_band(ax2, pd.concat(parts), x="snr_db", y="PER − concat PER (points)", hue="model", labels=ROW_NAMES)
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set(xlabel="audio SNR (dB)", title="vs the joint concat control (paired, 95% t-band)")
    fig.tight_layout()
    return fig


def convergence_check(runs: pd.DataFrame) -> dict:
    """`records.convergence` over every trained run (the average trains nothing), all levels, per group of the
    same epochs: the towers, the frozen-tower softmax (its own `frozen_epochs`) and the fused networks."""
    trained = runs[runs.epochs.notna()]
    towers, frozen = trained.model.isin(["audio", "visual"]), trained.model == "frozen"
    return {group: convergence(frame.astype({"best_epoch": int, "epochs": int, "best_epoch_late": bool}))
            for group, frame in (("towers", trained[towers]), ("frozen-tower softmax", trained[frozen]),
                                 ("fused network", trained[~towers & ~frozen])) if len(frame)}


def run_metrics(runs: pd.DataFrame, p) -> dict:
    out = {}
    for snr in sorted(set(runs.snr_db)):
        for model in sorted(set(runs.model)):
            key = model if snr == p.main_snr_db else f"snr_{snr:g}/{model}"
            out[key] = {name: round(mean_ci(_values(runs, snr, model, name))[0], 4)
                        for name in ("test_per", "test_frame_acc", "test_frame_err")}
    for (model, metric), d in deltas(runs, p.main_snr_db).items():
        out[model][f"delta_{metric}_vs_concat"] = round(d.mean, 4)
    return out


def _interval_text(d) -> str:
    if d.half is None:
        return f"{d.mean:+.1f} points (one seed: no interval)"
    return f"{d.mean:+.1f} ± {d.half:.1f} points (higher on {d.wins}/{d.n} seeds)"


def findings(runs: pd.DataFrame, *, p, premise: str, read_back: str = "") -> str:
    """Numbers read from the runs: the premise, the fair comparison against the joint concat control (Holm) at
    the table's seeds, what freezing the towers costs, the sweep (its seeds only), the convergence check (every
    run)."""
    snr, models = p.main_snr_db, set(runs.model)
    per = {m: mean_ci(_values(runs, snr, m, "test_per"))[0] * 100 for m in models}
    err = {m: mean_ci(_values(runs, snr, m, "test_frame_err"))[0] * 100 for m in models}
    family = deltas(runs, snr)
    adjusted = holm_family(family)
    m = sum(v is not None for v in adjusted.values())
    lines = [f"# Findings: bilinear AV fusion on AV-Speech (audio SNR {snr:g} dB, {len(p.main_seeds)} seeds)", "",
             "AV-Speech is embedded data: real eSpeak NG speech with eSpeak's own phone timings, and a SYNTHETIC "
             "visual stream (a rendered mouth driven by those phones through articulator dynamics, the speech "
             "envelope, timing jitter and pixel noise). None of these numbers is the paper's.", "", f"- {premise}"]
    if read_back:
        lines.append(f"- Runs: {read_back}")
    for model in [x for x in COMPARED if x in models]:
        parts = []
        for key, label in (("test_frame_err", "frame error"), ("test_per", "PER")):
            d, q = family[model, key], adjusted[model, key]
            verdict = ("resolved" if q is not None and q < 0.05 else "not resolved")
            parts.append(f"{label} {_interval_text(d)} vs concat, Holm p = {format_p(q)} ({verdict})")
        lines.append(f"- {ROW_NAMES[model]}: frame error {err[model]:.1f}%, PER {per[model]:.1f}%; " + "; ".join(parts)
                     + ".")
    if BASELINE in models:
        lines.append(f"- The control: concat with jointly fine-tuned towers, frame error {err[BASELINE]:.1f}%, PER "
                     f"{per[BASELINE]:.1f}%. The notes report the bilinear network alone NOT improving on the "
                     f"bimodal DNN and averaging gaining 1.8 points (35.83% -> 34.03%); a Δ above is a claim only "
                     f"where Holm over the {m} comparisons of the table resolves it.")
    sweep, levels = sweep_runs(runs, p), sorted(set(runs.snr_db))
    if len(levels) > 1 and {"audio", BASELINE} <= models:
        gains = {s: paired_difference(_values(sweep, s, "audio", "test_per"), _values(sweep, s, BASELINE, "test_per"))
                 for s in levels}
        audio = {s: 100 * mean_ci(_values(sweep, s, "audio", "test_per"))[0] for s in levels}
        clean = levels[-1]
        helps = gains[clean].excludes_zero and gains[clean].mean > 0
        lines.append(f"- SNR sweep ({', '.join(f'{s:g}' for s in levels)} dB, seeds {list(p.seeds)}): audio-only "
                     f"PER goes from {audio[levels[0]]:.1f}% to {audio[clean]:.1f}%; vision (concat vs audio-only) "
                     "reduces PER by "
                     + "; ".join(f"{s:g} dB {_interval_text(g)}" for s, g in gains.items())
                     + f". The notes' claim that vision helps in clean speech {'holds' if helps else 'is NOT shown'} "
                     f"at {clean:g} dB.")
        bilinear = {s: paired_difference(_values(sweep, s, "bilinear", "test_per"), _values(sweep, s, BASELINE,
                                                                                           "test_per"))
                    for s in levels} if "bilinear" in models else {}
        if bilinear:
            lines.append("- Bilinear minus concat PER per level (not Holm-corrected: descriptive): "
                         + "; ".join(f"{s:g} dB {_interval_text(d)}" for s, d in bilinear.items()) + ".")
    for group, c in convergence_check(runs).items():
        lines.append(f"- {group.capitalize()} runs: {convergence_sentence(c)}")
    return "\n".join(lines) + "\n"
