"""Hand-written corner kernels (tests/test_compiler_python_corners.py's second part, whose driver runs them): the
order in which a tuple assignment binds its targets (`i, a[i] = ...`, `k = a[k] = v`), element swaps, a device
function reading a module constant its caller shadows with a local, builtins shadowed by parameters, NumPy scalar
module constants, subnormals, a comparison chain's middle operand evaluated once, overlapping slices at run-time
offsets, signed zeros in `math`, `while` conditions calling device functions, a `range` loop's variable and bound
reassigned in its body, `range` at the int32 limits, unrolled loops with `break`, tuple results, `operator.*`,
membership tests with nan and -0.0, 2-D local arrays at negative constant indices, conditional expressions whose
branches call functions with side effects, `enumerate` with a negative start, CSE across stores, and float
`max`/`min` with signed zeros where `fmax` stands in for the compare and select."""
from __future__ import annotations

import pytest
from test_compiler_python_corners import check, dev, load_all  # noqa: F401


NAMES = '''GAIN = 3.0
COUNT = 4
W = np.int32(2**31 - 1)
F = np.float32(0.1)
D = np.float64(0.1)
G = 1e8 + 1.0 - 1e8


# target order in tuple assignment: i assigned before a[i] is stored
@jit
def target_order(fo, io, one, two):
    a = ws.local.array(6, np.int32)
    for q in range(6):
        a[q] = q
    i = 0
    i, a[i] = two, 50
    a[one], a[two] = a[two], a[one]
    j = 3
    a[j], j = 70, 4
    k = 5
    k = a[k] = 1
    for q in range(6):
        io[q] = a[q]
    io[6] = i
    io[7] = j
    io[8] = k


# global element swaps and chained stores into global arrays
@jit
def global_swaps(fo, io, i, j):
    io[i] = 11
    io[j] = 22
    io[i], io[j] = io[j], io[i]
    fo[0] = fo[1] = 0.5 * i
    io[i + 1] = io[j] = 33
    fo[i], fo[i + 1] = fo[i + 1] + 1.0, fo[i] - 1.0


# a device function reading a global that the caller shadows with a local
@jit
def scale_by_gain(x):
    return x * GAIN + COUNT


@jit
def param_shadows_global(GAIN, x=COUNT):
    return GAIN * 2 + x


@jit
def shadow_capture(fo, io, f, n):
    GAIN = 10.0
    COUNT = 100
    fo[0] = scale_by_gain(f)
    fo[1] = GAIN + COUNT
    fo[2] = param_shadows_global(f)
    fo[3] = param_shadows_global(n, 1)
    io[0] = param_shadows_global(n)


# builtin names shadowed by parameters and locals of a device function
@jit
def takes_max(max, abs=2):
    return max * abs


@jit
def builtin_shadow(fo, io, a, b):
    io[0] = takes_max(a)
    io[1] = takes_max(a, b)
    io[2] = max(a, b)
    io[3] = abs(b)


# NumPy scalar module constants
@jit
def numpy_constants(fo, io, one, three):
    io[0] = W + 1
    io[1] = W + one
    fo[0] = F * 3
    fo[1] = F * three
    fo[2] = D * 3
    fo[3] = G
    fo[4] = D + F
    io[2] = (W + 1) // 2**30


# subnormals
@jit
def subnormals(fo, io, s, tiny, minnorm):
    fo[0] = s * 0.5
    fo[1] = s + s
    fo[2] = tiny / 2
    fo[3] = tiny * 1.5
    fo[4] = minnorm - tiny
    fo[5] = minnorm / 3
    fo[6] = s * 1e30
    io[0] = int(tiny > 0)
    fo[7] = math.sqrt(s)
    fo[8] = -tiny
    fo[9] = s // tiny
    fo[10] = s % tiny


# comparison chain middle operand evaluated once (a device function writing an array)
@jit
def tick(arr, v):
    arr[0] += 1
    return v


@jit
def chain_once(fo, io, a, b, c):
    cnt = ws.local.array(1, np.int32)
    cnt[0] = 0
    r = a < tick(cnt, b) < c
    io[0] = r
    io[1] = cnt[0]
    r2 = c < tick(cnt, b) < a
    io[2] = r2
    io[3] = cnt[0]
    r3 = a < b < tick(cnt, c) < 100
    io[4] = r3
    io[5] = cnt[0]
'''

