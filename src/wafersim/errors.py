"""The error hierarchy of wafersim. Every error a user can cause subclasses `WaferError`.

Errors carry structured fields (PE coordinates, instruction, source line, sizes) besides their
message, so that tools and tests can read where a failure happened without parsing text.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence, TypeVar

import numpy as np


class WaferError(Exception):
    """Base class of every wafersim error. Extra keyword fields become attributes."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields: dict[str, Any] = {}
        self.add_fields(**fields)

    def add_fields(self, **fields: Any) -> None:
        """Add structured fields (attributes, and entries of `fields`), e.g. where a failure happened. A
        `source` (file, line) also gives `file` and `line`, as a compile error's are named."""
        source = fields.get("source")
        if isinstance(source, tuple) and len(source) == 2 and "line" not in fields and "line" not in self.fields:
            fields = {**fields, "file": source[0], "line": source[1]}
        self.fields.update(fields)
        for key, value in fields.items():
            setattr(self, key, value)


class SpecError(WaferError, ValueError):
    """An invalid machine description (`WaferSpec`)."""


class AssemblyError(WaferError):
    """Assembly text that cannot be assembled, or a binary that cannot be decoded."""


class CompileError(WaferError):
    """A kernel that cannot be compiled (carries file:line:col)."""


class ArgumentError(WaferError, ValueError):
    """A host API call given a value it cannot use (a metric name, a size, a dtype, an option)."""


class LaunchError(ArgumentError):
    """A launch or host call that cannot run: bad grid/block, stream, kernel argument or launch option, a
    block larger than the wafer, a host array that does not match a device array."""


class ArgumentTypeError(LaunchError, TypeError):
    """A host API call or launch given an argument of the wrong type (also a `TypeError`)."""


class CheckpointError(WaferError, ValueError):
    """A wafersim file that cannot be read -- a device file (`Device.save` / `Device.load`), a launch
    checkpoint (`resume_launch`) or a training checkpoint (a trainer's `load_checkpoint`): missing,
    truncated, corrupted, of another format or version, inconsistent, or (training) made for another
    model, optimizer or batch size; or one that cannot be written."""


class RouteError(LaunchError):
    """A channel route that cannot work: it leaves the block, sends words to a router that takes nothing
    from that side, merges two sources on one link or receiver, or forms a cycle; or a PE sends through
    its router on a channel with no route from its ramp. The message names the PEs."""


class MeshBoundaryError(WaferError):
    """A send or recv across the edge of the PE's block."""


class DeadlockError(WaferError):
    """No PE of a block can make progress; names the blocked PEs and what they wait for."""


class MemoryAccessError(WaferError, IndexError):
    """An out-of-range SRAM or global-memory access, or use of freed memory."""


class OutOfMemoryError(WaferError):
    """Device (off-wafer) memory or per-PE SRAM exhausted, or host memory too small for a launch."""


class SramBudgetError(CompileError, OutOfMemoryError):
    """A kernel whose code, local arrays and spills do not fit a PE's SRAM: a compile error and an
    out-of-memory error at once, so either `except` catches it."""


class InvalidPointerError(WaferError, ValueError):
    """A double free or a pointer that does not belong to this device."""


class CycleLimitError(WaferError):
    """A launch that ran past its `max_cycles` budget (a kernel that never halts) or its `max_seconds` of
    host time (that, or a grid of more waves than the time allows: the error counts them)."""


class EngineCacheError(WaferError, RuntimeError):
    """Numba's on-disk cache of the engine's compiled code could not be read (a damaged file). The cache
    of the engine's functions is emptied when this is raised: the next launch compiles them again."""


class KernelValueError(WaferError, ValueError):
    """A value Python would refuse in a `@ws.jit` kernel (with bounds checks on), such as a negative shift
    count; it stops the kernel as Python would raise `ValueError`."""


