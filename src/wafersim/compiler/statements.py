"""Statements: assignments (single, chained, tuple, augmented, annotated), if/while, break/continue,
return (for loops are in for_loops.py); and the two analyses that keep them faithful to Python:

- definite assignment: `self.defined` holds the names assigned on every path to the current point, so a
  variable assigned only in a branch that may not run is a CompileError where it is read, not a stale 0;
- regions: inside a run-time branch or loop body, a name bound before it keeps its storage (values move
  into its registers), so the value carried around a loop or out of a branch is the one assigned. Names
  bound to compile-time constants (device-function arguments, unrolled loop variables) that such a
  region assigns get a register before it; an array, slice or tuple bound before it cannot be rebound to
  another one inside it (the choice would have to be made at run time).
"""
from __future__ import annotations

import ast
import contextlib
from typing import Iterator

from ..isa.opcodes import WORD_TYPE_NAMES
from . import intrinsics as wsi
from .arrays import as_load
from .compile_time import constant_tuple
from .core import LoopContext
from .definite import copy_defined, meet, stored_names
from .for_loops import ForLoopLowering
from .values import GlobalArray, LocalArray, Tup, Unsupported, Val, describe
from .rows import RowLowering

_ANNOTATIONS = {int: "i32", float: "f32"}


def _valueless_call(value, node: ast.expr | None) -> ast.Call | None:
    """The call in an assignment's value that gave no value (a barrier, a send, a device function without a
    return value), if any: `value` is None for a call node, or a tuple display holding such a call."""
    if value is None and isinstance(node, ast.Call):
        return node
    if isinstance(value, Tup) and isinstance(node, ast.Tuple) and len(node.elts) == len(value.items):
        return next((c for v, n in zip(value.items, node.elts) if (c := _valueless_call(v, n)) is not None), None)
    return None


