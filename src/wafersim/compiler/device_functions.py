"""Device functions in kernels: a call of a `@ws.jit` function is inlined with Python's argument binding
(positions, keywords, defaults), numbers and tuples passed by value, arrays by reference; errors inside one
name the call's place (`called_from`)."""
from __future__ import annotations

import ast
import inspect
from typing import Callable

import numpy as np

from ..errors import CompileError
from .core import PACKAGE_DIR, Source, closure_globals, read_source
from .values import KERNEL_OBJECTS, NOT_STATIC, SliceRef, Tup, Unsupported, Val, describe


def returned(registers):
    """What a call of a device function gives: copies of its result registers' values (a number or a tuple)."""
    if isinstance(registers, Tup):
        return Tup(tuple(returned(item) for item in registers.items))
    return Val(registers.ty, registers.reg, int64=registers.int64)  # (an np.int64 returned: NumPy's int64)


class DeviceFunctionLowering:
    """The `@ws.jit` device functions' part of `CallLowering`."""

    def inline(self, node: ast.Call, func: Callable) -> Val | None:
        """Inline a `@ws.jit` function: arguments bind to parameters as in Python (positions, keywords,
        defaults); numbers and tuples are passed by value, arrays by reference. A function without a return
        value gives None, which no expression accepts."""
        if func in self.inlining:
            raise Unsupported(f"recursive call to {func.__name__}: device functions are inlined, so one cannot "
                              f"call itself (directly or through others); write the recursion as a loop")
        discarded = node is self.discarded_call  # a statement: its value, None on some paths or not, is unused
        source = read_source(func)
        tree = source.tree
        if tree.args.vararg or tree.args.kwarg:
            raise Unsupported(f"{func.__name__}() has *args or **kwargs, which device functions cannot have (they "
                              f"are inlined with a fixed argument list): name each parameter, with defaults")
        positional = [self.argument(a) for a in node.args]  # evaluated in the caller, in Python's order
        keywords = {k.arg: self.argument(k.value) for k in node.keywords}
        try:
            bound = inspect.signature(func).bind(*positional, **keywords)
        except TypeError as exc:
            raise Unsupported(f"{func.__name__}(): {exc}") from None
        given = set(bound.arguments)
        bound.apply_defaults()
        bools = self.bool_arguments(func, node, self.may_be_bool)  # (judged in the caller's scope)
        saved = self.globals, self.scopes, self.defined, self.regions, self.loops, self.call_sites, self.source
        if not self.source.filename.startswith(PACKAGE_DIR):
            # (set before the parameters are bound: their registers belong to the function's scope)
            self.call_sites = ((self.source.filename, node.lineno + self.source.first_line - 1), *self.call_sites)
        scope = {}
        try:
            for name, value in bound.arguments.items():
                if name not in given:  # a default: the Python object the def statement evaluated
                    value = self.python_value(value)
                # Constants stay constants (a direction, a size, a route name or a tuple of ports passed to a
                # helper stays usable as one).
                constant = (isinstance(value, Val) and value.is_const) or not isinstance(value, KERNEL_OBJECTS)
                if isinstance(value, Val) and value.is_const and value.ty == "i32" and not value.int64:
                    # A parameter is a variable, which holds an int32 at run time whatever constant the call
                    # bound: its arithmetic wraps, as a kernel variable's does (`p = -2**31; p // -1` is -2**31
                    # in the kernel body; in `div(p)` it was a CompileError "does not fit in int32"). It stays
                    # a constant for what needs one (`a[k]` with k = -1 counts from the end, a shape, a size).
                    value = Val("i32", const=value.const, wraps=True, held=True)
                elif isinstance(value, Val) and value.is_const and value.ty == "f32":
                    value = Val("f32", const=value.const, held=True)  # (a variable too: int(p) saturates)
                scope[name] = value if constant else self.own(value, name)
        except BaseException:
            self.call_sites = saved[5]
            raise
        self.globals, self.source = closure_globals(func), source
        self.scopes, self.defined, self.regions, self.loops = [scope], set(scope), [], []
        self.inlining.append(func)
        self.bool_parameters.append(bools)
        done = self.new_label(f"ret_{func.__name__}_")
        results: list[Val] = []
        bare: list[ast.Return] = []  # the `return` / `return None` statements compiled
        self.return_target.append((done, results, bare))
        call_line = self.line  # (instructions after the call, in the same statement, belong to its line)
        try:
            self.statements(tree.body)
            ended = self.defined  # None when no path reaches the end of the body without a return
            if results and bare and not discarded:
                # Python's function gives None on that path, which no kernel value can hold: the result
                # register would keep whatever it held (a silent 0), so refuse it at the bare return.
                raise self.error(bare[0], f"this return gives None where another return of "
                                          f"{func.__name__}() gives a value: return a value on every path "
                                          f"(a device function's result is a number or a tuple of numbers)")
        except CompileError as error:
            views = [ast.unparse(arg) for arg, value in zip([*node.args, *(k.value for k in node.keywords)],
                                                            [*positional, *keywords.values()])
                     if isinstance(value, SliceRef) and not _is_slice(arg)]  # slices held in variables
            raise called_from(error, func, node, saved[-1], views) from None
        finally:
            self.return_target.pop()
            self.inlining.pop()
            self.bool_parameters.pop()
            self.globals, self.scopes, self.defined, self.regions, self.loops, self.call_sites, self.source = saved
            self.line = call_line
        if discarded:
            self.place(done)
            return None
        if results and ended is not None:
            raise Unsupported(f"{func.__name__}() returns a value on some paths but not at its end")
        self.place(done)
        return returned(results[0]) if results else None

    def call_items(self, node: ast.Call) -> list:
        """The items of a device function's tuple result (`for v in halves(p)`), called once as Python does."""
        value = self.expr(node)
        if not isinstance(value, Tup):
            raise Unsupported(f"for loops run over range(...) or a tuple, and {ast.unparse(node.func)}() gives "
                              f"{describe(value)}", node)
        return list(value.items)

    def argument(self, node: ast.expr):
        """A device function's argument: a kernel value, or a compile-time object that is not a number (a
        string, a tuple of constants, a dtype), passed as it is so it binds as a constant."""
        static = self.static(node)
        if static is NOT_STATIC and self.is_tuple(node) and _has_string(node) and self.calls_without_effect(node):
            # (`(np.float32(0.5), 'b')[0:1]`: a string is no kernel value, so such a tuple binds as the constant it
            # folds to, as comparisons fold it; one holding a value known only at run time is evaluated below, where
            # its string is refused: evaluating it twice is harmless, as it calls nothing with an effect)
            try:
                return self.python_value(self.tuple_operand(node))
            except (Unsupported, CompileError):
                pass
        if static is NOT_STATIC or isinstance(static, (bool, int, float, np.number)):
            value = self.expr(node)
            # `last = -1; f(a, last)`: a variable assigned once from an integer constant binds as that constant,
            # as the literal `f(a, -1)` does, so `a[k]` in f counts from the end as in Python.
            known = self.known_int32(node) if isinstance(value, Val) and value.ty == "i32" and not value.is_const \
                else None
            return value if known is None else self.const(known)
        return self.python_value(static)

    def calls_without_effect(self, node: ast.expr) -> bool:
        """Whether every call in `node` is of a NumPy, math or builtin function (no device function, no intrinsic)."""
        for part in ast.walk(node):
            if isinstance(part, ast.Call):
                func = self.static(part.func)
                if func is NOT_STATIC or (getattr(func, "__module__", None) or "").split(".")[0] not in (
                        "numpy", "builtins", "math"):
                    return False
        return True


