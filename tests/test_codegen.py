"""Generated-code quality of the API.md heat kernel: what the optimisation passes leave in its loop.

Expectations changed with the optimisation passes (docs/compiler.md, "Optimisation passes"): the loop
no longer computes `has_neighbor` or loads constants (both are loop-invariant and hoisted), labels
nothing branches to are gone (so the loop is found as the run from its label to the branch back), and
the neighbour's side of each `if/else` falls through to the join (only edge PEs jump).
"""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.compiler import loop_body
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
    opcodes = [line.split()[0] for line in body if not line.endswith(":")]
    assert "hasnb" not in opcodes  # has_neighbor does not change from step to step: computed once
    constants = [line for line in body if line.startswith("li ")]
    assert len(constants) == 1 and constants[0].endswith(", 0")  # only `acc = 0.0`, which the loop then writes
    assert opcodes.count("send") == 4 and opcodes.count("recv") == 4 and opcodes.count("bar") == 1
    # branch layout: `recv(d) if has_neighbor(d) else c` jumps only on the edge path (after its `mov`)
    jumps = [k for k, line in enumerate(body) if line.startswith("jmp ")]
    assert len(jumps) == 4 and all(body[k - 1].startswith("mov ") for k in jumps)
