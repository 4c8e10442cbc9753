"""Stage `premise_avdigits`: does AV-Digits have the imbalance OGM-GE studies, and how long must its models
train? Measured on val with plain training (no balancing method anywhere in this stage), at pilot seeds that
no table reports, by criteria written down in params.yaml before any OGM-GE run.

Part 1, the data. For each setting of the generator's difficulty knobs tried (`settings`: the speech SNR and
the visual noise, the rest as `base`), audio-only, visual-only and concat are trained, and each criterion is
read on val, averaged over the pilot seeds:
  dominant_early  concat's ρ_audio (s_audio / s_visual over the training batches), mean over the first
                  `early_epochs` epochs, above 1: the dominant modality is learned faster from the start,
                  the condition OGM-GE's modulation acts on;
  weak_gap        the visual encoder inside concat ends at least `gap_min` points below the visual-only
                  model's encoder (the same linear probe, fit on train, scored on val): the weak encoder is
                  under-optimized, the effect OGM-GE sets out to remove;
  room            every uni-modal model's val accuracy within `room` (above chance, below a ceiling).
Reported, not required: concat minus the best uni-modal model (on CREMA-D the paper's concat is *below*
audio-only). The choice rule (`choose_setting`): among the settings meeting every criterion, the largest
weak_gap; if none meets them, the report says so and names none. The data stage's knobs are then set by
hand to the chosen setting (params.yaml says so): this stage never reads a method's result.

Part 2, the schedule. At the chosen setting (else the first), each candidate of `schedules` (lr, epochs,
where the single lr decay falls) trains every model family, and each family (uni-modal: audio-only and
visual-only; fused: concat) gets the candidate with the best mean val accuracy among those that converge:
the best val epoch before the last 20% of the epochs in at least `converged_share` of the family's runs.
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.core.params import Dict, Float, Int, ListOf, ParamError, Schema, device
from avlib.data import load_splits
from avlib.data.embedded.avdigits import AVDigitsConfig, generate_snr_levels
from avlib.tasks.classify.engine import run_specs
from avlib.tasks.classify.fit import TrainConfig
from avlib.tasks.classify.runs import RunSpec

PART = ("ogmge", 8)  # where the reports site shows it: part of the talk, order within it
SETTING = Dict(snr_db=Float(), visual_noise_std=Float(min=0))
SCHEDULE = Dict(lr=Float(positive=True), epochs=Int(min=1), lr_decay_at=Float(positive=True, max=1))
PARAMS = Schema(
    "premise_avdigits",
    base=Dict(seed=Int(min=0), n_train=Int(min=1), n_val=Int(min=1), visual_blur_sigma=Float(min=0),
              visual_occlusion=Int(min=0, max=28), snr_jitter_db=Float(min=0),
              voice_split=ListOf(Float(min=0, max=1), min_len=2, unique=False)),
    settings=ListOf(SETTING), seeds=ListOf(Int(min=0)), early_epochs=Int(min=1), gap_min=Float(min=0),
    room=ListOf(Float(min=0, max=1), min_len=2, unique=True), converged_share=Float(min=0, max=1),
    width=Int(min=1), batch_size=Int(min=1), momentum=Float(min=0, max=1), weight_decay=Float(min=0),
    lr_gamma=Float(positive=True, max=1), pilot=SCHEDULE, schedules=ListOf(SCHEDULE),
    device=device(), workers=Int(min=0),
)
KINDS = ("audio_only", "visual_only", "concat")
FAMILIES = {"uni-modal": ("audio_only", "visual_only"), "fused": ("concat",)}
N_CLASSES = 10


def check(p):
    for s in p.settings:
        if set(s) != {"snr_db", "visual_noise_std"}:
            raise ParamError(f"premise_avdigits.settings: {s}; expected snr_db and visual_noise_std in each")
    for name, value in [("pilot", p.pilot)] + [(f"schedules[{i}]", v) for i, v in enumerate(p.schedules)]:
        if set(value) != {"lr", "epochs", "lr_decay_at"}:
            raise ParamError(f"premise_avdigits.{name}: {value}; expected lr, epochs and lr_decay_at")
    missing = sorted({"seed", "n_train", "n_val", "visual_blur_sigma", "visual_occlusion", "snr_jitter_db",
                      "voice_split"} - set(p.base))
    if missing:
        raise ParamError(f"premise_avdigits.base: missing {missing}; expected every generator knob but the tried ones")
    if not p.room[0] < p.room[1]:
        raise ParamError(f"premise_avdigits.room={p.room}; expected [lowest, highest] val accuracy, lowest first")


PARAMS.rules.append(check)

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["chosen/*", "settings_meeting_criteria"]


def smoke(p):
    """Seconds: two settings, one seed, one candidate schedule of one epoch, a few dozen samples."""
    p.base = {**p.base, "n_train": 64, "n_val": 32}
    p.settings, p.seeds, p.workers = p.settings[:2], p.seeds[:1], 1
    p.pilot = {**p.pilot, "epochs": 1}
    p.schedules = [{**p.schedules[0], "epochs": 1}]
    return p


# --- data ------------------------------------------------------------------------------------------

def config(p, setting: dict) -> AVDigitsConfig:
    """The generator config of one setting: `base`, this setting's knobs, and one test sample (never read:
    the generator draws train and val before test, so they are what the data stage would make)."""
    b = p.base
    return AVDigitsConfig(seed=b["seed"], n_train=b["n_train"], n_val=b["n_val"], n_test=1,
                          visual_blur_sigma=b["visual_blur_sigma"], visual_occlusion=b["visual_occlusion"],
                          snr_jitter_db=b["snr_jitter_db"], voice_split=tuple(b["voice_split"]),
                          snr_db=setting["snr_db"], visual_noise_std=setting["visual_noise_std"])


def generate_settings(p) -> dict:
    """{setting index: {"train", "val"} datasets}, generated into a temporary folder (the speech synthesized
    once per visual-noise value: the SNR acts after synthesis) and loaded into memory."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="avlab-premise-") as tmp:
        by_visual = {}
        for i, s in enumerate(p.settings):
            by_visual.setdefault(s["visual_noise_std"], []).append(i)
        for j, indices in enumerate(by_visual.values()):
            roots = [Path(tmp) / f"v{j}_s{i}" for i in indices]
            generate_snr_levels(roots, [config(p, p.settings[i]) for i in indices], progress=False)
            for i, root in zip(indices, roots, strict=True):
                splits = load_splits("avdigits", root)
                out[i] = {"train": splits["train"], "val": splits["val"], "test": splits["val"]}
    return out  # "test" is val again: fit wants one, and nothing here reads it


