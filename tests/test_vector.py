"""SRAM (scalar ld/st), bulk global <-> SRAM copies, and vector ops, each compared per PE with NumPy;
SRAM / global-memory error reporting; and the cycle cost of vector ops (random straight-line register
programs: tests/test_scalar_programs.py).

`.sram N` sets the per-PE data segment in 32-bit words; SRAM addresses are word indices.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, truncated_division
from wafersim.kernels.assembly import GLOBAL_INDEX

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

SPEC = ws.WaferSpec(width=16, height=16)
GRID, BLOCK = (4, 4), (4, 8)  # 16 blocks on 8 slots: two waves, 512 PEs
N_PES = GRID[0] * GRID[1] * BLOCK[0] * BLOCK[1]
R = 24  # words per input row

_INDEX = GLOBAL_INDEX  # i, the PE's global linear index, in r1


@pytest.fixture(scope="module")
def dev():
    return ws.Device(SPEC)


# ============================================================================= scalar ld / st
LDST_KERNEL = """
.name ldst
.sram 16
.args 5                   # a, b, c, out (2 words per PE), n
""" + _INDEX + """
    arg r8, 4
    slt r9, r1, r8
    bz r9, done
    shli r10, r1, 2
    arg r11, 0
    add r11, r11, r10
    gld r20, r11, 0       # a[i]: a value
    arg r11, 1
    add r11, r11, r10
    gld r21, r11, 0       # b[i]: picks two addresses
    arg r11, 2
    add r11, r11, r10
    gld r22, r11, 0       # c[i]: another value
    andi r24, r21, 15     # p = b & 15
    shri r25, r21, 4
    andi r25, r25, 15     # q = (b >> 4) & 15
    addi r26, r24, -3
    st r20, r26, 3        # sram[p] = a       (register + immediate addressing)
    st r22, r25, 0        # sram[q] = c
    li r27, 7
    st r27, r0, 15        # sram[15] = 7      (uniform address)
    ld r28, r24, 0        # sram[p]
    addi r29, r25, 5
    ld r30, r29, -5       # sram[q]
    ld r31, r0, 15        # sram[15]
    add r30, r30, r31
    arg r11, 3
    shli r10, r1, 3
    add r11, r11, r10
    gst r28, r11, 0
    gst r30, r11, 4
done:
    halt
"""


@pytest.mark.parametrize("n", [N_PES, N_PES - 2, 300, 12])
@pytest.mark.parametrize("uniform", [True, False], ids=["uniform-addr", "per-pe-addr"])
def test_scalar_ld_st(dev, n, uniform):
    rng = np.random.default_rng(n + uniform)
    a = rng.integers(INT_MIN, INT_MAX, N_PES, endpoint=True).astype(np.int32)
    c = rng.integers(INT_MIN, INT_MAX, N_PES, endpoint=True).astype(np.int32)
    b = np.full(N_PES, 0x3A, np.int32) if uniform else rng.integers(0, 256, N_PES).astype(np.int32)
    b[:3] = [0x11, 0xF3, 0x0F] if not uniform else 0x3A  # p == q, p = 3 / q = 15, p = 15 / q = 0
    d_out = dev.to_device(np.full((N_PES, 2), -9, np.int32))
    ws.Kernel(ws.assemble(LDST_KERNEL))[GRID, BLOCK](dev.to_device(a), dev.to_device(b), dev.to_device(c), d_out, n)
    out = d_out.copy_to_host()
    p, q = b & 15, (b >> 4) & 15
    sram_p = np.where(p == 15, 7, np.where(p == q, c, a))  # later stores win
    sram_q = np.where(q == 15, 7, c)
    expected = np.stack([sram_p, (sram_q.astype(np.int64) + 7).astype(np.int32)], axis=1)
    np.testing.assert_array_equal(out[:n], expected[:n])
    assert (out[n:] == -9).all()


# ============================================================================= gldv / gstv
BULK_KERNEL = """
.name bulk
.sram 64
.args 5                   # src rows (R words), dst rows (R words), sram offsets, lengths, n
""" + _INDEX + f"""
    arg r8, 4
    slt r9, r1, r8
    bz r9, done
    shli r10, r1, 2
    arg r11, 2
    add r11, r11, r10
    gld r20, r11, 0       # sram offset of this PE
    arg r11, 3
    add r11, r11, r10
    gld r21, r11, 0       # words to copy
    muli r12, r1, {4 * R}
    arg r13, 0
    add r13, r13, r12
    gldv r20, r13, r21    # sram[off:off+len] = src[i, :len]
    vfill r0, r0, r0      # (an empty vector op between the transfers)
    arg r13, 1
    add r13, r13, r12
    gstv r13, r20, r21    # dst[i, :len] = sram[off:off+len]
