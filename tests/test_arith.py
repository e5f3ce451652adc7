"""The compiled interpreter's vector ops over a run of PEs at once (`arith.vector_op_dense`, element by element
with the PEs innermost) against the same op PE by PE (`arith.vector_op`) and against NumPy: bit for bit, on words
full of edge cases (NaN of both signs and two NaN operands, -0.0, infinities, INT_MIN, division by zero), with
the same statistics and cycles; float ops of PEs apart, each with ranges of its own, gathered; and where its
conditions do not hold (PEs not consecutive for an int op or a copy, registers that differ, ranges overlapping at
a shift, a range out of the data segment) it declines and changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim.compiled.arith import GATHER_AHEAD, vector_op, vector_op_dense
from wafersim.sim.compiled.kinds import (K_VADD, K_VCOPY, K_VDIV, K_VFILL, K_VFMA, K_VMAX, K_VMIN, K_VMUL,
                                         K_VSCALE, K_VSUB, STATS, VECTOR_ELEMENTS, FLOPS)
from wafersim.sim.compiled.table import A, B, C, D, FIELDS, FLOAT, KIND, SCALAR

PES, WORDS, VECTOR_LANES = 24, 64, 4
R_TARGET, R_SOURCE, R_OTHER, R_LENGTH = 1, 2, 3, 4  # registers of the op's operands
FLOAT_KINDS = (K_VADD, K_VSUB, K_VMUL, K_VMIN, K_VMAX, K_VFMA, K_VSCALE, K_VDIV)
INT_KINDS = (K_VADD, K_VSUB, K_VMUL, K_VMIN, K_VMAX, K_VFMA, K_VDIV)


def machine(seed: int):
    """(regs, sram) of PES PEs: registers r5.. random, SRAM words random or edge cases of both readings."""
    rng = np.random.default_rng(seed)
    specials = np.concatenate([
        np.array([np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf, 1.5, -2.5, 3e38, 1e-45], np.float32).view(np.int32),
        np.array([np.float32(np.nan)], np.float32).view(np.int32) | 0x1234,  # (a NaN with a payload)
        np.array([-2**31, -1, 0, 1, 2**31 - 1, 7, -7], np.int32)])
    sram = rng.integers(-2**31, 2**31, (WORDS, PES), dtype=np.int64).astype(np.int32)
    picks = rng.random(sram.shape) < 0.5
    sram[picks] = rng.choice(specials, picks.sum())
    regs = rng.integers(-2**31, 2**31, (8, PES), dtype=np.int64).astype(np.int32)
    regs[5:] = rng.choice(specials, (3, PES))
    return regs, sram


def instruction(kind: int, is_float: bool, scalar: bool) -> np.ndarray:
    fields = np.zeros((FIELDS, 1), dtype=np.int64)
    fields[KIND, 0], fields[FLOAT, 0], fields[SCALAR, 0] = kind, int(is_float), int(scalar)
    fields[D, 0], fields[A, 0], fields[B, 0], fields[C, 0] = R_TARGET, R_SOURCE, R_OTHER, R_LENGTH
    return fields


def set_ranges(regs, target, source, other, length, pes=slice(None)):
    regs[R_TARGET, pes], regs[R_SOURCE, pes], regs[R_OTHER, pes], regs[R_LENGTH, pes] = target, source, other, length


def pe_by_pe(kind, fields, regs, sram, pes):
    """`vector_op` for each PE of `pes`: (sram, stats, extras)."""
    regs, sram, stats = regs.copy(), sram.copy(), np.zeros(STATS, dtype=np.int64)
    scratch_int, scratch_float = np.empty(WORDS, np.int32), np.empty(WORDS, np.float32)
    extras = [vector_op(kind, 0, i, fields, regs, regs.view(np.float32), sram, sram.view(np.float32), VECTOR_LANES,
                        stats, scratch_int, scratch_float) for i in pes]
    return sram, stats, extras


def at_once(kind, fields, regs, sram, pes):
    """`vector_op_dense` over `pes`: (sram, stats, extra)."""
    regs, sram, stats = regs.copy(), sram.copy(), np.zeros(STATS, dtype=np.int64)
    extra = vector_op_dense(kind, 0, np.asarray(pes, dtype=np.int64), fields, regs, regs.view(np.float32), sram,
                            sram.view(np.float32), VECTOR_LANES, stats)
    return sram, stats, extra


CASES = [(kind, True, scalar) for kind in FLOAT_KINDS for scalar in (False, True)
         if not (kind == K_VSCALE and not scalar)]
CASES += [(kind, False, scalar) for kind in INT_KINDS for scalar in (False, True)]
CASES += [(K_VCOPY, False, False), (K_VCOPY, True, False), (K_VFILL, False, True)]


@pytest.mark.parametrize("kind,is_float,scalar", CASES)
@pytest.mark.parametrize("ranges", [(40, 0, 20, 13), (8, 8, 30, 16), (0, 0, 0, 0), (50, 10, 50, 14)])
def test_a_run_of_pes_at_once_gives_what_each_pe_alone_gives(kind, is_float, scalar, ranges):
    """Disjoint ranges, the target the source itself, an empty range, the target the second operand: every
    word, the statistics and the cycles equal `vector_op`'s PE by PE (two NaN operands included: the first
    one wins on both)."""
    fields = instruction(kind, is_float, scalar)
    for seed in (1, 2):
        regs, sram = machine(seed)
        target, source, other, length = ranges
        set_ranges(regs, target, source, other, length)
        if scalar:
            regs[R_OTHER] = regs[7]  # (a scalar operand: a value of its own on each PE)
        pes = range(3, 3 + 17)
        expected, expected_stats, extras = pe_by_pe(kind, fields, regs, sram, pes)
        got, stats, extra = at_once(kind, fields, regs, sram, pes)
        assert extras == [(0, extra)] * len(pes)  # (GO_ON, the same cycles on every PE)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(stats, expected_stats)


def test_float_ops_at_once_are_numpy_s_where_no_operand_is_nan():
    """vfma.f, vmin.f and vdiv.f over 17 PEs against NumPy's float32 operations (no two NaN operands, where
    NumPy's choice of NaN depends on its loop)."""
    regs, sram = machine(3)
    fsram = sram.view(np.float32)
    for rows in (slice(20, 36), slice(40, 56)):  # (the second operand and vfma's accumulator: x alone may be NaN)
        fsram[rows] = np.where(np.isnan(fsram[rows]), np.float32(0.5), fsram[rows])
    pes = np.arange(4, 21)
    set_ranges(regs, 40, 0, 20, 16)
    for kind, numpy_op in ((K_VFMA, lambda x, y, acc: acc + x * y), (K_VMIN, lambda x, y, acc: np.minimum(x, y)),
                           (K_VDIV, lambda x, y, acc: x / y)):
        got = at_once(kind, instruction(kind, True, False), regs, sram, pes)[0].view(np.float32)
        with np.errstate(all="ignore"):
            want = numpy_op(fsram[0:16, pes], fsram[20:36, pes], fsram[40:56, pes])
        np.testing.assert_array_equal(got[40:56, pes].view(np.int32), want.view(np.int32))
        np.testing.assert_array_equal(np.delete(got, pes, axis=1), np.delete(fsram, pes, axis=1))  # other PEs


