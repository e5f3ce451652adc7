"""What the classic kernels share: checks of their inputs against a PE's SRAM and the size of the mesh."""
from __future__ import annotations

import numpy as np

from ...arch.spec import WaferSpec
from ...errors import ArgumentError
from ...runtime.device import Device
from ..hosting import device_argument, fitting_device
from ..ml.layout import TileTooLargeError

__all__ = ["TileTooLargeError", "check_fits_sram", "check_line", "is_power_of_two", "line_device"]

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


def check_fits_sram(what: str, words: int, spec: WaferSpec, advice: str = "use more PEs") -> None:
    """`TileTooLargeError` unless `words` float32/int32 words of a PE's data fit its SRAM beside the code;
    `advice` ends the message (what to do where more PEs cannot help)."""
    reserve = code_reserve(spec)
    limit = spec.sram_bytes - reserve
    if words * 4 > limit:
        raise TileTooLargeError(f"{what} needs {words:,} words ({words * 4:,} bytes) of each PE's SRAM; the limit is "
                                f"{limit:,} bytes ({spec.sram_bytes:,}-byte SRAM less {reserve:,} for code): "
                                f"{advice}", needed=words * 4, available=limit)


def line_device(what: str, p: int, device: Device | None) -> tuple[int, Device]:
    """(`p` as a Python int, the device a row of p PEs runs on: `device`, or a p x 1 wafer). `p` is checked
    first: the default device's `WaferSpec` refused a bad p naming its own width, and a NumPy integer p,
    as not a whole number; past it, a NumPy integer shape reached the compiler (a CompileError)."""
    check_pes(what, p)
    p = int(p)
    device = device_argument(device) or fitting_device(p, 1)
    check_line(what, p, device.spec)
    return p, device


def check_pes(what: str, p: int) -> None:
    """`ArgumentError` unless `p` is a positive int (a Python or NumPy integer, not a bool)."""
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or p < 1:
        raise ArgumentError(f"{what}: the number of PEs p must be a positive int, got {p!r}")


def check_line(what: str, p: int, spec: WaferSpec) -> None:
    """`ArgumentError` unless a row of `p` PEs fits the wafer's width."""
    check_pes(what, p)
    if p > spec.width:
        raise ArgumentError(f"{what}: a row of p = {p} PEs does not fit the wafer's width of {spec.width} PEs",
                            needed=int(p), available=spec.width)
