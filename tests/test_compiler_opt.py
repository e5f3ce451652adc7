"""The optimisation passes (`wafersim.compiler.passes`): each pass on small hand-built IR, the verifier and
the pass list (optimised kernels on the simulator: tests/test_compiler_opt_kernels.py).
"""
from __future__ import annotations

import pytest

import wafersim as ws

from wafersim.compiler import PASS_NAMES
from wafersim.compiler.ir import IRFunction, Label, Op, VReg
from wafersim.compiler.passes import run_passes
from wafersim.compiler.passes.bounds import eliminate_range_checks
from wafersim.compiler.passes.cleanup import eliminate_dead_code, eliminate_dead_writes
from wafersim.compiler.passes.cse import eliminate_common_subexpressions
from wafersim.compiler.passes.layout import place_then_before_join
from wafersim.compiler.passes.licm import hoist_loop_invariants
from wafersim.compiler.passes.peephole import fold_address_offsets, propagate_constants, use_immediate_forms
from wafersim.compiler.passes.strength import reduce_induction_variables
from wafersim.compiler.passes.unroll import unroll_counted_loops
from wafersim.compiler.passes.verify import undefined_reads, verify
from wafersim.errors import CompileError


# ----------------------------------------------------------------------------- hand-built IR
class Builder:
    """Small IR functions written op by op: registers by name, `label("x")` markers."""

    def __init__(self) -> None:
        self.regs: dict[str, VReg] = {}
        self.labels: dict[str, Label] = {}
        self.fn = IRFunction("t")

    def r(self, name: str, ty: str = "i32") -> VReg:
        if name not in self.regs:
            self.regs[name] = VReg(len(self.regs) + 1, ty, name)
        return self.regs[name]

    def label(self, name: str) -> Label:
        return self.labels.setdefault(name, Label(name))

    def op(self, name: str, **fields) -> Op:
        fields = {k: (self.r(v) if isinstance(v, str) and k in "dabc" else v) for k, v in fields.items()}
        if "target" in fields:
            fields["target"] = self.label(fields["target"])
        made = Op(name, **fields)
        self.fn.ops.append(made)
        return made

    def place(self, name: str) -> None:
        self.fn.ops.append(self.label(name))


def counted_loop(b: Builder, body, stop: int = 10) -> None:
    """`i = 0; while i < stop: body(b); i += 1` in the front end's shape (test at the bottom)."""
    b.op("li", d="i", imm=0)
    b.op("li", d="stop", imm=stop)
    b.op("jmp", target="test")
    b.place("top")
    body(b)
    b.op("addi", d="i", a="i", imm=1)
    b.place("test")
    b.op("slt", d="c", a="i", b="stop")
    b.op("bnz", a="c", target="top")
    b.op("halt")


def index_of(fn: IRFunction, op: Op) -> int:
    return next(k for k, x in enumerate(fn.ops) if x is op)


def test_licm_hoists_invariants_and_leaves_the_rest():
    b = Builder()
    b.op("arg", d="n", imm=0)
    made = {}

    def body(b):
        made["const"] = b.op("li", d="k", imm=5000)
        made["inv"] = b.op("mul", d="nk", a="n", b="k")  # depends only on invariants: hoisted after k
        made["varying"] = b.op("add", d="v", a="i", b="nk")  # reads the induction variable: stays
        made["load"] = b.op("ld", d="x", a="v", imm=0)
        made["fixed_load"] = b.op("ld", d="y", a="nk", imm=0)  # an invariant address, but the loop stores
        b.op("st", d="x", a="nk", imm=0)

    counted_loop(b, body)
    hoist_loop_invariants(b.fn)
    top = index_of(b.fn, b.label("top"))
    assert index_of(b.fn, made["const"]) < index_of(b.fn, made["inv"]) < top
    assert all(index_of(b.fn, made[name]) > top for name in ("varying", "load", "fixed_load"))
    verify(b.fn, "licm", frozenset())


def test_licm_keeps_a_register_written_twice_or_read_before_its_write():
    b = Builder()
    made = {}

    def body(b):
        made["read_first"] = b.op("st", d="w", a=0, imm=0)  # reads w before the loop writes it
        made["w"] = b.op("li", d="w", imm=7)
        made["twice"] = b.op("li", d="y", imm=1)
        b.op("bz", a="i", target="skip")
        b.op("li", d="y", imm=2)
        b.place("skip")
        b.op("st", d="y", a=0, imm=1)

    b.op("li", d="w", imm=3)
    counted_loop(b, body)
    # w is written twice (before and in the loop) so it is not single-definition; and y likewise.
    hoist_loop_invariants(b.fn)
    top = index_of(b.fn, b.label("top"))
    assert index_of(b.fn, made["w"]) > top and index_of(b.fn, made["twice"]) > top


