"""The compiled float16 vector instructions (sim/half_vector_kernels.py) against NumPy's float16 and float32 on the
same words, bit for bit (NaN payloads included): every operation over drawn and special bit patterns, over a range
of columns and over listed ones, with a scalar operand; and through the engine, operand ranges overlapping the
destination at another offset, against NumPy and the NumPy executors (`Strategy.compiled_half_vectors` off)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import half_vector_kernels as kernels
from wafersim.sim.strategy import Strategy, forced

ROWS, PES = 5, 2600  # (more PEs than a block of `kernels.BLOCK`, and not a multiple of it)
# zeros, ones, the largest and smallest normals, subnormals, infinities, NaNs with payloads (quiet and not)
SPECIAL_HALVES = np.array([0x0000, 0x8000, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x0400, 0x8400, 0x0001, 0x83FF, 0x7C00,
                           0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7D21, 0xFD03, 0x3C01, 0x1000], dtype=np.int32)
# float32 words: float16's overflow boundary and a tie below it, a subnormal tie, NaNs, infinities, tiny values
SPECIAL_FLOATS = np.array([0x477FEFFF, 0x477FF000, 0x47800000, 0x33000000, 0x33000001, 0x387FC000, 0x7F800001,
                           0x7FC00000, 0x7F802000, 0xFF800000, 0x00000001, 0x80000000, 0x3F800000], dtype=np.uint32)


def half_words(rng: np.random.Generator) -> np.ndarray:
    """ROWS x PES words of float16 bits: three quarters drawn values of moderate size, the rest any pattern,
    the special ones among them."""
    values = (rng.standard_normal((ROWS, PES)) * 8).astype(np.float16).view(np.uint16).astype(np.int32)
    anything = rng.integers(0, 1 << 16, (ROWS, PES), dtype=np.int32)
    words = np.where(rng.random((ROWS, PES)) < 0.75, values, anything)
    words.ravel()[rng.choice(words.size, 64 * len(SPECIAL_HALVES), replace=False)] = np.repeat(SPECIAL_HALVES, 64)
    return words


def float_words(rng: np.random.Generator) -> np.ndarray:
    """ROWS x PES float32 words: drawn values, any pattern, the special ones."""
    values = (rng.standard_normal((ROWS, PES)) * 1000).astype(np.float32).view(np.int32)
    anything = rng.integers(0, 1 << 32, (ROWS, PES), dtype=np.uint64).astype(np.uint32).view(np.int32)
    words = np.where(rng.random((ROWS, PES)) < 0.75, values, anything)
    words.ravel()[rng.choice(words.size, 64 * len(SPECIAL_FLOATS), replace=False)] = np.repeat(
        SPECIAL_FLOATS.view(np.int32), 64)
    return words


def halves(words: np.ndarray) -> np.ndarray:
    return words.astype(np.uint16).view(np.float16)


def bits(values: np.ndarray) -> np.ndarray:
    return values.view(np.uint16 if values.dtype == np.float16 else np.int32).astype(np.int32)


def numpy_result(op: str, acc: np.ndarray, x: np.ndarray, y: np.ndarray | None, scalar: np.ndarray | None):
    """What NumPy computes: the 16-bit ops on float16 arrays (a scalar operand cast to float16), `vwfma` in
    float32 on the widened factors, the casts."""
    with np.errstate(all="ignore"):
        if op == "vcvtf":
            return bits(halves(x).astype(np.float32))
        if op == "vcvth":
            return bits(x.view(np.float32).astype(np.float16))
        if op == "vwfma":
            factor = scalar if scalar is not None else halves(y).astype(np.float32)
            return bits(acc.view(np.float32) + halves(x).astype(np.float32) * factor)
        other = scalar.astype(np.float16) if scalar is not None else halves(y)
        if op == "vhfma":
            return bits(halves(acc) + halves(x) * other)
        ufunc = {"vhadd": np.add, "vhsub": np.subtract, "vhmul": np.multiply, "vhmin": np.minimum,
                 "vhmax": np.maximum}[op]
        return bits(ufunc(halves(x), other))


def run_kernel(op: str, acc: np.ndarray, x: np.ndarray, y: np.ndarray, scalar: np.ndarray | None,
               cols: np.ndarray | None) -> np.ndarray:
    """`half_vector` with the destination at rows [0, ROWS), x at [ROWS, 2 ROWS), y at [2 ROWS, 3 ROWS) of one
    word array (over columns 0..PES, or `cols`); the destination rows after it."""
    words = np.concatenate([acc, x, y]).astype(np.int32)
    code, ys, b, step = kernels.OPERATIONS[op], words, 2 * ROWS, 1
    if scalar is not None:
        ys, b, step = np.ascontiguousarray(scalar.view(np.int32)[None, :]), 0, 0
        if op == "vwfma":
            code = kernels.WIDE_FMA_SCALAR
        else:
            with np.errstate(over="ignore"):
                ys = bits(scalar.astype(np.float16))[None, :].copy()
    no_cols = np.empty(0, dtype=np.int64)
    kernels.half_vector(code, words, 0, words, ROWS, ys, b, step, ROWS, 0, PES, no_cols if cols is None else cols)
    return words[:ROWS]


OPS = sorted(kernels.OPERATIONS)


#: (operation, whether its second operand is a scalar): the conversions take no second operand
OPERANDS = [(op, scalar) for op in OPS for scalar in (False, True) if not (scalar and op in ("vcvtf", "vcvth"))]


@pytest.mark.parametrize("op,scalar_operand", OPERANDS)
@pytest.mark.parametrize("columns", ["range", "listed"])
def test_each_operation_gives_numpy_s_bits(op, scalar_operand, columns):
    rng = np.random.default_rng(OPS.index(op) * 4 + 2 * scalar_operand + (columns == "listed"))
    acc = float_words(rng) if op == "vwfma" else half_words(rng)
    x = float_words(rng) if op == "vcvth" else half_words(rng)
    y = half_words(rng)
    scalar = None
    if scalar_operand:  # a float32 per PE: drawn, and the specials (rounded to float16 by the 16-bit ops)
        scalar = float_words(rng)[0].view(np.float32)
    cols = np.sort(rng.choice(PES, PES // 3, replace=False)).astype(np.int64) if columns == "listed" else None
    got = run_kernel(op, acc, x, y, scalar, cols)
    want = numpy_result(op, acc, x, y, scalar)
    if cols is not None:  # the other PEs' words untouched
        want = np.where(np.isin(np.arange(PES), cols)[None, :], want, acc)
    np.testing.assert_array_equal(got, want, err_msg=op)


N = 7
# PE i's 3N input words (float16 bits) at global word i * 3N go to SRAM [0, 3N); one 16-bit op with its
# destination at `dst` and its operands at [0, N) and [N, 2N) (both may overlap the destination); SRAM [0, 3N)
# goes back.
OVERLAP_PROGRAM = """
.name overlap
.sram {words}
.args 2
    sreg r1, tid.x
    muli r2, r1, {bytes}
    arg r3, 0
    add r3, r3, r2
    li r4, 0
    li r5, {words}
    gldv r4, r3, r5
    li r6, {dst}
    li r7, {n}
    li r8, {n}
    {op} r6, r4, {operands}
    arg r3, 1
    add r3, r3, r2
    gstv r3, r4, r5
    halt
