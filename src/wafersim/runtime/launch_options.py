"""The checks of `Device.launch`'s arguments that need no device: its argument list and its options."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, LaunchError
from .arrays import DeviceArray, DevicePointer


def launch_argument_list(args: Any) -> tuple:
    """`Device.launch`'s `args` as a tuple; one argument given bare (`dev.launch(k, g, b, d)`) or a non-sequence
    is an `ArgumentTypeError` saying to wrap it (it was Python's "'int' object is not iterable", or "device
    arrays cannot be iterated" for a DeviceArray)."""
    if not isinstance(args, (DeviceArray, DevicePointer, numbers.Number, np.generic)):
        try:
            return tuple(args)
        except TypeError:
            pass
    raise ArgumentTypeError(f"launch: args is the sequence of the kernel's arguments (a tuple or list), got "
                            f"{type(args).__name__}: wrap a single argument in a tuple, dev.launch(kernel, grid, "
                            f"block, (x,))", type=type(args).__name__)


def check_launch_options(max_cycles: Any, max_seconds: Any, print_limit: Any, progress: Any, trace: Any,
                         print_output: Any, racecheck: Any = False, keep_state: Any = False) -> None:
    """Refuse launch options of the wrong type or range with a `LaunchError` naming the option."""
    def positive_number(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ArgumentTypeError(f"launch option {name} must be a number or None, got {value!r}", option=name)
        if not value > 0:
            raise LaunchError(f"launch option {name} must be positive, got {value!r}", option=name)

    positive_number("max_cycles", max_cycles)
    positive_number("max_seconds", max_seconds)
    if not isinstance(print_limit, (int, np.integer)) or isinstance(print_limit, bool):
        raise ArgumentTypeError(f"launch option print_limit must be an int, got {print_limit!r}", option="print_limit")
    if print_limit < 0:
        raise LaunchError(f"launch option print_limit must be >= 0, got {print_limit}", option="print_limit")
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ArgumentTypeError(f"launch option progress must be True, False, None or a callable, got {progress!r}",
                                option="progress")
    if not (trace is None or isinstance(trace, (bool, np.bool_))):
        raise ArgumentTypeError(f"launch option trace must be True, False or None, got {trace!r}", option="trace")
    if not isinstance(print_output, (bool, np.bool_)):
        raise ArgumentTypeError(f"launch option print_output must be True or False, got {print_output!r}",
                                option="print_output")
    if not (isinstance(racecheck, (bool, np.bool_)) or (isinstance(racecheck, str) and racecheck == "report")):
        raise ArgumentTypeError(f"launch option racecheck must be True, False or 'report', got {racecheck!r}",
                                option="racecheck")
    if not (isinstance(keep_state, (bool, np.bool_)) or (isinstance(keep_state, str) and keep_state == "all")):
        raise ArgumentTypeError(f"launch option keep_state must be True, False or 'all', got {keep_state!r}",
                                option="keep_state")