def train_config(p, schedule: dict) -> TrainConfig:
    return TrainConfig(epochs=schedule["epochs"], batch_size=p.batch_size, lr=schedule["lr"], momentum=p.momentum,
                       weight_decay=p.weight_decay, lr_decay_at=schedule["lr_decay_at"], lr_gamma=p.lr_gamma,
                       device=p.device)


def train_kinds(p, data: dict, schedule: dict) -> list:
    """Audio-only, visual-only and concat at every pilot seed, plain training, encoders probed on val."""
    specs = [RunSpec(k, k) for k in KINDS]
    return run_specs(specs, p.seeds, data, train=train_config(p, schedule),
                     model={"encoder": "small_cnn", "width": p.width}, workers=p.workers, progress=False)


# --- the criteria ----------------------------------------------------------------------------------

def _by(runs: list, kind: str) -> list:
    return sorted((r for r in runs if r.kind == kind), key=lambda r: r.seed)


def late_share(runs: list) -> float:
    """Share of runs whose best val epoch lies in the last 20% of their epochs (still learning at the end)."""
    late = [r.best_epoch >= int(np.ceil(0.8 * len(r.history))) for r in runs]
    return float(np.mean(late))


def criteria(p, runs: list) -> dict:
    """Every criterion's measurement (val, means over the pilot seeds) and whether it is met."""
    audio, visual, concat = (_by(runs, k) for k in KINDS)
    rho_early = float(np.mean([np.mean([h["rho_audio"] for h in r.history[: p.early_epochs]]) for r in concat]))
    rho_last = float(np.mean([r.history[-1]["rho_audio"] for r in concat]))
    gap = 100 * float(np.mean([v.probe["val"]["visual"] - c.probe["val"]["visual"]
                               for v, c in zip(visual, concat, strict=True)]))
    audio_gap = 100 * float(np.mean([a.probe["val"]["audio"] - c.probe["val"]["audio"]
                                     for a, c in zip(audio, concat, strict=True)]))
    acc = {k: 100 * float(np.mean([r.val["acc"] for r in group])) for k, group in zip(KINDS, (audio, visual, concat),
                                                                                      strict=True)}
    low, high = (100 * x for x in p.room)
    return {
        "audio-only val": acc["audio_only"], "visual-only val": acc["visual_only"], "concat val": acc["concat"],
        "concat - best uni-modal": acc["concat"] - max(acc["audio_only"], acc["visual_only"]),
        "ρ_audio, first epochs": rho_early, "ρ_audio, last epoch": rho_last,
        "visual probe gap": gap, "audio probe gap": audio_gap,
        "dominant_early": rho_early > 1, "weak_gap": gap >= p.gap_min,
        "room": all(low <= acc[k] <= high for k in ("audio_only", "visual_only")),
        "best epoch in last 20%": late_share(runs),
    }


