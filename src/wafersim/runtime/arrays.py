"""Device memory seen from the host: `DevicePointer`, `DeviceArray` (like Numba's `DeviceNDArray`) and the
checks of host arrays copied to or from them."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, LaunchError, call_checked
from ..isa import halfprec
from .streams import Stream, not_picklable

if TYPE_CHECKING:
    from .device import Device


#: dtype kinds device arrays may hold: booleans, signed and unsigned integers, floats, complex numbers.
NUMERIC_KINDS = "biufc"


def device_dtype(dtype: Any, what: str) -> np.dtype:
    """`dtype` as a NumPy dtype a device array can hold; `ArgumentTypeError` for anything else."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(f"{what}: {dtype!r} is not a NumPy dtype", dtype=repr(dtype)) from None
    if dtype.kind not in NUMERIC_KINDS and not halfprec.is_half(dtype):
        # (ml_dtypes' float8 and int4 types are numbers of kind 'V': "holds numbers, not dtype float8_e4m3fn"
        # said they were not; they are refused for another reason, so the message names what is held)
        number = type(dtype).__module__.startswith("ml_dtypes") or type(dtype.type).__module__.startswith("ml_dtypes")
        target = "np.int32" if "int" in dtype.name else "np.float32"
        convert = ("" if not number else f": make it {target}" if what == "device_array"
                   else f": convert it on the host first, host.astype({target})")
        raise ArgumentTypeError(f"{what}: device memory holds NumPy's numeric dtypes, float16 and bfloat16, not dtype "
                                f"{dtype}{convert}", dtype=str(dtype))
    return dtype


def device_itemsize(dtype: np.dtype) -> int:
    """Bytes of device memory per element: a 16-bit float takes a whole 32-bit word (`isa.halfprec`), so
    kernels address it as they address float32; other dtypes take their size."""
    return 4 if halfprec.is_half(dtype) else dtype.itemsize


def is_half_scalar(value: Any) -> bool:
    """Whether `value` is a NumPy scalar of a 16-bit float (np.float16, or ml_dtypes.bfloat16, which is not
    an `np.floating`): kernel arguments take both as floats."""
    return isinstance(value, np.generic) and halfprec.is_half(value.dtype)


def device_words(array: np.ndarray) -> np.ndarray:
    """A host array as device memory holds it: 16-bit floats widened to one 32-bit word each."""
    return halfprec.host_to_words(array) if halfprec.is_half(array.dtype) else array


@dataclasses.dataclass(frozen=True)
class DevicePointer:
    """A device (off-wafer) memory address returned by `Device.malloc`."""

    device: "Device"
    address: int
    nbytes: int
    serial: int = 0  # the allocation's serial number: a pointer outlives its allocation, not a reuse of its address

    def __int__(self) -> int:
        return self.address

    def __repr__(self) -> str:
        return f"DevicePointer(0x{self.address:x}, {self.nbytes} bytes)"

    def _arithmetic(self, other: Any) -> Any:
        """CUDA's `cudaMemcpy(p + offset, ...)`: refused with what to write, rather than Python's bare
        TypeError (a pointer here names a whole allocation: the copies start at its first byte)."""
        raise ArgumentTypeError(
            f"pointer arithmetic ({self!r} + {other!r}) is not supported: dev.memcpy_htod / dev.memcpy_dtoh copy "
            f"from the first byte of an allocation. Copy the part you need on the host (memcpy_dtoh into a whole "
            f"buffer, then host[k:]), or give each part its own allocation or device array")

    __add__ = __radd__ = __sub__ = __rsub__ = _arithmetic

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise not_picklable(self)

    def __copy__(self) -> "DevicePointer":
        return self  # (frozen: a copy would be the same handle to the same allocation)

    def __deepcopy__(self, memo: Any) -> Any:
        raise not_picklable(self)



