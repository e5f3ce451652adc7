"""sim/compute.py: integer div and rem truncate toward zero like C (the ISA's rule), on every sign, with
and without the int32 shortcut for non-negative dividends and positive divisors; the float min and max
instructions are NumPy's minimum and maximum on nans and signed zeros (docs/isa.md)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import strategy, sum_kernels

from wafersim.sim.compute import _int_div, _int_rem, _left_to_right


def c_div(a: int, b: int) -> int:
    """The ISA's `div` on Python ints: truncating, b = 0 gives -1, INT_MIN / -1 wraps."""
    if b == 0:
        return -1
    q = abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1)
    return (q + 2**31) % 2**32 - 2**31


@pytest.mark.parametrize("dividends, divisors", [((0, 1000), (1, 17)), ((-1000, 1000), (-9, 17)),
                                                 ((0, 1000), (0, 3))])
def test_div_and_rem_match_c_semantics(dividends, divisors):
    rng = np.random.default_rng(7)
    a = rng.integers(*dividends, 4000).astype(np.int32)
    b = rng.integers(*divisors, 4000).astype(np.int32)
    a[:2], b[:2] = (np.iinfo(np.int32).min, 7), (-1, 1)  # INT_MIN / -1 wraps; (forces the general path)
    if dividends[0] >= 0 and divisors[0] > 0:
        a[:2], b[:2] = (np.iinfo(np.int32).max, 0), (1, 5)  # (keeps the shortcut's preconditions)
    expected_q = np.array([c_div(x, y) for x, y in zip(a.tolist(), b.tolist())], dtype=np.int64)
    expected_r = np.where(b == 0, a, a.astype(np.int64) - b.astype(np.int64) * expected_q)
    q, r = _int_div(a, b), _int_rem(a, b)
    assert q.dtype == r.dtype == np.int32
    np.testing.assert_array_equal(q, expected_q.astype(np.int32))
    np.testing.assert_array_equal(r, ((expected_r + 2**31) % 2**32 - 2**31).astype(np.int32))


def _run_words(source: str, data: np.ndarray, n_out: int) -> np.ndarray:
    """Run `source` on one PE whose SRAM starts as `data` (int32 words) and return SRAM words [0, n_out)."""
    import wafersim as ws

    init = "".join(f"li r9, {int(v)}\nst r9, r0, {k}\n" for k, v in enumerate(data))
    dump = "".join(f"ld r9, r0, {k}\ngst r9, r30, {4 * k}\n" for k in range(n_out))
    program = ws.assemble(f".sram {len(data)}\n.args 1\narg r30, 0\n{init}{source}\n{dump}halt\n")
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(n_out, np.int32)
    ws.Kernel(program)[1, 1](out)
    return out.copy_to_host()


def test_fmin_fmax_and_vmin_f_are_numpy_minimum_and_maximum_on_nans_and_zeros():
    # docs/isa.md: nan if either is nan (not Python's min, which keeps 1.0 in min(1.0, nan)); of two zeros, b.
    a = np.array([np.nan, 1.0, 0.0, -0.0, 2.0, -np.inf], np.float32)
    b = np.array([1.0, np.nan, -0.0, 0.0, np.nan, 3.0], np.float32)
    n = len(a)
    data = np.concatenate([a, b, np.zeros(4 * n, np.float32)]).view(np.int32)
    scalar = "".join(f"ld r1, r0, {k}\nld r2, r0, {n + k}\nfmin r3, r1, r2\nfmax r4, r1, r2\n"
                     f"st r3, r0, {2 * n + k}\nst r4, r0, {3 * n + k}\n" for k in range(n))
    vector = (f"li r1, 0\nli r2, {n}\nli r3, {4 * n}\nli r4, {n}\nli r5, {5 * n}\n"
              f"vmin.f r3, r1, r2, r4\nvmax.f r5, r1, r2, r4\n")
    got = _run_words(scalar + vector, data, 6 * n).view(np.float32)
    for k, expected in enumerate([np.minimum(a, b), np.maximum(a, b)] * 2):
        np.testing.assert_array_equal(got[(2 + k) * n:(3 + k) * n].view(np.int32), expected.view(np.int32))


