import math

import pytest
import torch

from avlib.core.metrics import accuracy, mean_average_precision, mean_ci
from avlib.stages.shared.stats import format_p, holm, holm_verdict, paired_difference, paired_p


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
    assert (d.mean, d.half, d.wins, d.n, d.p) == (pytest.approx(-5.0), None, 0, 1, None)
    assert str(d) == "-5.0 (0/1)" and not d.excludes_zero


def test_paired_difference_needs_equal_lengths():
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([], [])


def test_paired_difference_gives_the_two_sided_paired_t_p_value():
    d = paired_difference([0.80, 0.75, 0.90], [0.70, 0.78, 0.85])
    # t = 4 / (sqrt(43) / sqrt(3)), df 2: the t(2) tail in closed form, p = 1 - t / sqrt(t^2 + 2) = 1 - sqrt(48/134)
    assert d.p == pytest.approx(1 - math.sqrt(48 / 134), rel=1e-9)
    from scipy import stats

    a, b = [0.61, 0.64, 0.60, 0.66], [0.60, 0.61, 0.61, 0.62]
    assert paired_difference(a, b).p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    assert paired_difference([0.6], [0.65]).p is None  # one seed: nothing to test against
    assert paired_p([3.0, 3.0, 3.0]) == 0.0 and paired_p([0.0, 0.0]) == 1.0  # no spread


def test_holm_matches_a_hand_example():
    # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02]  # one comparison: unchanged
    assert holm([]) == []
    assert holm([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])  # None: no p, not counted in m
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_holm_is_monotone_and_never_below_the_raw_p():
    import random

    rng = random.Random(0)
    for _ in range(50):
        p = [rng.random() ** 3 for _ in range(rng.randint(1, 8))]
        adj = holm(p)
        order = sorted(range(len(p)), key=p.__getitem__)
        assert all(adj[i] >= p[i] and adj[i] <= 1 for i in range(len(p)))
        assert all(adj[order[k]] <= adj[order[k + 1]] for k in range(len(p) - 1))


def test_holm_verdict_in_plain_words():
    assert holm_verdict(0.012, 6) == "resolved after Holm correction over 6 comparisons (adjusted p = 0.012)"
    assert holm_verdict(0.3, 6) == "not resolved (adjusted p = 0.300, Holm over 6 comparisons)"
    assert holm_verdict(None, 6).startswith("not resolved (one seed")
    assert format_p(0.0001) == "<0.001" and format_p(None) == "–"
