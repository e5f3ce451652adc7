"""kernels.classic.cholesky: L against numpy.linalg.cholesky (float64), the FLOP count against its closed
form, the failing column of a matrix that is not positive definite against LAPACK's spotrf, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import lapack

import wafersim as ws
from wafersim.kernels.classic.cholesky import NotPositiveDefiniteError, cholesky, cholesky_flops


def _spd(n: int, seed: int) -> np.ndarray:
    """A well-conditioned random SPD float32 matrix: M M^T + n I."""
    m = np.random.default_rng(seed).standard_normal((n, n))
    return (m @ m.T + n * np.eye(n)).astype(np.float32)


@pytest.mark.parametrize("n, p", [(4, 1), (8, 2), (12, 3), (32, 8)])
def test_cholesky_matches_numpy(n, p):
    a = _spd(n, seed=n + p)
    low, stats = cholesky(a, p)
    want = np.linalg.cholesky(a.astype(np.float64))
    assert low.dtype == np.float32 and low.shape == (n, n)
    np.testing.assert_array_equal(np.triu(low, 1), 0)
    # float32 throughout: errors of a few ulps of the largest entry (the matrix is well conditioned)
    assert np.abs(low - want).max() <= 50 * np.finfo(np.float32).eps * np.abs(want).max()
    rebuilt = low.astype(np.float64) @ low.T.astype(np.float64)
    assert np.abs(rebuilt - a).max() <= 50 * np.finfo(np.float32).eps * np.abs(a).max()
    # sum over k of (n - k)**2: the column scalings, reciprocals and fused multiply-adds
    assert stats.flops == cholesky_flops(n) == sum((n - k) ** 2 for k in range(n))
    assert stats.block == (p, 1)
    # Column k (its pivot and the n - k - 1 words below) crosses each of the p - 1 links of the row once.
    assert stats.words_moved == (p - 1) * n * (n + 1) // 2


def test_routed_and_forwarded_broadcasts_agree():
    a = _spd(32, seed=9)
    routed, by_routers = cholesky(a, 8)
    forwarded, by_cores = cholesky(a, 8, routed=False)
    np.testing.assert_array_equal(routed, forwarded)  # the same arithmetic in the same order
    assert by_routers.words_moved == by_cores.words_moved
    # Forwarding costs every PE a receive and a send per chunk; the routers' multicast costs only the owner.
    assert by_routers.instructions < by_cores.instructions and by_routers.cycles < by_cores.cycles


def test_only_the_lower_triangle_is_read():
    a = _spd(8, seed=1)
    garbage = a + np.triu(np.full_like(a, 1e6), 1)
    low, _ = cholesky(garbage, 4)
    ref, _ = cholesky(a, 4)
    np.testing.assert_array_equal(low, ref)


@pytest.mark.parametrize("bad_column", [0, 5, 11])
def test_not_positive_definite_names_the_leading_minor(bad_column):
    n, p = 12, 4
    a = _spd(n, seed=3).astype(np.float64)
    a[bad_column, bad_column] = -a[bad_column, bad_column]  # the leading minor of order bad_column + 1 fails
    a = a.astype(np.float32)
    _, info = lapack.spotrf(a, lower=1)  # LAPACK in float32: info = order of the first failing minor
    assert info == bad_column + 1
    with pytest.raises(NotPositiveDefiniteError, match=f"leading minor of order {info} ") as err:
        cholesky(a, p)
    assert err.value.column == bad_column and err.value.pivot <= 0
    assert isinstance(err.value, ws.WaferError) and isinstance(err.value, ValueError)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(a)


def test_a_nan_pivot_is_not_positive_definite():
    a = _spd(4, seed=4)
    a[2, 1] = np.nan  # propagates to the pivot of column 2
    with pytest.raises(NotPositiveDefiniteError, match="order 3") as err:
        cholesky(a, 2)
    assert np.isnan(err.value.pivot)


def test_bad_inputs_are_refused_with_sizes():
    with pytest.raises(ws.ArgumentError, match=r"square matrix, got shape \(3, 4\)"):
        cholesky(np.ones((3, 4), np.float32), 1)
    with pytest.raises(ws.ArgumentError, match="p = 3 PEs must divide n = 8"):
        cholesky(_spd(8, 0), 3)
    with pytest.raises(ws.ArgumentError, match="width of 2 PEs"):
        cholesky(_spd(8, 0), 4, device=ws.Device(ws.WaferSpec(width=2, height=2)))
    with pytest.raises(ws.OutOfMemoryError, match="bytes") as err:
        cholesky(np.eye(128, dtype=np.float32), 1)  # 128 columns of 128 words: 64 KiB on one PE
    assert err.value.needed == (128 * 128 + 128) * 4


def test_p_may_be_a_numpy_integer_and_a_bad_p_is_named():
    # p = np.int64(2) (from a shape or np.arange) was refused by the default device's WaferSpec as "not a
    # whole number of PEs" and, on a given device, reached the compiler as a CompileError; p=None a SpecError.
    from wafersim.kernels.classic import fft, histogram

    a = _spd(8, seed=3)
    low, _ = cholesky(a, np.int64(2))
    np.testing.assert_allclose(low, np.linalg.cholesky(a.astype(np.float64)), atol=1e-5)
    low2, _ = cholesky(a, np.int32(4), device=ws.Device(ws.WaferSpec(width=4, height=1)))
    np.testing.assert_array_equal(low2, cholesky(a, 4)[0])
    x = np.exp(2j * np.pi * 3 * np.arange(8) / 8).astype(np.complex64)[None].repeat(4, axis=0)
    y, _ = fft(x, np.int64(2))
    np.testing.assert_allclose(y, np.fft.fft(x.astype(np.complex128)), atol=1e-5)
    values = np.random.default_rng(1).standard_normal(40).astype(np.float32)
    counts, _, _ = histogram(values, 5, (-2, 2), np.int64(2))
    np.testing.assert_array_equal(counts, np.histogram(values, 5, (-2, 2))[0])
    for bad in [None, 1.0, True, 0]:
        with pytest.raises(ws.ArgumentError, match="the number of PEs p must be a positive int"):
            cholesky(a, bad)


def test_values_above_the_diagonal_are_not_converted_and_routed_is_a_bool():
    # Only the lower triangle is read, yet the whole matrix went through the float32 input rule: 1e300 or
    # 2**40 above the diagonal (ignored by NumPy) was refused. And routed="no" ran routed, as its truth.
    rng = np.random.default_rng(4)
    m = rng.standard_normal((8, 8))
    spd = m @ m.T + 8 * np.eye(8)
    a = spd.copy()
    a[np.triu_indices(8, 1)] = 1e300
    low, _ = cholesky(a, 2)
    want = np.linalg.cholesky(spd.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(low, want, rtol=0, atol=1e-5 * np.abs(want).max())
    ints = np.round(spd * 100).astype(np.int64)
    ints[0, 7] = 2 ** 40
    low, _ = cholesky(ints, 4)
    want = np.linalg.cholesky(np.tril(ints) + np.tril(ints, -1).T)
    np.testing.assert_allclose(low, want, rtol=0, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ws.ArgumentError, match="beyond float32's range"):
        bad = spd.copy()
        bad[7, 0] = 1e300  # below the diagonal it is read, and refused
        cholesky(bad, 2)
    for routed in ("no", 0, None):
        with pytest.raises(ws.ArgumentTypeError, match="routed must be True or False"):
            cholesky(spd, 2, routed=routed)
    assert np.array_equal(cholesky(spd, 2, routed=np.bool_(False))[0], cholesky(spd, 2, routed=False)[0])


def test_ill_conditioned_matrices_are_as_accurate_as_lapack_spotrf():
    # The accuracy docs/classic-kernels.md states: backward error of a few eps32, forward error ~ cond * eps32
    # (LAPACK's spotrf in float32 alike), and a matrix float32 cannot resolve refused as numpy refuses it.
    from scipy.linalg import hilbert
    eps = float(np.finfo(np.float32).eps)
    h = hilbert(8).astype(np.float32)
    want = np.linalg.cholesky(h.astype(np.float64))
    low, _ = cholesky(h, 2)
    ref = np.tril(lapack.spotrf(h, lower=1)[0])
    assert np.abs(low.astype(np.float64) @ low.T - h).max() <= 50 * eps * np.abs(h).max()
    forward = np.abs(low - want).max() / np.abs(want).max()
    # (within 4x of spotrf's: LAPACK builds differ, 1.0e-4 with SciPy 1.17.1's against our 2.9e-4, earlier ones
    # nearer ours; the operation order of a blocked spotrf is its own)
    assert forward <= 4 * max(np.abs(ref - want).max() / np.abs(want).max(), 1e-6) and forward < 1e-3
    with pytest.raises(NotPositiveDefiniteError):
        cholesky(hilbert(12).astype(np.float32), 3)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(hilbert(12).astype(np.float32))


def test_the_flop_count_refuses_a_size_cholesky_refuses():
    # cholesky_flops(-1) gave 0 and cholesky_flops(2.5) 8.0.
    assert [cholesky_flops(n) for n in (1, 2, 3)] == [sum((n - k) ** 2 for k in range(n)) for n in (1, 2, 3)]
    with pytest.raises(ws.ArgumentError, match="n must be a whole number >= 1, got -1"):
        cholesky_flops(-1)
    with pytest.raises(ws.ArgumentError, match="got 0"):
        cholesky_flops(0)
    with pytest.raises(ws.ArgumentTypeError, match="not a float"):
        cholesky_flops(2.5)


@pytest.mark.parametrize("n, p", [(1, 1), (2, 2), (3, 1), (5, 5), (7, 7), (6, 3), (7, 1)])
def test_odd_and_prime_sizes_with_one_column_per_pe_match_numpy(n, p):
    # Sizes a user hits that the table above leaves out: 1 x 1, primes, one column per PE (p = n), and entries
    # of -0.0 (above the diagonal, never read, and zero couplings below it), against float64 LAPACK.
    a = _spd(n, seed=100 + n)
    a[np.triu_indices(n, 1)] = -0.0  # (only the lower triangle is read)
    if n > 2:
        a[n - 1, 0] = -0.0  # (a coupling of -0.0 below the diagonal: A stays positive definite)
    low, stats = cholesky(a, p)
    lower = np.tril(a.astype(np.float64)) + np.tril(a.astype(np.float64), -1).T
    want = np.linalg.cholesky(lower)
    np.testing.assert_array_equal(np.triu(low, 1), 0)
    assert np.abs(low - want).max() <= 50 * np.finfo(np.float32).eps * np.abs(want).max()
    assert stats.block == (p, 1) and stats.flops == cholesky_flops(n)
