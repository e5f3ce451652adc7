"""Straight runs of register instructions (and queued vgers) in one compiled call (`wafersim.sim.register_blocks`,
`Strategy.register_blocks`): every instruction a run may hold, over groups in each form (whole, all but a few,
a mask, a few indices), with groups merging inside a run, against NumPy int32 arithmetic and bit-identical to
one NumPy call per instruction."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from test_rank1_queue import rank1_rows
from wafersim.sim import register_block_kernels, register_blocks
from wafersim.sim.register_blocks import BLOCK_OPS, FLOAT_BLOCK_OPS
from wafersim.sim.strategy import Strategy, forced

PES = 60  # two blocks of 6 x 5 PEs
INT_MIN, INT_MAX = -2**31, 2**31 - 1
# Each chain: (op, d, a, b or immediate), straight on; results in r16..r31, operands r10..r13 (the inputs).
_NUMPY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "and": np.bitwise_and, "or": np.bitwise_or,
          "xor": np.bitwise_xor, "min": np.minimum, "max": np.maximum, "slt": np.less, "sle": np.less_equal,
          "seq": np.equal, "sne": np.not_equal}
CHAINS = {
    "whole": [("add", 16, 10, 11), ("sub", 17, 16, 12), ("mul", 18, 17, 11), ("and", 19, 18, 13),
              ("or", 20, 19, 10), ("xor", 21, 20, 16), ("min", 22, 21, 10), ("max", 23, 22, 12)],
    "all but a few": [("addi", 24, 10, -7), ("muli", 25, 24, 8191), ("andi", 26, 25, 0x1F0F), ("ori", 27, 26, -256),
                      ("xori", 28, 27, 0x155), ("slti", 29, 28, -1), ("seqi", 30, 11, 0), ("li", 31, 0, -123456789)],
    "a few": [("slt", 16, 10, 11), ("sle", 17, 11, 11), ("seq", 18, 12, 10), ("sne", 19, 13, 10),
              ("mov", 20, 12, 0), ("li", 0, 0, 5), ("nop", 0, 0, 0), ("add", 21, 21, 20)],
    "a third": [("mul", 22, 10, 10), ("addi", 22, 22, 1), ("mov", 23, 22, 0), ("sub", 24, 0, 23)],
    "two thirds": [("muli", 25, 12, -3), ("xor", 26, 25, 13), ("andi", 27, 26, 255), ("seqi", 28, 27, 17)],
}
assert {op for chain in CHAINS.values() for op, *_ in chain} == BLOCK_OPS - FLOAT_BLOCK_OPS  # (floats:
# tests/test_lockstep_fused.py)


def _text(chain) -> list[str]:
    lines = []
    for op, d, a, b in chain:
        if op == "nop":
            lines.append("nop")
        elif op == "li":
            lines.append(f"li r{d}, {b}")
        elif op == "mov":
            lines.append(f"mov r{d}, r{a}")
        elif op in _NUMPY:
            lines.append(f"{op} r{d}, r{a}, r{b}")
        else:
            lines.append(f"{op} r{d}, r{a}, {b}")
    return lines


def program() -> str:
    """Load four words; the whole group's chain; then PEs 0 and 30 (a few) and the rest (all but a few) each their
    own chain, the few falling through into the join where the rest wait (a merge inside their run); then the
    PEs of index 1 mod 3 (a third) and the others (two thirds); store r16..r31."""
    lines = [".sram 64", ".args 2",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
             "li r5, 4", "muli r6, r4, 16", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5",
             "ld r10, r0, 0", "ld r11, r0, 1", "ld r12, r0, 2", "ld r13, r0, 3"]
    lines += _text(CHAINS["whole"])
    lines += ["li r8, 30", "rem r9, r4, r8", "bz r9, few"]
    lines += _text(CHAINS["all but a few"]) + ["jmp join", "few:"] + _text(CHAINS["a few"]) + ["join:"]
    lines += _text([("add", 16, 16, 24), ("xor", 17, 17, 25)])  # (the merged group: a run from the join)
    lines += ["li r8, 3", "rem r9, r4, r8", "addi r9, r9, -1", "bz r9, third"]
    lines += _text(CHAINS["two thirds"]) + ["jmp done", "third:"] + _text(CHAINS["a third"]) + ["done:"]
    lines += [f"st r{16 + k}, r0, {16 + k}" for k in range(16)]
    lines += ["li r5, 16", "muli r6, r4, 64", "arg r7, 1", "add r7, r7, r6", "li r8, 16", "gstv r7, r8, r5", "halt"]
    return "\n".join(lines) + "\n"


def numpy_reference(values: np.ndarray) -> np.ndarray:
    """r16..r31 per PE as NumPy's int32 ufuncs leave them (wrapped), the chains applied to each PE's path."""
    regs = np.zeros((32, len(values)), dtype=np.int32)
    regs[10:14] = values.T
    pes = np.arange(len(values))

    def apply(chain, lanes):
        for op, d, a, b in chain:
            if op == "nop" or d == 0:
                continue
            x = regs[a, lanes]
            if op == "li":
                result = np.full(len(lanes), b, dtype=np.int32)
            elif op == "mov":
                result = x
            elif op in _NUMPY:
                result = _NUMPY[op](x, regs[b, lanes])
            else:
                result = _NUMPY[op[:-1]](x, np.int32(b))
            regs[d, lanes] = result

    apply(CHAINS["whole"], pes)
    few = pes % 30 == 0
    apply(CHAINS["all but a few"], pes[~few])
    apply(CHAINS["a few"], pes[few])
    apply([("add", 16, 16, 24), ("xor", 17, 17, 25)], pes)
    third = pes % 3 == 1
    apply(CHAINS["two thirds"], pes[~third])
    apply(CHAINS["a third"], pes[third])
    return regs[16:32].T


def launch(values: np.ndarray):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    d_in, d_out = dev.to_device(values), dev.device_array((PES, 16), np.int32)
    stats = dev.launch(ws.assemble(program()), (2, 1), (6, 5), (d_in, d_out), print_output=False)
    return d_out.copy_to_host(), stats


@pytest.mark.parametrize("seed", [1, 2])
def test_register_runs_match_numpy_and_one_call_per_instruction(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    values = rng.integers(INT_MIN, INT_MAX + 1, (PES, 4), dtype=np.int64).astype(np.int32)
    edges = np.array([INT_MIN, INT_MAX, -1, 0, 1, 17, 65536], dtype=np.int32)
    picks = rng.random(values.shape) < 0.4
    values[picks] = rng.choice(edges, picks.sum())
    calls = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block", lambda *args: calls.append(
        (args[1], len(args[0]), args[2], len(args[5]), len(args[6]))) or original(*args))
    for compiled in (False, True):  # (the interpreter takes small groups: off, every group runs in the loop)
        with forced(Strategy(compiled=compiled, register_blocks=False)):
            reference = launch(values)
        assert not calls
        with forced(Strategy(compiled=compiled)):
            blocked = launch(values)
        assert_same_run(reference, blocked)
        np.testing.assert_array_equal(blocked[0], numpy_reference(values))
        if not compiled:
            # (instructions run, in the run, dense, PEs outside, lanes by index): the whole group (its four loads,
            # its chain, the `li` after it), all but a few (two kept outside), the few (their `li r0` and `nop`
            # too) stopped at the join where the others wait, the merged group, the thirds (masks: by index; the
            # third's run goes on into the stores after the join, where the two thirds wait), then the merged
            # group's 16 stores and the `li` and `muli` after them
            assert {(13, 13, True, 0, 0), (8, 8, True, 2, 0), (8, 11, False, 0, 2), (3, 3, True, 0, 0),
                    (4, 4, False, 0, 40), (4, 22, False, 0, 20), (18, 18, True, 0, 0)} <= set(calls)
        calls.clear()


WORDS = 8  # each PE's input words, loaded to SRAM words 0..7


def access_program() -> str:
    """Scalar loads and stores in one straight run, at addresses that differ by PE (word 0 of each PE's input, a):
    sram[16 + a] = sram[a]; a load into r0 (checks sram[a + 1]); sram[24] = sram[a] + 5; sram[32 + a] =
    sram[24] + a; words 16..39 out. An a of 63 makes the first store leave SRAM (64 words)."""
    lines = [".sram 64", ".args 2",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
             f"li r5, {WORDS}", f"muli r6, r4, {4 * WORDS}", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5",
             "ld r10, r0, 0", "ld r11, r10, 0", "st r11, r10, 16", "ld r0, r10, 1", "addi r12, r11, 5",
             "st r12, r0, 24", "ld r13, r0, 24", "add r14, r13, r10", "st r14, r10, 32",
             "li r5, 24", "muli r6, r4, 96", "arg r7, 1", "add r7, r7, r6", "li r8, 16", "gstv r7, r8, r5", "halt"]
    return "\n".join(lines) + "\n"


def access_reference(values: np.ndarray) -> np.ndarray:
    """SRAM words 16..39 of each PE after `access_program`, in NumPy (int32 sums wrap)."""
    out = np.zeros((len(values), 24), dtype=np.int32)
    for pe, words in enumerate(values):
        sram = np.zeros(64, dtype=np.int32)
        sram[:WORDS] = words
        a = int(words[0])
        sram[16 + a] = sram[a]
        sram[24] = sram[a] + np.int32(5)
        sram[32 + a] = sram[24] + np.int32(a)
        out[pe] = sram[16:40]
    return out


def launch_accesses(values: np.ndarray):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    d_in, d_out = dev.to_device(values), dev.device_array((PES, 24), np.int32)
    stats = dev.launch(ws.assemble(access_program()), (2, 1), (6, 5), (d_in, d_out), print_output=False)
    return d_out.copy_to_host(), stats


def test_loads_and_stores_in_register_runs_match_numpy_and_the_loop(monkeypatch):
    """Loads and stores at per-PE addresses (a load into r0 too) run in the register runs, results and statistics
    as the loop's and NumPy's; a store leaving SRAM at one PE ends the run before it, and the loop raises the
    same error, naming the same PE."""
    rng = np.random.default_rng(3)
    values = rng.integers(INT_MIN, INT_MAX + 1, (PES, WORDS), dtype=np.int64).astype(np.int32)
    values[:, 0] = rng.integers(0, WORDS - 1, PES)  # (a: in the input words, a + 1 too)
    lengths = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block",
                        lambda *args: lengths.append(args[1]) or original(*args))
    for compiled in (False, True):
        with forced(Strategy(compiled=compiled, register_blocks=False)):
            reference = launch_accesses(values)
        with forced(Strategy(compiled=compiled)):
            blocked = launch_accesses(values)
        assert_same_run(reference, blocked)
        np.testing.assert_array_equal(blocked[0], access_reference(values))
    assert 11 in lengths  # (the 7 loads and stores ran in one run, with the 4 register instructions among and after them)
    bad = values.copy()
    bad[37, 0] = 63
    messages = []
    for blocks in (False, True):
        with forced(Strategy(compiled=False, register_blocks=blocks)):
            with pytest.raises(ws.MemoryAccessError) as error:
                launch_accesses(bad)
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "[79, 80)" in messages[0]


def vector_program(last: int) -> str:
    """Float32 vector ops at per-PE lengths n = pe % 4 and offsets o = pe & 4 (0 or 4), in a run taken by the odd
    and by the even PEs apart (groups by index): sram[16 + o:][:n] = x[:n] + x[o:][:n]; an overlapping copy
    sram[1:][:n] = sram[:n]; sram[16 + o:][:n] *= x[7] in place; sram[24:][:n] = sram[1:][:n] - x[o:][:n];
    sram[`last`:][:n] = sram[16 + o:][:n] * sram[24:][:n]; words 0..31 out."""
    body = ["andi r9, r4, 3", "andi r10, r4, 4", "addi r11, r10, 16", "vadd.f r11, r0, r10, r9", "li r12, 1",
            "vcopy r12, r0, r9", "ld r14, r0, 7", "vscale.f r11, r11, r14, r9", "li r15, 24", "vsub.f r15, r12, r10, r9",
            f"li r13, {last}", "vmul.f r13, r11, r15, r9", "li r8, 2"]
    lines = [".sram 64", ".args 2",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
             f"li r5, {WORDS}", f"muli r6, r4, {4 * WORDS}", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5",
             "andi r3, r4, 1", "bz r3, even"] + body + ["jmp done", "even:"] + body + ["done:",
             "li r5, 32", "muli r6, r4, 128", "arg r7, 1", "add r7, r7, r6", "gstv r7, r0, r5", "halt"]
    return "\n".join(lines) + "\n"


def vector_reference(x: np.ndarray, last: int) -> np.ndarray:
    """SRAM words 0..31 (as float32) of each PE after `vector_program`, in NumPy float32."""
    out = np.zeros((len(x), 32), dtype=np.float32)
    for pe, words in enumerate(x):
        sram = np.zeros(64, dtype=np.float32)
        sram[:WORDS] = words
        n, o = pe % 4, pe & 4
        sram[16 + o:16 + o + n] = sram[:n] + sram[o:o + n]
        sram[1:1 + n] = sram[:n].copy()
        sram[16 + o:16 + o + n] *= sram[7]
        sram[24:24 + n] = sram[1:1 + n] - sram[o:o + n]
        sram[last:last + n] = sram[16 + o:16 + o + n] * sram[24:24 + n]
        out[pe] = sram[:32]
    return out


def launch_vectors(x: np.ndarray, last: int):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    d_in, d_out = dev.to_device(x), dev.device_array((PES, 32), np.float32)
    stats = dev.launch(ws.assemble(vector_program(last)), (2, 1), (6, 5), (d_in, d_out), print_output=False)
    return d_out.copy_to_host(), stats


def test_vector_ops_in_register_runs_match_numpy_and_the_loop(monkeypatch):
    """Float32 vector ops and copies (lengths and ranges differing by PE, overlapping, in place) run in the register
    runs of groups by index: results, cycles, elements and FLOPs as the loop's, results as NumPy's; a range leaving
    SRAM at some PEs ends the run before it, and the loop raises the same error."""
    x = np.random.default_rng(4).standard_normal((PES, WORDS)).astype(np.float32)
    vector_stats = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block",
                        lambda *args: (lambda got: vector_stats.append(args[-1].copy()) or got)(original(*args)))
    for compiled in (False, True):
        with forced(Strategy(compiled=compiled, register_blocks=False)):
            reference = launch_vectors(x, 2)
        with forced(Strategy(compiled=compiled)):
            blocked = launch_vectors(x, 2)
        assert_same_run(reference, blocked)
        np.testing.assert_array_equal(blocked[0], vector_reference(x, 2))
        assert blocked[1].vector_elements == 5 * sum(pe % 4 for pe in range(PES))
    assert any(stats[0] for stats in vector_stats)  # (the vector ops ran in the runs)
    messages = []
    for blocks in (False, True):  # (the last vmul's range [62, 62 + n) leaves the 64 words where n = 3)
        with forced(Strategy(compiled=False, register_blocks=blocks)):
            with pytest.raises(ws.MemoryAccessError) as error:
                launch_vectors(x, 62)
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "vmul" in messages[0]


def test_queued_vgers_in_register_runs_are_identical_to_the_loop(monkeypatch):
    """`test_rank1_queue`'s rows of vgers (another destination, an operand inside its destination, diverging
    groups) with the register runs taking the vgers that join the queue, and without."""
    rng = np.random.default_rng(5)
    pes = 300
    x, y, c = (rng.random((pes, k), dtype=np.float32) for k in (40, 48, 24))
    queued = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block",
                        lambda *args: (lambda got: queued.append(got[1]) or got)(original(*args)))
    runs = []
    for strategy in (Strategy(compiled=False, register_blocks=False), Strategy(compiled=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=pes, height=1))
            d_out = dev.device_array((pes, 48))
            stats = rank1_rows[(1, 1), (pes, 1)](dev.to_device(x), dev.to_device(y), dev.to_device(c), d_out, 3, 4)
            runs.append((d_out.copy_to_host(), stats))
    assert_same_run(*runs)
    assert max(queued) >= 2


def test_a_run_is_the_longest_straight_run_of_its_instructions():
    """`RegisterRun` from a pc: the block's instructions up to the first other one, its vgers only where asked, and
    where its first load or store is."""
    text = "\n".join([".sram 64", "li r1, 4", "addi r2, r1, 3", "vger.f r3, r1, r2, r5", "add r4, r2, r2",
                      "ld r6, r0, 0", "halt"]) + "\n"
    program = ws.assemble(text)
    from wafersim.isa.encoding import decode

    ops = {pc: (instr, pc + instr.words, 1.0, None if instr.op == "halt" else object())
           for pc, instr in decode(program.code)}
    pcs = sorted(ops)
    plain = register_blocks.RegisterRun(ops, 0, False)
    assert plain.pcs == pcs[:2] and plain.after == pcs[2] and plain.vgers == 0
    with_updates = register_blocks.RegisterRun(ops, 0, True)
    assert with_updates.pcs == pcs[:5] and with_updates.after == pcs[5] and with_updates.vgers == 1
    assert with_updates.fields[2, 0] == -1 and list(with_updates.fields[2, 1:]) == [3, 1, 2, 5]
    assert with_updates.first_access == 4 and list(with_updates.fields[4]) == [-3, 6, 0, 0, 0]  # (the `ld`)
    assert plain.first_access == 2  # (none: the run's length)


@ws.jit
def gather_checked(table, picks, out):
    """out[x] = t[k + 1] + t[k // 2] for k = picks[x], the reads of the local array t bounds-checked (`chk`)."""
    x, y = ws.grid(2)
    t = ws.local.array(16, np.int32)
    t[0:16] = table[0:16]
    k = picks[x]
    out[x] = t[k + 1] + t[k // 2]


@pytest.mark.parametrize("wrong", [False, True])
def test_bounds_checks_run_in_register_runs_and_a_failing_one_ends_the_run(wrong, monkeypatch):
    """A `chk` joins a register run; one that fails in some lane ends the run before it, and the scheduler's loop
    raises its error: results, cycles and the error are those of one NumPy call per instruction."""
    pes = 96
    table = np.arange(16, dtype=np.int32) * 3 - 7
    picks = np.random.default_rng(4).integers(0, 15, pes).astype(np.int32)
    if wrong:
        picks[37] = 15
    checks = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block", lambda *args: (lambda got: checks.append(
        (register_block_kernels.CHK in args[0][:got[0], 0], got[0] < args[1])) or got)(original(*args)))
    outcomes = []
    for strategy in (Strategy(compiled=False, register_blocks=False), Strategy(compiled=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=pes, height=1))
            d_out = dev.device_array(pes, np.int32)
            try:
                stats = gather_checked[(1, 1), (pes, 1)](dev.to_device(table), dev.to_device(picks), d_out)
                outcomes.append((d_out.copy_to_host(), stats))
            except ws.MemoryAccessError as exc:
                outcomes.append(str(exc))
    if wrong:
        assert outcomes[0] == outcomes[1] and "index 16 is out of bounds for size 16" in outcomes[0]
        assert (False, True) in checks  # (a run ended before the check that failed)
    else:
        assert_same_run(*outcomes)
        np.testing.assert_array_equal(outcomes[1][0], table[picks + 1] + table[picks // 2])
    assert (True, False) in checks  # (checks that passed ran in a run)