@pytest.mark.parametrize("modifier, dtype", [("", np.float16), (".b", "bfloat16")])
def test_vhmin_vhmax_are_numpy_minimum_and_maximum_in_16_bits(modifier, dtype):
    import ml_dtypes

    dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype
    a = np.array([np.nan, 1.0, 0.0, -0.0, 2.0, -np.inf], np.float32).astype(dtype)
    b = np.array([1.0, np.nan, -0.0, 0.0, np.nan, 3.0], np.float32).astype(dtype)
    n = len(a)
    words = lambda x: x.view(np.uint16).astype(np.int32)  # noqa: E731  (a 16-bit value in a word's low half)
    data = np.concatenate([words(a), words(b), np.zeros(2 * n, np.int32)])
    source = f"li r1, 0\nli r2, {n}\nli r3, {2 * n}\nli r4, {n}\nli r5, {3 * n}\n" \
             f"vhmin{modifier} r3, r1, r2, r4\nvhmax{modifier} r5, r1, r2, r4\n"
    got = _run_words(source, data, 4 * n)
    np.testing.assert_array_equal(got[2 * n:3 * n], words(np.minimum(a, b)))
    np.testing.assert_array_equal(got[3 * n:], words(np.maximum(a, b)))


@pytest.mark.parametrize("strings, imm, label", [('.string 3 "rows"\n', 3, "rows"), ("", 3, "#3"),
                                                 ('.string 5 "cols"\n', 3, "#3")])
def test_chk_names_its_string_or_labels_a_missing_one_as_print_does(strings, imm, label):
    """docs/isa.md: chk stops with a MemoryAccessError unless 0 <= a < b, its message the program's string
    number imm; a number with no `.string` was labelled "index", where `print` labels it #N."""
    import wafersim as ws

    program = ws.assemble(f"{strings}li r1, 5\nli r2, 3\nchk r1, r2, {imm}\nhalt\n")
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(program)[1, 1]()
    assert str(info.value).startswith(f"{label}: index 5 is out of bounds for size 3")
    assert (info.value.index, info.value.size, info.value.array) == (5, 3, label)
    ok = ws.assemble(f"{strings}li r1, 2\nli r2, 3\nchk r1, r2, {imm}\nhalt\n")  # 0 <= 2 < 3: no error
    assert ws.Kernel(ok)[1, 1]().instructions == 4


@pytest.mark.parametrize("flag, fails", [(1, False), (7, False), (0, True), (-3, True)])
def test_chk_against_r0_is_a_guard_whose_message_is_its_string(flag, fails):
    """docs/isa.md: `chk r0, rB, N` (a = r0, always 0) fails where b <= 0 (0 <= 0 < b is false), and its
    message is string N alone, without the index and size of a bounds check."""
    import wafersim as ws

    program = ws.assemble(f'.string 2 "the flag must be positive"\nli r2, {flag}\nchk r0, r2, 2\nhalt\n')
    if not fails:
        assert ws.Kernel(program)[1, 1]().instructions == 3
        return
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(program)[1, 1]()
    assert str(info.value).splitlines()[0].startswith("the flag must be positive")
    assert "out of bounds" not in str(info.value)


@pytest.mark.parametrize("text, error, message", [
    ("division by zero", "KernelZeroDivisionError", "integer division by zero"),
    ("negative shift count", "KernelValueError", "negative shift count")])
def test_a_chk_with_the_compilers_arithmetic_strings_raises_pythons_error(text, error, message):
    """docs/isa.md: these strings make a failing chk raise the error Python raises for the same mistake."""
    import wafersim as ws

    program = ws.assemble(f'.string 1 "{text}"\nli r2, 0\nchk r0, r2, 1\nhalt\n')
    with pytest.raises(getattr(ws, error)) as info:
        ws.Kernel(program)[1, 1]()
    assert str(info.value).startswith(message)
    with pytest.raises(Exception) as python:  # the class Python raises for the same mistake
        1 // 0 if error == "KernelZeroDivisionError" else 1 << -1
    assert isinstance(info.value, python.type)


# ---------------------------------------------------------------- two NaN operands (review46, nan46)
@ws.jit
def _two_nan_ops(data, vec, out, vout, sums):
    """Per lane: fadd, fmul, fsub, fma of its two NaNs; vadd, vmul, vfma, vscale over 3 words; vredsum, vdot."""
    x = ws.threadIdx.x
    a = data[0, x]
    b = data[1, x]
    out[0, x] = a + b
    out[1, x] = a * b
    out[2, x] = a - b
    out[3, x] = a * b + data[2, x]
    u = ws.local.array(3, np.float32)
    v = ws.local.array(3, np.float32)
    w = ws.local.array(3, np.float32)
    u[0:3] = vec[0, x * 3:x * 3 + 3]
    v[0:3] = vec[1, x * 3:x * 3 + 3]
    w[0:3] = u[0:3] + v[0:3]
    vout[0, x * 3:x * 3 + 3] = w[0:3]
    w[0:3] = u[0:3] * v[0:3]
    vout[1, x * 3:x * 3 + 3] = w[0:3]
    w[0:3] = u[0:3]
    w[0:3] += v[0:3] * u[0:3]
    vout[2, x * 3:x * 3 + 3] = w[0:3]
    w[0:3] = u[0:3] * a
    vout[3, x * 3:x * 3 + 3] = w[0:3]
    sums[0, x] = sum(u[0:3])
    sums[1, x] = ws.dot(u[0:3], v[0:3])
    sums[2, x] = ws.dot(u[0:1], v[0:1])  # (one product: np.multiply's tail reaches the sum)


