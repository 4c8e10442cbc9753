"""Stage `premise_avclips`: does AV-Digits clips have the imbalance OGM-GE studies, for the video models of Table 2
(stage t2_video)? Measured on val with plain training (no OGM-GE anywhere in this stage), at pilot seeds that no
table reports, on t2_video's schedule, by criteria written in params.yaml before any OGM-GE run.

`model` trains plain, audio-only and visual-only (the other input zeroed, same architecture, init and data order):
  dominant  the plain model's rho_audio (s_audio / s_visual on the training batches), mean over the first
            `early_epochs` epochs, > 1 (audio learned faster, as on the paper's Kinetics-Sounds / VGGSound);
  weak_gap  visual-only val acc minus the plain model's visual share val acc >= `gap_min` points (the visual
            encoder under-optimized inside the joint model, what OGM-GE sets out to fix);
  room      audio-only and visual-only val acc within `room`.
The data knobs (params.yaml data_avclips) were chosen by these criteria in a pilot (numbers there), never by an
OGM-GE result; this stage re-reads them and reports whether they hold. t2_video's findings quote its verdict."""

import pandas as pd

from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema
from avlib.models.temporal import VIDEO_KINDS
from avlib.stages.shared import plugin
from avlib.stages.shared.classify import history_frame  # noqa: F401 - the notebook's stage.history_frame
from avlib.stages.shared.longest_first import run_longest_first
from avlib.stages.shared.runs import group_runs
from avlib.tasks.classify.clips import ClipJob, train

DATASETS = plugin.DATASETS  # the datasets this stage reads (their loaders are its DVC deps)
PART = ("ogmge", 9)  # where the reports site shows it: part of the talk, order within it
_COMMON = {k: v for k, v in plugin.COMMON_FIELDS.items()
           if k not in ("alpha_grid", "window_grid", "selection_seed", "ogm_params")}
PARAMS = Schema(
    "premise_avclips",
    model=Choice(*VIDEO_KINDS), **_COMMON, **plugin.VIDEO_FIELDS, early_epochs=Int(min=1), gap_min=Float(min=0),
    room=ListOf(Float(min=0, max=1), min_len=2, unique=True),
)


def check(p):
    if len(p.room) != 2 or not p.room[0] < p.room[1]:
        raise ParamError(f"premise_avclips.room={p.room}; expected [lowest, highest] val accuracy, lowest first")


PARAMS.rules.append(check)

# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["premise/holds", "premise/rho_audio_early", "premise/weak_gap"]
load_data, write_all_runs = plugin.load_data, plugin.write_all_runs


def smoke(p):
    """Seconds: one seed, one epoch, ~100 clips."""
    p.seeds, p.epochs = p.seeds[:1], 1
    return p


ROWS = {"": "plain", "visual": "audio-only", "audio": "visual-only"}  # blanked input -> what remains


def jobs(p) -> list[ClipJob]:
    return [ClipJob(p.model, None, seed, plugin.train_config(p), plugin.model_options(p, side=plugin.VIDEO,
                                                                                         blank=blank))
            for blank in ROWS for seed in p.seeds]


def run(p, data) -> list:
    """Every premise run (plain, audio-only, visual-only at every seed), longest first, in `jobs` order."""
    return run_longest_first(train, jobs(p), data, cost=plugin.run_cost, workers=p.workers,
                             desc="plain, audio-only, visual-only")


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def values(runs: list, early_epochs: int) -> dict:
    """The premise's numbers (val, means over the seeds; accuracies in points): rho_audio_early (the plain
    model's rho_audio over the first `early_epochs` epochs), rho_audio_mean (all epochs), plain_val,
    audio_share_val / visual_share_val (the plain model's modality shares), audio_only_val, visual_only_val,
    weak_gap (visual_only_val - visual_share_val)."""
    groups = group_runs(runs, label=lambda r: r.job.model.get("blank", ""))
    plain, audio_only, visual_only = groups[""], groups["visual"], groups["audio"]
    out = {"rho_audio_early": _mean([_mean([h.get("rho_audio") for h in r.history[:early_epochs]]) for r in plain]),
           "rho_audio_mean": _mean([_mean([h.get("rho_audio") for h in r.history]) for r in plain]),
           "plain_val": 100 * _mean([r.val["acc"] for r in plain]),
           "audio_share_val": 100 * _mean([r.val.get("audio_acc") for r in plain]),
           "visual_share_val": 100 * _mean([r.val.get("visual_acc") for r in plain]),
           "audio_only_val": 100 * _mean([r.val["acc"] for r in audio_only]),
           "visual_only_val": 100 * _mean([r.val["acc"] for r in visual_only])}
    out["weak_gap"] = out["visual_only_val"] - out["visual_share_val"]
    return {k: round(v, 4) for k, v in out.items()}


def checks(values: dict, *, gap_min: float, room) -> dict:
    """Each criterion (module docstring) met or not, and `holds`: all of them."""
    low, high = 100 * room[0], 100 * room[1]
    met = {"dominant": values["rho_audio_early"] > 1, "weak_gap": values["weak_gap"] >= gap_min,
           "room": all(low <= values[k] <= high for k in ("audio_only_val", "visual_only_val"))}
    return met | {"holds": all(met.values())}


def table(values: dict, met: dict, p) -> pd.DataFrame:
    rows = [("dominant", f"rho_audio, first {p.early_epochs} epochs", values["rho_audio_early"], "> 1"),
            ("weak_gap", "visual-only val acc − visual share val acc (points)", values["weak_gap"],
             f">= {p.gap_min:g}"),
            ("room", "audio-only / visual-only val acc (%)",
             f"{values['audio_only_val']:.1f} / {values['visual_only_val']:.1f}",
             f"in [{100 * p.room[0]:g}, {100 * p.room[1]:g}]")]
    return pd.DataFrame([{"criterion": c, "measure": m, "value": round(v, 3) if isinstance(v, float) else v,
                          "required": r, "met": met[c]} for c, m, v, r in rows])


def note(p) -> str:
    return (f"{plugin.ROW_NAMES[p.model]} trained plain, audio-only and visual-only (the other input zeroed), "
            f"{p.epochs} epochs (t2_video's schedule), val, mean over seeds {p.seeds} (no table reports them); "
            "criteria written in params.yaml before any OGM-GE run.")


def metrics(values: dict, met: dict, p) -> dict:
    """metrics.json: the values, each criterion met or not ("checks"), "holds", and what they were read on
    (t2_video's findings quote them)."""
    return {"premise": {**values, "checks": {k: v for k, v in met.items() if k != "holds"}, "holds": met["holds"],
                        "model": p.model, "seeds": list(p.seeds), "epochs": p.epochs,
                        "early_epochs": p.early_epochs, "gap_min": p.gap_min}}


def findings(summary: dict) -> str:
    return "# Findings on AV-Digits clips (not the paper's data)\n\n" + plugin.premise_sentence(summary) + "\n"
