"""Krylov solvers (CG, Jacobi-preconditioned CG, BiCGSTAB) and the power method of `kernels.solvers`,
against SciPy and NumPy on the same matrix: the 7-point 3-D Laplacian plus a diagonal shift, built here
with scipy.sparse Kronecker products (independently of the kernels' own NumPy reference)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import wafersim as ws
from wafersim.kernels.solvers import ColumnTooLongError, bicgstab, conjugate_gradient, power_method


def laplacian(shape: tuple[int, int, int], shift=0.0) -> sp.csr_matrix:
    """A = T_z (x) I (x) I + I (x) T_y (x) I + I (x) I (x) T_x + diag(shift) for a C-ordered (nz, ny, nx)
    grid, T_n = tridiag(-1, 2, -1): the 7-point Laplacian with a Dirichlet boundary."""
    def t(n):
        return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])

    def eye(n):
        return sp.identity(n)

    nz, ny, nx = shape
    a = (sp.kron(sp.kron(t(nz), eye(ny)), eye(nx)) + sp.kron(sp.kron(eye(nz), t(ny)), eye(nx))
         + sp.kron(sp.kron(eye(nz), eye(ny)), t(nx)))
    return (a + sp.diags(np.broadcast_to(np.asarray(shift, dtype=np.float64), shape).ravel())).tocsr()


def scipy_solve(method, a, b, rtol, maxiter=None, m=None):
    """SciPy's solution, info and iteration count (its callback's count) in float64."""
    count = [0]

    def callback(_x):
        count[0] += 1

    kwargs = {"M": m} if m is not None else {}
    x, info = method(a, b.ravel().astype(np.float64), rtol=rtol, maxiter=maxiter, callback=callback, **kwargs)
    return x, info, count[0]


def rel_residual(a, x, b) -> float:
    """||b - A x|| / ||b|| in float64."""
    b64 = b.ravel().astype(np.float64)
    return float(np.linalg.norm(b64 - a @ x.ravel().astype(np.float64)) / np.linalg.norm(b64))


RTOL = 1e-5
CASES = [(16, 4, 5), (20, 3, 6), (7, 5, 4)]  # nz > 16 (two halo chunks), non-square blocks, nz not 2^k


@pytest.mark.parametrize("shape, single", [(CASES[0], False), (CASES[1], False), (CASES[2], False), (CASES[0], True)])
def test_cg_matches_scipy(shape, single):
    rng = np.random.default_rng(sum(shape))
    b = rng.standard_normal(shape).astype(np.float32)
    sol = conjugate_gradient(b, rtol=RTOL, single_reduction=single)
    a = laplacian(shape)
    x_ref, info, iterations = scipy_solve(spla.cg, a, b, RTOL)
    assert info == 0 and sol.converged and sol.info == 0
    assert abs(sol.iterations - iterations) <= 2
    assert sol.x.shape == shape and sol.x.dtype == np.float32
    assert rel_residual(a, sol.x, b) < 3 * RTOL  # the true residual: float32 recurrences drift a little
    assert np.linalg.norm(sol.x.ravel() - x_ref) / np.linalg.norm(x_ref) < 10 * RTOL
    assert sol.residual_norm < RTOL * np.linalg.norm(b)  # the recurrence residual the test stopped on
    assert sol.stats.block == (shape[2], shape[1]) and sol.stats.flops > 0


@pytest.mark.parametrize("single", [False, True])
def test_jacobi_preconditioned_cg_matches_scipy_and_pays_off_with_a_varying_shift(single):
    shape = (12, 4, 4)
    rng = np.random.default_rng(3)
    b = rng.standard_normal(shape).astype(np.float32)
    shift = rng.random(shape) ** 4 * 200  # a diagonal ranging over two orders of magnitude
    a = laplacian(shape, shift)
    pcg = conjugate_gradient(b, shift=shift, rtol=RTOL, preconditioner="jacobi", single_reduction=single)
    plain = conjugate_gradient(b, shift=shift, rtol=RTOL)
    x_ref, info, iterations = scipy_solve(spla.cg, a, b, RTOL, m=sp.diags(1.0 / a.diagonal()))
    _, _, plain_iterations = scipy_solve(spla.cg, a, b, RTOL)
    assert info == 0 and pcg.converged and plain.converged
    assert abs(pcg.iterations - iterations) <= 2 and abs(plain.iterations - plain_iterations) <= 2
    assert pcg.iterations < plain.iterations
    assert rel_residual(a, pcg.x, b) < 3 * RTOL
    assert np.linalg.norm(pcg.x.ravel() - x_ref) / np.linalg.norm(x_ref) < 10 * RTOL


@pytest.mark.parametrize("shape, scale", [((16, 4, 5), 0.0), ((9, 3, 4), 5.0)])
def test_bicgstab_matches_scipy(shape, scale):
    rng = np.random.default_rng(7 + sum(shape))
    b = rng.standard_normal(shape).astype(np.float32)
    shift = rng.random(shape) * scale
    a = laplacian(shape, shift)
    sol = bicgstab(b, shift=shift, rtol=RTOL)
    x_ref, info, iterations = scipy_solve(spla.bicgstab, a, b, RTOL)
    assert info == 0 and sol.info == 0 and sol.converged
    assert abs(sol.iterations - iterations) <= 2
    assert rel_residual(a, sol.x, b) < 3 * RTOL
    assert np.linalg.norm(sol.x.ravel() - x_ref) / np.linalg.norm(x_ref) < 10 * RTOL


@pytest.mark.parametrize("solver, method", [(conjugate_gradient, spla.cg), (bicgstab, spla.bicgstab)])
def test_iteration_limit_reports_as_scipy(solver, method):
    shape = (6, 3, 4)  # (the shape of the scaled-b test below: its BiCGSTAB kernel compiled once, ~5 s)
    b = np.random.default_rng(11).standard_normal(shape).astype(np.float32)
    sol = solver(b, rtol=1e-6, maxiter=3)
    _, info, iterations = scipy_solve(method, laplacian(shape), b, 1e-6, maxiter=3)
    assert (sol.info, sol.iterations, sol.converged) == (info, iterations, False) == (3, 3, False)
    assert sol.residual_norm > 1e-6 * np.linalg.norm(b)


def test_solvers_are_deterministic_and_zero_rhs_gives_zero():
    b = np.random.default_rng(5).standard_normal((6, 3, 3)).astype(np.float32)
    first, second = conjugate_gradient(b), conjugate_gradient(b)
    assert np.array_equal(first.x, second.x) and first.stats.cycles == second.stats.cycles
    zero = bicgstab(np.zeros((4, 2, 2), np.float32))
    assert zero.converged and zero.iterations == 0 and not zero.x.any()


def test_solver_runs_on_a_larger_device():
    b = np.random.default_rng(6).standard_normal((5, 3, 4)).astype(np.float32)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    sol = conjugate_gradient(b, device=dev)
    assert sol.stats.spec.width == 8 and rel_residual(laplacian(b.shape), sol.x, b) < 3 * RTOL


def test_power_method_finds_the_largest_eigenvalue():
    shape = (6, 5, 4)
    pair = power_method(shape, tol=1e-7, maxiter=400)
    # Analytic: the 1-D eigenvalues 2 - 2 cos(pi k / (n + 1)) add over the three axes.
    analytic = sum(2 - 2 * np.cos(np.pi * n / (n + 1)) for n in shape)
    dense = np.linalg.eigvalsh(laplacian(shape).toarray())[-1]
    assert dense == pytest.approx(analytic, rel=1e-12)
    assert pair.converged and pair.value == pytest.approx(analytic, rel=1e-5)
    v = pair.vector.ravel().astype(np.float64)
    assert np.linalg.norm(v) == pytest.approx(1.0, rel=1e-5)
    assert np.linalg.norm(laplacian(shape) @ v - analytic * v) < 2e-2  # eigenvector converges as sqrt


def test_power_method_with_a_shift_against_numpy():
    shape = (5, 3, 4)
    rng = np.random.default_rng(2)
    shift = rng.random(shape) * 4
    x0 = rng.standard_normal(shape).astype(np.float32)
    pair = power_method(x0, shift=shift, tol=0.0, maxiter=60)  # tol 0: exactly maxiter iterations
    assert pair.iterations == 60
    a = laplacian(shape, shift).toarray()
    x = x0.ravel().astype(np.float64) / np.linalg.norm(x0)
    for _ in range(60):  # the same iteration in float64
        y = a @ x
        value, x = x @ y, y / np.linalg.norm(y)
    assert pair.value == pytest.approx(value, rel=1e-5)
    assert pair.value <= np.linalg.eigvalsh(a)[-1] * (1 + 1e-6)  # a Rayleigh quotient never overshoots


@pytest.mark.parametrize("call, match", [
    (lambda: conjugate_gradient(np.ones((4, 4), np.float32)), r"3-D \(nz, ny, nx\)"),
    (lambda: conjugate_gradient(np.ones((4, 2, 2)), shift=-2.4), r"shift must be finite and > -2\.38"),
    (lambda: conjugate_gradient(np.ones((4, 2, 2)), shift=np.ones((3, 2, 2))), r"shape of b \(4, 2, 2\)"),
    (lambda: conjugate_gradient(np.ones((4, 2, 2)), rtol=-1e-3), "rtol must be"),
    (lambda: conjugate_gradient(np.ones((4, 2, 2)), preconditioner="ilu"), "preconditioner"),
    (lambda: bicgstab(np.ones((4, 2, 2)), maxiter=-1), "maxiter"),
    (lambda: bicgstab(np.full((4, 2, 2), np.nan)), "not finite"),
    (lambda: power_method(np.zeros((4, 2, 2))), "all zero"),
    # A shift whose diagonal 6 + shift is beyond float32 made A's diagonal inf: x = 0 or NaN, without an error.
    (lambda: conjugate_gradient(np.ones((4, 2, 2)), shift=1e39), "beyond float32's range"),
    (lambda: bicgstab(np.ones((4, 2, 2)), shift=np.full((4, 2, 2), 1e39)), "beyond float32's range"),
    (lambda: power_method((4, 2, 2), shift=1e39), "beyond float32's range"),
    (lambda: conjugate_gradient(np.ones((4, 9, 9)), device=ws.Device(ws.WaferSpec(width=8, height=8))),
     "9 x 9 PEs, the wafer has 8 x 8"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ws.ArgumentError, match=match):
        call()


def test_columns_too_long_for_sram_name_the_size_and_the_limit():
    with pytest.raises(ColumnTooLongError, match=r"Z columns of 2000 values .* a PE has 49,152") as info:
        conjugate_gradient(np.ones((2000, 2, 2), np.float32))
    assert isinstance(info.value, ws.OutOfMemoryError)
    assert info.value.fields["needed"] > info.value.fields["available"] == 49152


@pytest.mark.parametrize("scale", [2.0 ** -70, 1e-25, 1e-9, 1e20, 2.0 ** 90])
@pytest.mark.parametrize("solver", ["cg", "cg_single", "bicgstab"])
def test_a_right_hand_side_far_from_norm_1_is_solved_as_a_scaled_one(scale, solver):
    # The dot products square b in float32: a norm below ~1e-19 or above ~1e19 gave NaN iterates (and
    # BiCGSTAB stopped at once below ~1e-7, reporting a residual of 0). A x = b is linear: the host solves
    # b times a power of two and scales x back, so the answer is the one at norm ~1, scaled.
    run = {"cg": conjugate_gradient, "bicgstab": bicgstab,
           "cg_single": lambda b, **kw: conjugate_gradient(b, single_reduction=True, **kw)}[solver]
    b = np.random.default_rng(7).standard_normal((6, 3, 4)).astype(np.float32)
    unit = run(b, rtol=1e-5)
    sol = run((b.astype(np.float64) * scale).astype(np.float32), rtol=1e-5)
    assert sol.converged and sol.info == 0 and sol.iterations == unit.iterations
    bs = b.astype(np.float64) * scale
    residual = bs.ravel() - laplacian(b.shape) @ sol.x.astype(np.float64).ravel()   # SciPy's matrix
    assert np.linalg.norm(residual) <= 3e-5 * np.linalg.norm(bs)
    np.testing.assert_allclose(sol.x / scale, unit.x, rtol=1e-4, atol=1e-5 * np.abs(unit.x).max())
    assert sol.residual_norm == pytest.approx(unit.residual_norm * scale, rel=1e-2)
    assert sol.residual_norm < 1e-5 * np.linalg.norm(bs)


@pytest.mark.parametrize("solver", ["cg", "bicgstab"])
def test_a_right_hand_side_of_subnormal_norm_is_solved(solver):
    # ||b|| below ~2**-127.5 needs a scale beyond float32's range: np.float32(2**133) was inf, b became NaN
    # and so did x (converged False). The answer is the float64 solve of the same system.
    run = {"cg": conjugate_gradient, "bicgstab": bicgstab}[solver]
    b = np.zeros((4, 2, 2), np.float32)
    b[1, 1, 1], b[2, 0, 1] = np.float32(1e-40), np.float32(-3e-41)
    sol = run(b, rtol=1e-5)
    exact = np.linalg.solve(laplacian(b.shape).toarray(), b.astype(np.float64).ravel())
    assert sol.info == 0 and np.all(np.isfinite(sol.x))
    np.testing.assert_allclose(sol.x.astype(np.float64).ravel(), exact, rtol=1e-3, atol=1e-4 * np.abs(exact).max())
    assert 0.0 <= sol.residual_norm < 1e-5 * np.linalg.norm(b.astype(np.float64))
    # x is subnormal in float32 (a few digits): its true residual cannot meet rtol 1e-5, so SciPy's test
    # passed (info 0) but x did not converge, and says so.
    true = np.linalg.norm(b.astype(np.float64).ravel() - laplacian(b.shape) @ sol.x.astype(np.float64).ravel())
    assert sol.true_residual_norm == pytest.approx(true, rel=1e-9)
    assert sol.converged == (true <= 1e-5 * np.linalg.norm(b.astype(np.float64))) == False  # noqa: E712


def test_a_power_of_two_scale_changes_nothing_but_the_scale():
    # Scaling by a power of two is exact: b * 2**-20 (norm below 2**-16, solved as b) takes the same
    # iterations as b and gives x * 2**-20 bit for bit (BiCGSTAB's absolute breakdown test had stopped
    # it early).
    b = np.random.default_rng(8).standard_normal((6, 3, 4)).astype(np.float32)  # (||b|| * 2**-20 ~ 2**-17)
    unit, small = bicgstab(b), bicgstab(b * np.float32(2.0 ** -20))
    assert small.iterations == unit.iterations and small.info == unit.info == 0
    np.testing.assert_array_equal(small.x, unit.x * np.float32(2.0 ** -20))


@pytest.mark.parametrize("scale", [1e-45, 1e-30, 1e30])
def test_the_power_method_takes_a_start_vector_of_any_norm(scale):
    # Only x0's direction matters, but the kernel normalised it in float32: a norm past ~1e19 overflowed
    # (x became 0: value 0.0 and converged=True, a silent wrong answer), one below ~1e-19 gave NaN.
    x0 = np.random.default_rng(3).uniform(-1, 1, (3, 3, 3))
    if scale == 1e-45:
        x0 = np.zeros((3, 3, 3))
        x0[1, 1, 1] = 1e-45                                      # a float32 subnormal, the smallest
    unit = power_method((x0 / np.linalg.norm(x0)).astype(np.float32), tol=1e-7, maxiter=500)
    pair = power_method((x0 * (1.0 if scale == 1e-45 else scale)).astype(np.float32), tol=1e-7, maxiter=500)
    exact = np.linalg.eigvalsh(laplacian((3, 3, 3)).toarray())[-1]
    assert pair.converged and pair.value == pytest.approx(exact, rel=1e-5)
    assert pair.value == pytest.approx(unit.value, rel=1e-6)
    assert pair.iterations == pytest.approx(unit.iterations, abs=2)


def test_the_power_methods_seed_is_checked():
    with pytest.raises(ws.ArgumentError, match="seed"):                  # was NumPy's bare ValueError
        power_method((2, 2, 2), seed=-1)
    with pytest.raises(ws.ArgumentTypeError, match="seed"):              # was a TypeError
        power_method((2, 2, 2), seed=1.5)


def test_a_power_method_tol_below_float32_rounding_reports_no_convergence_as_the_docs_say():
    # docs/solvers.md: on a (1, 1, 1) grid with shift 0.881838 the Rayleigh quotient alternates between two
    # float32 values 2 ulps apart, so tol 1e-7 is never met (converged False, maxiter iterations), tol 1e-6 is
    exact = 6.0 + 0.881838  # the only eigenvalue of the 1 x 1 operator
    ulps = 4 * float(np.finfo(np.float32).eps)
    stalled = power_method((1, 1, 1), shift=0.881838, tol=1e-7, maxiter=20)
    assert not stalled.converged and stalled.iterations == 20
    assert stalled.value == pytest.approx(exact, rel=ulps)
    met = power_method((1, 1, 1), shift=0.881838, tol=1e-6, maxiter=20)
    assert met.converged and met.iterations == 2 and met.value == pytest.approx(exact, rel=ulps)


def solve_on_both(solver: str, shape: tuple[int, int, int], seed: int, devices):
    """`solver` on a random system of `shape` on each device, checked against SciPy's iterations and solution;
    returns the solutions."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(shape).astype(np.float32)
    shift = rng.random(shape) * 4
    a = laplacian(shape, shift)
    if solver == "bicgstab":
        method, m = spla.bicgstab, None
        sols = [bicgstab(b, shift=shift, rtol=RTOL, device=d) for d in devices]
    else:
        method, m = spla.cg, (sp.diags(1.0 / a.diagonal()) if solver == "jacobi" else None)
        sols = [conjugate_gradient(b, shift=shift, rtol=RTOL, device=d, single_reduction=solver == "cg_single",
                                   preconditioner="jacobi" if solver == "jacobi" else None) for d in devices]
    x_ref, info, iterations = scipy_solve(method, a, b, RTOL, m=m)
    for sol in sols:
        assert info == 0 and sol.converged and abs(sol.iterations - iterations) <= 2
        assert rel_residual(a, sol.x, b) < 3 * RTOL
        assert np.linalg.norm(sol.x.ravel() - x_ref) / np.linalg.norm(x_ref) < 10 * RTOL
    return sols


