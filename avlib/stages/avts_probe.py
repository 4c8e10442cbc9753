"""Stage `avts_probe`: downstream clip classification from the AVTS encoders (`avts_pretrain`, `avts_more_seeds`;
Korbar et al. 2018, Sec. 4.2 video fine-tuning on UCF101/HMDB51, Sec. 4.3 audio linear classifier on ESC-50): a
linear probe and fine-tuning, from AVTS-lite, from L3-style pretraining and from scratch, beside the paper's
numbers.

Each (init, modality, protocol) runs at every pretraining seed s of those stages, `probe_draws` times: draw k
at probe seed s + DRAW_STRIDE * k (the head's init, the batch order and, from scratch, the encoder's init), the
scratch run of a draw sharing the pretrained runs' head init and batch order. A seed's number is the mean over
its draws; intervals and paired differences are over the pretraining seeds, the unit that is independent."""

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from avlib.core.metrics import mean_ci
from avlib.core.params import Choice, Float, Int, ListOf, ParamError, Schema, Str
from avlib.data import load_splits
from avlib.data.registry import display_name
from avlib.report import format_ci, ours_column
from avlib.report.plots import bars_with_ci
from avlib.stages.shared.avts import DATASETS, smoke_splits
from avlib.stages.shared.records import late_from, resolved
from avlib.stages.shared.runs import history_frame as runs_history_frame
from avlib.stages.shared.stats import format_p, holm, holm_verdict, paired_difference
from avlib.tasks.avts.train import NetConfig, ProbeJob

SCRATCH = "scratch"
INIT_NAMES = {"curriculum": "AVTS-lite", "mixed": "AVTS-lite, no curriculum", "easy_only": "L3-style",
              SCRATCH: "scratch (random init)"}
MODE_NAMES = {"linear": "linear probe (frozen)", "finetune": "fine-tune"}
MODALITY_TASKS = {"video": "video (the paper: UCF101/HMDB51)", "audio": "audio (the paper: ESC-50)"}
SMOKE_SIZES = {"train": 60, "val": 20, "test": 20}

PART = ("avts", 2)  # where the reports site shows it: part of the talk, order within it
PARAMS = Schema(
    "avts_probe",
    dataset=Choice(*DATASETS), root=Str(), encoders=ListOf(Str(), min_len=1),
    inits=ListOf(Choice("curriculum", "mixed", "easy_only")),
    modalities=ListOf(Choice("video", "audio")), modes=ListOf(Choice("linear", "finetune")),
    labelled_per_class=Int(min=1), epochs=Int(min=1), batch_size=Int(min=2), lr=Float(positive=True),
    probe_draws=Int(min=1), workers=Int(min=0),
)
DRAW_STRIDE = 1000  # draw k of pretraining seed s trains at probe seed s + DRAW_STRIDE * k


# the numbers a researcher compares across experiments (headline.json, `dvc exp show`): paths into metrics.json
HEADLINE = ["*/delta_vs_scratch"]


def smoke(p):
    """Seconds: 2 fine-tuning epochs, 2 labelled clips per class, at most 2 draws, in the notebook's process."""
    p.epochs, p.labelled_per_class, p.workers, p.probe_draws = 2, 2, 1, min(p.probe_draws, 2)
    return p


def load_encoders(p) -> dict:
    """The blobs avts_pretrain and avts_more_seeds saved, as one: every seed of every file. Refused when a file is
    missing, from another data root, lacking an init, built otherwise than the first, or sharing a seed with it."""
    blob = None
    for name in p.encoders:
        part = _load_blob(name, p)
        if blob is None:
            blob = {**part, "seeds": list(part["seeds"]),
                    "encoders": {init: dict(by_seed) for init, by_seed in part["encoders"].items()}}
            continue
        for key in ("window", "net", "smoke"):
            if part[key] != blob[key]:
                raise ParamError(f"avts_probe.encoders: {name} has {key}={part[key]!r}, {p.encoders[0]} "
                                 f"{blob[key]!r}; expected encoders built the same way")
        shared = sorted(set(part["seeds"]) & set(blob["seeds"]))
        if shared:
            raise ParamError(f"avts_probe.encoders: seeds {shared} are in {name} and in an earlier file; expected "
                             "each pretraining seed once")
        blob["seeds"] += list(part["seeds"])
        for init in p.inits:
            blob["encoders"][init].update(part["encoders"][init])
    return blob


