"""Errors of `wafersim.train`: all `WaferError`s, with the sizes involved as fields."""
from __future__ import annotations

from ..arch.values import whole_argument
from ..errors import ArgumentError, ArgumentTypeError, OutOfMemoryError, WaferError


class TrainingError(WaferError):
    """A model, data set or training call that cannot be used (layers whose sizes do not chain, labels out of
    range, a batch that does not divide the data set); a bad argument is its subclass
    `TrainingArgumentError`."""


class TrainingArgumentError(TrainingError, ArgumentError):
    """A training option out of its range (a batch size, a height, a learning rate, an eps, a mode, precision
    or activation name not among those listed), or parameters
    (`params=`) that do not match the model's tensors: also an `ArgumentError` (and a `ValueError`)."""


class TrainingArgumentTypeError(TrainingArgumentError, ArgumentTypeError):
    """A training call given an argument of the wrong type (a size that is not a whole number, an optimizer
    that is not `SGD` or `Adam`, a callback that cannot be called): also a `ws.ArgumentTypeError` (and a
    `TypeError`)."""


class ModelTooLargeError(TrainingError, OutOfMemoryError):
    """Master weights and optimizer state larger than the MemoryX store's capacity."""


class ActivationsTooLargeError(TrainingError, OutOfMemoryError):
    """Activations of a training step that do not fit the wafer's SRAM, or a layer whose product needs a
    block of PEs larger than the wafer."""


class ModelDoesNotFitError(TrainingError, OutOfMemoryError):
    """A model that fits neither on the wafer (pipelined mode) nor in MemoryX with its activations on the
    wafer (weight-streaming mode), raised by ``mode="auto"``; or pipelined mode asked for a model that
    does not fit the wafer's SRAM."""


def check_whole(value: object, name: str, lowest: int, type_error: type[WaferError] = TrainingArgumentTypeError,
                value_error: type[WaferError] = TrainingArgumentError) -> int:
    """`value` as an int if it is a whole number (Python or NumPy, not a bool) >= `lowest`; else a `type_error`
    (not a whole number) or a `value_error` (too small), naming `name`. `cluster` passes its own classes."""
    return whole_argument(value, name, lowest, type_error=type_error, value_error=value_error, **{_field(name): value})


def check_instance(value: object, kinds: type | tuple[type, ...], name: str, what: str,
                   type_error: type[WaferError] = TrainingArgumentTypeError) -> None:
    """A `type_error` naming `name` unless `value` is one of `kinds` (`what` says what to pass)."""
    if not isinstance(value, kinds):
        raise type_error(f"{name} must be {what}, got {value!r}", **{_field(name): value})


def _field(name: str) -> str:
    """The error's field for an argument named in a message ("Dense(in_features)" -> "in_features")."""
    return name.rstrip(")").split("(")[-1].split(".")[-1] or "value"
