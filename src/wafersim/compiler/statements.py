"""Statements: assignments (single, chained, tuple, augmented, annotated), if/while/for, break/continue,
return; and the two analyses that keep them faithful to Python:

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

from . import intrinsics as wsi
from .arrays import as_load
from .core import LoopContext, constant_tuple
from .values import INT_MAX, INT_MIN, NOT_STATIC, GlobalArray, LocalArray, Tup, Unsupported, Val, describe
from .rows import RowLowering

_ANNOTATIONS = {int: "i32", float: "f32"}


def meet(*states: set[str] | None) -> set[str] | None:
    """Names defined on every path that reaches a join point (None: no path does)."""
    reachable = [s for s in states if s is not None]
    if not reachable:
        return None
    return set.intersection(*reachable)


def stored_names(statements: list[ast.stmt]) -> set[str]:
    return {n.id for s in statements for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _range_never_wraps(stop: Val, step: Val) -> bool:
    """Whether a range's counter, below (above) the stop before a step, stays an int32 after it: always for
    a step of +-1; for a constant step and stop where stop - 1 + step (stop + 1 + step) is an int32."""
    if not step.is_const:
        return False
    if abs(step.const) == 1:
        return True
    if not stop.is_const:
        return False
    last = stop.const - 1 + step.const if step.const > 0 else stop.const + 1 + step.const
    return INT_MIN <= last <= INT_MAX


def _valueless_call(value, node: ast.expr | None) -> ast.Call | None:
    """The call in an assignment's value that gave no value (a barrier, a send, a device function without a
    return value), if any: `value` is None for a call node, or a tuple display holding such a call."""
    if value is None and isinstance(node, ast.Call):
        return node
    if isinstance(value, Tup) and isinstance(node, ast.Tuple) and len(node.elts) == len(value.items):
        return next((c for v, n in zip(value.items, node.elts) if (c := _valueless_call(v, n)) is not None), None)
    return None


def _copy(state: set[str] | None) -> set[str] | None:
    return None if state is None else set(state)


class StatementLowering(RowLowering):
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
            if not isinstance(value, Tup) or len(value.items) != len(target.elts):
                raise self.error(target, f"cannot unpack {describe(value)} into {len(target.elts)} targets")
            # Python evaluates the whole right side first: a, b = b, a swaps.
            for element, item in zip(target.elts, self.snapshot(value).items):
                self.assign_value(element, item, value_node)
        elif isinstance(target, ast.Subscript):
            self.store_subscript(target, value_node, value)
        else:
            raise self.error(target, f"cannot assign to {type(target).__name__}")

    def assign_name(self, target: ast.Name, value, value_node: ast.expr | None) -> None:
        name = target.id
        current = self.lookup_or_none(name)
        if isinstance(value, Val) and isinstance(current, Val) and not current.is_const:
            self.move(current, value, target, value_node=value_node)
            self.bind(name, current)
            return
        if self.bound_before_region(name):
            if isinstance(value, Tup) and isinstance(current, Tup):
                self.move_tuple(current, self.snapshot(value), target, value_node)
                self.bind(name, current)
                return
            if current is not value:
                raise self.error(target, f"{name!r} was {describe(current)} before this branch or loop and cannot "
                                         f"become {describe(value)} inside it (that choice would be made at run "
                                         f"time); use another name")
        self.bind(name, self.own(value, name))

    def move_tuple(self, current: Tup, value, target: ast.expr, value_node) -> None:
        """Assign a tuple into the registers of a tuple variable (same length, numbers of compatible types)."""
        if not isinstance(value, Tup) or len(value.items) != len(current.items):
            raise self.error(target, "a tuple variable assigned in a branch or loop must keep its length")
        for old, new in zip(current.items, value.items):
            if isinstance(old, Val) and not old.is_const and isinstance(new, Val):
                self.move(old, new, target, value_node=value_node)
            elif isinstance(old, Tup):
                self.move_tuple(old, new, target, value_node)
            elif old is not new:
                raise self.error(target, f"a tuple holding {describe(old)} cannot change it in a branch or loop")

    def aug_assign(self, s: ast.AugAssign) -> None:
        """`x op= v` as `x = x op v` (the target is read, then written)."""
        if isinstance(s.target, ast.Subscript) and any(isinstance(n, ast.Call) for n in ast.walk(s.target.slice)):
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
            name, kind = s.target.id, {"i32": "int32", "f32": "float32"}[current.ty]
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
                register = Val(value.ty, self.new_reg(value.ty, name))
                self.move(register, value, None)
                scope[name] = register
            elif isinstance(value, Tup) and constant_tuple(value) is not None \
                    and all(isinstance(item, (Val, Tup)) for item in value.items):
                scope[name] = self.registers_for(value, name)

    def registers_for(self, value: Tup, name: str) -> Tup:
        """A tuple of constants copied item by item into registers of its own."""
        return Tup(tuple(self.registers_for(item, f"{name}{k}_") if isinstance(item, Tup)
                         else self.own(Val(item.ty, const=item.const), f"{name}{k}_")
                         for k, item in enumerate(value.items)))

    @contextlib.contextmanager
    def region(self) -> Iterator[None]:
        """Lower a run-time branch or loop body (see the module docstring)."""
        self.regions.append(dict(self.scopes[-1]))
        try:
            yield
        finally:
            self.regions.pop()

    def branch(self, statements: list[ast.stmt], entry: set[str] | None) -> set[str] | None:
        """Lower one arm of a run-time branch from `entry`; the names defined at its end."""
        self.defined = _copy(entry)
        with self.region():
            self.statements(statements)
        return self.defined

    # ------------------------------------------------------------------ control flow
    def jump_statement(self, s: ast.Break | ast.Continue) -> None:
        word = "break" if isinstance(s, ast.Break) else "continue"
        if not self.loops:
            raise self.error(s, f"'{word}' outside a loop")
        loop = self.loops[-1]
        (loop.defined_at_break if word == "break" else loop.defined_at_continue).append(_copy(self.defined))
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
            return Val(value.ty, self.new_reg(value.ty, "ret_"))
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
        self.move(registers, value, s, value_node=s.value)

    def if_statement(self, s: ast.If) -> None:
        cond = self.truth(self.scalar(s.test))
        if cond.is_const:  # fold: only the branch that runs is compiled
            self.statements(s.body if cond.const else s.orelse)
            return
        self.prepare_region(s.body + s.orelse)
        otherwise, done = self.new_label("else"), self.new_label("endif")
        self.emit("bz", a=cond.reg, target=otherwise if s.orelse else done)
        entry = _copy(self.defined)
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
        entry = _copy(self.defined)
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

    def for_statement(self, s: ast.For) -> None:
        if s.orelse:
            raise self.error(s, "for ... else is not supported")
        iterable = s.iter
        try:
            items = self.compile_time_items(iterable)
        except Unsupported as exc:
            raise self.error(exc.node or iterable, str(exc)) from None
        if items is not None:
            self.unrolled_for(s, items)
            return
        if not (isinstance(iterable, ast.Call) and self.static(iterable.func) is range and not iterable.keywords):
            raise self.error(iterable, "for loops run over range(...) or a tuple (also through enumerate and zip)"
                             + self.array_loop_hint(iterable))
        if not isinstance(s.target, ast.Name):
            raise self.error(s.target, "a for loop over range() needs a single name as its variable")
        args = [self.scalar(a) for a in iterable.args]
        if not 1 <= len(args) <= 3 or any(a.ty != "i32" for a in args):
            raise self.error(iterable, "range() takes 1 to 3 int32 arguments")
        start, stop, step = (Val("i32", const=0), args[0], Val("i32", const=1)) if len(args) == 1 else \
            (args[0], args[1], args[2] if len(args) == 3 else Val("i32", const=1))
        if step.is_const and step.const == 0:
            raise self.error(iterable, "range() arg 3 must not be zero")
        positive = None
        if not step.is_const:  # a run-time step (grid-stride loops): evaluated once, as Python's range does
            step = self.own(self.snapshot(step), "step_")
            if self.boundscheck:
                nonzero = self.result("sne", "i32", a=step.reg, b=0)
                self.emit("chk", a=0, b=nonzero.reg, imm=self.string("range() step is zero"))
            positive = self.result("slt", "i32", a=0, b=step.reg)
            positive = self.own(positive, "up_")
        name = s.target.id
        self.prepare_region(s.body)
        # A hidden counter drives the loop; the variable gets a copy each iteration, so assigning to it in
        # the body does not change the iteration and after the loop it holds the last value, as in Python.
        counter = Val("i32", self.new_reg("i32", "i_"))  # (a hint ending in _ names no source variable)
        self.move(counter, start, s)
        entry = _copy(self.defined)
        var = self.lookup_or_none(name)
        if not (isinstance(var, Val) and not var.is_const and var.ty == "i32"):
            if self.bound_before_region(name):
                raise self.error(s.target, f"{name!r} was {describe(var)} before this branch or loop and cannot "
                                           f"become a loop counter inside it; use another name")
            var = Val("i32", self.new_reg("i32", name))
            self.bind(name, var)
        limit = stop if stop.is_const else Val("i32", self.new_reg("i32", "stop_"))
        if not stop.is_const:
            self.emit("mov", d=limit.reg, a=stop.reg)
        top, cont, test, done = (self.new_label("for"), self.new_label("fnext"), self.new_label("ftest"),
                                 self.new_label("fend"))
        # Python's range never overflows; the counter is int32. Where counter + step could pass an int32
        # bound (a step other than +-1 whose limit is not known to be far enough from it), the loop goes on
        # while counter < stop - step (counting up), tested before the step and against a limit that
        # saturates where stop - step itself overflows, instead of while counter + step < stop.
        ahead = None if _range_never_wraps(stop, step) else self.range_limit_ahead(limit, step, positive)
        going = None
        if ahead is not None:  # the first test, against the limit itself
            going = Val("i32", self.new_reg("i32", "go_"))
            self.emit("mov", d=going.reg, a=self.range_test(counter, limit, step, positive).reg)
        self.emit("jmp", target=test)
        self.place(top)
        self.emit("mov", d=var.reg, a=counter.reg)
        loop = LoopContext(cont, done)
        end = self.loop_body(s.body, loop, None if entry is None else entry | {name})
        self.place(cont)
        # The step and the test are the `for` line's (as Python reports them), not the body's last line: a
        # breakpoint on that line must not stop before the body has run.
        self.line = self.line_of(s)
        if ahead is not None:
            self.emit("mov", d=going.reg, a=self.range_test(counter, ahead, step, positive).reg)
        if positive is None:
            self.emit("addi", d=counter.reg, a=counter.reg, imm=int(step.const))
        else:
            self.emit("add", d=counter.reg, a=counter.reg, b=step.reg)
        self.place(test)
        cond = going if ahead is not None else self.range_test(counter, limit, step, positive)
        self.emit("bnz", a=cond.reg, target=top)
        self.place(done)
        runs = start.is_const and stop.is_const and step.is_const \
            and len(range(start.const, stop.const, step.const)) > 0
        self.defined = meet(end, *loop.defined_at_break) if runs else meet(entry, end, *loop.defined_at_break)

    def range_test(self, counter: Val, limit: Val, step: Val, positive: Val | None) -> Val:
        """counter < limit counting up, counter > limit counting down (by the sign of a run-time step in
        `positive`)."""
        if positive is None:
            first, second = (counter, limit) if step.const > 0 else (limit, counter)
            return self.result("slt", "i32", a=self.reg_of(first), b=self.reg_of(second))
        up = self.result("slt", "i32", a=counter.reg, b=self.reg_of(limit))
        down = self.result("slt", "i32", a=self.reg_of(limit), b=counter.reg)
        return self.result("sel", "i32", a=positive.reg, b=up.reg, c=down.reg)

    def range_limit_ahead(self, limit: Val, step: Val, positive: Val | None) -> Val:
        """stop - step, saturated: where it passes an int32 bound no counter of the range is beyond it (the
        range has no next value), so the limit becomes that bound (INT_MIN counting up, INT_MAX down)."""
        if limit.is_const and step.is_const:
            return Val("i32", const=min(max(limit.const - step.const, INT_MIN), INT_MAX))
        ahead = self.result("sub", "i32", a=self.reg_of(limit), b=self.reg_of(step))
        # (wrapped past a bound, the difference lies on the wrong side of the limit)
        past_min = self.result("slt", "i32", a=self.reg_of(limit), b=ahead.reg)  # counting up
        past_max = self.result("slt", "i32", a=ahead.reg, b=self.reg_of(limit))  # counting down
        low, high = self.reg_of(Val("i32", const=INT_MIN)), self.reg_of(Val("i32", const=INT_MAX))
        if positive is None:
            past, bound = (past_min, low) if step.const > 0 else (past_max, high)
        else:
            past = self.result("sel", "i32", a=positive.reg, b=past_min.reg, c=past_max.reg)
            bound = self.result("sel", "i32", a=positive.reg, b=low, c=high).reg
        return self.own(self.result("sel", "i32", a=past.reg, b=bound, c=ahead.reg), "stopahead_")

    def compile_time_items(self, node: ast.expr) -> list | None:
        """The items of a loop over a tuple, known when compiling: a tuple display, a tuple constant (of the
        module, a closure, a helper argument) or a tuple variable, and `enumerate`/`zip` of those. Items are
        Python constants or kernel values (numbers in registers); None when `node` is something else."""
        if isinstance(node, (ast.Tuple, ast.List)):
            return [self.loop_item(e) for e in node.elts]
        if isinstance(node, ast.Call):
            callee = self.static(node.func)
            if callee is enumerate:
                keywords = {k.arg: k.value for k in node.keywords}
                if not 1 <= len(node.args) + len(keywords) <= 2 or set(keywords) - {"start"} or len(node.args) > 2:
                    raise Unsupported("enumerate(tuple, start=0) in a kernel", node)
                start_node = node.args[1] if len(node.args) == 2 else keywords.get("start")
                start = 0 if start_node is None else self.static(start_node)
                if not isinstance(start, int) or isinstance(start, bool):
                    raise Unsupported("enumerate()'s start must be a constant int", start_node)
                return [(start + k, item) for k, item in enumerate(self.tuple_items(node.args[0]))]
            if callee is zip:
                if node.keywords or not node.args:
                    raise Unsupported("zip(tuple, tuple, ...) in a kernel", node)
                return [tuple(group) for group in zip(*(self.tuple_items(a) for a in node.args))]
            if getattr(callee, "__wafersim_jit__", False):  # a device function's tuple result, called once
                return self.call_items(node)
            return None
        static = self.static(node) if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) else NOT_STATIC
        if isinstance(static, tuple):
            return list(static)
        if isinstance(node, ast.Name) and isinstance(self.lookup_or_none(node.id), Tup):
            return list(self.expr(node).items)
        return None

    def tuple_items(self, node: ast.expr) -> list:
        items = self.compile_time_items(node)
        if items is None:
            raise Unsupported("enumerate and zip in a kernel loop run over tuples (not range or arrays)"
                              + self.array_loop_hint(node), node)
        return items

    def loop_item(self, node: ast.expr):
        static = self.static(node)
        return static if static is not NOT_STATIC else self.expr(node)

    def bind_loop_target(self, target: ast.expr, item) -> None:
        """Bind an unrolled loop's variable (or tuple of variables) to one item: constants stay constants,
        numbers in registers are copied (assigning to the variable must not change the tuple)."""
        if isinstance(target, ast.Name):
            value = item if isinstance(item, (Val, Tup)) else self.python_value(item)
            if isinstance(value, (Val, Tup)) and not (isinstance(value, Val) and value.is_const):
                value = self.own(self.snapshot(value), target.id)
            self.bind(target.id, value)
            return
        if not isinstance(target, (ast.Tuple, ast.List)):
            raise self.error(target, "a loop variable must be a name or a tuple of names")
        parts = item.items if isinstance(item, Tup) else item
        if not isinstance(parts, tuple) or len(parts) != len(target.elts):
            raise self.error(target, f"cannot unpack {describe(item) if isinstance(item, Tup) else repr(item)} "
                                     f"into {len(target.elts)} loop variables")
        for element, part in zip(target.elts, parts):
            self.bind_loop_target(element, part)

    def unrolled_for(self, s: ast.For, values: list) -> None:
        """`for d in (<constants>)` (and over tuples, enumerate and zip of them): the body is compiled once
        per item, with the variable bound to it (a constant stays a constant)."""
        names = sorted(stored_names([ast.Assign(targets=[s.target], value=ast.Constant(0))]))
        for name in names:
            if self.bound_before_region(name):
                raise self.error(s.target, f"the variable of a loop over a tuple cannot reuse {name!r}, which was "
                                           f"bound before the enclosing branch or loop; use another name")
        done = self.new_label("uend")
        breaks: list = []
        for value in values:
            if self.defined is None:
                break  # an earlier item's body left the loop (or the function) on every path
            following = self.new_label("unext")
            self.bind_loop_target(s.target, value)
            loop = LoopContext(following, done)
            self.loops.append(loop)
            try:
                self.statements(s.body)
            finally:
                self.loops.pop()
            self.place(following)
            self.defined = meet(self.defined, *loop.defined_at_continue)
            breaks += loop.defined_at_break
        self.place(done)
        self.defined = meet(self.defined, *breaks)
        if breaks and self.defined is not None:
            self.defined.difference_update(names)  # which value it stopped at is known only at run time
            self.broken_loop_vars.update(names)
