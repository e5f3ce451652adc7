"""What every library host function shares: a device just large enough for the problem, and device
arrays that live only as long as the call.

Host functions accept a user's `device`; their arrays are freed when the call returns, so that a loop of
thousands of calls on one device (a training run, a benchmark) does not fill its memory.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..arch.values import is_integer
from ..arch.spec import WaferSpec
from ..errors import ArgumentError, ArgumentTypeError, LaunchError
from ..isa import halfprec
from ..runtime.device import Device, DeviceArray, device_words
from ..runtime.streams import Stream


#: Every integer up to this magnitude is a float32 exactly (2**24, the float32 significand's reach).
FLOAT32_EXACT_INTEGERS = 2**24


def float32_input(values: Any, name: str) -> np.ndarray:
    """`values` as a C-contiguous float32 array, as every float32 library host function takes its inputs.

    float64 rounds to float32 (the machine's type: what `.astype(np.float32)` gives). What would change
    otherwise without a word is refused: complex values (the imaginary part would be lost) with an
    `ArgumentTypeError`, integers beyond 2**24 (float32 holds them only approximately) and finite values
    beyond float32's range (they would become inf) with an `ArgumentError` -- convert them yourself where
    that rounding is what you want."""
    array = host_array(values, name)
    if array.dtype == object:  # (Python ints past int64, mixed lists: check the elements themselves)
        check_objects(array, name)
    if np.iscomplexobj(array):
        raise complex_input_error(name, f"is complex ({array.dtype})")
    if array.dtype.kind in "iu" and array.size and \
            max(int(array.max()), -int(array.min())) > FLOAT32_EXACT_INTEGERS:
        raise _inexact_refused(name, "")
    try:
        with np.errstate(over="ignore"):  # (overflow is refused below, with the value)
            # (np.asarray, not np.ascontiguousarray: that would make a 0-d array 1-d, changing the result's shape)
            converted = np.asarray(array, dtype=np.float32, order="C")
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} cannot be converted to float32: {exc}") from None
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and converted.size:
        overflowed = np.isinf(converted) & np.isfinite(array)
        if overflowed.any():
            raise ArgumentError(f"{name} holds {array[overflowed].flat[0]!r}, beyond float32's range (about "
                                f"3.4e38): it would become inf")
    return converted


def host_array(values: Any, name: str) -> np.ndarray:
    """`values` as a NumPy array (itself if it is one); a ragged list, which NumPy refuses with a bare
    ValueError about an inhomogeneous shape, is an `ArgumentTypeError` naming the argument, as is an array
    of strings, dates or records: NumPy would parse "1.5" as 1.5 and take a datetime64 as its count of
    seconds without a word (object arrays are checked element by element by the callers)."""
    if not isinstance(values, np.ndarray):
        try:
            values = np.asarray(values)
        except ValueError as exc:
            raise ArgumentTypeError(f"{name} is not an array of numbers: {exc}") from None
    # (kind "V" is also ml_dtypes' bfloat16, a number; a structured dtype has names)
    if values.dtype.kind in "USMm" or values.dtype.names is not None:
        raise ArgumentTypeError(f"{name} is not an array of numbers: its dtype is {values.dtype}")
    return values


def nonempty(array: np.ndarray, name: str) -> np.ndarray:
    """`array`, or an `ArgumentError` if it has no elements: the grid kernels place an element (or a tile) on
    each PE, and a block of 0 PEs does not exist (without this, a wafer of width 0 would be refused instead,
    naming no argument)."""
    if array.size == 0:
        raise ArgumentError(f"{name} is empty (shape {array.shape}): there is nothing to compute")
    return array


def float32_scalar(value: Any, name: str) -> np.float32:
    """A scalar argument of a float32 host function (`saxpy`'s `a`), by `float32_input`'s rule: a real number
    (not a string, not complex), an integer no larger than 2**24 in magnitude."""
    if value is None or isinstance(value, (str, bytes)) or np.ndim(value) != 0:
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r}")
    return float32_input(np.asarray([value]), name)[0]


def float32_bound(value: Any, name: str) -> np.float32:
    """A bound of a float32 range argument (a histogram edge, an extent's corner), rounded to float32: a real
    number in float32's range, as `float32_scalar`, but an integer of any magnitude within it (the callers
    round bounds themselves where that matters, e.g. `histogram`'s edges outward, so 100_000_000 is taken as
    1e8 is, not refused as a value past 2**24 would be)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if abs(int(value)) > float(np.finfo(np.float32).max):
            raise ArgumentError(f"{name} = {value} is beyond float32's range (about 3.4e38)")
        value = float(value)
    return float32_scalar(value, name)


def check_objects(array: np.ndarray, name: str, complex_ok: bool = False) -> None:
    """`float32_input`'s refusals for an object array, element by element (only objects need it): None,
    strings, integers beyond 2**24 and, unless `complex_ok` (the FFTs, whose parts are checked apart),
    complex values."""
    for value in array.flat:
        if value is None:  # (NumPy would make it NaN)
            raise ArgumentTypeError(f"{name} holds None, not a number")
        if isinstance(value, (complex, np.complexfloating)) and not complex_ok:
            raise complex_input_error(name, f"holds a complex value ({value!r})")
        if is_integer(value) and abs(int(value)) > FLOAT32_EXACT_INTEGERS:
            raise _inexact_refused(name, f" ({value})")
        if isinstance(value, (str, bytes)):
            raise ArgumentTypeError(f"{name} holds a string ({value!r}), not a number")


def complex_input_error(name: str, what: str, parts: str = "arrays") -> ArgumentTypeError:
    """The refusal of a complex input (its imaginary part would be lost): `name` `what` (e.g. "is complex")."""
    return ArgumentTypeError(f"{name} {what}: the library computes in float32; pass the real and imaginary parts "
                             f"as separate {parts}")


def _inexact_refused(name: str, shown: str) -> ArgumentError:
    return ArgumentError(f"{name} holds integers beyond 2**24{shown}, which float32 cannot hold exactly; convert "
                         f"it with .astype(np.float32) to accept the rounding")


def int32_input(values: Any, name: str) -> np.ndarray:
    """Integer (or bool) `values` as a C-contiguous int32 array; values outside int32 are an `ArgumentError`
    (a cast would wrap them around)."""
    array = np.asarray(values)
    if array.size and not np.can_cast(array.dtype, np.int32) and \
            (int(array.max()) > np.iinfo(np.int32).max or int(array.min()) < np.iinfo(np.int32).min):
        raise ArgumentError(f"{name} holds integers outside int32 ({array.min()}..{array.max()}): the machine's "
                            f"integers are 32-bit")
    return np.ascontiguousarray(array, dtype=np.int32)


def number_input(values: Any, name: str) -> np.ndarray:
    """`values` as the machine's numbers: integer and bool arrays as int32 (`int32_input`), anything else as
    float32 (`float32_input`), for host functions whose kernels take either (`block_reduce`, `prefix_sum`)."""
    array = host_array(values, name)
    return int32_input(array, name) if array.dtype.kind in "iub" else float32_input(array, name)


def shape_argument(value: Any, name: str, length: int = 2) -> tuple[int, ...]:
    """`value` as a tuple of `length` positive ints: a block or tile shape of a host function ((x, y) for a
    block of PEs). Anything else is an `ArgumentTypeError` (not a tuple of ints) or an `ArgumentError`
    (its length, an entry < 1), naming `name`."""
    if not isinstance(value, (tuple, list)) or not all(is_integer(v) for v in value):
        raise ArgumentTypeError(f"{name} must be a tuple of {length} ints, got {value!r}")
    if len(value) != length or any(v < 1 for v in value):
        raise ArgumentError(f"{name} must be {length} ints >= 1, got {tuple(value)!r}")
    return tuple(int(v) for v in value)


def check_block_tiles(block: tuple[int, int], shape: tuple[int, ...], name: str) -> None:
    """An `ArgumentError` unless the `block` (width x height PEs) tiles an array of one value per PE, `name` of
    NumPy `shape` (height x width): the message says which side is which (a (6, 10) array read as "10 x 6"
    looked transposed to a new user)."""
    (bx, by), (height, width) = block, shape
    if width % bx or height % by:
        raise ArgumentError(f"block {bx} x {by} (width x height) must tile the {width} x {height} array "
                            f"({name} of shape {tuple(shape)}: height x width, one value per PE)")


def device_argument(device: Any) -> Device | None:
    """The `device` argument of a host function: a `Device`, or None (the function makes one)."""
    if device is not None and not isinstance(device, Device):
        raise ArgumentTypeError(f"device must be a wafersim Device or None, got {device!r}")
    return device


def check_block_fits(device: Device, width: int, height: int, what: str) -> Device:
    """`device`, or an `ArgumentError` if the `width` x `height` block of PEs the host function `what` launches
    is larger than its wafer. (The launch would refuse it too, but with advice for the kernel's author, to
    index a smaller block with ws.grid, which a caller of the library cannot act on.)"""
    spec = device_argument(device).spec  # (callers that write `device or fitting_device(...)` check it here)
    if width > spec.width or height > spec.height:
        raise ArgumentError(f"{what} runs on a block of {width} x {height} PEs, larger than the device's "
                            f"{spec.width} x {spec.height} wafer: pass a larger device, or device=None for one "
                            f"just large enough", needed=(width, height), available=(spec.width, spec.height))
    # A block the spares cannot cover fails at launch too, ending with the kernel author's advice ("launch
    # smaller blocks"), which a caller of the library cannot follow.
    spec.repair_for_launch(width, height, advice=(
        f"{what} runs on a block of {width} x {height} PEs: pass a device whose WaferSpec has more spare_cols or "
        f"spare_rows, fewer PEs where the function takes pes=, or device=None for a perfect wafer just large "
        f"enough"))
    return device


def fitting_device(width: int, height: int) -> Device:
    """A device whose wafer is exactly `width` x `height` PEs (the default of most host functions). The
    sizes may be NumPy integers (a `p` the host function checked as a whole number): `WaferSpec` takes
    Python ints only, and refused np.int64(2) as "not a whole number of PEs"."""
    width, height = (int(side) if isinstance(side, np.integer) else side for side in (width, height))
    return Device(_fitting_spec(width, height))


@functools.lru_cache(maxsize=64, typed=True)  # (typed: 2.0 and True are refused, not taken for 2 and 1)
def _fitting_spec(width: Any, height: Any) -> WaferSpec:
    """`WaferSpec(width=width, height=height)`, made (and checked) once per size: a spec is frozen, so devices
    may share it, and a small launch's host function paid ~0.1 ms a call for a new one (its checks, and its
    `cache_key` for the kernel's lookup). Sizes WaferSpec refuses raise each time (nothing is kept)."""
    return WaferSpec(width=width, height=height)


class Scratch:
    """Device arrays of one host function, freed when its `with` block ends:

        with Scratch(device, stream) as mem:
            d_x, d_y = mem.put(x), mem.empty(x.shape)
            ...launch...
            return mem.get(d_y)
    """

    def __init__(self, device: Device, stream: Any = None) -> None:
        if isinstance(stream, Stream) and stream.device is not device:
            # (the device's own check would say "a stream of another device" about a device the caller
            # never made: with device=None the host function makes one just large enough)
            raise LaunchError(f"stream={stream!r} is a stream of another device than the one this host function "
                              f"runs on: pass that device too (device=...), as device=None makes a new one",
                              stream=stream)
        self.device, self.stream = device, stream
        self.arrays: list[DeviceArray] = []

    def put(self, array: np.ndarray) -> DeviceArray:
        """A device copy of `array`."""
        self.arrays.append(self.device.to_device(array, stream=self.stream))
        return self.arrays[-1]

    def put_as(self, array: np.ndarray, shape: Any) -> DeviceArray:
        """A device array of `shape` holding `array`'s elements in C order: a strided view (a transpose) is
        copied once, straight into device memory, where `put(np.ascontiguousarray(...))` would make a host
        copy first (at wafer scale, hundreds of MiB of fresh memory)."""
        if int(np.prod(shape, dtype=np.int64)) != array.size:
            raise ArgumentError(f"put_as: {array.size} elements do not make a {shape} array")
        out = self.empty(shape, array.dtype)
        self.device.memcpy_htod(out.pointer, device_words(array), stream=self.stream)
        return out

    def empty(self, shape: Any, dtype: Any = np.float32) -> DeviceArray:
        """A zero-filled device array."""
        self.arrays.append(self.device.device_array(shape, dtype))
        return self.arrays[-1]

    def get(self, array: DeviceArray) -> np.ndarray:
        """`array` copied to the host."""
        return array.copy_to_host(stream=self.stream)

    def get_as(self, array: DeviceArray, out: np.ndarray) -> np.ndarray:
        """`array`'s elements copied in C order into `out` (a writeable host array of as many elements and
        `array`'s dtype, possibly a strided view, such as an untiling transpose of the result), with no host
        copy in between: the inverse of `put_as`. Returns `out`."""
        if out.size != array.size or out.dtype != array.dtype or halfprec.is_half(array.dtype):
            raise ArgumentError(f"get_as: a {array.shape} {array.dtype} device array does not fill a {out.shape} "
                                f"{out.dtype} host array")
        self.device._memcpy_dtoh(out, array.pointer, self.stream, strided=True)
        return out

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc: object) -> None:
        for array in self.arrays:
            if not array.is_freed:
                array.free()
