"""Optimised kernels run on the simulator: against NumPy and against the same kernel compiled without
the optimisation passes (`wafersim.compiler.passes`); `inspect_ir(after=...)` on a compiled kernel."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import BASELINE_PASSES, PASS_NAMES, compile_kernel, inspect_ir, loop_body
from wafersim.errors import MemoryAccessError


@ws.jit
def scale_copy(x, out, s):
    for i in range(x.size):
        out[i] = x[i] * s


@ws.jit
def strided_sums(a, out, n, stride):
    """out[j] = sum(a[j*stride + k] for k < n): nested address arithmetic, a reassigned accumulator."""
    for j in range(out.size):
        acc = 0.0
        base = j * stride
        for k in range(n):
            acc += a[base + k] * (k + 1)
        out[j] = acc


@ws.jit
def local_tiles(a, out):
    """Local arrays, slices addressed by loop variables, a while loop and a conditional increment."""
    buf = ws.local.array(64, np.float32)
    buf[0:64] = a[0, 0:64]
    for r in range(8):
        for c in range(8):
            buf[r * 8 + c] = buf[r * 8 + c] * 2.0 + r
    i = 0
    total = 0.0
    while i < 64:
        if i % 3 == 0:
            total += buf[i]
        i += 1
    out[0, 0:64] = buf[0:64]
    out[1, 0] = total


def _run(dev, compiled, dispatcher, *args):
    _, words = dispatcher.signature_of(args)
    return dev.launch(compiled.program, (1, 1), (1, 1), words)


def _both(dev, dispatcher, make_args):
    """Results of the optimised and the unoptimised binary of one kernel on fresh copies of the inputs."""
    results = []
    for passes in (None, BASELINE_PASSES):
        args = make_args()
        signature, _ = dispatcher.signature_of(args)
        compiled = compile_kernel(dispatcher.py_func, signature, dev.spec, passes=passes)
        stats = _run(dev, compiled, dispatcher, *args)
        results.append(([a.copy_to_host() for a in args if isinstance(a, ws.DeviceArray)], stats))
    return results


def test_optimised_kernels_match_numpy_and_the_unoptimised_binary():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    rng = np.random.default_rng(5)
    a = rng.random(64, dtype=np.float32)
    stride, n = 7, 5

    def args():
        return dev.to_device(a), dev.device_array(8), n, stride

    (opt, opt_stats), (plain, plain_stats) = _both(dev, strided_sums, args)
    want = np.array([sum(np.float32(a[j * stride + k]) * np.float32(k + 1) for k in range(n)) for j in range(8)],
                    np.float32)
    np.testing.assert_allclose(opt[1], want, rtol=1e-6)
    np.testing.assert_array_equal(opt[1], plain[1])  # same operations in the same order: bit for bit
    assert opt_stats.instructions < plain_stats.instructions

    tiles = rng.random((2, 64), dtype=np.float32)
    (opt, _), (plain, _) = _both(dev, local_tiles, lambda: (dev.to_device(tiles), dev.device_array((2, 64))))
    buf = tiles[0] * np.float32(2) + np.repeat(np.arange(8, dtype=np.float32), 8)
    np.testing.assert_array_equal(opt[1][0], buf)
    assert opt[1][1, 0] == pytest.approx(float(buf[::3].astype(np.float64).sum()), rel=1e-5)
    np.testing.assert_array_equal(opt[1], plain[1])


LOOP_KERNEL = """
import numpy as np
import wafersim as ws


@ws.jit
def kern(src, out, n):
    buf = ws.local.array(256, np.float32)
    buf[0:256] = src[0:256]
    acc = 0.0
    k = {k0}
    for i in range({outer}):
        for j in range({inner}):
            v = buf[i * {s1} + j * {s2} + {c1}] * {w}
            buf[i * {s1} + {c1}] += 0.25  # loaded and stored at an address the j loop does not change
            if (i + j) % {m} == 0:
                acc += v
            else:
                acc = acc * 0.5 + src[i * {s3} + j]
            buf[i * {s4} + j + {c2}] = acc
            k += {step}
        out[i] = acc + k
    t = 0
    while t < n:
        out[{outer} + t] = buf[t * {s1} + {c1}]
        t += 1
