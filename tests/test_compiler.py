"""Differential tests of the `@ws.jit` compiler: every construct of the kernel language is compiled, run on
the simulator, and compared per PE with plain Python / NumPy evaluation of the same code on the same inputs.

Two patterns are used:
- expression tables: a kernel is rendered from a list of expression strings (written to a temporary module,
  since the compiler reads its source with `inspect.getsource`); each PE loads its inputs, evaluates every
  expression and stores the results; the reference is Python's `eval` of the same strings on the same inputs
  (float inputs as np.float32 scalars, so float32 semantics apply);
- hand-written kernels, and device functions (`@ws.jit` functions called from a kernel, inlined) whose
  reference is the very same Python function (`.py_func`) run by the interpreter.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import wafersim as ws
from conftest import launch, load_source, opcodes
from test_isa_float_math import exact_fmas

N = 16  # PEs per launch in the 1-row tests: block (N, 1) on grid (1, 1)

ALPHA = 0.5  # a module-level constant kernels read at compile time
ICONST = 7


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=16, height=16))


load_module = load_source  # write generated source to a file and import it (see conftest.py)


def ulp_diff(a, b) -> np.ndarray:
    """Distance in float32 units in the last place (same-sign finite values)."""
    ai = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    bi = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    return np.abs(ai - bi)


# ----------------------------------------------------------------------------- inputs
RNG = np.random.default_rng(1234)
FA = np.array([1.5, -2.25, 3.0, -0.75, 0.1, -3.9, 2.0, 0.0, -1.0, 3.7, -0.3, 1.25, -2.5, 0.6, 3.3, -1.7],
              np.float32)
FB = np.array([0.5, 1.75, -2.0, -0.5, 3.2, 1.1, -1.3, 2.4, 0.9, -3.6, 1.9, -0.7, 2.8, -1.4, 0.55, 3.0], np.float32)
IM = np.array([-7, 7, -7, 7, 13, -13, 0, 5, -1, 20, -20, 3, 9, -9, 1, 17], np.int32)
IN = np.array([2, -2, -2, 2, 4, 4, -3, 5, 3, -6, 7, -1, 9, 1, -4, 8], np.int32)  # never zero


def run_exprs(dev, tmp_path, exprs, prelude=""):
    """Compile one kernel storing every expression of `exprs` [(text, 'i'|'f', ulps)], run it, and compare with
    Python's evaluation of the same text on a, b (np.float32) and m, n (Python int) per PE."""
    lines = ["import math", "import numpy as np", "import wafersim as ws", "ALPHA = 0.5", "ICONST = 7", prelude,
             "", "@ws.jit", "def kern(x, y, z, w, oi, of):", "    i = ws.grid(1)", "    a = x[i]", "    b = y[i]",
             "    m = z[i]", "    n = w[i]"]
    ki = kf = 0
    cols = []
    for text, kind, _ in exprs:
        if kind == "i":
            lines.append(f"    oi[i, {ki}] = {text}")
            cols.append(ki)
            ki += 1
        else:
            lines.append(f"    of[i, {kf}] = {text}")
            cols.append(kf)
            kf += 1
    module = load_module(tmp_path, "\n".join(lines) + "\n")
    oi = np.zeros((N, max(ki, 1)), np.int32)
    of = np.zeros((N, max(kf, 1)), np.float32)
    _, _, _, _, got_i, got_f = launch(dev, module.kern, FA, FB, IM, IN, oi, of)
    failures = []
    for (text, kind, ulps), col in zip(exprs, cols):
        for p in range(N):
            env = {"a": FA[p], "b": FB[p], "m": int(IM[p]), "n": int(IN[p]), "math": math, "np": np,
                   "ALPHA": 0.5, "ICONST": 7}
            if prelude:
                exec(prelude, env)
            want = eval(text, env)
            if kind == "i":
                got = int(got_i[p, col])
                if got != int(np.int64(int(want)).astype(np.int32)):
                    failures.append(f"{text!r} on PE {p} (a={FA[p]}, b={FB[p]}, m={IM[p]}, n={IN[p]}): "
                                    f"want {int(want)}, got {got}")
            else:
                want32, got = np.float32(want), got_f[p, col]
                same = (want32 == got) or (np.isnan(want32) and np.isnan(got))
                if not same and not (ulps and ulp_diff(want32, got) <= ulps):
                    failures.append(f"{text!r} on PE {p} (a={FA[p]}, b={FB[p]}, m={IM[p]}, n={IN[p]}): "
                                    f"want {want32!r}, got {got!r}")
    assert not failures, "\n".join(failures[:30])
    return module