@pytest.mark.parametrize("kind", [K_VFMA, K_VADD, K_VMIN, K_VDIV])
@pytest.mark.parametrize("ranges", [(40, 0, 20, 7), (8, 8, 30, 9), (50, 10, 50, 6)])
def test_a_nan_in_one_row_of_a_checked_group_gives_what_each_pe_alone_gives(kind, ranges):
    """Rows are checked for NaNs `NAN_CHECK_ROWS` at a time: finite words but for two NaN operands with payloads
    of their own in one row (each row of a 4-row group, and of a shorter last group, in turn), and the target the
    source, or the second operand, itself: every word equals `vector_op`'s PE by PE (the first NaN's payload)."""
    rng = np.random.default_rng(7)
    target, source, other, length = ranges
    fields = instruction(kind, True, False)
    for row in range(length):
        regs, _ = machine(8)
        sram = rng.standard_normal((WORDS, PES)).astype(np.float32).view(np.int32)
        set_ranges(regs, target, source, other, length)
        sram[source + row, 9] = np.int32(0x7FC00000 | 0x111)  # (two NaN operands on PE 9: quiet, two payloads)
        sram[other + row, 9] = np.int32(0x7FC00000 | 0x222)
        pes = range(3, 3 + 17)
        expected = pe_by_pe(kind, fields, regs, sram, pes)[0]
        got = at_once(kind, fields, regs, sram, pes)[0]
        np.testing.assert_array_equal(got, expected)