"""


@pytest.mark.parametrize("op", ["vhadd", "vhsub", "vhfma", "vwfma", "vcvtf"])
@pytest.mark.parametrize("dst", [1, N - 2, 2 * N - 3])  # overlapping x (ahead or behind), y, or both
def test_operands_overlapping_the_destination_are_read_before_it_is_written(op, dst):
    pes = 40
    rng = np.random.default_rng(dst)
    words = (rng.standard_normal((pes, 3 * N)) * 4).astype(np.float16).view(np.uint16).astype(np.int32)
    if op == "vwfma":  # a float32 destination
        words[:, dst:dst + N] = (rng.standard_normal((pes, N)) * 4).astype(np.float32).view(np.int32)
    operands = "r8" if op == "vcvtf" else "r7, r8"
    program = ws.assemble(OVERLAP_PROGRAM.format(words=3 * N, bytes=4 * 3 * N, dst=dst, n=N, op=op, operands=operands))
    outs = []
    for strategy in (Strategy(), Strategy(compiled_half_vectors=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=pes, height=1))
            d_out = dev.device_array(words.shape, np.int32)
            ws.Kernel(program)[(1, 1), (pes, 1)](dev.to_device(words), d_out)
            outs.append(d_out.copy_to_host())
    np.testing.assert_array_equal(outs[0], outs[1])
    want = words.copy()
    x, y, acc = words[:, :N], words[:, N:2 * N], words[:, dst:dst + N]
    want[:, dst:dst + N] = numpy_result(op, acc, x, y, None)
    np.testing.assert_array_equal(outs[0], want)
