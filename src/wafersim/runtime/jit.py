"""`@ws.jit`: a dispatcher like Numba's. It compiles a kernel on first launch for the argument types,
caches one binary per (type signature, machine), and launches it through the same path as any program.
A machine whose fields the compiler read (`compiler.spec_reads`) have another cached machine's values
reuses that machine's binary: the compiler would make the same one."""
from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable

import numpy as np

from ..arch.values import plural
from ..compiler import Compiled, KernelSignature, compile_kernel
from ..compiler import cuda_names
from ..compiler import intrinsics as wsi
from ..compiler.core import closure_globals
from ..compiler.sources import remember_source
from ..compiler.spec_reads import reads_match
from ..compiler.values import ARRAY_DTYPES, fits_int32
from ..errors import ArgumentError, ArgumentTypeError, CompileError, LaunchError, flag_argument
from ..sim.engine import reserve_before_compile
from . import kernel_cache
from .device import Device, DeviceArray, Kernel, is_half_scalar
from .arrays import DevicePointer


#: The one nan a `ws.constant` parameter's key holds (tuples compare an item by identity before equality).
_NAN = float("nan")


def array_argument_hint(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    """What to do with a device array a kernel cannot take (`Dispatcher.signature_of`): the dtype to copy it
    as (NumPy's defaults, int64 and float64, are the usual cause), or the shape to give it."""
    dtype = np.dtype(dtype)
    if dtype not in ARRAY_DTYPES:
        if dtype.kind in "iub":
            why = " (int64 is NumPy's default integer type)" if dtype == np.int64 else ""
            # (following the advice must not wrap silently: astype does, for values outside int32)
            wide = (" (astype wraps values outside int32 without a word: check that they fit, "
                    "np.iinfo(np.int32).min <= host.min() and host.max() <= np.iinfo(np.int32).max)"
                    if dtype.itemsize >= 4 else "")
            return (f"{why}: copy it as int32, dev.to_device(host.astype(np.int32)){wide}, or make it with "
                    f"dev.device_array(shape, np.int32)")
        if dtype.kind == "f":
            why = " (float64 is NumPy's default float type)" if dtype == np.float64 else ""
            return (f"{why}: copy it as float32, dev.to_device(host.astype(np.float32)), or make it with "
                    f"dev.device_array(shape, np.float32)")
        return ": copy a float32 or int32 array instead (docs/programming-model.md, Global memory)"
    if not shape:
        return ": pass a 0-d value as a scalar argument (host[()]), or as a 1-element array (host.reshape(1))"
    rows = int(np.prod(shape[:-1]))
    hint = f": reshape it to 2-D, host.reshape({rows}, {shape[-1]})"
    return hint + (f" (index it as [i * {shape[1]} + j, k] for [i, j, k])" if len(shape) == 3 else "")


def refuse_numpy_int_scalar(value: Any, label: str, name: str, position: int) -> None:
    """An `ArgumentTypeError` for an integer scalar argument NumPy computes with in another type than a
    kernel's int32 (`Dispatcher.signature_of`), as module constants of those types are refused: an np.uint8,
    int8, int16, uint16, uint32 or uint64 wraps at its own width (np.uint8(200) + 100 is 44 in NumPy, 300 as
    an int32), an np.bool_ adds as a boolean (np.True_ + np.True_ is True, ~np.True_ is False)."""
    if isinstance(value, np.bool_):
        raise ArgumentTypeError(f"{label}: a NumPy bool ({value!r}): NumPy computes with it as a boolean "
                                f"(np.True_ + np.True_ is True, ~np.True_ is False), where a kernel's bool is "
                                f"Python's, an int (True + True is 2); pass bool({name})", position=position,
                                type="bool_")
    if isinstance(value, np.integer) and value.dtype not in (np.int32, np.int64):
        info = np.iinfo(value.dtype)
        wraps = (f"np.{value.dtype}(0) - 1 is {info.max}" if info.min == 0
                 else f"np.{value.dtype}({info.max}) + 1 is {info.min}")
        raise ArgumentTypeError(f"{label}: a NumPy {value.dtype} ({value!r}): NumPy computes with it in "
                                f"{value.dtype}, wrapping at {info.bits} bits ({wraps}), where a kernel's ints are "
                                f"int32; pass int({name}) or np.int32({name})", position=position,
                                type=str(value.dtype))


class Dispatcher(Kernel):
    """A `@ws.jit` function. Launch: `kernel[grid, block](args)` or `kernel[grid, block, stream](args)`."""

    __wafersim_jit__ = True

    def __init__(self, py_func: Callable, boundscheck: bool = True) -> None:
        # (not Kernel.__init__, which requires a Program: a jit kernel compiles one per launch signature)
        self.program, self.device = None, None  # type: ignore[assignment]
        self.py_func = py_func
        self.boundscheck = boundscheck
        self.parameters = list(inspect.signature(py_func).parameters)
        self.cache: dict[tuple, Compiled] = {}
        self.compile_seconds: dict[tuple, float] = {}
        self._specs: dict[tuple, Any] = {}  # the machine of each cached specialisation (to compile it again)
        # each specialisation's `kernel_cache.program_key` when it was compiled or loaded (None: no key): another
        # machine reuses its program only if it is still the same (a global changed since compiles anew, as
        # before), and a program loaded from the on-disk cache is compiled again (`_compiled`) only if it is still
        # the same
        self._program_keys: dict[tuple, str | None] = {}
        self._last: tuple | None = None
        functools.update_wrapper(self, py_func)
        remember_source(py_func)  # (the text Python compiled it from: a later edit of the file is not this function)

    def __call__(self, *args, **kwargs):
        raise LaunchError(f"{self.py_func.__name__} is a @ws.jit kernel: launch it with "
                          f"{self.py_func.__name__}[grid, block](...), or call it from another kernel")

    @staticmethod
    def signature_of(args: tuple, names: Any = ()) -> tuple[KernelSignature, list[Any]]:
        """The type signature of launch arguments, and the argument words they expand to (`names`: the
        kernel's parameters, which the errors name)."""
        kinds, words = [], []
        for position, value in enumerate(args):
            label = f"argument {position}" + (f" ({names[position]})" if position < len(names) else "")
            if isinstance(value, DeviceArray):
                if value.dtype not in ARRAY_DTYPES or value.ndim not in (1, 2):
                    raise LaunchError(f"{label}: kernels take 1-D or 2-D float32 or int32 device arrays "
                                      f"(or float16, bfloat16), got {value.ndim}-D {value.dtype}"
                                      f"{array_argument_hint(value.dtype, value.shape)}", position=position,
                                      dtype=str(value.dtype), ndim=value.ndim)
                if not all(fits_int32(n) for n in value.shape):
                    # (a kernel reads `x.shape` as int32 words: a dimension of 2**31 would read as -2**31, and
                    # one of 2**32 was refused as "argument <word number>"; only an empty array gets this far
                    # with one, as a non-empty one would not fit the 4 GiB a kernel addresses)
                    raise LaunchError(f"{label}: shape {value.shape} has a dimension past {2**31 - 1:,}, and a kernel "
                                      f"reads an array's shape as int32 (x.shape, x.size): pass an array whose "
                                      f"dimensions fit int32 (for an empty array, shape (0,) does as well)",
                                      position=position, shape=value.shape)
                kinds.append(("array", ARRAY_DTYPES[value.dtype], value.ndim))
                words += [value, *value.shape]
            elif isinstance(value, np.ndarray):
                scalar = (" (a 0-d array: pass its value as a scalar argument, host[()])" if value.ndim == 0
                          else "")
                raise ArgumentTypeError(f"{label}: a host NumPy array; copy it to the device first "
                                        f"(dev.to_device(array)): kernels take device arrays, and a launch does not "
                                        f"copy host arrays in and out as Numba's does{scalar}", position=position)
            elif isinstance(value, DevicePointer):
                raise LaunchError(f"{label}: a DevicePointer from dev.malloc is raw memory for "
                                  f"dev.memcpy_htod / dev.memcpy_dtoh, with no shape or dtype for a kernel to index: "
                                  f"pass a device array, dev.device_array(shape, dtype) or dev.to_device(host)",
                                  position=position, type="DevicePointer")
            elif isinstance(value, (bool, np.bool_, int, np.integer)) and not isinstance(value, np.timedelta64):
                # (NumPy's timedelta64 is an np.integer, but no number: refused below, not a bare TypeError)
                refuse_numpy_int_scalar(value, label, names[position] if position < len(names) else "x", position)
                # (a bool is marked: NumPy takes it as a mask if the kernel indexes with it, which is refused; an
                # np.int64 too: NumPy computes with it in int64, so the kernel refuses its int arithmetic)
                kinds.append(("scalar", "i32", "bool") if isinstance(value, bool)
                             else ("scalar", "i32", "int64") if isinstance(value, np.int64) else ("scalar", "i32"))
                words.append(int(value))
            elif isinstance(value, (float, np.floating)) or is_half_scalar(value):
                kinds.append(("scalar", "f32"))
                # (a NumPy scalar as it is: `float` of a signalling NaN quiets it, so the kernel read other bits
                # than the value's, and a ws.constant one was refused as another value than compiled for)
                words.append(value if isinstance(value, np.generic) else float(value))
            else:
                # (the wrong type: an ArgumentTypeError, which is a LaunchError, as docs/api.md lists it)
                raise ArgumentTypeError(f"{label}: unsupported type {type(value).__name__} (pass "
                                        f"device arrays, ints or floats)", position=position,
                                        type=type(value).__name__)
        return KernelSignature(tuple(kinds)), words

    def compile(self, signature: KernelSignature, device: Device) -> Compiled:
        # (`boundscheck` too: `kernel.boundscheck = True` after a launch went on running the unchecked binary)
        key = (signature.args, device.spec.cache_key, self.boundscheck)
        if key not in self.cache:
            start = time.perf_counter()
            self._add(key, signature, device.spec)
            self.compile_seconds[key] = time.perf_counter() - start
        self._last = key
        return self.cache[key]

    def _add(self, key: tuple, signature: KernelSignature, spec: Any) -> None:
        """Put the specialisation `key` in the cache: the program of another machine that the compiler read
        the same fields of (`compiler.spec_reads`), else loaded from the on-disk cache, else compiled."""
        program = kernel_cache.program_key(self.py_func, signature.args, self.boundscheck)
        same = self._same_program(key, program, spec)
        if same is not None:
            # (with that machine, which compiles the same program again for `_compiled(with_passes=True)`)
            self.cache[key], self._specs[key] = self.cache[same], self._specs[same]
            self._program_keys[key] = program
            return
        on_disk = bool(program) and kernel_cache.ENABLED
        compiled = kernel_cache.find(program, spec) if on_disk else None
        if compiled is None:
            compiled = compile_kernel(self.py_func, signature, spec, self.boundscheck)
            if on_disk:
                kernel_cache.store(program, spec, compiled)
        self.cache[key], self._specs[key], self._program_keys[key] = compiled, spec, program

    def _same_program(self, key: tuple, program: str | None, spec: Any) -> tuple | None:
        """A cached specialisation (its key) compiled from what `key` would be, its machine aside (the same
        `kernel_cache.program_key`: source, globals, device functions, argument types, boundscheck, passes),
        on a machine whose fields the compiler read have `spec`'s values; None if there is none."""
        if program is None:  # (a kernel whose globals cannot be fingerprinted: each machine compiles it anew,
            return None      # reading them as they are then, as before)
        args, _, boundscheck = key
        for other, compiled in tuple(self.cache.items()):  # (a copy: another thread may add one meanwhile)
            if (other[0] == args and other[2] == boundscheck and self._program_keys.get(other) == program
                    and reads_match(compiled.spec_reads, spec)):
                return other
        return None

    def launch(self, device: Device, grid, block, args, stream=None, **options):
        # (holding the device's lock: another thread cannot free an argument between its checks and the launch)
        with device.lock:
            return self._launch(device, grid, block, args, stream, **options)

    def _launch(self, device: Device, grid, block, args, stream=None, **options):
        self.check_option_names(len(args), options)
        reserve_before_compile(device.spec, grid, block)  # (the launch's heap mapped in while the kernel compiles)
        compiled, words = self.prepare(device, args)
        return device.launch(compiled.program, grid, block, words, stream=stream, **options)

    def prepare(self, device: Device, args) -> tuple[Compiled, list[Any]]:
        """(the kernel compiled for `args` on `device`, the launch's argument words): the arguments bound to
        the parameters and checked, each naming its parameter in an error."""
        args = self.bind(args)
        signature, words = self.signature_of(tuple(args), self.parameters)
        for position, (value, name) in enumerate(zip(args, self.parameters)):  # errors name the parameter
            if signature.args[position][:2] == ("scalar", "i32") and not fits_int32(int(value)):
                # (`Device.launch` takes any 32-bit word; a kernel's int parameter is an int32, which would
                # see 2**31 and above wrapped around. Checked before `kernel_argument`, whose "32 bits" bound
                # is the raw word's, so that -2**31 - 1 and 2**32 get this message too)
                raise LaunchError(f"argument {position} ({name}): {value} does not fit int32 (from {-2**31} to "
                                  f"{2**31 - 1}), a kernel's int type", position=position)
            device.kernel_argument(value, position, name)
        return self.compile(self.with_constants(signature, args), device), words

    def check_option_names(self, given: int, options: dict) -> None:
        """A launch keyword that names a parameter the positional arguments left out (`def k(out, trace=0)`,
        `k[g, b](out, trace=True)`): refused, since keywords are launch options, so the kernel would silently
        see the parameter's default (or miss an argument) while the launch took the value as the option."""
        clash = [name for name in self.parameters[given:] if name in options]
        if clash:
            name = clash[0]
            before = ", ".join(self.parameters[:self.parameters.index(name)])
            raise LaunchError(f"{name}={options[name]!r} at the launch of {self.py_func.__name__}"
                              f"({', '.join(self.parameters)}) is the launch option {name}, not the kernel's "
                              f"parameter {name}, which the launch left out (kernel arguments are positional): pass "
                              f"the parameter by position, {self.py_func.__name__}[grid, block]({before}"
                              f"{', ' if before else ''}{name}), with the option after it if you also mean the "
                              f"option", parameter=name, option=name)

    def bind(self, args: tuple) -> tuple:
        """One argument per parameter: the launch's, then the defaults of those it leaves out, as in a Python
        call (`def k(out, alpha=0.5)`, `k[g, b](out)`); too few or too many is a `LaunchError`."""
        self.check_plain_parameters()
        args, defaults = tuple(args), self.defaults
        given = len(args)
        if len(self.parameters) - len(defaults) <= len(args) < len(self.parameters):
            args = (*args, *defaults[len(args) - len(self.parameters):])
        for position in range(given, len(args)):  # (else the error would name an argument the launch did not give)
            try:
                self.signature_of((args[position],))
            except LaunchError as err:
                name = self.parameters[position]
                raise LaunchError(f"{name} was left out, and its default {args[position]!r} is no launch argument: "
                                  f"{str(err).split(': ', 1)[-1]}; pass {name} at the launch",
                                  position=position, parameter=name) from None
        if len(args) != len(self.parameters):
            needed = len(self.parameters) - len(defaults)
            takes = plural(len(self.parameters), "argument") if not defaults else \
                f"{needed} to {len(self.parameters)} arguments"
            raise LaunchError(f"{self.py_func.__name__}({', '.join(self.parameters)}) takes {takes}, "
                              f"the launch gave {len(args)}", expected=len(self.parameters),
                              given=len(args))
        return args

    def check_plain_parameters(self) -> None:
        """A kernel's parameters are plain names, one launch argument each: `*args`, `**kwargs`,
        keyword-only and positional-only parameters are a CompileError at the `def` line."""
        odd = self.odd_parameters
        if odd:
            code = self.py_func.__code__
            line = code.co_firstlineno  # (its first decorator's line: moved on to the `def`)
            try:
                lines, start = inspect.getsourcelines(self.py_func)
                line = start + next(k for k, text in enumerate(lines) if text.lstrip().startswith("def "))
            except (OSError, TypeError, StopIteration):
                pass
            shown = ", ".join(("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "")
                              + p.name for p in odd)
            raise CompileError(f"{code.co_filename}:{line}:1: {self.py_func.__name__}({shown}): a "
                               f"kernel's parameters are plain names, one launch argument each (no *args, **kwargs, "
                               f"keyword-only or positional-only parameters)", file=code.co_filename,
                               line=line, col=1)

    @functools.cached_property
    def defaults(self) -> tuple:
        """The default values of the last parameters (`def k(out, alpha=0.5)`): a launch may leave them out."""
        return tuple(p.default for p in inspect.signature(self.py_func).parameters.values()
                     if p.default is not inspect.Parameter.empty)

    @functools.cached_property
    def odd_parameters(self) -> list[inspect.Parameter]:
        """The parameters that are not plain names (`check_plain_parameters`)."""
        return [p for p in inspect.signature(self.py_func).parameters.values()
                if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD]

    def with_constants(self, signature: KernelSignature, args) -> KernelSignature:
        """`signature` with the arguments of `ws.constant` parameters as ("constant", type, value): the kernel
        is compiled for each value (the cache key holds it), in which the parameter is a constant."""
        kinds = list(signature.args)
        for position in self.constant_parameters:
            kind, value = kinds[position], args[position]
            if kind[0] != "scalar":
                raise LaunchError(f"argument {position} ({self.parameters[position]}: ws.constant) must be an int or a "
                                  f"float, not {type(value).__name__}", position=position)
            if kind[1] == "i32":
                kinds[position] = ("constant", "i32", int(value), *kind[2:])  # (and "bool" for a bool)
            else:  # (with its float32 bits: 0.0 == -0.0, but a kernel may tell them apart, as copysign does)
                number = float(value)
                number = _NAN if number != number else number  # (one nan object: nan != nan, and a key holding
                # a new one each launch would never be found again, so every launch compiled anew)
                kinds[position] = ("constant", "f32", number, int(np.float32(value).view(np.uint32)))
        return KernelSignature(tuple(kinds))

    @functools.cached_property
    def constant_parameters(self) -> tuple[int, ...]:
        """Positions of the parameters annotated `ws.constant` (also as the string of a postponed annotation)."""
        names = closure_globals(self.py_func)
        positions = []
        for position, parameter in enumerate(inspect.signature(self.py_func).parameters.values()):
            annotation = parameter.annotation
            if isinstance(annotation, str):  # `from __future__ import annotations`: a dotted name's text
                head, *attributes = annotation.strip().split(".")
                annotation = names.get(head)
                for attribute in attributes:
                    annotation = getattr(annotation, attribute, None)
            if annotation is wsi.constant:
                positions.append(position)
        return tuple(positions)

    def _compiled(self, with_passes: bool = False) -> Compiled:
        """The last compiled specialisation; `with_passes`: with the IR after each pass, which a program
        loaded from the on-disk cache lacks (compiled again for it: the same program)."""
        if self._last is None:
            raise LaunchError(f"{self.py_func.__name__} has not been compiled yet: launch it once, or call "
                              f"compile_for(args)")
        compiled = self.cache[self._last]
        if with_passes and compiled.passes is None and compiled.from_disk_cache:
            args, _, boundscheck = self._last
            spec = self._specs[self._last]
            # Compiled again, the kernel reads its globals, closure and device functions as they are now: if
            # they changed since the program was loaded, that would be another program, and the launches after
            # it would silently run it (a global is read when a specialisation is first compiled, and stays).
            if kernel_cache.program_key(self.py_func, args, boundscheck) != self._program_keys.get(self._last):
                raise LaunchError(f"{self.py_func.__name__}: this specialisation was loaded from the on-disk kernel "
                                  f"cache, and what it was compiled from (a global, a closure variable, a device "
                                  f"function) has changed since: the IR after each pass of the program in use cannot "
                                  f"be shown. inspect_ir() without after= and inspect_asm() show that program; for "
                                  f"the passes, compile it again with the cache off (WAFERSIM_KERNEL_CACHE=0)")
            compiled = compile_kernel(self.py_func, KernelSignature(args), spec, boundscheck)
            self.cache[self._last] = compiled
            self._program_keys.pop(self._last, None)  # (compiled from the globals as they are now: no key known)
        return compiled

    def compile_for(self, *args: Any, device: Device | None = None) -> Compiled:
        """Compile for these arguments without launching (like Numba's `.compile`)."""
        from .current import get_current_device

        if device is not None and not isinstance(device, Device):  # (was "'str' object has no attribute 'spec'")
            raise ArgumentTypeError(f"compile_for: device must be a wafersim Device or None, got {device!r}")
        args = self.bind(args)
        owners = [a.device for a in args if isinstance(a, DeviceArray)]
        device = device or (owners[0] if owners else get_current_device())
        return self.compile(self.with_constants(self.signature_of(args, self.parameters)[0], args), device)

    def inspect_ir(self, after: str | None = None) -> str:
        """The IR of the last compiled specialisation: before optimisation and register allocation, or
        after the optimisation pass named `after` (one of `wafersim.compiler.PASS_NAMES`)."""
        if after is not None and not isinstance(after, str):  # (a list or dict: Python's "unhashable type")
            raise ArgumentTypeError(f"inspect_ir: after must be a pass name (a str, one of "
                                    f"wafersim.compiler.PASS_NAMES) or None, got {after!r}", after=after)
        compiled = self._compiled(with_passes=after is not None)
        if after is None:
            return compiled.ir_text
        try:
            return compiled.ir_after(after)
        except KeyError as exc:  # an unknown pass name: a bad argument, reported as one
            raise ArgumentError(str(exc.args[0]) if exc.args else f"no pass named {after!r}", after=after) from None

    def inspect_asm(self) -> str:
        """The assembly of the last compiled specialisation."""
        return self._compiled().asm_text

    def __repr__(self) -> str:
        return f"<ws.jit kernel {self.py_func.__name__}>"


def jit(func: Callable | None = None, *, boundscheck: bool = True, **options: Any) -> Any:
    """Decorate a Python function as a wafer kernel (or a device function callable from kernels).

    `@ws.jit` or `@ws.jit(boundscheck=False)`: with bounds checks (the default), an array index or slice
    outside its array stops the kernel with a MemoryAccessError naming the array, the index and the PE;
    without them, kernels run a little faster and stray accesses are caught only at the edge of memory.
    Numba's other `cuda.jit` options (`device=True`, `fastmath`, `cache`, ...) are an `ArgumentTypeError`
    saying what wafersim does instead."""
    if options:
        raise ArgumentTypeError(cuda_names.jit_options_message(options))
    boundscheck = flag_argument(boundscheck, "boundscheck")  # (at the decorator: "False" is truthy)
    if func is None:
        return lambda f: jit(f, boundscheck=boundscheck)
    if isinstance(func, str) or (isinstance(func, (list, tuple)) and func and all(isinstance(f, str) for f in func)):
        raise ArgumentTypeError(f"@ws.jit decorates a Python function, not a {type(func).__name__}: a kernel is "
                                f"compiled for the types of each launch's arguments, so it takes no Numba type "
                                f"signature ({func!r}); write @ws.jit, and kernel.compile_for(*args) to compile "
                                f"ahead of a launch")
    if not inspect.isfunction(func):
        raise ArgumentTypeError(f"@ws.jit decorates a Python function, not a {type(func).__name__}")
    return Dispatcher(func, boundscheck)
