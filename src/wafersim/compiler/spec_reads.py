"""Which machine fields a compilation read: what a compiled kernel depends on of its `WaferSpec`.

`compile_kernel` compiles against a `RecordingSpec`, a view of the spec that records every attribute it
hands out (name and value), and keeps the record on the result (`Compiled.spec_reads`). `@ws.jit` then
reuses a program for another machine whose recorded fields have the same values (`reads_match`): a
kernel compiled for `dev` runs unchanged on a `dev` with another clock, latency or cost table, where
keying by every field compiled it again (113 of the 339 compiles of tests/test_reproduce.py, test_train*.py
and test_collectives_trees*.py).

The record is complete by construction: the view holds the spec out of reach (every attribute read,
its own included, goes through `__getattribute__`), hands out only plain data it has recorded, and
answers anything it cannot record by value -- a method, a private or special attribute, comparing,
hashing, printing, pickling or copying the view -- by marking the record "the whole spec" (`None`: the
program is reused only for an equal spec, as before). A view read after its compilation ended is an
error, so that nothing can keep it and read the machine later, unrecorded.
"""
from __future__ import annotations

import struct
from typing import Any, Optional

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import WaferError

#: What a compilation read: ((field name, value fingerprint), ...) in the order first read; None: the whole spec.
SpecReads = Optional[tuple[tuple[str, Any], ...]]


class _Unrecordable(Exception):
    """A value `fingerprint` cannot compare by value."""


def fingerprint(value: Any) -> Any:
    """A comparable stand-in for a spec field's value that tells apart every two values a compiler could
    tell apart: types too (True, 1 and 1.0 are equal in Python), floats by their bits (-0.0 == 0.0, nan
    != nan), dicts in their order (a compiler iterating one sees it). `_Unrecordable` for anything else."""
    if isinstance(value, np.generic):  # (first: np.float64 is a float, yet computes as NumPy's)
        return ("numpy", str(value.dtype), value.tobytes().hex())
    if isinstance(value, float):
        return ("float", struct.pack("<d", value).hex())
    if value is None or isinstance(value, (bool, int, str)):
        return (type(value).__name__, repr(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(fingerprint(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((fingerprint(k), fingerprint(v)) for k, v in value.items()))
    raise _Unrecordable(type(value).__qualname__)


class _Record:
    """The state of one `RecordingSpec`: the spec, the fields read so far, whether it is whole or closed."""

    __slots__ = ("spec", "reads", "whole", "closed")

    def __init__(self, spec: WaferSpec) -> None:
        self.spec, self.reads, self.whole, self.closed = spec, {}, False, False


class RecordingSpec:
    """A `WaferSpec` as a compilation sees it, recording what it reads (see the module's docstring)."""

    __slots__ = ("_record",)

    def __init__(self, spec: WaferSpec) -> None:
        object.__setattr__(self, "_record", _Record(spec))

    def __getattribute__(self, name: str) -> Any:
        record = _open_record(self)
        value = getattr(record.spec, name)
        if name.startswith("_") or callable(value):
            record.whole = True  # (a method or a private attribute: what it reads of the spec is not seen here)
            return value
        try:
            record.reads.setdefault(name, fingerprint(value))
        except _Unrecordable:
            record.whole = True
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise WaferError(f"internal: the compiler set WaferSpec.{name}, which is read-only")

    __delattr__ = __setattr__


def finish_recording(view: RecordingSpec) -> SpecReads:
    """End a view's recording: what was read (None: the whole spec). The view refuses any read after this.
    (A function, not a method: every attribute of the view is the spec's.)"""
    record = object.__getattribute__(view, "_record")
    record.closed = True
    return None if record.whole else tuple(record.reads.items())


def _open_record(view: RecordingSpec) -> _Record:
    record = object.__getattribute__(view, "_record")
    if record.closed:
        raise WaferError("internal: a WaferSpec was read after the compilation it was recorded for ended "
                         "(the program would depend on a field its cache entry does not name)")
    return record


def _whole_spec(name: str) -> Any:
    """A special method of the view (implicit in `==`, `hash`, `repr`, `copy`, `pickle`, ...), which Python
    looks up on the class, not through `__getattribute__`: it marks the record whole, then acts on the spec."""
    def method(self: RecordingSpec, *args: Any, **kwargs: Any) -> Any:
        record = _open_record(self)
        record.whole = True
        return getattr(record.spec, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in ("__eq__", "__ne__", "__hash__", "__repr__", "__str__", "__format__", "__bool__", "__reduce__",
              "__reduce_ex__", "__copy__", "__deepcopy__", "__dir__", "__sizeof__", "__getstate__", "__lt__",
              "__le__", "__gt__", "__ge__", "__iter__", "__len__", "__contains__", "__getitem__"):
    if hasattr(WaferSpec, _name):  # (one the spec lacks behaves as the spec's: `iter(view)` is a TypeError too)
        setattr(RecordingSpec, _name, _whole_spec(_name))


def reads_of(spec: WaferSpec, names: tuple[str, ...]) -> SpecReads:
    """The record a compilation that read `names` of `spec` would keep (as `finish_recording` gives it); None
    if `spec` lacks one of them or has a value of a kind no record holds."""
    try:
        return tuple((name, fingerprint(getattr(spec, name))) for name in names)
    except (AttributeError, _Unrecordable):
        return None


def reads_match(reads: SpecReads, spec: WaferSpec) -> bool:
    """Whether `spec` has the values a compilation recorded in `reads` (never for a whole-spec record)."""
    return reads is not None and reads_of(spec, tuple(name for name, _ in reads)) == reads