done:
    halt
"""


@pytest.mark.parametrize("mode", ["uniform", "per-pe"])
def test_gldv_gstv_row_copy(dev, mode):
    rng = np.random.default_rng(7 if mode == "uniform" else 8)
    n = N_PES - 7
    src = rng.integers(INT_MIN, INT_MAX, (N_PES, R), endpoint=True).astype(np.int32)
    if mode == "uniform":
        off, length = np.full(N_PES, 5, np.int32), np.full(N_PES, R, np.int32)
    else:
        off = rng.integers(0, 64 - R + 1, N_PES).astype(np.int32)
        length = rng.integers(0, R + 1, N_PES).astype(np.int32)
        length[:3] = [0, 1, R]
    d_dst = dev.to_device(np.full((N_PES, R), -1, np.int32))
    ws.Kernel(ws.assemble(BULK_KERNEL))[GRID, BLOCK](dev.to_device(src), d_dst, dev.to_device(off),
                                                     dev.to_device(length), n)
    out = d_dst.copy_to_host()
    expected = np.full((N_PES, R), -1, np.int32)
    for i in range(n):
        expected[i, : length[i]] = src[i, : length[i]]
    np.testing.assert_array_equal(out, expected)


def test_gldv_then_ld_reads_each_word(dev):
    """gldv places global word k at SRAM word base + k (checked with scalar loads)."""
    src = np.arange(1000, 1000 + 8 * 4, dtype=np.int32).reshape(4, 8) * -3
    prog = ws.assemble("""
.sram 20
.args 2
    sreg r1, tid.x
    muli r2, r1, 32
    arg r3, 0
    add r3, r3, r2
    li r4, 8
    li r5, 11
    gldv r5, r3, r4
    li r6, 0
    arg r7, 1
    add r7, r7, r2
loop:
    add r8, r5, r6
    ld r9, r8, 0
    shli r10, r6, 2
    add r10, r10, r7
    gst r9, r10, 0
    addi r6, r6, 1
    slti r11, r6, 8
    bnz r11, loop
    halt
""")
    d_out = dev.to_device(np.zeros((4, 8), np.int32))
    ws.Kernel(prog)[1, 4](dev.to_device(src), d_out)
    np.testing.assert_array_equal(d_out.copy_to_host(), src)


# ============================================================================= vector ops
# SRAM of each PE: [0, R) = X row, [R, 2R) = Y row, [2R, 3R) = D row. Per-PE parameters
# (d, a, b, len, scalar) are loaded from global memory; the whole SRAM is written back.
VEC_KERNEL = """
.name vec
.sram {words}
.args 6                   # X, Y, D, params (8 words per PE), out (3R words per PE), n
""" + _INDEX + f"""
    arg r8, 5
    slt r9, r1, r8
    bz r9, done
    muli r12, r1, {4 * R}
    li r14, {R}
    arg r13, 0
    add r13, r13, r12
    li r15, 0
    gldv r15, r13, r14
    arg r13, 1
    add r13, r13, r12
    li r15, {R}
    gldv r15, r13, r14
    arg r13, 2
    add r13, r13, r12
    li r15, {2 * R}
    gldv r15, r13, r14
    shli r10, r1, 5
    arg r11, 3
    add r11, r11, r10
    gld r24, r11, 0       # d
    gld r25, r11, 4       # a
    gld r26, r11, 8       # b
    gld r27, r11, 12      # length
    gld r28, r11, 16      # scalar
{{body}}
    muli r12, r1, {12 * R}
    arg r13, 4
    add r13, r13, r12
    li r14, {3 * R}
    gstv r13, r0, r14
