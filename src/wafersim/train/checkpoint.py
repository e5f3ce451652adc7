"""Training checkpoints: `Trainer.save_checkpoint` / `load_checkpoint` (and a cluster's
`DataParallelTrainer`'s), everything a resumed run needs to continue as if it had never stopped.

**The file** is one NumPy `.npz` of plain arrays, read with `allow_pickle=False` (loading runs no code), as
`Device.save` writes devices (`runtime.checkpoint`); it is written beside its path and renamed, so a crash
leaves no half file:

- `meta`: a JSON document (a 0-d string array): the format name and version, the trainer and its mode,
  precision and batch size, the model's layers (type and sizes), the optimizer (type and
  hyperparameters), `steps` (the batch position: the next step takes batch `steps`), the optimizer's own
  step count (Adam's bias correction), and each tensor's name, shape and optimizer-state slots;
- `param_<k>`: the k-th tensor's float32 weights (the model's names, ``"0.w"``, ``"1.gamma"``, ...);
- `state_<k>_<slot>`: its float32 optimizer state: ``velocity`` (SGD with momentum), ``m`` and ``v``
  (Adam).

**One form for every mode.** Each tensor is saved as the model's tensor of that name, whatever holds it:
MemoryX (weight streaming, a cluster), the columns of the pipelined step kernel (`pipelined`: packed per PE,
padded) or a stage's flat rows (`pipelined_stages`); loading packs it again for the trainer's mode. The
weights and optimizer state are the same math in every mode (SGD's velocity, Adam's moments), so a
checkpoint of one mode loads into another (or onto a cluster) exactly; what the run then computes is the
new mode's float32 arithmetic (see docs/training.md, "Checkpoints").

**Loading** checks the file (a missing, truncated, corrupted or foreign file, another format version, or
arrays that do not match its meta) and then the trainer: the same model (layers of the same types and
sizes), the same optimizer type and the same batch size, else a `CheckpointError` naming what differs;
`weights_only=True` loads the weights alone and checks the model only. The trainer's own optimizer
hyperparameters are used, so a run may resume with another learning rate.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, flag_argument, output_path, path_argument
from ..runtime.checkpoint import read_npz, write_npz
from .memoryx import SGD, Adam, MemoryX
from .model import Model
from .pipelined import PipelinedRunner
from .pipelined_stages import StagedPipeline

FORMAT = "wafersim.training"
FORMAT_VERSION = 1

State = dict[str, dict[str, np.ndarray]]  # tensor name -> slot -> float32 array of the tensor's shape


def optimizer_slots(optimizer: object) -> tuple[str, ...]:
    """The optimizer-state arrays kept per tensor, in the order the wafer's kernels hold them (its `s1`,
    `s2`): SGD's velocity (none without momentum), Adam's first and second moments."""
    if isinstance(optimizer, Adam):
        return ("m", "v")
    if isinstance(optimizer, SGD):
        return ("velocity",) if optimizer.momentum else ()
    return ()


def optimizer_record(optimizer: object) -> dict[str, Any]:
    """The optimizer as JSON: its type's name and hyperparameters."""
    fields = dataclasses.asdict(optimizer) if dataclasses.is_dataclass(optimizer) else {}
    return {"type": type(optimizer).__name__, **fields}


def layer_record(layer: object) -> dict[str, Any]:
    """A layer as JSON: its type's name and fields (sizes, activation, eps, causal)."""
    return {"type": type(layer).__name__, **dataclasses.asdict(layer)}


def _describe(record: dict[str, Any]) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in record.items() if k != "type")
    return f"{record.get('type')}({fields})"


# ---------------------------------------------------------------------- the trainer's state, by tensor name
def _optimizer(trainer: Any) -> object:
    return trainer.memoryx.optimizer if trainer.memoryx is not None else trainer.pipeline.optimizer


def _pipeline(trainer: Any) -> PipelinedRunner | StagedPipeline | None:
    return None if getattr(trainer, "memoryx", None) is not None else trainer.pipeline


