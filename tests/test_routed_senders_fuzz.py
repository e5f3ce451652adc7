"""The routed-senders proof (`sim.routed_senders`) against running the code: random programs of what the analysis
models (constants, threadIdx, equality flags, `and`, moves, data loads, branches forward and back, routed sends),
each PE of a block run by a plain Python interpreter on random data. Wherever `single_sender` accepts a program
for a block, at most one PE of the block may reach a routed send, whatever the data: a wrong proof lets the
compiled interpreter reorder routed words (review43, after user42's "one state per set of threadIdx
equalities" join). Also with the joins forced early (`STATES_PER_PC` 1 and 2), where they lose the most.

With `memory`, the programs also store and load SRAM words (at constant addresses, at threadIdx-based and data
addresses), fill and reduce SRAM ranges with vector ops, keep guards in SRAM words and send on two channels:
every PE that reaches a send on a channel must satisfy the threadIdx equalities of some path `channel_conditions`
gives that channel, as `disjoint_senders` takes them (review44, after user43's words at constant addresses)."""
from __future__ import annotations

import random

import pytest

import wafersim as ws
from wafersim.isa.encoding import code_bytes
from wafersim.sim import routed_senders
from wafersim.sim.code_facts import code_facts
from wafersim.sim.routed_senders import channel_conditions, sender_conditions, single_sender

BLOCKS = ((2, 1), (1, 3), (3, 2), (4, 4))
STEPS = 400  # a PE's run is cut here (a loop on data may not end): a prefix of a run is a run as well
SRAM = 16  # words of the `memory` programs' SRAM (r9, r10: their vector ops' address and length)


def random_program(rng: random.Random, size: int, memory: bool = False) -> list[str]:
    """Instructions over r1..r8 (r7, r8: threadIdx.x and .y; r1..r4 mostly flags, r5, r6 mostly data), a label
    before each; branches to any label (most forward). `memory`: a fifth of them guards kept in SRAM words
    (`guard_in_sram`), a sixth SRAM stores, loads and vector ops (`memory_instructions`), a fifth sends on
    channel 1 or 2 under a guard of their own, the rest as without it."""
    lines = ["sreg r7, tid.x", "sreg r8, tid.y"]

    def flag() -> int:
        return rng.choice((1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8))

    def source() -> int:
        return rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 7, 8))

    for i in range(size):
        pick = rng.random()
        if memory and pick < 0.55:
            if pick < 0.2:
                lines += guard_in_sram(rng, flag, source, f"L{i + 1}")
            elif pick < 0.35:
                lines += memory_instructions(rng, flag, source)
            else:
                if rng.random() < 0.3:
                    lines.append(f"seqi r{flag()}, r{rng.choice((7, 8))}, {rng.randint(0, 2)}")
                if rng.random() < 0.95:  # (skips the send only)
                    lines.append(f"{rng.choice(('bz', 'bz', 'bnz'))} r{flag()}, L{i + 1}")
                lines.append(f"send.f32 ramp, {rng.choice((1, 2))}, r2")
            lines.append(f"L{i + 1}:")
            continue
        if memory:
            pick = (pick - 0.55) / 0.45  # (the rest: every form below, as without `memory`)
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


def memory_instructions(rng: random.Random, flag, source) -> list[str]:
    """SRAM stores and loads at constant, threadIdx-based and data addresses (a fault stops the PE), a vector fill
    or reduction of a range at r9 of r10 words, or a threadIdx guard stored and loaded back (by another base)."""
    pick = rng.random()
    base = rng.choice((0, 0, 0, 7, 8, source()))
    offset = rng.randint(0, 7) if base == 0 else rng.randint(0, 3)
    if pick < 0.3:
        return [f"st r{source()}, r{base}, {offset}"]
    if pick < 0.6:
        return [f"ld r{flag()}, r{base}, {offset}"]
    if pick < 0.8:
        at = rng.randint(0, 7)
        return [f"seqi r{flag()}, r{rng.choice((7, 8))}, {rng.randint(0, 2)}", f"st r{flag()}, r0, {at}",
                *([f"ld r{flag()}, r0, {at}"] if rng.random() < 0.5 else [f"li r9, {at}", f"ld r{flag()}, r9, 0"])]
    vector = f"vfill r9, r{source()}, r10" if pick < 0.9 else f"vredsum r{flag()}, r9, r10"
    return [f"li r9, {rng.randint(0, 7)}", f"li r10, {rng.randint(0, 8)}", vector]


