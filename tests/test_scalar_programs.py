"""Randomly generated straight-line register programs (integer and float32 ALU, immediates) run on the
simulator and checked against an independent model written here with Python integers and NumPy float32."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import int32_wrap
from wafersim.kernels.assembly import GLOBAL_INDEX

_INDEX = GLOBAL_INDEX  # i, the PE's global linear index, in r1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


# ============================================================================= random straight-line programs
HYP_SPEC = ws.WaferSpec(width=8, height=8)
HYP_GRID, HYP_BLOCK = (3, 2), (4, 4)  # 6 blocks on 4 slots: two waves, 96 PEs
HYP_N = 96

INT_BIN = ["add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt", "sle",
           "seq", "sne"]
INT_UN = ["mov", "neg", "abs"]
INT_IMM = ["addi", "muli", "andi", "ori", "xori", "shli", "shri", "srai", "slti", "seqi"]
FLT_BIN = ["fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "flt", "fle", "feq", "fne"]
FLT_UN = ["fneg", "fabs", "itof", "ftoi"]


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


_INT_MODEL = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: -1 if b == 0 else _tdiv(a, b),
    "rem": lambda a, b: a if b == 0 else a - b * _tdiv(a, b),
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "shl": lambda a, b: a << (b & 31), "shr": lambda a, b: (a & 0xFFFFFFFF) >> (b & 31),
    "sra": lambda a, b: a >> (b & 31), "min": min, "max": max,
    "slt": lambda a, b: int(a < b), "sle": lambda a, b: int(a <= b),
    "seq": lambda a, b: int(a == b), "sne": lambda a, b: int(a != b),
}
_IMM_BASE = {"addi": "add", "muli": "mul", "andi": "and", "ori": "or", "xori": "xor", "shli": "shl", "shri": "shr",
             "srai": "sra", "slti": "slt", "seqi": "seq"}


def _ftoi(x: float) -> int:
    if x != x:
        return 0
    if x >= 2**31:
        return INT_MAX
    if x < -(2**31):
        return INT_MIN
    return int(x)


def model(program: list[tuple], regs0: np.ndarray) -> np.ndarray:
    """Run the instruction list on (9, n) int32 registers (row 0 = r0), one PE per column."""
    regs = regs0.copy()
    f = regs.view(np.float32)
    with np.errstate(all="ignore"):
        for ins in program:
            op, d = ins[0], ins[1]
            if op in INT_BIN:
                res = np.array([int32_wrap(_INT_MODEL[op](int(x), int(y))) for x, y in zip(regs[ins[2]], regs[ins[3]])],
                               dtype=np.int64).astype(np.int32)
            elif op in INT_IMM:
                res = np.array([int32_wrap(_INT_MODEL[_IMM_BASE[op]](int(x), ins[3])) for x in regs[ins[2]]],
                               dtype=np.int64).astype(np.int32)
            elif op == "mov":
                res = regs[ins[2]].copy()
            elif op == "neg":
                res = np.array([int32_wrap(-int(x)) for x in regs[ins[2]]], dtype=np.int64).astype(np.int32)
            elif op == "abs":
                res = np.array([int32_wrap(abs(int(x))) for x in regs[ins[2]]], dtype=np.int64).astype(np.int32)
            elif op == "sel":
                res = np.where(regs[ins[2]] != 0, regs[ins[3]], regs[ins[4]])
            elif op == "li":
                res = np.full(regs.shape[1], int32_wrap(ins[2]), np.int32)
            elif op in ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax"):
                fn = {"fadd": np.add, "fsub": np.subtract, "fmul": np.multiply, "fdiv": np.divide,
                      "fmin": np.minimum, "fmax": np.maximum}[op]
                res = fn(f[ins[2]], f[ins[3]]).view(np.int32)
            elif op in ("flt", "fle", "feq", "fne"):
                fn = {"flt": np.less, "fle": np.less_equal, "feq": np.equal, "fne": np.not_equal}[op]
                res = fn(f[ins[2]], f[ins[3]]).astype(np.int32)
            elif op == "fma":
                res = (f[ins[2]].astype(np.float64) * f[ins[3]] + f[ins[4]]).astype(np.float32).view(np.int32)
            elif op == "fneg":
                res = regs[ins[2]] ^ np.int32(INT_MIN)
            elif op == "fabs":
                res = regs[ins[2]] & np.int32(INT_MAX)
            elif op == "itof":
                res = np.array([float(int(x)) for x in regs[ins[2]]]).astype(np.float32).view(np.int32)
            elif op == "ftoi":
                res = np.array([_ftoi(float(x)) for x in f[ins[2]]], dtype=np.int64).astype(np.int32)
            else:
                raise AssertionError(op)
            if d != 0:
                regs[d] = res
    return regs


def to_text(ins: tuple) -> str:
    op = ins[0]
    if op in INT_IMM:
        return f"{op} r{ins[1]}, r{ins[2]}, {ins[3]}"
    if op == "li":
        value, style = ins[2], ins[3]
        literal = {"dec": str(value), "hex": hex(value & 0xFFFFFFFF)}[style]
        return f"li r{ins[1]}, {literal}"
    return f"{op} " + ", ".join(f"r{r}" for r in ins[1:])


REG = st.integers(0, 8)
DST = st.integers(1, 8) | st.just(0)


@st.composite
def instruction(draw):
    op = draw(st.sampled_from(INT_BIN + INT_UN + INT_IMM + FLT_BIN + FLT_UN + ["sel", "fma", "li"]))
    d = draw(DST)
    if op in INT_BIN or op in FLT_BIN:
        return (op, d, draw(REG), draw(REG))
    if op in INT_UN or op in FLT_UN:
        return (op, d, draw(REG))
    if op in ("sel", "fma"):
        return (op, d, draw(REG), draw(REG), draw(REG))
    if op in INT_IMM:
        return (op, d, draw(REG), draw(st.integers(-8192, 8191)))
    return (op, d, draw(st.integers(INT_MIN, 2**32 - 1)), draw(st.sampled_from(["dec", "hex"])))


HYP_KERNEL = """
.name random
.args 2
{index}
    shli r10, r1, 5
    arg r11, 0
    add r11, r11, r10
    gld r1, r11, 0
    gld r2, r11, 4
    gld r3, r11, 8
    gld r4, r11, 12
    gld r5, r11, 16
    gld r6, r11, 20
    gld r7, r11, 24
    gld r8, r11, 28
{body}
    arg r11, 1
    add r11, r11, r10
    gst r1, r11, 0
    gst r2, r11, 4
    gst r3, r11, 8
    gst r4, r11, 12
    gst r5, r11, 16
    gst r6, r11, 20
    gst r7, r11, 24
    gst r8, r11, 28
    halt
