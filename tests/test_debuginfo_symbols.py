"""The symbol table `compiler.debuginfo.symbols` builds (which register or spill slot holds which source
variable over which pcs) is exactly what the straightforward dataflow gives: the reference below is the
earlier version, which copied the bindings and live sets at every op and worked out every register's names
at every pc; the fast one shares what an op leaves unchanged and works each combination out once. Compared
on generated programs (swaps, branches, loops), with spills (8 registers), collectives and inlined device
functions, shared registers among them."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_debuginfo import SEEDS, _collectives, _program, _repeated, _swap
from wafersim.compiler import backend, compile_kernel
from wafersim.compiler.debuginfo import _UNKNOWN, UNASSIGNED, is_variable, written_variable
from wafersim.compiler.ir import IRFunction, Label, Op, Phi, VReg
from wafersim.compiler.values import KernelSignature
from wafersim.isa.assembler import Symbol
from wafersim.kernels.reduce import SUM, allreduce


# ----------------------------------------------------------------------------- the reference (verbatim)
def _reference_op_liveness(fn: IRFunction, wanted: set[VReg]) -> tuple[list[frozenset], list[frozenset]]:
    from wafersim.compiler.backend import block_liveness

    blocks, _, live_out = block_liveness(fn)
    before: list[frozenset] = [frozenset()] * len(fn.ops)
    after: list[frozenset] = [frozenset()] * len(fn.ops)
    for k, block in enumerate(blocks):
        live = {reg for reg in live_out[k] if reg in wanted}
        for i in reversed(block):
            op = fn.ops[i]
            after[i] = frozenset(live)
            if isinstance(op, Op):
                written = op.writes()
                live.discard(written)
                live |= {reg for reg in op.reads() if reg in wanted}
            before[i] = frozenset(live)
    return before, after


def _reference_variable_bindings(fn: IRFunction) -> tuple[list[dict], list[dict]]:
    from wafersim.compiler.passes.cfg import CFG

    before: list[dict] = [{}] * len(fn.ops)
    after: list[dict] = [{}] * len(fn.ops)
    if not fn.ops:
        return before, after
    cfg = CFG(fn)
    exits: list[dict | None] = [None] * len(cfg.blocks)
    start = {var: frozenset({UNASSIGNED}) for op in fn.instructions()
             for var in [written_variable(fn, op), *(v for v, _, _ in op.rebinds)] if var is not None}

    def assign(state: dict, var: tuple, reg: VReg | int | None) -> None:
        state[var] = frozenset({reg.id if isinstance(reg, VReg) else reg})

    changed = True
    while changed:  # (sets only grow, so this ends)
        changed = False
        for k, block in enumerate(cfg.blocks):
            state: dict = dict(start) if k == 0 else {}
            for p in cfg.pred[k]:
                for var, regs in (exits[p] or {}).items():
                    state[var] = state.get(var, frozenset()) | regs
            first = fn.ops[block[0]]
            if isinstance(first, Label):
                for reg, var in fn.join_names.get(first, {}).items():
                    if var is not None:
                        assign(state, var, reg)
            for i in block:
                op = fn.ops[i]
                if not isinstance(op, Op):
                    before[i] = after[i] = state
                    continue
                for var, reg, late in op.rebinds:
                    if not late:
                        assign(state, var, reg)
                before[i] = dict(state)
                written = op.writes()
                if written is not None and not isinstance(op, Phi):
                    var = written_variable(fn, op)
                    for other, regs in list(state.items()):  # the register no longer holds them
                        if written.id in regs and other != var:
                            state[other] = (regs - {written.id}) | {None}
                    if var is not None:
                        assign(state, var, written.id)
                for var, reg, late in op.rebinds:
                    if late:
                        assign(state, var, reg)
                after[i] = dict(state)
            if state != exits[k]:
                exits[k], changed = state, True
    return before, after


def _reference_shared_names(fn: IRFunction) -> tuple[list[dict[int, frozenset]], list[dict[int, frozenset]]]:
    from wafersim.compiler.passes.cfg import CFG

    shared = fn.shared_registers
    before: list[dict[int, frozenset]] = [{}] * len(fn.ops)
    after: list[dict[int, frozenset]] = [{}] * len(fn.ops)
    if not shared or not fn.ops:
        return before, after
    cfg = CFG(fn)
    exits: list[dict[int, frozenset] | None] = [None] * len(cfg.blocks)
    changed = True
    while changed:  # (sets only grow, so this ends)
        changed = False
        for k, block in enumerate(cfg.blocks):
            state: dict[int, frozenset] = {}
            for p in cfg.pred[k]:
                for reg, names in (exits[p] or {}).items():
                    state[reg] = state.get(reg, frozenset()) | names
            first = fn.ops[block[0]]
            if isinstance(first, Label):
                for reg, var in fn.join_names.get(first, {}).items():
                    state[reg] = frozenset({var or _UNKNOWN})
            for i in block:
                op = fn.ops[i]
                before[i] = dict(state)
                written = op.writes() if isinstance(op, Op) else None
                if written is not None and written.id in shared:
                    state[written.id] = frozenset({op.var or _UNKNOWN})
                after[i] = dict(state)
            if state != exits[k]:
                exits[k], changed = state, True
    return before, after


def _reference_symbols(fn: IRFunction, registers: dict[VReg, int], spills: dict[VReg, int], spill_base: int,
            local_base: int, pc_owner: list[tuple[int, int, bool]], code_words: int) -> tuple[Symbol, ...]:
    stored = {*registers, *spills}
    variables = {reg for reg in stored if is_variable(reg.hint)}
    # registers a folded copy left a variable in (`b = a` read from a's register, `q = helper(...)` from
    # the helper's result): listed under that variable too, where the bindings say it is there
    variables |= {reg for op in fn.instructions() for _, reg, _ in op.rebinds if reg in stored}
    pointers = {reg.hint[: -len("_n0_")] for reg in (*registers, *spills) if reg.hint.endswith("_n0_")}
    before, after = _reference_op_liveness(fn, variables)
    names_before, names_after = _reference_shared_names(fn)
    bound_before, bound_after = _reference_variable_bindings(fn)
    # [start, end) pcs where each register holds a variable: (register, name, scope) -> runs; a shared
    # register is listed under the variable whose writes alone reach the pc
    runs: dict[tuple[VReg, str, tuple], list[list[int]]] = {}
    bounds = [pc for pc, _, _ in pc_owner[1:]] + [code_words]
    for (pc, k, past), end in zip(pc_owner, bounds):
        if past:
            written = fn.ops[k].writes()
            live = after[k] - {written} if written in spills else after[k]
        else:
            live = before[k]
        reaching = names_after[k] if past else names_before[k]
        bound = bound_after[k] if past else bound_before[k]
        copies: dict[int, list[tuple]] = {}  # register id -> the variables bound to it alone, on every path
        for var, regs in bound.items():
            if len(regs) == 1 and None not in regs and UNASSIGNED not in regs:
                copies.setdefault(next(iter(regs)), []).append(var)
        for reg in live:
            names = []
            name, scope = reg.hint, reg.scope
            if reg.id in fn.shared_registers:
                held = reaching.get(reg.id, frozenset())
                if len(held) == 1 and _UNKNOWN not in held:
                    ((name, scope),) = held
                    names.append((name, scope))
            elif is_variable(name):
                names.append((name, scope))
            # past a later assignment of the variable the register may still be live as another variable's
            # value (a copy the optimiser folded), no longer as this one's
            # (a variable that some paths have not assigned yet is shown from its own register, as before)
            names = [var for var in names if bound.get(var, frozenset({reg.id})) - {UNASSIGNED} == {reg.id}]
            names += [var for var in copies.get(reg.id, ()) if var not in names]
            for name, scope in names:
                spans = runs.setdefault((reg, name, scope), [])
                if spans and spans[-1][1] == pc:
                    spans[-1][1] = end
                else:
                    spans.append([pc, end])
    table = []
    for reg, name, scope in sorted(runs, key=lambda r: (r[1], r[0].id)):
        dtype = "ptr" if name in pointers else reg.ty
        where = ("reg", registers[reg]) if reg in registers else ("spill", spill_base + spills[reg])
        table.append(Symbol(name, dtype, *where, tuple((s, e) for s, e in runs[(reg, name, scope)]), (), scope))
    held = {(sym.name, sym.scope) for sym in table}
    for (name, scope), copied in fn.folded_copies.items():
        if copied is not None and (name, scope) not in held:
            ty, source, source_scope = copied
            table.append(Symbol(name, ty, "copy", 0, (), (), scope, (source, source_scope)))
    offset = local_base
    for name, words, shape, *dtype in fn.local_arrays:  # (an entry without its dtype is left out)
        if dtype:
            table.append(Symbol(name, dtype[0], "sram", offset, ((0, code_words),), tuple(shape)))
        offset += words
    return tuple(table)


# ----------------------------------------------------------------------------- the comparison
@pytest.fixture
def compared(monkeypatch):
    """Every symbol table compiled while the test runs is checked against the reference; the list of the
    functions compared comes back."""
    seen: list[tuple[IRFunction, tuple]] = []
    fast = backend.symbols

    def checked(fn, *args):
        table = fast(fn, *args)
        assert table == _reference_symbols(fn, *args)
        seen.append((fn, args))
        return table

    monkeypatch.setattr(backend, "symbols", checked)
    return seen


@pytest.mark.parametrize("registers", [32, 8])
def test_generated_programs_get_the_reference_symbols(tmp_path, compared, registers):
    dev = ws.Device(ws.WaferSpec(width=4, height=4, registers=registers))
    for seed in SEEDS[::3]:
        module = load_source(tmp_path, _program(seed))
        module.kern[1, (2, 2)](dev.device_array((2, 2), np.int32), np.int32(3), np.int32(2))
    assert len(compared) == len(SEEDS[::3])
    if registers == 8:
        assert any(args[1] for _, args in compared)  # (spills compared)


def test_kernels_with_collectives_and_helpers_get_the_reference_symbols(compared):
    # (compiled here, not launched: a launch may find the program in a cache and compile nothing)
    for kernel in (_swap, _repeated, _collectives):
        compile_kernel(kernel.py_func, KernelSignature((("array", "i32", 2),)), ws.WaferSpec(width=4, height=4))
    compile_kernel(_solver_like.py_func, KernelSignature((("array", "f32", 1), ("array", "f32", 1), ("scalar", "i32"))),
                   ws.WaferSpec(width=4, height=4, registers=10))
    assert len(compared) == 4
    assert any(fn.shared_registers for fn, _ in compared)  # (registers holding several variables compared)
    assert any(args[1] for _, args in compared)  # (spill slots compared)


@ws.jit
def _solver_like(x, out, n):
    """A loop of sums and a collective over several named values (a dot product, a norm, an update)."""
    rho = 0.0
    norm = 0.0
    for k in range(n):
        p = x[k] * 2.0
        q = p - rho
        rho = allreduce(p * q, SUM) + rho
        norm = norm + q * q
        out[k] = rho - norm
