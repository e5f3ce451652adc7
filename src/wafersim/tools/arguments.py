"""Argument types shared by the `wafersim demo` and `wafersim bench` command lines (argparse), and checks the
click commands of `wafersim` share with them: a bad value is a usage error naming the option, never a traceback."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..arch.spec import resolve_spec
from ..errors import WaferError, output_path


def spec_argument(text: str) -> str:
    """--preset: a preset name (wse2, wse3, dev) or a WaferSpec TOML file (checked; returned as given)."""
    try:
        resolve_spec(text)
    except WaferError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def steps_argument(text: str) -> int:
    """--steps: a whole number of time steps, at least 1."""
    try:
        steps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of steps") from None
    if steps < 1:
        raise argparse.ArgumentTypeError(f"{steps} steps: give at least 1")
    return steps


def folder_problem(text: str) -> str | None:
    """Why the folder `text`, which a command creates if missing and then writes into, cannot be one (a
    file there, or a file where one of its parent folders would be), or None. Checked before the command's
    work, so that a long run is not lost to an `--out` it could never write into."""
    path = Path(text)
    for part in (path, *path.parents):
        if part.exists():
            if part.is_dir():
                return None
            where = "" if part == path else f" (its folder {str(part)!r} is a file)"
            return f"{text!r} is not a folder{where}: name a folder, which is created if missing"
    return None


def folder_argument(text: str) -> str:
    """--out: a folder the command creates if missing (a file there is a usage error; returned as given)."""
    problem = folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def output_file_argument(text: str) -> str:
    """--write: a file to write, in a folder that exists (`errors.output_path`'s rule for every writer),
    checked before the command's work rather than after it."""
    try:
        output_path(text, "file")
    except WaferError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