TYPES = '''# overlapping 1-D slices with run-time offsets
@jit
def slice_overlap_runtime(fo, io, r, s, w):
    b = ws.local.array(8, np.float32)
    for a in range(8):
        b[a] = a + 1
    b[r:r + 4] = b[s:s + 4] * 2.0 + b[w:w + 4]
    b[s:s + 3] += b[r:r + 3]
    for a in range(8):
        fo[a] = b[a]


# copysign, fmod and signed zeros
@jit
def signed_zero_math(fo, io, nz, a, b):
    fo[0] = math.copysign(1.0, nz)
    fo[1] = math.fmod(a, b)
    fo[2] = math.fmod(-a, b)
    fo[3] = a % b
    fo[4] = float('-0.0')
    fo[5] = abs(nz)
    fo[6] = -(nz - nz)
    fo[7] = math.copysign(3, -1)
    fo[8] = nz * -1
    fo[9] = min(0.0, nz)
    fo[10] = math.sqrt(nz)
    fo[11] = nz // b
    fo[12] = -0.0 // 1.0


# while with complex run-time conditions and device calls
@jit
def step(x):
    if x % 2:
        return 3 * x + 1
    return x // 2


@jit
def while_calls(fo, io, n, cap):
    k = 0
    x = n
    while x != 1 and k < cap and not (x == 16 and k > 1000):
        x = step(x)
        k += 1
    io[0] = k
    io[1] = x
    y = n
    m = 0
    while y > 0:
        y -= 2
        m += 1
    io[2] = m
'''

LOOPS = '''# loop variable reassigned inside the body; range bound changed inside
@jit
def loopvar_modified(fo, io, n, two):
    s = 0
    for j in range(5):
        j += 2
        s = s * 10 + j
    io[0] = s
    io[1] = j
    m = n
    c = 0
    for j in range(m):
        m -= 1
        c += 1
    io[2] = c
    io[3] = m
    t = 0
    for j in range(n):
        if j == two:
            j = 100
        t += j
    io[4] = t
    io[5] = j
    u = 0
    for j in range(0, 10, 3):
        j *= 2
        u += j
    io[6] = u
    io[7] = j


# run-time range near int32 bounds
@jit
def range_bounds_runtime(fo, io, lo, hi, st, nlo, nhi, nst):
    c = 0
    last = 0
    for j in range(lo, hi, st):
        c += 1
        last = j
    io[0] = c
    io[1] = last
    c = 0
    for j in range(nlo, nhi, nst):
        c += 1
        last = j
    io[2] = c
    io[3] = last
    c = 0
    for j in range(hi - 3, hi):
        c += 1
        last = j
    io[4] = c
    io[5] = last
    c = 0
    for j in range(nhi + 2, nhi, -1):
        c += 1
        last = j
    io[6] = c
    io[7] = last
    c = 0
    for j in range(hi, nhi, nlo):
        c += 1
        last = j
    io[8] = c
    io[9] = last


# constant-trip loops (unrolled) with break / continue and conditional counters
@jit
def unrolled_breaks(fo, io, k, one):
    s = 0
    for j in range(6):
        if j == k:
            continue
        s += j * j
        if s > 20:
            break
    io[0] = s
    io[1] = j
    a = ws.local.array(4, np.int32)
    for j in range(4):
        a[j] = j * one
    for j in range(4):
        a[3 - j] += a[j]
    for j in range(4):
        io[2 + j] = a[j]
    t = 0
    for j in range(3):
        for q in range(3):
            if q > j:
                break
            t = t * 2 + q + one
    io[6] = t


# nested device function returning tuples of mixed types, swapped
@jit
def divmod_like(a, b):
    return a // b, a % b, a / b


@jit
def swap_pair(p):
    x, y = p
    return y, x


@jit
def tuple_results(fo, io, a, b, f):
    q, r, t = divmod_like(a, b)
    io[0] = q
    io[1] = r
    fo[0] = t
    u, v = swap_pair((a, f))
    fo[1] = u
    io[2] = v
    w = divmod_like(b, a)
    io[3] = w[0] + w[1] * 100
    fo[2] = w[2]
    s, (m, n) = divmod_like(a, -b)[2], swap_pair((q, r))
    fo[3] = s
    io[4] = m
    io[5] = n
'''

