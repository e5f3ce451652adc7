"""Which constructs of docs/python-supported.md the compiler fuzzers draw, counted over their drawn sources.

A pytest plugin and a counter (not a test). Record the kernels the fuzzers draw (every generated module goes
through `conftest.load_source`, which writes `_wafersim_generated_N.py`), then count the draws holding each
construct, per fuzz file:

    WS_FUZZ_DRAWS=/tmp/draws.txt PYTHONPATH=src:tests python -m pytest -p compiler_fuzz_reach \\
        tests/test_compiler_fuzz*.py                      # WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM as usual
    python tests/compiler_fuzz_reach.py /tmp/draws.txt

The counts fill docs/compiler.md's table "Which fuzzer draws what"; a construct nothing draws is a gap. Counts
are of draws whose source holds the construct (a helper written out once in every draw of a file counts in each),
not of runs through it.
"""
from __future__ import annotations

import ast
import builtins
import collections
import os
import pathlib
import re
import sys
from collections.abc import Iterator

#: Constructs found by a pattern of the source text rather than by its syntax tree.
PATTERNS = {
    "ws.constant parameter": r"ws\.constant",
    "ws.grid(2)": r"ws\.grid\(2\)",
    "threadIdx / blockIdx / blockDim / gridDim": r"\b(threadIdx|blockIdx|blockDim|gridDim)\b",
    "3-D local array": r"local\.array\(\(\w+, \w+, \w+\)",
    "`is None` test": r" is None",
    "tuples compared": r"\) (==|!=|<|<=|>|>=) \(",
    "closure constant (a kernel made in a function)": r"\n    @ws\.jit",
    "module-level tuple constant": r"\n[A-Z_0-9]+ = \(",
    "float('inf') and the like": r"float\(['\"]",
    "math.inf / math.nan": r"math\.(inf|nan)",
    "float16 array": r"np\.float16|\bfloat16",
    "bfloat16 array": r"bfloat16",
    "boundscheck=False": r"boundscheck\s*=\s*False",
    "np.int64 value": r"np\.int64\(",
    "a slice in a variable (a view)": r"\n\s+\w+ = \w+\[[^\]\n,]*:[^\]\n]*\]\n",
    "a column of a 2-D local array": r"\w\[\w*:[\w +]*, [\w+ -]+\]",
    "a block of a 2-D array": r"\w\[[^\]\n,]*:[^\]\n,]*, [^\]\n,]*:[^\]\n,]*\]",
}
LOOPS = (ast.For, ast.While)
CONVERSIONS = ("np.int32", "np.float32")


def draws(path: str) -> Iterator[tuple[str, str]]:
    """(fuzz file, drawn source) of each draw in a log the plugin wrote."""
    test, lines = None, []
    for line in open(path):
        if line.startswith("#### DRAW "):
            if test is not None:
                yield test, "".join(lines)
            test, lines = pathlib.Path(line.split()[2].split("::")[0]).stem, []
        else:
            lines.append(line)
    if test is not None:
        yield test, "".join(lines)


def _is_constant(node: ast.expr) -> bool:
    """A written-out number: `3`, `-3`, `np.int32(3)`, `np.float32(-0.5)`."""
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    if isinstance(node, ast.Call) and ast.unparse(node.func) in CONVERSIONS and len(node.args) == 1:
        return _is_constant(node.args[0])
    return isinstance(node, ast.Constant)


def _has_nested_loop(function: ast.FunctionDef) -> bool:
    return any(isinstance(inner, LOOPS) and inner is not loop for loop in ast.walk(function) if isinstance(loop, LOOPS)
               for inner in ast.walk(loop))


