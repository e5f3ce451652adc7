"""`register_block_kernels.run_block`'s register instructions over a dense group's rows, called directly on a
register file wider than a pass's piece (`CHUNK`): every kind a register run may hold, with its destination
apart from its sources, the same row as one of them or both (`addi r13, r13, 1`: the loops then read the row
they write), against NumPy's int32 ufuncs (wrapped) on random values and the extremes, and its float32 ones
(infinities, zeros, subnormals, NaNs quiet and signalling: `compiled.arith`'s NaN rule), the PEs outside the
window untouched and those left out of the group given their registers back."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import register_block_kernels as kernels
from wafersim.sim.compiled import kinds
from wafersim.sim.register_blocks import BLOCK_OPS, FLOAT_BLOCK_OPS

N, LO, HI = 2 * kernels.CHUNK + 777, 5, 2 * kernels.CHUNK + 700  # (pieces: two whole, one part)
OUTSIDE = np.array([LO + 2, LO + kernels.CHUNK, HI - 1], dtype=np.int64)
INT_MIN, INT_MAX = -2**31, 2**31 - 1
_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "and": np.bitwise_and, "or": np.bitwise_or,
           "xor": np.bitwise_xor, "min": np.minimum, "max": np.maximum, "slt": np.less, "sle": np.less_equal,
           "seq": np.equal, "sne": np.not_equal}
_IMMEDIATE = {"addi": np.add, "muli": np.multiply, "andi": np.bitwise_and, "ori": np.bitwise_or,
              "xori": np.bitwise_xor, "slti": np.less, "seqi": np.equal}
INT_OPS = sorted(BLOCK_OPS - FLOAT_BLOCK_OPS)
# (d, a, b): apart, d is a, d is b, d is a and b
REGISTERS = [(5, 3, 4), (3, 3, 4), (4, 3, 4), (3, 3, 3)]


def reference(op: str, imm: int, x: np.ndarray, y: np.ndarray, old: np.ndarray) -> np.ndarray:
    """The instruction's int32 result over rows x (a) and y (b), `old` the destination's row before it."""
    if op == "nop":
        return old
    if op == "li":
        return np.full_like(old, imm)
    if op == "mov":
        return x.copy()
    if op in _BINARY:
        return _BINARY[op](x, y).astype(np.int32)
    return _IMMEDIATE[op](x.astype(np.int64), imm).astype(np.int32)  # (the immediate as an int, wrapped)


def registers(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    regs = rng.integers(INT_MIN, INT_MAX + 1, (8, N), dtype=np.int64).astype(np.int32)
    edges = np.array([INT_MIN, INT_MIN + 1, INT_MAX, -1, 0, 1, 7], dtype=np.int32)
    picks = rng.random(regs.shape) < 0.3
    regs[picks] = rng.choice(edges, picks.sum())
    regs[4, ::5] = regs[3, ::5]  # (equal operands: comparisons' both answers)
    regs[1], regs[2] = 0, 1  # (a `chk r1, r2` that passes everywhere)
    return regs


def run(fields: list[tuple[int, int, int, int, int]], regs: np.ndarray) -> int:
    """`run_block` over the window LO .. HI but `OUTSIDE` (the float registers: `regs` as float32, as a wave's)."""
    empty = np.empty(0, dtype=np.int64)
    fields_array = np.array(fields, dtype=np.int64).reshape(len(fields), kernels.COLUMNS)
    sram = np.zeros((4, N), dtype=np.int32)
    ran, queued, _, _ = kernels.run_block(fields_array, len(fields), True, LO, HI, OUTSIDE, empty, regs,
                                          regs.view(np.float32), sram, sram.view(np.float32),
                                          np.empty((1, 3, 0), dtype=np.int64), 0, 0, 0, 4, 8, np.zeros(0),
                                          np.zeros(kinds.STATS, np.int64))
    assert queued == 0
    return ran


@pytest.mark.parametrize("checked", [False, True], ids=["in pieces", "whole rows"])
@pytest.mark.parametrize("op", INT_OPS)
def test_int_register_instructions_over_rows_match_numpy(op, checked):
    kind = getattr(kinds, "K_" + op.upper())
    for seed, imm in enumerate([1, -1, INT_MAX, INT_MIN, 0x1F0F, 3]):
        for d, a, b in REGISTERS:
            regs = registers(seed)
            before = regs.copy()
            want = reference(op, imm, before[a], before[b], before[d])
            # (a leading `chk` is not a register instruction: the pass then runs each instruction over the whole
            # window rather than piece by piece)
            fields = ([(kernels.CHK, 0, 1, 2, 0)] if checked else []) + [(kind, d, a, b, imm)]
            assert run(fields, regs) == len(fields)
            inside = np.zeros(N, dtype=bool)
            inside[LO:HI] = True
            inside[OUTSIDE] = False
            np.testing.assert_array_equal(regs[d, inside], want[inside], err_msg=f"{op} r{d}, r{a}, r{b} / {imm}")
            np.testing.assert_array_equal(regs[d, ~inside], before[d, ~inside])
            others = [r for r in range(len(regs)) if r != d]
            np.testing.assert_array_equal(regs[others], before[others])


def float_reference(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """fadd/fsub/fmul's float32 bits: NumPy's, but a NaN operand's result is that NaN quieted, the first
    operand's of two (`compiled.arith`'s rule)."""
    got = {"fadd": np.add, "fsub": np.subtract, "fmul": np.multiply}[op](x, y).view(np.uint32)
    quiet_x, quiet_y = x.view(np.uint32) | 0x400000, y.view(np.uint32) | 0x400000
    return np.where(np.isnan(x), quiet_x, np.where(np.isnan(y), quiet_y, got))


@pytest.mark.parametrize("checked", [False, True], ids=["in pieces", "whole rows"])
@pytest.mark.parametrize("op", sorted(FLOAT_BLOCK_OPS))
def test_float_register_instructions_over_rows_match_numpy(op, checked):
    kind = getattr(kinds, "K_" + op.upper())
    rng = np.random.default_rng(7)
    for d, a, b in REGISTERS:
        regs = registers(0)
        fregs = regs.view(np.float32)  # (rows 1 and 2 kept: the `chk`'s)
        fregs[3:] = rng.standard_normal(fregs[3:].shape).astype(np.float32)
        specials = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3e38], np.float32)
        picks = rng.random(fregs[3:].shape) < 0.2
        fregs[3:][picks] = rng.choice(specials, picks.sum())
        regs[3:][rng.random(fregs[3:].shape) < 0.02] = 0x7F800001  # (a signalling NaN)
        before = fregs.copy()
        want = float_reference(op, before[a], before[b])
        fields = ([(kernels.CHK, 0, 1, 2, 0)] if checked else []) + [(kind, d, a, b, 0)]
        assert run(fields, regs) == len(fields)
        inside = np.zeros(N, dtype=bool)
        inside[LO:HI] = True
        inside[OUTSIDE] = False
        np.testing.assert_array_equal(fregs[d, inside].view(np.uint32), want[inside], err_msg=f"{op} f{d}, f{a}, f{b}")
        np.testing.assert_array_equal(fregs[d, ~inside].view(np.uint32), before[d, ~inside].view(np.uint32))
        others = [r for r in range(len(fregs)) if r != d]
        np.testing.assert_array_equal(fregs[others].view(np.uint32), before[others].view(np.uint32))