class DeviceArray:
    """An n-d array in device memory, like Numba's `DeviceNDArray`."""

    def __init__(self, device: "Device", shape: tuple[int, ...], dtype: Any, pointer: DevicePointer) -> None:
        self._device, self._shape, self._dtype, self._pointer = device, tuple(shape), np.dtype(dtype), pointer

    # (read-only: `d.shape = (2, 3)` and `d.dtype = np.int32`, NumPy's in-place reshape and view, set plain
    # attributes the copies and launches then trusted: a shape of fewer elements truncated the copy silently
    # where NumPy raises, and `dtype = np.float16` of a float32 array read each word's low half, [0, 0, 0, 0]
    # for [1, 2, 3, 4], where NumPy views 8 halves)
    @property
    def device(self) -> "Device":
        return self._device

    @device.setter
    def device(self, value: Any) -> None:  # (a launch on the new device read its memory at this address)
        raise ArgumentTypeError("a device array stays on the device that holds it: copy it through the host, "
                                "other.to_device(d.copy_to_host())", operation=".device =")

    @property
    def pointer(self) -> DevicePointer:
        return self._pointer

    @pointer.setter
    def pointer(self, value: Any) -> None:
        raise ArgumentTypeError("a device array's memory cannot be changed: copy data in with d.copy_to_device(host)",
                                operation=".pointer =")

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @shape.setter
    def shape(self, value: Any) -> None:
        raise ArgumentTypeError(f"a device array's shape cannot be changed (d.shape = {value!r}): device arrays "
                                f"offer no views; copy it to the host and back, "
                                f"dev.to_device(d.copy_to_host().reshape({value!r})), or make one of that shape",
                                operation=".shape =")

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @dtype.setter
    def dtype(self, value: Any) -> None:
        shown = f"np.{np.dtype(value).name}" if isinstance(value, type) and issubclass(value, np.generic) else repr(value)
        raise ArgumentTypeError(f"a device array's dtype cannot be changed (d.dtype = {shown}): device arrays "
                                f"offer no views; copy it to the host, d.copy_to_host().view(...) reinterprets "
                                f"its bytes and .astype(...) converts its values", operation=".dtype =")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of device memory the array takes (4 per element for 16-bit floats: see `device_itemsize`)."""
        return self.size * device_itemsize(self.dtype)

    @property
    def address(self) -> int:
        return self.pointer.address

    @property
    def is_freed(self) -> bool:
        """Whether the array was freed (stays True once a new allocation reuses its address)."""
        alloc = self.device.memory.lookup(self.pointer.address)
        return alloc is None or alloc.serial != self.pointer.serial

    @call_checked
    def copy_to_host(self, ary: np.ndarray | None = None, stream: Stream | None = None) -> np.ndarray:
        """The array's contents as a new host array, or into `ary`: a writeable, C-contiguous NumPy array of
        the same shape and dtype."""
        if ary is not None:
            check_host_destination(ary, self, "copy_to_host")
        out = np.empty(self.shape, dtype=self.dtype) if ary is None else ary
        if halfprec.is_half(self.dtype):  # one value per 32-bit word on the device
            words = np.empty(self.shape, dtype=np.uint32)
            self.device.memcpy_dtoh(words, self.pointer, stream=stream)
            out[...] = halfprec.words_to_host(words, self.dtype)
            return out
        self.device.memcpy_dtoh(out, self.pointer, stream=stream)
        return out

    @call_checked
    def copy_to_device(self, ary: np.ndarray, stream: Stream | None = None) -> None:
        """Overwrite the array with a host array of the same shape and dtype."""
        refuse_device_source(ary, "copy_to_device")
        ary = np.asarray(ary)
        if ary.shape != self.shape or ary.dtype != self.dtype:
            raise LaunchError(f"copy_to_device: host array {ary.shape} {ary.dtype} does not match device array "
                              f"{self.shape} {self.dtype}{mismatch_advice(ary, self, 'copy_to_device')}",
                              host=(ary.shape, str(ary.dtype)), device=(self.shape, str(self.dtype)))
        self.device.memcpy_htod(self.pointer, device_words(ary), stream=stream)

    @call_checked
    def free(self) -> None:
        """Release the array's device memory now; using it afterwards raises an error. Device memory is held
        until `free` (or until its `Device` is gone), not released when the last `DeviceArray` object of it
        is dropped: `Device.arrays()` can hand the array out again (as `cudaMalloc`'s memory, unlike Numba's
        garbage-collected device arrays)."""
        self.device.free(self.pointer)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise not_picklable(self)

    def __copy__(self) -> "DeviceArray":
        """Another handle to the same device memory (as `copy.copy` of any Python object shares its data)."""
        return DeviceArray(self.device, self.shape, self.dtype, self.pointer)

    def __deepcopy__(self, memo: Any) -> Any:
        raise not_picklable(self)

    def __repr__(self) -> str:
        state = " freed" if self.is_freed else ""
        return f"<DeviceArray {self.shape} {self.dtype} at 0x{self.address:x}{state}>"

    # ------------------------------------------------------------------ as a NumPy operand
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The contents copied to a new host array, as Numba's `DeviceNDArray` does: `np.asarray(d)`,
        `np.array_equal(d, host)` compare values (a copy on the default stream each time)."""
        if copy is False:
            raise ArgumentError("np.asarray(device_array, copy=False): device memory cannot be viewed from the "
                                "host; copy it with device_array.copy_to_host()")
        host = self.copy_to_host()
        return host if dtype is None else host.astype(dtype, copy=False)

    def __len__(self) -> int:
        if not self.shape:
            raise ArgumentTypeError("len() of a 0-d device array")
        return self.shape[0]

    def __bool__(self) -> bool:  # (an object, as before `__len__`: `if d:` does not depend on its length)
        return True

    def __getitem__(self, key: Any) -> Any:
        raise ArgumentTypeError(f"device arrays cannot be indexed or sliced on the host: copy the array to the host "
                                f"first (d.copy_to_host()[{index_text(key)}]), or index it in a kernel")

    def __setitem__(self, key: Any, value: Any) -> None:
        # (was Python's bare TypeError: every error of the public API is a WaferError)
        raise ArgumentTypeError(f"device arrays cannot be written by index on the host (d[{index_text(key)}] = ...): "
                                f"copy the whole array in, d.copy_to_device(host), or write it in a kernel")

    def __delitem__(self, key: Any) -> None:
        raise ArgumentTypeError(f"device arrays cannot be indexed or sliced on the host (del d[{index_text(key)}])")

    def __iter__(self) -> Any:
        raise ArgumentTypeError("device arrays cannot be iterated on the host: copy the array to the host first "
                                "(d.copy_to_host())")

    def __contains__(self, value: Any) -> bool:
        raise ArgumentTypeError("device arrays cannot be searched on the host (x in d): copy the array to the host "
                                "first (x in d.copy_to_host())")

    # ------------------------------------------------------------------ no arithmetic on the host
    # `d + 1` was Python's bare TypeError, and `host + d` (NumPy converting `d` through `__array__`) a silent
    # copy: operators, ufuncs and NumPy functions are refused alike, as WaferErrors saying what to do. `==` and
    # `!=` between device arrays (or with None) stay identity, as for any Python object and Numba's DeviceNDArray.
    def _no_arithmetic(self, expression: str) -> ArgumentTypeError:
        return ArgumentTypeError(
            f"device arrays have no arithmetic or comparisons on the host ({expression}): copy the array to the "
            f"host first (d.copy_to_host() is a NumPy array; np.array_equal(d, host) compares values), or "
            f"compute it in a kernel", operation=expression)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise self._no_arithmetic(f"np.{ufunc.__name__}{'' if method == '__call__' else '.' + method}(...)")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # `np.mean(d)`, `np.concatenate([d, h])` converted `d` through `__array__`: a silent copy where ufuncs
        # are refused. NumPy functions are refused alike, but for the value comparisons the docs promise
        # (`np.array_equal(d, host)`, `np.allclose`), which copy, as `np.asarray(d)` does by design.
        # `np.shape(d)`, `np.ndim(d)`, `np.size(d)` read the array's own attributes (no copy, no arithmetic).
        if func in _VALUE_COMPARISONS or func in _METADATA:
            return func._implementation(*args, **kwargs)
        raise self._no_arithmetic(f"np.{func.__name__}(...)")

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, _ARRAY_LIKE):
            raise self._no_arithmetic("d == x")
        return NotImplemented

    def __ne__(self, other: Any) -> Any:
        if isinstance(other, _ARRAY_LIKE):
            raise self._no_arithmetic("d != x")
        return NotImplemented

    __hash__ = object.__hash__  # (by identity, as before `__eq__` was defined)

    def _no_view(self, what: str) -> ArgumentTypeError:
        return ArgumentTypeError(f"device arrays offer no views ({what}): copy the array to the host first "
                                 f"(d.copy_to_host(){what}), and to_device the result if a kernel needs it")

    @property
    def T(self) -> Any:
        """Not offered (device arrays have no views): raises `ArgumentTypeError` saying to copy first."""
        raise self._no_view(".T")

    def reshape(self, *shape: Any) -> Any:
        """Not offered (device arrays have no views): raises `ArgumentTypeError` saying to copy first."""
        raise self._no_view(".reshape(...)")

    def transpose(self, *axes: Any) -> Any:
        """Not offered (device arrays have no views): raises `ArgumentTypeError` saying to copy first."""
        raise self._no_view(".transpose(...)")

    def ravel(self) -> Any:
        """Not offered (device arrays have no views): raises `ArgumentTypeError` saying to copy first."""
        raise self._no_view(".ravel()")


