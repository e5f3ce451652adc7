"""Store bounds by the PEs' neighbours (sim/neighbour_paths.py): the paths a PE of each class of neighbours can
take, against paths counted by hand, and loads held by them seeing exactly the stores issued before them, against
a plain-Python timeline, under every engine strategy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.isa.opcodes import DIRECTIONS, opcode_cycles
from wafersim.sim.branches import neighbour_branches
from wafersim.sim.memory_order import STORE_OPS, cycles_until
from wafersim.sim.neighbour_paths import fixed_branches

SPEC = ws.WaferSpec(width=48, height=8, cost_cycles={"alu": 1, "branch": 2, "special": 3, "global": 5})
COST = opcode_cycles(SPEC)
EMPTY = -1
EAST, WEST = DIRECTIONS.index("east"), DIRECTIONS.index("west")


def cost(*ops: str) -> float:
    return sum(COST[op] for op in ops)


# A row pipeline with a store at its east end: the west PE counts down `A`, loads word 0 and sends it east;
# every other PE receives it and sends it on, except the east-most, which first counts down `B` and stores 7 to
# word 0, then stores what it receives to word 1 + y. Only the east-most PEs can store; the others' receives are
# followed (in the code) by that store too, behind a branch on `has_neighbor(east)` they never take.
PIPE = """
    arg r2, 0
    sreg r9, tid.y
    shli r9, r9, 2
    add r9, r9, r2
    hasnb r3, west
    hasnb r4, east
    bnz r3, receiver
    li r6, {A}
wl:
    addi r6, r6, -1
    bnz r6, wl
    gld r5, r2, 0
    send east, 0, r5
    halt
receiver:
    bnz r4, wait
    li r6, {B}
el:
    addi r6, r6, -1
    bnz r6, el
    li r7, 7
    gst r7, r2, 0
wait:
    recv r8, west, 0
    bnz r4, forward
    gst r8, r9, 4
    halt
forward:
    send east, 0, r8
    halt
"""


def _program(a: int, b: int):
    return ws.assemble(PIPE.format(A=a, B=b))


def test_a_pe_of_each_class_takes_only_its_ways_at_neighbour_branches():
    program = _program(3, 3)
    decoded = {pc: instr for pc, instr in program.instructions()}
    branches = neighbour_branches(decoded)
    tested = sorted(set(branches.values()))
    assert tested == sorted({EAST, WEST})  # (every `bnz r3` / `bnz r4`: the registers hold has_neighbor)
    code_words = len(program.code)
    wait = next(pc for pc, instr in decoded.items() if instr.op == "recv")
    generic = cycles_until(decoded, COST, STORE_OPS, code_words, SPEC.global_latency)
    to_store = cost("recv", "bnz", "gst")  # recv, the branch not taken, the store
    assert generic[wait] == to_store
    interior = cycles_until(decoded, COST, STORE_OPS, code_words, SPEC.global_latency,
                            fixed_branches(decoded, branches, 1 << EAST | 1 << WEST))
    east_end = cycles_until(decoded, COST, STORE_OPS, code_words, SPEC.global_latency,
                            fixed_branches(decoded, branches, 1 << WEST))
    assert interior[wait] == np.inf and interior[0] == np.inf  # a PE with an east neighbour never stores
    assert east_end[wait] == to_store
    # (a loop's count is not known: its shortest path leaves after one iteration)
    assert east_end[0] == cost("arg", "sreg", "shli", "add", "hasnb", "hasnb", "bnz", "bnz", "li", "addi", "bnz",
                               "li", "gst")


@pytest.mark.parametrize("a, b", [(5, 60), (60, 5), (30, 30), (1, 1)])
def test_loads_held_by_the_east_pes_bounds_see_exactly_the_stores_before_them(a, b):
    """Rows of 40 PEs (the east-most PEs: few, so that the bounds of those alone count): word 1 + y is what row y's west PE loaded from word 0: 7 where its load issued at or after
    the east-most PE's store of 7 there, else what word 0 held before (timeline in plain Python)."""
    head = cost("arg", "sreg", "shli", "add", "hasnb", "hasnb", "bnz")
    load_at = head + cost("li") + a * cost("addi", "bnz") + cost("gld")
    store_at = head + cost("bnz", "li") + b * cost("addi", "bnz") + cost("li", "gst")
    rows = 2

    def launch():
        dev = ws.Device(SPEC)
        out = dev.to_device(np.full(1 + rows, EMPTY, dtype=np.int32))
        stats = dev.launch(_program(a, b), 1, (40, rows), [out])
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    seen = 7 if load_at >= store_at else EMPTY
    assert out.tolist() == [7] + [seen] * rows
