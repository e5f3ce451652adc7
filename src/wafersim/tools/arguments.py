"""Argument types shared by the `wafersim demo` and `wafersim bench` command lines (argparse): a bad value
is a usage error naming the option, never a traceback."""
from __future__ import annotations

import argparse

from ..arch.spec import resolve_spec
from ..errors import WaferError


def spec_argument(text: str) -> str:
    """--preset: a preset name (wse2, wse3, dev) or a WaferSpec TOML file (checked; returned as given)."""
    try:
        resolve_spec(text)
    except WaferError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def steps_argument(text: str) -> int:
    """--steps: a whole number of time steps, at least 1."""
    try:
        steps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of steps") from None
    if steps < 1:
        raise argparse.ArgumentTypeError(f"{steps} steps: give at least 1")
    return steps