#: The NumPy functions a device array may be given (they copy it to the host, as `np.asarray(d)` does): value
#: comparisons. `np.testing.assert_*` convert with `np.asarray` themselves, and so work without being listed.
_VALUE_COMPARISONS = frozenset((np.array_equal, np.array_equiv, np.allclose, np.isclose))

#: The NumPy functions that read a device array's shape (`d.shape`, `d.ndim`, `d.size`): no copy.
_METADATA = frozenset((np.shape, np.ndim, np.size))

#: What `d == x` refuses to compare with (values, not handles): numbers, NumPy arrays and scalars, lists, tuples.
_ARRAY_LIKE = (int, float, complex, np.ndarray, np.generic, list, tuple)


def _refused(expression: str) -> Any:
    def operator(self: DeviceArray, *other: Any) -> Any:
        raise self._no_arithmetic(expression)
    operator.__doc__ = f"Refused (`{expression}`): raises `ArgumentTypeError` saying to copy to the host first."
    return operator


for _names, _symbol in ((("add", "radd"), "+"), (("sub", "rsub"), "-"), (("mul", "rmul"), "*"),
                        (("truediv", "rtruediv"), "/"), (("floordiv", "rfloordiv"), "//"), (("mod", "rmod"), "%"),
                        (("pow", "rpow"), "**"), (("matmul", "rmatmul"), "@"), (("and", "rand"), "&"),
                        (("or", "ror"), "|"), (("xor", "rxor"), "^"), (("lshift", "rlshift"), "<<"),
                        (("rshift", "rrshift"), ">>"), (("divmod", "rdivmod"), "divmod"), (("lt",), "<"),
                        (("le",), "<="), (("gt",), ">"), (("ge",), ">=")):
    for _name in _names:
        _text = f"x {_symbol} d" if _name.startswith("r") and _name != "rshift" else f"d {_symbol} x"
        if _symbol == "divmod":
            _text = "divmod(x, d)" if _name.startswith("r") else "divmod(d, x)"
        setattr(DeviceArray, f"__{_name}__", _refused(_text))