@pytest.mark.parametrize("solver", ["cg", "cg_single", "jacobi", "bicgstab"])
def test_solvers_on_a_wafer_with_the_trees_channels_match_scipy_in_fewer_cycles(solver):
    # wse2 has 24 channels: a 24 x 24 block's tree sums (4 rounds) take 17 and the halo one more, and the tree is
    # the cheaper there (`reduction_rounds`); the 4-channel wafer of the same figures keeps the chains. Edge PEs
    # reach each sum first.
    tree = ws.Device(ws.WaferSpec.preset("wse2", width=24, height=24))
    chains = ws.Device(tree.spec.replace(channels=4))
    sols = solve_on_both(solver, (6, 24, 24), 11, (tree, chains))
    per_iteration = [sol.stats.cycles / sol.iterations for sol in sols]
    assert per_iteration[0] < per_iteration[1]


@pytest.mark.parametrize("solver", ["cg", "cg_single", "jacobi", "bicgstab"])
def test_solvers_where_the_chains_are_cheaper_keep_them_on_a_wafer_with_the_trees_channels(solver):
    # On wse2 an 8 x 8 block's chains are cheaper than its tree (`reduction_rounds` 0 though the 24 channels
    # would take it): the launch is the 4-channel wafer's, bit for bit and cycle for cycle, and matches SciPy.
    wide = ws.Device(ws.WaferSpec.preset("wse2", width=8, height=8))
    narrow = ws.Device(wide.spec.replace(channels=4))
    sol, other = solve_on_both(solver, (6, 8, 8), 12, (wide, narrow))
    assert np.array_equal(sol.x, other.x) and sol.iterations == other.iterations
    assert sol.stats.cycles == other.stats.cycles


