"""Sparse kernels (wafersim.kernels.sparse) against SciPy and NumPy, their cost against the pair-cost formula
of docs/sparsity.md, and their errors for inputs they cannot take."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import wafersim as ws
from wafersim.kernels.sparse import dense_spmv, hypersparse_spmv, spmm, spmv, stencil7_matrix, stencil7_spmv
from wafersim.kernels.sparse.layout import as_csr, layout_rows, nonempty_row_blocks
from wafersim.kernels.sparse.spmspv import spmspv


def random_matrix(rng, m, n, density):
    return sp.random_array((m, n), density=density, format="csr", dtype=np.float32, rng=rng,
                           data_sampler=lambda size: rng.uniform(-1, 1, size))


@pytest.mark.parametrize("m, n, density, pes", [(40, 30, 0.2, 6), (17, 50, 0.5, 4), (9, 9, 1.0, 16), (30, 8, 0.0, 3)])
def test_spmv_matches_scipy(m, n, density, pes):
    rng = np.random.default_rng(m)
    a, x = random_matrix(rng, m, n, density), rng.uniform(-1, 1, n).astype(np.float32)
    y, stats = spmv(a, x, pes)
    np.testing.assert_allclose(y, a @ x, rtol=1e-5, atol=1e-6)
    assert stats.flops == 2 * a.nnz  # a multiply and an add per nonzero, none per zero


def test_spmv_takes_scipy_matrices_of_any_format_and_never_multiplies_stored_zeros():
    rng = np.random.default_rng(1)
    a = random_matrix(rng, 20, 20, 0.3).tocoo()
    a.data[::3] = 0.0  # explicitly stored zeros
    x = rng.random(20, dtype=np.float32)
    for form in (a, a.tocsc(), sp.csr_matrix(a), a.toarray()):
        y, stats = spmv(form, x, 4)
        np.testing.assert_allclose(y, a.toarray() @ x, rtol=1e-5, atol=1e-6)
        assert stats.flops == 2 * np.count_nonzero(a.toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("host", [spmv, spmspv, hypersparse_spmv, dense_spmv])
def test_a_users_matrix_is_never_changed(dtype, host):
    """Removing stored zeros and sorting indices work on a copy: the caller's matrix (arrays shared with a
    float32 conversion, unsorted indices, a stored zero) multiplies as before, and a second call agrees."""
    data, indices, indptr = np.array([5, 0, 7, 9], dtype), np.array([0, 1, 1, 2]), np.array([0, 2, 3, 4])
    m = sp.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=(3, 3))
    m.has_sorted_indices = False  # (as SciPy leaves a matrix built from arrays it has not checked)
    x = np.array([1, 10, 100], np.float32)
    want = m @ x
    for _ in range(2):
        y, _ = host(m, x, 2)
        np.testing.assert_allclose(y, want, rtol=1e-6)
        assert m.dtype == dtype and np.array_equal(m.data, data) and np.array_equal(m.indices, indices)
        assert np.array_equal(m.indptr, indptr)
        np.testing.assert_array_equal(m @ x, want)


def test_complex_matrices_are_refused_not_cut_to_their_real_part():
    with pytest.raises(ws.ArgumentTypeError, match="complex"):
        spmv(sp.csr_array(np.eye(3) * 2j), np.ones(3), 1)


def test_spmm_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = random_matrix(rng, 33, 20, 0.25), rng.uniform(-1, 1, (20, 3)).astype(np.float32)
    c, _ = spmm(a, b, 5)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)


def test_hypersparse_spmv_places_only_the_rows_with_nonzeros():
    rng = np.random.default_rng(3)
    a = random_matrix(rng, 3000, 400, 0.0002)  # 240 nonzeros in 3,000 rows
    x = rng.random(400, dtype=np.float32)
    y, _ = hypersparse_spmv(a, x, 8)
    np.testing.assert_allclose(y, a @ x, rtol=1e-5, atol=1e-6)
    row_ids, counts = nonempty_row_blocks(as_csr(a), 8)
    np.testing.assert_array_equal(row_ids, np.flatnonzero(np.diff(a.indptr)))
    layout = layout_rows(as_csr(a), row_ids, counts, 8, 1)
    assert layout.nnz.sum() == a.nnz and layout.nnz.max() <= 2 * a.nnz / 8 + np.diff(a.indptr).max()


@pytest.mark.parametrize("x_density", [1.0, 0.2, 0.0])
def test_spmspv_sends_and_works_on_the_nonzeros_of_x_only(x_density):
    rng = np.random.default_rng(8)
    a = random_matrix(rng, 45, 40, 0.15)
    x = rng.uniform(-1, 1, 40).astype(np.float32)
    x[rng.random(40) >= x_density] = 0.0
    y, stats = spmspv(a, x, 10)  # 10 workers and a source: one row of 11 PEs
    np.testing.assert_allclose(y, a @ x, rtol=1e-5, atol=1e-6)
    nonzeros = np.count_nonzero(x)
    assert stats.words_moved == 10 * (1 + 2 * nonzeros)  # a count and 2 words per nonzero, over 10 links
    columns = a.tocsc()[:, np.flatnonzero(x)]
    assert stats.flops == 2 * columns.nnz  # only the columns that x's nonzeros select are multiplied


def test_spmspv_cycles_grow_with_the_nonzeros_of_x_not_its_length():
    rng = np.random.default_rng(9)
    a = sp.csr_array(np.ones((16, 64), np.float32))  # every column holds 4 nonzeros per worker
    cycles = {}
    for k in (0, 4, 8, 16):
        x = np.zeros(64, np.float32)
        x[rng.permutation(64)[:k]] = 1.0
        cycles[k] = spmspv(a, x, 4)[1].cycles
    per_nonzero = (cycles[4] - cycles[0]) / 4
    assert per_nonzero > 0
    assert cycles[8] - cycles[0] == pytest.approx(8 * per_nonzero, abs=2)
    assert cycles[16] - cycles[0] == pytest.approx(16 * per_nonzero, abs=2)


def numpy_laplacian(u: np.ndarray) -> np.ndarray:
    """6 u - (the six neighbours), zero outside the grid: the stencil by array shifts."""
    p = np.pad(u, 1)
    return 6 * u - (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1] + p[1:-1, :-2, 1:-1] + p[1:-1, 2:, 1:-1]
                    + p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:])


def test_stencil7_matrix_and_spmv_are_the_numpy_stencil():
    rng = np.random.default_rng(4)
    u = rng.random((4, 5, 6), dtype=np.float32)  # (nz, ny, nx)
    a = stencil7_matrix(6, 5, 4)
    np.testing.assert_allclose((a @ u.reshape(-1)).reshape(u.shape), numpy_laplacian(u), rtol=1e-5)
    assert a.nnz == 7 * u.size - 2 * (5 * 4 + 6 * 4 + 6 * 5)  # each face loses one neighbour per cell
    y, _ = stencil7_spmv(u, 8)
    np.testing.assert_allclose(y, numpy_laplacian(u), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("zero_skip", [False, True])
def test_dense_baseline_matches_numpy(zero_skip):
    rng = np.random.default_rng(5)
    a, x = random_matrix(rng, 24, 16, 0.3), rng.random(16, dtype=np.float32)
    y, _ = dense_spmv(a, x, 4, zero_skip=zero_skip)
    np.testing.assert_allclose(y, a.toarray() @ x, rtol=1e-5, atol=1e-6)


def test_a_multiply_costs_the_pair_cycles_of_the_busiest_pe():
    """Per multiply (two launches differing only in repeats), the sparse kernel's cycles grow by
    ceil(nonzeros * sparse_pair_words / vector_lanes) of its busiest PE, whatever the matrix's zeros."""
    spec = ws.WaferSpec(width=4, height=1)
    rng = np.random.default_rng(6)
    x = rng.random(64, dtype=np.float32)

    def per_multiply(nonzeros_per_row: int) -> float:
        dense = np.zeros((8, 64), np.float32)
        for row in dense:  # the same count in every row: every PE equally busy
            row[rng.permutation(64)[:nonzeros_per_row]] = 1.0
        a = sp.csr_array(dense)
        cycles = [spmv(a, x, 4, device=ws.Device(spec), repeats=r)[1].cycles for r in (1, 3)]
        return (cycles[1] - cycles[0]) / 2

    nnz_per_pe = {k: 2 * k for k in (0, 8, 64)}  # 2 rows per PE
    expected = {k: np.ceil(v * spec.sparse_pair_words / spec.vector_lanes) for k, v in nnz_per_pe.items()}
    measured = {k: per_multiply(k) for k in nnz_per_pe}
    assert measured[8] - measured[0] == expected[8] - expected[0]
    assert measured[64] - measured[0] == expected[64] - expected[0]


