"""SSA form (compiler/passes/ssa.py): dominators and frontiers against their definitions, phi placement,
the SSA verifier, leaving SSA (coalescing, copies on edges, swap cycles) and kernels whose variables
swap and rotate around loops and branches, against plain Python."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import PASS_NAMES, PASSES, compile_kernel
from wafersim.compiler.backend import emit
from wafersim.compiler.ir import IRFunction, Label, Op, Phi, VReg
from wafersim.compiler.passes import SSA_PASSES
from wafersim.compiler.passes.cfg import CFG
from wafersim.compiler.passes.ssa import dominance_frontiers, immediate_dominators, out_of_ssa
from wafersim.compiler.passes.unroll import unroll_counted_loops
from wafersim.compiler.passes.verify import ssa_problems, verify
from wafersim.errors import CompileError

from conftest import run_on_one_block
from test_compiler_cfg import _brute_dominators


# ----------------------------------------------------------------------------- kernels
@ws.jit
def branchy(a, out):
    x = 0
    y = 5  # never read after the join: no phi for y there
    for i in range(a.size):
        if a[i] > 0.0:
            x = x + 2
            y = i
        else:
            x = x - 1
        out[i] = x
    out[a.size] = x


@ws.jit
def tribonacci(out, n):
    a, b, c = 0, 0, 1
    for i in range(n):
        a, b, c = b, c, a + b + c
    out[0] = a
    out[1] = b
    out[2] = c


@ws.jit
def rotate(x, out):
    a, b, c = 1.0, 2.0, 3.0
    for i in range(x.size):
        if x[i] > 0.5:
            a, b, c = c, a, b  # a three-way cycle on one edge
        else:
            b, a = a + x[i], b
        out[i] = a * 100.0 + b * 10.0 + c


@ws.jit
def last_before_update(out, n):
    y = -1
    x = 0
    for i in range(n):
        y = x  # the old x, read after the loop: x and its next value overlap
        x = x + 3
    out[0] = y
    out[1] = x


@ws.jit
def annotated(a, out):
    acc: float = 0
    for i in range(a.size):
        acc += a[i]
    out[0] = acc


def _compiled(kernel, *args, width: int = 1):
    dev = ws.Device(ws.WaferSpec(width=width, height=1))
    dargs = [dev.to_device(x) if isinstance(x, np.ndarray) else x for x in args]
    return kernel.compile_for(*dargs, device=dev)


# ----------------------------------------------------------------------------- dominance
@pytest.mark.parametrize("kernel, args", [(branchy, (np.ones(4, np.float32), np.zeros(5, np.int32))),
                                          (rotate, (np.ones(4, np.float32), np.zeros(4, np.float32)))])
def test_dominators_and_frontiers_match_their_definitions(kernel, args):
    compiled = _compiled(kernel, *args)
    signature_fn = compiled.passes.snapshots["coalesce"]  # the IR as SSA construction receives it
    cfg = CFG(signature_fn)
    dom = _brute_dominators(cfg)
    idom = immediate_dominators(cfg)
    for b, doms in dom.items():
        strict = doms - {b}
        expected = next((d for d in strict if all(o in dom[d] for o in strict)), None)  # dominated by all others
        assert idom[b] == expected
    frontier = dominance_frontiers(cfg, idom)
    for x in dom:  # DF(x): joins y with a predecessor x dominates, y not strictly dominated by x
        expected = {y for y in dom if any(p in dom and x in dom[p] for p in cfg.pred[y])
                    and not (x in dom[y] and x != y)}
        assert frontier[x] == expected, x


# ----------------------------------------------------------------------------- the form
def test_passes_between_ssa_and_unssa_see_single_assignment():
    compiled = _compiled(rotate, np.ones(4, np.float32), np.zeros(4, np.float32))
    assert SSA_PASSES == PASS_NAMES[PASS_NAMES.index("ssa") + 1:PASS_NAMES.index("unssa")]
    assert {"cse", "sccp", "licm", "dce"} <= set(SSA_PASSES)
    for name in ("ssa", *SSA_PASSES):
        fn = compiled.passes.snapshots[name]
        assert fn.ssa and ssa_problems(fn) == [], name
        written = [op.writes() for op in fn.instructions() if op.writes() is not None]
        assert len(written) == len(set(map(id, written))), name
    after = compiled.passes.snapshots["unssa"]
    assert not after.ssa and not any(isinstance(op, Phi) for op in after.ops)
    assert "phi %" in rotate.inspect_ir(after="ssa") and "phi" not in rotate.inspect_ir(after="unssa")


def test_phis_stand_where_values_join_and_only_where_they_are_live():
    compiled = _compiled(branchy, np.ones(4, np.float32), np.zeros(5, np.int32))
    fn = compiled.passes.snapshots["ssa"]
    phis = [op for op in fn.ops if isinstance(op, Phi)]
    hints = sorted(phi.d.hint for phi in phis)
    # x: at the if/else join and at the loop test; i at the loop test; y is dead at both
    assert hints.count("x") == 2 and "y" not in hints
    cfg = CFG(fn)
    for phi in phis:
        block = next(k for k, b in enumerate(cfg.blocks) if any(fn.ops[i] is phi for i in b))
        assert len(phi.incoming) == len(cfg.pred[block]) >= 2


def _loop_ssa() -> tuple[IRFunction, dict]:
    """A loop in SSA form, built by hand: x = 0; while x < 10: x = x + 1."""
    r = {name: VReg(k, "i32", name) for k, name in enumerate(("x0", "x1", "x2", "c", "ten"), start=1)}
    entry, test, top = Label("entry"), Label("test"), Label("top")
    fn = IRFunction("hand")
    fn.ops = [entry, Op("li", d=r["x0"], imm=0), Op("li", d=r["ten"], imm=10), Op("jmp", target=test),
              top, Op("addi", d=r["x2"], a=r["x1"], imm=1),
              test, Phi("phi", d=r["x1"], incoming=[(entry, r["x0"]), (top, r["x2"])]),
              Op("slt", d=r["c"], a=r["x1"], b=r["ten"]), Op("bnz", a=r["c"], target=top), Op("halt")]
    fn.ssa = True
    return fn, r


def test_the_ssa_verifier_accepts_ssa_and_refuses_each_kind_of_break():
    fn, r = _loop_ssa()
    assert ssa_problems(fn) == []
    verify(fn, "hand", frozenset())

    def broken(change) -> str:
        fn, r = _loop_ssa()
        change(fn, r)
        with pytest.raises(CompileError) as info:
            verify(fn, "hand", frozenset())
        assert info.value.pass_name == "hand"
        return str(info.value)

    assert "written twice" in broken(lambda fn, r: fn.ops.insert(2, Op("li", d=r["x0"], imm=3)))
    assert "does not dominate" in broken(lambda fn, r: fn.ops.insert(1, Op("mov", d=r["c"], a=r["x2"])))
    phi = 7
    assert "predecessors" in broken(lambda fn, r: setattr(fn.ops[phi], "incoming", fn.ops[phi].incoming[:1]))
    assert "is f32" in broken(lambda fn, r: fn.ops[phi].incoming.__setitem__(0, (fn.ops[0], VReg(9, "f32", "f"))))
    assert "after the block's first" in broken(lambda fn, r: fn.ops.insert(phi, Op("li", d=VReg(9, "i32"), imm=1)))
    fn, _ = _loop_ssa()
    fn.ssa = False
    with pytest.raises(CompileError, match="phi outside SSA"):
        verify(fn, "hand", frozenset())


def test_leaving_ssa_keeps_the_variables_registers_and_adds_no_copies_to_the_loop():
    compiled = _compiled(tribonacci, np.zeros(3, np.int32), 10)
    before = compiled.passes.snapshots["coalesce"]
    after = compiled.passes.snapshots["unssa"]
    variables = lambda fn: {reg for op in fn.instructions() for reg in [op.writes()]  # noqa: E731
                            if reg is not None and reg.hint in ("a", "b", "c")}
    assert variables(before) <= variables(after)  # the phis of a, b and c coalesced into their registers
    body = compiled.asm_text.split("for2:")[1].split("ftest4:")[0].split()
    # `a, b, c = b, c, a + b + c`: the two adds, the counter step and the three moves of the rotation
    assert sorted(w for w in body if not w.startswith("r") and not w[0].isdigit()) == \
        ["add", "add", "addi", "mov", "mov", "mov"]


# ----------------------------------------------------------------------------- leaving SSA, run
def _swap_on_a_branch_edge() -> IRFunction:
    """Hand-built SSA whose phis need a parallel copy with a cycle on a conditional branch's edge.

        a, b = 1, 2
        for i in range(7):
            if i & 1: a = a + 10
            else: a, b = b, a          # the bz edge: (a, b) <- (b, a)
        out[0], out[1] = a, b
    """
    names = ("p", "a0", "b0", "i0", "n", "a1", "b1", "i1", "odd", "a2", "a3", "b3", "i2", "c")
    r = {name: VReg(k, "i32", name) for k, name in enumerate(names, start=1)}
    entry, top, mid, join, test, done = (Label(n) for n in ("entry", "top", "mid", "join", "test", "done"))
    fn = IRFunction("swap", arg_count=2)
    fn.ops = [
        entry, Op("arg", d=r["p"], imm=0), Op("li", d=r["a0"], imm=1), Op("li", d=r["b0"], imm=2),
        Op("li", d=r["i0"], imm=0), Op("li", d=r["n"], imm=7), Op("jmp", target=test),
        top, Op("andi", d=r["odd"], a=r["i1"], imm=1), Op("bz", a=r["odd"], target=join),
        mid, Op("addi", d=r["a2"], a=r["a1"], imm=10),
        join, Phi("phi", d=r["a3"], incoming=[(mid, r["a2"]), (top, r["b1"])]),
        Phi("phi", d=r["b3"], incoming=[(mid, r["b1"]), (top, r["a1"])]),
        Op("addi", d=r["i2"], a=r["i1"], imm=1),
        test, Phi("phi", d=r["a1"], incoming=[(entry, r["a0"]), (join, r["a3"])]),
        Phi("phi", d=r["b1"], incoming=[(entry, r["b0"]), (join, r["b3"])]),
        Phi("phi", d=r["i1"], incoming=[(entry, r["i0"]), (join, r["i2"])]),
        Op("slt", d=r["c"], a=r["i1"], b=r["n"]), Op("bnz", a=r["c"], target=top),
        done, Op("gst", d=r["a1"], a=r["p"], imm=0), Op("gst", d=r["b1"], a=r["p"], imm=4), Op("halt")]
    fn.ssa = True
    return fn


def _swap_in_python() -> list[int]:
    """[a, b] after the hand-built swap loop (`_swap_on_a_branch_edge`), run in plain Python."""
    a, b = 1, 2
    for i in range(7):
        if i & 1:
            a = a + 10
        else:
            a, b = b, a
    return [a, b]


def test_leaving_ssa_sequentialises_a_swap_on_a_branch_edge():
    fn = _swap_on_a_branch_edge()
    assert ssa_problems(fn) == []
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    compiled = emit(fn, dev.spec, "<hand>", passes=[("unssa", out_of_ssa)])
    asm = compiled.asm_text
    assert "join_from" in asm  # the bz edge's copies went to a block of their own
    out = dev.device_array(2, dtype=np.int32)
    dev.launch(compiled.program, (1, 1), (1, 1), [out, 2])
    assert out.copy_to_host().tolist() == _swap_in_python()


def test_the_unroller_leaves_edge_copies_in_their_block_where_the_other_path_reads_their_registers():
    """The swap's loop has 7 trips, few enough to unroll, but its bz edge's copies (a, b <- b, a) write a,
    which the fall-through path reads: moving them before the branch (to make the loop whole again for the
    unroller) would clobber it there. The loop must stay as it is, with Python's result."""
    fn = _swap_on_a_branch_edge()
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    compiled = emit(fn, dev.spec, "<hand>", passes=[("unssa", out_of_ssa), ("unroll", unroll_counted_loops)])
    assert "join_from" in compiled.asm_text  # (still a loop, its edge block in place)
    out = dev.device_array(2, dtype=np.int32)
    dev.launch(compiled.program, (1, 1), (1, 1), [out, 2])
    assert out.copy_to_host().tolist() == _swap_in_python()


