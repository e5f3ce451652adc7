"""Calls in kernels: the wafersim intrinsics (grid, send, recv, print, ...), math functions, conversions,
and `@ws.jit` device functions (inlined by `device_functions.DeviceFunctionLowering`)."""
from __future__ import annotations

import ast
import math
import re
import types

import numpy as np

from ..arch.values import is_integer
from ..isa.halfprec import HALF_DTYPES
from ..isa.routes import KNOWN as KNOWN_ROUTES
from ..isa.routes import NAMED as NAMED_ROUTES
from ..isa.routes import PATTERN_NAMES
from . import cg
from . import cuda_names
from . import intrinsics as wsi
from ..arch.values import plural
from .core import PACKAGE_DIR
from .scalar_math import MATH_FUNCTIONS, OPERATOR_FUNCTIONS, MathLowering
from .background import BackgroundCallLowering
from .descriptors import DescriptorLowering
from .fabric_calls import FabricCallLowering
from .sparse import SparseCallLowering
from .device_functions import DeviceFunctionLowering
from .values import (NOT_STATIC, GlobalArray, LocalArray, SliceRef, Tup, Unsupported, Val, describe,
                     fits_int32, to_float32, wrap_int32)


def _arity(args, n: int) -> None:
    if len(args) != n:
        raise Unsupported(f"this function takes {plural(n, 'argument')}, got {len(args)}")


_REDUCE = ("write the builtin {0}(v[a:b]) (or {0}(v) of a whole 1-D local array): one vector instruction, "
           "see Reductions in docs/python-supported.md")
#: Why int(float(p)) of an int p near 2**31 is refused, where Python gives p: the kernel's floats are float32.
_FLOAT32_ROUNDING = (" (the kernel's floats are float32, which hold ints exactly only up to 2**24: float() of an int "
                     "from 2**31 - 64 up, 2**31 - 1 included, is 2147483648.0, where Python's float64 keeps it; "
                     "keep an int an int, or convert a float32 known only at run time, which saturates)")
_ELEMENTWISE = ("write the builtin {0}(a, b): of two numbers, or of slices in a slice assignment "
                "(`w[0:n] = {0}(u[0:n], v[0:n])`), or an element loop (`for k in range(n): w[k] = ...`)")
_NEW_ARRAY = ("a kernel makes no arrays at run time: ws.local.array(shape, dtype) is this PE's array (in its SRAM, "
              "a constant shape, zero at the block's start), filled with slice assignments (`buf[0:n] = 1.0`)")
#: What to write instead of the NumPy functions new users reach for first: the builtins work on slices.
_NUMPY_HINTS = {np.sum: _REDUCE.format("sum"), np.max: _REDUCE.format("max"), np.amax: _REDUCE.format("max"),
                np.min: _REDUCE.format("min"), np.amin: _REDUCE.format("min"),
                np.maximum: _ELEMENTWISE.format("max"), np.minimum: _ELEMENTWISE.format("min"),
                np.dot: "write ws.dot(u[a:b], v[a:b]) (two slices of one length and dtype)",
                np.mean: "write sum(v[a:b]) / n (the builtin sum works on slices)",
                np.absolute: "write the builtin abs(x) (or math.fabs(x) for a float32 result), of a number or, in a "
                             "slice assignment, of slices",
                divmod: "write (a // b, a % b), which floor as Python's divmod does (for int32 and float32 alike)",
                np.divmod: "write (a // b, a % b), which floor as NumPy's divmod does",
                np.square: "write x * x (rounded once, as NumPy's float32 square)",
                np.clip: "write min(max(x, lo), hi) of numbers (or of slices in a slice assignment)",
                np.where: "write a conditional expression, `a if c else b`, of numbers (an element loop for arrays)",
                np.sign: "write (x > 0) - (x < 0), an int32 (where np.sign of a float gives a float, and nan for nan)",
                math.isclose: "write abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol) with the tolerances "
                              "you mean (math.isclose's defaults: rel_tol=1e-09, abs_tol=0.0)",
                **dict.fromkeys((np.zeros, np.empty, np.ones, np.full, np.array, np.zeros_like, np.empty_like,
                                 np.ones_like, np.full_like, np.arange), _NEW_ARRAY)}