def test_the_power_method_on_a_wafer_with_the_trees_channels_against_numpy():
    shape = (4, 12, 9)
    x0 = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=9, height=12))
    pair = power_method(x0, tol=0.0, maxiter=40, device=dev)
    a = laplacian(shape).toarray()
    x = x0.ravel().astype(np.float64) / np.linalg.norm(x0)
    for _ in range(40):  # the same iteration in float64
        y = a @ x
        value, x = x @ y, y / np.linalg.norm(y)
    assert pair.iterations == 40 and pair.value == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("shape", [(1, 1, 2), (1, 4, 4), (2, 3, 4)])
def test_a_start_vector_orthogonal_to_the_dominant_eigenvector_is_refused(shape):
    # On a grid with an axis of even length the dominant eigenvector is antisymmetric along it, so np.ones
    # (symmetric) is orthogonal to it: power_method(np.ones((1, 4, 4))) gave 7.236, converged=True, where the
    # largest eigenvalue is 9.236 (and 5 for 7 on (1, 1, 2)).
    exact = np.linalg.eigvalsh(laplacian(shape).toarray())[-1]
    with pytest.raises(ws.ArgumentError, match=r"x0 has no component along the dominant eigenvector of A \(cosine "):
        power_method(np.ones(shape, np.float32), tol=1e-7, maxiter=2000)
    with pytest.raises(ws.ArgumentError, match="dominant eigenvector"):  # (a uniform grid shift is a number)
        power_method(np.ones(shape, np.float32), shift=np.full(shape, 0.5), maxiter=50)
    pair = power_method(shape, tol=1e-7, maxiter=2000)  # (a random start, as the docs advise)
    assert pair.converged and pair.value == pytest.approx(exact, rel=1e-5)