def test_ssa_round_trip_of_the_hand_loop_is_the_loop():
    fn, r = _loop_ssa()
    out_of_ssa(fn)
    ops = [op for op in fn.ops if isinstance(op, Op)]
    assert [op.op for op in ops] == ["li", "li", "jmp", "addi", "slt", "bnz", "halt"]  # no copies were needed
    step = ops[3]
    assert step.d is step.a and ops[0].d is step.d  # x0, x1 and x2 share one register again


# ----------------------------------------------------------------------------- kernels against Python
def test_tribonacci_by_tuple_assignment_matches_python():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    for n in (0, 1, 2, 10, 30):
        (out,) = run_on_one_block(dev, tribonacci, np.zeros(3, np.int32), n)
        a, b, c = 0, 0, 1
        for _ in range(n):
            a, b, c = b, c, a + b + c
        assert out.tolist() == [a, b, c]


def test_rotations_and_swaps_in_branches_match_python():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    x = np.random.default_rng(3).random(24, dtype=np.float32)
    _, out = run_on_one_block(dev, rotate, x, np.zeros(24, np.float32))
    a, b, c, expected = np.float32(1), np.float32(2), np.float32(3), []
    for v in x:
        if v > 0.5:
            a, b, c = c, a, b
        else:
            b, a = a + v, b
        expected.append(a * np.float32(100) + b * np.float32(10) + c)
    np.testing.assert_array_equal(out, np.array(expected, np.float32))