def test_cse_shares_across_dominating_blocks_but_not_across_a_write():
    b = Builder()
    b.op("arg", d="p", imm=0)
    b.op("arg", d="q", imm=1)
    first = b.op("add", d="s1", a="p", b="q")
    b.op("bz", a="p", target="else")
    second = b.op("add", d="s2", a="q", b="p")  # same sum, operands swapped, in a dominated block
    b.op("st", d="s2", a=0, imm=0)
    b.place("else")
    b.op("st", d="s1", a=0, imm=1)
    b.op("mov", d="m", a="p")  # m is written twice: within-block sharing only, and not past the write
    b.op("addi", d="t1", a="m", imm=1)
    b.op("addi", d="m", a="m", imm=3)
    third = b.op("addi", d="t2", a="m", imm=1)
    b.op("st", d="t1", a=0, imm=2)
    b.op("st", d="t2", a=0, imm=3)
    b.op("halt")
    eliminate_common_subexpressions(b.fn)
    assert first in b.fn.ops and second not in b.fn.ops
    assert any(op.op == "st" and op.d is b.r("s1") and op.imm == 0 for op in b.fn.instructions())
    assert third in b.fn.ops and third.op == "addi"  # m changed in between: recomputed
    verify(b.fn, "cse", frozenset())


def test_cse_swaps_the_operands_of_integer_adds_but_not_of_float_ones():
    """Of two nans, fadd/fmul give the first: `fadd q, p` is not `fadd p, q` (an int `add` is)."""
    b = Builder()
    for name in ("x", "y", "f1", "f2", "m1", "m2", "f3"):
        b.r(name, "f32")
    b.op("arg", d="p", imm=0)
    b.op("arg", d="q", imm=1)
    b.op("arg", d="x", imm=2)
    b.op("arg", d="y", imm=3)
    kept = [b.op("fadd", d="f1", a="x", b="y"), b.op("fadd", d="f2", a="y", b="x"),
            b.op("fmul", d="m1", a="x", b="y"), b.op("fmul", d="m2", a="y", b="x")]
    same = b.op("fadd", d="f3", a="x", b="y")
    b.op("add", d="i1", a="p", b="q")
    swapped = b.op("add", d="i2", a="q", b="p")
    for k, reg in enumerate(("f1", "f2", "m1", "m2", "f3", "i1", "i2")):
        b.op("st", d=reg, a=0, imm=k)
    b.op("halt")
    eliminate_common_subexpressions(b.fn)
    assert all(op in b.fn.ops for op in kept) and same not in b.fn.ops and swapped not in b.fn.ops
    verify(b.fn, "cse", frozenset())


def test_immediate_forms_only_where_the_constant_fits():
    b = Builder()
    b.op("arg", d="a", imm=0)
    b.op("li", d="small", imm=-300)
    b.op("li", d="big", imm=1 << 20)
    add = b.op("add", d="x", a="small", b="a")
    sub = b.op("sub", d="y", a="a", b="small")
    slt = b.op("slt", d="z", a="a", b="big")
    sll = b.op("shl", d="w", a="small", b="a")  # constant on the left of a shift: no immediate form
    for k, reg in enumerate("xyzw"):
        b.op("st", d=reg, a=0, imm=k)
    b.op("halt")
    use_immediate_forms(b.fn)
    ops = list(b.fn.instructions())
    assert ops[3].op == "addi" and ops[3].a is b.r("a") and ops[3].imm == -300
    assert ops[4].op == "addi" and ops[4].imm == 300
    assert ops[5] is slt and ops[6] is sll
    assert add not in ops and sub not in ops


def test_address_folding_respects_writes_in_between():
    b = Builder()
    b.op("arg", d="p", imm=0)
    b.op("addi", d="q", a="p", imm=8)
    folded = b.op("ld", d="x", a="q", imm=4)
    b.op("addi", d="p", a="p", imm=100)  # p changes: q + 4 is no longer p + 12
    kept = b.op("ld", d="y", a="q", imm=4)
    b.op("st", d="x", a=0, imm=0)
    b.op("st", d="y", a=0, imm=1)
    b.op("halt")
    fold_address_offsets(b.fn)
    assert folded.a is b.r("p") and folded.imm == 12
    assert kept.a is b.r("q") and kept.imm == 4


