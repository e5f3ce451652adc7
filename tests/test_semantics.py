"""Differential tests of instruction semantics: every PE runs one instruction on its own inputs and the
results are compared, per PE, with an independent NumPy / pure-Python reference.

Each kernel computes the PE's global linear index i = gy * (gdim.x * bdim.x) + gx, loads a[i], b[i],
c[i] with `gld` (byte address base + 4 * i), applies one instruction and stores the result with `gst`.
The launch covers several blocks and more blocks than the wafer has slots (two waves), and the last
few PEs take the `i >= n` branch, so divergent control flow runs in every launch.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, truncated_division
from test_isa_float_math import exact_fmas
from wafersim.kernels.assembly import GLOBAL_INDEX

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

SPEC = ws.WaferSpec(width=16, height=16)
GRID, BLOCK = (4, 4), (4, 8)  # 16 blocks of 32 PEs on 8 slots: two waves
N_PES = GRID[0] * GRID[1] * BLOCK[0] * BLOCK[1]
N_ACTIVE = N_PES - 5  # the last 5 PEs branch around the body
SENTINEL = np.int32(0x5A5A5A5A)

_INDEX = GLOBAL_INDEX  # i = gy * (gdim.x * bdim.x) + gx, in r1

# args: a, b, c, out, n.  Inputs land in r20, r21, r22; the body leaves its result in r23.
_TEMPLATE = """
.name semantics
.args 5
""" + _INDEX + """
    arg r8, 4
    slt r9, r1, r8
    bz r9, done           # PEs with i >= n skip everything
    shli r10, r1, 2
    arg r11, 0
    add r11, r11, r10
    gld r20, r11, 0       # a[i]
    arg r11, 1
    add r11, r11, r10
    gld r21, r11, 0       # b[i]
    arg r11, 2
    add r11, r11, r10
    gld r22, r11, 0       # c[i]
{body}
    arg r11, 3
    add r11, r11, r10
    gst r23, r11, 0       # out[i]
done:
    halt
