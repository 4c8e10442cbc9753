"""Stage `avqa_attention`: the talk's AVST visualizations. Full AVST is trained once; for test questions of
different types, the spatial-grounding heatmap (softmax over the h x w positions, Sec. 4.2) at the segments
the visual temporal attention weighs most, and the audio and visual temporal attention over the T segments
(Sec. 4.3); the question, predicted and true answer in each row's title, ✓/✗. On AV-Scenes the attention of
every test question is also scored against the scene's truth (`avlib.tasks.qa.grounding`): spatial hit rate on
the asked instrument's region vs chance, temporal mass on its sounding segments vs chance, per question type.

Beside the faithful AVST, a labelled variant with a learned softmax temperature (`avlib.models.avst.VARIANTS`):
both train at every seed of `grounding_seeds`, and their grounding and accuracy are compared by paired
difference over the seeds, Holm-corrected over the comparisons (issue #28: can the published softmax, with no
temperature, concentrate at a 4 x 4 map at all?). The ablation's row without spatial grounding (AV+Q+TG) trains
at the same seeds too, so its temporal attention is scored as well: each ablation row that has attention is
scored against the truth (the rows without TG or SG have none). The figure draws the faithful AVST at `seed`."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from avlib.core.params import Choice, Int, ListOf, ParamError, Schema, Str
from avlib.data.registry import display_name
from avlib.models.avst import LEARNED_TEMPERATURE
from avlib.stages.shared.qa import (  # noqa: F401 - the notebook's
    DATASETS,
    QA_FIELDS,
    SCHEDULE_WITHOUT_SG,
    chosen_lr,
    convergence_line,
    load_data,
    row_job,
    write_runs,
)
from avlib.stages.shared.records import holm_family, resolved
from avlib.stages.shared.stats import format_p, paired_difference
from avlib.tasks.qa.grounding import grounding_by_type, grounding_rows
from avlib.tasks.qa.train import build_qa_model

AVST = "AV+Q+TG+SG"
TG_ONLY = "AV+Q+TG"  # the ablation's row before SG: temporal attention only
MODELS = (AVST, LEARNED_TEMPERATURE, TG_ONLY)  # the faithful model, its labelled variant, the row without SG

PART = ("avqa", 5)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "avqa_attention",
    dataset=Choice(*DATASETS), root=Str(), seed=Int(min=0), grounding_seeds=ListOf(Int(min=0)),
    n_questions=Int(min=6, max=18), top_segments=Int(min=1, max=4),
    lr_from=Str(), **QA_FIELDS, **SCHEDULE_WITHOUT_SG,
)


def check(p):
    if p.seed not in p.grounding_seeds:
        raise ParamError(f"avqa_attention.seed={p.seed}: expected one of grounding_seeds {p.grounding_seeds} (the "
                         "drawn AVST is one of the compared runs)")


PARAMS.rules.append(check)


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["test_all", "shown", "shown_correct"]


def smoke(p):
    p.epochs = p.epochs_without_sg = 1
    p.grounding_seeds = [p.seed]
    return p


def train_jobs(p, lr) -> list:
    """The faithful AVST, its learned-temperature variant and AV+Q+TG at every grounding seed (same lr; each with
    avqa_ablation's schedule for its row: AV+Q+TG has no spatial grounding)."""
    return [row_job(p, model, seed, lr, keep_state=True) for model in MODELS for seed in p.grounding_seeds]


def drawn_run(results, p):
    """The run the figure draws: the faithful AVST at `p.seed`."""
    return next(r for r in results if (r.job.model, r.job.seed) == (AVST, p.seed))


def pick_questions(dataset, n: int) -> list:
    """Test question indices, round-robin over the question types (one per type per round, so the n questions span
    as many types as the split has), each the first question of its type from a video no earlier pick shows, so
    the examples come from different videos (a split's questions are grouped by video: the first question of
    each type mostly falls in one video). A type whose remaining questions all show used videos gives its first
    remaining question. Deterministic: split order only."""
    by_type = [torch.nonzero(dataset.type == t).flatten().tolist() for t in range(len(dataset.types))]
    picked, used_videos = [], set()
    while len(picked) < n and any(by_type):
        for remaining in by_type:
            if len(picked) >= n or not remaining:
                continue
            fresh = [i for i in remaining if int(dataset.video[i]) not in used_videos]
            index = (fresh or remaining)[0]
            remaining.remove(index)
            picked.append(index)
            used_videos.add(int(dataset.video[index]))
    return picked


@torch.no_grad()
def attention_examples(result, dataset, indices: list) -> list:
    """One dict per question: text, type, predicted and true answer, the spatial [T, h, w] and temporal [T]
    attention of the trained AVST or variant (rebuilt from `result.state`)."""
    model = build_qa_model(result.job.model, dataset, hidden=result.job.hidden)
    model.load_state_dict(result.state)
    model.eval()
    batch = dataset.__getitems__(torch.tensor(indices))
    out = model(batch["audio"], batch["visual"], batch["question"])
    h, w = batch["visual"].shape[-2:]
    predictions = out.logits.argmax(-1)
    examples = []
    for i, index in enumerate(indices):
        examples.append({
            "index": index, "video": dataset.video_ids[int(batch["video"][i])],
            "type": dataset.types[int(batch["type"][i])],
            "question": " ".join(dataset.question_vocab.decode_question(batch["question"][i].tolist())),
            "predicted": dataset.answer_vocab.tokens[int(predictions[i])],
            "answer": dataset.answer_vocab.tokens[int(batch["label"][i])],
            "spatial": out.attention["spatial"][i].reshape(-1, h, w).numpy() if "spatial" in out.attention else None,
            "temporal_audio": out.attention["temporal_audio"][i].numpy(),
            "temporal_visual": out.attention["temporal_visual"][i].numpy(),
        })
    return examples


GROUNDING_BATCH = 256  # questions per forward pass when scoring every test question (bounded memory)
GROUNDING_NOTE = ("Every test question with a target (the visible sounding instrument it names, or the scene's only "
                  "one) scored against scenes.json: 'spatial hit' = fraction of the target's sounding segments at "
                  "which its region (left/middle/right: the map's column thirds) has the highest mean spatial "
                  "weight (chance 1/3); 'audio/visual mass' = temporal attention on its sounding segments (chance: "
                  "the fraction of segments it sounds in). n = questions scored per type.")


def grounding_table(result, dataset, root) -> pd.DataFrame | None:
    """`avlib.tasks.qa.grounding` per question type over every test question; None without a scenes.json under
    `root` (real MUSIC-AVQA: no ground truth of where an instrument sounds)."""
    return grounding_pass(result, dataset, root)[0]


def grounding_pass(result, dataset, root) -> tuple[pd.DataFrame | None, float]:
    """(grounding_table, peak): one pass over every test question. peak = the largest spatial weight over the
    positions, times their number (1 = uniform), averaged over segments and questions (scored or not); NaN for
    a model without spatial grounding."""
    scenes = None
    if (Path(root) / "scenes.json").is_file():
        from avlib.data.embedded.avscenes.scenes import read_scenes

        scenes = read_scenes(root)
    rows, peaks = [], []
    for start in range(0, len(dataset), GROUNDING_BATCH):
        indices = list(range(start, min(start + GROUNDING_BATCH, len(dataset))))
        examples = attention_examples(result, dataset, indices)
        peaks += [float(e["spatial"].reshape(len(e["spatial"]), -1).max(1).mean()) * e["spatial"][0].size
                  for e in examples if e["spatial"] is not None]
        if scenes is not None:
            rows.append(grounding_rows(examples, scenes, {i: dataset.records[i].values for i in indices}))
    table = None if scenes is None else grounding_by_type(pd.concat(rows, ignore_index=True) if rows
                                                          else pd.DataFrame())
    return table, math.fsum(peaks) / len(peaks) if peaks else float("nan")


def pooled(table: pd.DataFrame | None) -> dict:
    """A per-type grounding table pooled over its questions (weighted by n); {} when there is none."""
    if table is None or table.empty:
        return {}
    n = table["n"].to_numpy()
    return {c: float(np.average(table[c], weights=n)) for c in ("spatial hit", "audio mass", "visual mass",
                                                                 "mass chance")}


def learned_scale(result) -> float | None:
    """The softmax scale a learned-temperature run ends with (at its selected epoch); None for the faithful model."""
    log_scale = result.state.get("spatial_grounding.log_scale")
    return None if log_scale is None else float(log_scale.exp().clamp(max=100.0))


def variant_frame(results, dataset, root) -> tuple[pd.DataFrame, dict]:
    """(one row per run: model, seed, test accuracy, pooled grounding, spatial peak and learned scale;
    {(model, seed): the run's per-type grounding table}) for every model of MODELS."""
    rows, tables = [], {}
    for r in results:
        table, peak = grounding_pass(r, dataset, root)
        tables[(r.job.model, r.job.seed)] = table
        rows.append({"model": r.job.model, "seed": r.job.seed, "best_epoch": r.best_epoch,
                     "test all": 100 * r.test["all"], "spatial peak": peak,
                     "learned scale": learned_scale(r)} | {k: v for k, v in pooled(table).items()})
    return pd.DataFrame(rows), tables


COMPARED = ("spatial hit", "audio mass", "visual mass", "test all")  # the family Holm corrects over


TEMPORAL = ("audio mass", "visual mass", "test all")  # what SG could change in a model that has TG either way


def variant_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Learned temperature minus faithful, paired by seed, for each of COMPARED the frame holds."""
    return paired_table(frame, LEARNED_TEMPERATURE, AVST, COMPARED, "learned - faithful")


def sg_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """AVST minus AV+Q+TG (what adding SG does to the temporal attention), paired by seed, for each of TEMPORAL."""
    return paired_table(frame, AVST, TG_ONLY, TEMPORAL, "AVST - AV+Q+TG")


def paired_table(frame: pd.DataFrame, a: str, b: str, measures, label: str) -> pd.DataFrame:
    """`a` minus `b` paired by seed for each of `measures` the frame holds (grounding in points of rate, x 100;
    accuracy already in %): mean (column `label`), 95% t half-width, wins, Holm-adjusted p over the measures."""
    by = {m: frame[frame["model"] == m].set_index("seed").sort_index() for m in (a, b)}
    seeds = sorted(set(by[a].index) & set(by[b].index))
    if not seeds:
        return pd.DataFrame(columns=["measure", label, "95% half-width", "seeds up", "Holm p", "resolved"])
    deltas = {c: paired_difference(by[a].loc[seeds, c], by[b].loc[seeds, c], scale=1.0 if c == "test all" else 100.0)
              for c in measures if c in frame.columns}
    adjusted = holm_family(deltas)
    return pd.DataFrame([{"measure": c, label: d.mean, "95% half-width": d.half, "seeds up": f"{d.wins}/{d.n}",
                          "Holm p": adjusted[c], "resolved": resolved(d, adjusted[c])} for c, d in deltas.items()])


VARIANT_NOTE = ("Faithful AVST (the paper's spatial softmax over cosines, no temperature), the labelled variant "
                "'AV+Q+TG+SG, learned temperature' (cosines x a learned scale, CLIP's init 1/0.07 and cap 100) and "
                "the ablation's AV+Q+TG (no SG: no spatial attention), same recipe and lr, paired by seed. Rates x 100 "
                "(points); 'spatial peak' = largest position weight / uniform, averaged over segments and test "
                "questions; Holm over the measures of each comparison.")


def examples_frame(examples) -> pd.DataFrame:
    """The table beside the figure: each question, its answers and where the attention peaks."""
    return pd.DataFrame([{"video": e["video"], "question": e["question"], "type": e["type"],
                          "predicted": e["predicted"],
                          "answer": e["answer"], "correct": e["predicted"] == e["answer"],
                          "peak audio segment": int(np.argmax(e["temporal_audio"])),
                          "peak visual segment": int(np.argmax(e["temporal_visual"])),
                          "max spatial weight": round(float(e["spatial"].max()), 3),
                          "uniform spatial weight": round(1 / e["spatial"][0].size, 3)} for e in examples])


def attention_figure(examples, *, top_segments: int):
    """One row per question: the spatial heatmaps at the `top_segments` most visually attended segments, then
    the audio and visual temporal attention over the segments."""
    import matplotlib.pyplot as plt

    n, cols = len(examples), top_segments + 1
    fig, axes = plt.subplots(n, cols, figsize=(2.4 * cols + 2.4, 2.2 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * top_segments + [2]})
    for row, e in zip(axes, examples, strict=True):
        top = np.argsort(-e["temporal_visual"], kind="stable")[:top_segments]
        for ax, t in zip(row[:top_segments], top, strict=True):
            ax.imshow(e["spatial"][t], cmap="inferno", interpolation="nearest")  # own scale: weights are near uniform
            ax.set_title(f"segment {t} (visual att. {e['temporal_visual'][t]:.2f})", fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
        ax = row[-1]
        segments = np.arange(len(e["temporal_audio"]))
        ax.bar(segments - 0.2, e["temporal_audio"], 0.4, label="audio")
        ax.bar(segments + 0.2, e["temporal_visual"], 0.4, label="visual")
        ax.set_xticks(segments), ax.set_ylim(0, 1), ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, loc="upper right")
        mark = "✓" if e["predicted"] == e["answer"] else "✗"
        ax.set_title(f"{e['type']}: {_wrap(e['question'])}\npredicted {e['predicted']}, true {e['answer']} {mark}",
                     fontsize=7)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int = 60) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line += (" " if line else "") + word
    return "\n".join([*lines, line])


def variant_lines(frame: pd.DataFrame, comparison: pd.DataFrame, sg: pd.DataFrame | None = None) -> list:
    """Findings lines of the comparisons: each model's means (and learned scales), each paired Δ."""
    lines = ["", "## Can the published spatial softmax concentrate? A learned temperature beside it", ""]
    for model in MODELS:
        runs = frame[frame["model"] == model]
        if runs.empty:
            continue
        spatial = (f", spatial peak {runs['spatial peak'].mean():.2f}x uniform" if runs["spatial peak"].notna().any()
                   else ", no spatial attention")
        has_hit = "spatial hit" in runs and runs["spatial hit"].notna().any()
        hit = f", spatial hit {runs['spatial hit'].mean():.3f}" if has_hit else ""
        masses = (f", temporal mass audio {runs['audio mass'].mean():.3f} / visual {runs['visual mass'].mean():.3f}"
                  if "audio mass" in runs else "")
        scale = (f", learned scale {runs['learned scale'].min():.1f}-{runs['learned scale'].max():.1f} (init "
                 f"{1 / 0.07:.1f})" if runs["learned scale"].notna().any() else "")
        lines.append(f"- {model} ({len(runs)} seeds): test all {runs['test all'].mean():.1f}%{spatial}{hit}{masses}"
                     f"{scale}.")
    lines += _delta_lines(comparison, "Learned minus faithful")
    if sg is not None and len(sg):
        lines += ["", "## Does spatial grounding move the temporal attention? AVST against the row without SG", ""]
        lines += _delta_lines(sg, "AVST minus AV+Q+TG")
    return lines


def _delta_lines(table: pd.DataFrame, label: str) -> list:
    out = []
    for row in table.itertuples(index=False):
        half = "" if pd.isna(row[2]) else f" ± {row[2]:.1f}"
        verdict = "resolved" if row.resolved else "not resolved"
        out.append(f"- {label}, {row.measure}: {row[1]:+.1f}{half} points ({row[3]} seeds up; "
                   f"Holm p {format_p(None if pd.isna(row[4]) else row[4])}: {verdict}).")
    return out


def findings(result, examples, *, p, lr, grounding: pd.DataFrame | None = None, variants: list | None = None,
             runs: list | None = None) -> str:
    frame = examples_frame(examples)
    spread = [float(e["spatial"].max()) * e["spatial"][0].size for e in examples]
    peaked = sum(float(e["temporal_visual"].max()) > 1.5 / len(e["temporal_visual"]) for e in examples)
    return "\n".join([
        f"# AVST attention on {display_name(p.dataset)}", "",
        f"- One AVST (seed {p.seed}, width {p.hidden}, {p.epochs} epochs, lr {lr:g} from avqa_ablation's val "
        f"choice), selected at epoch {result.best_epoch}; test accuracy (all) {100 * result.test['all']:.1f}%.",
        f"- {int(frame['correct'].sum())}/{len(frame)} of the shown questions answered correctly; types shown: "
        f"{frame['type'].nunique()}, from {frame['video'].nunique()} videos.",
        f"- Spatial attention: the largest position weight is on average {math.fsum(spread) / len(spread):.1f}x the "
        "uniform weight (1 = no grounding).",
        f"- Visual temporal attention peaks above 1.5x uniform for {peaked}/{len(examples)} questions.",
        grounding_line(grounding), *(variants or []), "", convergence_line(runs or [result]), ""])


def grounding_line(grounding: pd.DataFrame | None) -> str:
    if grounding is None or grounding.empty:
        return ("- Grounding not scored: no scenes.json under the root (real data holds no truth of where an "
                "instrument sounds).")
    n = grounding["n"].to_numpy()
    mean = {c: float(np.average(grounding[c], weights=n)) for c in ("spatial hit", "audio mass", "visual mass",
                                                                    "mass chance")}
    return (f"- Against the scenes' truth ({int(n.sum())} test questions with a target, grounding.md per type): "
            f"spatial hit rate {mean['spatial hit']:.2f} vs chance {1 / 3:.2f}; temporal mass on the target's "
            f"sounding segments {mean['audio mass']:.2f} (audio), {mean['visual mass']:.2f} (visual) vs chance "
            f"{mean['mass chance']:.2f}.")


def run_metrics(result, examples, grounding: pd.DataFrame | None = None, variants: pd.DataFrame | None = None,
                comparison: pd.DataFrame | None = None, sg: pd.DataFrame | None = None) -> dict:
    """metrics.json: the run's test accuracy and selected epoch, the shown examples, and (AV-Scenes) the
    grounding scores pooled over every scored test question: spatial hit rate and temporal masses, each with
    its chance level (weighted by the questions per type); with `variants`, each model's means over its seeds,
    and the paired comparison."""
    out = {"test_all": round(100 * result.test["all"], 3), "best_epoch": result.best_epoch,
           "shown_correct": sum(e["predicted"] == e["answer"] for e in examples), "shown": len(examples)}
    if grounding is not None and len(grounding):
        n = grounding["n"]
        out["grounding"] = {key.replace(" ", "_"): round(float((grounding[key] * n).sum() / n.sum()), 4)
                            for key in ("spatial hit", "spatial chance", "audio mass", "visual mass", "mass chance")}
        out["grounding"]["questions"] = int(n.sum())
    if variants is not None:
        means = variants.drop(columns=["seed", "best_epoch"]).groupby("model", sort=False).mean()
        out["variants"] = {m: {k.replace(" ", "_"): round(float(v), 4) for k, v in row.items() if pd.notna(v)}
                           for m, row in means.iterrows()}
    for key, table in (("learned_minus_faithful", comparison), ("avst_minus_tg", sg)):
        if table is not None:
            out[key] = {row["measure"].replace(" ", "_"): {
                "mean": round(float(row.iloc[1]), 3),
                "half": None if pd.isna(row["95% half-width"]) else round(float(row["95% half-width"]), 3),
                "holm_p": None if pd.isna(row["Holm p"]) else round(float(row["Holm p"]), 4),
                "resolved": bool(row["resolved"])} for _, row in table.iterrows()}
    return out
