"""The routed-senders proof (`sim.routed_senders`) against running the code: random programs of what the analysis
models (constants, threadIdx, equality flags, `and`, moves, data loads, branches forward and back, routed sends),
each PE of a block run by a plain Python interpreter on random data. Wherever `single_sender` accepts a program
for a block, at most one PE of the block may reach a routed send, whatever the data: a wrong proof lets the
compiled interpreter reorder routed words (review43, after user42's "one state per set of threadIdx
equalities" join). Also with the joins forced early (`STATES_PER_PC` 1 and 2), where they lose the most."""
from __future__ import annotations

import random

import pytest

import wafersim as ws
from wafersim.isa.encoding import code_bytes
from wafersim.sim import routed_senders
from wafersim.sim.code_facts import code_facts
from wafersim.sim.routed_senders import sender_conditions, single_sender

BLOCKS = ((2, 1), (1, 3), (3, 2), (4, 4))
STEPS = 400  # a PE's run is cut here (a loop on data may not end): a prefix of a run is a run as well


def random_program(rng: random.Random, size: int) -> list[str]:
    """Instructions over r1..r8 (r7, r8: threadIdx.x and .y; r1..r4 mostly flags, r5, r6 mostly data), a label
    before each; branches to any label (most forward)."""
    lines = ["sreg r7, tid.x", "sreg r8, tid.y"]

    def flag() -> int:
        return rng.choice((1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8))

    def source() -> int:
        return rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 7, 8))

    for i in range(size):
        pick = rng.random()
        if pick < 0.06:
            lines.append(f"li r{flag()}, {rng.randint(0, 2)}")
        elif pick < 0.1:
            lines.append(f"addi r{flag()}, r{source()}, {rng.randint(-1, 1)}")
        elif pick < 0.3:
            lines.append(f"seqi r{flag()}, r{source()}, {rng.randint(0, 2)}")
        elif pick < 0.36:
            lines.append(f"seq r{flag()}, r{source()}, r{source()}")
        elif pick < 0.46:
            lines.append(f"and r{flag()}, r{flag()}, r{flag()}")
        elif pick < 0.5:
            lines.append(f"mov r{flag()}, r{source()}")
        elif pick < 0.56:
            lines.append(f"ld r{rng.choice((5, 6, flag()))}, r0, {rng.randint(0, 3)}")
        elif pick < 0.58:
            lines.append(f"sreg r{flag()}, tid.{rng.choice('xy')}")
        elif pick < 0.8:
            back = rng.random() < 0.15  # (a loop, on data or on a counter)
            target = rng.randint(max(0, i - 4), i) if back else rng.randint(i + 1, size)
            lines.append(f"{rng.choice(('bz', 'bnz'))} r{flag()}, L{target}")
        elif pick < 0.95:
            lines.append("send.f32 ramp, 2, r2")
        else:
            lines.append(f"jmp L{rng.randint(i + 1, size)}")
        lines.append(f"L{i + 1}:")
    return ["L0:"] + lines + ["halt"]


def sends(lines: list[str], tid: tuple[int, int], data: list[int]) -> bool:
    """Whether the PE at `tid`, its SRAM words 0..3 `data`, reaches a routed send within `STEPS` instructions."""
    labels, code = {}, []
    for line in lines:
        if line.endswith(":"):
            labels[line[:-1]] = len(code)
        else:
            code.append(line.replace(",", " ").split())
    regs = [0] * 9
    pc = 0
    for _ in range(STEPS):
        op, *args = code[pc]
        pc += 1
        value = None
        if op == "halt":
            return False
        if op == "send.f32":
            return True
        if op == "jmp":
            pc = labels[args[0]]
            continue
        if op in ("bz", "bnz"):
            if (regs[int(args[0][1:])] == 0) == (op == "bz"):
                pc = labels[args[1]]
            continue
        a = regs[int(args[1][1:])] if len(args) > 1 and args[1].startswith("r") else None
        if op == "li":
            value = int(args[1])
        elif op == "addi":
            value = (a + int(args[2]) + 2**31) % 2**32 - 2**31
        elif op == "seqi":
            value = int(a == int(args[2]))
        elif op == "seq":
            value = int(a == regs[int(args[2][1:])])
        elif op == "and":
            value = a & regs[int(args[2][1:])]
        elif op == "mov":
            value = a
        elif op == "ld":
            value = data[int(args[2])]
        elif op == "sreg":
            value = tid[0] if args[1] == "tid.x" else tid[1]
        if int(args[0][1:]):
            regs[int(args[0][1:])] = value
    return False


@pytest.mark.parametrize("states_per_pc", [routed_senders.STATES_PER_PC, 2, 1])
def test_a_proven_single_sender_is_the_only_pe_that_sends(states_per_pc, monkeypatch):
    monkeypatch.setattr(routed_senders, "STATES_PER_PC", states_per_pc)
    rng = random.Random(43 + states_per_pc)
    proven = 0
    for _ in range(300):
        lines = random_program(rng, rng.randint(5, 30))
        program = ws.assemble(".name fuzz\n.sram 16\n.args 0\n.route 2 block_bus\n" + "\n".join(lines) + "\n")
        conditions = sender_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
        for block in BLOCKS:
            if not single_sender(conditions, block):
                continue
            for _ in range(5):
                senders = {(x, y) for x in range(block[0]) for y in range(block[1])
                           if sends(lines, (x, y), [rng.randint(0, 3) for _ in range(4)])}
                assert len(senders) <= 1, (block, senders, conditions, "\n".join(lines))
                proven += bool(senders)
    assert proven >= 10  # (proofs of programs whose one PE does send, not only of programs that never send)
