"""Host-side preparation the solver host functions share: checking the grid, the operator's diagonal and
the tolerances, and choosing the device."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...arch.values import is_finite_real
from ...errors import ArgumentError, ArgumentTypeError
from ...runtime.device import Device
from ..hosting import device_argument, fitting_device
from .columns import Solution, check_grid
from .reference import apply_laplacian, laplacian_diagonal, smallest_laplacian_eigenvalue


#: SciPy's keywords the solvers do not take, and what to write instead (user54: `tol=`, SciPy's name before
#: 1.12, was Python's bare TypeError).
SCIPY_KEYWORD_HINTS = {
    "tol": "write rtol= (SciPy 1.12 renamed tol to rtol; atol= is the absolute tolerance)",
    "M": "write preconditioner=\"jacobi\" (a preconditioner is named, not given as a matrix)",
    "x0": "the solvers start from x = 0",
}


@dataclasses.dataclass
class Problem:
    """A checked right-hand side (or start vector) `b`, the operator's diagonal and the device to run on."""

    b: np.ndarray
    diag: np.ndarray
    device: Device
    #: The shift as the user gave it, in float64 (a number, or a grid): A for the true residual, made again
    #: when it is needed rather than kept as a float64 grid for the whole solve.
    shift: np.ndarray | float = 0.0

    def true_residual_norm(self, x: np.ndarray) -> float:
        """||b - A x|| in float64 on the host, for the float32 x a kernel returned."""
        return float(np.linalg.norm(self.b.astype(np.float64) - apply_laplacian(x, self.shift)))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.b.shape

    @property
    def block(self) -> tuple[int, int]:
        """The (nx, ny) block of PEs the grid occupies."""
        return self.b.shape[2], self.b.shape[1]


def default_device(shape: tuple[int, ...], device: Device | None) -> Device | None:
    """`device`, or for a non-empty (nz, ny, nx) shape an nx x ny wafer, just large enough (else None:
    `check_grid` then reports the bad shape)."""
    if device is None and len(shape) == 3 and 0 not in shape:
        return fitting_device(shape[2], shape[1])
    return device


def grid_on(u: np.ndarray, name: str, vectors: int, device: Device | None) -> tuple[np.ndarray, Device]:
    """(`u` checked by `check_grid`, the device to run it on: `device` or the default of `default_device`)."""
    device = default_device(np.shape(u), device_argument(device))  # (a str was an AttributeError on .spec)
    u = check_grid(u, name, vectors, device.spec if device is not None else fitting_device(1, 1).spec)
    return u, device


def prepare(b: np.ndarray, shift: np.ndarray | float, vectors: int, device: Device | None,
            name: str = "b") -> Problem:
    """Check `b` (an (nz, ny, nx) grid) and `shift` (a scalar or a grid of that shape, above minus the
    Laplacian's smallest eigenvalue so that the operator stays positive definite) for a kernel keeping
    `vectors` padded columns per PE; the default device is an nx x ny wafer, just large enough."""
    b, device = grid_on(b, name, vectors, device)
    try:
        shift_arr = np.asarray(shift, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"shift must be a number or a grid of the shape of {name} {b.shape}, got "
                                f"{shift!r}") from None
    if shift_arr.ndim not in (0, 3) or (shift_arr.ndim == 3 and shift_arr.shape != b.shape):
        raise ArgumentError(f"shift must be a number or a grid of the shape of {name} {b.shape}, got shape "
                            f"{shift_arr.shape}", shape=shift_arr.shape, expected=b.shape)
    # A = L + diag(shift) >= L + min(shift) I: positive definite while min(shift) > -(L's smallest
    # eigenvalue), which is 2 or more on a grid of one Z layer (shift -2: the 2-D 5-point Poisson operator).
    lowest = smallest_laplacian_eigenvalue(b.shape)
    if not np.all(np.isfinite(shift_arr)) or np.any(shift_arr <= -lowest):
        raise ArgumentError(f"shift must be finite and > -{lowest:.6g} (minus the smallest eigenvalue of the "
                            f"Laplacian on a {b.shape} grid, so that A stays positive definite), got a minimum "
                            f"of {float(shift_arr.min())}")
    if not np.all(np.isfinite(b)):
        raise ArgumentError(f"{name} holds {int(np.sum(~np.isfinite(b)))} values that are not finite")
    diagonal = laplacian_diagonal(b.shape, shift_arr)
    if np.any(diagonal > np.finfo(np.float32).max):  # (float32 would make A's diagonal inf: x would be 0 or NaN)
        raise ArgumentError(f"shift holds {float(shift_arr.max())!r}: A's diagonal, 6 + shift, would be beyond "
                            f"float32's range (about 3.4e38) and become inf; scale the problem down")
    return Problem(b, diagonal.astype(np.float32), device, shift_arr)