def _scalar_type_hint(callee) -> str | None:
    """What to write for a conversion to a NumPy scalar type a kernel has no values of (`np.float16(x)`,
    `np.float64(x)`, `np.int64(x)`), else None."""
    if not (isinstance(callee, type) and issubclass(callee, np.generic)):
        return None
    if callee in HALF_DTYPES.values():
        return ("scalars are never 16-bit in a kernel: store the value into an element of a 16-bit array "
                "(h[i] = x rounds it to nearest even), whose reads give float32 values (docs/python-supported.md, "
                "16-bit floats)")
    if issubclass(callee, np.floating):
        return "a kernel's floats are float32: write np.float32(x) or float(x)"
    if issubclass(callee, np.integer):
        return "a kernel's ints are int32: write np.int32(x) (wraps as NumPy's int32) or int(x)"
    return None


def _is_string_formatting(node: ast.expr) -> bool:
    """Whether `node` formats a string: `"..." % v` or `"...".format(...)`."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str))


def _instead_of_method(owner: str, method: str) -> str:
    """What to write instead of the method call `owner.method()` in a kernel."""
    if method in ("sum", "min", "max"):
        return (f"write {method}({owner}[0:n]) for {owner}.{method}() (a slice of a local array: copy a global "
                f"array's words into one first)")
    if method == "astype":
        return f"convert a number with float({owner}) or int({owner}), an array element by element"
    return "write a function of it instead (sum(a[0:n]) for a.sum(), min(a[0:n]) for a.min())"


_PRINTF_CONVERSION = re.compile(r"%[-+ #0]*[0-9]*(?:\.[0-9]+)?(?:hh|h|ll|l)?[diouxXeEfFgGcsp]")


def _print_arity_message(label: str, args: list[ast.expr]) -> str:
    """Why `ws.print(label, *args)` is refused (it takes one value after the label), with the calls that print
    what was meant, one a value: labels from the call's own string arguments, else each value's source text (a
    printf-style format label, "x=%d y=%f", is dropped: ws.print does not format it)."""
    if not args:
        if label:
            return (f"ws.print({_quoted(label)}) has a label and no value: ws.print prints one value (an int32 or "
                    f"float32) after its label, ws.print({_quoted(label)}, value)")
        return "ws.print() needs a value to print: ws.print(\"label\", value), or ws.print(value)"
    formats = bool(_PRINTF_CONVERSION.search(label))
    pending = None if formats or not label else label
    calls = []
    for arg in args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            pending = arg.value
            continue
        text = ast.unparse(arg)
        calls.append(f"ws.print({_quoted(pending if pending is not None else text)}, {text})")
        pending = None
    write = " then ".join(calls) if calls else "ws.print(\"label\", value)"
    if formats:
        return (f"ws.print does not format strings, as CUDA's printf does: the label {_quoted(label)} is printed as it "
                f"is, before one value (an int32 or float32); call it once per value: {write}")
    if len(calls) == 1:  # (one value and a string after it: the label goes first)
        return f"ws.print([label,] value) takes its label first and then one value: {write}"
    return f"ws.print([label,] value) prints one value: call it once per value: {write}"


def _quoted(text: str) -> str:
    """`text` as a double-quoted Python string literal, as the messages write calls."""
    literal = repr(text)
    return literal if literal.startswith('"') else '"' + literal[1:-1].replace('"', '\\"') + '"'


class CallLowering(FabricCallLowering, SparseCallLowering, DescriptorLowering, BackgroundCallLowering,
                  MathLowering, DeviceFunctionLowering):
    def is_grid_sync(self, node: ast.Call) -> bool:
        """Whether `node` is `ws.cg.this_grid().sync()` (both calls without arguments: else refused)."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)):
            return False
        group_node = func.value.func
        if isinstance(group_node, ast.Attribute) and group_node.attr != "this_grid":
            # (`ws.cg.this_thread_block().sync()`: the missing name's error, with what to write instead, rather
            # than "only intrinsics ... can be called", which is what the call of its result would say)
            try:
                base = self.static(group_node.value)
            except Unsupported:
                base = None
            if base is cg:
                self.static(group_node)  # raises: ws.cg has no attribute ...
        try:
            group = self.static(group_node)
        except Unsupported:
            return False
        if group is not cg.this_grid:
            return False
        if func.attr != "sync":
            raise Unsupported(f"ws.cg.this_grid().{func.attr}() is not supported: a grid group has sync() only "
                              f"in a kernel")
        if node.args or node.keywords or func.value.args or func.value.keywords:
            raise Unsupported("ws.cg.this_grid().sync() takes no arguments")
        return True


    def not_callable_message(self, func: ast.expr) -> str:
        """Why `func(...)` cannot be called, where `func` is no compile-time callable: a kernel launched from a
        kernel (`other[grid, block](...)`) and a method of a run-time value (`x.bit_length()`) say so."""
        if isinstance(func, ast.Subscript):
            try:
                launched = self.static(func.value)
            except Unsupported:
                launched = NOT_STATIC
            if getattr(launched, "__wafersim_jit__", False):
                name = ast.unparse(func.value)
                return (f"a kernel cannot launch a kernel ({name}[...](...): there is no dynamic parallelism): "
                        f"call it as a device function, {name}(...), which is inlined here, or launch it from "
                        f"the host")
        if isinstance(func, ast.Attribute):
            return (f".{func.attr}() is a method of a value known only at run time: numbers and arrays have no "
                    f"methods in a kernel: {_instead_of_method(ast.unparse(func.value), func.attr)}")
        return "only intrinsics, math functions and @ws.jit functions can be called in a kernel"

    def call(self, node: ast.Call):
        if self.is_grid_sync(node):
            self.emit("gbar")
            return None
        callee = self.static(node.func)
        if callee is NOT_STATIC:
            raise Unsupported(self.not_callable_message(node.func))
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise Unsupported("*args and **kwargs are not supported in kernel calls")
        if getattr(callee, "__wafersim_jit__", False):
            return self.inline(node, callee.py_func)
        if callee in wsi.SPARSE:
            return self.sparse_call(callee, node)
        if callee is wsi.outer_add:
            return self.outer_add(node)
        if callee in wsi.BACKGROUND:
            return self.background_call(callee, node)
        if callee in wsi.STREAMS:
            return self.stream_call(callee, node)
        if callee is wsi.streamable:
            return self.streamable_call(node)
        if callee is wsi.is_float:
            return self.is_float_call(node)
        args = node.args
        kwargs = {k.arg: k.value for k in node.keywords}
        allowed = {wsi.send: {"channel"}, wsi.recv: {"channel", "dtype", "out", "bitcast"}, wsi.route: {"rx", "tx"}}.get(callee, set())
        unexpected = sorted(set(kwargs) - allowed)
        if unexpected:
            raise Unsupported(f"{getattr(callee, '__name__', None) or getattr(callee, 'name', callee)}() takes no "
                              f"keyword argument {unexpected[0]!r} in a kernel")
        if callee is wsi.grid or callee is wsi.gridsize:
            return self.grid(callee, args)
        if callee is wsi.has_neighbor:
            _arity(args, 1)
            return self.result("hasnb", "i32", dir=self.direction(args[0]))
        if callee is cg.this_grid:
            raise Unsupported("ws.cg.this_grid() is supported as ws.cg.this_grid().sync() only (a barrier over "
                              "every PE of the launch): call that, not the group's other methods or a variable")
        if callee is wsi.syncthreads:
            _arity(args, 0)
            self.emit("bar")
            return None
        if callee is wsi.send:
            return self.send(node, args, kwargs)
        if callee is wsi.route:
            return self.route(args, kwargs)
        if callee is wsi.refuse:
            _arity(args, 1)
            message = self.static(args[0])
            raise Unsupported(message if isinstance(message, str) else "ws.refuse(message) takes a constant string",
                              node)
        if callee is wsi.use_route:
            _arity(args, 2)
            channel, name = self.channel({}, args[0]), self.static(args[1])
            if name is NOT_STATIC:
                name = self.constant_int(args[1])
            if is_integer(name) and 0 <= name < len(PATTERN_NAMES):  # (an np.int32 pattern number too)
                name = PATTERN_NAMES[int(name)]
            if name not in NAMED_ROUTES:
                raise Unsupported(f"ws.use_route(channel, pattern): pattern must be one of {KNOWN_ROUTES}",
                                  args[1])
            if self.fn.routes.get(channel, name) != name:
                raise Unsupported(f"channel {channel} is already routed as {self.fn.routes[channel]} in this kernel "
                                  f"(at {self.route_sites[channel]}); use another channel for {name}"
                                  + (" (a collective given channel=c uses c, c + 1, ...: docs/routes.md)"
                                     if self.source.filename.startswith(PACKAGE_DIR) else ""), args[0])
            self.fn.routes[channel] = name
            self.route_sites.setdefault(channel, self.user_site(node))
            return None
        if callee is wsi.route_mask:
            _arity(args, 3)
            masks = [self.expr(a) for a in args[1:]]
            if not all(isinstance(m, Val) and m.ty == "i32" for m in masks):
                raise Unsupported("ws.route_mask(channel, rx_mask, tx_mask) takes int32 port masks", node)
            self.emit("routr", ch=self.channel({}, args[0]), a=self.reg_of(masks[0]), b=self.reg_of(masks[1]))
            return None
        if callee is wsi.recv:
            return self.recv(node, args, kwargs)
        if callee is wsi.local.array:
            raise Unsupported("ws.local.array(...) must be assigned to a name: buf = ws.local.array(shape, dtype)")
        if callee is wsi.fma:
            _arity(args, 3)
            a, b, c = (self.to_type(self.scalar(x), "f32") for x in args)
            return self.result("fma", "f32", a=self.reg_of(a), b=self.reg_of(b), c=self.reg_of(c))
        if callee is wsi.print_:
            return self.debug_print(node, args)
        if callee in MATH_FUNCTIONS:
            return self.math_call(callee, args)
        if callee in OPERATOR_FUNCTIONS:
            return self.operator_call(callee, node)
        if callee is sum or callee is wsi.dot or (callee in (min, max) and len(args) == 1):
            return self.reduction(callee, args)
        if callee is abs:
            _arity(args, 1)
            v = self.scalar(args[0])
            if v.is_const and v.wraps:  # a NumPy int32: abs(-2**31) wraps around, as NumPy's does
                return Val("i32", const=wrap_int32(abs(v.const)), wraps=True, held=v.held)
            if v.is_const:
                absolute = self.const(abs(v.const))  # (abs(np.int64(-2**31)) is 2**31: does not fit, refused)
                absolute.int64, absolute.held = v.int64, v.held and v.ty == "f32"
                return absolute
            if v.int64:  # (NumPy's int64 abs(-2**31) is 2**31, where the kernel's int32 wraps)
                raise Unsupported("abs() of a variable that holds an np.int64 (known only at run time): NumPy "
                                  "computes it in int64, where the kernel's ints are int32 (abs(-2**31) wraps); "
                                  + self.int64_conversion(v))
            return self.result("fabs" if v.ty == "f32" else "abs", v.ty, a=v.reg)
        if callee in (min, max):
            return self.min_max(callee, args)
        if callee in (int, np.int32):
            _arity(args, 1)
            text = self.static(args[0])
            if isinstance(text, str):
                return self.int_of_text(callee, text, args[0])
            return self.to_int(self.scalar(args[0]), wraps=callee is np.int32)
        if callee in (float, np.float32):
            _arity(args, 1)
            text = self.static(args[0])
            if isinstance(text, str):
                return self.float_of_text(callee, text, args[0])
            return self.to_type(self.scalar(args[0]), "f32")
        if callee is bool or callee is np.bool_:  # Python's truth of a number: 0 or 1 (an int32, as bools are)
            _arity(args, 1)
            v = self.scalar(args[0])
            if v.is_const:
                return self.const(int(bool(v.const)))
            return self.truth(v) if v.ty == "f32" else self.result("sne", "i32", a=v.reg, b=0)
        if callee is len:
            return self.length_of(args)
        if callee is range:
            raise Unsupported("range() is only for `for` loops")
        if callee is print:  # Numba's CUDA print(): here ws.print, one labelled value a call
            raise Unsupported("print() cannot be called in a kernel: write ws.print(\"label\", value), CUDA's "
                              "printf here, which prints one int32 or float32 value with the PE and the cycle")
        hint = next((h for f, h in _NUMPY_HINTS.items() if f is callee), None) or _scalar_type_hint(callee)
        if hint is None and cuda_names.is_numba_function(callee):
            hint = cuda_names.NUMBA_FUNCTION
        if hint is None and isinstance(callee, types.FunctionType):
            hint = ("a plain Python function; decorate it with @ws.jit to make it a device function (inlined "
                    "where it is called)" if callee.__name__ != "<lambda>" else
                    "a lambda; define a @ws.jit function at module level instead (device functions are inlined)")
        raise Unsupported(f"{getattr(callee, '__name__', callee)!r} cannot be called in a kernel"
                          + (f": {hint}" if hint else ""))

    def float_of_text(self, callee, text: str, node: ast.expr) -> Val:
        """`float('inf')`, `float('-Infinity')`, `float('nan')`, `np.float32('1.5')`: a string known when
        compiling, read as Python (or NumPy) reads it, then a float32 constant. (CUDA and Python users write
        these where the compiler also takes math.inf.)"""
        try:
            with np.errstate(over="ignore"):  # ('1e50': inf, as NumPy gives it)
                value = np.float32(text) if callee is np.float32 else to_float32(float(text))
        except ValueError:
            raise Unsupported(f"{callee.__name__}({text!r}): Python cannot read {text!r} as a number (write a "
                              f"number, 'inf', '-inf' or 'nan', or math.inf / math.nan)", node) from None
        return Val("f32", const=float(value))

    def int_of_text(self, callee, text: str, node: ast.expr) -> Val:
        """`int('12')`, `np.int32(' -7 ')`: a string known when compiling, read as Python's `int()` (NumPy's
        `np.int32()`) reads it, base 10, then an int constant (as `float('1.5')` is a float one)."""
        try:
            value = np.int32(text) if callee is np.int32 else int(text)
        except (ValueError, OverflowError) as exc:
            what = ("does not fit in int32" if isinstance(exc, OverflowError) else
                    f"Python's int() cannot read {text!r} as a base-10 int (the text of a float converts with "
                    f"int(float(...)), which truncates)")
            raise Unsupported(f"{callee.__name__}({text!r}): {what}", node) from None
        return self.const(value)

    def length_of(self, args) -> Val:
        """`len()` of an array (its first dimension), a slice or a tuple, as Python gives it."""
        _arity(args, 1)
        value = self.expr(args[0])
        if isinstance(value, (LocalArray, GlobalArray)):
            return self.dimension(value, 0)
        if isinstance(value, SliceRef):
            return value.length
        if isinstance(value, Tup):
            return self.const(len(value.items))
        raise Unsupported(f"len() of {'a number' if isinstance(value, Val) else describe(value)}: it takes an "
                          f"array, a slice or a tuple", args[0])

    def grid(self, callee, args) -> Val | Tup:
        ndim = self.static(args[0]) if len(args) == 1 else None
        if ndim not in (1, 2) or isinstance(ndim, bool):
            got = "no argument" if not args else ast.unparse(args[0]) if len(args) == 1 else f"{len(args)} arguments"
            flat = " (no 3-D grids: the wafer is a 2-D mesh of PEs; fold a third axis into y, as in `z, y = " \
                   "y // height, y % height`, or loop over it in each PE)" if ndim == 3 else ""
            raise Unsupported(f"ws.{callee.name}(n) takes n = 1 or 2, got {got}{flat}")
        if callee is wsi.grid:
            coords = []
            for axis in "xy"[:ndim]:
                tid, bid, bdim = (self.special(f"{k}.{axis}") for k in ("tid", "bid", "bdim"))
                coords.append(self.arith(ast.Add(), tid, self.arith(ast.Mult(), bid, bdim)))
        else:
            coords = [self.arith(ast.Mult(), self.special(f"gdim.{a}"), self.special(f"bdim.{a}"))
                      for a in "xy"[:ndim]]
        return coords[0] if ndim == 1 else Tup(tuple(coords))

    def to_int(self, v: Val, wraps: bool) -> Val:
        """int(v) / np.int32(v): float32 truncates toward zero (saturating on the machine). A constant a
        variable holds (`held`: a device function's parameter, or a float computed from one) converts as the
        variable does at run time, saturating, as `p = 3e9; int(p)` does in the kernel's body: only a constant
        written as one is refused where Python's int() gives an int beyond int32."""
        if v.is_const and v.ty == "f32" and v.held and not (math.isfinite(v.const) and fits_int32(int(v.const))):
            return self.result("ftoi", "i32", a=self.reg_of(v))  # (the machine's saturation: no fold of its own)
        if v.is_const:
            if not math.isfinite(v.const):
                raise Unsupported(f"cannot convert the constant {v.const} to an int32")
            if not fits_int32(int(v.const)):  # (Python's int() has no int32 to saturate to: say so)
                raise Unsupported(f"int() of the constant {v.const!r} (a float32) is {int(v.const)}, which does not fit "
                                  f"in int32; at run time the conversion saturates: write the int you mean"
                                  f"{_FLOAT32_ROUNDING if abs(v.const) == 2.0**31 else ''}")
            converted = self.const(int(v.const))
            # (a variable's value, `held`, stays one: int32 arithmetic on it wraps, as on the register it is at
            # run time: `int(p) + 1` of p = 2**31 - 1 is -2**31, as `x = 2**31 - 1; int(x) + 1` is)
            converted.wraps, converted.held = wraps or v.held, v.held
            return converted
        if v.ty == "i32":  # (a variable holding an np.int64 converts to an int32, as in NumPy: Val.int64 drops)
            return Val("i32", v.reg) if v.int64 else v
        return self.result("ftoi", "i32", a=v.reg)

    def debug_print(self, node, args) -> None:
        label = ""
        if args and isinstance(self.static(args[0]), str):
            label, args = self.static(args[0]), args[1:]
        if args and isinstance(args[0], ast.JoinedStr):
            raise Unsupported("a ws.print label is a string known when compiling, not an f-string: "
                              "ws.print(\"v\", v) prints the label and the value", args[0])
        if args and _is_string_formatting(args[0]):  # printf habits: "x=%d" % x, "x={}".format(x)
            raise Unsupported("ws.print does not format strings: ws.print(\"x\", x) prints the label and one "
                              "value (an int32 or float32), with the PE and the cycle", args[0])
        if len(args) != 1:
            raise Unsupported(_print_arity_message(label, args))
        value = self.scalar(args[0])
        self.emit("print", a=self.reg_of(value), imm=self.string(label), flags=1 if value.ty == "f32" else 0)
        return None
