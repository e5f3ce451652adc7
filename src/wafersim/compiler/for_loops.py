"""For loops in kernels: over range() (a counter in a register, with Python's range semantics for any
int32 start, stop and step, run-time steps included) or over a tuple known when compiling (a display, a
constant, a tuple variable, enumerate/zip of those, a device function's tuple result), which is unrolled."""
from __future__ import annotations

import ast
import contextlib

from ..isa.opcodes import WORD_TYPE_NAMES
from .core import LoopContext
from .definite import copy_defined, meet, stored_names
from .values import INT_MAX, INT_MIN, NOT_STATIC, Tup, Unsupported, Val, describe


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


def _loop_jumps(statement: ast.stmt) -> set[type]:
    """The kinds of `break` and `continue` in `statement` that leave the loop it is in (not those of a loop
    nested in it)."""
    found: set[type] = set()
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Break, ast.Continue)):
            found.add(type(node))
        elif not isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                   ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _unrolled_targets(statements: list[ast.stmt]) -> set[str]:
    """The names `for` statements in `statements` bind as their variables (at any depth)."""
    return {name.id for s in statements for node in ast.walk(s) if isinstance(node, ast.For)
            for name in ast.walk(node.target) if isinstance(name, ast.Name)}


class ForLoopLowering:
    """`for` statements (a mixin of `StatementLowering`, which gives `loop_body`, `prepare_region`, `statements`,
    `bound_before_region`, ...)."""

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
        if not 1 <= len(args) <= 3:
            raise self.error(iterable, f"range() takes 1 to 3 int32 arguments, got {len(args)}")
        for node, arg in zip(iterable.args, args):
            if arg.ty != "i32":  # (the caret at that argument, as an index of the wrong type has it)
                raise self.error(node, f"range() takes int32 arguments, not a {WORD_TYPE_NAMES.get(arg.ty, arg.ty)}: "
                                       f"convert it with int(...), or launch with an int where it is a kernel "
                                       f"argument (a Python or NumPy float argument is a float32)")
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
        entry = copy_defined(self.defined)
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
        if step.is_const:  # clamp first, so the difference cannot wrap: max(stop, INT_MIN + step) - step
            s = int(step.const)  # (two instructions and a constant, where testing the wrap after took four)
            edge = self.reg_of(Val("i32", const=INT_MIN + s if s > 0 else INT_MAX + s))
            clamped = self.result("max" if s > 0 else "min", "i32", a=self.reg_of(limit), b=edge)
            ahead = self.result("sub", "i32", a=clamped.reg, b=self.reg_of(step))
            return self.own(ahead, "stopahead_")
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
                start = 0 if start_node is None else self.static_int(start_node)
                if start is None:
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
        if self.is_tuple(node):  # a slice, a concatenation of tuples of run-time numbers: `t[1:] + t[:1]`
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

    def unrolled_body(self, body: list[ast.stmt], loop: LoopContext, after_break: contextlib.ExitStack,
                      own: frozenset[str]) -> None:
        """One item's copy of an unrolled loop's body. After a statement that runs a `break` or `continue` of this
        loop under a run-time condition, the rest runs only on some paths, which meet again at the next item (or
        after the loop, for a `break`): it is lowered as a run-time branch is (`prepare_region` before that
        statement, then `region`), so that a name holds its value in one place on every path. (Lowered straight
        on, a tuple or slice variable rebound after `if c: continue` took its new registers or constants on the
        path that skipped it too: `t = (t[1], t[0])` read after the loop gave the swapped tuple where Python's was
        not.) A `break` opens its region on `after_break`, to the loop's end: every later item runs only on
        the paths that did not break. The variables of loops over tuples in what follows are rebound to each
        item as before (an inner `for r in ROWS:` in every item), so they are not held to one place: where the
        paths meet they are taken as unassigned (reading one there is refused, "may be used before assignment").
        So is the loop's own variable (`own`) after a `break`: every later item rebinds it, to a constant where the
        item is one, which the body may then assign a run-time value (`for k in (2, 1): k *= v; if c: break`)."""
        with contextlib.ExitStack() as after_continue:
            for k, statement in enumerate(body):
                kinds = _loop_jumps(statement)
                rest = body if ast.Break in kinds else body[k + 1:]  # (a break: also every later item)
                if kinds:
                    self.prepare_region(rest)
                jumps = (len(loop.defined_at_break), len(loop.defined_at_continue))
                self.statements([statement])
                if self.defined is None:
                    return  # (it left the loop on every path: what follows is not compiled)
                broke = len(loop.defined_at_break) > jumps[0]
                if broke or len(loop.defined_at_continue) > jumps[1]:
                    targets = frozenset(_unrolled_targets(rest)) | (own if broke else frozenset())
                    (after_break if broke else after_continue).enter_context(self.region(unbound=targets))
                    loop.defined_at_break = [names - targets for names in loop.defined_at_break if names is not None]
                    loop.defined_at_continue = [names - targets for names in loop.defined_at_continue
                                                if names is not None]

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
        with contextlib.ExitStack() as after_break:  # (the regions a run-time `break` opens, to the loop's end)
            for value in values:
                if self.defined is None:
                    break  # an earlier item's body left the loop (or the function) on every path
                following = self.new_label("unext")
                self.bind_loop_target(s.target, value)
                loop = LoopContext(following, done)
                self.loops.append(loop)
                try:
                    self.unrolled_body(s.body, loop, after_break, frozenset(names))
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