# ----------------------------------------------------------------------------- arithmetic
INT_EXPRS = [
    "m + n", "m - n", "m * n", "m // n", "m % n", "-m", "not m", "~m", "m & n", "m | n", "m ^ n",
    "m << 3", "m >> 2", "m << (n & 7)", "m >> (n & 7)", "m + 100000", "m - 100000", "m * 70000",
    "m * 3 - 7", "m // 4", "m % 4", "m // -3", "m % -3", "-m // n", "(m * 5) % n", "m & 0xFF", "m ^ -1",
    "7 // -2 + m", "-7 % 3 + m", "ICONST * m", "not (m - m)", "+m",
]


def test_integer_arithmetic_and_bitwise(dev, tmp_path):
    run_exprs(dev, tmp_path, [(e, "i", 0) for e in INT_EXPRS])


FLOAT_EXPRS = [
    ("a + b", 0), ("a - b", 0), ("a * b", 0), ("a / b", 0), ("-a", 0), ("m + a", 0), ("a * n", 0),
    ("a - m", 0), ("m / n", 1), ("m / 4", 1), ("7 / 2", 0), ("a * 0.1 + 0.2", 0), ("ALPHA * a", 0),
    ("(a + b) * (a - b) / (b * b + 1.0)", 0), ("a + 1", 0), ("2 * a - 3 * b", 0), ("m * 0.5", 0),
]


def test_float_arithmetic_and_int_float_promotion(dev, tmp_path):
    run_exprs(dev, tmp_path, [(e, "f", u) for e, u in FLOAT_EXPRS])


def test_true_division_of_ints_gives_float(dev, tmp_path):
    # stored in a float array with the exact quotient: an int result would truncate 7/2 to 3
    module = run_exprs(dev, tmp_path, [("m / n", "f", 1), ("m / 2", "f", 0), ("(m + 1) / 4", "f", 0)])
    assert "fdiv" in opcodes(module.kern.inspect_asm())


def test_integer_overflow_wraps_like_int32(dev):
    @ws.jit
    def k_wrap(x, y, out):
        i = ws.grid(1)
        a = x[i]
        b = y[i]
        out[i, 0] = a * b
        out[i, 1] = a + b
        out[i, 2] = a - b
        out[i, 3] = -a
        out[i, 4] = a << 4

    x = np.array([2**30, -(2**31), 2**31 - 1, 123456789, -98765, 65536] + [1000003] * 10, np.int32)
    y = np.array([4, -1, 2**31 - 1, 1000, 77777, 65536] + [-(2**20)] * 10, np.int32)
    (_, _, out) = launch(dev, k_wrap, x, y, np.zeros((N, 5), np.int32))
    with np.errstate(over="ignore"):
        want = np.stack([x * y, x + y, x - y, -x, x << 4], axis=1)
    np.testing.assert_array_equal(out, want)


COMPARE_EXPRS = [
    "m < n", "m <= n", "m > n", "m >= n", "m == n", "m != n", "-5 < m < n", "m < n <= 4", "0 <= m < 10 != n",
    "a < b", "a <= b", "a > b", "a >= b", "a == b", "a != b", "m < a", "a == a", "n > b",
    "m and n", "m or n", "(m > 0) and (n > 0)", "(m > 0) or (n > 0)", "m > 0 and n > 0 and m > n",
    "not (m > n)", "not a", "m if m > n else n", "1 if a > b else 2", "(m if n > 0 else -m) + 1",
]