BUILTINS = '''import operator
NAN = float("nan")
TUP = (1, 2.5, NAN, -0.0)


# operator module functions
@jit
def operator_funcs(fo, io, a, b, m, f):
    io[0] = operator.floordiv(a, b)
    io[1] = operator.mod(a, b)
    fo[0] = operator.truediv(a, b)
    io[2] = operator.pow(a, 3)
    io[3] = operator.neg(m)
    io[4] = operator.not_(f)
    io[5] = operator.abs(m)
    io[6] = operator.invert(a)
    io[7] = operator.lshift(a, b)
    io[8] = operator.rshift(a, b)
    fo[1] = operator.mul(f, a)
    io[9] = operator.lt(a, f)
    fo[2] = operator.sub(f, b)
    io[10] = operator.xor(a, b)


# membership tests of run-time numbers
@jit
def membership(fo, io, f, one, n, nz):
    io[0] = int(f in TUP)
    io[1] = int(one in TUP)
    io[2] = int(n in TUP)
    io[3] = int(nz in TUP)
    io[4] = int(0.0 in (nz, 5))
    io[5] = int(one not in (2, 3))
    io[6] = int(one in (1.0,))
    io[7] = int(f in (one, 2.5))


# 2-D local arrays with negative constant indices and shapes
@jit
def two_d_local(fo, io, one, two):
    t = ws.local.array((3, 4), np.int32)
    for r in range(3):
        for c in range(4):
            t[r, c] = r * 10 + c
    io[0] = t[-1, -1]
    io[1] = t[-2, 0]
    io[2] = t.shape[0] * 100 + t.shape[1]
    io[3] = t.size
    io[4] = len(t)
    t[-1, -2] += t[one, two]
    io[5] = t[2, 2]
    io[6] = t.ndim
    last = -1
    io[7] = t[last, last]
'''

FLOW = '''# early return inside while inside for in a device function, called in a loop and in a condition
@jit
def first_pair(n, target):
    for a in range(n):
        b = 0
        while b < n:
            if a * b == target:
                return a, b
            b += 1
    return -1, -1


@jit
def nested_returns(fo, io, n, t, u):
    s = 0
    for q in range(3):
        a, b = first_pair(n, t + q)
        s = s * 100 + a * 10 + b
    io[0] = s
    io[1] = first_pair(n, u)[0] if first_pair(n, t)[1] > 1 else 99
    x = 0
    while first_pair(n, x)[0] >= 0 and x < 30:
        x += 7
    io[2] = x


# conditional expression choosing arrays' elements with side effects avoided
@jit
def count_and(arr, v):
    arr[0] += 1
    return v


@jit
def cond_side_effects(fo, io, z, one):
    c = ws.local.array(1, np.int32)
    c[0] = 0
    r = count_and(c, 5) if z else count_and(c, 7)
    r2 = count_and(c, 1) if one else count_and(c, 2)
    r3 = (count_and(c, 3) if z else 4) + (count_and(c, 10) if one else 0)
    io[0] = r
    io[1] = r2
    io[2] = r3
    io[3] = c[0]
    r4 = z and count_and(c, 1) or count_and(c, 8)
    io[4] = r4
    io[5] = c[0]
'''

