"""Training on the wafer (a layer above the runtime and the kernel library).

- `Model` (`Model.mlp(sizes)`, or a list of `Dense`, `LayerNorm` and `TransformerBlock` layers), ending
  in softmax cross-entropy;
- `MemoryX` and `MemoryXSpec`: the host-side weight store (master weights, optimizer state, bytes streamed),
  with the optimizers `SGD` and `Adam`;
- `Trainer`: training on a `Device` in weight-streaming, pipelined or automatic mode, step by step, with a
  `StepReport` of simulated time broken into compute, on-wafer traffic and weight/gradient streaming, and
  a Perfetto timeline of the steps;
- `Trainer.save_checkpoint` / `load_checkpoint` (`checkpoint`): a run saved and resumed bit for bit, in any
  mode (a checkpoint converts between modes);
- `reference.train_reference`: the same training in float64 NumPy, to check against;
- `synthetic_classification`: a small data set.

See docs/training.md.
"""
from .data import synthetic_classification
from .errors import (ActivationsTooLargeError, ModelDoesNotFitError, ModelTooLargeError, TrainingArgumentError,
                     TrainingArgumentTypeError, TrainingError)
from .memoryx import CS2_IO_BYTES_PER_S, SGD, Adam, MemoryX, MemoryXSpec, StreamCounters
from .model import Dense, LayerNorm, Model, TransformerBlock
from .trainer import StepReport, Trainer, default_device

__all__ = [
    "ActivationsTooLargeError", "Adam", "CS2_IO_BYTES_PER_S", "Dense", "LayerNorm", "MemoryX", "MemoryXSpec", "Model",
    "ModelDoesNotFitError", "ModelTooLargeError", "SGD", "StepReport", "StreamCounters", "Trainer",
    "TrainingArgumentError", "TrainingArgumentTypeError", "TrainingError",
    "TransformerBlock",
    "default_device", "synthetic_classification",
]