class KernelZeroDivisionError(WaferError, ZeroDivisionError):
    """Integer `//` or `%` by zero in a `@ws.jit` kernel (with bounds checks on). The ISA's own `div` and
    `rem` give defined results instead (see docs/isa.md); float division gives inf or nan (IEEE)."""


class RaceError(WaferError):
    """Races found by a launch with `racecheck=True`: two PEs touching one global word, at least one
    writing, with no barrier between them, or a route change that the simulation ran in the other order than
    their cycles say against a word of its channel passing its router (kind 'route-change'). `races` lists
    them (`RaceHazard`: both PEs, both source lines), `races_dropped` counts those left out, `stats` is the
    launch's `LaunchStats` (None where the launch failed after route-change races: `failure` is its error,
    also the `__cause__`)."""


class WordTypeError(WaferError):
    """A typed receive (`ws.recv` with a known type, `recv.f32` in assembly) of a fabric word the sender
    tagged with another type: the bits would be silently reinterpreted. Names both PEs (`pe`: the receiver,
    `sender`) and both source lines (`source`, `sender_source`; where several sends of the word's type and
    channel could have sent it, `sender_source` is None and `sender_sources` lists them); `ws.recv(d, dtype=...,
    bitcast=True)`
    reinterprets on purpose."""


class ChainWordError(WordTypeError):
    """A collective's chain (the partial results `wafersim.collectives` and `reduce_to_corner` / `allreduce`
    pass as plain neighbour words) took a word of the kernel's own from the FIFO it shares, or the kernel's
    receive took a chain's word: a result that would have been wrong with no error. The fields are
    `WordTypeError`'s; `chain_call` is the kernel's line that called the collective (file, line), and
    `chain_side` says which took the other's word ("collective": the collective took the kernel's word;
    "kernel": the kernel's receive took the collective's)."""


def did_you_mean(word: str, choices: Any) -> str:
    """`"; did you mean 'x'?"` naming the choice closest to a misspelt `word` (`difflib`'s ratio at least 0.75,
    so a name with a letter or two wrong, missing or swapped), or "" when none is that close. Names starting
    with `_` are never suggested."""
    public = sorted({str(choice) for choice in choices if not str(choice).startswith("_")})
    close = difflib.get_close_matches(word, public, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def path_argument(value: Any, name: str) -> Path:
    """`value` as a `Path`: the file argument `name` of a host call (a `str` or `os.PathLike`, as `open`
    takes). Anything else (None, a number, bytes) is an `ArgumentTypeError` naming the argument, where
    `Path(value)` would raise a bare `TypeError` from inside the library."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        return Path(value)
    raise ArgumentTypeError(f"{name} must be a file path (a str or pathlib.Path), got {value!r}")


def output_path(value: Any, name: str, suffixes: tuple[str, ...] = (), default_suffix: str = "",
                error: type[WaferError] = ArgumentError) -> Path:
    """`value` as the file a writer will write (`path_argument`), checked before any work, the same way for
    every writer (heatmaps, traces, device files, checkpoints, specs): a folder is refused, and so is a file
    in a folder that does not exist (no writer creates folders, as `open` does not). With `suffixes`
    (lower case, with the dot) the name must end in one of them, or have no suffix, which then becomes
    `default_suffix`. The path returned is the one to write, and the writer returns it. Anything refused
    is an `error` (default `ArgumentError`) naming the path, with a `path` field."""
    path = path_argument(value, name)
    if path.name in ("", ".", "..") or path.is_dir():
        raise error(f"cannot write {name} {str(path)!r}: it is a folder (name the file to write in it)",
                    path=str(path))
    if suffixes:
        if not path.suffix:
            path = path.with_name(path.name + default_suffix)
        elif path.suffix.lower() not in suffixes:
            raise error(f"cannot write {name} {str(path)!r}: not a {path.suffix!r} file; use one of "
                        f"{', '.join(suffixes)}", path=str(path))
    if not path.parent.is_dir():
        raise error(f"cannot write {name} {str(path)!r}: the folder {str(path.parent)!r} does not exist "
                    f"(create it first)",
                    path=str(path))
    return path


def write_whole(path: Path, write: Callable[[BinaryIO], None], error: type[WaferError], what: str) -> Path:
    """Write the file `path` (from `output_path`) whole, the second half of the one output-file rule: `write`
    fills a temporary file of a unique name in the same folder, which is then renamed over `path`, so a crash
    or an error mid-write leaves no torn file (and the previous one whole), and writers to one path at once,
    from threads or processes, each write a whole file (the last rename wins). A failure to write is an
    `error` "cannot write {what}: why" with a `path` field; returns `path`."""
    # A name of its own per write (not mkstemp: its files are private to the user, where a saved file should
    # have the permissions `open` gives); "x" refuses a file already there.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.partial")
    try:
        try:
            with open(partial, "xb") as fh:
                write(fh)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise error(f"cannot write {what}: {exc.strerror or exc}", path=str(path)) from None
    return path


def flag_argument(value: Any, name: str) -> bool:
    """`value` as a bool: an on/off option `name` (`boundscheck`, `include_root`). Only True and False (or a
    NumPy bool) are taken: the string "False" is truthy, and 0/1 or None would hide a mistaken argument."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")