def take_state(trainer: Any) -> tuple[dict[str, np.ndarray], State, int]:
    """(weights, optimizer state, the optimizer's step count) of a trainer, by the model's tensor names."""
    slots = optimizer_slots(_optimizer(trainer))
    pipeline = _pipeline(trainer)
    if pipeline is None:  # MemoryX: weight streaming, or a cluster
        memoryx: MemoryX = trainer.memoryx
        state = {name: {slot: memoryx.state[name].get(slot, np.zeros_like(w)).copy() for slot in slots}
                 for name, w in memoryx.weights.items()}
        return {name: w.copy() for name, w in memoryx.weights.items()}, state, memoryx.steps
    if isinstance(pipeline, PipelinedRunner):
        w1, w2, b1, b2 = (array.copy_to_host() for array in pipeline.state)
        unpacked = [pipeline.layout.unpack(w1, b1), pipeline.layout.unpack(w2, b2)]
    else:
        unpacked = [{}, {}]
        for i, layout in enumerate(pipeline.tensors):
            for k, key in enumerate(("s1", "s2")):
                unpacked[k].update({f"{i}.{name}": value for name, value in
                                    layout.unpack(pipeline.arrays[i][key].copy_to_host()).items()})
    params = pipeline.params
    state = {name: {slot: unpacked[k][name] for k, slot in enumerate(slots)} for name in params}
    return params, state, pipeline.steps


def put_state(trainer: Any, params: dict[str, np.ndarray], state: State | None, optimizer_steps: int | None) -> None:
    """Give a trainer these weights and, unless `state` is None, this optimizer state (a slot the trainer's
    optimizer keeps and the file lacks starts at zero; one it does not keep is dropped) and step count."""
    slots = optimizer_slots(_optimizer(trainer))
    pipeline = _pipeline(trainer)

    def slot_values(k: int) -> dict[str, np.ndarray]:
        """Slot k's array of every tensor (zeros where there is none)."""
        slot = slots[k] if k < len(slots) else None
        return {name: (state or {}).get(name, {}).get(slot, np.zeros_like(w)) for name, w in params.items()}

    if pipeline is None:
        memoryx: MemoryX = trainer.memoryx
        for name, w in params.items():
            memoryx.weights[name][...] = w
        memoryx.gradients = {}
        if state is not None:
            memoryx.state = {name: {slot: np.array(state[name][slot], np.float32) for slot in slots
                                    if slot in state.get(name, {})} for name in params}
    elif isinstance(pipeline, PipelinedRunner):
        wpack, bpack = pipeline.layout.pack(params)
        pipeline.weights.copy_to_device(wpack)
        pipeline.biases.copy_to_device(bpack)
        if state is not None:
            (w1, b1), (w2, b2) = pipeline.layout.pack(slot_values(0)), pipeline.layout.pack(slot_values(1))
            for array, values in zip(pipeline.state, (w1, w2, b1, b2)):
                array.copy_to_device(values)
    else:
        for i, layout in enumerate(pipeline.tensors):
            arrays = pipeline.arrays[i]

            def packed(values: dict[str, np.ndarray]) -> np.ndarray:
                return layout.pack({name: values[f"{i}.{name}"] for name in layout.slots})

            weights = packed(params)
            arrays["w"].copy_to_device(weights)
            if pipeline.half is not None:  # the 16-bit copy the products read, as the update kernel writes it
                arrays["w16"].copy_to_device(weights.astype(pipeline.half))
            if state is not None:
                arrays["s1"].copy_to_device(packed(slot_values(0)))
                arrays["s2"].copy_to_device(packed(slot_values(1)))
    if optimizer_steps is not None:
        (trainer.memoryx if pipeline is None else pipeline).steps = optimizer_steps


