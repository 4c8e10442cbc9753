import math

import pytest
import torch

from avlib.core.metrics import Paired, accuracy, mean_average_precision, mean_ci, paired_difference


def test_accuracy_and_map():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.2, 0.1]])
    labels = torch.tensor([0, 1, 1, 0])
    assert accuracy(logits, labels) == 0.75
    perfect = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert mean_average_precision(perfect, torch.tensor([0, 1])) == pytest.approx(1.0)


# Three samples, labels [0, 0, 1]; softmax score of class 1 = 0.9, 0.2, 0.6 (class 0: 0.1, 0.8, 0.4).
#   class 1 ranking: s0 (neg), s2 (pos), s1 (neg)        -> AP = 1/2
#   class 0 ranking: s1 (pos), s2 (neg), s0 (pos)        -> AP = (1/1 + 2/3) / 2 = 5/6
#   macro = (1/2 + 5/6) / 2 = 2/3
#   micro (all six scores pooled): 0.9-, 0.8+, 0.6+, 0.4-, 0.2-, 0.1+ -> AP = (1/2 + 2/3 + 3/6) / 3 = 5/9
P1 = [0.9, 0.2, 0.6]
LABELS = torch.tensor([0, 0, 1])
MACRO, MICRO = 2 / 3, 5 / 9


def _logits(p1, extra_classes=0):
    two = torch.tensor([[0.0, math.log(p / (1 - p))] for p in p1], dtype=torch.float64)
    return torch.cat([two, torch.full((len(p1), extra_classes), -60.0, dtype=torch.float64)], dim=1)


def test_map_is_the_macro_average_over_classes():
    assert MACRO != pytest.approx(MICRO)
    assert mean_average_precision(_logits(P1), LABELS) == pytest.approx(MACRO)


def test_map_leaves_out_a_class_absent_from_the_labels():
    # classes 2 and 3 never occur: averaged over the two present classes (counted as 0 it would be 1/3)
    assert mean_average_precision(_logits(P1, extra_classes=2), LABELS) == pytest.approx(MACRO)


def test_mean_ci_uses_student_t():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 * 1.0 / 3**0.5, rel=1e-5)  # t(0.975, df=2) * sd / sqrt(n)


def test_mean_ci_of_one_value_has_no_interval():
    assert mean_ci([5.0]) == (5.0, None)
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


def test_paired_difference_matches_a_hand_computation():
    d = paired_difference([0.80, 0.75, 0.90], [0.70, 0.78, 0.85])
    # differences in points: 10, -3, 5 -> mean 4, sd sqrt(43), half = t(0.975, 2) * sd / sqrt(3)
    assert d.mean == pytest.approx(4.0)
    assert d.half == pytest.approx(4.302653 * math.sqrt(43) / math.sqrt(3), rel=1e-5)
    assert (d.wins, d.n) == (2, 3)
    assert str(d) == "+4.0 ± 16.3 (2/3)"
    assert not d.excludes_zero
    tight = paired_difference([0.53, 0.54, 0.55], [0.50, 0.51, 0.52])  # +3 every seed: sd 0
    assert tight.excludes_zero and tight.mean == pytest.approx(3.0) and tight.wins == 3


def test_paired_difference_of_one_seed_has_no_interval():
    d = paired_difference([0.6], [0.65])
    assert d == Paired(mean=pytest.approx(-5.0), half=None, wins=0, n=1)
    assert str(d) == "-5.0 (0/1)" and not d.excludes_zero


def test_paired_difference_needs_equal_lengths():
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([], [])
