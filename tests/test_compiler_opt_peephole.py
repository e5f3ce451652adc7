"""Constant propagation's immediate forms and same-base differences (`wafersim.compiler.passes.peephole`):
the copies of an unrolled loop each set the counter's register to their own constant, so `li c; add d, x, c`
becomes `addi d, x, c` there too, and a slice `a[s:s + n]` with `n` a constant knows its length (the `sub`
and its `chk` go). Hand-built IR of the rules, then kernels against NumPy (random kernels:
tests/test_compiler_fuzz_loops.py and tests/test_compiler_fuzz_slices.py run them through every pass)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler.passes import PASSES, run_passes
from wafersim.compiler.passes.peephole import propagate_constants

from test_compiler_opt import Builder


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=3, height=1))


def _ops(fn) -> list[tuple]:
    return [(op.op, getattr(op.d, "hint", op.d), getattr(op.a, "hint", op.a), op.imm) for op in fn.instructions()]


def test_a_constant_register_written_twice_becomes_an_immediate_in_each_copy():
    b = Builder()
    b.op("arg", d="x", imm=0)
    for k, reg in ((3, "d"), (0, "e"), (-4, "f")):
        b.op("li", d="c", imm=k)  # one register, three constants: not the `li`'s only definition
        b.op("add", d=reg, a="x", b="c")
    b.op("li", d="c", imm=5)
    b.op("sub", d="g", a="x", b="c")
    b.op("li", d="c", imm=1 << 20)  # too wide for an immediate: stays a register operand
    b.op("add", d="h", a="c", b="x")
    for k, reg in enumerate("defgh"):
        b.op("st", d=reg, a=0, imm=k)
    b.op("halt")
    propagate_constants(b.fn)
    ops = _ops(b.fn)
    assert ("addi", "d", "x", 3) in ops and ("addi", "f", "x", -4) in ops and ("addi", "g", "x", -5) in ops
    assert ("mov", "e", "x", 0) in ops  # + 0: a copy (copy propagation removes it)
    assert ("add", "h", "c", 0) in ops


def test_the_difference_of_two_offsets_of_one_register_is_known_until_it_is_written():
    b = Builder()
    b.op("arg", d="x", imm=0)
    b.op("arg", d="limit", imm=1)
    b.op("addi", d="end", a="x", imm=8)
    b.op("addi", d="end2", a="end", imm=2)  # x + 10
    b.op("sub", d="n", a="end2", b="x")  # 10, whatever x is
    b.op("seq", d="same", a="x", b="x")
    b.op("chk", a="n", b="limit", imm=1)  # a run-time limit: stays
    b.op("li", d="big", imm=100)
    b.op("chk", a="n", b="big", imm=2)  # 0 <= 10 < 100: dropped
    b.op("addi", d="x", a="x", imm=1)  # x written: end no longer x + 8 of this x
    b.op("sub", d="m", a="end", b="x")
    for k, reg in enumerate(("n", "same", "m")):
        b.op("st", d=reg, a=0, imm=k)
    b.op("halt")
    propagate_constants(b.fn)
    ops = _ops(b.fn)
    assert ("li", "n", 0, 10) in ops and ("li", "same", 0, 1) in ops
    assert [op.imm for op in b.fn.instructions() if op.op == "chk"] == [1]
    assert ("sub", "m", "end", 0) in ops


@pytest.mark.parametrize("rewritten", ["base", "sum"])
def test_a_rewrite_of_the_base_or_of_the_sum_alone_forgets_the_offset(rewritten):
    """`end = x + 8`, then only x (or only end) written again: `end - x` is no longer 8. Each invalidation on
    its own (the differential fuzzer reaches them only together, tests/test_compiler_fuzz.py's `offsets`)."""
    b = Builder()
    b.op("arg", d="x", imm=0)
    b.op("addi", d="end", a="x", imm=8)
    b.op("arg", d="x" if rewritten == "base" else "end", imm=1)  # a value known only at run time
    b.op("sub", d="n", a="end", b="x")
    b.op("seq", d="same", a="end", b="x")
    b.op("st", d="n", a=0, imm=0)
    b.op("st", d="same", a=0, imm=1)
    b.op("halt")
    propagate_constants(b.fn)
    ops = _ops(b.fn)
    assert ("sub", "n", "end", 0) in ops and ("seq", "same", "end", 0) in ops


@ws.jit
def unrolled_axpys(cols, x, y, nb: ws.constant):
    """y[0:nb] = sum over c of cols[c * nb + s:c * nb + s + nb] * x[c], s a run-time start (0 or 1), with the
    loop over c unrolled (nb trips)."""
    a = ws.local.array(nb * nb + 1, np.float32)
    xs = ws.local.array(nb, np.float32)
    acc = ws.local.array(nb, np.float32)
    a[0:nb * nb + 1] = cols[0:nb * nb + 1]
    xs[0:nb] = x[0:nb]
    acc[0:nb] = 0.0
    s = ws.threadIdx.x
    for c in range(nb):
        k = c * nb + s
        acc[0:nb] = a[k:k + nb] * xs[c] + acc[0:nb]
    y[0:nb] = acc[0:nb]


def _unrolled_axpys_reference(cols: np.ndarray, x: np.ndarray, nb: int, s: int) -> np.ndarray:
    acc = np.zeros(nb, np.float32)
    for c in range(nb):
        acc = cols[c * nb + s:c * nb + s + nb] * x[c] + acc
    return acc


@pytest.mark.parametrize("nb, start", [(4, 0), (8, 0), (8, 1)])
def test_unrolled_constant_slices_compute_as_numpy_and_keep_no_counter_or_length(dev, nb, start):
    rng = np.random.default_rng(nb)
    cols = rng.standard_normal(nb * nb + 1).astype(np.float32)
    x = rng.standard_normal(nb).astype(np.float32)
    y = dev.device_array(nb)
    unrolled_axpys[1, start + 1](dev.to_device(cols), dev.to_device(x), y, nb)
    if start == 0:  # (block of 2 PEs: PE 1's result overwrites PE 0's, which the other cases check)
        np.testing.assert_array_equal(y.copy_to_host(), _unrolled_axpys_reference(cols, x, nb, 0))
    asm = unrolled_axpys.inspect_asm().splitlines()
    vfmas = [k for k, line in enumerate(asm) if line.lstrip().startswith("vfma")]
    assert len(vfmas) == nb  # unrolled
    body = [line.split()[0] for line in asm[vfmas[0] + 1:vfmas[-1] + 1]]  # copies 2 .. nb, whole
    # each copy: its start and end (`addi`s of the run-time s), their two checks, x[c]'s load, the start's
    # SRAM address and the vfma; no `li` of the counter, no `add`, no length computed (`sub`) or checked
    assert sorted(body) == sorted(["addi", "addi", "chk", "chk", "ld", "addi", "vfma.fs"] * (nb - 1))
    assert not any(line.split()[:1] == ["sub"] for line in asm)


def test_an_unrolled_slice_past_the_array_still_stops_at_its_line(dev):
    nb = 4
    cols = np.zeros(nb * nb + 1, np.float32)
    y = dev.device_array(nb)
    with pytest.raises(ws.MemoryAccessError, match=r"a slice end .*test_compiler_opt_peephole.py:\d+$"):
        unrolled_axpys[1, 3](dev.to_device(cols), dev.to_device(np.ones(nb, np.float32)), y, nb)  # PE 2: a[14:18]


def test_pipeline_of_passes_keeps_the_rules(monkeypatch):
    """The same IR through the whole pass list: the verifier after each pass accepts it."""
    b = Builder()
    b.op("arg", d="x", imm=0)
    b.op("li", d="c", imm=2)
    b.op("add", d="d", a="x", b="c")
    b.op("li", d="c", imm=3)
    b.op("add", d="e", a="x", b="c")
    b.op("st", d="d", a=0, imm=0)
    b.op("st", d="e", a=0, imm=1)
    b.op("halt")
    run_passes(b.fn, PASSES)
    assert {(op.op, op.imm) for op in b.fn.instructions() if op.op == "addi"} == {("addi", 2), ("addi", 3)}