done:
    halt
"""


def vec_body(op: str, mod: str) -> str:
    if op == "vfill":
        return "    vfill r24, r28, r27"
    if op == "vcopy":
        return "    vcopy r24, r25, r27"
    if op == "vscale":
        return f"    vscale{mod} r24, r25, r28, r27"
    b = "r28" if "s" in mod else "r26"
    return f"    {op}{mod} r24, r25, {b}, r27"


def run_vec(dev, body: str, X, Y, D, params, n: int = N_PES) -> np.ndarray:
    prog = ws.assemble(VEC_KERNEL.format(words=3 * R, body=body))
    p = np.zeros((N_PES, 8), np.int32)
    p[:, :5] = params
    d_out = dev.to_device(np.full((N_PES, 3 * R), 0x11111111, np.int32))
    ws.Kernel(prog)[GRID, BLOCK](dev.to_device(X), dev.to_device(Y), dev.to_device(D), dev.to_device(p), d_out, n)
    return d_out.copy_to_host()


def truncating_division(a, b) -> np.ndarray:
    """The ISA's int32 `div`, element by element in plain Python: rounds toward zero, x / 0 = -1, and
    INT_MIN / -1 wraps to INT_MIN (docs/isa.md)."""
    a, b = np.asarray(a, dtype=np.int64), np.broadcast_to(np.asarray(b, dtype=np.int64), np.shape(a))
    return np.array([-1 if y == 0 else int32_wrap(truncated_division(int(x), int(y))) for x, y in zip(a, b)],
                    dtype=np.int32)


def vec_reference(op: str, mod: str, sram_rows: np.ndarray, params: np.ndarray, n: int) -> np.ndarray:
    """Per-PE NumPy reference on the raw int32 SRAM image (rows >= n are left untouched)."""
    is_float, is_scalar = "f" in mod, "s" in mod or op in ("vscale", "vfill")
    out = sram_rows.copy()
    binary = {"vadd": np.add, "vsub": np.subtract, "vmul": np.multiply, "vmin": np.minimum, "vmax": np.maximum,
              "vdiv": np.divide if is_float else truncating_division}
    with np.errstate(all="ignore"):
        for i in range(n):
            d, a, b, length, scalar = (int(v) for v in params[i])
            row = out[i]
            view = row.view(np.float32) if is_float else row
            s = np.int32(scalar).view(np.float32) if is_float else np.int32(scalar)
            src_a = view[a:a + length].copy()
            other = s if is_scalar else view[b:b + length].copy()
            if op == "vfill":
                row[d:d + length] = np.int32(scalar)
            elif op == "vcopy":
                row[d:d + length] = row[a:a + length].copy()
            elif op == "vscale":
                view[d:d + length] = src_a * s
            elif op == "vfma":
                view[d:d + length] = view[d:d + length] + src_a * other
            else:
                view[d:d + length] = binary[op](src_a, other)
    return out


def vec_params(mode: str, rng, op: str) -> np.ndarray:
    """(d, a, b, len, scalar) per PE; d lies in the D row, a and b anywhere in the X and Y rows."""
    def one():
        length = int(rng.integers(0, R + 1))
        d = 2 * R + int(rng.integers(0, R - length + 1))
        a = int(rng.integers(0, 2 * R - length + 1))
        b = int(rng.integers(0, 2 * R - length + 1))
        return [d, a, b, length]

    if mode.startswith("uniform"):
        rows = np.array([[2 * R + 3, 2, R + 5, R - 5]] * N_PES)
    elif mode == "groups":
        choices = np.array([one() for _ in range(3)] + [[2 * R, 0, R, R]])
        rows = choices[rng.integers(0, len(choices), N_PES)]
    else:
        rows = np.array([one() for _ in range(N_PES)])
    scalars = rng.integers(-1000, 1000, N_PES).astype(np.int32)
    return np.column_stack([rows, scalars]).astype(np.int64)


VEC_CASES = ([(op, mod) for op in ("vadd", "vsub", "vmul", "vdiv", "vmin", "vmax", "vfma")
              for mod in ("", ".f", ".s", ".fs")]
             + [("vscale", ""), ("vscale", ".f"), ("vcopy", ""), ("vfill", "")])
VEC_MODES = {"uniform": N_PES, "uniform-sparse": 10, "uniform-masked": 2 * N_PES // 3, "uniform-almost-all": N_PES - 3,
             "groups": N_PES, "per-pe": N_PES, "per-pe-masked": 2 * N_PES // 3, "per-pe-almost-all": N_PES - 3,
             "per-pe-sparse": 20}


@pytest.mark.parametrize("mode", list(VEC_MODES))
@pytest.mark.parametrize("op, mod", VEC_CASES, ids=[f"{o}{m}" for o, m in VEC_CASES])
def test_vector_op(dev, op, mod, mode):
    n = VEC_MODES[mode]
    rng = np.random.default_rng([sum(map(ord, op + mod + mode))])
    is_float = "f" in mod
    if is_float:
        lo, hi = (0.5, 2.0) if op == "vfma" else (-100.0, 100.0)  # vfma: no cancellation, fused or not
        X, Y, D = (rng.uniform(lo, hi, (N_PES, R)).astype(np.float32).view(np.int32) for _ in range(3))
    else:
        X, Y, D = (rng.integers(INT_MIN, INT_MAX, (N_PES, R), endpoint=True).astype(np.int32) for _ in range(3))
    params = vec_params(mode, rng, op)
    if is_float:
        params[:, 4] = rng.uniform(-4, 4, N_PES).astype(np.float32).view(np.int32)
    out = run_vec(dev, vec_body(op, mod), X, Y, D, params, n)
    sram = np.concatenate([X, Y, D], axis=1)
    expected = vec_reference(op, mod, sram, params, n)
    assert (out[n:] == 0x11111111).all()
    if op == "vfma" and is_float:
        np.testing.assert_array_max_ulp(out[:n].view(np.float32), expected[:n].view(np.float32), maxulp=1)
    else:
        np.testing.assert_array_equal(out[:n], expected[:n])


@pytest.mark.parametrize("op, mod", [("vadd", ".f"), ("vsub", ""), ("vmul", ".f"), ("vdiv", ""), ("vmax", ".f"),
                                     ("vmin", ".s"), ("vfma", ""), ("vscale", ".f")])
def test_a_vector_op_whose_destination_overlaps_its_operands_reads_them_first(dev, op, mod):
    """docs/isa.md: overlapping operands read as if through a temporary (NumPy's d[:] = a + b), not element by
    element; each PE's d, a and b lie anywhere in its X, Y and D rows, so most overlap (d = a + 1 in half)."""
    rng = np.random.default_rng([sum(map(ord, op + mod)), 52])
    if "f" in mod:
        X, Y, D = (rng.uniform(-100.0, 100.0, (N_PES, R)).astype(np.float32).view(np.int32) for _ in range(3))
    else:
        X, Y, D = (rng.integers(-1000, 1000, (N_PES, R)).astype(np.int32) for _ in range(3))
    rows = []
    for i in range(N_PES):
        length = int(rng.integers(1, R + 1))
        a, b = (int(v) for v in rng.integers(0, 3 * R - length + 1, 2))
        d = min(a + 1, 3 * R - length) if i % 2 else int(rng.integers(0, 3 * R - length + 1))
        rows.append([d, a, b, length, int(rng.integers(-9, 9))])
    params = np.array(rows, np.int64)
    if "f" in mod:
        params[:, 4] = rng.uniform(-4, 4, N_PES).astype(np.float32).view(np.int32)
    out = run_vec(dev, vec_body(op, mod), X, Y, D, params)
    expected = vec_reference(op, mod, np.concatenate([X, Y, D], axis=1), params, N_PES)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["uniform", "per-pe"])