_Function = TypeVar("_Function", bound=Callable[..., Any])


def call_checked(function: _Function, error: type[ArgumentTypeError] | None = None,
                 hints: dict[str, str] | None = None) -> _Function:
    """`function` with a call that does not fit its parameters (an argument too many, an unknown keyword, a
    missing argument) raised as an `ArgumentTypeError` (or its subclass `error`) naming them, a `WaferError` as
    every error a public call can raise, instead of Python's bare `TypeError`; an unknown keyword of `hints`
    gets its hint (what to write instead of another library's keyword), another a near miss. A `TypeError`
    raised inside the function is left as it is."""
    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except TypeError as exc:
            if isinstance(exc, WaferError) or _fits(function, args, kwargs):
                raise  # (from inside the function: the call itself fits)
            hint = _keyword_hint(function, kwargs, hints or {})
            raise (error or ArgumentTypeError)(f"{exc}{hint} (see help({function.__qualname__}))") from None

    return checked  # type: ignore[return-value]


def check_calls(cls: type, error: type[ArgumentTypeError], names: Sequence[str],
                hints: dict[str, str] | None = None) -> None:
    """`call_checked` on the methods `names` of `cls` (`"__init__"` included, a dataclass's generated one too;
    class and static methods stay what they are), raising `error`."""
    for name in names:
        method = cls.__dict__[name]
        if isinstance(method, (classmethod, staticmethod)):
            setattr(cls, name, type(method)(call_checked(method.__func__, error, hints)))
        else:
            setattr(cls, name, call_checked(method, error, hints))


def _keyword_hint(function: Callable[..., Any], kwargs: dict, hints: dict[str, str]) -> str:
    """For the one keyword of `kwargs` that `function` has no parameter of: its hint in `hints`, or a near miss
    (`max_cycle`); else ""."""
    try:
        parameters = inspect.signature(function).parameters
    except ValueError:
        return ""
    unknown = [name for name in kwargs if name not in parameters]
    if len(unknown) != 1:
        return ""
    return f": {hints[unknown[0]]}" if unknown[0] in hints else did_you_mean(unknown[0], parameters)


def _fits(function: Callable[..., Any], args: tuple, kwargs: dict) -> bool:
    """Whether a call with `args` and `kwargs` fits `function`'s parameters (those of the function it wraps,
    `__wrapped__`: a `contextlib.contextmanager` generator's, whose call raises inside the wrapper's frame, so
    that where the TypeError was raised cannot tell). True where there is no signature to check against."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        return False
    except ValueError:  # (a callable without a signature Python can read)
        return True
    return True