def test_bad_inputs_are_clear_errors_naming_sizes_and_limits():
    rng = np.random.default_rng(7)
    a = random_matrix(rng, 10, 6, 0.5)
    with pytest.raises(ws.ArgumentError, match=r"x must have 6 rows .*got shape \(7,\)"):
        spmv(a, np.zeros(7, np.float32), 2)
    with pytest.raises(ws.ArgumentError, match="x must be a vector of length 6"):
        spmv(a, np.zeros((6, 2), np.float32), 2)
    with pytest.raises(ws.ArgumentError, match=r"b must have 6 rows"):
        spmm(a, np.zeros((5, 2), np.float32), 2)
    with pytest.raises(ws.ArgumentError, match="pes must be a whole number"):
        spmv(a, np.zeros(6, np.float32), 0)
    with pytest.raises(ws.ArgumentTypeError, match="SciPy sparse matrix"):
        spmv([[1.0, 2.0]], np.zeros(2, np.float32), 1)
    with pytest.raises(ws.ArgumentError, match="repeats"):
        spmv(a, np.zeros(6, np.float32), 2, repeats=0)
    with pytest.raises(ws.ArgumentError, match=r"x must have 6 rows"):
        spmspv(a, np.zeros(5, np.float32), 2)
    with pytest.raises(ws.ArgumentError, match="3-D"):
        stencil7_spmv(np.zeros((4, 4)), 2)


