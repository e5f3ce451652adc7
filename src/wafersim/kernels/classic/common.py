"""What the classic kernels share: checks of their inputs against a PE's SRAM and the size of the mesh."""
from __future__ import annotations

import numpy as np

from ...arch.spec import WaferSpec
from ...errors import ArgumentError
from ..ml.layout import TileTooLargeError

__all__ = ["TileTooLargeError", "check_fits_sram", "check_line", "is_power_of_two"]

# SRAM left for the kernel's code, registers spilled and scalars: the data checks below keep this much free so
# that a problem refused here is refused with its sizes, before the compiler's own SRAM check would fire.
# On a PE with less than twice this SRAM (a small custom `WaferSpec`) half is kept instead: the kernels'
# code takes a few KiB, and the compiler's exact check (`SramBudgetError`) still refuses what does not fit;
# a fixed 8 KiB left an 8 KiB PE no room at all, and the advice "use more PEs" could never help.
CODE_RESERVE_BYTES = 8192


def code_reserve(spec: WaferSpec) -> int:
    """The bytes of a PE's SRAM the data checks leave for code: `CODE_RESERVE_BYTES`, at most half."""
    return min(CODE_RESERVE_BYTES, spec.sram_bytes // 2)


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def check_fits_sram(what: str, words: int, spec: WaferSpec) -> None:
    """`TileTooLargeError` unless `words` float32/int32 words of a PE's data fit its SRAM beside the code."""
    reserve = code_reserve(spec)
    limit = spec.sram_bytes - reserve
    if words * 4 > limit:
        raise TileTooLargeError(f"{what} needs {words:,} words ({words * 4:,} bytes) of each PE's SRAM; the limit is "
                                f"{limit:,} bytes ({spec.sram_bytes:,}-byte SRAM less {reserve:,} for code): "
                                f"use more PEs", needed=words * 4, available=limit)


def check_line(what: str, p: int, spec: WaferSpec) -> None:
    """`ArgumentError` unless a row of `p` PEs fits the wafer's width."""
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or p < 1:
        raise ArgumentError(f"{what}: the number of PEs p must be a positive int, got {p!r}")
    if p > spec.width:
        raise ArgumentError(f"{what}: a row of p = {p} PEs does not fit the wafer's width of {spec.width} PEs",
                            needed=int(p), available=spec.width)
