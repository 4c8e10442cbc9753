"""AVST's attention scored against a scene's ground truth, on synthetic attention maps with known answers."""

import numpy as np
import pytest

from avlib.tasks.qa.grounding import (
    column_regions,
    grounding_by_type,
    grounding_rows,
    spatial_hit_rate,
    target_source,
    temporal_mass,
)

T, H, W = 10, 4, 4


def peaked_map(columns_by_segment: dict) -> np.ndarray:
    """[T, H, W] uniform attention, with extra weight on column c at each segment t of `columns_by_segment`."""
    spatial = np.full((T, H, W), 1.0)
    for t, c in columns_by_segment.items():
        spatial[t, :, c] += 3.0
    return spatial / spatial.sum(axis=(1, 2), keepdims=True)


def test_columns_split_in_thirds():
    assert column_regions(4).tolist() == [0, 1, 1, 2] and column_regions(3).tolist() == [0, 1, 2]
    assert column_regions(14).tolist() == [0] * 5 + [1] * 4 + [2] * 5


def test_spatial_hit_rate_counts_the_segments_where_the_region_ranks_first():
    spatial = peaked_map({0: 3, 1: 3, 2: 0, 3: 1})  # right, right, left, middle
    assert spatial_hit_rate(spatial, "right", [0, 1, 2, 3]) == 0.5
    assert spatial_hit_rate(spatial, "middle", [3]) == 1.0  # region mean, not sum: 2 middle columns of 4
    assert spatial_hit_rate(spatial, "left", [5]) == 0.0  # uniform: a tie is no hit
    assert spatial_hit_rate(spatial, "left", []) is None
    with pytest.raises(ValueError, match="region='top'"):
        spatial_hit_rate(spatial, "top", [0])


def test_temporal_mass_on_the_sounding_segments():
    temporal = np.array([0.5, 0.3, 0.2] + [0.0] * 7)
    assert temporal_mass(temporal, [1, 1, 0] + [0] * 7) == pytest.approx(0.8)
    assert temporal_mass(np.full(T, 0.1), [0] * 5 + [1] * 5) == pytest.approx(0.5)  # uniform = chance
    with pytest.raises(ValueError, match="one weight per segment"):
        temporal_mass(temporal, [1, 0])


def _source(name, region, mask):
    return {"name": name, "visible": region is not None, "region": region, "mask": mask}


LATE = [0] * 5 + [1] * 5
SCENE = {"sources": [_source("violin", "left", LATE), _source("cello", "right", [0] * 10),
                     _source("tuba", None, [1] * 10)]}


def test_the_target_is_the_named_sounding_instrument_or_the_only_one():
    assert target_source(SCENE, ["violin"])["name"] == "violin"
    assert target_source(SCENE, ["cello"]) is None  # named but silent
    assert target_source(SCENE, ["left"])["name"] == "violin"  # no instrument named: the only visible sounding one
    assert target_source(SCENE, ["tuba"]) is None  # off-screen: no region to find


def test_grounding_rows_score_a_known_map_per_type():
    grounded = {"index": 0, "video": "v", "type": "Audio-Visual/Location", "spatial": peaked_map({t: 0 for t in
                range(5, 10)}), "temporal_audio": np.array([0.0] * 5 + [0.2] * 5), "temporal_visual": np.full(T, 0.1)}
    blind = {**grounded, "index": 1, "spatial": peaked_map({t: 3 for t in range(T)})}
    unscored = {**grounded, "index": 2}
    rows = grounding_rows([grounded, blind, unscored], {"v": SCENE}, {0: ["violin"], 1: ["violin"], 2: ["cello"]})
    assert rows["spatial hit"].tolist() == [1.0, 0.0] and rows["target"].tolist() == ["violin (left)"] * 2
    assert rows["audio mass"].tolist() == pytest.approx([1.0, 1.0]) and rows["mass chance"].tolist() == [0.5, 0.5]
    table = grounding_by_type(rows)
    assert table.loc[0, "n"] == 2 and table.loc[0, "spatial hit"] == 0.5 and table.loc[0, "spatial chance"] == 0.333
    assert table.loc[0, "visual mass"] == 0.5
    assert grounding_by_type(rows.iloc[:0]).empty


def test_a_model_without_spatial_grounding_scores_its_temporal_attention_only():
    no_spatial = {"index": 0, "video": "v", "type": "Audio-Visual/Location", "spatial": None,
                  "temporal_audio": np.array([0.0] * 5 + [0.2] * 5), "temporal_visual": np.full(T, 0.1)}
    rows = grounding_rows([no_spatial], {"v": SCENE}, {0: ["violin"]})
    assert np.isnan(rows.loc[0, "spatial hit"]) and rows.loc[0, "audio mass"] == pytest.approx(1.0)
    table = grounding_by_type(rows)
    assert np.isnan(table.loc[0, "spatial hit"]) and table.loc[0, "audio mass"] == 1.0
