"""Program files (`.wsb`): a small header, JSON metadata, then little-endian 32-bit code words.

    magic "WSB3" | uint32 CRC-32 of the magic and the rest | uint32 metadata length | metadata (UTF-8 JSON) | code words

The magic's last character is the format version. Files since version 2 carry a CRC-32 (zlib's) of
everything after it, checked on load: a damaged file (a flipped bit, a truncation) is an `AssemblyError`,
never a program that runs with wrong results. Version 3 (stop 51) is version 2 with the stream ops' MSGX
layout of today (`odir[23:21] flags[20:19]`) and the magic under the checksum too; version 2 and version 1
files ("WSB1": no checksum), written by earlier wafersim, still load, their stream ops moved to today's
layout (`encoding.code_before_stop_51`).

The metadata holds the name, data words, argument count, strings and labels, and, for compiled kernels,
the line table (pc -> file and source line: runtime errors name the kernel's lines), the routes the
kernel relies on and its symbol table (variables for `runtime.state`). Files without them load as
programs without them.
"""
from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ArgumentTypeError, AssemblyError, output_path, path_argument, write_whole
from .assembler import ARGUMENT_KINDS, ArgumentWord, Program, Symbol
from .encoding import code_before_stop_51

MAGIC = b"WSB3"
#: the magic of version 2 files: the MSGX layout before stop 51
MAGIC_V2 = b"WSB2"
#: the magic of version 1 files: no checksum, the MSGX layout before stop 51
MAGIC_V1 = b"WSB1"


def save(program: Program, path: str | Path) -> Path:
    """Write `program` to the file `path` (a `.wsb` file) whole (`errors.write_whole`: a crash mid-write leaves
    no torn file); returns the path. A path that cannot be written (a folder, a missing folder:
    `errors.output_path`, checked first; an unwritable file) is an `AssemblyError` naming it (`path`)."""
    if not isinstance(program, Program):
        raise ArgumentTypeError(f"program must be a Program (from ws.assemble or a compiled kernel), got "
                                f"{type(program).__name__}")
    path = output_path(path, "program file", error=AssemblyError)
    meta = json.dumps({"name": program.name, "data_words": program.data_words, "arg_count": program.arg_count,
                       "strings": list(program.strings), "labels": program.labels,
                       "lines": [[pc, file, line] for pc, (file, line) in sorted(program.lines.items())],
                       "callers": [[pc, [list(c) for c in calls]] for pc, calls in sorted(program.callers.items())],
                       "routes": [list(route) for route in program.routes],
                       "symbols": [[*symbol[:4], [list(r) for r in symbol.ranges], list(symbol.shape),
                                    [list(c) for c in symbol.scope], symbol_copy(symbol)]
                                   for symbol in program.symbols],
                       "arguments": None if program.arguments is None else [list(a) for a in program.arguments]
                       }).encode()
    body = struct.pack("<I", len(meta)) + meta + program.code.astype("<u4").tobytes()
    return write_whole(path, lambda fh: fh.write(MAGIC + struct.pack("<I", zlib.crc32(body, zlib.crc32(MAGIC))) + body), AssemblyError,
                       str(path))


def load(path: str | Path) -> Program:
    """The program in the file `path` (written by `save`). A missing, unreadable, foreign, damaged (its
    checksum does not match) or malformed file is an `AssemblyError`."""
    path = path_argument(path, "path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssemblyError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:4] in (MAGIC, MAGIC_V2) and len(data) >= 12:
        (checksum,) = struct.unpack("<I", data[4:8])
        body = data[8:]
        # (version 3's covers the magic too: a bit flipped there, making it a version 2 file, is damage)
        if zlib.crc32(body, zlib.crc32(data[:4]) if data[:4] == MAGIC else 0) != checksum:
            raise AssemblyError(f"{path}: damaged program file (its checksum does not match its contents)")
    elif data[:4] == MAGIC_V1 and len(data) >= 8:
        body = data[4:]  # (version 1: no checksum)
    elif data[:3] == MAGIC[:3] and len(data) >= 4:
        raise AssemblyError(f"{path}: program file format version {data[3:4].decode('latin-1')!r}; this wafersim "
                            f"reads versions 1 to 3")
    else:
        raise AssemblyError(f"{path}: not a wafersim program file (expected the {MAGIC!r} header)")
    (length,) = struct.unpack("<I", body[:4])
    if 4 + length > len(body):
        raise AssemblyError(f"{path}: damaged program file (metadata runs past the end of the file)")
    try:
        meta = json.loads(body[4:4 + length])
    except ValueError:
        raise AssemblyError(f"{path}: damaged program metadata") from None
    code = body[4 + length:]
    if len(code) % 4:
        raise AssemblyError(f"{path}: code is not a whole number of 32-bit words")
    try:
        program = _program(meta, code)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise AssemblyError(f"{path}: damaged program metadata ({type(exc).__name__}: {exc})") from None
    if data[:4] != MAGIC:
        try:
            program = dataclasses.replace(program, code=code_before_stop_51(program.code))
        except AssemblyError as exc:
            raise AssemblyError(f"{path}: {exc}") from None
    return program


def _program(meta: dict, code: bytes) -> Program:
    """The `Program` of a file's metadata and code bytes (a KeyError, TypeError, ... if malformed)."""
    if not isinstance(meta, dict):
        raise TypeError("the metadata is not a JSON object")
    return Program(code=np.frombuffer(code, dtype="<u4").astype(np.uint32), name=meta["name"],
                   data_words=meta["data_words"], arg_count=meta["arg_count"], strings=tuple(meta["strings"]),
                   labels=meta.get("labels", {}),
                   lines={pc: (file, line) for pc, file, line in meta.get("lines", [])},
                   callers={pc: tuple((file, line) for file, line in calls) for pc, calls in meta.get("callers", [])},
                   routes=tuple((channel, name) for channel, name in meta.get("routes", [])),
                   symbols=tuple(symbol_of(entry) for entry in meta.get("symbols", [])),
                   arguments=None if meta.get("arguments") is None else
                   tuple(argument_of(entry) for entry in meta["arguments"]))


def argument_of(entry: list) -> ArgumentWord:
    """An `ArgumentWord` from its JSON list: kind, parameter, word, dtype (a ValueError if it is none: an
    unknown kind would surface at launch as a bare KeyError, a string entry would spell out its letters)."""
    if not isinstance(entry, list) or not 2 <= len(entry) <= 4:
        raise ValueError(f"argument entry {entry!r}")
    argument = ArgumentWord(*entry)
    if argument.kind not in ARGUMENT_KINDS or not isinstance(argument.parameter, str) or \
            not isinstance(argument.word, (int, type(None))) or not isinstance(argument.dtype, (str, type(None))) \
            or (argument.kind == "constant") != isinstance(argument.word, int):  # (a constant's word is checked)
        raise ValueError(f"argument entry {entry!r}")
    return argument


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