def test_rows_that_do_not_fit_a_pes_sram_are_refused_before_launch():
    big = sp.csr_array(np.ones((8, 4000), np.float32))  # 32,000 nonzeros: 8 rows of 8,000 words of pairs
    with pytest.raises(ws.ArgumentError) as info:
        spmv(big, np.ones(4000, np.float32), 2)
    text = str(info.value)
    assert "16000 nonzeros" in text and "49152-byte SRAM" in text and "use more PEs" in text
    assert info.value.needed > info.value.available
    with pytest.raises(ws.ArgumentError, match="49152-byte SRAM"):
        dense_spmv(big, np.ones(4000, np.float32), 2)


@pytest.mark.parametrize("host", [spmv, spmspv, hypersparse_spmv, dense_spmv])
@pytest.mark.parametrize("form", [sp.csr_array, sp.coo_array, sp.dok_array, np.asarray])
def test_matrix_values_float32_would_change_are_refused_not_rounded_or_made_inf(host, form):
    """The matrix follows the library's input rule as x does: an integer beyond 2**24 would round
    (2**25 + 1 becomes 2**25) and a float64 beyond float32's range would become inf, without a word."""
    x = np.ones(2, np.float32)
    with pytest.raises(ws.ArgumentError, match=r"a holds integers beyond 2\*\*24"):
        host(form(np.array([[2**25 + 1, 0]])), x, 1)
    with pytest.raises(ws.ArgumentError, match="a holds .*1e\\+39.*beyond float32's range"):
        host(form(np.array([[1e39, 0.0]])), x, 1)
    y, _ = host(form(np.array([[2**24, -3]])), x, 1)  # exact in float32 (and their sum): taken, in every format
    assert y.tolist() == [2**24 - 3]