"""


@pytest.fixture(scope="module")
def dev():
    return ws.Device(SPEC)


def run_body(dev, body: str, a, b=None, c=None, n: int = N_ACTIVE) -> np.ndarray:
    """Run `body` on every PE; returns out[:N_PES] as raw int32 words (untouched entries hold SENTINEL)."""
    def words(x):
        x = np.zeros(N_PES, np.int32) if x is None else np.asarray(x)
        assert x.shape == (N_PES,) and x.dtype.itemsize == 4
        return dev.to_device(np.ascontiguousarray(x).view(np.int32))

    d_out = dev.to_device(np.full(N_PES, SENTINEL, np.int32))
    program = ws.assemble(_TEMPLATE.format(body=body))
    ws.Kernel(program)[GRID, BLOCK](words(a), words(b), words(c), d_out, n)
    out = d_out.copy_to_host()
    np.testing.assert_array_equal(out[n:], SENTINEL, err_msg="PEs with i >= n must not store")
    return out


# ----------------------------------------------------------------------------- inputs
EDGE_INTS = [0, 1, -1, 2, -2, 3, -7, 31, 32, 33, 100, INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1, 0x55555555]


def int_inputs(seed: int):
    """a, b, c: every pair of edge values, then random words (some small, some full range)."""
    rng = np.random.default_rng(seed)
    edge = np.array(EDGE_INTS, dtype=np.int64)
    a = np.repeat(edge, len(edge))
    b = np.tile(edge, len(edge))
    rest = N_PES - len(a)
    ra = np.concatenate([rng.integers(INT_MIN, INT_MAX, rest // 2, endpoint=True),
                         rng.integers(-100, 100, rest - rest // 2)])
    rb = np.concatenate([rng.integers(INT_MIN, INT_MAX, rest // 2, endpoint=True),
                         rng.integers(-40, 40, rest - rest // 2)])
    a = np.concatenate([a, ra]).astype(np.int32)
    b = np.concatenate([b, rb]).astype(np.int32)
    c = rng.choice(np.concatenate([edge, rng.integers(INT_MIN, INT_MAX, 32, endpoint=True)]), N_PES).astype(np.int32)
    return a, b, c


FLT_MAX = float(np.finfo(np.float32).max)
EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.inf, -np.inf, np.nan, 1e-45, FLT_MAX, -FLT_MAX, 1e-38, 3.0,
               100.0, 7.25]


def float_inputs(seed: int):
    rng = np.random.default_rng(seed)
    edge = np.array(EDGE_FLOATS, dtype=np.float32)
    a = np.repeat(edge, len(edge))
    b = np.tile(edge, len(edge))
    rest = N_PES - len(a)
    ra = (rng.standard_normal(rest) * 10.0 ** rng.integers(-3, 4, rest)).astype(np.float32)
    rb = (rng.standard_normal(rest) * 10.0 ** rng.integers(-3, 4, rest)).astype(np.float32)
    a = np.concatenate([a, ra]).astype(np.float32)
    b = np.concatenate([b, rb]).astype(np.float32)
    c = rng.choice(np.concatenate([edge, rng.standard_normal(32).astype(np.float32)]), N_PES).astype(np.float32)
    return a, b, c


# ----------------------------------------------------------------------------- int32 reference (pure Python)
INT_REF = {
    "add": lambda a, b, c: int32_wrap(a + b),
    "sub": lambda a, b, c: int32_wrap(a - b),
    "mul": lambda a, b, c: int32_wrap(a * b),
    "div": lambda a, b, c: -1 if b == 0 else int32_wrap(truncated_division(a, b)),
    "rem": lambda a, b, c: a if b == 0 else int32_wrap(a - b * truncated_division(a, b)),
    "and": lambda a, b, c: int32_wrap(a & b),
    "or": lambda a, b, c: int32_wrap(a | b),
    "xor": lambda a, b, c: int32_wrap(a ^ b),
    "shl": lambda a, b, c: int32_wrap(a << (b & 31)),
    "shr": lambda a, b, c: int32_wrap((a & 0xFFFFFFFF) >> (b & 31)),
    "sra": lambda a, b, c: a >> (b & 31),
    "min": lambda a, b, c: min(a, b),
    "max": lambda a, b, c: max(a, b),
    "slt": lambda a, b, c: int(a < b),
    "sle": lambda a, b, c: int(a <= b),
    "seq": lambda a, b, c: int(a == b),
    "sne": lambda a, b, c: int(a != b),
}
INT_UNARY_REF = {
    "mov": lambda a: a,
    "neg": lambda a: int32_wrap(-a),
    "abs": lambda a: int32_wrap(abs(a)),
}


def ref_map(fn, *cols) -> np.ndarray:
    return np.array([fn(*map(int, vals)) for vals in zip(*cols)], dtype=np.int64).astype(np.int32)


@pytest.mark.parametrize("op", sorted(INT_REF))
def test_int_binary(dev, op):
    a, b, c = int_inputs(seed=sum(map(ord, op)))
    out = run_body(dev, f"    {op} r23, r20, r21", a, b)
    expected = ref_map(lambda x, y: INT_REF[op](x, y, 0), a, b)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE], err_msg=op)


def test_div_rem_documented_corner_cases(dev):
    a = np.zeros(N_PES, np.int32)
    b = np.ones(N_PES, np.int32)
    cases = [(7, 0, -1, 7), (-7, 0, -1, -7), (0, 0, -1, 0), (INT_MIN, -1, INT_MIN, 0), (INT_MIN, 0, -1, INT_MIN),
             (-7, 2, -3, -1), (7, -2, -3, 1), (-7, -2, 3, -1), (INT_MAX, -1, -INT_MAX, 0), (INT_MIN, 2, -(2**30), 0)]
    for k, (x, y, _, _) in enumerate(cases):
        a[k], b[k] = x, y
    q = run_body(dev, "    div r23, r20, r21", a, b)
    r = run_body(dev, "    rem r23, r20, r21", a, b)
    for k, (x, y, eq, er) in enumerate(cases):
        assert (int(q[k]), int(r[k])) == (eq, er), f"{x} div/rem {y}"


@pytest.mark.parametrize("op", sorted(INT_UNARY_REF))
def test_int_unary(dev, op):
    a, _, _ = int_inputs(seed=5)
    out = run_body(dev, f"    {op} r23, r20", a)
    np.testing.assert_array_equal(out[:N_ACTIVE], ref_map(INT_UNARY_REF[op], a)[:N_ACTIVE], err_msg=op)


def test_abs_neg_int_min_wrap(dev):
    a = np.full(N_PES, INT_MIN, np.int32)
    assert (run_body(dev, "    abs r23, r20", a)[:N_ACTIVE] == INT_MIN).all()
    assert (run_body(dev, "    neg r23, r20", a)[:N_ACTIVE] == INT_MIN).all()


def test_sel(dev):
    a, b, c = int_inputs(seed=11)
    a[::3] = 0  # plenty of zero selectors
    out = run_body(dev, "    sel r23, r20, r21, r22", a, b, c)
    expected = np.where(a != 0, b, c)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE])


def test_sel_passes_float_bits_unchanged(dev):
    a, _, _ = int_inputs(seed=12)
    a[::2] = 0
    fb, fc, _ = float_inputs(seed=12)
    out = run_body(dev, "    sel r23, r20, r21, r22", a, fb, fc)
    expected = np.where(a != 0, fb.view(np.int32), fc.view(np.int32))
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE])


IMM_OPS = {
    "addi": "add", "muli": "mul", "andi": "and", "ori": "or", "xori": "xor", "shli": "shl", "shri": "shr",
    "srai": "sra", "slti": "slt", "seqi": "seq",
}


@pytest.mark.parametrize("op", sorted(IMM_OPS))
@pytest.mark.parametrize("imm", [0, 1, -1, 5, -8192, 8191, 31, 33, 100, -3])
def test_int_immediate(dev, op, imm):
    a, _, _ = int_inputs(seed=21)
    a[:4] = [imm, imm - 1, imm + 1, -imm]  # equal / nearly equal to the immediate
    out = run_body(dev, f"    {op} r23, r20, {imm}", a)
    expected = ref_map(lambda x: INT_REF[IMM_OPS[op]](x, imm, 0), a)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE], err_msg=f"{op} {imm}")


def _f32_bits(text: str) -> int:
    return struct.unpack("<i", struct.pack("<f", float(text)))[0]


@pytest.mark.parametrize("literal, expected", [
    ("0", 0), ("-1", -1), ("123456", 123456), ("2147483647", INT_MAX), ("-2147483648", INT_MIN),
    ("0xFFFFFFFF", -1), ("0x80000000", INT_MIN), ("0xDEADBEEF", int32_wrap(0xDEADBEEF)), ("0x7fff_ffff", INT_MAX),
    ("4294967295", -1), ("0b1011", 11),
    ("1.5", _f32_bits("1.5")), ("-0.0", int32_wrap(0x80000000)), ("0.1", _f32_bits("0.1")), ("3.4e38", _f32_bits("3.4e38")),
    ("1e-3", _f32_bits("1e-3")), ("inf", 0x7F800000), ("-inf", int32_wrap(0xFF800000)),
])
def test_li(dev, literal, expected):
    a = np.zeros(N_PES, np.int32)
    out = run_body(dev, f"    li r23, {literal}", a)
    assert (out[:N_ACTIVE] == np.int32(expected)).all(), (literal, out[:4], expected)


def test_li_float_literal_is_float32_bits(dev):
    a = np.zeros(N_PES, np.int32)
    out = run_body(dev, "    li r23, 0.3", a)
    assert (out[:N_ACTIVE].view(np.float32) == np.float32(0.3)).all()


# ----------------------------------------------------------------------------- float32
def assert_float_bits(actual_words: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    """Bit-exact float32 comparison; any nan matches any nan."""
    actual = actual_words.view(np.float32)
    expected = np.asarray(expected, dtype=np.float32)
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    np.testing.assert_array_equal(nan_a, nan_e, err_msg=f"{what}: nan positions")
    np.testing.assert_array_equal(actual_words[~nan_e], expected.view(np.int32)[~nan_e], err_msg=what)


FLOAT_BINARY_REF = {
    "fadd": np.add, "fsub": np.subtract, "fmul": np.multiply, "fdiv": np.divide,
}
FLOAT_MINMAX_REF = {"fmin": np.minimum, "fmax": np.maximum}
FLOAT_CMP_REF = {"flt": np.less, "fle": np.less_equal, "feq": np.equal, "fne": np.not_equal}


@pytest.mark.parametrize("op", sorted(FLOAT_BINARY_REF))
def test_float_arith(dev, op):
    a, b, _ = float_inputs(seed=31)
    out = run_body(dev, f"    {op} r23, r20, r21", a, b)
    with np.errstate(all="ignore"):
        expected = FLOAT_BINARY_REF[op](a, b)
    assert_float_bits(out[:N_ACTIVE], expected[:N_ACTIVE], op)


def test_fdiv_by_zero(dev):
    a = np.tile(np.array([1.0, -1.0, 0.0, -0.0, np.inf, np.nan, 3.5, -1e-30], np.float32), N_PES // 8)
    b = np.tile(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0], np.float32), N_PES // 8)
    out = run_body(dev, "    fdiv r23, r20, r21", a, b).view(np.float32)[:8]
    assert out[0] == np.inf and out[1] == -np.inf and out[4] == np.inf
    assert np.isnan(out[2]) and np.isnan(out[3]) and np.isnan(out[5])
    assert out[6] == -np.inf and out[7] == np.inf


@pytest.mark.parametrize("op", sorted(FLOAT_MINMAX_REF))
def test_float_min_max(dev, op):
    a, b, _ = float_inputs(seed=32)
    out = run_body(dev, f"    {op} r23, r20, r21", a, b).view(np.float32)
    expected = FLOAT_MINMAX_REF[op](a, b)
    # values (not bits): min/max of +0 and -0 may give either zero
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE], err_msg=op)


@pytest.mark.parametrize("op", sorted(FLOAT_CMP_REF))
def test_float_compare(dev, op):
    a, b, _ = float_inputs(seed=33)
    out = run_body(dev, f"    {op} r23, r20, r21", a, b)
    expected = FLOAT_CMP_REF[op](a, b).astype(np.int32)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE], err_msg=op)


def test_float_compare_nan_and_signed_zero(dev):
    nan = np.float32(np.nan)
    pairs = [(nan, nan), (nan, 1.0), (1.0, nan), (0.0, -0.0), (-0.0, 0.0), (np.inf, np.inf), (-np.inf, np.inf)]
    a = np.zeros(N_PES, np.float32)
    b = np.zeros(N_PES, np.float32)
    for k, (x, y) in enumerate(pairs):
        a[k], b[k] = x, y
    results = {op: run_body(dev, f"    {op} r23, r20, r21", a, b)[: len(pairs)].tolist() for op in FLOAT_CMP_REF}
    assert results["flt"] == [0, 0, 0, 0, 0, 0, 1]
    assert results["fle"] == [0, 0, 0, 1, 1, 1, 1]
    assert results["feq"] == [0, 0, 0, 1, 1, 1, 0]
    assert results["fne"] == [1, 1, 1, 0, 0, 0, 1]


def test_fma(dev):
    a, b, c = float_inputs(seed=34)
    out = run_body(dev, "    fma r23, r20, r21, r22", a, b, c)
    expected = exact_fmas(a, b, c)  # rounded once, from the exact value
    assert_float_bits(out[:N_ACTIVE], expected[:N_ACTIVE], "fma")


def test_fma_single_rounding(dev):
    # (1 + 2^-12)^2 - 1 - 2^-11 = 2^-24: lost entirely when a * b is rounded to float32 first
    x = np.float32(1 + 2.0**-12)
    a = np.full(N_PES, x, np.float32)
    c = np.full(N_PES, -(1 + 2.0**-11), np.float32)
    out = run_body(dev, "    fma r23, r20, r20, r22", a, a, c).view(np.float32)
    assert (out[:N_ACTIVE] == np.float32(2.0**-24)).all()


FLOAT_SIGN_OPS = {"fneg": lambda w: w ^ np.int32(INT_MIN), "fabs": lambda w: w & np.int32(INT_MAX)}


@pytest.mark.parametrize("op", sorted(FLOAT_SIGN_OPS))
def test_float_sign_ops(dev, op):
    a, _, _ = float_inputs(seed=35)
    out = run_body(dev, f"    {op} r23, r20", a)
    expected = FLOAT_SIGN_OPS[op](a.view(np.int32))  # IEEE negate / abs only touch the sign bit
    assert_float_bits(out[:N_ACTIVE], expected.view(np.float32)[:N_ACTIVE], op)
    np.testing.assert_array_equal(out.view(np.float32)[:N_ACTIVE],
                                  {"fneg": np.negative, "fabs": np.abs}[op](a)[:N_ACTIVE])


TRANSCENDENTAL = {"fsqrt": np.sqrt, "fexp": np.exp, "flog": np.log, "ftanh": np.tanh}


@pytest.mark.parametrize("op", sorted(TRANSCENDENTAL))
def test_float_transcendental(dev, op):
    a, _, _ = float_inputs(seed=36)
    rng = np.random.default_rng(36)
    a[-200:] = rng.uniform(-20, 20, 200).astype(np.float32)
    out = run_body(dev, f"    {op} r23, r20", a).view(np.float32)[:N_ACTIVE]
    with np.errstate(all="ignore"):
        expected = TRANSCENDENTAL[op](a)[:N_ACTIVE]
    assert expected.dtype == np.float32
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected), err_msg=f"{op}: nan positions")
    np.testing.assert_array_equal(out[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])
    np.testing.assert_array_max_ulp(out[finite], expected[finite], maxulp=1)


def test_transcendental_special_values(dev):
    a = np.zeros(N_PES, np.float32)
    a[:6] = [-1.0, 0.0, np.inf, -np.inf, -0.0, 1.0]
    sq = run_body(dev, "    fsqrt r23, r20", a).view(np.float32)[:6]
    lg = run_body(dev, "    flog r23, r20", a).view(np.float32)[:6]
    ex = run_body(dev, "    fexp r23, r20", a).view(np.float32)[:6]
    th = run_body(dev, "    ftanh r23, r20", a).view(np.float32)[:6]
    assert np.isnan(sq[0]) and sq[1] == 0 and sq[2] == np.inf and np.isnan(sq[3]) and sq[5] == 1
    assert np.isnan(lg[0]) and lg[1] == -np.inf and lg[2] == np.inf and lg[5] == 0
    assert ex[1] == 1 and ex[2] == np.inf and ex[3] == 0
    assert th[2] == 1 and th[3] == -1 and th[1] == 0


def test_itof(dev):
    a, _, _ = int_inputs(seed=37)
    a[:6] = [16777217, -16777217, 2**30 + 1, INT_MAX, INT_MIN, 0]
    out = run_body(dev, "    itof r23, r20", a)
    expected = np.array([float(int(x)) for x in a], dtype=np.float64).astype(np.float32)  # round to nearest even
    assert_float_bits(out[:N_ACTIVE], expected[:N_ACTIVE], "itof")


def _ftoi_ref(x: float) -> int:
    if x != x:
        return 0
    if x >= 2**31:
        return INT_MAX
    if x <= -(2**31) - 1:
        return INT_MIN
    return int(x)  # int() truncates toward zero


def test_ftoi(dev):
    a, _, _ = float_inputs(seed=38)
    rng = np.random.default_rng(38)
    a[-100:] = rng.uniform(-5e9, 5e9, 100).astype(np.float32)
    a[-110:-100] = [2.5, -2.5, 0.999, -0.999, 2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 1e20, -1e20]
    out = run_body(dev, "    ftoi r23, r20", a)
    expected = np.array([_ftoi_ref(float(x)) for x in a], dtype=np.int64).astype(np.int32)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE])
    spot = run_body(dev, "    ftoi r23, r20", np.array([np.nan, np.inf, -np.inf, -0.0] * (N_PES // 4), np.float32))
    assert spot[:4].tolist() == [0, INT_MAX, INT_MIN, 0]


# ----------------------------------------------------------------------------- divergent control flow
def test_divergent_branches_and_loops(dev):
    """Per-PE branch (bz on a[i]) and a loop whose trip count is b[i] & 15."""
    body = """
    li r23, 0
    bz r20, zero_path
    mul r24, r20, r21     # a != 0: acc = a * b, then a loop of (b & 15) steps acc = acc * 3 + a
    andi r25, r21, 15