for _name, _text in (("neg", "-d"), ("pos", "+d"), ("abs", "abs(d)"), ("invert", "~d"), ("float", "float(d)"),
                     ("int", "int(d)"), ("complex", "complex(d)"), ("round", "round(d)"), ("trunc", "math.trunc(d)"),
                     ("index", "operator.index(d)")):  # (the conversions were bare TypeErrors)
    setattr(DeviceArray, f"__{_name}__", _refused(_text))


def index_text(key: Any) -> str:
    """An index as it is written in brackets (`1:3, 0`), for messages."""
    if isinstance(key, tuple):
        return ", ".join(index_text(k) for k in key)
    if isinstance(key, slice):
        text = ("" if key.start is None else str(key.start)) + ":" + ("" if key.stop is None else str(key.stop))
        return text + ("" if key.step is None else f":{key.step}")
    return "..." if key is Ellipsis else repr(key)


def check_host_destination(ary: Any, array: DeviceArray, what: str) -> None:
    """Refuse a host array `array`'s contents cannot be copied into (the wrong type, shape or dtype,
    read-only, or not C-contiguous) with an error that says what to pass."""
    if not isinstance(ary, np.ndarray):
        raise ArgumentTypeError(f"{what}: ary must be a NumPy array, got {type(ary).__name__}")
    if ary.shape != array.shape or ary.dtype != array.dtype:
        raise LaunchError(f"{what}: host array {ary.shape} {ary.dtype} does not match device array "
                          f"{array.shape} {array.dtype}{mismatch_advice(ary, array, what)}",
                          host=(ary.shape, str(ary.dtype)), device=(array.shape, str(array.dtype)))
    if not ary.flags.writeable:
        raise LaunchError(f"{what}: the host array is read-only: pass a writeable array (or none, for a new one)")
    if not ary.flags.c_contiguous:
        raise LaunchError(f"{what}: the host array must be C-contiguous (np.empty(shape, dtype), not a transposed "
                          f"or strided view): pass one, or none for a new array")