def test_duplicates_of_a_coo_matrix_are_added_before_the_float32_check():
    """2**24 + 1 as two stored entries is the integer 2**24 + 1, which float32 would round to 2**24."""
    coo = sp.coo_array((np.array([2**24, 1]), (np.array([0, 0]), np.array([0, 0]))), shape=(1, 1))
    with pytest.raises(ws.ArgumentError, match=r"beyond 2\*\*24"):
        spmv(coo, np.ones(1, np.float32), 1)
    halves = sp.coo_array((np.array([0.5, 0.25]), (np.array([0, 0]), np.array([1, 1]))), shape=(2, 2))
    np.testing.assert_array_equal(spmv(halves, np.array([0, 4], np.float32), 1)[0], halves @ np.array([0, 4.0]))
    # Small integer types: the duplicates' sum is exact (int8 100 + 100 is 200, as SciPy's coo @ x gives, not
    # the -56 an int8 sum wraps to)
    bytes_ = sp.coo_array((np.array([100, 100], np.int8), (np.array([0, 0]), np.array([0, 0]))), shape=(1, 1))
    assert spmv(bytes_, np.ones(1, np.float32), 1)[0].tolist() == [200.0] == np.ravel(bytes_ @ np.ones(1)).tolist()


@pytest.mark.parametrize("host", [spmv, spmspv, hypersparse_spmv, dense_spmv])
@pytest.mark.parametrize("shape", [(5, 0), (0, 5), (0, 0)])
def test_an_empty_matrix_gives_scipys_empty_product(host, shape):
    """A matrix without rows or columns is a product of zeros (SciPy's answer), not a NumPy reshape error
    or a CompileError from inside the library."""
    a = sp.csr_array(shape, dtype=np.float32)
    x = np.ones(shape[1], np.float32)
    y, _ = host(a, x, 2)
    want = a @ x
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, want)


def test_spmm_with_no_columns_in_b_gives_an_empty_product():
    a = random_matrix(np.random.default_rng(3), 4, 3, 0.5)
    for b in (np.zeros((3, 0), np.float32), np.zeros((0, 2), np.float32)):
        m = a if b.shape[0] == 3 else sp.csr_array((4, 0), dtype=np.float32)
        y, _ = spmm(m, b, 2)
        assert y.shape == (m @ b).shape
        np.testing.assert_array_equal(y, m @ b)


# (20 PEs fold into rows of the 4-wide wafer's width, 3 for spmspv's workers beside its source PE: still too many)
@pytest.mark.parametrize("host, block", [(spmv, "4 x 5"), (spmspv, "4 x 7"), (dense_spmv, "4 x 5")])
def test_more_pes_than_the_device_has_is_an_argument_error_saying_what_to_pass(host, block):
    a = sp.eye_array(40, dtype=np.float32, format="csr")
    with pytest.raises(ws.ArgumentError, match=rf"block of {block} PEs, larger than the device's 4 x 4 wafer"):
        host(a, np.ones(40, np.float32), 20, device=ws.Device(ws.WaferSpec(width=4, height=4)))
    y, _ = host(a, np.arange(40, dtype=np.float32), 3, device=ws.Device(ws.WaferSpec(width=4, height=4)))  # fits
    np.testing.assert_array_equal(y, np.arange(40))