class Constructs(ast.NodeVisitor):
    """The constructs one drawn module holds (labels of docs/compiler.md's table)."""

    def __init__(self, tree: ast.Module) -> None:
        self.found: set[str] = set()
        self.jit = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                    and any("jit" in ast.unparse(d) for d in node.decorator_list)}
        called = {node.func.id for function in self.jit.values() for node in ast.walk(function)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.jit}
        self.device = called  # @ws.jit functions some other one calls: device functions (inlined)
        self.function: str | None = None
        self.loops = 0

    def add(self, label: str) -> None:
        self.found.add(label)

    def device_calls(self, node: ast.AST) -> list[str]:
        return [n.func.id for n in ast.walk(node)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in self.device]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in self.device:
            self.add("device function")
            returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
            if node.args.defaults:
                self.add("device function: parameter defaults")
            if len(returns) > 1:
                self.add("device function: early return")
            if any(isinstance(r.value, ast.Tuple) for r in returns):
                self.add("device function: a tuple result")
            if self.device_calls(node):
                self.add("device function calling a device function")
        outer, self.function, loops, self.loops = self.function, node.name, self.loops, 0
        self.generic_visit(node)
        self.function, self.loops = outer, loops

    def _loop(self, node: ast.For | ast.While, kind: str) -> None:
        self.add(kind)
        if node.orelse:
            self.add(f"{kind} ... else")
        if self.loops:
            self.add("loop nested in a loop")
        self.loops += 1
        for statement in node.body:
            self.visit(statement)
        self.loops -= 1
        for statement in node.orelse:
            self.visit(statement)

    def visit_For(self, node: ast.For) -> None:
        iterated = ast.unparse(node.iter)
        if iterated.startswith("range("):
            self.add(f"for in range() of {len(node.iter.args)} arguments")
            if len(node.iter.args) == 3 and not _is_constant(node.iter.args[2]):
                self.add("for in range() with a run-time step")
        elif iterated.startswith(("enumerate(", "zip(")):
            self.add(f"for in {iterated.split('(')[0]}()")
        else:
            self.add("for over a tuple (unrolled)")
        if isinstance(node.target, ast.Tuple):
            self.add("for with a tuple target")
        self.visit(node.iter)
        self._loop(node, "for")

    def visit_While(self, node: ast.While) -> None:
        if isinstance(node.test, ast.Constant) and node.test.value is True:
            self.add("while True")
        self.visit(node.test)
        self._loop(node, "while")

    def _leave(self, node: ast.Break | ast.Continue, kind: str) -> None:
        self.add(kind)
        if self.loops >= 2:
            self.add(f"{kind} in a nested loop")
        if self.function in self.device:
            self.add(f"{kind} in a device function")
            if self.loops >= 2:
                self.add(f"{kind} in a nested loop of a device function")

    def visit_Break(self, node: ast.Break) -> None:
        self._leave(node, "break")

    def visit_Continue(self, node: ast.Continue) -> None:
        self._leave(node, "continue")

    def visit_Return(self, node: ast.Return) -> None:
        if self.function in self.device and self.loops:
            self.add("return from a loop of a device function")
        elif self.function not in self.device:
            self.add("the kernel's own return")
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.add("conditional expression")
        for callee in self.device_calls(node):
            self.add("device function called in a conditional expression")
            function = self.jit[callee]
            leaves = any(isinstance(n, ast.Break) for n in ast.walk(function))
            if leaves and _has_nested_loop(function):
                self.add("... that holds a nested loop and a break")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self.add(f"`{type(node.op).__name__.lower()}`")
        if any(self.device_calls(value) for value in node.values[1:]):
            self.add("a device function called in a later `and`/`or` operand")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) > 1:
            self.add("comparison chain")
            if any(self.device_calls(term) for term in node.comparators[:-1]):
                self.add("comparison chain calling a device function in a middle operand")
        for op in node.ops:
            self.add(f"compare {type(op).__name__}")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        op = type(node.op).__name__
        self.add(f"operator {op}")
        if op in ("FloorDiv", "Mod", "Pow", "Div", "LShift", "RShift") and not _is_constant(node.right):
            self.add(f"operator {op} by a run-time value")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        self.add(f"unary {type(node.op).__name__}")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        target = "an element" if isinstance(node.target, ast.Subscript) else "a name"
        self.add(f"augmented {type(node.op).__name__} of {target}")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) > 1:
            self.add("a = b = value")
        for target in node.targets:
            if isinstance(target, (ast.Tuple, ast.List)):
                self.add("tuple unpacking")
                if any(isinstance(e, ast.Tuple) for e in target.elts):
                    self.add("nested tuple target")
                if any(isinstance(e, ast.Subscript) for e in target.elts):
                    self.add("an element in a tuple target")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.add("annotated assignment")
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self.add("if")
        if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
            self.add("elif")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        index = node.slice
        if isinstance(index, ast.Slice):
            self.add("slice" if index.step is None else "slice with a step")
        elif isinstance(index, ast.Tuple):
            self.add(f"{len(index.elts)}-D index")
        elif isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            self.add("constant negative index")
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in self.device:
            self.add("an item of a device function's tuple result")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("shape", "size", "ndim", "dtype"):
            self.add(f"array .{node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = ast.unparse(node.func).split("(")[0]  # (`np.multiply.outer(a, b).ravel`: its first call)
        if isinstance(node.func, ast.Name) and hasattr(builtins, name):
            self.add(f"builtin {name}()")
        elif name.startswith(("math.", "np.", "ws.", "operator.", "wsc.")):
            self.add(f"call {name}")
        if isinstance(node.func, ast.Name) and node.func.id in self.device and node.keywords:
            self.add("device function: keyword arguments")
        self.generic_visit(node)


def constructs(source: str) -> set[str]:
    """The labels of the constructs `source` holds."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {"(not Python)"}
    visitor = Constructs(tree)
    visitor.visit(tree)
    return visitor.found | {label for label, pattern in PATTERNS.items() if re.search(pattern, source)}


def count(path: str) -> tuple[collections.Counter, dict[str, collections.Counter]]:
    """Draws in all, per file; and per construct, the draws holding it per file."""
    files: collections.Counter = collections.Counter()
    per: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for test, source in draws(path):
        files[test] += 1
        for label in constructs(source):
            per[label][test] += 1
    return files, per


def _record(self: pathlib.Path, data: str, *args, **kwargs):
    """Path.write_text that also appends a generated kernel module to the $WS_FUZZ_DRAWS log."""
    if self.name.startswith("_wafersim_generated_"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(os.environ["WS_FUZZ_DRAWS"], "a") as log:
            log.write(f"#### DRAW {test}\n{data}\n")
    return _write_text(self, data, *args, **kwargs)


_write_text = pathlib.Path.write_text
if os.environ.get("WS_FUZZ_DRAWS") and "pytest" in sys.modules:  # loaded as a plugin (`-p compiler_fuzz_reach`)
    pathlib.Path.write_text = _record


def main(path: str) -> None:
    files, per = count(path)
    print(f"{sum(files.values())} draws: " + ", ".join(f"{name} {n}" for name, n in sorted(files.items())))
    for label in sorted(per):
        top = ", ".join(f"{name.removeprefix('test_compiler_fuzz')[1:] or 'fuzz'} {n}"
                        for name, n in per[label].most_common(4))
        print(f"{sum(per[label].values()):6d}  {label:64s} {top}")


if __name__ == "__main__":
    main(sys.argv[1])