def test_strength_reduction_replaces_the_multiply_by_a_stepped_register():
    b = Builder()
    b.op("arg", d="base", imm=0)

    def body(b):
        b.op("muli", d="off", a="i", imm=12)
        b.op("add", d="addr", a="off", b="base")
        b.op("ld", d="x", a="addr", imm=0)
        b.op("st", d="x", a=0, imm=0)

    counted_loop(b, body)
    reduce_induction_variables(b.fn)
    verify(b.fn, "strength", frozenset())
    eliminate_dead_code(b.fn)
    top, test = index_of(b.fn, b.label("top")), index_of(b.fn, b.label("test"))
    in_loop = [op.op for op in b.fn.ops[top + 1:test] if isinstance(op, Op)]
    assert "muli" not in in_loop and "add" not in in_loop
    assert in_loop.count("addi") == 2  # i += 1 and the address += 12
    load = next(op for op in b.fn.instructions() if op.op == "ld")
    step = next(op for op in b.fn.ops[top + 1:test] if isinstance(op, Op) and op.op == "addi" and op.imm == 12)
    assert load.a is step.d


def test_strength_reduction_keeps_a_value_read_after_the_step():
    b = Builder()
    b.op("arg", d="base", imm=0)
    b.op("li", d="i", imm=0)
    b.op("jmp", target="test")
    b.place("top")
    b.op("muli", d="off", a="i", imm=12)
    b.op("add", d="addr", a="off", b="base")
    b.op("addi", d="i", a="i", imm=1)  # the step comes between the address and its use
    load = b.op("ld", d="x", a="addr", imm=0)
    b.op("st", d="x", a=0, imm=0)
    b.place("test")
    b.op("slti", d="c", a="i", imm=10)
    b.op("bnz", a="c", target="top")
    b.op("halt")
    reduce_induction_variables(b.fn)
    assert load.a is b.r("addr")  # a stepped register would already hold the next iteration's address


def test_licm_keeps_a_single_write_read_earlier_in_the_loop():
    b = Builder()

    def body(b):
        b.op("st", d="z", a=0, imm=0)  # reads z, written below: the first trip reads it unwritten
        b.op("li", d="z", imm=9)

    counted_loop(b, body)
    write = next(op for op in b.fn.instructions() if op.op == "li" and op.imm == 9)
    hoist_loop_invariants(b.fn)  # even when told nothing is undefined
    assert index_of(b.fn, write) > index_of(b.fn, b.label("top"))


def test_range_check_dropped_only_when_the_loop_test_proves_it():
    b = Builder()
    b.op("arg", d="n", imm=0)
    b.op("arg", d="m", imm=1)
    made = {}

    def body(b):
        b.op("mov", d="j", a="i")
        made["proved"] = b.op("chk", a="j", b="stop", imm=1)  # 0 <= i < stop
        made["other"] = b.op("chk", a="j", b="m", imm=2)  # another bound: kept
        b.op("addi", d="i", a="i", imm=1)
        made["after_step"] = b.op("chk", a="i", b="stop", imm=3)  # i was stepped: may equal stop
        b.op("addi", d="i", a="i", imm=-1)

    b.op("li", d="i", imm=0)
    b.op("mov", d="stop", a="n")
    b.op("jmp", target="test")
    b.place("top")
    body(b)
    b.op("addi", d="i", a="i", imm=1)
    b.place("test")
    b.op("slt", d="c", a="i", b="stop")
    b.op("bnz", a="c", target="top")
    b.op("halt")
    # i has a negative step in the loop: not a plain induction variable, nothing may be dropped
    eliminate_range_checks(b.fn)
    assert made["proved"] in b.fn.ops


def test_range_check_elimination_on_a_plain_counted_loop():
    b = Builder()
    b.op("arg", d="n", imm=0)
    b.op("arg", d="m", imm=1)
    b.op("li", d="i", imm=0)
    b.op("jmp", target="test")
    b.place("top")
    b.op("mov", d="j", a="i")
    proved = b.op("chk", a="j", b="n", imm=1)
    other = b.op("chk", a="j", b="m", imm=2)
    b.op("addi", d="i", a="i", imm=1)
    stepped = b.op("chk", a="i", b="n", imm=3)
    copy = b.op("chk", a="j", b="n", imm=4)  # j still holds the tested value
    b.place("test")
    b.op("slt", d="c", a="i", b="n")
    b.op("bnz", a="c", target="top")
    b.op("halt")
    eliminate_range_checks(b.fn)
    assert proved not in b.fn.ops and copy not in b.fn.ops
    assert other in b.fn.ops and stepped in b.fn.ops