def test_comparisons_boolops_and_conditional_expressions(dev, tmp_path):
    run_exprs(dev, tmp_path, [(e, "i", 0) for e in COMPARE_EXPRS])


def test_conditional_expression_promotes_to_float(dev, tmp_path):
    run_exprs(dev, tmp_path, [("a if m > 0 else b", "f", 0), ("a if m > 0 else 2", "f", 0),
                              ("m if a > 0 else b", "f", 0), ("3 if a > b else 2.5", "f", 0),
                              ("m if n > 0 else float(n)", "f", 0), ("m if n > 0 else -b", "f", 0),
                              ("m if n > 0 else (a if m > 0 else 1)", "f", 0)])


def test_conditional_expression_int_body_float_call_else(dev, tmp_path):
    # Python gives a float when the else branch is a float-valued call (abs / min / max of floats);
    # the compiler must pick float32 for the result, not reject the float as "assigned to an int32".
    run_exprs(dev, tmp_path, [("m if a > 0 else abs(b)", "f", 0), ("m if a > 0 else max(a, b)", "f", 0),
                              ("m if a > 0 else min(b, 1.5)", "f", 0)])


def test_conditional_expression_int_body_np_float32_global_else(dev, tmp_path):
    # a module-level np.float32 constant is a float: `m if c else BETA` is a float32
    run_exprs(dev, tmp_path, [("m if a > 0 else BETA", "f", 0)], prelude="BETA = np.float32(0.25)")


MATH_EXPRS = [
    ("math.sqrt(abs(a))", 2), ("math.exp(a)", 2), ("math.log(abs(a) + 0.5)", 2), ("math.tanh(a)", 2),
    ("math.sqrt(float(m * m))", 0), ("abs(a)", 0), ("abs(m)", 0), ("min(a, b)", 0), ("max(a, b)", 0),
    ("max(a, m)", 0), ("min(m, a, n)", 0), ("max(a, b, 1.5)", 0), ("min(b, 1, a)", 0), ("float(m)", 0),
    ("float(m) / 3", 1), ("math.exp(1.0)", 1), ("math.sqrt(2.0) * a", 1),
]


def test_math_functions_abs_min_max_float(dev, tmp_path):
    run_exprs(dev, tmp_path, [(e, "f", u) for e, u in MATH_EXPRS])


def test_int_min_max_abs_int_conversion(dev, tmp_path):
    run_exprs(dev, tmp_path, [(e, "i", 0) for e in (
        "min(m, n)", "max(m, n)", "max(m, n, 3)", "min(m, n, -2, 4)", "abs(m - n)", "int(a)", "int(-a)",
        "int(a * 3.0)", "int(m / n)", "int(b) + m", "int(7.9)", "int(-7.9)")])


def test_fma(dev):
    @ws.jit
    def k_fma(x, y, z, out):
        i = ws.grid(1)
        out[i, 0] = ws.fma(x[i], y[i], z[i])
        out[i, 1] = ws.fma(x[i], 3, 1)  # int operands promote

    x = RNG.uniform(-4, 4, N).astype(np.float32)
    y = RNG.uniform(-4, 4, N).astype(np.float32)
    z = RNG.uniform(-4, 4, N).astype(np.float32)
    (_, _, _, out) = launch(dev, k_fma, x, y, z, np.zeros((N, 2), np.float32))
    np.testing.assert_array_equal(out[:, 0], exact_fmas(x, y, z))  # one rounding, from the exact value
    np.testing.assert_array_equal(out[:, 1], exact_fmas(x, 3, 1))
    assert "fma" in opcodes(k_fma.inspect_asm())


# ----------------------------------------------------------------------------- control flow
@ws.jit
def classify(v):
    if v < -10:
        r = -2
    elif v < 0:
        r = -1
    elif v == 0:
        r = 0
    elif v < 10:
        r = 1
    else:
        r = 2
    if v % 2 == 0:
        r = r * 10
    return r