"""


def _random_loop_kernel(rng: np.random.Generator) -> tuple[str, int]:
    """Source of a loop nest with affine addresses that stay inside the arrays by construction; n."""
    outer, inner = int(rng.integers(1, 21)), int(rng.integers(1, 21))
    s1, s2, s3, s4 = (int(x) for x in rng.integers(0, 6, size=4))
    c1 = int(rng.integers(0, 256 - s1 * (outer - 1) - s2 * (inner - 1)))
    s3 = min(s3, (256 - inner) // max(outer - 1, 1))
    s4 = min(s4, (256 - inner) // max(outer - 1, 1))
    c2 = int(rng.integers(0, 256 - s4 * (outer - 1) - (inner - 1)))
    n = int(rng.integers(0, min(200 - outer, (255 - c1) // max(s1, 1) + 1)))
    source = LOOP_KERNEL.format(outer=outer, inner=inner, s1=s1, s2=s2, s3=s3, s4=s4, c1=c1, c2=c2, n=n,
                                w=float(rng.choice([0.5, 1.5, -2.0])), m=int(rng.integers(1, 4)),
                                k0=int(rng.integers(-5, 5)), step=int(rng.integers(1, 4)))
    return source, n


def test_random_loop_nests_same_with_and_without_the_passes(tmp_path):
    from conftest import load_source

    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    rng = np.random.default_rng(2024)
    src = rng.standard_normal(256).astype(np.float32)
    for trial in range(12):
        source, n = _random_loop_kernel(rng)
        kern = load_source(tmp_path, source).kern
        (opt, opt_stats), (plain, plain_stats) = _both(
            dev, kern, lambda: (dev.to_device(src), dev.device_array(256), n))
        np.testing.assert_array_equal(opt[1], plain[1], err_msg=source)  # bit for bit: same float ops
        assert opt_stats.instructions < plain_stats.instructions, source


def test_bounds_checks_left_in_still_catch_an_overrun():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    x = dev.to_device(np.arange(8, dtype=np.float32))
    short = dev.device_array(4)
    with pytest.raises(MemoryAccessError, match="out"):
        scale_copy[(1, 1), (1, 1)](x, short, np.float32(2.0))  # out has 4 elements, the loop runs 8
    body = loop_body(scale_copy.inspect_asm())
    assert sum(line.startswith("chk") for line in body) == 1  # x's check is proved by range(x.size)


def test_pass_names_and_inspect_ir_after_a_pass():
    for name in ("cse", "immediates", "licm", "strength", "bounds", "dce"):
        assert name in PASS_NAMES
    assert PASS_NAMES.index("licm") < PASS_NAMES.index("strength") < PASS_NAMES.index("bounds")
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    x = dev.to_device(np.arange(8, dtype=np.float32))
    scale_copy.compile_for(x, dev.device_array(8), np.float32(2.0))
    before, after = inspect_ir(scale_copy), inspect_ir(scale_copy, after="licm")
    assert before != after and "kernel scale_copy" in after
    assert inspect_ir(scale_copy, after=PASS_NAMES[-1]).count("\n") <= before.count("\n")
    assert scale_copy.inspect_ir(after="licm") == after  # the same from the kernel itself
    with pytest.raises(KeyError, match="licm"):
        inspect_ir(scale_copy, after="no-such-pass")


@ws.jit
def _swapped_products(x, out):
    a = x[0]
    b = x[1]
    out[0] = a + b
    out[1] = b + a  # (once shared with a + b by CSE, which gave a's nan where NumPy gives b's)
    out[2] = a * b
    out[3] = b * a
    out[4] = a + b  # (the same order: shared, the same bits)


@pytest.mark.parametrize("payloads", [(0x7FC00001, 0x7FC00002), (0xFFC00003, 0x7FC00004), (0x7FC00005, 0x3F800000)])
def test_cse_keeps_the_operand_order_of_float_adds_and_products_so_nans_are_numpys(payloads):
    """Of two nans, an fadd or fmul gives the first (quieted), as NumPy's ufuncs do on the same host: CSE took
    `b + a` for an earlier `a + b`, so the result carried a's payload where np.add(b, a) carries b's."""
    x = np.array(payloads, np.uint32).view(np.float32)
    a, b = x[0:1], x[1:2]  # (arrays: NumPy's ufuncs, which the simulator runs too; scalar math may swap them)
    expected = np.concatenate([np.add(a, b), np.add(b, a), np.multiply(a, b), np.multiply(b, a), np.add(a, b)])
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(5)
    _swapped_products[1, 1](dev.to_device(x), out)
    assert out.copy_to_host().view(np.uint32).tolist() == expected.view(np.uint32).tolist()


@ws.jit
def _counter_past_int32_max(out):
    trips = 0
    i = 2**31 - 10
    while i < 2**31 - 1:  # i += 2 wraps from 2**31 - 2 to -2**31, which passes the test: the loop goes on
        trips += 1
        i += 2
    out[0] = trips
    out[1] = i


def test_a_while_counter_that_wraps_past_its_bound_is_not_unrolled_to_a_final_value():
    """Unrolling counted the trips in Python ints (5: 2**31 - 10 to 2**31 - 2) and the kernel stopped with
    out = [5, -2**31]; NumPy's int32 counter wraps to -2**31 < 2**31 - 1 and the loop never ends."""
    i, limit = np.int32(2**31 - 10), np.int32(2**31 - 1)
    with np.errstate(over="ignore"):
        for _ in range(6):  # the reference: past its sixth step the counter has wrapped and still passes
            assert i < limit
            i = np.int32(i + np.int32(2))
    assert i < limit and i < 0
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.CycleLimitError):
        _counter_past_int32_max[1, 1](dev.device_array(2, dtype=np.int32), max_cycles=5000)


@ws.jit
def _wide_strided_products(out, start, stop):
    s = 0
    for j in range(start, stop, 2**30):
        s ^= j * 5000 + 2**30  # a derived induction variable stepped by 2**30 * 5000 (wrapped to 32 bits)
    out[0] = s


def test_strength_reduction_wraps_a_step_beyond_32_bits():
    """Strength reduction stepped `j * 5000 + 2**30` by 2**30 * 5000, a Python int: `li` refused it (an
    internal compiler error); the machine adds modulo 2**32, so the step is that product wrapped."""
    expected = np.int32(0)
    with np.errstate(over="ignore"):
        for j in range(-2**31, 2**31 - 1, 2**30):
            expected ^= np.int32(j) * np.int32(5000) + np.int32(2**30)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(1, dtype=np.int32)
    _wide_strided_products[1, 1](out, -2**31, 2**31 - 1)
    assert out.copy_to_host()[0] == expected