def _has_string(node: ast.expr) -> bool:
    """Whether a string is written as an item of the tuple `node` (of a display in it: `(0.5, 'b')[0:1]`, not
    `(v, len('ab'))`, whose string is no item)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple):
        return any(map(_has_string, node.elts))
    if isinstance(node, ast.Subscript):
        return _has_string(node.value)
    if isinstance(node, ast.BinOp):
        return _has_string(node.left) or _has_string(node.right)
    return False


def called_from(error: CompileError, func: Callable, call: ast.Call, caller: Source,
                views: list[str] | None = None) -> CompileError:
    """`error`, raised inside the inlined device function `func`, with the call's place added: a line
    "in func(), called at file:line" (one per level of inlining). Where the error lies in wafersim's own
    library (a collective given the wrong arguments), the user's call becomes the error's place, and the
    message leads with it (the library's line follows). `views`: the call's arguments that are variables
    holding a slice (`v = buf[a:b]`), named like slices written in the call where the library needed an array."""
    line = call.lineno + caller.first_line - 1
    col = call.col_offset + caller.indent + 1
    message = f"{error.args[0]}\n(in {func.__name__}(), called at {caller.filename}:{line}:{col})"
    fields = dict(error.fields)
    if str(fields.get("file", "")).startswith(PACKAGE_DIR) and not caller.filename.startswith(PACKAGE_DIR):
        fields.update(file=caller.filename, line=line, col=col, library_file=error.fields.get("file"),
                      library_line=error.fields.get("line"))
        # The message leads with the user's call, as every other CompileError does with its line: the
        # library's own line and the calls inside it come after, for whoever reads wafersim's source.
        head, _, inside = error.args[0].partition("\n")
        where = f"{error.fields.get('file')}:{error.fields.get('line')}:"
        what = head.split(": ", 1)[1] if head.startswith(where) and ": " in head else head
        text = caller.lines[call.lineno - 1].rstrip("\n") if 0 < call.lineno <= len(caller.lines) else ""
        called = ast.unparse(call.func)  # as the user wrote it: `wsc.row_all_reduce`, not its inner name
        sliced = [f"{ast.unparse(arg)} is a slice" for arg in [*call.args, *(k.value for k in call.keywords)]
                  if _is_slice(arg)] + [f"{name} holds a slice (a view of its array)" for name in views or ()]
        if sliced and what.startswith("cannot index a slice"):  # (the library indexed a view passed for an array:
            # the general hint, to index the array at the slice's start, is about the library's code, not the call)
            what = (f"cannot index a slice: {called}() takes whole local arrays, and {sliced[0]}: pass its "
                    f"array, or copy the slice into a local array of its own")
        message = (f"{caller.filename}:{line}:{col}: {called}(): {what}\n{text}\n{' ' * (col - 1)}^\n"
                   f"(raised inside wafersim's {func.__name__}() at {where}{error.fields.get('col', '')}"
                   + (f":\n{inside}" if inside else "") + ")")
    return CompileError(message, **fields)


def _is_slice(node: ast.expr) -> bool:
    """Whether a call's argument is written as a slice of an array (`a[0:n]`, a row `t[i, 0:n]`)."""
    if not isinstance(node, ast.Subscript):
        return False
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return any(isinstance(part, ast.Slice) for part in parts)
