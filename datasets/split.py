"""Subject-disjoint train/test splits, seeded and independent of input order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from bench.core.errors import UserError


def check_test_fraction(test_fraction: float) -> float:
    """Return ``test_fraction`` if it lies in (0, 1); a :class:`UserError` otherwise."""
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    return test_fraction


def subject_split(subjects: Iterable[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Assign each distinct subject to ``"train"`` or ``"test"``.

    ``round(test_fraction * n)`` subjects go to test, clamped so that both sides
    get at least one when there are two or more subjects (a single subject goes
    to train). Subjects are ranked by ``sha256(f"{seed}:{subject}")``, so the
    result depends only on the set of subjects and the seed: not on input order,
    platform or library versions.

    Args:
        subjects: subject ids (duplicates allowed).
        test_fraction: share of subjects in the test split, in (0, 1).
        seed: any integer; a different seed gives a different split.
    """
    check_test_fraction(test_fraction)
    unique = sorted(set(subjects))
    if len(unique) < 2:
        return {subject: "train" for subject in unique}
    n_test = min(max(round(test_fraction * len(unique)), 1), len(unique) - 1)
    ranked = sorted(unique, key=lambda s: (hashlib.sha256(f"{seed}:{s}".encode()).hexdigest(), s))
    test = set(ranked[:n_test])
    return {subject: ("test" if subject in test else "train") for subject in unique}