def _load_blob(name: str, p) -> dict:
    path = Path(name)
    if not path.is_file():
        raise ParamError(f"avts_probe.encoders: {name!r}: file not found; expected the encoders avts_pretrain or "
                         "avts_more_seeds saves (run `dvc repro avts_probe`: it runs them first)")
    blob = torch.load(path, weights_only=True)
    if Path(blob["root"]) != Path(p.root):
        raise ParamError(f"avts_probe.root={p.root!r}: the encoders in {path} were pretrained on {blob['root']!r}; "
                         "expected the same data")
    if any(not 0 <= s < DRAW_STRIDE for s in blob["seeds"]):
        raise ParamError(f"avts_probe.encoders: {name!r} holds pretraining seeds {blob['seeds']}; expected seeds in "
                         f"0..{DRAW_STRIDE - 1} (a probe draw k trains at seed + {DRAW_STRIDE} k)")
    missing = [i for i in p.inits if i not in blob["encoders"]]
    if missing:
        raise ParamError(f"avts_probe.inits={p.inits}: {path} holds no encoders for {missing} (it has "
                         f"{sorted(blob['encoders'])})")
    return blob


def load_data(p, blob) -> dict:
    data = load_splits(p.dataset, p.root)
    if p.smoke:
        data = smoke_splits(data, SMOKE_SIZES)
    if data["train"].clip_frames % blob["window"]:
        raise ParamError(f"avts_probe: clips of {data['train'].clip_frames} frames do not split into the pretraining "
                         f"windows of {blob['window']}")
    return data


def jobs(p, blob) -> list:
    """Every (init incl. scratch, modality, mode) at each pretraining seed, `probe_draws` times; seed s fine-tunes
    the encoder pretrained at seed s, and the scratch run of a draw shares its head init and batch order."""
    net = NetConfig(**blob["net"])
    out = []
    for init in [*p.inits, SCRATCH]:
        for modality in p.modalities:
            for mode in p.modes:
                for seed in blob["seeds"]:
                    state = None if init == SCRATCH else blob["encoders"][init][seed][modality]
                    out += [ProbeJob(init=init, modality=modality, mode=mode, seed=seed + DRAW_STRIDE * draw,
                                     state=state, window=blob["window"], labelled_per_class=p.labelled_per_class,
                                     epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, net=net)
                            for draw in range(p.probe_draws)]
    return out