def dtype_text(dtype: np.dtype) -> str:
    """How a dtype is written in code: `np.float32`, `ml_dtypes.bfloat16`, or `np.dtype('>f4')` for a byte order
    other than the machine's (whose `name` is the native type's: `np.float32` would name another dtype)."""
    if not dtype.isnative:
        return f"np.dtype({dtype.str!r})"
    return f"ml_dtypes.{dtype.name}" if halfprec.is_half(dtype) and dtype != np.float16 else f"np.{dtype.name}"


def mismatch_advice(ary: np.ndarray, array: DeviceArray, what: str) -> str:
    """What to do about a host array whose shape or dtype differs from a device array's, for the message:
    neither copy converts or reshapes (a silent conversion would hide a float64 array meant as float32)."""
    if what == "copy_to_device":
        fix = []
        if ary.dtype != array.dtype:
            fix.append(f".astype({dtype_text(array.dtype)})")
        if ary.shape != array.shape:
            if ary.size != array.size:
                return (f": the shapes must match (copy {array.size} elements, or make a device array of the "
                        f"host's shape)")
            fix.append(f".reshape({array.shape})")
        return f": copy host{''.join(fix)} instead (copies neither convert nor reshape)"
    return (f": pass np.empty({array.shape}, {dtype_text(array.dtype)}), or no array for a new one"
            + (", then convert it on the host" if ary.dtype != array.dtype else ""))


def refuse_device_source(value: Any, what: str) -> None:
    """A host copy given a device array: say that it needs a host array (device-to-device copies are not offered)."""
    if isinstance(value, (DeviceArray, DevicePointer)):
        raise ArgumentTypeError(f"{what} needs a host array (a NumPy array), got a {type(value).__name__}: copies "
                                f"between device arrays are not offered; copy it to the host first "
                                f"(d.copy_to_host()), or copy it in a kernel")


