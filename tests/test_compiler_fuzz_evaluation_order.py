"""Differential fuzzing of the `@ws.jit` compiler: Python's order of evaluation wherever a device function
that writes an array can be called, and int32 semantics of the operators the other fuzzers leave out.

tests/test_compiler_fuzz_device_functions.py draws device functions that change a local array passed by
reference (`buf`) and call each other in expressions, conditions and `and`/`or`; this fuzzer draws the same
functions (its `FunctionGen`) with the places a call can sit that it does not draw:

- the index of an element store, `buf[h0(a, b, buf) % 4] = e` (Python evaluates `e` first, then the index),
  and targets whose index reads what an earlier target wrote: `v0, buf[v0 % 4] = e1, e2` and chained
  `v0 = buf[v0 % 4] = e` (Python evaluates the right side once, then assigns the targets left to right);
- comparison chains `e1 < e2 <= e3` (each operand evaluated once, the later ones only while the earlier
  comparisons hold), as conditions and as values, `not` as a value, and `and`/`or` as values (the operand);
- `min`/`max` of three operands and `abs` (arguments left to right);
- `range(start, stop, step)` whose three bounds call (evaluated once, before the first trip, in order);
- int32 operators: shifts by counts known only at run time, 0 to 63 (Python's result wrapped: 0 or the sign
  from 32 up), and `//`, `%` by divisors known only at run time (never 0: `| 1`; -1 included, so
  `-2**31 // -1` wraps to itself as NumPy's int32 does).

The reference is the same source run by Python over np.int32 scalars and a NumPy array (as in
tests/test_compiler_fuzz_device_functions.py, whose `check` runs both and compares every PE).
WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import os

from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_compiler_fuzz_device_functions import N_IN, N_OUT, FunctionGen, check

from conftest import compiler_fuzz_settings
from test_compiler_fuzz import dev, gen_dir  # noqa: F401

#: Each example inlines several drawn functions into one kernel, as in the device-function fuzzer.
FEW = settings(compiler_fuzz_settings(30), max_examples=max(1, int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "30"))
                                                                // 3))
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]


class OrderGen(FunctionGen):
    """`FunctionGen` with calls in the places listed in the module docstring, and the int32 operators."""

    def fresh(self, prefix: str) -> str:
        """Loop counters are `c1, c2, ...`, which no statement assigns (the targets are the names starting with v,
        or the kernel's first value): a `while` loop's counter set back in its body ran forever."""
        return super().fresh("c" if prefix == "k" else prefix)

    def expr(self, names: list[str], depth: int, buf: str | None) -> str:
        if depth <= 0 or self.draw(st.integers(0, 2)) > 0:
            return super().expr(names, depth, buf)
        kind = self.choice(["shift", "divide", "chain", "andor", "minmax3", "abs", "not"])
        sub = [self.expr(names, depth - 1, buf) for _ in range(3)]
        if kind == "shift":
            return f"({sub[0]} {self.choice(['<<', '>>'])} ({sub[1]} & np.int32(63)))"
        if kind == "divide":
            return f"({sub[0]} {self.choice(['//', '%'])} ({sub[1]} | np.int32(1)))"
        if kind == "chain":
            return f"np.int32({self.chain(sub)})"
        if kind == "andor":
            return f"({sub[0]} {self.choice(['and', 'or'])} {sub[1]})"
        if kind == "minmax3":
            return f"{self.choice(['min', 'max'])}({', '.join(sub)})"
        if kind == "abs":
            return f"abs({sub[0]})"
        return f"np.int32(not {sub[0]})"

    def chain(self, operands: list[str]) -> str:
        first, second = self.choice(COMPARISONS), self.choice(COMPARISONS)
        return f"{operands[0]} {first} {operands[1]} {second} {operands[2]}"

    def cond(self, names: list[str], depth: int, buf: str | None) -> str:
        if depth > 0 and self.draw(st.integers(0, 3)) == 0:
            return self.chain([self.expr(names, depth - 1, buf) for _ in range(3)])
        return super().cond(names, depth, buf)

    def statement(self, names: list[str], indent: int, loop: bool, in_function: bool, buf: str | None) -> list[str]:
        kinds = ["base", "base", "base", "range"] + (["store", "tuple", "chained"] if buf else [])
        kind = self.choice(kinds) if indent < 3 else self.choice(["base", "store", "tuple"] if buf else ["base"])
        pad = "    " * indent
        variable = self.choice([n for n in names if n[0] == "v"] or names[:1])
        if kind == "base":
            return super().statement(names, indent, loop, in_function, buf)
        if kind == "store":  # the index may call: it runs after the value
            return [f"{pad}{buf}[{self.expr(names, 1, buf)} % np.int32(4)] = {self.expr(names, 1, buf)}"]
        if kind == "tuple":  # the element's index reads the variable the first target has just assigned
            targets = [variable, f"{buf}[{variable} % np.int32(4)]"]
            if self.draw(st.booleans()):
                targets.reverse()
            values = [self.expr(names, 1, buf) for _ in targets]
            return [f"{pad}{', '.join(targets)} = {', '.join(values)}"]
        if kind == "chained":
            return [f"{pad}{variable} = {buf}[{variable} % np.int32(4)] = {self.expr(names, 1, buf)}"]
        counter = self.fresh("k")  # range(start, stop, step): bounds that call, a few trips either way
        start = f"{self.expr(names, 1, buf)} % np.int32(5)"
        stop = f"{self.expr(names, 1, buf)} % np.int32(5) - np.int32(2)"
        step = f"({self.expr(names, 1, buf)} % np.int32(2) + np.int32(1)) * np.int32({self.choice([1, -1])})"
        lines = [f"{pad}for {counter} in range({start}, {stop}, {step}):"]
        lines += self.block(names + [counter], indent + 1, self.draw(st.integers(1, 2)), True, in_function, buf)
        return lines


@st.composite
def programs(draw):
    gen = OrderGen(draw)
    functions = [gen.function() for _ in range(draw(st.integers(1, 3)))]
    values = [f"x{k}" for k in range(N_IN)]
    body: list[str] = []
    for k in range(N_OUT):
        gen.calls_left = 2
        lines = gen.statement(values, 1, False, False, "scratch")
        body += lines + [f"    r{k} = {gen.expr(values, 2, 'scratch')}"]
        values.append(f"r{k}")
    return functions, body


SAMPLE = (["@ws.jit\ndef h0(a, b, buf):\n    v0 = a\n    v1 = b\n    if buf is None:\n        return np.int32(a - b)\n"
           "    buf[v0 % np.int32(4)] += np.int32(5)\n    return np.int32(buf[np.int32(1)] + v1)"],
          ["    scratch[h0(x0, x1, scratch) % np.int32(4)] = scratch[np.int32(1)] + h0(x1, x0, scratch)",
           "    r0 = np.int32(x0 < h0(x1, x2, scratch) <= scratch[np.int32(1)])",
           "    x0, scratch[x0 % np.int32(4)] = h0(x2, x1, scratch), x0",
           "    r1 = (x0 << (x1 & np.int32(63))) // (x2 | np.int32(1))",
           "    for c1 in range(h0(x0, x1, scratch) % np.int32(5), scratch[np.int32(0)] % np.int32(5), "
           "-np.int32(1)):",
           "        r1 = r1 ^ (max(x0, h0(c1, r1, scratch), scratch[np.int32(2)]) and abs(r1))",
           "    r2 = np.int32(not r1)", "    r3 = r1 % (x1 | np.int32(1))"])


@FEW
@example(program=SAMPLE, seed=5)
@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_evaluation_order_of_calls_matches_python(dev, gen_dir, program, seed):
    check(dev, gen_dir, *program, seed)
