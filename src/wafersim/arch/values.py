"""Predicates on argument values, shared by every layer's argument checks.

`bool` is a subclass of `int` in Python, so `isinstance(True, int)` holds: a count, size or coordinate
given as `True` would otherwise be taken as 1. NumPy scalars (`np.int64(3)`, `np.float32(0.5)`) are
accepted wherever the Python numbers are, as NumPy users pass them.
"""
from __future__ import annotations

import math

import numpy as np


def is_integer(value: object) -> bool:
    """True for a Python or NumPy integer, False for a bool (and for anything else)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_finite_real(value: object) -> bool:
    """True for a finite Python or NumPy integer or float, False for a bool, NaN, an infinity or a non-number."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))