def _first_nan_bits(*operands: int) -> int:
    """Plain Python, the rule: of NaN operands the first's payload, quieted (operands as float32 bits)."""
    return next(bits for bits in operands if bits & 0x7F800000 == 0x7F800000 and bits & 0x7FFFFF) | 0x400000


@pytest.mark.parametrize("run", [strategy.REFERENCE, strategy.FAST, strategy.Strategy(compiled=False)],
                         ids=["reference", "fast", "numpy"])
def test_of_two_nans_float_ops_give_nan_in_the_same_lanes_and_sums_keep_the_first_in_every_strategy(run):
    """np.add / np.multiply give the second NaN in their SIMD loops' tail (lanes 32..39 of 40, NumPy 2.4 on x86)
    and where the second operand is broadcast; the compiled engine the first: every strategy gives NaN in
    the same lanes, and the sums (and fsub, whose loop does not swap) keep the first, quieted."""
    lanes = 40
    rng = np.random.default_rng(46)
    def nans(shape):
        payload = rng.integers(1, 1 << 22, shape, dtype=np.uint32)
        return (payload | np.uint32(0x7F800000)) ^ (rng.integers(0, 2, shape, dtype=np.uint32) << 31)
    data, vec = nans((3, lanes)), nans((2, 3 * lanes))
    dev = ws.Device(ws.WaferSpec(width=lanes, height=1))
    out, vout, sums = (dev.device_array(shape, np.float32) for shape in ((4, lanes), (4, 3 * lanes), (3, lanes)))
    with strategy.forced(run):
        _two_nan_ops[(1, 1), (lanes, 1)](dev.to_device(data.view(np.float32)), dev.to_device(vec.view(np.float32)),
                                         out, vout, sums)
    want = [[_first_nan_bits(int(data[0, x]), int(data[1, x]), int(data[2, x])) for x in range(lanes)]] * 4
    u, v = (list(map(int, row)) for row in vec)
    scale = [int(data[0, k // 3]) for k in range(3 * lanes)]
    vwant = [[_first_nan_bits(p, q) for p, q in zip(u, v)], [_first_nan_bits(p, q) for p, q in zip(u, v)],
             [_first_nan_bits(p, q) for p, q in zip(u, v)], [_first_nan_bits(p, s) for p, s in zip(u, scale)]]
    swant = [[_first_nan_bits(*u[3 * x:3 * x + 3]) for x in range(lanes)]] * 3
    got, vgot, sgot = (array.copy_to_host().view(np.uint32) for array in (out, vout, sums))
    for row, (name, expected) in enumerate(zip(["fadd", "fmul", "fsub", "fma"], want)):
        if name == "fsub":  # (NumPy's subtract loop does not swap its operands: the first, as compiled)
            assert [hex(w) for w in got[row]] == [hex(w) for w in expected], name
        else:  # (NaN in the same lanes, the payload NumPy's choice: docs/engine-strategies.md)
            assert ((got[row] & 0x7F800000 == 0x7F800000) & (got[row] & 0x7FFFFF != 0)).all(), name
    for row, (name, expected) in enumerate(zip(["vadd", "vmul", "vfma", "vscale"], vwant)):
        # (the vector ops: NaN in the same words, the payload NumPy's choice: docs/engine-strategies.md)
        nan = (vgot[row] & 0x7F800000 == 0x7F800000) & (vgot[row] & 0x7FFFFF != 0)
        assert nan.all() and all(w & 0x7F800000 == 0x7F800000 and w & 0x7FFFFF for w in expected), name
    for row, (name, expected) in enumerate(zip(["vredsum", "vdot", "vdot of one"], swant)):
        assert [hex(w) for w in sgot[row]] == [hex(w) for w in expected], name


@pytest.mark.parametrize("shape", [(64, 1024), (3, 40), (1, 16), (40, 8), (9, 18)])  # (loop by rows; accumulate)
@pytest.mark.parametrize("ufunc", [np.add, np.minimum, np.maximum])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_left_to_right_reductions_combine_each_lanes_words_in_order_as_python_does(shape, ufunc, dtype):
    """`_left_to_right` (vredsum / vredmin / vredmax / vdot): per lane, ((w0 op w1) op w2) ..., each step
    rounded (float32) or wrapped (int32), NaNs, infinities and signed zeros as the scalar ops give them."""
    rng = np.random.default_rng(sum(shape))
    if dtype is np.float32:
        values = (rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 7, shape)).astype(np.float32)
        special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38], np.float32)
    else:
        values = rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
        special = np.array([2**31 - 1, -2**31, 0, -1], np.int32)
    hits = rng.random(shape) < 0.05
    values[hits] = rng.choice(special, int(hits.sum()))
    expected = values[0].copy()
    for k in range(1, shape[0]):
        for lane in range(shape[1]):
            with np.errstate(all="ignore"):
                expected[lane] = ufunc(expected[lane], values[k, lane])
    view = values.copy()
    with np.errstate(all="ignore"):  # (as the engine runs)
        got = _left_to_right(ufunc, view)
    assert got.dtype == values.dtype and got.shape == (shape[1],)
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))  # (bit for bit: -0.0, NaN payloads)
    np.testing.assert_array_equal(view, values)  # (the words it reads are left as they were)