loop:
    bz r25, after
    muli r24, r24, 3
    add r24, r24, r20
    addi r25, r25, -1
    jmp loop
after:
    slti r26, r24, 0
    bnz r26, negative
    xor r23, r24, r22
    jmp join
negative:
    sub r23, r22, r24
    jmp join
zero_path:
    sub r23, r21, r22     # a == 0: b - c
join:
"""
    a, b, c = int_inputs(seed=41)
    a[::4] = 0
    out = run_body(dev, body, a, b, c)

    def ref(x, y, z):
        if x == 0:
            return int32_wrap(y - z)
        acc = int32_wrap(x * y)
        for _ in range(y & 15):
            acc = int32_wrap(acc * 3 + x)
        return int32_wrap(acc ^ z) if acc >= 0 else int32_wrap(z - acc)

    np.testing.assert_array_equal(out[:N_ACTIVE], ref_map(ref, a, b, c)[:N_ACTIVE])


def test_divergent_float_paths(dev):
    """Half the PEs (by a per-PE flag) run a float path, the others an int path; each matches NumPy."""
    body = """
    andi r24, r22, 1
    bnz r24, float_path
    add r23, r20, r21
    shli r23, r23, 1
    jmp end
float_path:
    fmul r23, r20, r21
    fadd r23, r23, r20
