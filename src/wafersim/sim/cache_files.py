"""The files of the on-disk caches (compiled kernels, route traces, a program's kept analyses): each written whole
through a temporary file renamed over it, so a reader never sees half a file; pickled ones with their name and the
SHA-256 of their payload, so a damaged, truncated or misplaced file reads as missing, never as another value.

A cache's errors only mean computing again: the callers here ignore them (`write_checked`, `read_checked`), or, for
`write_atomically`, catch what it raises.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def write_atomically(folder: Path, file_name: str, write: Callable[[BinaryIO], None]) -> None:
    """Write `folder / file_name` with `write` into a temporary file of `folder`, then rename it over the file
    (atomic: processes writing one file at once each leave it whole). Raises what writing raises, the temporary
    file removed."""
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(temporary, folder / file_name)
    except BaseException:
        os.unlink(temporary)
        raise


def write_checked(folder: Path, file_name: str, name: str, value: Any) -> bool:
    """Write `value` pickled, as (`name`, the SHA-256 of the pickle, the pickle), to `folder / file_name`
    (`folder` made where missing); False where it could not be (a read-only or full disk, an unpicklable value)."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True)
        record = (name, hashlib.sha256(payload).digest(), payload)
        write_atomically(folder, file_name, lambda file: pickle.dump(record, file, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return False
    return True


def read_checked(path: Path, name: str) -> tuple[bool, Any]:
    """(True, the value) that `write_checked` stored at `path` under `name`, or (False, None): no file, another
    name, or a file whose payload is not the one its checksum names (damage that still unpickles would otherwise
    read as another value)."""
    try:
        with open(path, "rb") as file:
            stored_name, checksum, payload = pickle.load(file)
        if not (isinstance(stored_name, str) and stored_name == name and isinstance(payload, bytes)
                and checksum == hashlib.sha256(payload).digest()):
            return False, None
        return True, pickle.loads(payload)
    except Exception:  # (missing, truncated, damaged, from an incompatible version)
        return False, None