def test_a_value_read_after_its_variable_changes_survives_leaving_ssa():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    for n in (0, 1, 5):
        (out,) = run_on_one_block(dev, last_before_update, np.zeros(2, np.int32), n)
        y, x = -1, 0
        for _ in range(n):
            y, x = x, x + 3
        assert out.tolist() == [y, x]


def test_branchy_kernel_matches_python():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    a = np.array([1.0, -2.0, 0.5, -0.1, 3.0, 0.0], np.float32)
    _, out = run_on_one_block(dev, branchy, a, np.zeros(7, np.int32))
    x, expected = 0, []
    for v in a:
        x = x + 2 if v > 0 else x - 1
        expected.append(x)
    assert out.tolist() == expected + [x]


def test_an_annotated_float_accumulator_starting_at_int_zero_is_float32():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    a = np.array([0.25, 1.5, -0.125, 2.0], np.float32)
    _, out = run_on_one_block(dev, annotated, a, np.zeros(1, np.float32))
    assert out[0] == np.float32(0.25) + np.float32(1.5) + np.float32(-0.125) + np.float32(2.0)
    fn = annotated._compiled().passes.snapshots["ssa"]
    accs = [op.d for op in fn.ops if isinstance(op, Phi) and op.d.hint == "acc"]
    assert accs and all(reg.ty == "f32" for reg in accs)


