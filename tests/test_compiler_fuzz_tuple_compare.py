"""Differential fuzzing of the `@ws.jit` compiler: comparisons of tuples known when compiling, which no other
fuzzer draws (they were refused before stop 43, though the docs said they fold; tests/test_compiler_fuzz.py
draws `x in (a, b)` of a run-time number, tests/test_compiler_fuzz_tuple_slices.py slices and concatenations
of tuples, never compared).

Random module constant tuples (0 to 3 items: ints, np.int32s, floats, nan, infinities, ints and floats that
float32 makes equal (16777217 and 16777216.0, 0.1 and 0.1000000001), strings, nested tuples) and expressions
of them (the constant, a tuple display, a slice with any bounds and step, `+` of two, `*` by a count, an item
that is a tuple, a tuple variable assigned once, a device function's parameter bound to one) are compared
with `<`, `<=`, `>`, `>=`, `==`, `!=` (also chained: `A < B <= C`), `in` and `not in`, and used as a number
stored into an int32 array, as an `if` condition and as a conditional expression's test.

The reference runs the same text as plain Python with every number item wrapped (`_N`) so that a pair of
numbers compares as docs/python-supported.md says the kernel's numbers do (as float32 where a float is
among them; ints exactly), each compared tuple a fresh copy (Python's own tuple comparison tests identity
first, which finds a nan equal to itself: the kernel has no identity test). Python's tuple algorithm itself
(the first pair of items that are not equal decides, else the lengths) and `in` are Python's. Where Python
raises TypeError (an order between a string and a number), the kernel must be a `CompileError` "cannot
compare". WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import types

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_compiler_fuzz import FUZZ, dev, gen_dir  # noqa: F401

#: Number items, as the kernel's text writes them (the reference wraps each in `_N(...)`).
NUMBERS = ["0", "1", "-1", "2", "3", "16777216", "16777217", "np.int32(3)", "2147483647", "-2147483648", "0.5",
           "-0.0", "0.0", "1.0", "3.0", "16777216.0", "0.1", "0.1000000001", "np.float32(0.1)", "math.nan",
           "math.inf", "-math.inf"]
STRINGS = ["'a'", "'b'"]
OPERATORS = ["<", "<=", ">", ">=", "==", "!="]
CONSTANTS = 3  # module constant tuples C0, C1, C2
OUTPUTS = 8


class _N:
    """A number of the reference: compared with another `_N` as the kernel's numbers are (float32 where
    either is a float, else exact ints); anything else is not a number to it (NotImplemented: Python's
    fallback, `==` False, an order TypeError)."""

    __hash__ = None

    def __init__(self, value) -> None:
        self.value = value

    def _pair(self, other):
        if not isinstance(other, _N):
            return None
        a, b = self.value, other.value
        if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            return float(np.float32(a)), float(np.float32(b))
        return int(a), int(b)

    def _compare(self, other, test):
        pair = self._pair(other)
        return NotImplemented if pair is None else test(*pair)

    def __eq__(self, other):
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)


def _fresh(value):
    """A copy of a reference tuple with new `_N` objects, so that Python's identity test finds no item equal
    to itself (the kernel compares a nan with a nan as unequal)."""
    if isinstance(value, tuple):
        return tuple(_fresh(item) for item in value)
    return _N(value.value) if isinstance(value, _N) else value


@st.composite
def constant_tuples(draw, depth: int = 0):
    """A tuple of item texts (numbers, strings, nested tuples of them) as a nested Python tuple of str."""
    items = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["number"] * 8 + ["string"] + (["tuple"] * 2 if depth < 2 else [])))
        if kind == "tuple":
            items.append(draw(constant_tuples(depth + 1)))
        else:
            items.append(draw(st.sampled_from(NUMBERS if kind == "number" else STRINGS)))
    return tuple(items)


def flat(items: tuple) -> list[str]:
    """The item texts of a drawn tuple, nested ones included."""
    return [leaf for item in items for leaf in (flat(item) if isinstance(item, tuple) else [item])]


def render_tuple(items: tuple, reference: bool) -> str:
    """A tuple display of drawn items: numbers wrapped in `_N(...)` in the reference."""
    texts = [render_tuple(item, reference) if isinstance(item, tuple)
             else f"_N({item})" if reference and item not in STRINGS else item for item in items]
    return f"({', '.join(texts)}{',' if len(texts) == 1 else ''})"


class CompareGen:
    """Tuple expressions over the module constants (their drawn items known, so that an item that is a
    tuple can be taken) and the statements comparing them; each text drawn once, rendered twice."""

    def __init__(self, draw, constants: list[tuple]) -> None:
        self.draw = draw
        self.constants = constants
        self.variables: dict[str, tuple] = {}

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def tuple_expr(self, depth: int) -> tuple[str, str, tuple]:
        """(kernel text, reference text, the items it stands for: texts, to take items and lengths of)."""
        kinds = ["constant", "constant", "display"] + (["variable"] if self.variables else [])
        if depth > 0:
            kinds += ["slice", "concat", "repeat", "item"]
        kind = self.choice(kinds)
        if kind == "constant":
            k = self.draw(st.integers(0, CONSTANTS - 1))
            return f"C{k}", f"C{k}", self.constants[k]
        if kind == "variable":
            name = self.choice(sorted(self.variables))
            return name, name, self.variables[name]
        if kind == "slice":
            text, ref, items = self.tuple_expr(depth - 1)
            start, stop = (self.choice(["", "-1", "0", "1", "2", "5"]) for _ in range(2))
            step = self.choice(["", "1", "-1", "2", "-2"])
            bounds = f"[{start}:{stop}{':' + step if step else ''}]"
            return f"{text}{bounds}", f"{ref}{bounds}", eval(f"items{bounds}", {"items": items})
        if kind == "concat":
            (text, ref, items), (text2, ref2, items2) = self.tuple_expr(depth - 1), self.tuple_expr(depth - 1)
            return f"({text} + {text2})", f"({ref} + {ref2})", items + items2
        if kind == "repeat":
            text, ref, items = self.tuple_expr(depth - 1)
            count = self.draw(st.integers(0, 2))
            return f"({text} * {count})", f"({ref} * {count})", items * count
        if kind == "item":
            text, ref, items = self.tuple_expr(depth - 1)
            inner = [k for k, item in enumerate(items) if isinstance(item, tuple)]
            if inner:
                k = self.choice(inner)
                return f"{text}[{k}]", f"{ref}[{k}]", items[k]
            return text, ref, items
        items = self.draw(constant_tuples())
        return render_tuple(items, False), render_tuple(items, True), items

    def comparison(self) -> tuple[str, str]:
        """A comparison of tuple expressions (chained, or `in` against a tuple of them), both texts."""
        kind = self.choice(["compare", "compare", "chain", "member"])
        if kind == "member":
            text, ref, _ = self.tuple_expr(2)
            tuples = [self.tuple_expr(1) for _ in range(self.draw(st.integers(1, 3)))]
            test = self.choice(["in", "not in"])
            return (f"{text} {test} ({', '.join(t for t, _, _ in tuples)},)",
                    f"_fresh({ref}) {test} _fresh(({', '.join(r for _, r, _ in tuples)},))")
        operands = [self.tuple_expr(2) for _ in range(3 if kind == "chain" else 2)]
        ops = [self.choice(OPERATORS) for _ in operands[1:]]
        text, ref = operands[0][0], f"_fresh({operands[0][1]})"
        for op, (operand_text, operand_ref, _) in zip(ops, operands[1:]):
            text, ref = f"{text} {op} {operand_text}", f"{ref} {op} _fresh({operand_ref})"
        return text, ref

    def statement(self, slot: int) -> tuple[list[str], list[str]]:
        """Lines of the body (kernel, reference) writing output `slot`."""
        kind = self.choice(["store", "store", "if", "ifexp", "variable", "helper"])
        if kind == "variable":  # a tuple variable assigned once, compared later (a string is no kernel value)
            text, ref, items = self.tuple_expr(2)
            if "'" not in text and not any(item in STRINGS for item in flat(items)):  # (also `('a',) * 0`)
                name = f"t{len(self.variables)}"
                self.variables[name] = items
                return [f"{name} = {text}"], [f"{name} = {ref}"]
        text, ref = self.comparison()
        if kind == "if":
            return [f"if {text}:", f"    out[{slot}] += 100"], [f"if {ref}:", f"    out[{slot}] += 100"]
        if kind == "ifexp":
            return [f"out[{slot}] = 7 if {text} else -7"], [f"out[{slot}] = 7 if {ref} else -7"]
        if kind == "helper":  # the tuples bound to a device function's parameters, compared there
            (a, a_ref, _), (b, b_ref, _) = self.tuple_expr(1), self.tuple_expr(1)
            op = self.choice(OPERATORS)
            return ([f"out[{slot}] = compare_{OPERATORS.index(op)}({a}, {b})"],
                    [f"out[{slot}] = compare_{OPERATORS.index(op)}(_fresh({a_ref}), _fresh({b_ref}))"])
        return [f"out[{slot}] = {text}"], [f"out[{slot}] = {ref}"]


@st.composite
def programs(draw):
    """(module prelude for the kernel, for the reference, body lines for each)."""
    constants = [draw(constant_tuples()) for _ in range(CONSTANTS)]
    gen = CompareGen(draw, constants)
    kernel, reference = [], []
    for slot in range(OUTPUTS):
        text, ref = gen.statement(slot)
        kernel += text
        reference += ref
    return ([f"C{k} = {render_tuple(c, False)}" for k, c in enumerate(constants)],
            [f"C{k} = {render_tuple(c, True)}" for k, c in enumerate(constants)], kernel, reference)


def helpers(decorated: bool) -> list[str]:
    """`compare_k(a, b)`: `a <op k> b` in a device function (a plain function in the reference)."""
    lines = []
    for k, op in enumerate(OPERATORS):
        lines += (["@ws.jit"] if decorated else []) + [f"def compare_{k}(a, b):", f"    return a {op} b", ""]
    return lines


def render(program) -> str:
    kernel_constants, reference_constants, kernel, reference = program
    return "\n".join(["import math", "import numpy as np", "import wafersim as ws", "", *kernel_constants, "",
                      *helpers(True), "@ws.jit", "def kern(out):", *[f"    {line}" for line in kernel], "", "",
                      "def _reference_module():",  # (the reference's constants are its own: the kernel reads C0...)
                      *[f"    {line}" for line in reference_constants],
                      *[f"    {line}" for line in helpers(False)],
                      "    def ref(out):", *[f"        {line}" for line in reference],
                      "    return ref", ""])


@FUZZ
@given(program=programs())
def test_constant_tuple_comparisons_match_python(dev, gen_dir, program):
    source = render(program)
    module = load_source(gen_dir, source)
    scope = dict(vars(module))
    scope.update(_N=_N, _fresh=_fresh)
    reference = types.FunctionType(module._reference_module.__code__, scope)()
    want = np.zeros(OUTPUTS, np.int32)
    try:
        reference(want)
    except TypeError as error:  # an order Python cannot take: the kernel is refused
        assert "not supported between" in str(error), (source, error)
        try:
            module.kern[(1, 1), (1, 1)](dev.device_array(OUTPUTS, np.int32))
        except ws.CompileError as refused:
            assert "cannot compare" in str(refused), (source, str(refused))
            return
        raise AssertionError(f"Python raises {error!r}, the kernel compiled\n{source}")
    out = dev.device_array(OUTPUTS, np.int32)
    module.kern[(1, 1), (1, 1)](out)
    got = out.copy_to_host()
    assert np.array_equal(got, want), f"kernel {got.tolist()} != Python {want.tolist()}\n{source}"