@ws.jit
def ranges(v):
    s = 0
    for k in range(5):
        s += k * v
    for k in range(2, 7):
        s += k
    for k in range(1, 20, 3):
        s = s * 2 - k
    for k in range(10, -4, -3):
        s += k * k
    for k in range(v, -3, -2):  # variable bounds, negative step, possibly empty
        s -= k
    for k in range(v, v):  # empty
        s += 1000
    for k in range(-v):
        s += 7
    return s


@ws.jit
def tuples(v):
    s = v
    for c in (1, 3, -2):
        s = s * c + v
    for c in (5, 6, 7, 8):
        if c == 6:
            continue
        if c == 8 and v > 0:
            break
        s += c
    return s


@ws.jit
def collatz(v):
    steps = 0
    while v != 1:
        if v % 2 == 0:
            v = v // 2
        else:
            v = 3 * v + 1
        steps += 1
    return steps


@ws.jit
def loop_controls(v):
    s = 0
    k = 0
    while True:
        k += 1
        if k > 30:
            break
        if k % 3 == 0:
            continue
        s += k * v
    for j in range(20):
        if j == v:
            break
        if j % 2 == 1:
            continue
        for q in range(j):
            if q > 2:
                break
            s += q
    return s


@ws.jit
def early(v):
    for k in range(100):
        if k * k > v:
            return k
    return -1


@ws.jit
def apply_ctrl(x, out):
    i = ws.grid(1)
    v = x[i]
    out[i, 0] = classify(v)
    out[i, 1] = ranges(v % 8)
    out[i, 2] = tuples(v)
    out[i, 3] = collatz(abs(v) % 27 + 1)
    out[i, 4] = loop_controls(v % 25)
    out[i, 5] = early(v * v)


def test_control_flow_matches_python():
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    x = np.array([-15, -10, -3, 0, 1, 2, 9, 10, 11, 26, -7, 4, 5, 6, 7, 8], np.int32)
    (_, out) = launch(dev, apply_ctrl, x, np.zeros((N, 6), np.int32))
    funcs = [lambda v: classify.py_func(v), lambda v: ranges.py_func(v % 8), lambda v: tuples.py_func(v),
             lambda v: collatz.py_func(abs(v) % 27 + 1), lambda v: loop_controls.py_func(v % 25),
             lambda v: early.py_func(v * v)]
    want = np.array([[f(int(v)) for f in funcs] for v in x], np.int32)
    np.testing.assert_array_equal(out, want)


def test_kernel_early_return_and_while(dev):
    @ws.jit
    def k_early(x, out):
        i = ws.grid(1)
        v = x[i]
        out[i] = -1
        if v < 0:
            return
        n = 0
        while v > 0:
            v = v // 3
            n += 1
            if n == 3:
                out[i] = 100
                return
        out[i] = n

    x = np.array([-5, 0, 1, 2, 3, 8, 9, 26, 27, 80, -1, 5, 100, 1000, 4, 7], np.int32)

    def ref(v):
        if v < 0:
            return -1
        n = 0
        while v > 0:
            v //= 3
            n += 1
            if n == 3:
                return 100
        return n

    (_, out) = launch(dev, k_early, x, np.zeros(N, np.int32))
    np.testing.assert_array_equal(out, [ref(int(v)) for v in x])


def test_for_loop_variable_after_loop_is_last_value(dev):
    # Python: after `for k in range(n)`, k is n - 1 (the last value taken), not n
    @ws.jit
    def k_after(x, out):
        i = ws.grid(1)
        k = -1
        for k in range(x[i]):
            pass
        out[i] = k

    x = np.arange(1, N + 1, dtype=np.int32)
    (_, out) = launch(dev, k_after, x, np.zeros(N, np.int32))
    np.testing.assert_array_equal(out, x - 1)