# ---------------------------------------------------------------------- the file
def save(trainer: Any, path: str | Path, mode: str, precision: str, extra: dict[str, Any] | None = None) -> Path:
    """Write `trainer`'s checkpoint to `path` (see the module docstring); returns the path."""
    path = output_path(path, "save_checkpoint(path)", error=CheckpointError)  # (refused before any work)
    params, state, optimizer_steps = take_state(trainer)
    optimizer = _optimizer(trainer)
    data: dict[str, np.ndarray] = {}
    tensors = []
    for k, (name, w) in enumerate(params.items()):
        data[f"param_{k}"] = np.ascontiguousarray(w, np.float32)
        for slot, value in state[name].items():
            data[f"state_{k}_{slot}"] = np.ascontiguousarray(value, np.float32)
        tensors.append({"name": name, "shape": list(w.shape), "state": list(state[name])})
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "trainer": type(trainer).__name__, "mode": mode,
        "precision": precision, "batch_size": int(trainer.batch_size), "steps": int(trainer.steps),
        "optimizer_steps": int(optimizer_steps), "optimizer": optimizer_record(optimizer),
        "model": [layer_record(layer) for layer in trainer.model.layers], "tensors": tensors, **(extra or {}),
    }
    data["meta"] = np.array(json.dumps(meta))
    return write_npz(path, data)


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], State]:
    """(meta, weights, optimizer state) of a training checkpoint, checked against its own meta: a
    `CheckpointError` for a missing, truncated, corrupted or foreign file, another format version, or
    arrays that are missing or not the float32 arrays of the shapes the meta gives."""
    path = path_argument(path, "load_checkpoint(path)")
    where = str(path)
    meta, data = read_npz(path, FORMAT, FORMAT_VERSION)
    try:
        params, state = {}, {}
        for k, tensor in enumerate(meta["tensors"]):
            name, shape = tensor["name"], tuple(tensor["shape"])
            keys = [f"param_{k}"] + [f"state_{k}_{slot}" for slot in tensor["state"]]
            for key in keys:
                if key not in data:
                    raise CheckpointError(f"{path}: the array {key} of tensor {name!r} is missing", path=where,
                                          name=name)
                if data[key].dtype != np.float32 or data[key].shape != shape:
                    raise CheckpointError(f"{path}: {key} (tensor {name!r}) holds {data[key].dtype} "
                                          f"{data[key].shape}, not float32 {shape}", path=where, name=name)
            params[name] = data[keys[0]]
            state[name] = {slot: data[f"state_{k}_{slot}"] for slot in tensor["state"]}
        missing = [key for key in ("mode", "precision", "batch_size", "steps", "optimizer_steps", "optimizer",
                                   "model") if key not in meta]
        if missing:
            raise CheckpointError(f"{path}: inconsistent training checkpoint (its meta lacks {', '.join(missing)})",
                                  path=where, missing=missing)
        for key in ("batch_size", "steps", "optimizer_steps"):
            if not (isinstance(meta[key], int) and not isinstance(meta[key], bool) and meta[key] >= 0):
                raise CheckpointError(f"{path}: {key} is {meta[key]!r}, not a whole number >= 0", path=where)
        if not (isinstance(meta["optimizer"], dict) and isinstance(meta["model"], list)
                and all(isinstance(layer, dict) for layer in meta["model"])):
            raise CheckpointError(f"{path}: inconsistent training checkpoint (its optimizer or model is not "
                                  f"recorded as this format records them)", path=where)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: inconsistent training checkpoint ({type(exc).__name__}: {exc})",
                              path=where) from None
    return meta, params, state


def check_model(meta: dict[str, Any], model: Model, path: str) -> None:
    """A `CheckpointError` naming the first layer (or the number of layers) that differs between the
    file's model and `model`."""
    saved, ours = meta["model"], [layer_record(layer) for layer in model.layers]
    if len(saved) != len(ours):
        raise CheckpointError(f"{path}: the checkpoint's model has {len(saved)} layers, this trainer's {len(ours)} "
                              f"(load it into a trainer of the same model)", path=path, layers=(len(saved), len(ours)))
    for i, (a, b) in enumerate(zip(saved, ours)):
        if a != b:
            raise CheckpointError(f"{path}: layer {i} differs: the checkpoint has {_describe(a)}, this trainer's "
                                  f"model {_describe(b)} (load it into a trainer of the same model)", path=path,
                                  layer=i, saved=_describe(a), model=_describe(b))


def load(trainer: Any, path: str | Path, weights_only: object = False) -> dict[str, Any]:
    """Load the checkpoint at `path` into `trainer` (see the module docstring); returns the file's meta."""
    weights_only = flag_argument(weights_only, "load_checkpoint(weights_only)")
    meta, params, state = read(path)
    where = str(path)
    check_model(meta, trainer.model, where)
    shapes = trainer.model.param_shapes()
    if set(params) != set(shapes) or any(params[n].shape != s for n, s in shapes.items()):
        raise CheckpointError(f"{path}: the checkpoint's tensors {sorted(params)} do not match the model's",
                              path=where)
    if not weights_only:
        ours, theirs = type(_optimizer(trainer)).__name__, meta["optimizer"].get("type")
        if ours != theirs:
            raise CheckpointError(f"{path}: the checkpoint's optimizer state is {theirs}'s, this trainer runs {ours}: "
                                  f"make the trainer with {theirs}(...), or load the weights alone with "
                                  f"load_checkpoint(path, weights_only=True)", path=where, saved=theirs,
                                  optimizer=ours)
        if meta["batch_size"] != trainer.batch_size:
            raise CheckpointError(f"{path}: the checkpoint's batch size is {meta['batch_size']}, this trainer's "
                                  f"{trainer.batch_size} (its batch position, steps={meta['steps']}, counts batches "
                                  f"of {meta['batch_size']}): make the trainer with batch_size={meta['batch_size']}, "
                                  f"or load the weights alone with load_checkpoint(path, weights_only=True)",
                                  path=where, saved=meta["batch_size"], batch_size=trainer.batch_size)
    params = {name: params[name] for name in shapes}  # the model's order
    if weights_only:
        put_state(trainer, params, None, None)
    else:
        put_state(trainer, params, state, meta["optimizer_steps"])
        trainer.steps = meta["steps"]
    return meta