def premise_table(p, results: dict) -> pd.DataFrame:
    """One row per setting tried: its knobs, every criterion's measurement, met or not."""
    rows = [{"snr_db": p.settings[i]["snr_db"], "visual_noise_std": p.settings[i]["visual_noise_std"],
             **criteria(p, runs)} for i, runs in results.items()]
    table = pd.DataFrame(rows)
    table["meets all"] = table[["dominant_early", "weak_gap", "room"]].all(axis=1)
    return table


def choose_setting(table: pd.DataFrame) -> int | None:
    """Among the settings meeting every criterion, the largest visual probe gap (ties: the first); None if none."""
    meeting = table[table["meets all"]]
    return None if meeting.empty else int(meeting["visual probe gap"].idxmax())


# --- the schedule ----------------------------------------------------------------------------------

def schedule_label(s: dict) -> str:
    return f"lr {s['lr']:g}, {s['epochs']} epochs, decay at {s['lr_decay_at']:g}"


def _kind_seed(run) -> tuple:
    return run.kind, run.seed


def schedule_table(p, results: dict) -> pd.DataFrame:
    """One row per (candidate schedule, family): mean val accuracy, the late-best share, converged or not."""
    rows = []
    for i, runs in results.items():
        for family, kinds in FAMILIES.items():
            group = [r for r in runs if r.kind in kinds]
            rows.append({"schedule": schedule_label(p.schedules[i]), "family": family,
                         "val acc": 100 * float(np.mean([r.val["acc"] for r in group])),
                         "best epochs": " ".join(str(r.best_epoch) for r in sorted(group, key=_kind_seed)),
                         "best epoch in last 20%": late_share(group)})
    table = pd.DataFrame(rows)
    table["converges"] = table["best epoch in last 20%"] <= 1 - p.converged_share
    return table


def choose_schedules(table: pd.DataFrame) -> dict:
    """{family: the candidate's label}: the best mean val accuracy among the converging candidates (none
    converging: the best overall, and the note says so)."""
    chosen = {}
    for family, rows in table.groupby("family", sort=False):
        pool = rows[rows["converges"]] if rows["converges"].any() else rows
        chosen[family] = pool.loc[pool["val acc"].idxmax(), "schedule"]
    return chosen


