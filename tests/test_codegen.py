"""Generated-code quality: what the optimisation passes leave in the loops of the API.md heat kernel and
of the library GEMM (rank-1 updates, `vger`), and code size against a PE's SRAM.

Expectations changed with the optimisation passes (docs/compiler.md, "Optimisation passes"): the loop
no longer computes `has_neighbor` or loads constants (both are loop-invariant and hoisted, `acc = 0.0`
too since the passes run on SSA form), labels
nothing branches to are gone (so the loop is found as the run from its label to the branch back), and
the neighbour's side of each `if/else` falls through to the join (only edge PEs jump).
"""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.compiler import PASSES, compile_kernel, loop_body
from wafersim.kernels.heat import heat_kernel


def _heat_loop() -> list[str]:
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.zeros((8, 8), np.float32)
    compiled = heat_kernel.compile_for(dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 10)
    return loop_body(compiled.asm_text)


def test_heat_loop_body_moves_only_the_zero_flux_edge_copies():
    body = _heat_loop()
    moves = [k for k, line in enumerate(body) if line.startswith("mov ")]
    assert len(moves) == 4  # one per direction: a missing neighbour reads as the cell itself
    for k in moves:
        assert body[k - 1].startswith("ielse")  # only on the edge path of `recv(d) if has_neighbor(d) else c`
    # ... and each copies the same register, the cell value c
    assert len({body[k].split(",")[1] for k in moves}) == 1


def test_heat_loop_body_has_no_invariant_work():
    body = _heat_loop()
    opcodes = [line.split()[0].partition(".")[0] for line in body if not line.endswith(":")]  # (send.f32: send)
    assert "hasnb" not in opcodes  # has_neighbor does not change from step to step: computed once
    constants = [line for line in body if line.startswith("li ")]
    # not even `acc = 0.0`: in SSA form the loop's first value of acc is a constant, computed once before it
    assert constants == []
    assert opcodes.count("send") == 4 and opcodes.count("recv") == 4 and opcodes.count("bar") == 1
    # branch layout: `recv(d) if has_neighbor(d) else c` jumps only on the edge path (after its `mov`)
    jumps = [k for k, line in enumerate(body) if line.startswith("jmp ")]
    assert len(jumps) == 4 and all(body[k - 1].startswith("mov ") for k in jumps)


def test_library_gemm_updates_are_rank1_updates_with_only_address_steps_between():
    from wafersim.kernels.gemm import gemm_kernel

    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    z = dev.to_device(np.zeros((4, 2 * 32 * 32), np.float32))
    compiled = gemm_kernel(32).compile_for(z, dev.device_array((4, 32 * 32)), 2)
    runs, current = [], []  # straight-line runs (between labels and branches)
    for line in (line.strip() for line in compiled.asm_text.splitlines()):
        if line.endswith(":") or line.split()[0] in ("bz", "bnz", "jmp", "halt"):
            runs.append(current)
            current = []
        elif not line.startswith("."):
            current.append(line.split()[0])
    updates = [run for run in runs if "vger.f" in run]
    # a step's 32 updates (two halves, unrolled: its loops have constant trip counts) and the last step's
    # two row blocks of 32 each
    assert sum(run.count("vger.f") for run in updates) == 3 * 32
    for run in updates:
        count = run.count("vger.f")
        # operands in SRAM: no loads, no spills; besides the updates, each one's two operand addresses, the
        # bases of each unrolled trip (a constant and an add per two or four updates), and the last step's stores of C
        assert set(run) <= {"vger.f", "addi", "add", "li", "seq", "gstv"}
        assert len(run) - count <= 3 * count + 4


@ws.jit
def fill_strided(out):
    buf = ws.local.array(64, np.float32)
    for i in range(16):  # short and constant: unrolled when the SRAM has room for the longer code
        buf[i * 4] = i * 0.5
    out[0:64] = buf[0:64]


def test_a_kernel_that_fits_only_without_unrolling_still_compiles():
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    out = dev.device_array(64)
    signature, _ = fill_strided.signature_of((out,))
    rolled = compile_kernel(fill_strided.py_func, signature, dev.spec,
                            passes=[(n, p) for n, p in PASSES if n != "unroll"])
    unrolled = compile_kernel(fill_strided.py_func, signature, dev.spec)
    assert unrolled.program.sram_bytes_needed > rolled.program.sram_bytes_needed
    tight = ws.WaferSpec(width=2, height=2, sram_bytes=rolled.program.sram_bytes_needed)
    compiled = compile_kernel(fill_strided.py_func, signature, tight)
    assert compiled.program.sram_bytes_needed == rolled.program.sram_bytes_needed
    dev_tight = ws.Device(tight)
    out = dev_tight.device_array(64)
    fill_strided[(1, 1), (1, 1)](out)
    want = np.zeros(64, np.float32)
    want[::4] = np.arange(16, dtype=np.float32) * np.float32(0.5)
    np.testing.assert_array_equal(out.copy_to_host(), want)


@ws.jit
def _thread_index_or_argument(values, out, n, other):
    """`t` is threadIdx.x on one path and an argument on the other; kept live across a loop that needs every
    register of a 12-register machine, it is spilled."""
    t = ws.threadIdx.x
    if values[ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x, 0] > 0.5:
        t = other
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    a0, a1, a2, a3 = values[i, 0], values[i, 1], values[i, 2], values[i, 3]
    a4, a5, a6, a7 = values[i, 4], values[i, 5], values[i, 6], values[i, 7]
    s = 0.0
    for k in range(n):
        s += a0 * a1 + a2 * a3 + a4 * a5 + a6 * a7 + k
    out[i] = s + t


def test_a_spilled_value_not_always_a_thread_index_is_reloaded_from_its_slot():
    """The backend reloads a spilled value with `sreg` only where its every definition reads that special
    register (review44): here the argument's path would read threadIdx.x instead of `other`."""
    bx, by, n, other = 5, 4, 3, 1000
    values = np.random.default_rng(44).random((bx * by, 8), dtype=np.float32)
    dev = ws.Device(ws.WaferSpec(width=8, height=8, registers=12))
    out = dev.device_array(bx * by, np.float32)
    _thread_index_or_argument[1, (bx, by)](dev.to_device(values), out, n, other)
    compiled = _thread_index_or_argument._compiled()
    (slot,) = [slot for reg, slot in compiled.allocation.spills.items() if reg.hint == "t"]  # (else: not covered)
    assert any(line.split()[:1] == ["ld"] and line.endswith(f"r0, {slot}") for line in compiled.asm_text.splitlines())
    t = np.where(values[:, 0] > 0.5, np.float32(other), np.arange(bx * by) % bx).astype(np.float32)
    s = np.zeros(bx * by, np.float32)
    for k in range(n):
        s = s + (values[:, 0] * values[:, 1] + values[:, 2] * values[:, 3] + values[:, 4] * values[:, 5]
                 + values[:, 6] * values[:, 7] + np.float32(k))
    np.testing.assert_array_equal(out.copy_to_host(), s + t)