class StatementLowering(ForLoopLowering, RowLowering):
    def statements(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if self.defined is None:
                # No path reaches this statement (it follows a return, break or continue, or a loop that never
                # ends): Python never runs it, so it is not compiled, as a constant condition's other branch
                # is not (`if s is None: return v` then `return v * s`, in a helper called without `s`).
                return
            self.line = self.line_of(stmt)
            try:
                self.statement(stmt)
            except Unsupported as exc:
                raise self.error(exc.node or stmt, str(exc)) from None
            except RecursionError:  # (the innermost statement: an expression lowered recursively, `a + a + ... + a`)
                raise self.error(stmt, "this statement nests its expressions too deeply for the compiler (it lowers "
                                       "one operator inside another, up to Python's recursion limit): split it "
                                       "into several statements, `s = a + b` then `s = s + c`") from None

    def statement(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a docstring
            if isinstance(s.value, ast.Call):  # (ws.outer_add, ws.recv(out=...), a device function, ...)
                self.array_writes += 1
                self.discarded_call = s.value
            self.expr(s.value)
        elif isinstance(s, ast.Assign):
            if len(s.targets) == 1:
                self.assign(s.targets[0], s.value)
            else:  # a = b = value: the value is evaluated once, then assigned to each target, left to right
                # (from a register of its own: a first target could otherwise take over a fresh temporary)
                value = self.own(self.expr(s.value), "value_")
                for target in s.targets:
                    self.assign_value(target, value, s.value)
        elif isinstance(s, ast.AugAssign):
            self.aug_assign(s)
        elif isinstance(s, ast.AnnAssign):
            self.ann_assign(s)
        elif isinstance(s, ast.If):
            self.if_statement(s)
        elif isinstance(s, ast.For):
            self.for_statement(s)
        elif isinstance(s, ast.While):
            self.while_statement(s)
        elif isinstance(s, (ast.Break, ast.Continue)):
            self.jump_statement(s)
        elif isinstance(s, ast.Return):
            self.return_statement(s)
        elif isinstance(s, ast.Pass):
            pass
        else:
            hint = (": define the function at module level with @ws.jit and pass it what it reads (a device "
                    "function is inlined; it cannot close over a kernel's variables)"
                    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) else "")
            raise self.error(s, f"unsupported statement in a kernel: {type(s).__name__}{hint}")

    # ------------------------------------------------------------------ assignments
    def assign(self, target: ast.expr, value_node: ast.expr) -> None:
        if isinstance(target, ast.Subscript):
            self.store_subscript(target, value_node)
            return
        if isinstance(target, ast.Name):
            if isinstance(value_node, ast.Call) and self.static(value_node.func) is wsi.local.array:
                self.assign_name(target, self.local_array(value_node, target.id), value_node)
                return
            current = self.lookup_or_none(target.id)
            if isinstance(current, Val) and not current.is_const:
                self.type_recv(value_node, current.ty, target)
        self.assign_value(target, self.expr(value_node), value_node)

    def type_recv(self, value_node: ast.expr, ty: str, target: ast.expr) -> None:
        """Give a `ws.recv(d)` without dtype= the type of the variable or element it goes to: the whole
        value, or one operand of `target op recv` (what `x += ws.recv(d)` means)."""
        if not isinstance(value_node, ast.BinOp):
            self.type_recvs_by_context(value_node, ty)
        elif self.is_untyped_recv(value_node.right) and ast.unparse(value_node.left) == ast.unparse(target):
            self.recv_types[id(value_node.right)] = ty

    def assign_value(self, target: ast.expr, value, value_node: ast.expr) -> None:
        """Assign an evaluated value to a target (a name, a tuple of targets, or an element or slice)."""
        call = _valueless_call(value, value_node)
        if call is not None:  # `x = ws.syncthreads()`: Python would bind None, which no kernel value can be
            raise self.error(call, f"{ast.unparse(call)} gives no value (None), so it cannot be assigned: call it "
                                   f"as a statement of its own")
        if isinstance(target, ast.Name):
            self.assign_name(target, value, value_node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            starred = next((e for e in target.elts if isinstance(e, ast.Starred)), None)
            if starred is not None:  # (Python would make a list, which no kernel value is)
                raise self.error(starred, f"starred assignment ({ast.unparse(starred)}) is not supported in a "
                                          f"kernel: unpack every item (a, b, c = t), or slice the tuple "
                                          f"(head, rest = t[0], t[1:])")
            if not isinstance(value, Tup) or len(value.items) != len(target.elts):
                what = (f"a tuple of {len(value.items)} items" if isinstance(value, Tup) else describe(value))
                raise self.error(target, f"cannot unpack {what} into {len(target.elts)} targets")
            # Python evaluates the whole right side first: a, b = b, a swaps.
            for element, item in zip(target.elts, self.snapshot(value).items):
                self.assign_value(element, item, value_node)
        elif isinstance(target, ast.Subscript):
            self.store_subscript(target, value_node, value)
        else:
            what = ("an attribute" if isinstance(target, ast.Attribute) else type(target).__name__)
            raise self.error(target, f"cannot assign to {what} ({ast.unparse(target)}) in a kernel: assign a "
                                     f"variable, an element or a slice of an array")

    def assign_name(self, target: ast.Name, value, value_node: ast.expr | None) -> None:
        name = target.id
        current = self.lookup_or_none(name)
        if isinstance(value, Val) and isinstance(current, Val) and not current.is_const:
            self.retype_int64(current, value, target)
            self.move(current, value, target, value_node=value_node)
            self.bind(name, current)
            return
        if self.bound_before_region(name):
            if isinstance(value, Tup) and isinstance(current, Tup):
                self.move_tuple(current, self.snapshot(value), target, value_node)
                self.bind(name, current)
                return
            if current is not value:
                swap = isinstance(current, LocalArray) and isinstance(value, LocalArray)
                raise self.error(target, f"{name!r} was {describe(current)} before this branch or loop and cannot "
                                         f"become {describe(value)} inside it (that choice would be made at run "
                                         f"time); use another name" + (
                                             "; to ping-pong two buffers (u, u_new = u_new, u), do two steps a "
                                             "trip, a into b then b into a, or copy b into a" if swap else ""))
        self.bind(name, self.own(value, name))

    def retype_int64(self, current: Val, value: Val, target: ast.Name) -> None:
        """Whether the variable `current` holds an np.int64 (`Val.int64`) after `target = value`, as NumPy types
        it: in straight-line code the value's type; in a branch or loop, a variable from before it keeps an
        np.int64 it may hold (which path ran is known only at run time: its arithmetic stays refused), and one
        that held an int32 cannot become an np.int64 there (reads of it lowered before, in the loop's body,
        computed in int32 where NumPy's later trips compute in int64)."""
        if current.int64 == value.int64 or current.ty != "i32":
            return
        if not self.bound_before_region(target.id):
            current.int64 = value.int64
        elif value.int64:
            raise self.error(target, f"{target.id!r} held an int32 before this branch or loop and would hold an "
                                     f"np.int64 in it, with which NumPy computes in int64 where the kernel's ints "
                                     f"are int32; convert the value, int(...) or np.int32(...), or use another name")

    def move_tuple(self, current: Tup, value, target: ast.expr, value_node) -> None:
        """Assign a tuple into the registers of a tuple variable (same length, numbers of compatible types)."""
        if not isinstance(value, Tup) or len(value.items) != len(current.items):
            raise self.error(target, "a tuple variable assigned in a branch or loop must keep its length")
        for old, new in zip(current.items, value.items):
            if isinstance(old, Val) and not old.is_const and isinstance(new, Val):
                self.retype_int64(old, new, target)  # (an item, as a variable: `t = (I64, a)` in a loop)
                self.move(old, new, target, value_node=value_node)
            elif isinstance(old, Tup):
                self.move_tuple(old, new, target, value_node)
            elif old is not new:
                raise self.error(target, f"a tuple holding {describe(old)} cannot change it in a branch or loop")

    def aug_assign(self, s: ast.AugAssign) -> None:
        """`x op= v` as `x = x op v` (the target is read, then written)."""
        if isinstance(s.target, ast.Subscript) and any(self.runs_call(n) for n in ast.walk(s.target.slice)):
            raise self.error(s.target, "an augmented assignment would evaluate this index twice: compute the "
                                       "index into a variable first")
        hidden: list[str] = []
        try:
            target = self.index_evaluated_once(s.target, hidden) if isinstance(s.target, ast.Subscript) else s.target
            combined = ast.copy_location(ast.BinOp(left=as_load(target), op=s.op, right=s.value), s)
            ast.fix_missing_locations(combined)
            if isinstance(target, ast.Name):
                current = self.lookup_or_none(target.id)
                if isinstance(current, Val) and not current.is_const:
                    self.type_recv(combined, current.ty, target)
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                array = self.lookup_or_none(target.value.id)
                if isinstance(array, (GlobalArray, LocalArray)):
                    self.type_recv(combined, array.dtype, target)
            self.assign(target, combined)
        finally:
            self.drop_hidden(hidden)

    def index_evaluated_once(self, target: ast.Subscript, hidden: list[str]) -> ast.Subscript:
        """`target` with each index (or slice bound) that reads an array evaluated now, into a hidden name
        (`evaluated_once`; calls are refused in these indices): Python evaluates `a[b[0]] += f(b)`'s index
        once, before `f` runs (and may change `b[0]`), where the load and the store would each evaluate it."""
        def part(node):
            if isinstance(node, ast.Slice):
                lower, upper = self.evaluated_once(node.lower, hidden), node.upper
                if lower is not node.lower and isinstance(upper, ast.BinOp) and isinstance(upper.op, ast.Add) \
                        and ast.unparse(upper.left) == ast.unparse(node.lower):
                    # `s:s + K` stays of that form (a block's row count, a slice's constant length); `s` reads no
                    # call (refused above), so it is the same value both times
                    upper = ast.copy_location(ast.BinOp(left=lower, op=ast.Add(),
                                                        right=self.evaluated_once(upper.right, hidden)), upper)
                else:
                    upper = self.evaluated_once(upper, hidden)
                return ast.copy_location(ast.Slice(lower=lower, upper=upper,
                                                   step=self.evaluated_once(node.step, hidden)), node)
            self.refuse_bool_index(node)  # (before a hidden name hides what it is: `a[x > 0] += v`)
            return self.evaluated_once(node, hidden)

        index = target.slice
        if isinstance(index, ast.Tuple):
            index = ast.copy_location(ast.Tuple(elts=[part(e) for e in index.elts], ctx=ast.Load()), index)
        else:
            index = part(index)
        return ast.copy_location(ast.Subscript(value=target.value, slice=index, ctx=ast.Store()), target)

    def ann_assign(self, s: ast.AnnAssign) -> None:
        """`x: int = v` / `x: float = v`: the variable gets the annotated type (an int value converts to a
        float variable; a float value for an int variable is an error)."""
        if s.value is None:
            raise self.error(s, "a declaration without a value is not supported: write `x: float = 0.0`")
        if not isinstance(s.target, ast.Name):
            raise self.error(s.target, "annotations are supported on names only")
        annotation = self.static(s.annotation)
        ty = _ANNOTATIONS.get(annotation) or {"int32": "i32", "float32": "f32"}.get(getattr(annotation, "__name__", ""))
        if ty is None:
            raise self.error(s.annotation, "a kernel variable's annotation must be int, float, np.int32 or np.float32")
        self.type_recv(s.value, ty, s.target)
        value = self.scalar(s.value)
        if ty == "i32" and value.ty == "f32":
            raise self.error(s.value, "a float32 value for an int variable (" + self.float_to_int_hint(s.value) + ")")
        current = self.lookup_or_none(s.target.id)
        if isinstance(current, Val) and not current.is_const and current.ty != ty:
            name, kind = s.target.id, WORD_TYPE_NAMES[current.ty]
            raise self.error(s.target, f"{name!r} is already an {kind} variable (a variable keeps its first value's "
                                       f"type): annotate its first assignment instead ({name}: "
                                       f"{'float' if ty == 'f32' else 'int'} = ...), or use another name")
        self.assign_name(s.target, self.to_type(value, ty), s.value)

    # ------------------------------------------------------------------ regions and definite assignment
    def bound_before_region(self, name: str) -> bool:
        return any(name in bindings for bindings in self.regions)

    def prepare_region(self, statements: list[ast.stmt]) -> None:
        """Before a run-time branch or loop: constants bound to names it assigns move into registers, so
        the value after it does not depend on which path ran."""
        scope = self.scopes[-1]
        for name in sorted(stored_names(statements)):
            value = scope.get(name)
            if isinstance(value, Val) and value.is_const:
                register = Val(value.ty, self.new_reg(value.ty, name), int64=value.int64)
                self.move(register, value, None)
                scope[name] = register
            elif isinstance(value, Tup) and constant_tuple(value) is not None \
                    and all(isinstance(item, (Val, Tup)) for item in value.items):
                scope[name] = self.registers_for(value, name)

    def registers_for(self, value: Tup, name: str) -> Tup:
        """A tuple of constants copied item by item into registers of its own."""
        return Tup(tuple(self.registers_for(item, f"{name}{k}_") if isinstance(item, Tup)
                         else self.own(Val(item.ty, const=item.const, int64=item.int64), f"{name}{k}_")
                         for k, item in enumerate(value.items)))

    @contextlib.contextmanager
    def region(self, unbound: frozenset[str] = frozenset()) -> Iterator[None]:
        """Lower a run-time branch or loop body (see the module docstring); the names in `unbound` are taken as
        not bound before it (the variables of loops over tuples in what follows an unrolled loop's `continue`:
        `unrolled_body`)."""
        self.regions.append({name: value for name, value in self.scopes[-1].items() if name not in unbound})
        try:
            yield
        finally:
            self.regions.pop()

    def branch(self, statements: list[ast.stmt], entry: set[str] | None) -> set[str] | None:
        """Lower one arm of a run-time branch from `entry`; the names defined at its end."""
        self.defined = copy_defined(entry)
        with self.region():
            self.statements(statements)
        return self.defined

    # ------------------------------------------------------------------ control flow
    def jump_statement(self, s: ast.Break | ast.Continue) -> None:
        word = "break" if isinstance(s, ast.Break) else "continue"
        if not self.loops:
            raise self.error(s, f"'{word}' outside a loop")
        loop = self.loops[-1]
        (loop.defined_at_break if word == "break" else loop.defined_at_continue).append(copy_defined(self.defined))
        self.emit("jmp", target=loop.done if word == "break" else loop.next)
        self.defined = None

    def return_statement(self, s: ast.Return) -> None:
        if self.return_target:  # inside an inlined device function
            label, results, bare = self.return_target[-1]
            if s.value is None or (isinstance(s.value, ast.Constant) and s.value.value is None):
                bare.append(s)  # gives None: with a value returned elsewhere, refused when the call ends
            else:
                value = self.expr(s.value)
                if not results:
                    results.append(self.return_registers(value, s.value))
                self.move_returned(results[0], value, s)
            self.emit("jmp", target=label)
            self.defined = None
            return
        if s.value is not None and not (isinstance(s.value, ast.Constant) and s.value.value is None):
            raise self.error(s, "a kernel cannot return a value (write results to an array)")
        self.emit("jmp", target=self.exit)
        self.defined = None

    def return_registers(self, value, node: ast.expr):
        """Registers for what a device function returns: a number, or a (nested) tuple of numbers."""
        if isinstance(value, Val):
            return Val(value.ty, self.new_reg(value.ty, "ret_"))  # (its int64 flag: `move_returned`)
        if isinstance(value, Tup):
            return Tup(tuple(self.return_registers(item, node) for item in value.items))
        raise self.error(node, f"a device function returns numbers or tuples of numbers, not {describe(value)}")

    def move_returned(self, registers, value, s: ast.Return) -> None:
        """Move a returned value into the function's result registers (every return must have one shape)."""
        if isinstance(registers, Tup):
            if not isinstance(value, Tup) or len(value.items) != len(registers.items):
                raise self.error(s, "every return of a device function must return the same shape: "
                                    f"{len(registers.items)} values here, as at its first return")
            for register, item in zip(registers.items, self.snapshot(value).items):
                self.move_returned(register, item, s)
            return
        if not isinstance(value, Val):
            raise self.error(s, f"this return gives {describe(value)} where an earlier one returned a number")
        if registers.ty == "i32" and value.ty == "f32":  # (an int32 after a float32 one converts, as a variable's)
            raise self.error(s, "this return gives a float32 where the device function's first return gave an "
                                "int32: its result has the type of the first return, as a variable has its first "
                                "value's; return a float there (float(...)) or an int here (int(...))")
        if registers.ty == "i32" and value.int64:  # an np.int64 on any path: the call's result may be NumPy's int64
            registers.int64 = True  # (read only after the call's last return is lowered: `returned`)
        self.move(registers, value, s, value_node=s.value)

    def if_statement(self, s: ast.If) -> None:
        cond = self.truth(self.scalar(s.test))
        if cond.is_const:  # fold: only the branch that runs is compiled
            self.statements(s.body if cond.const else s.orelse)
            return
        self.prepare_region(s.body + s.orelse)
        otherwise, done = self.new_label("else"), self.new_label("endif")
        self.emit("bz", a=cond.reg, target=otherwise if s.orelse else done)
        entry = copy_defined(self.defined)
        after_body = self.branch(s.body, entry)
        after_else = entry
        if s.orelse:
            self.emit("jmp", target=done)
            self.place(otherwise)
            after_else = self.branch(s.orelse, entry)
        self.place(done)
        self.defined = meet(after_body, after_else)

    def loop_body(self, body: list[ast.stmt], loop: LoopContext, entry: set[str] | None) -> set[str] | None:
        """Lower a run-time loop's body; the names defined when an iteration ends (normally or by continue)."""
        self.loops.append(loop)
        try:
            end = self.branch(body, entry)
        finally:
            self.loops.pop()
        return meet(end, *loop.defined_at_continue)

    def while_statement(self, s: ast.While) -> None:
        if s.orelse:
            raise self.error(s, "while ... else is not supported")
        self.prepare_region(s.body)
        top, test, done = self.new_label("while"), self.new_label("wtest"), self.new_label("wend")
        self.emit("jmp", target=test)
        self.place(top)
        entry = copy_defined(self.defined)
        loop = LoopContext(test, done)
        end = self.loop_body(s.body, loop, entry)
        self.place(test)
        self.line = self.line_of(s)
        self.defined = meet(entry, end)
        cond = self.truth(self.scalar(s.test))
        if cond.is_const:
            if cond.const:
                self.emit("jmp", target=top)
        else:
            self.emit("bnz", a=cond.reg, target=top)
        self.place(done)
        forever = cond.is_const and cond.const
        self.defined = meet(*loop.defined_at_break) if forever else meet(entry, end, *loop.defined_at_break)