STORES = '''PAIRS = ((1, 2.5), (-3, 0.25))


# enumerate with a negative start, zip of tuples of pairs, nested unpacking
@jit
def enumerate_zip(fo, io, k, f):
    s = 0
    for j, (a, b) in enumerate(PAIRS, start=-2):
        s = s * 10 + j * a
        fo[j + 2] = b * f
    io[0] = s
    t = 0
    for (a, b), c in zip(PAIRS, (k, -k, 100)):
        t += a * c
    io[1] = t
    u = 0.0
    for j, v in enumerate((f, k, 3)):
        u += j * v
    fo[2] = u


# expressions with repeated subexpressions and interleaved stores (CSE across stores)
@jit
def cse_stores(fo, io, i, f):
    b = ws.local.array(4, np.float32)
    b[0:4] = 1.0
    x = b[i] * f + b[i]
    b[i] = x
    y = b[i] * f + b[i]
    fo[0] = x
    fo[1] = y
    fo[2] = b[i] * f + b[i]
    fo[i] = 7.0
    fo[3] = fo[i] * 2
    fo[i] = fo[i] + 1
    fo[4] = fo[2]


# float min/max with signed zeros and nan where the fmax form applies
@jit
def fmax_forms(fo, io, nz, z, n, one):
    fo[0] = max(nz, 0.0)
    fo[1] = max(z, -0.0)
    fo[2] = min(nz, 0.0)
    fo[3] = min(z, -0.0)
    fo[4] = max(n, 0.0)
    fo[5] = max(nz, 0)
    fo[6] = min(n, 5)
    fo[7] = one if one != one else max(nz, one)
    fo[8] = n if n != n else max(one, n)
    fo[9] = z if math.isnan(z) else min(nz, z)
    fo[10] = max(0.0, nz)
    fo[11] = min(-0.0, z)
    fo[12] = max(nz, -1)
'''

#: (source, kernel, arguments, how the reference takes ints: 'np' as np.int32, 'py' as Python ints)
CASES = [
    (NAMES, "target_order", (1, 2), "np"),
    (NAMES, "global_swaps", (2, 5), "np"),
    (NAMES, "shadow_capture", (1.5, 2), "np"),
    (NAMES, "builtin_shadow", (3, -4), "np"),
    (NAMES, "numpy_constants", (1, 3), "np"),
    (NAMES, "subnormals", (1e-39, 1.4e-45, 1.1754944e-38), "np"),
    (NAMES, "chain_once", (1, 5, 9), "np"),
    (TYPES, "slice_overlap_runtime", (1, 0, 2), "np"),
    (TYPES, "signed_zero_math", (-0.0, -7.5, 2.0), "np"),
    (TYPES, "while_calls", (7, 100), "np"),
    (LOOPS, "loopvar_modified", (5, 2), "np"),
    (LOOPS, "range_bounds_runtime", (2147483600, 2147483647, 50, -2147483600, -2147483648, -50), "np"),
    (LOOPS, "unrolled_breaks", (3, 1), "np"),
    (LOOPS, "tuple_results", (-17, 5, 1.25), "np"),
    (BUILTINS, "operator_funcs", (-7, 2, -2**31, 2.5), "py"),
    (BUILTINS, "membership", (2.5, 1, float("nan"), -0.0), "py"),
    (BUILTINS, "two_d_local", (1, 2), "np"),
    (FLOW, "nested_returns", (5, 6, 7), "np"),
    (FLOW, "cond_side_effects", (0, 1), "np"),
    (STORES, "enumerate_zip", (2, 0.5), "np"),
    (STORES, "cse_stores", (2, 1.5), "np"),
    (STORES, "fmax_forms", (-0.0, 0.0, float("nan"), 1.0), "np"),
]


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    return load_all(tmp_path_factory.mktemp("corners"), CASES)


@pytest.mark.parametrize("source, name, args, mode", CASES, ids=[case[1] for case in CASES])
def test_corner_kernel_stores_what_python_computes(dev, modules, source, name, args, mode):
    check(dev, modules, source, name, args, mode)
