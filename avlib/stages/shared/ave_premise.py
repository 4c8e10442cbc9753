"""OGM-GE Table 4's premise in words: the findings line of one model, written from the premise block that stage
premise_avevents puts in its metrics.json (each model's values and criteria met, the thresholds, the seeds).
premise_avevents writes the lines, t4_ave quotes them; stage modules never import each other, so the wording
lives here and reads the metrics alone (the thresholds travel in the block, not as constants)."""

import json
from pathlib import Path

from avlib.tasks.ave.train import MODEL_NAMES

# the criteria in the order findings and tables list them (premise_avevents.premise returns these keys)
CRITERIA = ("fused_in_range", "audio_dominant", "audio_branch_learns", "visual_branch_learns",
            "audio_share_not_constant", "visual_share_not_constant")


def read(path) -> dict | None:
    """The "premise" block of premise_avevents' metrics.json, None when the stage has not run."""
    path = Path(path)
    return json.loads(path.read_text()).get("premise") if path.exists() else None


def _fused(entry: dict, block: dict) -> str:
    low, high = block["fused_range"]
    return f"fused {entry['fused_val']:.1f}% (needs {low:g}-{high:g}%)"


def _dominant(entry: dict, block: dict) -> str:
    return (f"ρ_audio {entry['rho_audio_last']:.2f} at the last epoch (needs > {block['rho_min']:g}; "
            f"{entry['rho_audio_early']:.2f} over the first {block['early_epochs']} epochs)")


def _branch(modality: str):
    def phrase(entry: dict, block: dict) -> str:
        return (f"removing the {modality} branch costs {entry[f'{modality}_ablation_cost']:.1f} points "
                f"(needs ≥ {block['ablation_min']:g})")
    return phrase


def _share(modality: str):
    def phrase(entry: dict, block: dict) -> str:
        majority = block["majority_val"]
        return (f"the {modality} share alone {entry[f'{modality}_share_val']:.1f}% against the majority rate "
                f"{majority:.1f}% (needs ≥ {majority + block['share_margin']:.1f}: not a constant predictor)")
    return phrase


PHRASES = {"fused_in_range": _fused, "audio_dominant": _dominant,
           "audio_branch_learns": _branch("audio"), "visual_branch_learns": _branch("visual"),
           "audio_share_not_constant": _share("audio"), "visual_share_not_constant": _share("visual")}


def sight_line(block: dict) -> str:
    """The data's findings line: whether the frames carry the event's class (the sight probe), in words."""
    data = block.get("sight")
    if data is None:
        return "- Premise (the data): whether sight carries the class was not measured (an older premise_avevents)."
    reading = (f"a linear probe on the frames of val's event segments names the class at {data['probe_val']:.1f}% "
               f"(chance {data['chance']:.1f}%; needs ≥ {data['required']:.1f})")
    if data["sight_carries_class"]:
        return f"- Premise (the data, model-free): met: {reading}: sight carries the class."
    return (f"- Premise (the data, model-free): NOT met: {reading}: the frames say whether something is seen, not "
            "what, so no visual branch can name the class and OGM-GE has no under-optimized visual encoder to help.")


def model_line(model: str, block: dict) -> str:
    """One findings line: which criteria `model` meets and which it fails, in words with the numbers behind them."""
    entry, name = block[model], MODEL_NAMES[model]
    held = [PHRASES[c](entry, block) for c in CRITERIA if entry[c]]
    failed = [PHRASES[c](entry, block) for c in CRITERIA if not entry[c]]
    verdict = f"The premise {'holds' if entry['holds'] else 'does NOT hold'} for {name}."
    return (f"- Premise ({name} without OGM-GE, {block['split']}, mean over seeds {block['seeds']}, "
            f"{block['epochs']} epochs; stage premise_avevents): met: {'; '.join(held) or 'none'}"
            + (f"; NOT met: {'; '.join(failed)}" if failed else "") + f". {event_sentence(entry)}{verdict}")


def event_sentence(entry: dict) -> str:
    """What each share alone says on the event segments (a share can gate without naming classes), or nothing
    when the entry predates these readings."""
    if "visual_event_names_class_val" not in entry:
        return ""
    said = [f"the {m} share names the class on {entry[f'{m}_event_names_class_val']:.0f}% and says background on "
            f"{entry[f'{m}_event_says_background_val']:.0f}%" for m in ("audio", "visual")]
    return f"On the event segments {', '.join(said)}. "