def test_a_row_spanning_more_than_a_packed_index_is_refused_saying_what_helps():
    # Two nonzeros 69,999 columns apart: no number of PEs shortens that row's x window, so "use more
    # PEs" alone was advice that could not help; rows too many for one PE still say to use more PEs.
    wide = sp.csr_array((np.array([1.0, 2.0], np.float32), np.array([0, 69_999]), np.array([0, 2, 2])),
                        shape=(2, 70_000))
    with pytest.raises(ws.ArgumentError, match="permute the columns"):
        spmv(wide, np.ones(70_000, np.float32), pes=2)
    tall = sp.csr_array((np.ones(2, np.float32), np.zeros(2, int), np.r_[0, 1, np.ones(69_998, int), 2]),
                        shape=(70_000, 1))
    with pytest.raises(ws.ArgumentError, match="of each: use more PEs$"):
        spmv(tall, np.ones(1, np.float32), pes=1)
    y, _ = hypersparse_spmv(tall, np.ones(1, np.float32), pes=1)       # only its 2 nonempty rows placed
    np.testing.assert_array_equal(y, tall @ np.ones(1, np.float32))


@pytest.mark.parametrize("pes", [2**40, 893_065])
@pytest.mark.parametrize("host", ["spmv", "spmm", "hypersparse_spmv", "spmspv", "dense_spmv"])
def test_pes_beyond_a_wafer_is_an_argument_error_not_a_memory_error(host, pes):
    # pes=2**40 was a bare MemoryError (8 TiB per-PE arrays); dense_spmv a SpecError about WaferSpec.height
    from wafersim.arch.spec import PRESET_SIZES
    from wafersim.kernels.sparse.layout import MAX_PES

    assert MAX_PES == max(w * h for w, h in PRESET_SIZES.values()) == 762 * 1172
    a = sp.csr_array(np.eye(3, dtype=np.float32))
    f = {"spmv": spmv, "spmm": spmm, "hypersparse_spmv": hypersparse_spmv, "spmspv": spmspv,
         "dense_spmv": dense_spmv}[host]
    with pytest.raises(ws.ArgumentError, match=r"pes = \d+ is more PEs than a wafer has: at most 893,064"):
        f(a, np.ones((3, 2)) if host == "spmm" else np.ones(3), pes)