def test_range_check_kept_when_the_start_may_be_negative():
    b = Builder()
    b.op("arg", d="n", imm=0)
    b.op("li", d="i", imm=-1)
    b.op("jmp", target="test")
    b.place("top")
    check = b.op("chk", a="i", b="n", imm=1)
    b.op("addi", d="i", a="i", imm=1)
    b.place("test")
    b.op("slt", d="c", a="i", b="n")
    b.op("bnz", a="c", target="top")
    b.op("halt")
    eliminate_range_checks(b.fn)
    assert check in b.fn.ops


def _checked_loop(step: int, stop: int | None = None, inner: bool = False) -> tuple[Builder, Op]:
    """`i = 5; while i < stop: chk i, n; i += step` (stop: the register n, or a constant with n = 100), the
    step in an inner `while j < m` loop if `inner`; returns the builder and the check."""
    b = Builder()
    b.op("arg", d="n", imm=0) if stop is None else b.op("li", d="n", imm=100)
    b.op("arg", d="m", imm=1)
    b.op("li", d="i", imm=5)
    b.op("jmp", target="test")
    b.place("top")
    check = b.op("chk", a="i", b="n", imm=1)
    if inner:
        b.op("li", d="j", imm=0)
        b.place("inner")
        b.op("addi", d="i", a="i", imm=step)
        b.op("addi", d="j", a="j", imm=1)
        b.op("slt", d="k", a="j", b="m")
        b.op("bnz", a="k", target="inner")
    else:
        b.op("addi", d="i", a="i", imm=step)
    b.place("test")
    b.op("slt", d="c", a="i", b="n") if stop is None else b.op("slti", d="c", a="i", imm=stop)
    b.op("bnz", a="c", target="top")
    b.op("halt")
    return b, check


@pytest.mark.parametrize("step, stop, inner, dropped", [
    (3, 10, False, True), (2**31 - 10, 10, False, True), (2**31 - 9, 10, False, False),  # 9 + step wraps
    (2**30 - 1, None, False, True), (2**30, None, False, False),  # a register stop: an extent, <= 2**30 + 1
    (1, 10, True, False), (1, None, True, False)])  # an inner loop adds any multiple of its step
def test_range_check_kept_where_the_step_could_wrap_the_counter(step, stop, inner, dropped):
    """i < stop at the test, so a trip ends with i <= stop - 1 + its steps: the check is dropped only where
    that cannot pass 2**31 - 1 and wrap to a negative i that passes the test again (plain Python's ints)."""
    b, check = _checked_loop(step, stop, inner)
    eliminate_range_checks(b.fn)
    assert (check not in b.fn.ops) == dropped
    top = 2**30 + 1 if stop is None else stop
    assert dropped == (not inner and top - 1 + step <= 2**31 - 1)


def test_unroll_copies_a_short_loop_and_keeps_the_counter_right():
    b = Builder()
    counted_loop(b, lambda b: b.op("st", d="i", a="i", imm=100), stop=3)
    b.fn.ops.insert(len(b.fn.ops) - 1, Op("st", d=b.r("i"), a=0, imm=7))  # i after the loop: 3
    unroll_counted_loops(b.fn)
    verify(b.fn, "unroll", frozenset())
    ops = [op for op in b.fn.ops if isinstance(op, Op)]
    assert not any(op.op in ("jmp", "bnz", "bz") for op in ops)
    assert [op.op for op in ops].count("st") == 4 and [op.op for op in ops].count("addi") == 3
    propagate_constants(b.fn)
    stores = [(op.a, op.imm, op.d) for op in b.fn.instructions() if op.op == "st"]
    assert [(a, imm) for a, imm, _ in stores] == [(0, 100), (0, 101), (0, 102), (0, 7)]  # i = 0, 1, 2 folded


def test_unroll_leaves_long_or_irregular_loops():
    long = Builder()
    counted_loop(long, lambda b: b.op("st", d="i", a="i", imm=0), stop=100)  # 100 trips: too many
    before = list(long.fn.ops)
    unroll_counted_loops(long.fn)
    assert long.fn.ops == before
    entered = Builder()

    def body(b):
        b.op("st", d="i", a="i", imm=0)
        b.op("bz", a="i", target="top")  # a second way back to the top

    counted_loop(entered, body, stop=4)
    before = list(entered.fn.ops)
    unroll_counted_loops(entered.fn)
    assert entered.fn.ops == before