# A vector op over lanes by index (`_vector_op`: element by element over the lanes, each lane's result whole
# before its stores), against each lane's own NumPy arithmetic on its SRAM column, the lanes' lengths, bases and
# overlaps all different: lengths 0 to 9, a destination overlapping its source at shifts -3 .. 3 or the
# other operand, the PEs between the lanes untouched.
VECTOR_PES, VECTOR_WORDS = 1024, 48  # (a row of SRAM 4 KiB: the stride the element-major walk is for)
_VECTOR = {"vadd": (kinds.BLOCK_VADD, np.add), "vsub": (kinds.BLOCK_VSUB, np.subtract),
           "vmul": (kinds.BLOCK_VMUL, np.multiply), "vscale": (kinds.BLOCK_VSCALE, np.multiply),
           "vcopy": (kinds.BLOCK_VCOPY, None)}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("op", sorted(_VECTOR))
def test_vector_ops_over_lanes_by_index_match_each_lane(op, seed):
    rng = np.random.default_rng(seed)
    kind, ufunc = _VECTOR[op]
    pes = np.sort(rng.choice(VECTOR_PES, 40, replace=False)).astype(np.int64)
    regs = np.zeros((8, VECTOR_PES), dtype=np.int32)
    length = rng.integers(0, 10, len(pes))
    length[:2] = 0, 1
    src = rng.integers(4, 30, len(pes))
    regs[1, pes], regs[4, pes] = length, src  # (c: the length; a: the first operand)
    regs[3, pes] = src + rng.integers(-3, 4, len(pes))  # (d: the destination, overlapping a's range)
    regs[3, pes[::7]] = rng.integers(0, 38, len(pes[::7]))
    if op == "vscale":
        regs.view(np.float32)[2, pes] = rng.standard_normal(len(pes)).astype(np.float32)  # (b: the factor)
    else:
        regs[2, pes] = np.where(rng.random(len(pes)) < 0.3, regs[3, pes], rng.integers(0, 38, len(pes)))
    sram = rng.standard_normal((VECTOR_WORDS, VECTOR_PES)).astype(np.float32).view(np.int32)
    expected = sram.copy()
    words = expected.view(np.float32)
    for i in pes:  # (each lane alone, its operands read whole before its stores)
        n, dst, a = regs[1, i], regs[3, i], regs[4, i]
        if op == "vcopy":
            expected[dst:dst + n, i] = expected[a:a + n, i].copy()
        elif op == "vscale":
            words[dst:dst + n, i] = words[a:a + n, i] * regs.view(np.float32)[2, i]
        else:
            b = regs[2, i]
            words[dst:dst + n, i] = ufunc(words[a:a + n, i], words[b:b + n, i])
    fields = np.array([[kind, 3, 4, 2, 1]], dtype=np.int64)
    element_cycles, stats = np.zeros(len(pes)), np.zeros(kinds.STATS, np.int64)
    ran, _, _, _ = kernels.run_block(fields, 1, False, 0, VECTOR_PES, np.empty(0, dtype=np.int64), pes, regs,
                                     regs.view(np.float32), sram, sram.view(np.float32),
                                     np.empty((1, 3, 0), dtype=np.int64), 0, 0, 0, VECTOR_WORDS, 4, element_cycles,
                                     stats)
    assert ran == 1
    np.testing.assert_array_equal(sram, expected)  # (bit for bit: float32 rounding per element, as NumPy's)
    np.testing.assert_array_equal(element_cycles, -(-length // 4))
    assert stats[kinds.VECTOR_ELEMENTS] == length.sum()
    assert stats[kinds.FLOPS] == (0 if op == "vcopy" else length.sum())


def test_vector_op_leaving_sram_in_one_lane_does_nothing():
    pes = np.array([3, 700, 1000], dtype=np.int64)
    regs = np.zeros((8, VECTOR_PES), dtype=np.int32)
    regs[1, pes], regs[4, pes], regs[3, pes], regs[2, pes] = 5, 2, 10, 20
    regs[2, 1000] = VECTOR_WORDS - 4  # (its second operand's last word past the data segment)
    sram = np.arange(VECTOR_WORDS * VECTOR_PES, dtype=np.int32).reshape(VECTOR_WORDS, VECTOR_PES)
    before = sram.copy()
    fields = np.array([[kinds.BLOCK_VADD, 3, 4, 2, 1]], dtype=np.int64)
    ran, _, _, _ = kernels.run_block(fields, 1, False, 0, VECTOR_PES, np.empty(0, dtype=np.int64), pes, regs,
                                     regs.view(np.float32), sram, sram.view(np.float32),
                                     np.empty((1, 3, 0), dtype=np.int64), 0, 0, 0, VECTOR_WORDS, 4,
                                     np.zeros(len(pes)), np.zeros(kinds.STATS, np.int64))
    assert ran == 0
    np.testing.assert_array_equal(sram, before)
