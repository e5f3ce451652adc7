"""A synthetic classification task, and the batches a training run takes from a data set."""
from __future__ import annotations

import functools

import numpy as np

from ..errors import call_checked
from ..kernels.hosting import float32_input
from .errors import TrainingArgumentTypeError, TrainingError, check_whole


@functools.partial(call_checked, error=TrainingArgumentTypeError)
def synthetic_classification(samples: int, features: int, classes: int, seed: int = 0,
                             spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: one random centre per class (standard normal, times 2), samples around it with
    standard deviation `spread`. Returns (x as float32 (samples, features), labels as int32)."""
    for name, value, lowest in (("samples", samples, 1), ("features", features, 1), ("classes", classes, 2)):
        check_whole(value, f"synthetic_classification({name})", lowest)
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.standard_normal((classes, features))
    labels = rng.integers(0, classes, size=samples).astype(np.int32)
    x = centres[labels] + spread * rng.standard_normal((samples, features))
    return x.astype(np.float32), labels


def training_input(x: object) -> np.ndarray:
    """A batch's x as the float32 array a step runs on, by the kernels' input rule (`kernels.hosting.
    float32_input`): complex values (their imaginary part would be lost) are an `ArgumentTypeError`."""
    return float32_input(x, "x")


def check_data(x: np.ndarray, labels: np.ndarray, features: int, classes: int, batch_size: int,
               one_batch: bool = False) -> None:
    """A `TrainingError` unless x is (n, features), labels n ints in [0, classes) and batch_size divides n
    (`one_batch`: n is batch_size, as a step takes)."""
    if x.ndim != 2 or x.shape[1] != features:
        raise TrainingError(f"x must be (samples, {features}), got {x.shape}", shape=x.shape)
    if x.shape[0] == 0:  # (before labels.min(), which NumPy refuses on an empty array with a bare ValueError)
        raise TrainingError(f"x has no samples (shape {x.shape}): a step needs a batch of {batch_size}",
                            shape=x.shape)
    if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise TrainingError(f"labels must be {x.shape[0]} integers, got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= classes:
        bad = int(np.flatnonzero((labels < 0) | (labels >= classes))[0])
        raise TrainingError(f"labels must lie in [0, {classes}) (the model's last layer gives {classes} classes), "
                            f"got {labels[bad]} at index {bad} (values from {labels.min()} to {labels.max()})")
    if one_batch:
        check_batch_rows(x, batch_size)
    elif batch_size < 1 or x.shape[0] % batch_size:
        raise TrainingError(f"batch size {batch_size} must divide the {x.shape[0]} samples", batch_size=batch_size)


def check_batch_rows(x: np.ndarray, batch_size: int) -> None:
    """A `TrainingError` unless x holds exactly one batch: `step` takes one batch, `fit` a whole data set."""
    if x.shape[0] != batch_size:
        raise TrainingError(f"a batch has {batch_size} rows, got {x.shape[0]}: step() takes one batch of "
                            f"batch_size rows (x[:{batch_size}]); fit(x, labels, steps) takes a whole data set",
                            shape=x.shape)


def batch(x: np.ndarray, labels: np.ndarray, batch_size: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch of step `step` (from 0): consecutive rows, cycling through the data set (arrays, or nested
    lists as `step` takes them: `fit` on lists was an AttributeError on `.shape`)."""
    x, labels = np.asarray(x), np.asarray(labels)
    start = (step * batch_size) % x.shape[0]
    return x[start:start + batch_size], labels[start:start + batch_size]