def test_assigning_loop_variable_does_not_change_iteration(dev):
    # Python: rebinding the loop variable in the body does not affect the next iteration
    @ws.jit
    def k_rebind(x, out):
        i = ws.grid(1)
        s = 0
        for k in range(x[i]):
            k = k * 10
            s += k
        out[i] = s

    x = np.arange(N, dtype=np.int32) % 6
    (_, out) = launch(dev, k_rebind, x, np.zeros(N, np.int32))
    np.testing.assert_array_equal(out, [sum(k * 10 for k in range(int(v))) for v in x])


def test_augmented_assignment(dev):
    @ws.jit
    def k_aug(x, y, fo, io):
        i = ws.grid(1)
        f = x[i]
        f += 1.5
        f -= y[i]
        f *= 2.0
        f /= 4.0
        n = i + 3
        n += 10
        n -= 4
        n *= 3
        n //= 2
        n %= 7
        n <<= 3
        n >>= 1
        n |= 1
        n &= 13
        n ^= 6
        g = 0.0
        g += n  # int into a float variable
        fo[i, 0] = f
        fo[i, 1] = g
        fo[i, 2] = 1.0
        fo[i, 2] += x[i]  # global element
        fo[i, 2] *= 3.0
        buf = ws.local.array(4, np.int32)
        buf[0] = i
        buf[0] += 5
        buf[i % 4] = 2
        buf[i % 4] *= n
        io[i, 0] = n
        io[i, 1] = buf[0]
        io[i, 2] = buf[i % 4]

    x, y = FA, FB
    (_, _, fo, io) = launch(dev, k_aug, x, y, np.zeros((N, 3), np.float32), np.zeros((N, 3), np.int32))
    for p in range(N):
        f = x[p]
        f += np.float32(1.5)
        f -= y[p]
        f *= np.float32(2.0)
        f /= np.float32(4.0)
        n = p + 3
        n += 10
        n -= 4
        n *= 3
        n //= 2
        n %= 7
        n <<= 3
        n >>= 1
        n |= 1
        n &= 13
        n ^= 6
        buf = [p + 5, 0, 0, 0]
        buf[p % 4] = 2 * n
        assert fo[p, 0] == f, p
        assert fo[p, 1] == np.float32(n), p
        assert fo[p, 2] == (np.float32(1.0) + x[p]) * np.float32(3.0), p
        assert list(io[p]) == [n, buf[0], buf[p % 4]], p



# ----------------------------------------------------------------------------- register pressure
def pressure_source(count: int) -> str:
    lines = ["import numpy as np", "import wafersim as ws", "", "@ws.jit", "def kern(x, y, out, fout):",
             "    i = ws.grid(1)", "    v = x[i]", "    f = y[i]"]
    for k in range(count):
        lines.append(f"    t{k} = v * {k + 1} + {k * k}")
        lines.append(f"    g{k} = f * {k + 1}.0 - {k}.5")
    lines.append("    s = 0")
    lines.append("    h = 0.0")
    for k in range(count):
        lines.append(f"    s = s * 3 + t{k}")
        lines.append(f"    h = h + g{k}")
    lines += ["    out[i] = s", "    fout[i] = h"]
    return "\n".join(lines) + "\n"


def pressure_reference(v: int, f: np.float32, count: int):
    t = [v * (k + 1) + k * k for k in range(count)]
    g = [f * np.float32(k + 1) - np.float32(k + 0.5) for k in range(count)]
    s, h = 0, np.float32(0.0)
    for k in range(count):
        s = ((s * 3 + t[k] + 2**31) % 2**32) - 2**31  # int32 wrap-around
        h = h + g[k]
    return s, h


@pytest.mark.parametrize("registers", [32, 12])
def test_register_pressure(tmp_path, registers):
    count = 40
    module = load_module(tmp_path, pressure_source(count))
    dev = ws.Device(ws.WaferSpec(width=8, height=8, registers=registers))
    x = RNG.integers(-50, 50, 8).astype(np.int32)
    y = RNG.uniform(-2, 2, 8).astype(np.float32)
    (_, _, out, fout) = launch(dev, module.kern, x, y, np.zeros(8, np.int32), np.zeros(8, np.float32),
                               block=(8, 1))
    for p in range(8):
        s, h = pressure_reference(int(x[p]), y[p], count)
        assert out[p] == s and fout[p] == h, (p, out[p], s, fout[p], h)
    compiled = module.kern.compile_for(dev.to_device(x), dev.to_device(y), dev.to_device(out),
                                       dev.to_device(fout), device=dev)
    assert len(compiled.allocation.spills) > 0  # 80 live values do not fit: the allocator spilled
    assert compiled.allocation.registers_used <= registers - 4