def test_a_scipy_sparse_vector_x_is_taken_and_a_2d_one_refused_naming_its_shape():
    # a 1-D SciPy sparse x (stored zero, nan, inf included) was refused as "got shape ()"
    rng = np.random.default_rng(7)
    a = random_matrix(rng, 20, 12, 0.3)
    x = sp.coo_array((np.array([0.0, 2.0, np.nan, -1.5, np.inf], np.float32), (np.array([0, 3, 5, 8, 11]),)),
                     shape=(12,))
    expected = a @ x.toarray()  # SciPy: only stored entries multiply, so a nan or inf reaches only its rows
    for f in (spmv, hypersparse_spmv, spmspv, lambda a, x, p: dense_spmv(a, x, p, zero_skip=True)):
        np.testing.assert_allclose(f(a, x, 4)[0], expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    for f in (spmv, hypersparse_spmv, spmspv, dense_spmv):
        with pytest.raises(ws.ArgumentError, match=r"got a SciPy sparse csr of shape \(12, 1\)"):
            f(a, sp.csr_array(x.toarray()[:, None]), 4)


def test_a_stored_zero_facing_inf_is_dropped_and_the_dense_baseline_multiplies_every_zero():
    # docs/sparsity.md: stored zeros are dropped (SciPy multiplies them: 0 * inf = nan); dense_spmv
    # multiplies every entry as NumPy's dense product does, unless zero_skip=True
    a = sp.csr_array((np.array([0.0, 1.0, 3.0], np.float32), np.array([0, 1, 2]), np.array([0, 2, 3])), shape=(2, 3))
    x = np.array([np.inf, 2.0, 1.0], np.float32)
    without_stored_zeros = a.copy()
    without_stored_zeros.eliminate_zeros()
    assert np.isnan((a @ x)[0])  # SciPy's own product of the stored zero
    for f in (spmv, hypersparse_spmv, spmspv, lambda a, x, p: dense_spmv(a, x, p, zero_skip=True)):
        np.testing.assert_array_equal(f(a, x, 2)[0], without_stored_zeros @ x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(dense_spmv(a, x, 2)[0], a.toarray() @ x)  # [nan, nan]


def test_a_stored_inf_or_nan_facing_a_zero_of_x_gives_scipys_nan_in_every_kernel():
    # spmspv never sends x's zeros, so a stored inf or NaN facing one never met it and its row came out 0
    # (or the finite sum of its other products); SciPy multiplies it: inf * 0 = NaN. Rows 1 and 3 have
    # only finite entries facing x's zero and stay finite; row 4 has an inf facing a nonzero of x.
    dense = np.array([[np.inf, 0, 1], [0, 2, 0], [np.nan, 0, 0], [0, 0, 5], [0, -np.inf, 2], [7, 0, np.nan]],
                     np.float32)
    a = sp.csr_array(dense)
    for x in (np.array([0, 3, 1], np.float32), np.zeros(3, np.float32), np.array([0, 0, -1], np.float32)):
        with np.errstate(invalid="ignore"):
            want = a @ x
        for f in (spmv, hypersparse_spmv, spmspv):
            np.testing.assert_array_equal(f(a, x, 2)[0], want)
    assert np.isnan(want[[0, 2, 5]]).all() and want[1] == 0 and want[3] == -5


@pytest.mark.parametrize("host", [spmv, dense_spmv])
def test_repeats_past_int32_is_refused_by_the_host_function_with_its_limit(host):
    # repeats=2**31 was a LaunchError "argument 4 (repeats) does not fit int32", naming no host function's limit.
    a = sp.random(6, 6, density=0.5, random_state=0, format="csr", dtype=np.float32)
    x = np.arange(6, dtype=np.float32)
    for repeats in (2**31, np.int64(2**40)):
        with pytest.raises(ws.ArgumentError, match=r"repeats must be at most 2\*\*31 - 1 = 2147483647 .*int32"):
            host(a, x, 2, repeats=repeats)
    with pytest.raises(ws.ArgumentTypeError, match="repeats"):
        host(a, x, 2, repeats=2.0)
    y, _ = host(a, x, 2, repeats=np.int32(2))        # a NumPy int in range runs: y is A @ x, as SciPy gives it
    np.testing.assert_allclose(y, a @ x, rtol=1e-6)


def _malformed(kind):
    """A 1 x 3 matrix (3 x 1 for CSC) whose one stored index lies outside it: SciPy builds it without a word."""
    one, outside = np.ones(1, np.float32), np.array([kind])
    return {"csr": lambda: sp.csr_array((one, outside, np.array([0, 1])), shape=(1, 3)),
            "csr_matrix": lambda: sp.csr_matrix((one, outside, np.array([0, 1])), shape=(1, 3)),
            "csc": lambda: sp.csc_array((one, outside, np.array([0, 1])), shape=(3, 1))}


@pytest.mark.parametrize("index", [-1, 3, 5])
@pytest.mark.parametrize("fmt", ["csr", "csr_matrix", "csc"])
@pytest.mark.parametrize("host", [spmv, hypersparse_spmv, spmspv, dense_spmv])
def test_a_matrix_whose_indices_lie_outside_its_shape_is_refused_naming_it(host, fmt, index):
    # A CSR built from (data, indices, indptr) with index -1 gave y = x[-1] (1000 here), with index 3 or 5 a
    # silent 0: SciPy checks such indices only in check_format(full_check=True), which the hosts did not call.
    a = _malformed(index)[fmt]()
    x = np.array([10.0, 100.0, 1000.0], np.float32)[:a.shape[1]]
    with pytest.raises(ws.ArgumentError, match=r"a is not a well-formed CS[RC] matrix of shape .*indices must be"):
        host(a, x, 1)
    assert a.indices[0] == index  # (the caller's matrix is left as it was)


def test_a_non_decreasing_indptr_and_an_edited_coo_are_refused_and_good_matrices_still_run():
    bad_ptr = sp.csr_array((np.ones(2, np.float32), np.array([0, 1]), np.array([0, 2, 1])), shape=(2, 3))
    with pytest.raises(ws.ArgumentError, match="indptr must be a non-decreasing sequence"):
        spmv(bad_ptr, np.ones(3, np.float32), 1)
    coo = sp.coo_array((np.ones(1, np.float32), (np.array([0]), np.array([1]))), shape=(1, 3))
    coo.col[0] = 7  # (SciPy checks a COO's coordinates when it is built only: its own tocsr then crashes)
    with pytest.raises(ws.ArgumentError, match=r"column indices run from 7 to 7, outside 0 \.\. 2"):
        spmv(coo, np.ones(3, np.float32), 1)
    # Duplicates and unsorted indices are well formed: summed as SciPy sums them.
    dup = sp.csr_array((np.array([1, 2, 3, 4], np.float32), np.array([1, 1, 2, 0]), np.array([0, 2, 4])),
                       shape=(2, 3))
    x = np.array([10.0, 100.0, 1000.0], np.float32)
    for host in (spmv, hypersparse_spmv, spmspv):
        np.testing.assert_array_equal(host(dup, x, 2)[0], dup @ x)
    x = sp.coo_array((np.ones(1, np.float32), (np.array([1]),)), shape=(3,))
    x.coords[0][0] = 9  # (a 1-D sparse x edited the same way read as zeros)
    with pytest.raises(ws.ArgumentError, match=r"x is not a well-formed COO vector of shape \(3,\): its vector indices "
                                               r"run from 9 to 9, outside 0 \.\. 2"):
        spmv(dup, x, 1)


def _edited(build, index: int):
    """`build()` with its first stored index set to `index` after SciPy built it (as a user's edit would)."""
    made = build()
    made.indices[0] = index
    return made


@pytest.mark.parametrize("index", [-1, 3, 9])
@pytest.mark.parametrize("host", [spmv, hypersparse_spmv, spmspv, dense_spmv])
def test_a_bsr_matrix_or_a_1d_csr_x_whose_indices_lie_outside_it_is_refused(host, index):
    # SciPy checks a BSR's block columns and a 1-D CSR vector's indices only in check_format(full_check=True):
    # without it a 1-D CSR x with index 7 of 3 gave y = [10, 300] here (and then corrupted the heap).
    d = np.array([[1, 0, 2], [0, 3, 0]], np.float32)
    x = np.array([10, 100, 1000], np.float32)
    bsr = _edited(lambda: sp.bsr_array(d, blocksize=(1, 1)), index)
    with pytest.raises(ws.ArgumentError, match=r"a is not a well-formed BSR matrix of shape \(2, 3\): column index"):
        host(bsr, x, 2)
    x_csr = _edited(lambda: sp.csr_array(x), index)
    with pytest.raises(ws.ArgumentError, match=r"x is not a well-formed CSR matrix of shape \(3,\): indices must be"):
        host(sp.csr_array(d), x_csr, 2)
    assert bsr.indices[0] == x_csr.indices[0] == index  # (the caller's arrays are left as they were)


def test_well_formed_matrices_and_vectors_of_every_scipy_format_are_taken_as_scipy_multiplies_them():
    """The structure checks refuse no well-formed input: each SciPy format (and spmatrix class) of A, with a
    dense, COO, CSR or DOK x, gives A @ x as SciPy computes it."""
    rng = np.random.default_rng(5)
    d = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    d[rng.random((6, 4)) < 0.5] = 0
    x = rng.uniform(-1, 1, 4).astype(np.float32)
    forms = [sp.csr_array(d), sp.csr_matrix(d), sp.csc_array(d), sp.csc_matrix(d), sp.coo_array(d), sp.coo_matrix(d),
             sp.bsr_array(d, blocksize=(2, 2)), sp.bsr_matrix(d, blocksize=(3, 1)), sp.dia_array(d), sp.dok_array(d),
             sp.lil_array(d), sp.csr_array(d.astype(np.float64)), sp.csr_array((6, 4), dtype=np.float32)]
    for a in forms:
        want = a.toarray().astype(np.float64) @ x.astype(np.float64)
        for xs in (x, sp.coo_array(x), sp.csr_array(x), sp.dok_array(x)):
            for host in (spmv, hypersparse_spmv, spmspv, dense_spmv):
                np.testing.assert_allclose(host(a, xs, 2)[0], want, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{type(a).__name__} {type(xs).__name__} {host.__name__}")


def test_a_call_that_does_not_fit_is_an_argument_type_error():
    """(user54) `spmv(a, x, pe=8)` was Python's bare TypeError, not a `WaferError`."""
    import wafersim.kernels.sparse as sparse
    a = sp.random_array((8, 6), density=0.5, format="csr", dtype=np.float32, rng=np.random.default_rng(2))
    x = np.arange(6, dtype=np.float32)
    with pytest.raises(ws.ArgumentTypeError, match="'pe'; did you mean 'pes'"):
        sparse.spmv(a, x, pe=2)
    with pytest.raises(ws.ArgumentTypeError, match="'pe'; did you mean 'pes'"):
        sparse.spmspv(a, x, pe=2)
    np.testing.assert_allclose(sparse.spmv(a, x, pes=2)[0], a @ x, rtol=1e-6)


def test_a_defective_wafer_too_short_of_spares_for_the_block_says_what_a_library_caller_can_change():
    """The launch's refusal ended "Launch smaller blocks (a grid of many runs in more waves)", advice for a
    kernel's author; a caller of spmv chooses `pes` and the device. With fewer PEs, or spares, it runs and
    gives SciPy's product."""
    a = sp.random_array((32, 16), density=0.3, format="csr", dtype=np.float32, rng=np.random.default_rng(4))
    x = np.random.default_rng(5).random(16, dtype=np.float32)
    want = a.astype(np.float64) @ x.astype(np.float64)
    short = ws.Device(ws.WaferSpec(width=16, height=2, defects=[(3, 0), (5, 1)]))   # 15 live PEs a row
    for host in (spmv, hypersparse_spmv, dense_spmv):
        with pytest.raises(ws.LaunchError, match="runs on a block of 16 x 1 PEs: pass a device whose WaferSpec has "
                                                 "more spare_cols or spare_rows, fewer PEs") as caught:
            host(a, x, 16, device=short)
        assert "Launch smaller blocks" not in str(caught.value) and caught.value.defects == [(3, 0), (5, 1)]
        np.testing.assert_allclose(host(a, x, 8, device=short)[0], want, rtol=1e-5, atol=1e-6)
        spared = ws.Device(ws.WaferSpec(width=16, height=2, spare_cols=1, defects=[(3, 0), (5, 1)]))
        np.testing.assert_allclose(host(a, x, 16, device=spared)[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pes", [9, 15, 20])
def test_more_pes_than_the_wafer_is_wide_fold_into_rows_of_its_width(pes):
    """`spmv(a, x, pes=9, device=<8 x 8>)` was refused ("a block of 9 x 1 PEs, larger than the device's 8 x 8
    wafer") though the wafer has 64 PEs: the PEs now fold into rows of the wafer's width (spmspv: less its
    source PE), and the product is SciPy's."""
    a = sp.random_array((50, 30), density=0.2, format="csr", dtype=np.float32, rng=np.random.default_rng(8))
    x = np.random.default_rng(9).standard_normal(30).astype(np.float32)
    x[::3] = 0
    want = a.astype(np.float64) @ x.astype(np.float64)
    device = ws.Device(ws.WaferSpec(width=8, height=8))
    for host, width in ((spmv, 8), (hypersparse_spmv, 8), (dense_spmv, 8), (spmspv, 7)):
        y, stats = host(a, x, pes, device=device)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6, err_msg=host.__name__)
        extra = 1 if host is spmspv else 0
        assert stats.block == (width + extra, -(-pes // width)), (host.__name__, stats.block)
        perfect, _ = host(a, x, pes)                     # a row of pes PEs on a wafer just that wide
        assert np.array_equal(y, perfect), host.__name__