def guard_in_sram(rng: random.Random, flag, source, skip: str) -> list[str]:
    """A threadIdx guard kept in an SRAM word (a spilled short circuit), perhaps overwritten there (by a store at a
    data, threadIdx or constant address, a vector fill or receive over it, or on one path only), loaded back and
    branched on around a send."""
    at = rng.randint(0, 7)
    lines = [f"seqi r1, r{rng.choice((7, 8))}, {rng.randint(0, 2)}", f"st r1, r0, {at}", f"li r1, {rng.randint(0, 1)}"]
    pick = rng.random()
    if pick < 0.2:
        lines.append(f"st r{source()}, r{rng.choice((5, 6, 7, 8))}, {rng.randint(0, 3)}")
    elif pick < 0.35:  # a vector fill or a vector receive over it
        writer = f"vfill r9, r{source()}, r10" if rng.random() < 0.6 else "recvv.i32 west, 0, r9, r10"
        lines += [f"li r9, {rng.randint(max(0, at - 3), at)}", f"li r10, {rng.randint(1, 4)}", writer]
    elif pick < 0.5:
        lines.append(f"st r{source()}, r0, {at}")
    elif pick < 0.65:
        lines += [f"bz r{flag()}, {skip}b", f"st r{source()}, r0, {at}", f"{skip}b:"]
    lines += [f"ld r3, r0, {at}"] if rng.random() < 0.5 else [f"li r9, {at}", "ld r3, r9, 0"]
    return lines + [f"bz r3, {skip}", f"send.f32 ramp, {rng.choice((1, 2))}, r2"]


def sent_on(lines: list[str], tid: tuple[int, int], data: list[int]) -> list[int]:
    """The channels of the routed sends the PE at `tid`, its SRAM `data`, reaches within `STEPS` instructions."""
    labels, code = {}, []
    for line in lines:
        if line.endswith(":"):
            labels[line[:-1]] = len(code)
        else:
            code.append(line.replace(",", " ").split())
    regs, sram, pc, sent = [0] * 11, list(data), 0, []

    def reg(name: str) -> int:
        return regs[int(name[1:])]

    def inside(first: int, count: int = 1) -> bool:
        return 0 <= first and first + count <= len(sram)

    for _ in range(STEPS):
        op, *args = code[pc]
        pc += 1
        if op == "halt":
            break
        if op == "send.f32":
            sent.append(int(args[1]))
            continue
        if op == "jmp":
            pc = labels[args[0]]
            continue
        if op in ("bz", "bnz"):
            if (reg(args[0]) == 0) == (op == "bz"):
                pc = labels[args[1]]
            continue
        if op in ("st", "ld"):
            address = reg(args[1]) + int(args[2])
            if not inside(address):
                break  # (a fault stops the PE)
            if op == "st":
                sram[address] = reg(args[0])
                continue
            value = sram[address]
        elif op in ("vfill", "vredsum", "recvv.i32"):
            first, count = reg(args[0 if op == "vfill" else 1 if op == "vredsum" else 2]), reg(args[-1])
            if not inside(first, count):
                break
            if op == "vfill":
                sram[first:first + count] = [reg(args[1])] * count
                continue
            if op == "recvv.i32":  # (words from a neighbour: 0 or 1, by place and PE)
                sram[first:first + count] = [(first + k + tid[0] + tid[1]) % 2 for k in range(count)]
                continue
            value = sum(sram[first:first + count])
        elif op == "li":
            value = int(args[1])
        elif op == "addi":
            value = (reg(args[1]) + int(args[2]) + 2**31) % 2**32 - 2**31
        elif op == "seqi":
            value = int(reg(args[1]) == int(args[2]))
        elif op == "seq":
            value = int(reg(args[1]) == reg(args[2]))
        elif op == "and":
            value = reg(args[1]) & reg(args[2])
        elif op == "mov":
            value = reg(args[1])
        elif op == "sreg":
            value = tid[0] if args[1] == "tid.x" else tid[1]
        else:
            raise AssertionError(op)
        if int(args[0][1:]):
            regs[int(args[0][1:])] = value
    return sent


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
                           if sent_on(lines, (x, y), [rng.randint(0, 3) for _ in range(4)])}
                assert len(senders) <= 1, (block, senders, conditions, "\n".join(lines))
                proven += bool(senders)
    assert proven >= 10  # (proofs of programs whose one PE does send, not only of programs that never send)


@pytest.mark.parametrize("states_per_pc", [routed_senders.STATES_PER_PC, 2, 1])
def test_every_pe_that_sends_on_a_channel_satisfies_a_path_of_that_channel(states_per_pc, monkeypatch):
    monkeypatch.setattr(routed_senders, "STATES_PER_PC", states_per_pc)
    rng = random.Random(44 + states_per_pc)
    pinned = 0
    for _ in range(400):
        lines = random_program(rng, rng.randint(5, 30), memory=True)
        program = ws.assemble(f".name fuzz\n.sram {SRAM}\n.args 0\n.route 1 block_bus\n.route 2 block_bus\n"
                              + "\n".join(lines) + "\n")
        found = channel_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
        assert found is not None  # (no route changes, background sends or tangles here)
        for _ in range(4):
            tid = (rng.randint(0, 3), rng.randint(0, 3))
            for channel in set(sent_on(lines, tid, [rng.randint(0, 3) for _ in range(SRAM)])):
                paths = found.get(channel, [])
                assert any(all(tid[axis] == k for axis, k in pins) for pins in paths), (
                    tid, channel, paths, "\n".join(lines))
                pinned += () not in paths
    assert pinned >= 20  # (sends on channels the analysis bounds, not only on channels any PE may use)