# ----------------------------------------------------------------------------- dispatcher
def test_dispatcher_caches_per_signature_and_inspects(dev):
    @ws.jit
    def k_disp(x, out, s):
        i = ws.grid(1)
        out[i] = x[i] * s

    with pytest.raises(ws.LaunchError):
        k_disp.inspect_asm()  # nothing compiled yet
    assert len(k_disp.cache) == 0
    xf = np.arange(N, dtype=np.float32)
    (_, out) = launch(dev, k_disp, xf, np.zeros(N, np.float32), 3)
    np.testing.assert_array_equal(out, xf * 3)
    assert len(k_disp.cache) == 1
    (_, out) = launch(dev, k_disp, xf + 1, np.zeros(N, np.float32), 5)
    np.testing.assert_array_equal(out, (xf + 1) * 5)
    assert len(k_disp.cache) == 1  # same types: reused
    xi = np.arange(N, dtype=np.int32)
    (_, out) = launch(dev, k_disp, xi, np.zeros(N, np.int32), 3)
    np.testing.assert_array_equal(out, xi * 3)
    assert len(k_disp.cache) == 2
    ir, asm = k_disp.inspect_ir(), k_disp.inspect_asm()
    assert isinstance(ir, str) and isinstance(asm, str) and ir and asm
    assert "gld" in asm and "gst" in asm and "mul" in opcodes(asm)  # the int32 specialisation is the last
    (_, out) = launch(dev, k_disp, xf, np.zeros(N, np.float32), 2.5)
    np.testing.assert_array_equal(out, xf * np.float32(2.5))
    assert len(k_disp.cache) == 3  # a float scalar is another signature
    assert "fmul" in opcodes(k_disp.inspect_asm())
    with pytest.raises(ws.LaunchError):
        k_disp(xf, xf, 1)


def test_compile_error_points_at_source(dev):
    @ws.jit
    def k_bad(x, out):
        i = ws.grid(1)
        out[i] = undefined_name + x[i]  # noqa: F821

    with pytest.raises(ws.CompileError) as info:
        launch(dev, k_bad, np.zeros(N, np.float32), np.zeros(N, np.float32))
    assert "undefined_name" in str(info.value)
    assert re.search(r"test_compiler\.py:\d+:\d+", str(info.value))


def test_the_garbage_collector_is_off_while_compiling_and_restored_after():
    """compile_kernel pauses Python's cyclic collector (compiler.collector_paused) and gives it back as it
    was, after a compile error too, and leaves it off where the caller turned it off."""
    import gc

    from wafersim.compiler import passes as compiler_passes

    seen = []
    first_name, first_pass = compiler_passes.PASSES[0]

    def spy(fn, undefined):
        seen.append(gc.isenabled())
        first_pass(fn, undefined)

    compiler_passes.PASSES[0] = (first_name, spy)
    try:
        _compile_with_and_without_the_collector(seen)
    finally:
        compiler_passes.PASSES[0] = (first_name, first_pass)


def _compile_with_and_without_the_collector(seen: list) -> None:
    import gc

    def good(out):
        out[0] = 1

    def bad(out):
        out[0] = undefined_name  # noqa: F821 (the compile error)

    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(1, np.int32)
    assert gc.isenabled()
    ws.jit(good).compile_for(out, device=dev)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(ws.CompileError):
        ws.jit(bad).compile_for(out, device=dev)
    assert gc.isenabled()
    gc.disable()
    try:
        ws.jit(good).compile_for(out, device=dev)
        assert not gc.isenabled()
    finally:
        gc.enable()