def test_vfma_int_wraps(dev, mode):
    rng = np.random.default_rng(99)
    X, Y, D = (rng.integers(INT_MIN, INT_MAX, (N_PES, R), endpoint=True).astype(np.int32) for _ in range(3))
    params = vec_params(mode, rng, "vfma")
    out = run_vec(dev, "    vfma r24, r25, r26, r27", X, Y, D, params)
    sram = np.concatenate([X, Y, D], axis=1)
    for i in range(0, N_PES, 37):
        d, a, b, length, _ = params[i]
        for k in range(length):
            want = int32_wrap(int(sram[i, d + k]) + int(sram[i, a + k]) * int(sram[i, b + k]))
            assert out[i, d + k] == want


@pytest.mark.parametrize("mode", ["uniform-forward", "uniform-backward", "per-pe"])
def test_vcopy_overlapping_ranges(dev, mode):
    """Overlapping source and destination: as if copied through a temporary."""
    rng = np.random.default_rng(5)
    X = rng.integers(INT_MIN, INT_MAX, (N_PES, R), endpoint=True).astype(np.int32)
    Y = D = np.zeros((N_PES, R), np.int32)
    if mode == "uniform-forward":
        rows = np.array([[3, 0, 0, R - 3]] * N_PES)  # d = a + 3
    elif mode == "uniform-backward":
        rows = np.array([[0, 2, 0, R - 2]] * N_PES)  # d = a - 2
    else:
        rows = []
        for _ in range(N_PES):
            d, a = (int(v) for v in rng.integers(0, R, 2))
            rows.append([d, a, 0, int(rng.integers(0, R - max(d, a) + 1))])
        rows = np.array(rows)
    params = np.column_stack([rows, np.zeros(N_PES, np.int64)])
    out = run_vec(dev, "    vcopy r24, r25, r27", X, Y, D, params)
    for i in range(N_PES):
        d, a, _, length, _ = params[i]
        want = X[i].copy()
        want[d:d + length] = X[i, a:a + length].copy()
        np.testing.assert_array_equal(out[i, :R], want, err_msg=f"PE {i}: d={d} a={a} len={length}")


