"""Library host functions refuse meaningless arguments with a typed WaferError naming the argument (the shared
checks of `kernels.hosting` and `arch.values`: `whole_argument`, `shape_argument`, `device_argument`, `float32_input`), and their
valid neighbours still give NumPy's answer."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import classic, gemm, gemv, heat, heat_tiled, life, reduce, saxpy, scan
from wafersim.kernels.ml import dense, mixed, softmax
from wafersim.kernels.reference import ORDER_API
from wafersim.kernels.reference import heat as heat_reference
from wafersim.kernels.solvers import bandwidth, cg, power
from wafersim.kernels.solvers.stencil7 import stencil7

RNG = np.random.default_rng(11)
U = RNG.random((8, 8), dtype=np.float32)
X = np.arange(8, dtype=np.float32)
Y = np.ones(8, np.float32)
BOARD = (U > 0.5).astype(np.int32)

# (c): calls that used to be accepted with a meaningless result.
SILENT = {
    "saxpy a=None (was NaN)": (lambda: saxpy.saxpy(None, X, Y, block=8), ws.ArgumentTypeError, "None"),
    "saxpy a list with None": (lambda: saxpy.saxpy(2.0, [1.0, None], [1.0, 1.0], block=8), ws.ArgumentTypeError, "None"),
    "saxpy 0-d inputs (was shape (1,))": (lambda: saxpy.saxpy(2.0, np.float32(1), np.float32(1), block=8),
                                          ws.ArgumentError, "1-D"),
    "gemv x (8, 1) (was (8,))": (lambda: gemv.gemv(U, np.ones((8, 1), np.float32), 2, 2), ws.ArgumentError, "vector"),
    "heat steps=-1": (lambda: heat.heat(U, 0.1, -1), ws.ArgumentError, "steps"),
    "heat steps=2.5": (lambda: heat.heat(U, 0.1, 2.5), ws.ArgumentTypeError, "steps"),
    "heat steps=True": (lambda: heat.heat(U, 0.1, True), ws.ArgumentTypeError, "steps"),
    "heat_tiled steps=-1": (lambda: heat_tiled.heat_tiled(U, 0.1, -1, 4), ws.ArgumentError, "steps"),
    "heat_tiled steps=2.5": (lambda: heat_tiled.heat_tiled(U, 0.1, 2.5, 4), ws.ArgumentTypeError, "steps"),
    "heat_tiled of a 1-D u (was 'tile must divide the (8,) domain')": (
        lambda: heat_tiled.heat_tiled(U[0], 0.1, 1, 4), ws.ArgumentError, "2-D array"),
    "life steps=2.5": (lambda: life.life(BOARD, 2.5), ws.ArgumentTypeError, "steps"),
    "life steps=True": (lambda: life.life(BOARD, True), ws.ArgumentTypeError, "steps"),
    "fft of 1e39 (was inf)": (lambda: classic.fft(np.full(8, 1e39)), ws.ArgumentError, "float32's range"),
    "fft of 1e39j": (lambda: classic.fft(np.full(8, 1e39j)), ws.ArgumentError, "float32's range"),
    "life board of 2s (was alive)": (lambda: life.life(BOARD * 2, 1), ws.ArgumentError, "0 \\(dead\\) and 1"),
    "life board with 0.5 (was alive)": (lambda: life.life(BOARD * 0.5, 1), ws.ArgumentError, "0.5"),
    "life board with NaN (was alive)": (lambda: life.life(np.where(BOARD, np.nan, 0.0), 1), ws.ArgumentError, "nan"),
    "life board of strings": (lambda: life.life(np.array([["a"]]), 1), ws.ArgumentTypeError, "dtype"),
}

# Empty inputs: a grid kernel has nothing to place, and the default device of width 0 was refused instead, as
# a SpecError ("WaferSpec.width = 0") naming no argument, or a "tile must be positive" (gemm, gemv).
EMPTY = {
    "prefix_sum": lambda: scan.prefix_sum(np.zeros((2, 0), np.float32)),
    "prefix_sum int32": lambda: scan.prefix_sum(np.zeros((0, 3), np.int32)),
    "block_reduce": lambda: reduce.block_reduce(np.zeros((0, 0), np.float32), block=(1, 1)),
    "block_allreduce": lambda: reduce.block_allreduce(np.zeros((0, 4), np.float32), block=(1, 1)),
    "heat": lambda: heat.heat(np.zeros((0, 3), np.float32), 0.1, 1),
    "heat_tiled": lambda: heat_tiled.heat_tiled(np.zeros((0, 0), np.float32), 0.1, 1, 1),
    "life": lambda: life.life(np.zeros((3, 0), np.int32), 1),
    "gemm": lambda: gemm.gemm(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), 1),
    "gemv": lambda: gemv.gemv(np.zeros((0, 4), np.float32), np.ones(4, np.float32), 1, 1),
    "gemv_batch": lambda: gemv.gemv_batch(np.zeros((4, 0), np.float32), np.zeros((2, 0), np.float32), 1, 1),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_inputs_are_refused_naming_the_argument(name):
    with pytest.raises(ws.ArgumentError, match=r"is empty \(shape \("):
        EMPTY[name]()

# (b): calls where a bare Python exception escaped the library.
ESCAPING = {
    "saxpy block=None": (lambda: saxpy.saxpy(2.0, X, Y, block=None), ws.ArgumentTypeError, "block"),
    "saxpy block='8'": (lambda: saxpy.saxpy(2.0, X, Y, block="8"), ws.ArgumentTypeError, "block"),
    "saxpy block=0": (lambda: saxpy.saxpy(2.0, X, Y, block=0), ws.ArgumentError, "block"),
    "saxpy device='dev'": (lambda: saxpy.saxpy(2.0, X, Y, block=8, device="dev"), ws.ArgumentTypeError, "device"),
    "heat u 1-D": (lambda: heat.heat(X, 0.1, 1), ws.ArgumentError, "2-D"),
    "heat u 3-D": (lambda: heat.heat(np.ones((2, 2, 2)), 0.1, 1), ws.ArgumentError, "2-D"),
    "heat block=5": (lambda: heat.heat(U, 0.1, 1, block=5), ws.ArgumentTypeError, "block"),
    "heat block=(0, 0)": (lambda: heat.heat(U, 0.1, 1, block=(0, 0)), ws.ArgumentError, "block"),
    "heat steps=None": (lambda: heat.heat(U, 0.1, None), ws.ArgumentTypeError, "steps"),
    "block_reduce block=4": (lambda: reduce.block_reduce(U, block=4), ws.ArgumentTypeError, "block"),
    "block_reduce block=(4, 4, 4)": (lambda: reduce.block_reduce(U, block=(4, 4, 4)), ws.ArgumentError, "block"),
    "block_reduce op=None": (lambda: reduce.block_reduce(U, op=None, block=(4, 4)), ws.ArgumentError, "op"),
    "dense_forward tile=0": (lambda: dense.dense_forward(U, U, X, tile=0), ws.WaferError, "tile"),
    "matmul_mixed bias of 3": (lambda: mixed.matmul_mixed(U, U, bias=np.ones(3)), ws.WaferError, "bias"),
    "fft of strings": (lambda: classic.fft(np.array(["a"] * 8)), ws.ArgumentTypeError, "numbers"),
    "fft of objects": (lambda: classic.fft(np.array(["a", 1] * 4, dtype=object)), ws.ArgumentTypeError, "holds a string"),
    "mandelbrot tile=8": (lambda: classic.mandelbrot(8, 8, 4, tile=8), ws.ArgumentTypeError, "tile"),
    "conjugate_gradient shift='x'": (lambda: cg.conjugate_gradient(np.ones((4, 4, 4), np.float32), shift="x"),
                                     ws.ArgumentTypeError, "shift"),
    "power_method shape (4, 4, -1)": (lambda: power.power_method((4, 4, -1)), ws.ArgumentError, "shape_or_x0"),
    "stencil7 coeffs=None": (lambda: stencil7(np.ones((4, 4, 4), np.float32), None), ws.ArgumentTypeError,
                             "coeffs"),
    "stencil7 steps=1.5": (lambda: stencil7(np.ones((4, 4, 4), np.float32), (1, 0, 0, 0), 1.5),
                           ws.ArgumentTypeError, "steps"),
    "memcpy_bandwidth(16)": (lambda: bandwidth.memcpy_bandwidth(16), ws.ArgumentTypeError, "sizes"),
    "memcpy_bandwidth([16.5])": (lambda: bandwidth.memcpy_bandwidth([16.5]), ws.ArgumentTypeError, "sizes"),
    "block_reduce of a ragged list": (lambda: reduce.block_reduce([[1.0, 2.0], [3.0]], block=(1, 1)),
                                      ws.ArgumentTypeError, "values is not an array of numbers"),
    "prefix_sum of a ragged list": (lambda: scan.prefix_sum([[1, 2], [3]]), ws.ArgumentTypeError,
                                    "values is not an array of numbers"),
    "softmax of a ragged list": (lambda: softmax([[1.0, 2.0], [3.0]]), ws.ArgumentTypeError,
                                 "x is not an array of numbers"),
    "gemm p='2'": (lambda: gemm.gemm(U, U, "2"), ws.ArgumentTypeError, "p must be a whole number"),
    "gemm p=0": (lambda: gemm.gemm(U, U, 0), ws.ArgumentError, "p must be a whole number >= 1"),
    "gemv q=2.0": (lambda: gemv.gemv(U, X, 2, 2.0), ws.ArgumentTypeError, "q must be a whole number"),
    "gemm device='dev'": (lambda: gemm.gemm(U, U, 2, device="dev"), ws.ArgumentTypeError, "device"),
    "gemv device='dev'": (lambda: gemv.gemv(U, X, 2, 2, device="dev"), ws.ArgumentTypeError, "device"),
    "prefix_sum device='dev'": (lambda: scan.prefix_sum(U, device="dev"), ws.ArgumentTypeError, "device"),
}


@pytest.mark.parametrize("name", sorted({**SILENT, **ESCAPING}))
def test_bad_host_arguments_are_typed_errors_naming_the_argument(name):
    call, error, word = {**SILENT, **ESCAPING}[name]
    with pytest.raises(error, match=word):
        call()


def test_valid_neighbours_still_give_numpys_answer():
    out, _ = saxpy.saxpy(np.float32(2), X, Y, block=np.int64(8))
    np.testing.assert_array_equal(out, (np.float32(2) * X + Y).astype(np.float32))
    for steps in (0, 2, np.int64(2), np.int32(3)):
        expected = heat_reference(U, 0.1, int(steps), order=ORDER_API)
        np.testing.assert_array_equal(heat.heat(U, 0.1, steps)[0], expected)
        np.testing.assert_array_equal(heat.heat(U, 0.1, steps, block=[4, 4])[0],
                                      heat_reference(U, 0.1, int(steps), block=(4, 4), order=ORDER_API))
        np.testing.assert_array_equal(heat_tiled.heat_tiled(U, 0.1, steps, 4)[0], expected)
    np.testing.assert_array_equal(life.life(BOARD, np.int64(0))[0], BOARD)
    for cells in (BOARD.astype(bool), BOARD.astype(np.float64), BOARD.astype(np.uint8)):  # 0 and 1 in any dtype
        np.testing.assert_array_equal(life.life(cells, 3)[0], life.life(BOARD, 3)[0])
    y, _ = gemv.gemv(U, np.ones(8, np.float32), 2, 2)
    assert y.shape == (8,)
    np.testing.assert_allclose(y, U.astype(np.float64) @ np.ones(8), rtol=1e-5)
    x = RNG.random(16)
    np.testing.assert_allclose(classic.fft(x)[0], np.fft.fft(x.astype(np.float32)), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(classic.fft(x)[0], classic.fft(x.astype(np.complex64))[0])
    total, _ = reduce.block_reduce(U, "sum", [4, 4])
    np.testing.assert_allclose(total, U.reshape(2, 4, 2, 4).sum(axis=(1, 3)), rtol=1e-5)


SMALL = ws.WaferSpec(width=4, height=4)
# A block larger than the given device: was the launch's LaunchError, whose advice (index a smaller block with
# ws.grid) is for a kernel's author, not for a caller of the library.
TOO_SMALL = {
    "prefix_sum": (lambda d: scan.prefix_sum(np.ones((3, 9), np.float32), device=d), "9 x 1"),
    "block_reduce": (lambda d: reduce.block_reduce(np.ones((8, 8), np.float32), block=(8, 8), device=d), "8 x 8"),
    "heat": (lambda d: heat.heat(np.ones((3, 5), np.float32), 0.1, 1, device=d), "5 x 3"),
    "heat_tiled": (lambda d: heat_tiled.heat_tiled(np.ones((10, 10), np.float32), 0.1, 1, 2, device=d), "5 x 5"),
    "life": (lambda d: life.life(np.ones((5, 5), np.int32), 1, device=d), "5 x 5"),
    "gemm": (lambda d: gemm.gemm(np.eye(8, dtype=np.float32), np.eye(8, dtype=np.float32), 8, device=d), "8 x 8"),
    "gemv": (lambda d: gemv.gemv(np.eye(8, dtype=np.float32), np.ones(8, np.float32), 8, 1, device=d), "1 x 8"),
    "saxpy": (lambda d: saxpy.saxpy(2.0, X, Y, block=8, device=d), "8 x 1"),
}


@pytest.mark.parametrize("name", sorted(TOO_SMALL))
def test_a_device_too_small_for_the_block_is_an_argument_error_saying_what_to_pass(name):
    call, block = TOO_SMALL[name]
    with pytest.raises(ws.ArgumentError, match=rf"block of {block} PEs, larger than the device's 4 x 4 wafer: pass "
                                               r"a larger device, or device=None"):
        call(ws.Device(SMALL))
    dev = ws.Device(SMALL)
    out, _ = scan.prefix_sum(np.ones((9, 4), np.float32), device=dev)   # a block that fits still runs
    np.testing.assert_array_equal(out, np.cumsum(np.ones((9, 4)), axis=1))


@pytest.mark.parametrize("values", [np.array([["1", "2.5"]]), [["1", "2"]],
                                    np.array([[1, 2]], "datetime64[s]"), np.array([[1, 2]], "timedelta64[ms]")])
def test_strings_and_dates_are_not_numbers(values):
    # NumPy converts "2.5" to 2.5 and a datetime64 to its count of units, so prefix_sum([["1", "2"]])
    # gave [[1, 3]] and block_reduce of dates their sum, without a word; they are refused, naming the
    # argument. (Numbers, bools and object arrays of numbers still go through the input rule.)
    from wafersim.kernels.reduce import block_reduce
    from wafersim.kernels.saxpy import saxpy
    from wafersim.kernels.scan import prefix_sum

    with pytest.raises(ws.ArgumentTypeError, match="values is not an array of numbers"):
        prefix_sum(values)
    with pytest.raises(ws.ArgumentTypeError, match="values is not an array of numbers"):
        block_reduce(values, "sum", block=(2, 1))
    with pytest.raises(ws.ArgumentTypeError, match="x is not an array of numbers"):
        saxpy(2.0, np.ravel(values), np.ones(2, np.float32))
    scanned, _ = prefix_sum(np.array([[1, 2.5]], dtype=object))
    np.testing.assert_array_equal(scanned, [[1, 3.5]])


@pytest.mark.parametrize("call, match", [
    (lambda: heat.heat(U, 0.1, 2, step=1), "'step'"),
    (lambda: heat_tiled.heat_tiled(U, 0.1, 1, tiles=4), "'tiles'; did you mean 'tile'"),
    (lambda: reduce.block_reduce(U, opp="sum"), "'opp'"),
    (lambda: reduce.block_allreduce(U, "sum", blocks=(8, 8)), "'blocks'; did you mean 'block'"),
    (lambda: scan.prefix_sum(X, axis=0), "'axis'"),
    (lambda: gemm.gemm(U, U, 2, tile=4), "'tile'"),
    (lambda: gemv.gemv(U, X, 2), "missing 1 required positional argument: 'q'"),
    (lambda: gemv.gemv_batch(U, U, 2, 2, stream=None, chunk=2), "'chunk'"),
    (lambda: saxpy.saxpy(2.0, X, Y, blocks=8), "'blocks'; did you mean 'block'"),
    (lambda: life.life(BOARD, 2, wrap=True), "'wrap'"),
])
def test_a_call_that_does_not_fit_a_host_function_is_an_argument_type_error(call, match):
    """(user54) A call that does not fit a library host function's parameters was Python's bare TypeError,
    not a `WaferError`."""
    with pytest.raises(ws.ArgumentTypeError, match=match) as err:
        call()
    assert isinstance(err.value, ws.WaferError) and isinstance(err.value, TypeError)
    out, _ = heat.heat(U, 0.1, 2)                                 # the spelling that fits runs as before
    np.testing.assert_allclose(out, heat_reference(U, 0.1, 2), rtol=1e-6)