# --- report ----------------------------------------------------------------------------------------

def metrics(premise: pd.DataFrame, chosen: int | None, schedules: pd.DataFrame, chosen_schedules: dict) -> dict:
    out = {"settings_tried": len(premise), "settings_meeting_criteria": int(premise["meets all"].sum())}
    if chosen is not None:
        row = premise.loc[chosen]
        out["chosen"] = {"snr_db": float(row["snr_db"]), "visual_noise_std": float(row["visual_noise_std"]),
                         "visual_probe_gap": round(float(row["visual probe gap"]), 2),
                         "rho_audio_first_epochs": round(float(row["ρ_audio, first epochs"]), 3),
                         "concat_minus_best_unimodal": round(float(row["concat - best uni-modal"]), 2)}
    out["schedule"] = chosen_schedules
    out["schedule_late_best_share"] = {f"{r['family']}, {r['schedule']}": round(float(r["best epoch in last 20%"]), 3)
                                       for _, r in schedules.iterrows()}
    return out


def findings(p, premise: pd.DataFrame, chosen: int | None, schedules: pd.DataFrame, chosen_schedules: dict) -> str:
    lines = ["# Does AV-Digits have the imbalance OGM-GE studies?", "",
             f"Criteria, written before any OGM-GE run, read on val with plain training at pilot seeds {p.seeds} "
             f"(no table reports them): concat's ρ_audio over the first {p.early_epochs} epochs above 1 "
             f"(the dominant modality learned faster from the start); the visual encoder inside concat at least "
             f"{p.gap_min:g} points below the visual-only model's encoder (same linear probe); each uni-modal "
             f"model between {100 * p.room[0]:g}% and {100 * p.room[1]:g}% val.", ""]
    for _, r in premise.iterrows():
        met = [c for c in ("dominant_early", "weak_gap", "room") if r[c]]
        lines.append(f"- SNR {r['snr_db']:+g} dB, visual noise {r['visual_noise_std']:g}: audio-only "
                     f"{r['audio-only val']:.1f}%, visual-only {r['visual-only val']:.1f}%, "
                     f"concat {r['concat val']:.1f}% "
                     f"({r['concat - best uni-modal']:+.1f} vs the best uni-modal); ρ_audio first epochs "
                     f"{r['ρ_audio, first epochs']:.2f}, last {r['ρ_audio, last epoch']:.2f}; visual probe gap "
                     f"{r['visual probe gap']:+.1f}, audio {r['audio probe gap']:+.1f} points. Meets "
                     f"{', '.join(met) if met else 'none'}{' (all)' if r['meets all'] else ''}.")
    lines.append("")
    if chosen is None:
        lines.append("**No setting tried meets every criterion**: on these knobs AV-Digits does not have the "
                     "imbalance OGM-GE studies, and the OGM-GE tables should be read with that in mind.")
    else:
        r = premise.loc[chosen]
        lines.append(f"**Chosen: SNR {r['snr_db']:+g} dB, visual noise {r['visual_noise_std']:g}** (the largest "
                     f"visual probe gap among the {int(premise['meets all'].sum())} settings meeting every "
                     "criterion); the data stage's knobs are these.")
    lines += ["", "## Schedule, per model family, on val", ""]
    for family, label in chosen_schedules.items():
        rows = schedules[schedules["family"] == family]
        converging = rows["converges"].any()
        lines.append(f"- {family}: **{label}**" + ("" if converging else " (no candidate converged by the rule: "
                                                   "the best val accuracy overall)") + ". " + "; ".join(
            f"{r['schedule']}: {r['val acc']:.1f}%, best epoch in the last 20% in "
            f"{100 * r['best epoch in last 20%']:.0f}% of runs" for _, r in rows.iterrows()) + ".")
    return "\n".join(lines) + "\n"