# ============================================================================= errors
PE_XY_KERNEL = """
.args 1
""" + _INDEX + """
    sreg r8, pe.x
    sreg r9, pe.y
    shli r10, r1, 3
    arg r11, 0
    add r11, r11, r10
    gst r8, r11, 0
    gst r9, r11, 4
    halt
"""


def pe_coordinates(dev, grid, block) -> np.ndarray:
    """(pe.x, pe.y) of each PE by global linear index, as the machine reports it."""
    n = grid[0] * grid[1] * block[0] * block[1]
    d_out = dev.to_device(np.full((n, 2), -1, np.int32))
    ws.Kernel(ws.assemble(PE_XY_KERNEL))[grid, block](d_out)
    return d_out.copy_to_host()


ERR_GRID, ERR_BLOCK = (3, 2), (4, 4)  # 96 PEs, one wave

# One PE (global index K, an argument) misbehaves; the others do a valid access.
ERR_TEMPLATE = """
.sram 8
.args 1
""" + _INDEX + """
    arg r20, 0
    seq r21, r1, r20      # bad = (i == K)
    li r22, 1
{body}
    halt
"""

ERROR_BODIES = {
    "ld-past-end": "    li r23, 8\n    mul r23, r23, r21\n    ld r24, r23, 0",
    "ld-negative": "    neg r23, r21\n    ld r24, r23, 0",
    "ld-imm": "    muli r23, r21, 3\n    ld r24, r23, 5",
    "st-past-end": "    muli r23, r21, 100\n    st r22, r23, 7",
    "vfill-past-end": "    muli r23, r21, 5\n    addi r23, r23, 4\n    vfill r0, r22, r23",
    "vadd-operand-a": "    muli r23, r21, 6\n    li r24, 3\n    vadd r0, r23, r0, r24",
    "vcopy-dst": "    muli r23, r21, 7\n    li r24, 2\n    vcopy r23, r0, r24",
    "vscale-negative-base": "    neg r23, r21\n    vscale.f r0, r23, r22, r22",
    "vmul-negative-length": "    neg r23, r21\n    vmul r0, r0, r0, r23",
    "vfma-negative-length": "    neg r23, r21\n    muli r23, r23, 5\n    vfma.fs r0, r0, r22, r23",
}


