"""AVST's attention scored against the ground truth of a generated scene (AV-Scenes' scenes.json).

Spatial: at each segment where the target instrument sounds, the frame's regions (left / middle / right: the
map's columns split in thirds by their centre) ranked by their MEAN attention weight (a region's size does not
count); a hit when the target's region ranks first. Chance: 1 / number of regions.
Temporal: the attention mass on the segments where the target sounds. Chance: the fraction of segments it
sounds in (the mass a uniform attention puts there).
The target of a question: the instrument its values name when exactly one visible source of that type sounds;
else, when the question names none, the scene's only visible sounding source; else no target (not scored).
"""

import numpy as np
import pandas as pd

REGIONS = ("left", "middle", "right")


def column_regions(width: int) -> np.ndarray:
    """The region index (into REGIONS) of each of `width` map columns: by the column centre's third."""
    centres = (np.arange(width) + 0.5) / width
    return np.minimum((centres * len(REGIONS)).astype(int), len(REGIONS) - 1)


def spatial_hit_rate(spatial, region: str, segments) -> float | None:
    """Fraction of `segments` at which `region` has the highest mean weight of `spatial` [T, h, w]; None when no
    segment is given. A tie for first counts as a miss (attention that does not single out the region)."""
    if region not in REGIONS:
        raise ValueError(f"region={region!r}; expected one of {REGIONS}")
    spatial = np.asarray(spatial, dtype=float)
    if spatial.ndim != 3:
        raise ValueError(f"spatial attention of shape {spatial.shape}; expected [T, h, w]")
    columns = column_regions(spatial.shape[-1])
    segments = list(segments)
    if not segments:
        return None
    target, hits = REGIONS.index(region), 0
    for t in segments:
        per_column = spatial[t].mean(axis=0)
        means = np.array([per_column[columns == k].mean() if (columns == k).any() else -np.inf
                          for k in range(len(REGIONS))])
        best = np.flatnonzero(means == means.max())
        hits += int(len(best) == 1 and best[0] == target)
    return hits / len(segments)


def temporal_mass(temporal, mask) -> float:
    """The attention mass of `temporal` [T] (summing to 1) on the segments `mask` [T] marks (1 = sounding)."""
    temporal, mask = np.asarray(temporal, dtype=float), np.asarray(mask, dtype=bool)
    if temporal.shape != mask.shape:
        raise ValueError(f"temporal attention of shape {temporal.shape} and mask of shape {mask.shape}; expected "
                         "one weight per segment")
    return float(temporal[mask].sum())


def target_source(scene: dict, values) -> dict | None:
    """The visible sounding source a question is about (module docstring), or None."""
    sounding = [s for s in scene["sources"] if s["visible"] and any(s["mask"])]
    named = [v for v in values if any(s["name"] == v for s in scene["sources"])]
    if named:
        found = [s for s in sounding if s["name"] == named[0]]
        return found[0] if len(found) == 1 else None
    return sounding[0] if len(sounding) == 1 else None


def grounding_rows(examples, scenes: dict, values_of: dict) -> pd.DataFrame:
    """One row per scored example: its type, the spatial hit rate (and chance), the audio / visual temporal mass
    on the target's sounding segments (and chance). `examples`: dicts with "index", "video", "type", "spatial"
    [T, h, w] (None for a model without spatial grounding: its hit rate is NaN), "temporal_audio",
    "temporal_visual" [T]; `values_of`: {index: the question's template values}."""
    rows = []
    for e in examples:
        source = target_source(scenes[e["video"]], values_of[e["index"]])
        if source is None:
            continue
        mask = np.asarray(source["mask"], dtype=bool)
        rows.append({"type": e["type"], "target": f"{source['name']} ({source['region']})",
                     "spatial hit": (float("nan") if e["spatial"] is None
                                     else spatial_hit_rate(e["spatial"], source["region"], np.flatnonzero(mask))),
                     "spatial chance": 1 / len(REGIONS),
                     "audio mass": temporal_mass(e["temporal_audio"], mask),
                     "visual mass": temporal_mass(e["temporal_visual"], mask),
                     "mass chance": float(mask.mean())})
    return pd.DataFrame(rows)


def grounding_by_type(rows: pd.DataFrame) -> pd.DataFrame:
    """`grounding_rows` averaged per question type, with the number of questions scored."""
    if rows.empty:
        return pd.DataFrame(columns=["type", "n", "spatial hit", "spatial chance", "audio mass", "visual mass",
                                     "mass chance"])
    table = rows.drop(columns="target").groupby("type", sort=True).mean().reset_index()
    table.insert(1, "n", rows.groupby("type", sort=True).size().to_numpy())
    return table.round(3)