end:
"""
    a, b, _ = float_inputs(seed=42)
    a = np.nan_to_num(a, nan=1.0)
    b = np.nan_to_num(b, nan=2.0)
    flag = np.random.default_rng(42).integers(0, 2, N_PES).astype(np.int32)
    out = run_body(dev, body, a, b, flag)
    ai, bi = a.view(np.int32), b.view(np.int32)
    with np.errstate(all="ignore"):
        f = (a * b + a).view(np.int32)
    i = ref_map(lambda x, y: int32_wrap((x + y) << 1), ai, bi)
    expected = np.where(flag == 1, f, i)
    np.testing.assert_array_equal(out[:N_ACTIVE], expected[:N_ACTIVE])


@pytest.mark.parametrize("n", [N_PES, N_PES - 3, 2 * N_PES // 3, N_PES // 2, 10, 1])
def test_guard_with_various_active_counts(dev, n):
    """Different numbers of PEs pass the i < n guard (full, almost full, mask-sized, sparse groups)."""
    a, b, c = int_inputs(seed=43)
    out = run_body(dev, "    mul r23, r20, r21\n    sub r23, r23, r22", a, b, c, n=n)
    expected = ref_map(lambda x, y, z: int32_wrap(x * y - z), a, b, c)
    np.testing.assert_array_equal(out[:n], expected[:n])


# ----------------------------------------------------------------------------- r0
def test_writes_to_r0_are_discarded(dev):
    body = """
    add r0, r20, r21
    li r0, 12345
    addi r0, r20, 7
    fadd r0, r20, r21
    mov r0, r20
    gld r0, r11, 0
    sreg r0, tid.x
    add r23, r0, r0
    addi r23, r23, 9
    or r23, r23, r0