def test_a_register_unwritten_on_one_path_goes_through_ssa_and_keeps_its_value_on_the_other():
    """x is written only when the flag is set: SSA reads an undefined version on the other path, and
    leaving SSA gives the class the front end's register, whose reads the verifier already knew."""
    r = {name: VReg(k, "i32", name) for k, name in enumerate(("p", "flag", "x", "y"), start=1)}
    skip = Label("skip")
    fn = IRFunction("maybe", arg_count=3)
    fn.ops = [Op("arg", d=r["p"], imm=0), Op("arg", d=r["flag"], imm=2), Op("bz", a=r["flag"], target=skip),
              Op("li", d=r["x"], imm=5), skip, Op("addi", d=r["y"], a=r["x"], imm=1),
              Op("gst", d=r["y"], a=r["p"], imm=0), Op("halt")]
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    compiled = emit(fn, dev.spec, "<hand>")
    ssa = compiled.passes.snapshots["ssa"]
    assert len(ssa.ssa_undefined) == 1 and ssa_problems(ssa) == []
    (phi,) = [op for op in ssa.ops if isinstance(op, Phi)]
    assert any(value in ssa.ssa_undefined for _, value in phi.incoming)
    out = dev.device_array(1, dtype=np.int32)
    dev.launch(compiled.program, (1, 1), (1, 1), [out, 1, 1])
    assert out.copy_to_host()[0] == 6


def test_a_pass_list_that_enters_ssa_form_leaves_it_before_allocation():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    signature, _ = tribonacci.signature_of((dev.device_array(3, dtype=np.int32), 5))
    passes = [(name, run) for name, run in PASSES if name in ("ssa", "cse", "licm")]
    compiled = compile_kernel(tribonacci.py_func, signature, dev.spec, passes=passes)
    assert list(compiled.passes.snapshots) == ["ssa", "cse", "licm", "unssa"]
    out = dev.device_array(3, dtype=np.int32)
    dev.launch(compiled.program, (1, 1), (1, 1), [out, 3, 5])
    a, b, c = 0, 0, 1
    for _ in range(5):
        a, b, c = b, c, a + b + c
    assert out.copy_to_host().tolist() == [a, b, c]

