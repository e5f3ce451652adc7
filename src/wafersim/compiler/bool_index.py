"""Bool indices: NumPy takes a bool index as a mask, not as the int it equals, so the compiler refuses an index
that Python may give a bool (a comparison, `not`, a predicate, a variable or a device function's return that
may be one), judged over the function's source and scope without running it."""
from __future__ import annotations

import ast
import builtins
import inspect
from typing import Callable

import numpy as np

from .core import closure_globals, read_source
from .halfprec import HalfLowering
from .scalar_math import PREDICATES
from .values import Unsupported

_UNRESOLVED = object()


def _resolve(node: ast.expr, scope: dict) -> object:
    """What a name or a dotted name (`math.isnan`) of a device function's body stands for in `scope` (its
    globals and closure, then the builtins), or `_UNRESOLVED`."""
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        return getattr(builtins, node.id, _UNRESOLVED)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope)
        try:  # (an intrinsic's attribute raises outside a kernel: `ws.threadIdx.x`)
            return _UNRESOLVED if owner is _UNRESOLVED else getattr(owner, node.attr, _UNRESOLVED)
        except Exception:
            return _UNRESOLVED
    return _UNRESOLVED


def _by_form(node: ast.expr, judge: Callable[[ast.expr], bool], name: Callable[[ast.expr], bool],
             call: Callable[[ast.Call], bool]) -> bool:
    """Whether Python may give `node` a bool by its form: a bool constant, a comparison, `not`, an `and` / `or`,
    conditional expression or `:=` that may give one (`judge` judges the parts), `&`, `|`, `^` of two that
    may (`True | False` is True); a name, an item or an attribute as `name` judges it, a call as `call` does."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Compare) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return True
    if isinstance(node, ast.BoolOp):  # (`x and y` gives one of its operands)
        return any(judge(v) for v in node.values)
    if isinstance(node, ast.IfExp):
        return judge(node.body) or judge(node.orelse)
    if isinstance(node, ast.NamedExpr):
        return judge(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
        return judge(node.left) and judge(node.right)
    if isinstance(node, ast.Call):
        return call(node)
    if isinstance(node, (ast.Name, ast.Subscript, ast.Attribute)):
        return name(node)
    return False


#: Each variable's assignments in a function's tree, in `ast.walk`'s order: (False, the value expression) or
#: (True, a loop's iterable that is not a tuple display, which `_assigned` asks `static` for when asked).
Assignments = dict[str, list[tuple[bool, ast.expr]]]


def _assignments(tree: ast.AST) -> Assignments:
    """One walk of the function `tree`: what `_assigned` reads for every variable (`=`, `:=`, annotated,
    `b, c = x > 0, 1`, and the loops over tuples)."""
    index: Assignments = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign):
            for target in n.targets:
                if isinstance(target, ast.Name):
                    index.setdefault(target.id, []).append((False, n.value))
                elif isinstance(target, ast.Tuple) and isinstance(n.value, ast.Tuple) \
                        and len(target.elts) == len(n.value.elts):  # `b, c = x > 0, 1`
                    for t, v in zip(target.elts, n.value.elts):
                        if isinstance(t, ast.Name):
                            index.setdefault(t.id, []).append((False, v))
        elif isinstance(n, (ast.AnnAssign, ast.NamedExpr)) and isinstance(n.target, ast.Name) \
                and n.value is not None:
            index.setdefault(n.target.id, []).append((False, n.value))
        elif isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            if isinstance(n.iter, ast.Tuple):  # `for f in (True, x > 0):`
                index.setdefault(n.target.id, []).extend((False, item) for item in n.iter.elts)
            else:  # `for f in FLAGS:` over a tuple of constants (judged when asked: what FLAGS is may vary)
                index.setdefault(n.target.id, []).append((True, n.iter))
    return index


def _assigned(index: Assignments, name: str, static: Callable[[ast.expr], object]) -> list[ast.expr]:
    """The expressions a function (its `_assignments`) assigns to the variable `name`, and for a loop over a
    tuple, the tuple's items (`static`: a loop's iterable as the compiler sees it)."""
    values = []
    for deferred, node in index.get(name, ()):
        if not deferred:
            values.append(node)
            continue
        try:
            items = static(node)
        except Unsupported:
            continue
        if isinstance(items, tuple):
            values += [ast.Constant(True) for item in items if isinstance(item, (bool, np.bool_))][:1]
    return values


class BoolIndexLowering(HalfLowering):
    """The refusal of an index that may be a bool, and the judging of what may be one."""
    def refuse_bool_index(self, node: ast.expr) -> None:
        """NumPy takes a bool index as a mask, not as the int it equals: `a[True]` is `a[np.newaxis]` (and
        `t[True, 0]` is `t[0]` with a new axis), `a[False]` an empty array, where the kernel's bool is an int32
        0 or 1 that would read `a[1]`, a silent divergence: refused at the index, saying to convert it."""
        if self.may_be_bool(node):
            raise Unsupported(f"a bool used as an array index ({ast.unparse(node)}): NumPy takes a bool index as a "
                              f"mask (a[True] is a with a new axis, a[False] is empty), not as the int it equals; "
                              f"write int({ast.unparse(node)}) there, or index with an int", node)

    def may_be_bool(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether Python may give `node` a bool (or an np.bool_): a bool constant or a name bound to one, a
        comparison, `not`, `bool(...)`, `math.isnan(...)` and the other predicates, an `and` / `or` or a
        conditional expression that may give one of those, or a variable the function assigns any of those
        anywhere (or a device function's parameter a call bound to one). A variable is judged over all of its
        assignments, not by the one that reaches the line: `b = x > 0; b = 2` is refused too (`int(b)` is not)."""
        def judge(part: ast.expr) -> bool:
            return self.may_be_bool(part, seen)

        def call(node: ast.Call) -> bool:
            try:
                callee = self.static(node.func)
            except Unsupported:
                return False
            if getattr(callee, "__wafersim_jit__", False):  # a device function that may return a bool
                return self.may_return_bool(callee.py_func, self.bool_arguments(callee.py_func, node, judge))
            return any(callee is f for f in (bool, np.bool_, *PREDICATES))

        def name(node: ast.expr) -> bool:
            if isinstance(node, ast.Name) and node.id not in seen:
                if node.id in self.bool_parameters[-1]:
                    return True
                if node.id in self.local_names():
                    return any(self.may_be_bool(value, seen | {node.id}) for value in self.assigned_values(node.id))
            try:  # a global, a closure constant, T[0]
                return isinstance(self.static(node), (bool, np.bool_))
            except Unsupported:
                return False

        return _by_form(node, judge, name, call)

    @staticmethod
    def bool_arguments(func: Callable, node: ast.Call, judge: Callable[[ast.expr], bool]) -> frozenset[str]:
        """The parameters of the device function `func` that the call `node` binds to a bool: an argument
        `judge` finds may be one, or a parameter left to a bool default. (None where the call does not bind.)"""
        signature = inspect.signature(func)
        try:
            given = signature.bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg}).arguments
        except TypeError:  # (the call is refused as it lowers)
            return frozenset()
        return frozenset(name for name, parameter in signature.parameters.items()
                         if (judge(given[name]) if name in given else isinstance(parameter.default, (bool, np.bool_))))

    def may_return_bool(self, func: Callable, bool_parameters: frozenset[str] = frozenset(),
                        calling: frozenset = frozenset()) -> bool:
        """Whether a device function may return a bool, judged as `may_be_bool` judges an index, over its own
        body and scope: a `return` of a comparison, `not`, `bool(...)`, a predicate (`math.isnan(...)`), a bool
        constant or a global bound to one, a variable of the function assigned any of those, one of its
        parameters the call binds to a bool (`bool_parameters`), or a call of a device function that may."""
        if func in calling:  # (a recursive device function is refused as it lowers)
            return False
        # The answer depends on `func` (its source and scope) and the parameters bound to bools only: kept for
        # the kernel's compilation. Each index and each call asks again, and a library collective's helpers
        # were judged anew at every call, each variable by a walk of the whole body: a user's BiCGSTAB with
        # five tree all-reduces spent 14 of its 18 s of compiling here (stop 46).
        memo = self.__dict__.setdefault("_returns_bool", {})
        key = (func, bool_parameters)
        if key not in memo:
            memo[key] = self._may_return_bool(func, bool_parameters, calling)
        return memo[key]

    def _may_return_bool(self, func: Callable, bool_parameters: frozenset[str], calling: frozenset) -> bool:
        """`may_return_bool`, not remembered."""
        try:
            tree = read_source(func).tree
        except Unsupported:
            return False
        scope, calling = closure_globals(func), calling | {func}
        index = self.assignments_of(tree)
        parameters = {a.arg for a in (*tree.args.posonlyargs, *tree.args.args, *tree.args.kwonlyargs)}

        def static(node: ast.expr) -> object:
            value = _resolve(node, scope)
            if value is _UNRESOLVED:
                raise Unsupported("not a constant", node)
            return value

        def judged(node: ast.expr, seen: frozenset[str]) -> bool:
            def judge(part: ast.expr) -> bool:
                return judged(part, seen)

            def call(node: ast.Call) -> bool:
                callee = _resolve(node.func, scope)
                if getattr(callee, "__wafersim_jit__", False):
                    inner = callee.py_func
                    return self.may_return_bool(inner, self.bool_arguments(inner, node, judge), calling)
                return any(callee is f for f in (bool, np.bool_, *PREDICATES))

            def name(node: ast.expr) -> bool:
                if isinstance(node, ast.Name):
                    if node.id in bool_parameters:
                        return True
                    if node.id in seen:
                        return False
                    values = _assigned(index, node.id, static)
                    if values or node.id in parameters:
                        return any(judged(v, seen | {node.id}) for v in values)
                return isinstance(_resolve(node, scope), (bool, np.bool_))  # a global bound to one

            return _by_form(node, judge, name, call)

        return any(isinstance(n, ast.Return) and n.value is not None and judged(n.value, frozenset())
                   for n in ast.walk(tree))

    def assigned_values(self, name: str) -> list[ast.expr]:
        """The expressions the function being lowered assigns to the variable `name` (`_assigned`)."""
        return _assigned(self.assignments_of(self.source.tree), name, self.static)

    def assignments_of(self, tree: ast.AST) -> Assignments:
        """`_assignments(tree)`, walked once a compilation: `may_be_bool` asks for a variable at every index
        and call, and a walk of the whole body each time made a user's BiCGSTAB compile for seconds."""
        memo = self.__dict__.setdefault("_assignments", {})
        kept = memo.get(id(tree))
        if kept is None or kept[0] is not tree:  # (the tree kept too: its id is not reused meanwhile)
            kept = memo[id(tree)] = (tree, _assignments(tree))
        return kept[1]
