"""The IR verifier's per-instruction checks (compiler/passes/verify.py): the tabulated fast check that
runs after every pass says "all is well" exactly when the worded checks find nothing, on the IR of real
kernels after each pass and on random corruptions of it (a register of the wrong type, a field the
opcode has no operand for, a number where a register belongs, a branch to a foreign label, a phi outside
SSA form, an unknown opcode), and a corrupted function is refused with those checks' words."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import compile_kernel
from wafersim.compiler.ir import REGISTER_FIELDS, Label, Op, Phi, VReg
from wafersim.compiler.passes.verify import _instructions_look_right, instruction_problems, verify
from wafersim.compiler.values import KernelSignature
from wafersim.errors import CompileError


@ws.jit
def _mixed(out, values, n):
    acc = 0.0
    count = 0
    for i in range(n):
        v = values[i]
        if v > 0.0:
            acc += v * 2.0
            count += 1
        else:
            acc = max(acc, v)
        out[i] = acc
    out[n] = float(count)
    ws.syncthreads()


def _snapshots():
    compiled = compile_kernel(_mixed.py_func, KernelSignature((("array", "f32", 1), ("array", "f32", 1),
                                                               ("scalar", "i32"))), ws.WaferSpec(width=4, height=4))
    return list(compiled.passes.snapshots.items())


def _copy(fn):
    ops = [dataclasses.replace(op) if isinstance(op, Op) else op for op in fn.ops]
    return dataclasses.replace(fn, ops=ops)


def _corrupt(fn, rng: random.Random) -> None:
    """One random corruption of one instruction of `fn` (in place: `fn` is a copy)."""
    ops = [k for k, op in enumerate(fn.ops) if isinstance(op, Op) and not isinstance(op, Phi)]
    k = rng.choice(ops)
    op = fn.ops[k]
    kind = rng.randrange(6)
    if kind == 0:  # a register of the other type in some field
        field = rng.choice(REGISTER_FIELDS)
        setattr(op, field, VReg(10**6 + k, rng.choice(["i32", "f32"]), "bad"))
    elif kind == 1:  # a number where a register (or r0) belongs
        setattr(op, rng.choice(REGISTER_FIELDS), rng.choice([0, 3, -1]))
    elif kind == 2:  # a branch to a label not in the function
        fn.ops[k] = Op("jmp", target=Label("nowhere"))
    elif kind == 3:  # a phi (outside SSA form unless the function is in it)
        fn.ops[k] = Phi("phi", d=VReg(10**6 + k, "i32", "p"), incoming=[])
    elif kind == 4:  # an opcode the ISA does not have
        op.op = "frobnicate"
    else:  # another opcode over the same registers
        op.op = rng.choice(["add", "fadd", "itof", "ftoi", "ld", "st", "sel", "vredsum", "vadd", "vfill", "mov", "li",
                            "vaddx", "vmaxx", "vminx", "sreg", "route"])  # (a stream op's `d` is a port, sreg's
        # imm a special register, route's a and b port masks: the worded checks print them holding a register)


def test_the_fast_check_agrees_with_the_worded_checks_on_every_snapshot():
    for name, fn in _snapshots():
        labels = {op for op in fn.ops if isinstance(op, Label)}
        assert instruction_problems(fn, labels) == [], name
        assert _instructions_look_right(fn, labels), name


@pytest.mark.parametrize("seed", range(8))
def test_the_fast_check_agrees_with_the_worded_checks_on_corrupted_ir(seed):
    rng = random.Random(seed)
    disagreements, caught = [], 0
    for name, original in _snapshots():
        for _ in range(25):
            fn = _copy(original)
            for _ in range(rng.randint(1, 2)):
                _corrupt(fn, rng)
            labels = {op for op in fn.ops if isinstance(op, Label)}
            problems = instruction_problems(fn, labels)
            if _instructions_look_right(fn, labels) != (problems == []):
                disagreements.append((name, problems))
            if problems:
                caught += 1
                with pytest.raises(CompileError) as info:
                    verify(fn, name, set())
                assert "; ".join(problems[:5]) in str(info.value)
    assert disagreements == []
    assert caught > 100  # (most corruptions break a rule: the comparison is not vacuous)


@pytest.mark.parametrize("fields, shown", [
    (dict(d=VReg(7, "i32", "p")), "vaddx %p7, east, 2, %a1, %n2"),   # a register in the output port's field
    (dict(d=5), "vaddx none, east, 2, %a1, %n2"),                     # (NOWHERE, as assembly writes it)
    (dict(d=0, dir=VReg(7, "i32", "p")), "vaddx north, %p7, 2, %a1, %n2"),
    (dict(d=9, dir=6), "vaddx 9, 6, 2, %a1, %n2"),                    # ports out of range
])
def test_the_worded_checks_print_a_stream_op_whatever_its_port_fields_hold(fields, shown):
    """A stream op's `d` is its output port (docs/isa.md, MSGX): with a register there, the worded check said
    so instead of raising a TypeError (`output_port_text` compared the register with NOWHERE)."""
    op = Op("vaddx", a=VReg(1, "i32", "a"), b=VReg(2, "i32", "n"), ch=2, **{"dir": 1, **fields})
    assert op.text() == shown
    fn = dataclasses.replace(_snapshots()[0][1], ops=[op])
    problems = instruction_problems(fn, set())
    if isinstance(fields.get("d"), VReg):  # (a register where the instruction holds a number: reported)
        assert problems == [f"{shown}: field d holds the register %p7, where vaddx's odir is a number written in "
                            f"the instruction"]
        with pytest.raises(CompileError, match="field d holds the register %p7"):
            verify(fn, "test", set())
    assert _instructions_look_right(fn, set()) == (problems == [])
