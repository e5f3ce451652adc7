"""Hand-written corner kernels of docs/python-supported.md, the way a NumPy or CUDA user writes them (fuzz57), each
compared with the same source run as plain Python: int32 wrap-around in arithmetic, shifts and augmented
assignments, floor division and modulo of negatives (int and float), short circuits with side effects, device
functions with defaults and keywords, nan and signed zeros in comparisons and `min`/`max`, tuple swaps, early returns
from nested loops; and what an optimiser must not do to them: float identities that do not hold (`x - x` of nan or
inf, `-0.0 + 0.0`, `x * 0`), division by a constant as a multiplication by its reciprocal, a division hoisted out of a
loop that never runs, a load shared across a store to the same element, a device function's locals captured by the
caller's names, immediates summed past their 14-bit field. tests/test_compiler_python_corners_names.py holds the
second part (names, targets, loops, builtins).

Each kernel writes up to 16 float32 and 16 int32 results. The reference runs the same source as plain Python on
NumPy scalars (int arguments as `np.int32`, so every step wraps as the kernel's int32, or as Python ints where a case
says "py", its results wrapped where stored; float arguments as `np.float32`), device functions as the plain
functions they are and `ws.local.array` as `np.zeros`. Lines where the page documents a difference from Python (a
float literal is float32, an int meeting a float is converted to float32 first, `int()` saturates) are left out:
tests/test_compiler_python_sweep*.py states those."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, load_source
from test_compiler_python_sweep import JIT_PRELUDE, PLAIN_PRELUDE

N = 16


ARITHMETIC = '''# int32 overflow wrap in + - *
@jit
def wrap_arith(fo, io, a, b):
    io[0] = a + b
    io[1] = a * b
    io[2] = -a - b - 5
    io[3] = a * a * a
    c = a
    c += a
    io[4] = c
    io[5] = (a + 1) // 3
    io[6] = (a + a) % 7
    io[7] = (a + 1) >> 4


# shifts: constant and run-time counts, negative values
@jit
def shifts(fo, io, a, k, k31, k5):
    io[0] = a << k5
    io[1] = a >> k5
    io[2] = a << k31
    io[3] = a >> k31
    io[4] = a >> k
    io[5] = a << k
    io[6] = 1 << k31
    io[7] = (1 << k31) >> k31
    io[8] = a >> 40
    io[9] = ~a >> 3
    io[10] = (a << 20) >> 20
    s = a
    s <<= 3
    s >>= 1
    io[11] = s


# floor division / modulo of negatives (int)
@jit
def int_floordiv(fo, io, a, b, c, d, m, mone):
    io[0] = a // b
    io[1] = a % b
    io[2] = a // c
    io[3] = a % c
    io[4] = d // c
    io[5] = d % c
    io[6] = m // mone
    io[7] = m % mone
    io[8] = -7 // 2
    io[9] = -7 % 2
    io[10] = 7 % -2
    io[11] = a // 1
    io[12] = m // b
    io[13] = m % 3
    io[14] = a // -1


# float floor div / mod of negatives
@jit
def float_floordiv(fo, io, a, b, c, t, nz):
    fo[0] = a // b
    fo[1] = a % b
    fo[2] = a // c
    fo[3] = a % c
    fo[4] = 1.0 % t
    fo[5] = -1.0 % t
    fo[6] = nz % b
    fo[7] = nz % c
    fo[8] = 0.0 % c
    fo[9] = -7.5 // 2.0
    fo[10] = -7.5 % 2.0
    fo[11] = a // 3
    fo[12] = 7 % c


# augmented assignment to elements and slices
@jit
def aug_elements(fo, io, k, f):
    buf = ws.local.array(8, np.float32)
    ib = ws.local.array(8, np.int32)
    for j in range(8):
        buf[j] = j * 0.5
        ib[j] = j - 4
    buf[k] += f
    buf[k - 1] *= -f
    buf[2:6] += buf[0:4]
    buf[0:4] *= 2.0
    ib[k] //= 2
    ib[0] %= k
    ib[1] <<= k
    ib[2] >>= 1
    ib[3] ^= 5
    ib[4] |= 9
    ib[5] &= 6
    ib[6] -= 2**31 - 1
    ib[7] **= 3
    for j in range(8):
        fo[j] = buf[j]
        io[j] = ib[j]


# device functions with defaults and nested calls
@jit
def scaled(x, a=2.0, b=-1):
    return a * x + b


@jit
def twice(x, f=3):
    return scaled(x, b=f) + scaled(x)


@jit
def first_neg(n, bias=0):
    for j in range(n):
        if j * j > n + bias:
            return j
    return -1


@jit
def device_defaults(fo, io, n, f):
    fo[0] = scaled(f)
    fo[1] = scaled(f, 0.5)
    fo[2] = scaled(f, b=n)
    fo[3] = twice(f)
    fo[4] = twice(f, n)
    io[0] = first_neg(n)
    io[1] = first_neg(n, 100)
    io[2] = first_neg(0)
    io[3] = scaled(n, 3, 1)
    fo[5] = scaled(n, 3)


# short-circuit with side effects through a device function writing an array
@jit
def bump(arr, j, v):
    arr[j] += 1
    return v


@jit
def short_circuit(fo, io, z, five):
    cnt = ws.local.array(4, np.int32)
    for j in range(4):
        cnt[j] = 0
    r0 = bump(cnt, 0, z) and bump(cnt, 1, five)
    r1 = bump(cnt, 2, five) or bump(cnt, 3, z)
    r2 = z or five
    r3 = five and z
    r4 = five and 7
    io[0] = r0
    io[1] = r1
    io[2] = r2
    io[3] = r3
    io[4] = r4
    for j in range(4):
        io[5 + j] = cnt[j]
    io[9] = int(not z)
    io[10] = (z < 1) + (five > 1)
'''

CONTROL = '''# NaN in comparisons and min/max
@jit
def nan_compare(fo, io, n, one, nz, z):
    io[0] = int(n < one)
    io[1] = int(n >= one)
    io[2] = int(n != n)
    io[3] = int(n == n)
    io[4] = int(not (n < one))
    fo[0] = max(one, n)
    fo[1] = max(n, one)
    fo[2] = min(one, n)
    fo[3] = min(n, one)
    fo[4] = max(nz, z)
    fo[5] = max(z, nz)
    fo[6] = min(z, nz)
    fo[7] = min(nz, z)
    io[5] = int(n > one or n <= one)
    io[6] = 1 if n else 0
    io[7] = int(max(n, 0.0) == 0.0)
    fo[8] = max(n, 0.0)
    fo[9] = max(0.0, n)
    fo[10] = min(nz, 0.0)
    fo[11] = max(nz, 0)
    fo[12] = max(-1, n, one)
    fo[13] = max(one, 2.0, n)


# tuple unpacking and swaps
@jit
def swaps(fo, io, a, b, f):
    a, b = b, a
    io[0] = a
    io[1] = b
    x, (y, z) = a + 1, (b * 2, a - b)
    io[2] = x
    io[3] = y
    io[4] = z
    p = q = a * b
    p += 1
    io[5] = p
    io[6] = q
    u, v = f, a * f
    u, v = v, u
    fo[0] = u
    fo[1] = v
    c, d = a, b
    for _ in range(5):
        c, d = d, c + d
    io[7] = c
    io[8] = d
    t = (a, b, c)
    r, s, w = t
    io[9] = r + s * 10 + w * 100


# early return from loops in device functions
@jit
def find(v, n):
    for j in range(n):
        for k in range(n):
            if j * k == v:
                return j * 100 + k
    return -1


@jit
def search_while(v):
    x = 0
    while True:
        x += 3
        if x > v:
            return x
        if x == 9:
            return -9


@jit
def early_returns(fo, io, v, n, w):
    io[0] = find(v, n)
    io[1] = find(w, n)
    io[2] = find(0, n)
    io[3] = search_while(v)
    io[4] = search_while(w)
    io[5] = find(v, n) + find(w, n)
'''

IDENTITIES = '''ZERO = 0.0


# algebraic identities that do not hold for floats
@jit
def float_identities(fo, io, n, inf, nz, x):
    fo[0] = n - n
    fo[1] = inf - inf
    fo[2] = nz + 0.0
    fo[3] = nz - 0.0
    fo[4] = nz * 0.0
    fo[5] = inf * 0
    fo[6] = n * 0.0
    fo[7] = inf / inf
    fo[8] = x - x
    fo[9] = 0.0 - nz
    fo[10] = -nz
    fo[11] = nz * 1.0
    fo[12] = 0 + nz
    fo[13] = nz + ZERO
    io[0] = int(n == n)
    io[1] = int(n != n)
    io[2] = int(n <= n)
    io[3] = int(not (n > n))
    io[4] = int(inf - inf == 0)
    fo[14] = x * 0 - nz * 0
    fo[15] = (x + n) * 0


# integer division strength reduction on negatives
@jit
def div_by_constants(fo, io, a, m, big, mone):
    io[0] = a // 4
    io[1] = a % 4
    io[2] = a // -4
    io[3] = a % -4
    io[4] = m // 8
    io[5] = m % 8
    io[6] = m // -8
    io[7] = big // -1
    io[8] = m // 2**30
    io[9] = a // 3
    io[10] = a % 3
    io[11] = a % -3
    io[12] = mone // 2
    io[13] = mone % 16
    io[14] = a * 2 // 2
    io[15] = m * 2 // 2


# float division by constants (reciprocal multiplication would round differently)
@jit
def float_div_constants(fo, io, a, b, sub, huge):
    fo[0] = a / 10.0
    fo[1] = b / 3.0
    fo[2] = a / 0.1
    fo[3] = b / 7.0
    fo[4] = sub / 2.0
    fo[5] = huge / 0.5
    fo[6] = sub / 0.25
    fo[7] = b / 49.0
    fo[8] = huge / 3.0
    fo[9] = a / 1e-30


# division by zero in a loop that never runs (loop-invariant motion must not hoist it)
@jit
def no_hoist(fo, io, n, z, a):
    s = 0
    for j in range(n):
        s += a // z
    io[0] = s
    t = 0
    k = 0
    while k < n:
        t += a % z
        k += 1
    io[1] = t
    if z != 0:
        io[2] = a // z
    else:
        io[2] = -77
    io[3] = z != 0 and a // z > 1


# aliasing of loads across stores through a run-time index
@jit
def alias_loads(fo, io, i, j, k):
    buf = ws.local.array(8, np.int32)
    for q in range(8):
        buf[q] = q
    x = buf[i]
    buf[j] = 100
    y = buf[i]
    buf[k] += buf[i]
    z = buf[k]
    io[0] = x
    io[1] = y
    io[2] = z
    buf[i] = buf[j] + buf[i]
    io[3] = buf[i]
    io[4] = buf[2]
    io[5] = buf[k - 1] + buf[i]


# inlining: name capture between a device function's locals and the caller's
@jit
def uses_j(n):
    j = 0
    s = 0
    for j in range(n):
        s += j
    return s + j


@jit
def modifies_param(x, j):
    x += 1
    j = j * 2
    return x * j


@jit
def name_capture(fo, io, n, j):
    s = 7
    x = 5
    io[0] = uses_j(n)
    io[1] = j
    io[2] = s
    io[3] = modifies_param(x, j)
    io[4] = x
    io[5] = j
    io[6] = modifies_param(j, x)
    io[7] = uses_j(j) + uses_j(n) * j


# nested device function calls with early returns and default referencing a global
@jit
def clamp(v, lo=-1.0, hi=ZERO + 1.0):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@jit
def clamp_sum(a, b):
    return clamp(a) + clamp(b, hi=5.0) + clamp(a + b, lo=a)


@jit
def nested_defaults(fo, io, a, b, c):
    fo[0] = clamp(a)
    fo[1] = clamp(b)
    fo[2] = clamp(c)
    fo[3] = clamp_sum(a, b)
    fo[4] = clamp_sum(c, c)
    fo[5] = clamp(b, hi=b * 2)
    fo[6] = clamp(float("nan"))


# augmented assignment where the index has side effects / is evaluated once
@jit
def inc(arr):
    arr[0] += 1
    return arr[0]


@jit
def aug_index_once(fo, io, one):
    b = ws.local.array(6, np.int32)
    for q in range(6):
        b[q] = q * 10
    k = 1
    b[k] += k
    k = 2
    b[b[0] + one] += inc(b)
    for q in range(6):
        io[q] = b[q]
    b[one:one + 2] += b[0:2]
    io[6] = b[1]
    io[7] = b[2]


# overflow in loop counters and products
@jit
def overflow_products(fo, io, a, b, n):
    io[0] = a * a
    io[1] = b * b
    io[2] = a * a - 1
    p = 1
    for j in range(n * 5):
        p *= 7
    io[3] = p
    h = 5381
    for j in range(n * 3):
        h = h * 33 + j
    io[4] = h
    io[5] = (b * b) // 2
    io[6] = (b * b) >> 1
    io[7] = (b * b) % 1000
    io[8] = abs(b * b)
    io[9] = -(a * a * 32768)


# large immediates in arithmetic and comparisons
@jit
def immediates(fo, io, a, m):
    io[0] = a + 0x7FFFFFFF
    io[1] = a - -2**31
    io[2] = a * 65537
    io[3] = a ^ 0x55555555
    io[4] = a & -65536
    io[5] = int(m < -2147483647)
    io[6] = int(m == -2**31)
    io[7] = m - 1
    io[8] = -m
    io[9] = a * -2147483648
    io[10] = int(a > 2**31 - 1)
    io[11] = a | (-1 << 31)
    io[12] = (a + 123456789) * 987654321
'''

IMMEDIATES = '''# chains of immediates whose sum leaves the 14-bit immediate field
@jit
def immediate_chains(fo, io, a, b):
    io[0] = a + 8000 + 8000
    io[1] = b - 8000 - 8000
    x = a + 6000
    y = x + 6000
    z = y + 6000
    io[2] = z
    io[3] = (a + 8191) + 1
    io[4] = (b - 8192) - 1
    io[5] = a + (2**31 - 1) - 8 + 8
    t = a + 5000
    t = t - 5001
    io[6] = t
    io[7] = ((a * 3) + 8000) + 8000 + 8000


# local array addressing with large constant offsets
@jit
def address_offsets(fo, io, i, k):
    b = ws.local.array(12000, np.int32)
    b[i + 6000 + 5000] = 77
    b[i + 5000] = 55
    b[k + 8000] = 44
    io[0] = b[i + 11000]
    io[1] = b[i + 2500 + 2500]
    io[2] = b[k + 4000 + 4000]
    b[i] = 9
    io[3] = b[i + 0]
'''

#: (source, kernel, arguments, how the reference takes ints: 'np' as np.int32, 'py' as Python ints)
CASES = [
    (ARITHMETIC, "wrap_arith", (2**31 - 1, 2**30 + 7), "np"),
    (ARITHMETIC, "shifts", (-12345, 33, 31, 5), "np"),
    (ARITHMETIC, "int_floordiv", (-7, 2, -2, 7, -2**31, -1), "np"),
    (ARITHMETIC, "float_floordiv", (-7.5, 2.0, -2.0, 0.1, -0.0), "np"),
    (ARITHMETIC, "aug_elements", (3, 1.5), "np"),
    (ARITHMETIC, "device_defaults", (7, 2.5), "np"),
    (ARITHMETIC, "short_circuit", (0, 5), "py"),
    (CONTROL, "nan_compare", (float("nan"), 1.0, -0.0, 0.0), "np"),
    (CONTROL, "swaps", (3, 4, 1.5), "np"),
    (CONTROL, "early_returns", (6, 4, 20), "np"),
    (IDENTITIES, "float_identities", (float("nan"), float("inf"), -0.0, 3.0), "np"),
    (IDENTITIES, "div_by_constants", (-9, -2**31, 2**31 - 1, -1), "np"),
    (IDENTITIES, "float_div_constants", (0.3, 7.0, 1e-39, 3.4e38), "np"),
    (IDENTITIES, "no_hoist", (0, 0, 5), "np"),
    (IDENTITIES, "alias_loads", (2, 2, 3), "np"),
    (IDENTITIES, "name_capture", (4, 3), "np"),
    (IDENTITIES, "nested_defaults", (-3.0, 4.0, 0.25), "np"),
    (IDENTITIES, "aug_index_once", (1,), "np"),
    (IDENTITIES, "overflow_products", (65536, 46341, 7), "np"),
    (IDENTITIES, "immediates", (5, -2**31), "np"),
    (IMMEDIATES, "immediate_chains", (5, -5), "np"),
    (IMMEDIATES, "address_offsets", (2, 3000), "np"),
]


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    return load_all(tmp_path_factory.mktemp("corners"), CASES)


@pytest.fixture(scope="module")
def dev():
    return ws.Device("dev")


def load_all(directory, cases: list[tuple]) -> dict:
    """Each source of `cases` loaded twice: its kernels as `@ws.jit` and as plain Python."""
    plain = PLAIN_PRELUDE + "ws.constant = int  # (an annotation, for the plain run)\n"
    return {source: (load_source(directory, JIT_PRELUDE + source), load_source(directory, plain + source))
            for source in {case[0] for case in cases}}


def reference(function, args: tuple, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """What the plain Python function stores, rounded to float32 / wrapped to int32 as the arrays hold it."""
    fo, io = np.zeros(N, object), np.zeros(N, object)
    values = [np.float32(v) if isinstance(v, float) else np.int32(v) if mode == "np" else v for v in args]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        function(fo, io, *values)
    return (np.array([np.float32(v) for v in fo], np.float32),
            np.array([int32_wrap(int(v)) for v in io], np.int64).astype(np.int32))


def check(dev, modules: dict, source: str, name: str, args: tuple, mode: str) -> None:
    """Launch kernel `name` of `source` on one PE and compare every word it stores with the plain run's."""
    jitted, plain = modules[source]
    want_f, want_i = reference(getattr(plain, name), args, mode)
    fo, io = dev.to_device(np.zeros(N, np.float32)), dev.to_device(np.zeros(N, np.int32))
    getattr(jitted, name)[(1, 1), (1, 1)](fo, io, *args)
    got_f, got_i = fo.copy_to_host(), io.copy_to_host()
    same = (got_f.view(np.int32) == want_f.view(np.int32)) | (np.isnan(got_f) & np.isnan(want_f))
    assert same.all(), [(k, got_f[k], want_f[k]) for k in np.flatnonzero(~same)]
    assert (got_i == want_i).all(), [(k, got_i[k], want_i[k]) for k in np.flatnonzero(got_i != want_i)]


@pytest.mark.parametrize("source, name, args, mode", CASES, ids=[case[1] for case in CASES])
def test_corner_kernel_stores_what_python_computes(dev, modules, source, name, args, mode):
    check(dev, modules, source, name, args, mode)
