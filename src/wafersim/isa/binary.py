"""Program files (`.wsb`): a small header, JSON metadata, then little-endian 32-bit code words.

    magic "WSB1" | uint32 metadata length | metadata (UTF-8 JSON) | code words

The metadata holds the name, data words, argument count, strings and labels, and, for compiled kernels,
the line table (pc -> file and source line: runtime errors name the kernel's lines), the routes the
kernel relies on and its symbol table (variables for `runtime.state`). Files without them load as
programs without them.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import ArgumentTypeError, AssemblyError, path_argument
from .assembler import Program, Symbol

MAGIC = b"WSB1"


def save(program: Program, path: str | Path) -> Path:
    """Write `program` to the file `path` (a `.wsb` file); returns the path. A file that cannot be written is
    an `AssemblyError`."""
    if not isinstance(program, Program):
        raise ArgumentTypeError(f"program must be a Program (from ws.assemble or a compiled kernel), got "
                                f"{type(program).__name__}")
    path = path_argument(path, "path")
    meta = json.dumps({"name": program.name, "data_words": program.data_words, "arg_count": program.arg_count,
                       "strings": list(program.strings), "labels": program.labels,
                       "lines": [[pc, file, line] for pc, (file, line) in sorted(program.lines.items())],
                       "callers": [[pc, [list(c) for c in calls]] for pc, calls in sorted(program.callers.items())],
                       "routes": [list(route) for route in program.routes],
                       "symbols": [[*symbol[:4], [list(r) for r in symbol.ranges], list(symbol.shape),
                                    [list(c) for c in symbol.scope], symbol_copy(symbol)]
                                   for symbol in program.symbols]}).encode()
    try:
        path.write_bytes(MAGIC + struct.pack("<I", len(meta)) + meta + program.code.astype("<u4").tobytes())
    except OSError as exc:
        raise AssemblyError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def load(path: str | Path) -> Program:
    """The program in the file `path` (written by `save`). A missing, unreadable or foreign file is an
    `AssemblyError`."""
    path = path_argument(path, "path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssemblyError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:4] != MAGIC or len(data) < 8:
        raise AssemblyError(f"{path}: not a wafersim program file (expected the {MAGIC!r} header)")
    (length,) = struct.unpack("<I", data[4:8])
    try:
        meta = json.loads(data[8:8 + length])
    except ValueError:
        raise AssemblyError(f"{path}: damaged program metadata") from None
    code = data[8 + length:]
    if len(code) % 4:
        raise AssemblyError(f"{path}: code is not a whole number of 32-bit words")
    return Program(code=np.frombuffer(code, dtype="<u4").astype(np.uint32), name=meta["name"],
                   data_words=meta["data_words"], arg_count=meta["arg_count"], strings=tuple(meta["strings"]),
                   labels=meta.get("labels", {}),
                   lines={pc: (file, line) for pc, file, line in meta.get("lines", [])},
                   callers={pc: tuple((file, line) for file, line in calls) for pc, calls in meta.get("callers", [])},
                   routes=tuple((channel, name) for channel, name in meta.get("routes", [])),
                   symbols=tuple(symbol_of(entry) for entry in meta.get("symbols", [])))


def symbol_of(entry: list) -> Symbol:
    """A `Symbol` from its JSON list: name, dtype, storage, index, ranges, shape[, scope[, copy_of]] (files
    written before symbols had scopes have six items)."""
    name, dtype, storage, index, ranges, shape, *more = entry
    scope = tuple(tuple(c) for c in (more[0] if more else ()))
    copy_of = (more[1][0], tuple(tuple(c) for c in more[1][1])) if len(more) > 1 and more[1] else ()
    return Symbol(name, dtype, storage, index, tuple(tuple(r) for r in ranges), tuple(shape), scope, copy_of)


def symbol_copy(symbol: Symbol) -> list:
    """`Symbol.copy_of` as JSON: [] or [name, [[file, line], ...]]."""
    return [symbol.copy_of[0], [list(c) for c in symbol.copy_of[1]]] if symbol.copy_of else []
