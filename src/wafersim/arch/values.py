"""Predicates on argument values, shared by every layer's argument checks.

`bool` is a subclass of `int` in Python, so `isinstance(True, int)` holds: a count, size or coordinate
given as `True` would otherwise be taken as 1. NumPy scalars (`np.int64(3)`, `np.float32(0.5)`) are
accepted wherever the Python numbers are, as NumPy users pass them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, WaferError


def plural(count: float, word: str, spec: str = ",") -> str:
    """`count` (formatted with `spec`: "," for thousands, "g" for a figure) and `word`, plural unless the
    count is 1: "1 cycle", "2 cycles", "1.5 cycles", "3 launches" (messages of every layer count with it)."""
    ending = "" if count == 1 else "es" if word.endswith(("ch", "sh", "s", "x")) else "s"
    return f"{count:{spec}} {word}{ending}"


def is_integer(value: object) -> bool:
    """True for a Python or NumPy integer, False for a bool (and for anything else)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_finite_real(value: object) -> bool:
    """True for a finite Python or NumPy integer or float, False for a bool, NaN, an infinity or a non-number."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))


def whole_argument(value: Any, name: str, lowest: int = 0, highest: int | None = None, *,
                   type_error: type[WaferError] = ArgumentTypeError, value_error: type[WaferError] = ArgumentError,
                   **fields: Any) -> int:
    """`value` as an int if it is a whole number (`is_integer`) from `lowest` to `highest` (None: no upper
    bound); else a `type_error` (not a whole number: 2.5 would be cut to 2, True taken as 1) or a
    `value_error` (out of range) naming the argument `name`. Layers pass their own error classes and fields."""
    bounds = f">= {lowest}" if highest is None else f"from {lowest} to {highest}"
    if not is_integer(value):
        raise type_error(f"{name} must be a whole number {bounds} given as an int (not a {type(value).__name__}), "
                         f"got {value!r}", **fields)
    if value < lowest or (highest is not None and value > highest):
        raise value_error(f"{name} must be a whole number {bounds}, got {value!r}", **fields)
    return int(value)
