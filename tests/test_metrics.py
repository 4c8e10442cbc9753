import pytest
import torch

from avlib.metrics import accuracy, mean_average_precision, mean_ci


def test_accuracy_and_map():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.2, 0.1]])
    labels = torch.tensor([0, 1, 1, 0])
    assert accuracy(logits, labels) == 0.75
    perfect = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert mean_average_precision(perfect, torch.tensor([0, 1])) == pytest.approx(1.0)


def test_mean_ci_uses_student_t():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 * 1.0 / 3**0.5, rel=1e-5)  # t(0.975, df=2) * sd / sqrt(n)
    assert mean_ci([5.0]) == (5.0, 0.0)