def refuse_half_bytes(device_side: Any, host_array: Any, what: str) -> None:
    """A raw copy between a 16-bit float `DeviceArray` and a host array of 2-byte elements: refused, since the
    raw copy moves the host's packed 2-byte values while the device array holds one value per 32-bit word
    (`device_itemsize`), so the copy would scatter them silently into the wrong elements. That holds for the
    raw bits of 16-bit floats too (`host.view(np.uint16)`, which an unsigned host array's "raw bits on
    purpose" let through: `[1.5, 2, 3, 4]` read back as `[1.5, 3, 0, 0]`). The typed copies convert; a raw
    copy of the device words takes a uint32 host array (or its bytes, uint8)."""
    if (isinstance(device_side, DeviceArray) and halfprec.is_half(device_side.dtype)
            and isinstance(host_array, (np.ndarray, np.generic)) and host_array.dtype.itemsize == 2):
        typed = "d.copy_to_device(host)" if what == "memcpy_htod" else "d.copy_to_host(host)"
        bits = "" if halfprec.is_half(host_array.dtype) else f" (for {device_side.dtype} values of those bits, " \
            f"host.view({dtype_text(device_side.dtype)}))"
        raise ArgumentError(f"{what}: a raw copy between a {device_side.dtype} device array and a {host_array.dtype} "
                            f"host array would move the host's packed 2-byte values, but the device array holds one "
                            f"value per 32-bit word: use {typed}, which converts{bits} (or copy the raw words with a "
                            f"uint32 host array)", dtype=str(device_side.dtype), host_dtype=str(host_array.dtype))


def refuse_reinterpreting_copy(device_side: Any, host_array: Any, what: str) -> None:
    """A raw copy between a typed `DeviceArray` and a host array of another dtype: refused, since it would
    reinterpret the bytes silently (a float64 host array's 1.0 read as the float32s [0.0, 1.875], an int64 as
    two int32s), where the typed copies refuse a dtype mismatch outright. A host array of unsigned integers
    (`host.view(np.uint8)`, uint32 words) still copies raw bits, on purpose; a `DevicePointer` has no dtype."""
    if not (isinstance(device_side, DeviceArray) and isinstance(host_array, (np.ndarray, np.generic))):
        return
    host_dtype = host_array.dtype
    if host_dtype == device_side.dtype or host_dtype.kind == "u" or host_dtype.kind not in NUMERIC_KINDS:
        return
    typed = (f"d.copy_to_device(host.astype({dtype_text(device_side.dtype)}))" if what == "memcpy_htod"
             else f"d.copy_to_host() (then .astype({dtype_text(host_dtype)}) on the host)")
    raise ArgumentError(f"{what}: a raw copy between a device array of {device_side.dtype} and a host array of "
                        f"{host_dtype} would reinterpret the bytes, not convert the values: use {typed}; the typed "
                        f"copies check the dtype (or copy raw bits on purpose with an unsigned-integer host array, "
                        f"host.view(np.uint8))",
                        dtype=str(device_side.dtype), host_dtype=str(host_dtype))


def saved_bytes(arrays: "list[DeviceArray]") -> list[np.ndarray]:
    """Copies of the device bytes of `arrays`, taken on the host with no transfer on any stream's timeline:
    the library's own undo record (`train.pipelined.applied_whole`), not a copy the program asked for, so
    it neither adds time nor a `memcpy_dtoh` to its streams. `restore_bytes` puts them back."""
    if not arrays:
        return []
    device = arrays[0].device
    with device.lock:
        return [device._own(array, "saved_bytes").storage.copy() for array in arrays]


def restore_bytes(arrays: "list[DeviceArray]", saved: list[np.ndarray]) -> None:
    """Put back the bytes `saved_bytes` took of `arrays` (with no transfer on any stream's timeline)."""
    if not arrays:
        return
    device = arrays[0].device
    with device.lock:
        for array, data in zip(arrays, saved):
            device._own(array, "restore_bytes").storage[...] = data