"""
# r10 and r11 must survive the random body (which only touches r0..r8); r1..r7 are reused after the index.
_HYP_INDEX = _INDEX.replace("r1,", "r12,").replace("r1\n", "r12\n") + "    mov r1, r12\n"


def random_inputs(seed: int) -> np.ndarray:
    """(HYP_N, 8) int32: random words, small ints, float bits and edge values, mixed per register."""
    rng = np.random.default_rng(seed)
    pools = [
        rng.integers(INT_MIN, INT_MAX, (HYP_N, 8), endpoint=True),
        rng.integers(-20, 21, (HYP_N, 8)),
        (rng.standard_normal((HYP_N, 8)) * 10.0 ** rng.integers(-3, 4, (HYP_N, 8))).astype(np.float32).view(np.int32),
        rng.choice(np.array([0, 1, -1, 31, 32, INT_MIN, INT_MAX], np.int64), (HYP_N, 8)),
        rng.choice(np.array([0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, 3e9, -3e9], np.float32).view(np.int32),
                   (HYP_N, 8)),
    ]
    which = rng.integers(0, len(pools), (HYP_N, 8))
    out = np.choose(which, [p.astype(np.int64) for p in pools])
    return out.astype(np.int32)


@pytest.fixture(scope="module")
def hyp_dev():
    return ws.Device(HYP_SPEC)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(instruction(), min_size=5, max_size=30), seed=st.integers(0, 2**32 - 1))
def test_random_straight_line_programs(hyp_dev, program, seed):
    text = HYP_KERNEL.format(index=_HYP_INDEX, body="\n".join("    " + to_text(i) for i in program))
    inputs = random_inputs(seed)
    d_in = hyp_dev.to_device(inputs)
    d_out = hyp_dev.to_device(np.zeros((HYP_N, 8), np.int32))
    ws.Kernel(ws.assemble(text))[HYP_GRID, HYP_BLOCK](d_in, d_out)
    out = d_out.copy_to_host()
    regs0 = np.zeros((9, HYP_N), np.int32)
    regs0[1:] = inputs.T
    expected = model(program, regs0)[1:].T
    if not np.array_equal(out, expected):
        bad = np.argwhere(out != expected)[:5]
        details = [(int(i), f"r{k + 1}", int(out[i, k]), int(expected[i, k]), inputs[i].tolist()) for i, k in bad]
        pytest.fail("register mismatch (pe, reg, got, expected, inputs):\n" + "\n".join(map(str, details))
                    + "\nprogram:\n" + "\n".join(map(to_text, program)))
