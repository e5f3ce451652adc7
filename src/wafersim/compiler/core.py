"""The front end's shared state and primitives: source positions and errors, registers and labels, name
binding, constants and conversions; compile-time evaluation of names (`static`) is compiler/compile_time.py."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import textwrap
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import CompileError
from ..isa.opcodes import chain_tag
from . import intrinsics as wsi
from .compile_time import CompileTimeNames, constant_tuple
from .ir import IRFunction, Label, Op, SourceLine, VReg
from .sources import source_lines
from .values import (FLOAT_CONSTANT_HINT, KernelSignature, SliceRef, Tup, Unsupported, Val, fits_int32, float32_bits,
                     to_float32)

#: wafersim's own package: device functions defined there (collectives) report their caller's lines.
PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
#: wafersim's collectives: their neighbour words (the chains of `block_reduce_to_corner`, `line_reduce`, ...)
#: carry chain tags (`LoweringCore.word_tag_here`).
COLLECTIVES_DIR = str(Path(__file__).resolve().parents[1] / "collectives") + os.sep


@dataclasses.dataclass
class LoopContext:
    """An enclosing loop: where `continue` and `break` jump, and which names are defined when they do."""

    next: Label
    done: Label
    defined_at_break: list = dataclasses.field(default_factory=list)
    defined_at_continue: list = dataclasses.field(default_factory=list)


def closure_globals(func: Callable) -> dict[str, Any]:
    """The names a function's body can see at compile time: its globals, overridden by its closure."""
    names = dict(func.__globals__)
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
        try:
            names[name] = cell.cell_contents
        except ValueError:  # (an empty cell: assigned after the function in its scope, or never; Python
            names.pop(name, None)  # raises NameError, never reading a global of that name: not defined here)
    return names


@dataclasses.dataclass
class RecvUse:
    """A `ws.recv` of one word: where it receives from, the type it reads, and what decided that type
    ("dtype", "context": where the value goes, "fabric": what is sent toward it, "default": float32)."""

    key: tuple[int, int]  # (direction, channel)
    ty: str
    how: str
    node: ast.AST
    source: "Source"


@dataclasses.dataclass
class Source:
    """A function's source: its file, first line, text and the parsed `def`."""

    filename: str
    first_line: int
    lines: list[str]
    indent: int
    tree: ast.FunctionDef


def read_source(func: Callable) -> Source:
    """Read and parse the source of a kernel or device function."""
    try:
        filename = inspect.getsourcefile(func) or "<kernel>"
        lines, first_line = source_lines(func)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        raise Unsupported(f"cannot read the source of {func.__name__}: define kernels and device functions in a "
                          f"file (or in a notebook cell) whose source Python can read: not at the interactive prompt (`python` "
                          f"or `python -i`, code piped to `python -`) or in exec() of a string") from None
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef):
        raise Unsupported(f"{filename}: {func.__name__} must be a plain function")
    return Source(filename, first_line, lines, len(lines[0]) - len(lines[0].lstrip()), tree.body[0])