"""
    a, b, c = int_inputs(seed=51)
    a[a == 0] = 5
    out = run_body(dev, body, a, b, c)
    assert (out[:N_ACTIVE] == 9).all()


def test_r0_reads_as_zero(dev):
    a, b, c = int_inputs(seed=52)
    out = run_body(dev, "    li r0, -1\n    sub r23, r0, r20", a)
    np.testing.assert_array_equal(out[:N_ACTIVE], ref_map(lambda x: int32_wrap(-x), a)[:N_ACTIVE])


# ----------------------------------------------------------------------------- special registers
SREG_NAMES = ["tid.x", "tid.y", "bid.x", "bid.y", "bdim.x", "bdim.y", "gdim.x", "gdim.y"]
SREG_KERNEL = """
.name sregs
.args 1
    sreg r1, tid.x
    sreg r2, tid.y
    sreg r3, bid.x
    sreg r4, bid.y
    sreg r5, bdim.x
    sreg r6, bdim.y
    sreg r7, gdim.x
    sreg r8, gdim.y
    mul r10, r4, r7
    add r10, r10, r3      # block number, row-major over the grid
    mul r11, r5, r6
    mul r10, r10, r11
    mul r12, r2, r5
    add r10, r10, r12
    add r10, r10, r1      # PE number = block * (bdim.x * bdim.y) + tid.y * bdim.x + tid.x
    muli r10, r10, 32     # 8 words per PE
    arg r13, 0
    add r13, r13, r10
    gst r1, r13, 0
    gst r2, r13, 4
    gst r3, r13, 8
    gst r4, r13, 12
    gst r5, r13, 16
    gst r6, r13, 20
    gst r7, r13, 24
    gst r8, r13, 28
    halt
