"""benchmarks/ensemble.py: the score of the mean of the top-k trials' predictions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from ensemble import ensemble_scores  # noqa: E402


def test_classification_averages_probabilities() -> None:
    y = [0, 1]
    first = np.array([[0.6, 0.4], [0.6, 0.4]])  # right, wrong
    second = np.array([[0.2, 0.8], [0.1, 0.9]])  # wrong, right, and surer
    assert ensemble_scores("classification", y, [first, second]) == [0.5, 0.5]
    third = np.array([[0.9, 0.1], [0.5, 0.5]])
    # mean of three: [0.567, 0.433] -> 0 (right); [0.4, 0.6] -> 1 (right)
    assert ensemble_scores("classification", y, [first, second, third])[-1] == 1.0


def test_regression_averages_values() -> None:
    y = np.array([1.0, 2.0])
    scores = ensemble_scores("regression", y, [np.array([2.0, 3.0]), np.array([0.0, 1.0])])
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(0.0)  # the errors cancel
