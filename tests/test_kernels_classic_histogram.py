"""kernels.classic.histogram: counts and edges against numpy.histogram (edges, out-of-range values, NaN,
ints), and the routing: the words over links equal each value's hops from its PE to its bin's owner."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import wafersim as ws
from wafersim.kernels.classic.histogram import float32_edges, histogram


@pytest.mark.parametrize("size, bins, value_range, p", [(100, 10, None, 1), (600, 16, (0.2, 0.9), 4),
                                                        (299, 7, None, 3), (400, 5, (-2.0, 2.0), 8)])
def test_histogram_matches_numpy(size, bins, value_range, p):
    values = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    counts, edges, stats = histogram(values, bins, value_range, p)
    want_counts, want_edges = np.histogram(values, bins, value_range)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(edges, want_edges)
    assert counts.dtype == np.int64 and stats.block == (p, 1)


def test_values_on_the_edges_out_of_range_and_nan():
    edges = np.linspace(0, 1, 9, dtype=np.float32)  # 8 bins
    values = np.concatenate([edges, np.nextafter(edges, np.float32(-1)), np.nextafter(edges, np.float32(2)),
                             [np.nan, -5, 7, np.inf, -np.inf]]).astype(np.float32)
    counts, _, _ = histogram(values, 8, (0.0, 1.0), p=4)
    np.testing.assert_array_equal(counts, np.histogram(values, 8, (0.0, 1.0))[0])
    assert counts.sum() == 3 * 9 - 2  # all but the value just below 0 and the one just above 1


def test_integer_values_and_one_value():
    ints = np.random.default_rng(2).integers(-20, 20, 333)
    counts, edges, _ = histogram(ints, 9, p=3)
    want = np.histogram(ints, 9)  # integers: NumPy's own counts and float64 edges
    np.testing.assert_array_equal(counts, want[0])
    np.testing.assert_array_equal(edges, want[1])
    assert edges.dtype == want[1].dtype
    counts, edges, _ = histogram(np.array([3.0]), 4)  # a zero-width range widens by 0.5 each way, as NumPy
    np.testing.assert_array_equal(counts, np.histogram(np.float32([3.0]), 4)[0])


def test_each_value_crosses_the_links_to_its_owner():
    p, bins, size = 6, 12, 240
    values = np.random.default_rng(5).random(size, dtype=np.float32)
    counts, edges, stats = histogram(values, bins, (0.0, 1.0), p)
    chunk = size // p
    source = np.arange(size) // chunk
    owner = (np.searchsorted(edges, values, side="right") - 1).clip(0, bins - 1) // (bins // p)
    end_markers = 2 * (p - 1)  # one per link and direction
    assert stats.words_moved == np.abs(owner - source).sum() + end_markers
    np.testing.assert_array_equal(np.bincount(owner, minlength=p), counts.reshape(p, -1).sum(1))


def test_float32_edges_round_up_so_comparisons_agree():
    edges64 = np.array([0.1, 0.2, 1 / 3, 0.5])
    edges32 = float32_edges(edges64)
    assert edges32.dtype == np.float32 and np.all(edges32.astype(np.float64) >= edges64)
    probe = np.concatenate([np.nextafter(edges32, np.float32(0)), edges32]).astype(np.float32)
    for e64, e32 in zip(edges64, edges32):
        np.testing.assert_array_equal(probe < e32, probe.astype(np.float64) < e64)


def test_bad_inputs_are_refused_with_sizes():
    with pytest.raises(ws.ArgumentError, match="positive int"):
        histogram(np.ones(4), 0)
    with pytest.raises(ws.ArgumentError, match="max must be larger than min"):
        histogram(np.ones(4), 3, (1.0, 0.0))  # NumPy's own check of the range, as a WaferError
    with pytest.raises(ws.ArgumentError, match="not finite"):
        histogram(np.array([1.0, np.inf]), 3)
    with pytest.raises(ws.ArgumentError, match="width of 2 PEs"):
        histogram(np.ones(8), 4, p=3, device=ws.Device(ws.WaferSpec(width=2, height=2)))
    with pytest.raises(ws.OutOfMemoryError, match="bytes"):
        histogram(np.ones(6000, np.float32), 4, p=1)  # 2 x 6,000 words on one PE


def test_a_range_beyond_float32_is_refused_and_one_at_its_edge_counts_right():
    # (-1e39, 1e39) became edges -inf .. inf in float32, counted without a word (NumPy itself fails on it);
    # the library's input rule refuses it, naming the edge; a str edge was NumPy's bare TypeError.
    values = (np.random.default_rng(5).standard_normal(50) * 1e38).astype(np.float32)
    with pytest.raises(ws.ArgumentError, match=r"range\[0\] holds .*beyond float32's range"):
        histogram(values, 3, (-1e39, 1e39))
    with pytest.raises(ws.ArgumentTypeError, match=r"range\[1\] must be a real number"):
        histogram(values, 3, (-1, "a"))
    counts, edges, _ = histogram(values, 3, (-3e38, 3e38), p=2)      # NumPy's own histogram overflows here
    np.testing.assert_array_equal(edges, np.linspace(-3e38, 3e38, 4).astype(np.float32))
    want = np.histogram(values.astype(np.float64), edges.astype(np.float64))[0]   # the same float32 edges
    np.testing.assert_array_equal(counts, want)
    assert counts.sum() == 50


def test_an_integer_range_edge_past_2_24_is_taken_as_numpy_takes_it():
    # The range check took float32_input's rule for values, refusing range=(0, 100_000_000) ("integers beyond
    # 2**24") though (0.0, 1e8) passed and the edges are rounded outward (`float32_edges`) either way.
    values = np.random.default_rng(9).uniform(0, 9e7, 300).astype(np.float32)
    counts, edges, _ = histogram(values, 4, (0, 100_000_000), p=2)
    want, want_edges = np.histogram(values, 4, (0, 100_000_000))
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(edges, want_edges.astype(np.float32))
    with pytest.raises(ws.ArgumentError, match=r"range\[1\] = 10{39} is beyond float32's range"):
        histogram(values, 4, (0, 10 ** 39))


@pytest.mark.parametrize("values, bins, value_range, p", [
    (np.arange(101), 45, None, 3),                        # the float32 edges moved an integer to the next bin
    (np.arange(-6, 115, dtype=np.int32), 54, None, 2),
    (np.arange(-16, 47, dtype=np.int16), 58, (-16, 46), 1),
    (np.array([0, 1, 2, 3, 3, 5]), 3, (0, 3 - 1e-10), 1),  # 3 is past the range (its last edge rounds down)
    (np.random.default_rng(3).standard_normal(300).astype(np.float16) * 20, 10, None, 2),
    (np.array([True, False, True, True]), 2, None, 2),    # booleans count as 0 and 1, as NumPy counts them
])
def test_values_float32_holds_exactly_are_numpys_histogram_of_them(values, bins, value_range, p):
    # The edges came from the float32 copy of the values, so an integer (or float16) input was binned by
    # edges NumPy does not use: np.histogram(np.arange(101), 45) differed in two bins.
    counts, edges, _ = histogram(values, bins, value_range, p)
    want, want_edges = np.histogram(values.astype(np.uint8) if values.dtype == bool else values, bins, value_range)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(edges, want_edges)


def test_float32_edges_round_the_last_edge_down_for_v_le_hi():
    edges64 = np.array([0.0, 0.1, 1 / 3])
    edges32 = float32_edges(edges64)
    probe = np.nextafter(np.float32(1 / 3), np.float32([-1, 0, 1])).astype(np.float32)
    probe = np.concatenate([probe, [np.float32(1 / 3)]])
    np.testing.assert_array_equal(probe <= edges32[-1], probe.astype(np.float64) <= edges64[-1])
    np.testing.assert_array_equal(probe < edges32[1], probe.astype(np.float64) < edges64[1])


def test_bfloat16_values_are_counted_as_numpy_counts_them():
    # bfloat16 (ml_dtypes, dtype kind "V") was refused as "not real numbers", though float32 holds it exactly.
    ml_dtypes = pytest.importorskip("ml_dtypes")
    values = (np.random.default_rng(6).standard_normal(200) * 4).astype(ml_dtypes.bfloat16)
    counts, edges, _ = histogram(values, 7, p=2)
    want, want_edges = np.histogram(values, 7)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(edges.astype(np.float32), want_edges.astype(np.float32))


def test_object_arrays_of_plain_numbers_are_counted_as_fft_and_cholesky_take_them():
    # An object array of Python numbers was refused ("not real numbers") while fft and cholesky took one.
    values = np.array([1, 2.5, 3, 7, -2, 4.25, 0, 6], dtype=object)
    counts, edges, _ = histogram(values, 4, p=2)
    want, want_edges = np.histogram(values.astype(np.float64), 4)     # plain numbers: float32 holds them exactly
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_allclose(edges.astype(np.float64), want_edges.astype(np.float64), rtol=1e-7)
    # What float32_input refuses for every other host function is refused here too, by the same rule.
    for bad, error, word in [([1, None], ws.ArgumentTypeError, "None"), ([1, "2"], ws.ArgumentTypeError, "string"),
                             ([1, 2j], ws.ArgumentTypeError, "complex"), ([1, 2 ** 40], ws.ArgumentError, "2\\*\\*24")]:
        with pytest.raises(error, match=word):
            histogram(np.array(bad, dtype=object), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.float16, np.bool_, object])
@pytest.mark.parametrize("bins, range_, p", [(3, (0.0, 1.0), 1), (5, (-2.5, 7.0), 4), (4, None, 2), (1, (3, 4), 3)])
def test_an_empty_input_counts_zeros_as_numpy_does(dtype, bins, range_, p):
    # Was an ArgumentError ("takes a non-empty array"); numpy.histogram gives zeros, with the edges of the
    # range (of 0 .. 1 where there is none). float64 and object arrays are numpy.histogram's of their float32
    # values, as documented for non-empty ones.
    values = np.array([], dtype)
    counts, edges, stats = histogram(values, bins, range_, p=p)
    rounded = dtype in (np.float64, object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's note that it converts bool to uint8)
        want, want_edges = np.histogram(values.astype(np.float32) if rounded else values, bins, range_)
    assert counts.dtype == np.int64 and counts.tolist() == want.tolist() == [0] * bins
    assert edges.dtype == want_edges.dtype
    np.testing.assert_array_equal(edges, want_edges)
    assert stats.cycles > 0


def test_an_empty_input_with_a_range_numpy_refuses_is_still_refused():
    for bad, word in [((1.0, 0.0), "max must be larger than min"), ((0.0, np.inf), "not finite")]:
        with pytest.raises(ValueError, match=word):
            np.histogram(np.array([], np.float32), 3, bad)
        with pytest.raises(ws.ArgumentError, match=word):
            histogram(np.array([], np.float32), 3, bad)
    with pytest.raises(ws.ArgumentError, match="real numbers"):  # (NumPy gives complex edges; refused as for [1j])
        histogram(np.array([], np.complex64), 3, (0, 1))


@pytest.mark.parametrize("bad", [2.5, 0, (1.0,), (0.0, 1.0, 2.0), [[0.0, 1.0]], "01"])
def test_a_range_that_is_not_a_pair_is_an_argument_error(bad):
    """`range=2.5` was NumPy's bare "cannot unpack non-iterable float object" (a TypeError, no WaferError);
    a pair, as a tuple or a list, still bins as numpy.histogram does."""
    values = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    with pytest.raises(ws.ArgumentError, match="range must be"):
        histogram(values, bins=4, range=bad)
    counts, edges, _ = histogram(values, bins=4, range=[0.0, 1.0])
    want_counts, want_edges = np.histogram(values, bins=4, range=(0.0, 1.0))
    assert np.array_equal(counts, want_counts) and np.array_equal(edges, want_edges)


_FLOAT32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
_BIG32 = float(np.float32(3e38))  # (the range's ends are float32 numbers: NumPy compares float32 values with them
#  in float32, NEP 50, so a float64 end between two float32 numbers acts as the float32 one it rounds to)
_FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_FLOAT32, min_size=12, max_size=12), ends=st.tuples(_FINITE32, _FINITE32),
       edge_picks=st.tuples(st.integers(0, 12), st.integers(0, 12)), bins=st.sampled_from([1, 3, 7]),
       p=st.integers(1, 3))
@example(values=[-3e38, -1.0, -0.0, 0.0, 1e-45, 2.0, 3e38, float("inf"), float("-inf"), float("nan"), 1e38, -1e38],
         ends=(-_BIG32, _BIG32), edge_picks=(0, 6), bins=7, p=2)  # (numpy.histogram of these float32 values fails)
def test_any_float32_values_and_range_are_counted_as_numpy_counts_them(values, ends, edge_picks, bins, p):
    # Edge inputs a user hits: NaN, +-inf, -0.0, subnormals, values on an edge (a range taken from the values
    # themselves), ranges from subnormal widths to ones whose width overflows float32 (-3e38 .. 3e38, where
    # numpy.histogram of the float32 values itself fails with an IndexError: there NumPy's histogram of them in
    # float64, where they are exact, by NumPy's float32 edges is the reference).
    values = np.array(values, np.float32)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite[i % finite.size]) if i < 12 and finite.size else e for i, e in zip(edge_picks, ends))
    lo, hi = min(lo, hi), max(lo, hi)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's own overflow in hi - lo)
            try:
                want, want_edges = np.histogram(values, bins, (lo, hi))
            except IndexError:  # NumPy's failure on a range whose width overflows float32: its (float32) edges,
                want_edges = np.histogram_bin_edges(values, bins, (lo, hi))  # compared in float64 (exact)
                want = np.histogram(values.astype(np.float64), want_edges.astype(np.float64))[0]
    except ValueError:  # a range too narrow for float32 bins ("Too many bins"): refused as NumPy refuses it
        with pytest.raises(ws.ArgumentError, match="histogram: "):
            histogram(values, bins, (lo, hi), p)
        return
    counts, edges, _ = histogram(values, bins, (lo, hi), p)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(edges, want_edges)
