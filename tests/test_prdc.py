"""Precision, recall, density and coverage against values computed by hand on 2-d points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.prdc import prdc

# four real points on the unit square: every k = 1 and k = 2 radius is 1
REAL = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
# a central point (inside all four real balls), an outlier, a point near (0, 0)
GENERATED = np.array([[0.5, 0.5], [3.0, 3.0], [0.0, 0.2]])


def test_k1_by_hand():
    """Real balls (radius 1) hold: centre 4 (all), outlier 0, (0, 0.2) 2 ((0,0) and (0,1)).
    Generated k=1 radii: 0.583 (centre, (0, 0.2)), 3.536 (outlier); real points inside a
    generated ball: (0,0) (0.2 from (0, 0.2)) and (1,1) (2.83 from the outlier)."""
    values = prdc(REAL, GENERATED, k=1)
    assert values["Precision"] == pytest.approx(2 / 3)
    assert values["Recall"] == pytest.approx(2 / 4)
    assert values["Density"] == pytest.approx((4 + 0 + 2) / 3 / 1)  # above 1
    assert values["Coverage"] == pytest.approx(1.0)


def test_k2_by_hand():
    """k=2: real radii stay 1; generated radii grow to 3.536 / 4.104 / 4.104, so every real
    point is inside some generated ball; density divides the 6 ball memberships by 3 * 2."""
    values = prdc(REAL, GENERATED, k=2)
    assert values == pytest.approx(
        {"Precision": 2 / 3, "Recall": 1.0, "Density": 1.0, "Coverage": 1.0}
    )


def test_ball_boundary_is_outside_and_order_does_not_matter():
    """A generated point exactly one radius from a real point is not inside its ball."""
    on_boundary = np.array([[2.0, 0.0], [2.0, 1.0], [5.0, 5.0]])  # 1 from (1,0) and (1,1)
    values = prdc(REAL, on_boundary, k=1)
    assert values["Precision"] == 0.0 and values["Coverage"] == 0.0
    shuffled = prdc(REAL[::-1], GENERATED[[2, 0, 1]], k=1)
    assert shuffled == pytest.approx(prdc(REAL, GENERATED, k=1))


def test_too_few_points_give_nan():
    assert all(math.isnan(v) for v in prdc(REAL, GENERATED, k=3).values())
    with pytest.raises(ValueError, match="at least 1"):
        prdc(REAL, GENERATED, k=0)
