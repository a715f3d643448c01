"""Argument checks shared by the generator and the contact sheet."""

from __future__ import annotations

import numbers

from bench.core.errors import UserError


def check_int(name: str, value: object, minimum: int, where: str = "synthetic data") -> int:
    """``value`` as an int if it is an integer >= ``minimum``; a UserError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