@pytest.fixture(scope="module")
def err_coords(dev):
    """The global coordinates (ws.grid(2)) of each PE by global linear index, which errors name the PE by
    (its wafer coordinates, `pe_coordinates`, differ: 3 blocks across a wafer of 4 slots)."""
    width = ERR_GRID[0] * ERR_BLOCK[0]
    return np.array([(i % width, i // width) for i in range(width * ERR_GRID[1] * ERR_BLOCK[1])])


@pytest.mark.parametrize("bad_pe", [0, 37, 95])
@pytest.mark.parametrize("case", list(ERROR_BODIES))
def test_sram_errors_name_the_pe(dev, err_coords, case, bad_pe):
    prog = ws.assemble(ERR_TEMPLATE.format(body=ERROR_BODIES[case]))
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(prog, dev)[ERR_GRID, ERR_BLOCK](bad_pe)
    x, y = (int(v) for v in err_coords[bad_pe])
    message = str(info.value)
    assert f"({x}, {y})" in message, message
    # no other PE is blamed
    named = set(re.findall(r"\((\d+), (\d+)\)", message))
    assert named == {(str(x), str(y))}, message


def test_sram_program_without_the_bad_pe_runs(dev):
    """The same programs are valid when no PE misbehaves (so the errors above come from the bad PE)."""
    for body in ERROR_BODIES.values():
        ws.Kernel(ws.assemble(ERR_TEMPLATE.format(body=body)), dev)[ERR_GRID, ERR_BLOCK](-1)


# PEs with i >= K branch away; their registers hold out-of-segment addresses / negative lengths that the
# PEs which do execute the access must not be blamed for (the group is a full, masked, or sparse set).
SKIP_TEMPLATE = """
.sram 8
.args 1
""" + _INDEX + """
    arg r20, 0
    slt r21, r1, r20      # runs = (i < K)
    xori r22, r21, 1      # skips
    muli r23, r22, 100    # 100 on the PEs that skip, else 0
    neg r25, r22          # -1 on the PEs that skip, else 0
    li r24, 2
    bz r21, done
{body}
done:
    halt
"""
SKIP_BODIES = ["ld r26, r23, 0", "st r24, r23, 1", "vfill r23, r24, r24", "vadd.f r0, r23, r0, r24",
               "vcopy r0, r0, r25", "vmul.s r0, r0, r23, r25"]


@pytest.mark.parametrize("k", [96, 95, 60, 40, 3])
@pytest.mark.parametrize("body", SKIP_BODIES)
def test_inactive_pes_do_not_fault(dev, body, k):
    prog = ws.assemble(SKIP_TEMPLATE.format(body="    " + body))
    stats = ws.Kernel(prog, dev)[ERR_GRID, ERR_BLOCK](k)
    assert stats.op_counts[body.split()[0].split(".")[0]] == k


@pytest.mark.parametrize("k, bad_pe", [(95, 94), (60, 0), (40, 39), (3, 1)])
def test_fault_inside_partial_group_names_only_that_pe(dev, err_coords, k, bad_pe):
    """As above, plus one running PE (bad_pe < K) with a bad address: only it is named."""
    body = f"""    seqi r27, r1, {bad_pe}
    muli r27, r27, 8
    add r23, r23, r27
    ld r26, r23, 0"""
    prog = ws.assemble(SKIP_TEMPLATE.format(body=body))
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(prog, dev)[ERR_GRID, ERR_BLOCK](k)
    x, y = (int(v) for v in err_coords[bad_pe])
    assert set(re.findall(r"\((\d+), (\d+)\)", str(info.value))) == {(str(x), str(y))}, str(info.value)


def test_uniform_out_of_segment_access_raises(dev):
    for body in ("    ld r1, r0, 8", "    st r1, r0, 8", "    li r1, 5\n    vfill r0, r1, r1\n    vcopy r1, r0, r1",
                 "    li r1, -1\n    vfill r0, r0, r1", "    li r1, 9\n    vadd.f r0, r0, r0, r1",
                 "    li r1, -1\n    gldv r0, r0, r1", "    li r1, 9\n    gldv r0, r0, r1",
                 "    li r1, -2\n    gstv r0, r0, r1", "    li r1, 3\n    li r2, 6\n    gstv r0, r2, r1"):
        prog = ws.assemble(".sram 8\n" + body + "\n    halt\n")
        with pytest.raises(ws.MemoryAccessError, match=r"\(\d+, \d+\)"):
            ws.Kernel(prog, dev)[2, (2, 2)]()


@pytest.mark.parametrize("load", ["ld r0, r0, 8", "gld r0, r0, 0"])
def test_out_of_range_load_into_r0_still_faults(dev, load):
    """Writes to r0 are discarded, but the access itself is still out of range (gld r0 faults; so must ld r0)."""
    prog = ws.assemble(f".sram 8\n    {load}\n    halt\n")
    with pytest.raises(ws.MemoryAccessError, match=r"\(0, 0\)"):
        ws.Kernel(prog, dev)[1, 1]()


def test_sram_data_segment_edges_are_valid(dev):
    """Word N-1 and a vector ending exactly at N are inside a data segment of N words."""
    prog = ws.assemble("""
.sram 8
.args 1
    li r1, 77
    st r1, r0, 7
    ld r2, r0, 7
    li r3, 8
    vfill r0, r2, r3
    ld r4, r0, 0
    arg r5, 0
    gst r4, r5, 0
    halt
""")
    d_out = dev.to_device(np.zeros(1, np.int32))
    ws.Kernel(prog)[1, 1](d_out)
    assert d_out.copy_to_host()[0] == 77


@pytest.mark.parametrize("address_expr", ["li r2, 0", "li r2, 16", "li r2, 0x7FFFFF00", "arg r2, 0\n    addi r2, r2, 64",
                                          "arg r2, 0\n    addi r2, r2, 2", "li r2, -4"])
def test_gld_outside_every_allocation(dev, address_expr):
    d_small = dev.to_device(np.zeros(16, np.int32))  # 64 bytes: address + 64 is past its end
    prog = ws.assemble(f"""
.args 1
    {address_expr}
    gld r3, r2, 0
    halt
""")
    with pytest.raises(ws.MemoryAccessError):
        ws.Kernel(prog)[1, (2, 2)](d_small)


def test_gld_last_word_of_allocation_is_valid(dev):
    d = dev.to_device(np.arange(16, dtype=np.int32))
    d_out = dev.to_device(np.zeros(1, np.int32))
    prog = ws.assemble(".args 2\n    arg r2, 0\n    gld r3, r2, 60\n    arg r4, 1\n    gst r3, r4, 0\n    halt\n")
    ws.Kernel(prog)[1, 1](d, d_out)
    assert d_out.copy_to_host()[0] == 15


# ============================================================================= cycle cost of vector ops
@pytest.mark.parametrize("lanes", [8, 3, 1])
@pytest.mark.parametrize("body", ["vfill r2, r3, r1", "vadd.f r2, r2, r2, r1", "vfma.fs r2, r2, r3, r1",
                                  "vcopy r2, r4, r1", "vscale r2, r2, r3, r1"])
@pytest.mark.parametrize("n1, n2", [(0, 1), (1, 8), (5, 37), (8, 9), (16, 100)])
def test_vector_cycles_grow_by_ceil_n_over_lanes(lanes, body, n1, n2):
    spec = ws.WaferSpec(width=8, height=8, vector_lanes=lanes)
    dev = ws.Device(spec)
    prog = ws.assemble(f"""
.sram 256
.args 1
    arg r1, 0
    li r2, 0
    li r3, 2
    li r4, 120
    {body}
    halt
""")
    k = ws.Kernel(prog, dev)[(2, 2), (4, 4)]
    c1, c2 = k(n1).cycles, k(n2).cycles
    assert c2 - c1 == math.ceil(n2 / lanes) - math.ceil(n1 / lanes)