def test_constant_propagation_meets_at_joins():
    b = Builder()
    b.op("arg", d="p", imm=0)
    b.op("li", d="a", imm=3)
    b.op("bz", a="p", target="other")
    b.op("li", d="x", imm=5)
    b.op("li", d="y", imm=1)
    b.op("jmp", target="join")
    b.place("other")
    b.op("li", d="x", imm=5)
    b.op("li", d="y", imm=2)
    b.place("join")
    b.op("add", d="s", a="a", b="x")  # 3 + 5 on both paths
    diff_op = b.op("add", d="t", a="a", b="y")  # y differs by path
    load = b.op("ld", d="v", a="s", imm=10)
    b.op("st", d="t", a=0, imm=0)
    b.op("st", d="v", a=0, imm=1)
    b.op("halt")
    propagate_constants(b.fn)
    folded = b.fn.ops[index_of(b.fn, load) - 2]
    assert folded.op == "li" and folded.imm == 8 and folded.d is b.r("s")
    assert diff_op not in b.fn.ops  # y differs by path: not folded, but the known a is an immediate
    assert any(op.op == "addi" and op.d is b.r("t") and op.a is b.r("y") and op.imm == 3 for op in b.fn.instructions())
    assert load.a == 0 and load.imm == 18


def test_constant_propagation_wraps_like_int32():
    b = Builder()
    b.op("li", d="big", imm=(1 << 31) - 1)
    b.op("addi", d="over", a="big", imm=1)
    b.op("li", d="unsigned", imm=(1 << 32) - 1)  # the bits of -1
    b.op("slti", d="neg", a="unsigned", imm=0)
    b.op("st", d="over", a=0, imm=0)
    b.op("st", d="neg", a=0, imm=1)
    b.op("halt")
    propagate_constants(b.fn)
    values = {op.d: op.imm for op in b.fn.instructions() if op.op == "li"}
    assert values[b.r("over")] == -(1 << 31) and values[b.r("neg")] == 1


def test_dead_writes_removed_only_when_overwritten_before_any_read():
    b = Builder()
    first = b.op("li", d="x", imm=1)
    b.op("li", d="x", imm=2)
    kept = b.op("li", d="y", imm=3)
    b.op("bz", a="x", target="end")
    b.op("st", d="y", a=0, imm=0)  # y read on one path: its write stays
    b.place("end")
    b.op("halt")
    eliminate_dead_writes(b.fn)
    assert first not in b.fn.ops and kept in b.fn.ops


def diamond(b: Builder) -> dict[str, Op]:
    """`x = 1 if c else 2; store x` in the front end's shape."""
    made = {"branch": b.op("bz", a="c", target="else")}
    made["then"] = b.op("li", d="x", imm=1)
    b.op("jmp", target="end")
    b.place("else")
    made["else"] = b.op("li", d="x", imm=2)
    b.place("end")
    b.op("st", d="x", a=0, imm=0)
    return made


def test_layout_puts_the_then_side_before_the_join_in_loops():
    b = Builder()
    b.op("arg", d="c", imm=0)
    made = {}
    counted_loop(b, lambda b: made.update(diamond(b)))
    place_then_before_join(b.fn)
    verify(b.fn, "layout", frozenset())
    ops = b.fn.ops
    branch = ops[index_of(b.fn, b.label("top")) + 1]
    assert branch.op == "bnz" and branch.a is b.r("c")
    then_op, else_op = made["then"], made["else"]
    assert index_of(b.fn, else_op) < index_of(b.fn, then_op) < index_of(b.fn, b.label("end"))
    assert ops[index_of(b.fn, branch.target) + 1] is then_op  # the taken branch lands on the then side
    assert ops[index_of(b.fn, else_op) + 1].op == "jmp"  # the else side now jumps to the join
    assert ops[index_of(b.fn, then_op) + 1] is b.label("end")  # ... and the then side falls into it


def test_layout_leaves_code_outside_loops_in_source_order():
    b = Builder()
    b.op("arg", d="c", imm=0)
    diamond(b)
    b.op("halt")
    before = list(b.fn.ops)
    place_then_before_join(b.fn)
    assert b.fn.ops == before


