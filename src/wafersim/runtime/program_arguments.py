"""A launch's arguments against what a compiled program reads from each argument word.

`ws.Kernel(program)` launches a program with raw argument words: a float32 parameter given the int 2 would read
the word 0x00000002 as the float 2.8e-45, an int32 parameter given 2.0 would read 1073741824, a `ws.constant`
parameter compiled into the code would ignore another value, and a number where the program reads a device
array's address would address whatever lies there. A program compiled from Python knows what each word is
(`Program.arguments`); such a launch is refused with an error naming the parameter instead of running with
reinterpreted words. Programs written in assembly carry no such record and are launched as given.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import ArgumentTypeError, LaunchError
from ..isa.assembler import ArgumentWord, Program
from ..compiler.values import ARRAY_DTYPES
from .arrays import DeviceArray, is_half_scalar

_ELEMENTS = {"f32": "float32", "i32": "int32", "f16": "float16", "bf16": "bfloat16"}
_WHAT = {"ptr": "a device array", "dim": "an int (a dimension of the array before it)", "i32": "an int",
         "f32": "a float"}


def _is_int(value: Any) -> bool:
    """A number the launch passes as an int word (Python's and NumPy's ints and bools)."""
    return isinstance(value, (bool, np.bool_, int, np.integer)) and not isinstance(value, np.timedelta64)


def _is_float(value: Any) -> bool:
    """A number the launch passes as a float32 word (NumPy's 16-bit floats, ml_dtypes' bfloat16, too)."""
    return isinstance(value, (float, np.floating)) or is_half_scalar(value)


def _fits(kind: str, value: Any) -> bool:
    """Whether `value` is what a word of this kind (`ArgumentWord.kind`, not "constant") holds."""
    if kind == "ptr":
        return not _is_int(value) and not _is_float(value)  # (device arrays and pointers: checked when bound)
    if kind in ("dim", "i32"):
        return _is_int(value)
    return _is_float(value)


def check_program_arguments(program: Program, args: Sequence[Any], words: Sequence[int]) -> None:
    """Refuse arguments that do not fit what `program` reads from their words (`words`: the launch's words of
    `args`, `Device.kernel_argument`); nothing to check for a program without `arguments`. (Every launch of a
    compiled program runs this, @ws.jit's too: messages are built only for a refusal.)"""
    expected = program.arguments
    if expected is None or len(expected) != len(args):  # (a count that differs is refused by the launch)
        return
    for position, (entry, value, word) in enumerate(zip(expected, args, words)):
        kind = entry.kind
        if kind == "constant":
            if (int(word) & 0xFFFFFFFF) != entry.word:
                raise LaunchError(f"argument {position} ({entry.parameter}, a ws.constant parameter) is {value!r}, "
                                  f"but {program.name} was compiled for the value whose word is "
                                  f"0x{entry.word:08x}: a constant parameter's value is part of the program's code; "
                                  f"compile it for this value (kernel.compile_for(...)) or launch the @ws.jit "
                                  f"kernel itself", position=position, parameter=entry.parameter)
            continue
        if kind == "ptr" and isinstance(value, DeviceArray):
            if entry.dtype is not None and ARRAY_DTYPES.get(value.dtype) != entry.dtype:
                raise ArgumentTypeError(f"argument {position} ({entry.parameter}) is a device array of "
                                        f"{value.dtype}, where {program.name} reads "
                                        f"{_ELEMENTS.get(entry.dtype, entry.dtype)} elements: it would read the "
                                        f"array's bits as another type; pass an array of that dtype "
                                        f"(dev.to_device(host.astype(...))), or compile for this one",
                                        position=position, parameter=entry.parameter, expected=entry.dtype)
            continue
        if not _fits(kind, value):
            raise ArgumentTypeError(f"argument {position} ({entry.parameter}) is {type(value).__name__} {value!r}, "
                                    f"where {program.name} reads {_WHAT[kind]}: a program takes raw argument words, "
                                    f"so it would read this value's bits as another type"
                                    + (f"; pass {float(value)!r}" if kind == "f32" and _is_int(value) else
                                       "; pass int(...) of it" if kind in ("i32", "dim") and _is_float(value)
                                       else ""),
                                    position=position, parameter=entry.parameter, expected=kind)
    _check_dimensions(program, expected, args)


def _check_dimensions(program: Program, expected: Sequence[ArgumentWord], args: Sequence[Any]) -> None:
    """Refuse dimensions that describe more elements than the device array before them holds: the kernel's
    bounds checks use the dimensions it is given, so its stores past the array's end would land in whatever
    allocation lies there (another array), silently."""
    for position, (entry, value) in enumerate(zip(expected, args)):
        if entry.kind != "ptr" or not isinstance(value, DeviceArray):
            continue
        sizes = tuple(int(args[k]) for k in range(position + 1, len(args))
                      if expected[k].kind == "dim" and expected[k].parameter == entry.parameter)
        if any(d < 0 for d in sizes) or math.prod(sizes) > math.prod(value.shape):  # (Python ints: exact;
            # `DeviceArray.size` is NumPy's product, a few microseconds a launch)
            name = entry.parameter
            words = (f"argument {position + 1}" if len(sizes) == 1 else
                     f"arguments {position + 1} to {position + len(sizes)}")
            raise LaunchError(f"{words} (the dimensions of {name}): {sizes} describes more elements than the device "
                              f"array given holds (shape {value.shape}): {program.name} would index past its end, "
                              f"into other allocations; pass its shape, {value.shape}, or a smaller one for a part "
                              f"of it", position=position + 1, parameter=name)