def test_np_ones_on_odd_axes_reaches_the_largest_eigenvalue():
    # Along an axis of odd length the dominant eigenvector is symmetric: np.ones has a component along it.
    pair = power_method(np.ones((3, 1, 3), np.float32), tol=1e-7, maxiter=2000)
    assert pair.converged and pair.value == pytest.approx(np.linalg.eigvalsh(laplacian((3, 1, 3)).toarray())[-1],
                                                          rel=1e-5)


@pytest.mark.parametrize("shift", [0.0, np.full((2, 3, 4), 0.5)])
def test_the_start_vector_check_takes_the_grids_axes_in_order(shift):
    # On a (2, 3, 4) grid (each axis of another length), x0 a mix of all of A's eigenvectors but the dominant one
    # (NumPy's eigh of the matrix, not the closed form the check uses) is orthogonal to it: refused; with some of
    # the dominant eigenvector added it converges to the largest eigenvalue. (A check that built the dominant
    # eigenvector over the axes reversed, (4, 3, 2), took np.ones alike: a sum does not see the order.)
    shape = (2, 3, 4)
    values, vectors = np.linalg.eigh(laplacian(shape, shift).toarray())
    assert values[-1] - values[-2] > 0.5  # (the two largest apart: the dominant eigenvector is no mix)
    top = vectors[:, -1].reshape(shape)
    others = (vectors[:, :-1] @ np.random.default_rng(3).uniform(0.5, 1.0, len(values) - 1)).reshape(shape)
    with pytest.raises(ws.ArgumentError, match="no component along the dominant eigenvector"):
        power_method(others.astype(np.float32), shift=shift, maxiter=50)
    pair = power_method((others + 0.5 * top).astype(np.float32), shift=shift, tol=1e-7, maxiter=2000)
    assert pair.converged and pair.value == pytest.approx(values[-1], rel=1e-5)
    assert abs(float(np.vdot(pair.vector.ravel(), top.ravel()))) == pytest.approx(1.0, abs=1e-3)
