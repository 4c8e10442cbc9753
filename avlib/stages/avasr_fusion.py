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
from avlib.data import load_dataset
from avlib.report import format_ci, ours_column, paper_column
from avlib.report.plots import line_with_band
from avlib.stages.shared.records import convergence, convergence_sentence, holm_family, late_from
from avlib.stages.shared.runs import history_frame as runs_history_frame
from avlib.stages.shared.stats import format_p, paired_difference
from avlib.tasks.asr.train import MODELS, AVASRConfig, AVASRJob

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

DATASETS = ("avspeech",)  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("avasr", 1)  # where the reports site shows it: part of the talk, order within it
# the training knobs: AVASRConfig's fields by name (each spelled here once, with its check; `config` reads them)
CONFIG_FIELDS = dict(
    hidden=ListOf(Int(min=1), min_len=1, unique=False), bottleneck=Int(min=1), rank=Int(min=1),
    epochs=Int(min=1), joint_epochs=Int(min=1), frozen_epochs=Int(min=1), batch_size=Int(min=1),
    lr=Float(positive=True),
    lr_decay_at=Float(min=0, max=1), lr_gamma=Float(positive=True),
    joint_lr=Float(positive=True), weight_decay=Float(min=0), penalties=ListOf(Float(min=0), min_len=1),
)
PARAMS = Schema(
    "avasr_fusion",
    dataset=Choice(*DATASETS), root=Str(), seeds=ListOf(Int(min=0), min_len=1),
    snr_levels=ListOf(Float(), min_len=1), main_snr_db=Float(), **CONFIG_FIELDS, workers=Int(min=0),
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


PARAMS.rules.append(check)


def smoke(p):
    """Seconds: one seed, one epoch each, the main level only, two decoding penalties, run in this process."""
    p.seeds, p.snr_levels, p.epochs, p.joint_epochs, p.frozen_epochs = p.seeds[:1], [p.main_snr_db], 1, 1, 1
    p.penalties, p.workers = p.penalties[:2], 1
    return p


def config(p) -> AVASRConfig:
    """AVASRConfig from the params of the same names (lists as tuples: the config is frozen)."""
    values = {name: getattr(p, name) for name in CONFIG_FIELDS}
    return AVASRConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_levels(p) -> dict:
    """{snr: {split: AVSpeech}}: the stored speech remixed with the same noise stream at each level."""
    return {snr: {s: load_dataset(p.dataset, p.root, s, snr_db=snr) for s in ("train", "val", "test")}
            for snr in p.snr_levels}


def jobs(p) -> list:
    cfg = config(p)
    return [AVASRJob(seed=seed, snr_db=snr, config=cfg) for snr in p.snr_levels for seed in p.seeds]


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
            f"{p.main_snr_db:g} dB, test split, mean ± 95% t-interval over seeds {p.seeds}. Frame error = 100 − "
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


def sweep_table(runs: pd.DataFrame, levels: list) -> pd.DataFrame:
    """Per SNR: each model's test frame error and PER, and the paired PER reduction of concat vs audio-only."""
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


def findings(runs: pd.DataFrame, *, p, premise: str) -> str:
    """Numbers read from the runs: the premise, the fair comparison against the joint concat control (Holm),
    what freezing the towers costs, the sweep, the convergence check."""
    snr, models = p.main_snr_db, set(runs.model)
    per = {m: mean_ci(_values(runs, snr, m, "test_per"))[0] * 100 for m in models}
    err = {m: mean_ci(_values(runs, snr, m, "test_frame_err"))[0] * 100 for m in models}
    family = deltas(runs, snr)
    adjusted = holm_family(family)
    m = sum(v is not None for v in adjusted.values())
    lines = [f"# Findings: bilinear AV fusion on AV-Speech (audio SNR {snr:g} dB, seeds {p.seeds})", "",
             "AV-Speech is embedded data: real eSpeak NG speech with eSpeak's own phone timings, and a SYNTHETIC "
             "visual stream (a rendered mouth driven by those phones through articulator dynamics, the speech "
             "envelope, timing jitter and pixel noise). None of these numbers is the paper's.", "", f"- {premise}"]
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
    levels = sorted(set(runs.snr_db))
    if len(levels) > 1 and {"audio", BASELINE} <= models:
        gains = {s: paired_difference(_values(runs, s, "audio", "test_per"), _values(runs, s, BASELINE, "test_per"))
                 for s in levels}
        audio = {s: 100 * mean_ci(_values(runs, s, "audio", "test_per"))[0] for s in levels}
        clean = levels[-1]
        helps = gains[clean].excludes_zero and gains[clean].mean > 0
        lines.append(f"- SNR sweep ({', '.join(f'{s:g}' for s in levels)} dB): audio-only PER goes from "
                     f"{audio[levels[0]]:.1f}% to {audio[clean]:.1f}%; vision (concat vs audio-only) reduces PER by "
                     + "; ".join(f"{s:g} dB {_interval_text(g)}" for s, g in gains.items())
                     + f". The notes' claim that vision helps in clean speech {'holds' if helps else 'is NOT shown'} "
                     f"at {clean:g} dB.")
        bilinear = {s: paired_difference(_values(runs, s, "bilinear", "test_per"), _values(runs, s, BASELINE,
                                                                                           "test_per"))
                    for s in levels} if "bilinear" in models else {}
        if bilinear:
            lines.append("- Bilinear minus concat PER per level (not Holm-corrected: descriptive): "
                         + "; ".join(f"{s:g} dB {_interval_text(d)}" for s, d in bilinear.items()) + ".")
    for group, c in convergence_check(runs).items():
        lines.append(f"- {group.capitalize()} runs: {convergence_sentence(c)}")
    return "\n".join(lines) + "\n"