# ----------------------------------------------------------------------------- verifier and pass list
def test_verifier_reports_the_pass_and_the_problem():
    b = Builder()
    b.op("li", d="x", imm=1)
    b.op("st", d="y", a=0, imm=0)  # y never written
    b.op("halt")
    known = frozenset(undefined_reads(b.fn))
    verify(b.fn, "start", known)  # what the front end left is accepted ...
    b.fn.ops.insert(0, Op("st", d=b.r("z"), a=0, imm=1))
    with pytest.raises(CompileError, match=r"after pass 'mypass'.*%z"):  # ... a new one is not
        verify(b.fn, "mypass", known)
    bad_type = Builder()
    bad_type.op("li", d="i", imm=1)
    bad_type.op("fadd", d=bad_type.r("f", "f32"), a="i", b="i")
    bad_type.op("halt")
    with pytest.raises(CompileError, match="needs f32"):
        verify(bad_type.fn, "types", frozenset())
    dangling = Builder()
    dangling.op("jmp", target="nowhere")
    with pytest.raises(CompileError, match="not a label"):
        verify(dangling.fn, "labels", frozenset())


def test_a_broken_pass_is_caught_by_the_verifier():
    b = Builder()
    counted_loop(b, lambda b: b.op("st", d="i", a=0, imm=0))

    def drop_first_instruction(fn, undefined):  # deletes `li i, 0`: i is then read unwritten
        fn.ops.pop(0)

    with pytest.raises(CompileError, match="drop"):
        run_passes(b.fn, [("drop", drop_first_instruction)])


def test_without_verify_each_pass_a_broken_pass_is_caught_at_the_end(monkeypatch):
    from wafersim.compiler import passes

    monkeypatch.setattr(passes, "VERIFY_EACH_PASS", False)  # (the default outside the tests)
    b = Builder()
    counted_loop(b, lambda b: b.op("st", d="i", a=0, imm=0))

    def drop_first_instruction(fn, undefined):
        fn.ops.pop(0)

    def nothing(fn, undefined):
        pass

    with pytest.raises(CompileError, match=r"after pass 'last \(the last pass; WAFERSIM_VERIFY_PASSES=1"):
        run_passes(b.fn, [("drop", drop_first_instruction), ("last", nothing)])


@ws.jit
def _looping_kernel(values, out, k, rounds):
    x, y = ws.grid(2)
    v = values[y, x]
    branch = ws.threadIdx.x % k
    for r in range(rounds):
        if branch == 0:
            v = (v + 0.25) * 0.5
        else:
            v = v * v + r
    out[y, x] = v


def test_verifying_once_or_after_each_pass_compiles_the_same_program(monkeypatch):
    from wafersim.compiler import KernelSignature, compile_kernel, passes

    signature = KernelSignature((("array", "f32", 2), ("array", "f32", 2), ("scalar", "i32"), ("scalar", "i32")))
    programs = []
    for each in (True, False):
        monkeypatch.setattr(passes, "VERIFY_EACH_PASS", each)
        programs.append(compile_kernel(_looping_kernel.py_func, signature, ws.WaferSpec(width=4, height=4)).program)
    from conftest import assert_same_program

    assert_same_program(programs[1], programs[0])


def test_docs_list_every_pass_in_order():
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "compiler.md").read_text()
    table = guide[guide.index("| pass | what it does |"):]
    table = table[:table.index("\n\n")]
    listed = [name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z0-9]+)`", row.split(" | ")[0])]
    assert listed == list(PASS_NAMES)


def test_unroll_leaves_a_loop_whose_last_step_wraps():
    """`i = 2**31 - 4; while i < 2**31 - 1: i += s`: with s = 1 the counter ends at 2**31 - 1, which fails the
    test (3 trips, unrolled); with s = 2 its second step wraps to -2**31, which passes the test, so the
    loop goes on (Python ints would count 2 trips): left as it is."""
    for step, unrolled in ((1, True), (2, False)):
        b = Builder()
        b.op("li", d="i", imm=2**31 - 4)
        b.op("li", d="stop", imm=2**31 - 1)
        b.op("jmp", target="test")
        b.place("top")
        b.op("st", d="i", a=0, imm=0)
        b.op("addi", d="i", a="i", imm=step)
        b.place("test")
        b.op("slt", d="c", a="i", b="stop")
        b.op("bnz", a="c", target="top")
        b.op("halt")
        before = list(b.fn.ops)
        unroll_counted_loops(b.fn)
        assert (b.fn.ops != before) == unrolled