def test_statistics_count_every_pe_s_elements_and_flops():
    regs, sram = machine(4)
    set_ranges(regs, 40, 0, 20, 10)
    _, stats, extra = at_once(K_VFMA, instruction(K_VFMA, True, False), regs, sram, range(0, 12))
    assert stats[VECTOR_ELEMENTS] == 12 * 10 and stats[FLOPS] == 12 * 2 * 10
    assert extra == -(-10 // VECTOR_LANES)


GATHERED_PES = [17, 2, 9, 3, 22, 11, 5, 14, 0]  # (not side by side, not in order: PEs of several rows)


def own_ranges(regs, pes, length):
    """Each PE of `pes` its own ranges of `length` words: a target, a source (some the target itself) and a second
    operand (some the target itself), disjoint otherwise."""
    for n, i in enumerate(pes):
        target = 40 + n % 3
        source = target if n % 4 == 0 else n % 5
        other = target if n % 3 == 2 else 16 + n % 4
        set_ranges(regs, target, source, other, length, i)


@pytest.mark.parametrize("kind,scalar", [(kind, scalar) for kind, is_float, scalar in CASES
                                         if is_float and kind not in (K_VCOPY, K_VFILL)])
def test_float_ops_of_pes_apart_each_with_its_own_ranges_give_what_each_pe_alone_gives(kind, scalar):
    """Gathered (`_float_gathered`): PEs neither side by side nor in order, each reading and writing ranges of its
    own (one length): every word, the statistics and the cycles equal `vector_op`'s PE by PE."""
    fields = instruction(kind, True, scalar)
    for seed, length in ((1, 9), (2, 4), (3, 0)):
        regs, sram = machine(seed)
        own_ranges(regs, GATHERED_PES, length)
        if scalar:
            regs[R_OTHER] = regs[7]
        expected, expected_stats, extras = pe_by_pe(kind, fields, regs, sram, GATHERED_PES)
        got, stats, extra = at_once(kind, fields, regs, sram, GATHERED_PES)
        assert extras == [(0, extra)] * len(GATHERED_PES)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(stats, expected_stats)


def test_an_axpy_of_pes_apart_is_numpy_s():
    """vfma.f with a scalar per PE (`trsv`'s column axpys) over PEs apart, each its own source: NumPy's
    acc + x * y for each PE."""
    regs, sram = machine(6)
    fsram = sram.view(np.float32)
    fsram[:] = np.random.default_rng(6).standard_normal(fsram.shape).astype(np.float32)
    for n, i in enumerate(GATHERED_PES):
        set_ranges(regs, 48, 8 * (n % 5), 0, 8, i)
    fregs = regs.view(np.float32)
    fregs[R_OTHER] = np.random.default_rng(7).standard_normal(PES).astype(np.float32)  # (the scalar: x_c)
    got = at_once(K_VFMA, instruction(K_VFMA, True, True), regs, sram, GATHERED_PES)[0].view(np.float32)
    for n, i in enumerate(GATHERED_PES):
        source = 8 * (n % 5)
        want = fsram[48:56, i] + fsram[source:source + 8, i] * fregs[R_OTHER, i]
        np.testing.assert_array_equal(got[48:56, i], want)
    others = [i for i in range(PES) if i not in GATHERED_PES]
    np.testing.assert_array_equal(got[:, others], fsram[:, others])


@pytest.mark.parametrize("kind", [K_VFMA, K_VADD, K_VDIV])
def test_pes_apart_more_than_the_prefetch_distance_give_what_each_pe_alone_gives(kind):
    """Every PE of the machine gathered, in a shuffled order, more PEs than `GATHER_AHEAD` (the source lines of a
    PE that far on are prefetched where the source is not the target), each its own source range, some ending at
    the last data word, some the target itself: every word equals `vector_op`'s PE by PE."""
    rng = np.random.default_rng(11)
    pes = rng.permutation(PES)
    assert len(pes) > GATHER_AHEAD + 1 and pes[-1] - pes[0] != PES - 1  # (not side by side: gathered)
    regs, sram = machine(12)
    for n, i in enumerate(pes):
        target = 8 * (n % 3)
        source = target if n % 5 == 0 else WORDS - 8 if n % 4 == 0 else 24 + n
        set_ranges(regs, target, source, 32, 8, i)
    fields = instruction(kind, True, kind == K_VFMA)
    expected = pe_by_pe(kind, fields, regs, sram, pes)[0]
    np.testing.assert_array_equal(at_once(kind, fields, regs, sram, pes)[0], expected)


@pytest.mark.parametrize("case", ["an int op", "a copy", "another length", "shifted overlap of the source",
                                  "shifted overlap of b", "source out of range", "target out of range",
                                  "negative length"])
def test_pes_apart_decline_where_pe_by_pe_differs_and_change_nothing(case):
    """PEs apart: -1, with SRAM and statistics untouched, where one PE's ranges would make the gathered op differ
    from `vector_op` PE by PE, or the op is not a float op it runs gathered."""
    regs, sram = machine(9)
    own_ranges(regs, GATHERED_PES, 6)
    kind, is_float, one = K_VADD, True, GATHERED_PES[4]
    if case == "an int op":
        is_float = False
    elif case == "a copy":
        kind = K_VCOPY
    elif case == "another length":
        regs[R_LENGTH, one] = 5
    elif case == "shifted overlap of the source":
        regs[R_SOURCE, one] = regs[R_TARGET, one] + 2
    elif case == "shifted overlap of b":
        regs[R_OTHER, one] = regs[R_TARGET, one] - 3
    elif case == "source out of range":
        regs[R_SOURCE, one] = WORDS - 2
    elif case == "target out of range":
        regs[R_TARGET, one] = WORDS - 1
    else:
        regs[R_LENGTH, GATHERED_PES] = -1
    got, stats, extra = at_once(kind, instruction(kind, is_float, False), regs, sram, GATHERED_PES)
    assert extra == -1
    np.testing.assert_array_equal(got, sram)
    assert not stats.any()


@pytest.mark.parametrize("case", ["gap in the pes", "pes out of order", "another length", "another source",
                                  "another second range", "shifted overlap of the source", "shifted overlap of b",
                                  "source out of range", "target out of range", "negative length", "a reduction"])
def test_it_declines_where_pe_by_pe_differs_and_changes_nothing(case):
    """-1, and SRAM and statistics untouched, wherever running the PEs together could differ from `vector_op`
    PE by PE (which then runs it, refusing what it refuses)."""
    from wafersim.sim.compiled.kinds import K_VREDSUM
    regs, sram = machine(5)
    set_ranges(regs, 40, 0, 20, 10)
    pes, kind = list(range(2, 14)), K_VADD
    if case == "gap in the pes":
        pes.remove(7)
    elif case == "pes out of order":
        pes[3], pes[4] = pes[4], pes[3]
    elif case == "another length":
        regs[R_LENGTH, 9] = 9
    elif case == "another source":
        regs[R_SOURCE, 13] = 1
    elif case == "another second range":
        regs[R_OTHER, 2] = 21
    elif case == "shifted overlap of the source":
        set_ranges(regs, 40, 38, 20, 10)
    elif case == "shifted overlap of b":
        set_ranges(regs, 40, 0, 45, 10)
    elif case == "source out of range":
        set_ranges(regs, 40, WORDS - 5, 20, 10)
    elif case == "target out of range":
        set_ranges(regs, WORDS - 3, 0, 20, 10)
    elif case == "negative length":
        set_ranges(regs, 40, 0, 20, -1)
    else:
        kind = K_VREDSUM
    is_float = case not in ("gap in the pes", "pes out of order")  # (a float op of PEs apart runs gathered)
    got, stats, extra = at_once(kind, instruction(kind, is_float, False), regs, sram, pes)
    assert extra == -1
    np.testing.assert_array_equal(got, sram)
    assert not stats.any()
