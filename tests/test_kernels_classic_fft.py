"""kernels.classic.fft: batched 1-D, 2-D and four-step (one long vector) FFTs on a row of PEs against numpy.fft
(in complex128), their FLOP counts, the words the transpose moves through the fabric, and refused inputs."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.classic.fft import fft, fft2, fft_flops, fft_long, fft_long_flops, fft_long_split

EPS32 = float(np.finfo(np.float32).eps)


def _random_complex(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _assert_close_to_float32(got, want, points):
    """A radix-2 FFT in float32 errs by about eps * log2(points) relative to the largest output."""
    assert got.dtype == np.complex64 and got.shape == want.shape
    bound = 4 * EPS32 * np.log2(points) * np.abs(want).max()
    assert np.abs(got - want).max() <= bound


@pytest.mark.parametrize("shape, p", [((8,), 1), ((2, 4), 2), ((6, 16), 3), ((8, 64), 4)])
def test_fft_matches_numpy(shape, p):
    x = _random_complex(shape, seed=len(shape) * 100 + shape[-1])
    y, stats = fft(x, p)
    _assert_close_to_float32(y, np.fft.fft(x.astype(np.complex128), axis=-1), shape[-1])
    transforms = int(np.prod(shape[:-1]))
    assert stats.flops == fft_flops(shape[-1], transforms)
    assert stats.block == (p, 1) and stats.words_moved == 0  # each PE transforms its own rows


def test_fft_flops_are_the_butterflies():
    # Per stage and butterfly: a complex multiply-add (10 real FLOPs) except w = 1 (4 additions); one
    # butterfly of each of the log2(n) stages has w = 1 per group of the first kind.
    n = 16
    stages = [(8, 1), (4, 2), (2, 4), (1, 8)]  # (pairs per group r, groups L/2)
    expected = sum(r * (10 * (groups - 1) + 4) for r, groups in stages)
    assert fft_flops(n, 3) == 3 * expected
    assert fft_flops(n, 1) < 10 * (n // 2) * 4  # fewer than the textbook 5 n log2 n


@pytest.mark.parametrize("m, n, p", [(8, 8, 2), (4, 16, 4), (16, 8, 2), (8, 4, 1)])
def test_fft2_matches_numpy(m, n, p):
    a = _random_complex((m, n), seed=m * n + p)
    got, stats = fft2(a, p)
    _assert_close_to_float32(got, np.fft.fft2(a.astype(np.complex128)), m * n)
    assert stats.flops == fft_flops(n, m) + fft_flops(m, n)
    # The transpose: PE x's block for PE d (m/p x n/p complex = 2 * m * n / p**2 words) crosses |x - d| links;
    # sum over x != d of |x - d| is (p**3 - p) / 3.
    block_words = 2 * (m // p) * (n // p)
    assert stats.words_moved == block_words * (p ** 3 - p) // 3


@pytest.mark.parametrize("n, p", [(4, 1), (32, 2), (256, 4)])
def test_fft_long_matches_numpy(n, p):
    x = _random_complex((n,), seed=n)
    y, stats = fft_long(x, p)
    _assert_close_to_float32(y, np.fft.fft(x.astype(np.complex128)), n)
    n1, n2 = fft_long_split(n)
    assert n1 * n2 == n and n1 <= n2 <= 2 * n1
    # n2 transforms of n1 points, a complex multiply (6 FLOPs) per point, n1 transforms of n2 points
    assert stats.flops == fft_long_flops(n) == fft_flops(n1, n2) + 6 * n + fft_flops(n2, n1)
    block_words = 2 * (n2 // p) * (n1 // p)
    assert stats.words_moved == block_words * (p ** 3 - p) // 3


def test_fft2_of_real_and_structured_inputs():
    # A single frequency transforms to a single spike; a constant to the DC term only.
    m, n = 8, 16
    rows, cols = np.indices((m, n))
    wave = np.exp(2j * np.pi * (3 * rows / m + 5 * cols / n)).astype(np.complex64)
    got, _ = fft2(wave, 4)
    spike = np.zeros((m, n))
    spike[3, 5] = m * n
    assert np.abs(got - spike).max() <= 4 * EPS32 * np.log2(m * n) * m * n
    const, _ = fft2(np.ones((m, n), np.float32), 4)
    expected = np.zeros((m, n), np.complex64)
    expected[0, 0] = m * n
    np.testing.assert_array_equal(const, expected)  # additions of equal values only: exact


def test_fft_is_deterministic_and_runs_on_a_larger_device():
    x = _random_complex((4, 32), seed=7)
    dev = ws.Device(ws.WaferSpec(width=8, height=4))
    first, s1 = fft2(x, 4, device=dev)
    again, s2 = fft2(x, 4, device=dev)
    np.testing.assert_array_equal(first, again)
    assert s1.cycles == s2.cycles and s1.spec.width == 8


def test_bad_inputs_are_refused_with_sizes():
    with pytest.raises(ws.ArgumentError, match="power of two"):
        fft(np.ones(12, np.complex64))
    with pytest.raises(ws.ArgumentError, match="must divide the batch of 6 rows"):
        fft(np.ones((6, 8), np.complex64), p=4)
    with pytest.raises(ws.ArgumentError, match="must divide both sides of the 8 x 16 array"):
        fft2(np.ones((8, 16), np.complex64), p=3)
    with pytest.raises(ws.ArgumentError, match="power of two"):
        fft2(np.ones((6, 8), np.complex64), p=2)
    with pytest.raises(ws.ArgumentError, match="2 dimensions"):
        fft2(np.ones(8, np.complex64), p=2)
    with pytest.raises(ws.ArgumentError, match="width of 4 PEs"):
        fft2(np.ones((8, 8), np.complex64), p=8, device=ws.Device(ws.WaferSpec(width=4, height=4)))
    with pytest.raises(ws.ArgumentError, match=r"p = 8 PEs must divide n1 = 4 \(n = 16 = 4 x 4\)"):
        fft_long(np.ones(16, np.complex64), p=8)
    with pytest.raises(ws.ArgumentError, match="1 dimensions"):
        fft_long(np.ones((4, 4), np.complex64), p=1)
    with pytest.raises(ws.OutOfMemoryError, match=r"\d+ bytes") as info:
        fft(np.ones((1, 4096), np.complex64))  # 4 planes of 4096 words: 64 KiB > a PE's SRAM
    assert isinstance(info.value, ws.WaferError) and info.value.needed > info.value.available


def test_classic_kernels_run_on_a_pe_of_8_kib():
    # The data checks kept a fixed 8 KiB for code, so on an 8 KiB PE every problem was refused with
    # "the limit is 0 bytes ... use more PEs", which no number of PEs could meet; the code takes far
    # less, and the compiler's exact SRAM check still refuses what does not fit.
    from wafersim.kernels.classic import TileTooLargeError, cholesky, histogram

    spec = ws.WaferSpec(width=4, height=4, sram_bytes=8192)
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((4, 16)) + 1j * rng.standard_normal((4, 16))).astype(np.complex64)
    y, _ = fft(x, p=2, device=ws.Device(spec))
    want = np.fft.fft(x.astype(np.complex128))
    assert np.abs(y - want).max() < 1e-5 * np.abs(want).max()
    m = rng.standard_normal((8, 8))
    a = (m @ m.T + 8 * np.eye(8)).astype(np.float32)
    low, _ = cholesky(a, 4, device=ws.Device(spec))
    np.testing.assert_allclose(low, np.linalg.cholesky(a.astype(np.float64)), atol=1e-5)
    values = rng.standard_normal(300).astype(np.float32)
    counts, _, _ = histogram(values, 9, (-2, 2), 3, device=ws.Device(spec))
    np.testing.assert_array_equal(counts, np.histogram(values, 9, (-2, 2))[0])
    with pytest.raises(TileTooLargeError, match="4,096 for code"):     # half kept for code, still checked
        fft(np.ones((4, 512), np.complex64), p=1, device=ws.Device(spec))


def test_an_infinite_imaginary_part_leaves_the_real_part_finite():
    # The host rebuilt the result as re + 1j * im, and 1j * inf is nan + inf j: a finite real part the
    # device computed (here 2 and 0) came back NaN, unlike numpy.fft.
    x = np.array([complex(1, np.inf), 1], np.complex64)
    y, _ = fft(x)
    want = np.fft.fft(x.astype(np.complex128))
    np.testing.assert_array_equal(y, want.astype(np.complex64))
    assert np.array_equal(y.real, [2, 0]) and np.all(np.isposinf(y.imag))


def test_object_arrays_take_the_library_input_rule():
    # An object array went straight to astype(complex128): None became NaN, "1" was parsed as 1 and 2**40
    # rounded, where a float32 host function refuses each; Python complex numbers are still taken.
    with pytest.raises(ws.ArgumentTypeError, match="holds None"):
        fft(np.array([1, None, 3, 4], dtype=object))
    with pytest.raises(ws.ArgumentTypeError, match="holds a string"):
        fft(np.array(["1", 2], dtype=object))
    with pytest.raises(ws.ArgumentError, match=r"beyond 2\*\*24"):
        fft(np.array([2 ** 40, 1], dtype=object))
    x = np.array([1 + 2j, 3, -1j, 0.5], dtype=object)
    y, _ = fft(x)
    want = np.fft.fft(x.astype(np.complex128))
    assert np.abs(y - want).max() < 1e-6 * np.abs(want).max()


def test_a_row_too_long_for_one_pe_points_at_fft_long():
    # The refusal said "use more PEs", which cannot help one row (p must divide the batch of 1); fft_long can.
    x = _random_complex(8192, seed=81)
    with pytest.raises(ws.OutOfMemoryError, match="fft_long spreads one long row"):
        fft(x)
    with pytest.raises(ws.OutOfMemoryError, match="use more PEs"):
        fft(_random_complex((2, 8192), seed=82), 1)  # two rows on one PE: two PEs would help
    y, _ = fft_long(x, 16)
    _assert_close_to_float32(y, np.fft.fft(x.astype(np.complex128)), 8192)


def test_bfloat16_input_is_a_number():
    # bfloat16 (ml_dtypes, dtype kind "V") was refused as "x must hold numbers"; cholesky took it.
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = (np.random.default_rng(7).standard_normal((2, 16)) * 3).astype(ml_dtypes.bfloat16)
    y, _ = fft(x)
    _assert_close_to_float32(y, np.fft.fft(x.astype(np.float64)), 16)


def test_flop_counts_and_the_four_step_split_refuse_sizes_the_kernels_refuse():
    # fft_flops(3, 1) gave 4 and fft_flops(8, -1) -78; fft_long_split(6) gave (3, 2), not powers of two.
    for n in (4, 8, 16, 32, 1024):                           # powers of two: n1 * n2 = n, n1 <= n2, n2 <= 2 n1
        n1, n2 = fft_long_split(n)
        assert n1 * n2 == n and n1 <= n2 <= 2 * n1 and n1 & (n1 - 1) == 0 and n2 & (n2 - 1) == 0
    assert fft_flops(8, 0) == 0
    for call, error, word in [
        (lambda: fft_flops(3, 1), ws.ArgumentError, "power of two"),
        (lambda: fft_flops(-1, 1), ws.ArgumentError, "length must be a whole number >= 2"),
        (lambda: fft_flops(8, -1), ws.ArgumentError, "transforms must be a whole number >= 0"),
        (lambda: fft_flops(8.0, 1), ws.ArgumentTypeError, "length"),
        (lambda: fft_long_split(6), ws.ArgumentError, "n = 6 must be a power of two >= 4"),
        (lambda: fft_long_split(2), ws.ArgumentError, "n must be a whole number >= 4"),
        (lambda: fft_long_flops(12), ws.ArgumentError, "fft_long_flops: n = 12 must be a power of two"),
    ]:
        with pytest.raises(error, match=word):
            call()


def test_finite_inputs_whose_sums_overflow_float32_give_inf_and_nan_as_the_docs_say():
    # docs/classic-kernels.md: the error bound holds only while every partial sum stays finite in float32;
    # four values of 3e38 overflow the first butterflies, and X[2] = inf - inf is NaN where NumPy's float64
    # transform gives 0. A quarter of it (every partial sum within float32) gives NumPy's result.
    y, _ = fft(np.full(4, 3e38, np.float32))
    assert np.isposinf(y[0].real) and np.isnan(y[2].real) and y[1] == 0 and y[3] == 0
    assert np.fft.fft(np.full(4, 3e38))[2] == 0
    small, _ = fft(np.full(4, 3e38 / 4, np.float32))
    np.testing.assert_allclose(small, np.fft.fft(np.full(4, np.float32(3e38 / 4), np.float64)), rtol=1e-6)


def test_numpys_fft_keywords_are_argument_type_errors_saying_what_to_do():
    """(user54) NumPy's `fft(x, n=8)` was Python's bare TypeError, not a `WaferError`."""
    from wafersim.kernels import classic
    x = np.arange(8, dtype=np.float32)
    with pytest.raises(ws.ArgumentTypeError, match="'n': pad or cut x first"):
        classic.fft(x, n=16)
    with pytest.raises(ws.ArgumentTypeError, match="'axis': the transform is along the last axis"):
        classic.fft_long(x, 2, axis=0)
    np.testing.assert_allclose(classic.fft(x)[0], np.fft.fft(x), atol=1e-4)
