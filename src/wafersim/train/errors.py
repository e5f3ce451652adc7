"""Errors of `wafersim.train`: all `WaferError`s, with the sizes involved as fields."""
from __future__ import annotations

from ..errors import ArgumentError, OutOfMemoryError, WaferError


class TrainingError(WaferError):
    """A model, data set or training option that cannot be used (bad layer sizes, labels, modes)."""


class TrainingArgumentError(TrainingError, ArgumentError):
    """A training option out of its range (a batch size, a height, a learning rate), or parameters
    (`params=`) that do not match the model's tensors: also an `ArgumentError` (and a `ValueError`)."""


class ModelTooLargeError(TrainingError, OutOfMemoryError):
    """Master weights and optimizer state larger than the MemoryX store's capacity."""


class ActivationsTooLargeError(TrainingError, OutOfMemoryError):
    """Activations of a training step that do not fit the wafer's SRAM, or a layer whose product needs a
    block of PEs larger than the wafer."""


class ModelDoesNotFitError(TrainingError, OutOfMemoryError):
    """A model that fits neither on the wafer (pipelined mode) nor in MemoryX with its activations on the
    wafer (weight-streaming mode), raised by ``mode="auto"``; or pipelined mode asked for a model that
    does not fit the wafer's SRAM."""
