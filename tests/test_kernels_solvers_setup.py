"""The host-side checks the solvers share (`kernels.solvers.setup`): which shifts are accepted (any that
keeps A positive definite, so a grid of one Z layer solves the 2-D 5-point Poisson problem), and what
`converged` means (the returned x meets the tolerance, not only float32's recurrence residual), against
SciPy and NumPy on matrices built here."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import wafersim as ws
from wafersim.kernels.solvers import bicgstab, conjugate_gradient, power_method


def second_difference(n: int) -> sp.dia_matrix:
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])


def poisson_2d(ny: int, nx: int) -> sp.csr_matrix:
    """The 5-point Laplacian (Dirichlet) of a C-ordered (ny, nx) grid, unscaled: 4 u - (4 neighbours)."""
    return (sp.kron(sp.identity(ny), second_difference(nx)) + sp.kron(second_difference(ny), sp.identity(nx))).tocsr()


def poisson_rhs(ny: int, nx: int, h: float = 0.1) -> np.ndarray:
    """h^2 f (f = 1) plus the Dirichlet data g(x, y) = 1 + x y + x^2 - y^2 on the four sides, for -lap u = f
    on the rectangle of (nx + 1) h x (ny + 1) h: the right-hand side of the unscaled 5-point system."""
    xs, ys = (np.arange(nx) + 1) * h, (np.arange(ny) + 1) * h
    xe, ye = (nx + 1) * h, (ny + 1) * h

    def g(x, y):
        return 1 + x * y + x * x - y * y

    rhs = np.full((ny, nx), h * h)
    rhs[:, 0] += g(0.0, ys)
    rhs[:, -1] += g(xe, ys)
    rhs[0, :] += g(xs, 0.0)
    rhs[-1, :] += g(xs, ye)
    return rhs


@pytest.mark.parametrize("solver, kwargs", [
    (conjugate_gradient, {}), (conjugate_gradient, {"single_reduction": True}),
    (conjugate_gradient, {"preconditioner": "jacobi"}), (bicgstab, {}),
])
def test_a_2d_poisson_problem_is_one_z_layer_with_shift_minus_two(solver, kwargs):
    # A grid of one Z layer has its Z neighbours on the boundary: A = 5-point Laplacian + 2 + shift. shift
    # -2 keeps A positive definite, yet it was refused ("shift must be >= 0"): no way to solve 2-D Poisson.
    ny, nx = 7, 11  # odd sizes, a non-square block
    rhs = poisson_rhs(ny, nx)
    exact = spla.spsolve(poisson_2d(ny, nx).tocsc(), rhs.ravel()).reshape(ny, nx)
    sol = solver(rhs[None].astype(np.float32), shift=-2.0, rtol=1e-5, **kwargs)
    assert sol.converged and sol.info == 0
    # rtol 1e-5 on the residual, times cond(A) ~ 50 for the error, plus float32's rounding of x
    np.testing.assert_allclose(sol.x[0], exact, rtol=0, atol=1e-3 * np.abs(exact).max())
    assert sol.true_residual_norm <= 1e-5 * np.linalg.norm(rhs)


def test_a_negative_shift_keeping_a_positive_definite_is_solved_and_its_eigenvalue_found():
    shape = (3, 4, 5)
    lowest = sum(2 - 2 * np.cos(np.pi / (n + 1)) for n in shape)  # the 3-D Laplacian's smallest eigenvalue
    shift = -0.9 * lowest * np.random.default_rng(4).random(shape)
    n = int(np.prod(shape))
    a = np.zeros((n, n))
    for i in range(n):  # A's columns, from its definition: (6 + shift) u - the six face neighbours
        e = np.zeros(shape)
        e.flat[i] = 1.0
        p = np.pad(e, 1)
        a[:, i] = ((6 + shift) * e - (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1] + p[1:-1, :-2, 1:-1]
                                     + p[1:-1, 2:, 1:-1] + p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:])).ravel()
    eigenvalues = np.linalg.eigvalsh(a)
    assert eigenvalues[0] > 0  # still positive definite
    b = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    sol = conjugate_gradient(b, shift=shift, rtol=1e-5)
    assert sol.converged
    exact = np.linalg.solve(a, b.astype(np.float64).ravel())
    np.testing.assert_allclose(sol.x.ravel(), exact, atol=1e-4 * np.abs(exact).max() * eigenvalues[-1] / eigenvalues[0])
    pair = power_method(shape, shift=shift, tol=1e-6, maxiter=2000)
    assert pair.value == pytest.approx(eigenvalues[-1], rel=1e-4)


@pytest.mark.parametrize("shape, factor", [((1, 5, 5), 1.0), ((1, 1, 1), 1.0), ((4, 2, 2), 1.01)])
def test_a_shift_making_a_singular_or_indefinite_is_refused(shape, factor):
    lowest = sum(2 - 2 * np.cos(np.pi / (n + 1)) for n in shape)  # (1, 1, 1): 6, A = 0 at shift -6
    shift = -lowest * factor
    with pytest.raises(ws.ArgumentError, match=f"> -{lowest:.6g}"):
        conjugate_gradient(np.ones(shape, np.float32), shift=shift)
    with pytest.raises(ws.ArgumentError, match="positive definite"):
        power_method(shape, shift=np.full(shape, shift))


@pytest.mark.parametrize("solver", [conjugate_gradient, bicgstab])
def test_a_tolerance_below_float32_rounding_does_not_report_convergence(solver):
    # The recurrence residual falls to 1e-11 ||b|| while the true residual of the float32 x stays near
    # 1e-7 ||b||: rtol 1e-10 used to end converged=True with residual_norm 1e-9 ||b||, a silent wrong answer.
    shape = (5, 7, 11)
    b = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    bnorm = np.linalg.norm(b.astype(np.float64))
    a = poisson_2d(7, 11)  # the 3-D operator built independently: Z second differences plus the 2-D one per layer
    a3 = (sp.kron(second_difference(5), sp.identity(77)) + sp.kron(sp.identity(5), a)).tocsr()

    def true_residual(x):
        return np.linalg.norm(b.astype(np.float64).ravel() - a3 @ x.astype(np.float64).ravel())

    loose = solver(b, rtol=1e-5)
    assert loose.converged and loose.info == 0
    assert loose.true_residual_norm == pytest.approx(true_residual(loose.x), rel=1e-9)
    assert loose.true_residual_norm <= 1e-5 * bnorm
    tight = solver(b, rtol=1e-10)
    assert tight.info == 0 and tight.residual_norm < 1e-10 * bnorm  # SciPy's test, on the recurrence, passed
    assert tight.true_residual_norm == pytest.approx(true_residual(tight.x), rel=1e-9)
    assert tight.true_residual_norm > 1e-10 * bnorm and not tight.converged


@pytest.mark.parametrize("call, error, match", [
    # each was a bare Python error from inside the library (AttributeError on "wse2".spec, TypeError of
    # math.isfinite), or named the wrong slip (a shape given as a list read as a 1-D start vector)
    (lambda: conjugate_gradient(np.ones((2, 2, 2), np.float32), device="wse2"), ws.ArgumentTypeError,
     "device must be a wafersim Device"),
    (lambda: power_method((2, 2, 2), device="wse2"), ws.ArgumentTypeError, "device must be a wafersim Device"),
    (lambda: power_method((2, 2, 2), tol="1e-6"), ws.ArgumentError, "tol must be a finite number"),
    (lambda: power_method([2, 3, 4]), ws.ArgumentTypeError, r"as a tuple \(2, 3, 4\)"),
    (lambda: conjugate_gradient(np.ones((2, 2, 2), np.float32), rtol=True), ws.ArgumentError, "rtol must be"),
    # (user54) SciPy's keywords, and any call that does not fit, were Python's bare TypeError
    (lambda: conjugate_gradient(np.ones((2, 2, 2), np.float32), tol=1e-6), ws.ArgumentTypeError,
     "unexpected keyword argument 'tol': write rtol="),
    (lambda: conjugate_gradient(np.ones((2, 2, 2), np.float32), M=None), ws.ArgumentTypeError,
     "'M': write preconditioner=\"jacobi\""),
    (lambda: bicgstab(np.ones((2, 2, 2), np.float32), M=None), ws.ArgumentTypeError,
     "'M': bicgstab runs without a preconditioner"),
    (lambda: bicgstab(np.ones((2, 2, 2), np.float32), x0=None), ws.ArgumentTypeError, "start from x = 0"),
    (lambda: power_method((2, 2, 2), tolerance=1e-3), ws.ArgumentTypeError, "unexpected keyword argument 'tolerance'"),
    (lambda: conjugate_gradient(), ws.ArgumentTypeError, "missing 1 required positional argument: 'b'"),
])
def test_bad_arguments_are_wafer_errors_saying_what_to_pass(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_shape_as_a_tuple_and_a_start_vector_as_an_array_still_work():
    pair = power_method((2, 3, 4), tol=1e-6)
    exact = sum(2 - 2 * np.cos(np.pi * n / (n + 1)) for n in (2, 3, 4))
    assert pair.converged and pair.value == pytest.approx(exact, rel=1e-4)
    start = np.random.default_rng(1).standard_normal((2, 3, 4)).tolist()  # a nested list: a start vector
    assert power_method(start, tol=1e-6).value == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("solver", [conjugate_gradient, bicgstab])
def test_the_true_residual_counts_a_shift_that_varies_over_the_grid(solver):
    # ||b - A x|| with A = 3-D Laplacian + diag(shift), shift a grid (some of it negative, A still positive
    # definite), against the sparse matrix built here; converged agrees with it.
    shape = (3, 4, 5)
    rng = np.random.default_rng(11)
    b = rng.standard_normal(shape).astype(np.float32)
    shift = rng.uniform(-0.5, 2.0, shape)
    a3 = (sp.kron(second_difference(3), sp.identity(20)) + sp.kron(sp.identity(3), poisson_2d(4, 5))
          + sp.diags(shift.ravel())).tocsr()
    sol = solver(b, shift=shift, rtol=1e-5)
    true = np.linalg.norm(b.astype(np.float64).ravel() - a3 @ sol.x.astype(np.float64).ravel())
    assert sol.true_residual_norm == pytest.approx(true, rel=1e-9)
    assert sol.converged == (sol.info == 0 and true <= 1e-5 * np.linalg.norm(b.astype(np.float64))) == True  # noqa: E712
