"""Findings: the sentences a report states, computed from the runs (never typed by hand)."""

from avlib.metrics import mean_ci
from avlib.report import DATASET_NAMES
from avlib.tables import group_runs


def _mean(values) -> float:
    return mean_ci([100 * v for v in values])[0]


def _test(group, key="acc"):
    return _mean([r.fit.test[key] for r in group])


def _probe(group, m):
    return _mean([r.probe["test"][m] for r in group])


def t1_findings(runs: list, *, dataset: str) -> str:
    """What Table 1 shows on our data, next to what the paper claims on CREMA-D."""
    g = group_runs(runs)
    name = DATASET_NAMES.get(dataset, dataset)
    lines = [f"# Findings on {name} (not the paper's data)", ""]
    if "audio_only" in g and "visual_only" in g:
        a, v = _test(g["audio_only"]), _test(g["visual_only"])
        lines.append(f"- Uni-modal models: audio-only {a:.1f}%, visual-only {v:.1f}% "
                     f"({'audio' if a > v else 'visual'} dominant by {abs(a - v):.1f} points; "
                     "paper, CREMA-D: audio 52.5% vs visual 41.9%).")
    if "concat" in g:
        rho = [[h["rho_audio"] for h in r.fit.history] for r in g["concat"]]
        mean_rho = [sum(col) / len(col) for col in zip(*rho, strict=True)]
        early = [str(e) for e, r in enumerate(mean_rho) if r < 1]
        lead = f"visual leads (ρ < 1) in epoch(s) {', '.join(early)}; otherwise " if early else ""
        lines.append(f"- In concat training, {lead}audio dominates: mean ρ_audio = {mean_rho[-1]:.2f} at the "
                     "last epoch (ρ > 1 means audio's score exceeds visual's).")
    if "visual_only" in g and "concat" in g:
        alone, joint = _probe(g["visual_only"], "visual"), _probe(g["concat"], "visual")
        verdict = "under-optimized" if joint < alone else "not under-optimized"
        lines.append(f"- Joint training (concat) leaves the visual encoder {verdict}: its linear probe reaches "
                     f"{joint:.1f}% vs {alone:.1f}% when trained alone (the paper's Fig. 1 claim).")
    gains = []
    for kind in ("baseline", "concat", "sum", "film", "gated"):
        if kind in g and f"{kind}+ogm_ge" in g:
            gains.append((kind, _test(g[f"{kind}+ogm_ge"]) - _test(g[kind])))
    if gains:
        listed = ", ".join(f"{k} {d:+.1f}" for k, d in gains)
        helped = sum(d > 0 for _, d in gains)
        lines.append(f"- OGM-GE changes test accuracy by (points): {listed}. It helps {helped} of {len(gains)} "
                     "fusions here; the paper reports gains for every fusion on CREMA-D (e.g. concat +10.2).")
    ogm = next((k for k in g if k == "concat+ogm_ge"), None)
    if ogm and "concat" in g:
        before, after = _probe(g["concat"], "visual"), _probe(g[ogm], "visual")
        lines.append(f"- OGM-GE moves the visual encoder's probe in concat from {before:.1f}% to {after:.1f}% "
                     f"({after - before:+.1f} points).")
    lines.append("")
    lines.append("Means over seeds; the table gives 95% CIs. Differences inside overlapping CIs are not findings.")
    return "\n".join(lines) + "\n"