"""


@pytest.mark.parametrize("spec", [SPEC, ws.WaferSpec(width=8, height=5)], ids=["one-wave", "three-waves"])
@pytest.mark.parametrize("grid, block", [((3, 2), (4, 5)), ((2, 3), (1, 4)), ((1, 1), (8, 5)), ((5, 1), (1, 1)),
                                          ((7, 1), (3, 2)), ((3, 3), (3, 2)), ((2, 7), (2, 1))])
def test_special_registers(spec, grid, block):
    dev = ws.Device(spec)
    (gx, gy), (bx, by) = grid, block
    n = gx * gy * bx * by
    d_out = dev.to_device(np.full((n, 8), -1, np.int32))
    ws.Kernel(ws.assemble(SREG_KERNEL))[grid, block](d_out)
    out = d_out.copy_to_host()
    b, ty, tx = np.meshgrid(np.arange(gx * gy), np.arange(by), np.arange(bx), indexing="ij")
    expected = np.stack([tx.ravel(), ty.ravel(), b.ravel() % gx, b.ravel() // gx,
                         np.full(n, bx), np.full(n, by), np.full(n, gx), np.full(n, gy)], axis=1)
    np.testing.assert_array_equal(out, expected)


def test_special_registers_in_index_kernel_give_unique_linear_indices(dev):
    """The linear index of _INDEX covers 0..N-1 exactly once over a multi-wave grid."""
    out = run_body(dev, "    mov r23, r1", np.zeros(N_PES, np.int32), n=N_PES)
    np.testing.assert_array_equal(out, np.arange(N_PES))