#: ||b|| outside [2**-16, 2**16] is scaled into it by a power of two (`Scaled`); inside, nothing changes.
SAFE_NORM_EXPONENT = 16


def unit_scale(norm: float) -> float:
    """The power of two that brings a positive `norm` to within a factor of sqrt(2) of 1."""
    return 2.0 ** -round(math.log2(norm))


def scaled(values: np.ndarray, scale: float) -> np.ndarray:
    """float32 `values` times the power of two `scale`: exact, and computed in float64, since the scale may be
    beyond float32's range (2**149 for a subnormal norm; np.float32(scale) would be inf and the values NaN)."""
    return (values.astype(np.float64) * scale).astype(np.float32)


@dataclasses.dataclass
class Scaled:
    """A right-hand side as the kernels solve it: `b` times `scale`, a power of two that brings a norm far
    from 1 to about 1, with `atol2` the squared stopping tolerance scaled alike (float32, capped at its
    largest finite value, which stops as an infinite tolerance would).

    The kernels' dot products square the vectors in float32, so a norm below about 1e-19 or above 1e19
    underflowed to 0 or overflowed to inf (NaN iterates; BiCGSTAB's absolute breakdown test, r~ . r <
    eps^2 as SciPy's, refused every ||b|| below about 1e-7 at once, reporting a residual of 0). A x = b is
    linear and a power of two scales float32 values exactly: the iterates are those of the unscaled
    problem times `scale` wherever that one stays in range, so `unscale` gives its x and residual."""

    b: np.ndarray
    bnorm: float
    atol2: np.float32
    scale: float
    tolerance: float = 0.0  # max(atol, rtol ||b||), unscaled: what the returned x's true residual must meet

    def unscale(self, x: np.ndarray, rr: float) -> tuple[np.ndarray, float]:
        """(x, ||r||) of the unscaled problem from the kernel's x and squared residual norm."""
        if self.scale == 1.0:
            return x, math.sqrt(rr)
        return scaled(x, 1.0 / self.scale), math.sqrt(rr) / self.scale


def check_tolerance(value: object, name: str) -> float:
    """A tolerance argument: a finite real number >= 0 (not a bool, a string or None), as a float."""
    if not (is_finite_real(value) and value >= 0):
        raise ArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def scaled_system(b: np.ndarray, rtol: float, atol: float) -> Scaled:
    """`b` and SciPy's stopping tolerance max(atol, rtol ||b||) (its rule ``||r|| < atol``), the tolerances
    checked, scaled into float32's comfortable range where ||b|| is far from 1 (`Scaled`)."""
    for name, value in (("rtol", rtol), ("atol", atol)):
        check_tolerance(value, name)
    bnorm = float(np.linalg.norm(b.astype(np.float64)))
    scale = unit_scale(bnorm) if bnorm > 0.0 and abs(math.log2(bnorm)) > SAFE_NORM_EXPONENT else 1.0
    tolerance = max(float(atol), float(rtol) * bnorm)
    kernel_tolerance = tolerance * scale  # (the scaled problem's, which the kernel tests squared)
    atol2 = np.float32(min(kernel_tolerance * kernel_tolerance, float(np.finfo(np.float32).max)))
    return Scaled(scaled(b, scale) if scale != 1.0 else b, bnorm, atol2, scale, tolerance)


def iteration_limit(n: int, maxiter: int | None) -> int:
    """SciPy's default iteration limit (10 n) or the user's, checked."""
    if maxiter is None:
        return 10 * n
    if not isinstance(maxiter, (int, np.integer)) or maxiter < 0 or maxiter >= 2 ** 31:
        raise ArgumentError(f"maxiter must be an int in [0, 2**31), got {maxiter!r}")
    return int(maxiter)


def solution(problem: Problem, system: Scaled, x: np.ndarray, rr: float, iterations: int, passed: bool, info: int,
             stats) -> Solution:
    """The `Solution` of a kernel's run on `system` (x and the squared recurrence residual rr still scaled):
    converged only where the stopping test `passed` and the returned x's true residual, in float64, meets
    the tolerance too (float32's recurrence residual can pass a tolerance x cannot reach)."""
    x, residual = system.unscale(x, rr)
    true_norm = problem.true_residual_norm(x)
    return Solution(x, int(iterations), residual, bool(passed) and true_norm <= system.tolerance, int(info), stats,
                    true_norm)