# ---------------------------------------------------------------- a whole region's vector ops (bicg51)
@ws.jit
def _whole_region_ops(a, b, out, dots):
    """Per PE: vscale, vfma and vsub by its own scalar over 8 words, a vdot and a vredsum of them, and a vadd
    at an address that differs between PEs (odd ones one word on)."""
    x = ws.threadIdx.x
    u = ws.local.array(8, np.float32)
    v = ws.local.array(8, np.float32)
    w = ws.local.array(8, np.float32)
    u[0:8] = a[x, 0:8]
    v[0:8] = b[x, 0:8]
    s = a[x, 0]
    w[0:8] = u[0:8] * s
    w[0:8] += v[0:8] * s
    w[0:8] = w[0:8] - u[0:8]
    out[x, 0:8] = w[0:8]
    dots[0, x] = ws.dot(u[0:8], w[0:8])
    dots[1, x] = sum(w[0:8])
    k = x % 2
    w[k:k + 4] = u[k:k + 4] + v[0:4]
    out[x, 8:16] = w[0:8]


@pytest.mark.parametrize("run", [strategy.Strategy(compiled=False),
                                 strategy.Strategy(compiled=False, whole_vectors=False, compiled_sums=False)],
                         ids=["whole", "by-operand"])
def test_a_whole_regions_vector_ops_and_sums_give_numpys_words_in_the_engines_order(run, monkeypatch):
    """A group of every PE of its region (NumPy path): its vector ops' and sums' words as NumPy's float32
    operations in the same order, whether the operands are tested at once and the sums compiled or not; a
    vector op whose address differs between the PEs runs as before."""
    calls = []
    compiled = sum_kernels.dot_down
    monkeypatch.setattr(sum_kernels, "dot_down", lambda *args: calls.append(1) or compiled(*args))
    lanes = 24
    rng = np.random.default_rng(51)
    a, b = (rng.standard_normal((lanes, 8)).astype(np.float32) for _ in range(2))
    dev = ws.Device(ws.WaferSpec(width=lanes, height=1))
    out, dots = dev.device_array((lanes, 16), np.float32), dev.device_array((2, lanes), np.float32)
    with strategy.forced(run):
        stats = _whole_region_ops[(1, 1), (lanes, 1)](dev.to_device(a), dev.to_device(b), out, dots)
    assert len(calls) == (1 if run.compiled_sums else 0)  # (this process has Numba loaded: `sum_kernels`)
    s = a[:, :1]
    w = (a * s + b * s) - a  # (each product rounded, then the sum: float32 NumPy)
    dot = np.zeros(lanes, np.float32)
    total = np.zeros(lanes, np.float32)
    for k in range(8):  # (left to right, as a Python loop)
        dot = (a[:, k] * w[:, k]) if k == 0 else dot + a[:, k] * w[:, k]
        total = w[:, k].copy() if k == 0 else total + w[:, k]
    shifted = w.copy()
    for x in range(lanes):
        k = x % 2
        shifted[x, k:k + 4] = a[x, k:k + 4] + b[x, 0:4]
    got = out.copy_to_host()
    np.testing.assert_array_equal(got[:, :8].view(np.int32), w.view(np.int32))
    np.testing.assert_array_equal(got[:, 8:].view(np.int32), shifted.view(np.int32))
    np.testing.assert_array_equal(dots.copy_to_host().view(np.int32), np.stack([dot, total]).view(np.int32))
    with strategy.forced(strategy.REFERENCE):
        reference = _whole_region_ops[(1, 1), (lanes, 1)](dev.to_device(a), dev.to_device(b), out, dots)
    assert stats.cycles == reference.cycles and stats.instructions == reference.instructions
    assert stats.flops == reference.flops and stats.vector_elements == reference.vector_elements