class LoweringCore(CompileTimeNames):
    """State of one lowering, and the primitives every part of the front end uses."""

    def __init__(self, func: Callable, signature: KernelSignature, boundscheck: bool = True,
                 fabric_types: dict[tuple[int, int], str] | None = None) -> None:
        self.func = func
        self.boundscheck = boundscheck
        try:
            self.source = read_source(func)  # where errors point: the kernel, or the device function inlined
        except Unsupported as exc:
            raise CompileError(str(exc)) from None
        self.fdef = self.source.tree
        self.filename, self.first_line = self.source.filename, self.source.first_line
        self.fn = IRFunction(func.__name__, filename=self.filename)
        self.counter = 0
        self.labels = 0
        self.line: int | SourceLine | None = None
        # The user's calls the device function being lowered was inlined through, innermost first:
        # (file, line) each (calls made inside wafersim's own device functions are left out).
        self.call_sites: tuple[tuple[str, int], ...] = ()
        # Where each channel's ws.use_route pattern was set, as "file:line" of the user's code (a collective's
        # call, not the library's line inside it), so that a second pattern on the channel names the first.
        self.route_sites: dict[int, str] = {}
        self.loops: list[LoopContext] = []
        self.exit = self.new_label("exit")
        self.scopes: list[dict[str, Any]] = [{}]
        self.globals = closure_globals(func)
        self.inlining: list[Callable] = [func]
        # Per function being lowered (the kernel, then each device function inlined): its parameters a call
        # bound to a bool (`f(a, x > 0)`), which NumPy would take as a mask if they index (`may_be_bool`).
        self.bool_parameters: list[frozenset[str]] = [frozenset()]
        self.int64_arguments: dict[VReg, str] = {}  # the registers of parameters launched with an np.int64
        self.return_target: list[tuple[Label, list, list]] = []
        self.discarded_call: ast.Call | None = None  # a call that is a statement: its result is never used
        self.signature = signature
        # Names assigned on every path to the current point (None: the point is unreachable).
        self.defined: set[str] | None = set()
        # Variables of unrolled loops over tuples that a `break` leaves: not in `defined` after the loop
        # (which item it stopped at is known only at run time); named so that reading one says why.
        self.broken_loop_vars: set[str] = set()
        # For each enclosing run-time branch or loop body, the bindings when it was entered: a name bound
        # before it must keep its storage inside it (see StatementLowering.enter_region).
        self.regions: list[dict[str, Any]] = []
        # Type a `ws.recv(...)` call without dtype= takes from where its value goes, by id of the call node.
        self.recv_types: dict[int, str] = {}
        # Words on the fabric (see CallLowering.recv): the type every send toward a (direction, channel) of
        # recv sends, from an earlier lowering of the same kernel; what this lowering sends and receives.
        self.fabric_types = fabric_types or {}
        self.sent: dict[tuple[int, int], dict[str, int | None]] = {}
        self.received: list[RecvUse] = []
        # Background transfers (`BackgroundCallLowering`): the (opcode, direction, channel) posted, and the waits.
        self.background_posts: set[tuple[str, int, int]] = set()
        self.background_waits: list[tuple] = []
        # (channel, receiving direction) -> the dtypes send_nonzeros sent that way and those recv_fma received
        # them as, each with where it was first seen (node, source): `SparseCallLowering.check_nonzero_types`
        self.nonzero_types: dict[tuple[int, int], tuple[dict, dict]] = {}
        self.untyped_recv_regs: set[VReg] = set()
        self.vector_slots = 0  # vector temporaries in use while lowering one slice assignment
        # Statements lowered so far that may write an array (an element or slice store, a call as a statement):
        # a scalar whose evaluation moves it has side effects on arrays (a device function that stores)
        self.array_writes = 0
        self.hidden_names = 0  # hidden names bound so far (`hidden_name`): each statement's are its own
        self.vector_computed = False  # (while resolving a slice assignment's right side: see vectors.py)
        self.single_assignments: dict[int, tuple[ast.FunctionDef, dict]] = {}  # see assigned_constant
        self.resolving: set[str] = set()  # the variables assigned_constant is evaluating
        # see local_names: by id(tree), holding the tree (each inlining parses its function anew: a tree freed
        # after one call could be reallocated at the same address for another function's)
        self.local_names_cache: dict[int, tuple[ast.FunctionDef, frozenset[str]]] = {}

    # ------------------------------------------------------------------ positions and errors
    def error(self, node: ast.AST | None, message: str) -> CompileError:
        source = self.source
        line = getattr(node, "lineno", 1) if node is not None else 1
        col = getattr(node, "col_offset", 0) if node is not None else 0
        file_line = line + source.first_line - 1
        text = source.lines[line - 1].rstrip("\n") if 0 < line <= len(source.lines) else ""
        caret = " " * (col + source.indent) + "^"
        return CompileError(f"{source.filename}:{file_line}:{col + source.indent + 1}: {message}\n{text}\n{caret}",
                            file=source.filename, line=file_line, col=col + source.indent + 1)

    def user_site(self, node: ast.AST) -> str:
        """`node`'s place as "file:line" in the user's code; inside wafersim's own device functions (a
        collective), the user's call of the library instead."""
        if self.call_sites and self.source.filename.startswith(PACKAGE_DIR):
            return "%s:%d" % self.call_sites[0]
        return f"{self.source.filename}:{node.lineno + self.source.first_line - 1}"

    def in_collective(self) -> bool:
        """Whether the code being lowered is `wafersim.collectives`' own (its chains' neighbour words take
        chain tags, `isa.opcodes.chain_tag`, so that they never pass for the kernel's own words)."""
        return self.source.filename.startswith(COLLECTIVES_DIR)

    def word_tag_here(self, tag: int) -> int:
        """The tag a send or receive of words tagged `tag` carries where it is lowered: a chain's inside the
        collectives (raw stays raw)."""
        return chain_tag(tag) if self.in_collective() else tag

    def line_of(self, node: ast.AST) -> int | SourceLine | None:
        """The line the instructions lowered for `node` are reported at (runtime errors, traces, the
        debugger): its line in the kernel; inside an inlined device function, the function's own line with
        the calls it was inlined through. Inside wafersim's own device functions (a collective) the user's
        line of the call is kept: that is the line the user can change."""
        if len(self.inlining) == 1:
            return node.lineno + self.first_line - 1
        if self.source.filename.startswith(PACKAGE_DIR):
            return self.line
        return SourceLine(self.source.filename, node.lineno + self.source.first_line - 1, self.call_sites)

    # ------------------------------------------------------------------ registers, labels, instructions
    def new_reg(self, ty: str, hint: str = "") -> VReg:
        self.counter += 1
        return VReg(self.counter, ty, hint, self.call_sites)

    def new_label(self, hint: str) -> Label:
        self.labels += 1
        return Label(f"{hint}{self.labels}")

    def emit(self, op: str, **fields) -> Op:
        instr = Op(op, line=self.line, **fields)
        self.fn.ops.append(instr)
        return instr

    def place(self, label: Label) -> None:
        self.fn.ops.append(label)

    def string(self, text: str) -> int:
        """The program's string number for `text` (used by print and bounds-check messages)."""
        if text not in self.fn.strings:
            self.fn.strings.append(text)
        return self.fn.strings.index(text)

    # ------------------------------------------------------------------ names
    def lookup(self, name: str):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise KeyError(name)

    def lookup_or_none(self, name: str):
        try:
            return self.lookup(name)
        except KeyError:
            return None

    def bind(self, name: str, value) -> None:
        self.scopes[-1][name] = value
        self.broken_loop_vars.discard(name)
        if self.defined is not None:
            self.defined.add(name)

    # ------------------------------------------------------------------ scalars
    def int64_conversion(self, v: Val) -> str:
        """How to make `v`, a register holding NumPy's int64 (`Val.int64`), an int32 for a refused operation."""
        argument = self.int64_arguments.get(v.reg)
        if argument is not None:  # (a parameter launched with an np.int64)
            return f"launch with int({argument}) or np.int32({argument}), or convert it here, int({argument})"
        return "convert the value where it is assigned, int(...) or np.int32(...)"

    def const(self, value) -> Val:
        if isinstance(value, (bool, np.bool_)):
            return Val("i32", const=int(value))
        if isinstance(value, np.integer) and value.dtype != np.int32 \
                and not (value.dtype.kind == "i" and value.dtype.itemsize > 4):
            # NumPy computes with an np.uint8 (int8, int16, uint16, uint32, uint64) in that dtype, wrapping at its
            # width (np.uint8(200) + 100 is 44), where a kernel's integers are int32: refused rather than folded
            # or computed as another number. (An np.int64 is the Python int it equals: NumPy's int64 result is
            # that int wherever it fits in int32, and folding refuses the rest, as for Python ints.)
            raise Unsupported(f"a NumPy {value.dtype} constant ({value!r}) cannot be used in a kernel: NumPy computes "
                              f"with it in {value.dtype}, wrapping at {value.dtype.itemsize * 8} bits, where a kernel's "
                              f"integers are int32; convert it where it is defined, with int(...) (folded as a Python "
                              f"int) or np.int32(...) (wrapping as NumPy's int32)")
        if isinstance(value, (int, np.integer)):
            if not fits_int32(int(value)):
                bits = int(value) - 2**32 if 2**31 <= int(value) < 2**32 else None  # (a mask: 0xFFFFFFFF, 1 << 31)
                mask_hint = (f"; for a 32-bit mask write the int32 with the same bits, {bits} (int32 operators act "
                             f"on those 32 bits; Python's result, above 2**31 - 1, has no int32)"
                             if bits is not None else "")
                raise Unsupported(f"the integer constant {value} does not fit in int32{FLOAT_CONSTANT_HINT}{mask_hint}")
            # Only an np.int32 folds with NumPy's int32 wrap-around; an np.int64 folds exactly, as NumPy's int64
            # computes (wrapping it at 32 bits gave np.int64(2**30) * 4 // 8 as 0, where NumPy gives 2**29), and
            # keeps its type so that with an np.int32 the result is NumPy's int64 too (`int64`).
            is_numpy = isinstance(value, np.integer)
            return Val("i32", const=int(value), wraps=is_numpy and value.dtype == np.int32,
                       int64=is_numpy and value.dtype == np.int64)
        if isinstance(value, (float, np.floating)):
            return Val("f32", const=to_float32(value))
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
            raise Unsupported(f"a str ({value!r}) cannot be used as a kernel value: write float({value!r}) (or "
                              f"{'-' if value.strip().startswith('-') else ''}math.{'nan' if 'nan' in value.lower() else 'inf'})")
        raise Unsupported(f"a {type(value).__name__} cannot be used as a kernel value")

    def reg_of(self, v: Val) -> VReg | int:
        """A register holding v (r0 for integer zero)."""
        if v.reg is not None:
            return v.reg
        if v.ty == "i32" and v.const == 0:
            return 0
        reg = self.new_reg(v.ty)
        imm = int(v.const) if v.ty == "i32" else float32_bits(v.const)
        self.emit("li", d=reg, imm=imm)
        return reg

    def to_type(self, v: Val, ty: str) -> Val:
        if v.ty == ty:
            return v
        if ty == "f32" and v.is_const:  # (a variable's constant stays one: `to_int` converts it as at run time)
            return Val(ty, const=to_float32(v.const), held=v.held)
        if ty == "f32":
            out = self.new_reg("f32")
            self.emit("itof", d=out, a=v.reg)
            return Val("f32", out, temp=True)
        raise Unsupported("a float32 value cannot be used where an int32 is needed (use int(...))")

    def result(self, op: str, ty: str, **fields) -> Val:
        out = self.new_reg(ty)
        self.emit(op, d=out, **fields)
        return Val(ty, out, temp=True)

    def truth(self, v: Val) -> Val:
        """An int32 0/1 register or constant for a condition."""
        if v.is_const:
            return Val("i32", const=int(bool(v.const)))
        if v.ty == "f32":
            return self.result("fne", "i32", a=v.reg, b=self.reg_of(Val("f32", const=0.0)))
        return v

    def float_to_int_hint(self, value_node: ast.AST | None, into_array: bool = False) -> str:
        """How to fix a float32 value where an int32 is needed (`into_array`: an int32 array's element or
        slice), naming `ws.recv` when that is the cause."""
        if value_node is not None and any(self.is_untyped_recv(n) for n in ast.walk(value_node)):
            return ("ws.recv() without dtype= receives a float32 word; if the sender sent an int32, receive it "
                    "with ws.recv(direction, dtype=np.int32) (int(...) would convert a float, not reinterpret "
                    "the word)")
        received = self.received_untyped(value_node)
        if received:  # `w = ws.recv(d)` then `i = w`: int(w) would fail at run time with a WordTypeError
            return (f"{received} is assigned from ws.recv() without dtype=, which receives a float32 word; if the "
                    f"sender sent an int32, receive it with {received} = ws.recv(direction, dtype=np.int32) "
                    f"(int(...) would not do: the receive still expects a float32 word, a WordTypeError at run time)")
        if into_array:
            return "convert the value with int(...), or make the array float32"
        return "initialise it with a float, e.g. 0.0, or convert with int(...)"

    def received_untyped(self, value_node: ast.AST | None) -> str | None:
        """The name of a variable `value_node` reads that the kernel assigns from an untyped `ws.recv(d)`."""
        if value_node is None:
            return None
        names = {n.id for n in ast.walk(value_node) if isinstance(n, ast.Name)}
        for n in ast.walk(self.source.tree):
            if isinstance(n, ast.Assign) and self.is_untyped_recv(n.value):
                for target in n.targets:
                    if isinstance(target, ast.Name) and target.id in names:
                        return target.id
        return None

    def is_untyped_recv(self, node: ast.AST) -> bool:
        """Whether `node` is a `ws.recv(d)` call returning a word without a dtype= (not one filling a slice)."""
        if not isinstance(node, ast.Call):
            return False
        try:
            callee = self.static(node.func)
        except Unsupported:
            return False
        return callee is wsi.recv and not any(k.arg in ("dtype", "out") for k in node.keywords)

    def type_recvs_by_context(self, node: ast.AST, ty: str) -> None:
        """Give the untyped `ws.recv(d)` that `node` is -- or that a branch of a conditional expression
        `node` is, `recv(d) if c else 0` -- the type `ty` of where the value goes (`recv_types`)."""
        if isinstance(node, ast.IfExp):
            self.type_recvs_by_context(node.body, ty)
            self.type_recvs_by_context(node.orelse, ty)
        elif self.is_untyped_recv(node):
            self.recv_types[id(node)] = ty

    def move(self, dst: Val, value: Val, node, retarget: bool = True, value_node: ast.AST | None = None) -> None:
        """dst = value, converting int32 to float32; float32 into an int32 register is an error."""
        if dst.ty == "i32" and value.ty == "f32":
            raise self.error(node, "cannot assign a float32 value to an int32 variable ("
                                   + self.float_to_int_hint(value_node) + ")")
        value = self.to_type(value, dst.ty)
        if value.is_const:
            imm = int(value.const) if dst.ty == "i32" else float32_bits(value.const)
            self.emit("li", d=dst.reg, imm=imm)
        elif retarget and value.temp and self.fn.ops and isinstance(self.fn.ops[-1], Op) \
                and self.fn.ops[-1].d is value.reg \
                and self.fn.ops[-1].writes() is value.reg:
            self.fn.ops[-1].d = dst.reg  # write the variable directly instead of a temporary and a move
            value.reg, value.temp = dst.reg, False  # the temporary is never written now: use the variable
        else:
            self.emit("mov", d=dst.reg, a=value.reg)

    def own(self, value, name: str):
        """`value` in storage of its own for a variable `name`: a fresh temporary is adopted (and stops being
        a temporary, so nothing else adopts it), a constant or another variable's register is copied; a
        tuple is owned item by item, except a tuple of constants, which stays a constant (it cannot change;
        `prepare_region` gives it registers before a branch or loop that rebinds it). Arrays are references
        and stay as they are; a slice is a view of its array, but its bounds are numbers fixed when the slice
        is taken, as NumPy's are: `v = a[s:s + 4]` then `s = 3` leaves `v` at the old `s`, so a start or
        length held in another variable's register is copied too."""
        if isinstance(value, Tup) and constant_tuple(value) is not None:
            return value
        if isinstance(value, Tup):
            return Tup(tuple(self.own(item, f"{name}{k}_") for k, item in enumerate(value.items)))
        if isinstance(value, SliceRef):
            return SliceRef(value.array, self.own(value.start, f"{name}_start_") if not value.start.is_const
                            else value.start,
                            self.own(value.length, f"{name}_len_") if not value.length.is_const else value.length)
        if not isinstance(value, Val):
            return value
        # (an np.int64 stays one in a variable: `x = np.int64(7)` then `x * a` is NumPy's int64, as the constant's)
        if value.temp:
            value.temp = False
            value.reg.hint, value.reg.scope = name, self.call_sites
            return Val(value.ty, value.reg, int64=value.int64)
        reg = Val(value.ty, self.new_reg(value.ty, name), int64=value.int64)
        self.move(reg, value, None)
        return reg

    def snapshot(self, value):
        """`value` as it is now: a variable's register is copied to a temporary, so assignments that follow
        (the other targets of `a, b = b, a`) cannot change it."""
        if isinstance(value, Tup):
            return Tup(tuple(self.snapshot(item) for item in value.items))
        if isinstance(value, SliceRef):  # its bounds as they are now (`s, v = 3, a[s:s + 4]`)
            return SliceRef(value.array, self.snapshot(value.start), self.snapshot(value.length))
        if isinstance(value, Val) and not value.is_const and not value.temp:
            copy = Val(value.ty, self.new_reg(value.ty), temp=True, int64=value.int64)  # (`x, y = y, x`)
            self.emit("mov", d=copy.reg, a=value.reg)
            return copy
        return value