def seed_and_draw(probe_seed: int) -> dict:
    """{"seed": the pretraining seed, "draw": k} of a job's probe seed s + DRAW_STRIDE * k."""
    return {"seed": probe_seed % DRAW_STRIDE, "draw": probe_seed // DRAW_STRIDE}


def frame(results: list) -> pd.DataFrame:
    """runs.csv: one row per run, its job's (init, modality, mode, pretraining seed, draw), val and test clip
    accuracy."""
    return pd.DataFrame([{"init": r.job.init, "modality": r.job.modality, "mode": r.job.mode,
                          **seed_and_draw(r.job.seed), "val": r.val["acc"], "test": r.test["acc"],
                          "best_epoch": r.best_epoch, "cpu_s": r.cpu_s}
                         for r in results])


def seed_means(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (init, modality, mode, pretraining seed): val and test clip accuracy averaged over its draws
    (a frame without draws passes through)."""
    return runs.groupby(["init", "modality", "mode", "seed"], as_index=False, sort=False)[["val", "test"]].mean()


def history_frame(results: list) -> pd.DataFrame:
    """history.csv: every fine-tuning run's val clip accuracy per epoch, long, after its init, modality and seed
    (reports/convergence reads it; the linear probe is fit once, it has no epochs)."""
    return runs_history_frame([r for r in results if r.job.mode == "finetune"], history=lambda r: r.history,
                              columns=lambda r: {"init": r.job.init, "modality": r.job.modality,
                                                 **seed_and_draw(r.job.seed)})


def convergence(runs: pd.DataFrame, p) -> str:
    """One line: where the fine-tuning runs' val-selected epochs fall, and how many in the last 20%."""
    best = sorted(int(e) + 1 for e in runs.loc[runs["mode"] == "finetune", "best_epoch"])
    if not best:
        return "Convergence: no fine-tuning runs (the linear probe is fit once)."
    late = sum(e - 1 >= late_from(p.epochs) for e in best)
    return (f"Convergence of fine-tuning: the val-selected epoch (1-based, of {p.epochs}) is {best[0]}-{best[-1]}, "
            f"median {best[len(best) // 2]}; {late}/{len(best)} runs select an epoch in the last 20% "
            f"(>= {late_from(p.epochs) + 1}), where training may not have converged (history.csv; "
            "reports/convergence).")


def agreement(results: list, p) -> pd.DataFrame:
    """agreement.csv: per (modality, mode, seed, draw), AVTS-lite against each other init: both test accuracies and
    the share of test clips the two predict differently. Why: two different encoders can tie in accuracy (a
    count out of the test clips) while predicting differently, or tie because their probes are the same; the
    first is chance, the second a bug, and only the predictions tell which (issue #29's tie)."""
    by = {(r.job.init, r.job.modality, r.job.mode, r.job.seed): r for r in results}
    rows = []
    for (init, modality, mode, seed), r in by.items():
        if init != "curriculum":
            continue
        for other in [i for i in [*p.inits, SCRATCH] if i != "curriculum"]:
            o = by[(other, modality, mode, seed)]
            differ = sum(a != b for a, b in zip(r.predictions, o.predictions, strict=True))
            rows.append({"modality": modality, "mode": mode, **seed_and_draw(seed), "other": other,
                         "acc_avts": r.test["acc"], "acc_other": o.test["acc"],
                         "clips_predicted_differently": differ / max(1, len(r.predictions)),
                         "same_encoder_weights": _same_state(r.job.state, o.job.state)})
    return pd.DataFrame(rows)


def _same_state(a, b) -> bool:
    """Both pretrained states exist and are equal tensor for tensor (a curriculum run that selects an epoch
    before its switch is still the L3-style run of its seed)."""
    return a is not None and b is not None and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _tie_note(agree: pd.DataFrame, modality, mode, other) -> str:
    """Words for a zero-spread tie: chance (predictions differ) or the same probe (they do not)."""
    sel = agree[(agree["modality"] == modality) & (agree["mode"] == mode) & (agree["other"] == other)]
    if sel.empty or not (sel["acc_avts"] == sel["acc_other"]).all():
        return ""
    share = 100 * sel["clips_predicted_differently"].mean()
    if sel["same_encoder_weights"].all():
        return (" — the same encoder weights on every seed (both pretrainings selected the same epoch before the "
                "curriculum's switch): no difference was measured")
    if share == 0:
        return " — identical predictions on every seed from different weights: the two probes act as one (a bug)"
    return (f" — equal accuracy on every seed although the predictions differ on {share:.0f}% of the test clips: "
            "a coincidence of counts, not shared weights")


def _test(runs: pd.DataFrame, init, modality, mode) -> list:
    """Test clip accuracy per pretraining seed (the mean over its draws), in seed order."""
    sel = seed_means(runs[(runs["init"] == init) & (runs["modality"] == modality) & (runs["mode"] == mode)])
    return sel.sort_values("seed")["test"].tolist()


def deltas(runs: pd.DataFrame, p) -> dict:
    """{(modality, mode, init, other): (PairedTest of test accuracy, init minus other; Holm-adjusted p)}: every
    pretraining vs scratch and AVTS-lite vs L3-style (when both are in inits), per modality and protocol; Holm
    over that whole family (the table's comparisons)."""
    pairs = [(modality, mode, init, SCRATCH) for modality in p.modalities for mode in p.modes for init in p.inits]
    if "curriculum" in p.inits and "easy_only" in p.inits:
        pairs += [(modality, mode, "curriculum", "easy_only") for modality in p.modalities for mode in p.modes]
    tests = {key: paired_difference(_test(runs, key[2], key[0], key[1]), _test(runs, key[3], key[0], key[1]))
             for key in pairs}
    adjusted = holm([d.p for d in tests.values()])
    return {key: (d, adj) for (key, d), adj in zip(tests.items(), adjusted, strict=True)}


def _paper(reference: dict) -> dict:
    """{(init, modality, mode): {column: value}}: the paper's numbers on the row they describe."""
    top1, gain = reference["results_top1"], reference["gain_over_scratch_points"]
    return {("curriculum", "video", "finetune"): {"paper (UCF101) top-1": top1["UCF101"],
                                                  "paper (HMDB51) top-1": top1["HMDB51"],
                                                  "paper gain over scratch (UCF101 / HMDB51)":
                                                      f"+{gain['UCF101']} / +{gain['HMDB51']}"},
            ("curriculum", "audio", "linear"): {"paper (ESC-50) top-1": top1["ESC-50"]}}


def probe_table(runs: pd.DataFrame, p, reference: dict) -> pd.DataFrame:
    """One row per (modality, mode, init): test clip accuracy, paired Δ vs scratch, the paper's numbers."""
    paper, rows, family = _paper(reference), [], deltas(runs, p)
    for modality in p.modalities:
        for mode in p.modes:
            for init in [*p.inits, SCRATCH]:
                d, adj = family.get((modality, mode, init, SCRATCH), (None, None))
                rows.append({"task": MODALITY_TASKS[modality], "protocol": MODE_NAMES[mode],
                             "initialisation": INIT_NAMES[init],
                             ours_column(p.dataset, "clip acc"): format_ci(_test(runs, init, modality, mode)),
                             "Δ vs scratch (paired)": "" if d is None else str(d),
                             f"Holm p ({len(family)} comparisons)": "" if d is None else format_p(adj),
                             **paper.get((init, modality, mode), {})})
    return pd.DataFrame(rows)


def table_note(p, blob) -> str:
    return (f"Ours: {display_name(p.dataset)} (embedded) test clips, 10 classes (the clip's digit), "
            f"{p.labelled_per_class} labelled train clips per class; a clip's prediction averages its "
            f"{blob['window']}-frame windows. Linear probe: logistic regression on the frozen pooled conv features; "
            f"fine-tune: encoder + linear head, {p.epochs} epochs (Adam, lr {p.lr}), epoch chosen on val. Encoders "
            f"pretrained at seeds {blob['seeds']} ({', '.join(Path(e).parent.name for e in p.encoders)}); each "
            f"seed's accuracy is the mean over {p.probe_draws} probe "
            "draws (head init, batch order; from scratch also the encoder's init); mean ± 95% t-interval over the "
            "pretraining seeds; Δ = per-seed paired difference with scratch (same draws: same head init, batch "
            "order), its paired-t p Holm-adjusted "
            "over the table's comparisons (each pretraining vs scratch, AVTS-lite vs L3-style). Paper (Korbar et "
            "al. 2018): "
            "AVTS pretrained on Kinetics/AudioSet, UCF101/HMDB51 fine-tuned top-1 (split 1) and ESC-50 with a "
            "linear SVM on conv5 features — a different task and data: compare directions, not values.")


def run_metrics(runs: pd.DataFrame, p) -> dict:
    out, family = {}, deltas(runs, p)
    for modality in p.modalities:
        for mode in p.modes:
            for init in [*p.inits, SCRATCH]:
                mean, half = mean_ci([100 * a for a in _test(runs, init, modality, mode)])
                entry = {"acc": round(mean, 4), "acc_ci95": round(half, 4) if half is not None else None}
                for other, name in ((SCRATCH, "scratch"), ("easy_only", "easy_only")):
                    if (modality, mode, init, other) in family:
                        d, adj = family[(modality, mode, init, other)]
                        entry |= {f"delta_vs_{name}": round(d.mean, 4), f"delta_vs_{name}_wins": d.wins,
                                  f"delta_vs_{name}_p_holm": None if adj is None else round(adj, 4)}
                out[f"{modality}/{mode}/{init}"] = entry
    return out


def _share(agree: pd.DataFrame, modality, mode, other) -> float:
    sel = agree[(agree["modality"] == modality) & (agree["mode"] == mode) & (agree["other"] == other)]
    return float(sel["clips_predicted_differently"].mean())


def bars_figure(runs: pd.DataFrame, p):
    fig, axes = plt.subplots(1, len(p.modalities), figsize=(5 * len(p.modalities), 3.4), sharey=True, squeeze=False)
    means = seed_means(runs)  # the bars' unit is the pretraining seed, as the table's
    df = means.assign(acc=100 * means["test"], init=means["init"].map(INIT_NAMES), mode=means["mode"].map(MODE_NAMES))
    for ax, modality in zip(axes[0], p.modalities, strict=True):
        bars_with_ci(ax, df[df["modality"] == modality], x="mode", y="acc", hue="init")
        ax.set_title(f"{modality}: test clip accuracy (%)", fontsize=9)
    fig.suptitle(f"{display_name(p.dataset)}: downstream classification from pretrained encoders "
                 "(error bars: 95% t over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def summary(family: dict, gain: dict) -> str:
    """One line first: which of the table's comparisons are resolved after Holm, and which way."""
    def name(key) -> str:
        modality, mode, init, other = key
        return f"{modality} {MODE_NAMES[mode]}, {INIT_NAMES[init]} vs {INIT_NAMES[other].split(' (')[0]}"

    done = [f"{name(k)} {d} points" for k, (d, adj) in family.items() if resolved(d, adj)]
    head = (f"Resolved after Holm over the {len(family)} comparisons: " + "; ".join(done) if done
            else f"None of the {len(family)} comparisons is resolved after Holm")
    return (f"{head} (the paper's fine-tuning gains over scratch: +{gain['UCF101']} UCF101, +{gain['HMDB51']} "
            f"HMDB51); the other {len(family) - len(done)} are not resolved.")


def findings(runs: pd.DataFrame, p, reference: dict, agree: pd.DataFrame | None = None) -> str:
    lines = [f"# Findings on {display_name(p.dataset)} (embedded data, not the paper's)", ""]
    gain, family = reference["gain_over_scratch_points"], deltas(runs, p)

    def verdict(d, adj) -> str:
        side = ("a gain, " if d.mean > 0 else "a loss, ") if resolved(d, adj) else ""
        return side + holm_verdict(adj, len(family))

    lines.append(f"- {summary(family, gain)}")
    for modality in p.modalities:
        for mode in p.modes:
            base = _test(runs, SCRATCH, modality, mode)
            lines.append(f"- {modality}, {MODE_NAMES[mode]}: scratch {format_ci(base)}%.")
            for init in p.inits:
                d, adj = family[(modality, mode, init, SCRATCH)]
                lines.append(f"  - {INIT_NAMES[init]}: {format_ci(_test(runs, init, modality, mode))}%, "
                             f"Δ vs scratch {d} — {verdict(d, adj)}.")
            if (modality, mode, "curriculum", "easy_only") in family:
                d, adj = family[(modality, mode, "curriculum", "easy_only")]
                noise = "" if resolved(d, adj) and d.mean > 0 else ": our data does not show AVTS beating L3 here"
                tie = "" if agree is None else _tie_note(agree, modality, mode, "easy_only")
                differ = "" if agree is None or agree.empty else (
                    f"; predictions differ on {100 * _share(agree, modality, mode, 'easy_only'):.0f}% of test clips")
                lines.append(f"  - AVTS-lite vs L3-style: Δ {d} — {verdict(d, adj)}{noise}{tie or differ}.")
    lines += ["", f"- {convergence(runs, p)}"]
    lines += ["", f"The paper reports fine-tuned gains over scratch of +{gain['UCF101']} (UCF101) and "
              f"+{gain['HMDB51']} (HMDB51) points from AVTS pretraining (a different task and data). Where a Δ "
              "above is not resolved after Holm's correction, or negative, our data does not show that claim.",
              "", "Δ: per-seed paired differences (each pretraining seed's accuracy the mean over its "
              f"{p.probe_draws} probe draw(s); mean ± 95% t-interval over the seeds, wins/seeds); "
              "resolved only when its "
              f"paired-t p, Holm-adjusted over the table's {len(family)} comparisons, is < 0.05."]
    return "\n".join(lines) + "\n"
