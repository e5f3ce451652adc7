"""The hints for CUDA names wafersim lacks: each is reachable (not a real attribute) and names only things
that exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import wafersim as ws
import wafersim.kernels.reduce as reduce
from wafersim.compiler import cuda_names

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_hinted_names_are_missing_from_wafersim():
    assert not [name for name in cuda_names.HINTS if hasattr(ws, name)]


def test_cg_hinted_names_are_missing_from_ws_cg():
    assert not [name for name in cuda_names.CG_HINTS if hasattr(ws.cg, name)]
    assert cuda_names.cg_hint("no_such_group").startswith(" (ws.cg has this_grid() only")


def test_hints_name_only_what_exists():
    for text in set(cuda_names.HINTS.values()) | set(cuda_names.CG_HINTS.values()):
        for dotted in re.findall(r"\bws\.([A-Za-z_][\w.]*[A-Za-z_])", text):
            obj = ws
            for part in dotted.split("."):
                obj = getattr(obj, part)  # AttributeError: the hint names something that does not exist
        for function in re.findall(r"\b(reduce_to_corner|allreduce|broadcast_from_corner)\(", text):
            assert callable(getattr(reduce, function))
        for first in re.findall(r"ws\.(?:send|recv)\(([^,)]+)", text):  # (direction first, as ws.send(d, value))
            assert first in ("ws.NORTH", "ws.EAST", "ws.SOUTH", "ws.WEST", "ws.RAMP"), text
        for doc in re.findall(r"docs/([\w-]+\.md)", text):
            assert (DOCS / doc).is_file(), doc


def test_the_atomics_hint_names_array_collectives_that_exist():
    from wafersim import collectives as wsc
    from wafersim.kernels import classic

    text = cuda_names.hint("atomicAdd")
    for name in re.findall(r"wsc\.(\w+)", text):
        assert hasattr(wsc, name), name
    assert "block_reduce_array" in text and callable(classic.histogram)


def test_hint_text():
    assert cuda_names.hint("atomic").startswith(" (there are no atomic operations")
    assert cuda_names.hint("no_such_name") == ""


def test_numba_cuda_names_have_their_ws_counterparts():
    from numba import cuda

    for name, written in cuda_names.NUMBA_CUDA_SAME.items():
        assert hasattr(cuda, name), name
        obj = ws
        for part in re.match(r"ws\.([\w.]+)", written).group(1).split("."):
            obj = getattr(obj, part)  # AttributeError: the message names something that does not exist


def _numba_port_error(kernel) -> ws.CompileError:
    import numpy as np

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    try:
        kernel.compile_for(dev.device_array(4, np.float32))
    except ws.CompileError as err:
        return err
    raise AssertionError("a kernel reading numba.cuda compiled")


def test_a_kernel_ported_from_numba_is_told_the_ws_name():
    """A port that changed only the decorator once got "'grid' cannot be called in a kernel", and for
    `cuda.threadIdx.x` "expected a number here, got <property object ...>" at the line that used the value."""
    from numba import cuda

    @ws.jit
    def uses_grid(out):
        i = cuda.grid(1)
        out[i] = 1.0

    @ws.jit
    def uses_thread_index(out):
        i = cuda.threadIdx.x
        out[i] = 1.0

    @ws.jit
    def uses_atomics(out):
        cuda.atomic.add(out, 0, 1.0)

    err = _numba_port_error(uses_grid)
    assert "cuda.grid is numba.cuda's" in str(err) and "write ws.grid(1) / ws.grid(2)" in str(err)
    err = _numba_port_error(uses_thread_index)
    assert "write ws.threadIdx" in str(err) and "property" not in str(err)
    assert "i = cuda.threadIdx.x" in str(err)  # the line that reads it, not the one using the value
    err = _numba_port_error(uses_atomics)
    assert "no counterpart" in str(err) and cuda_names.HINTS["atomic"] in str(err)
    assert cuda_names.is_numba_cuda(cuda) and not cuda_names.is_numba_cuda(ws)


def test_a_numba_device_function_called_in_a_kernel_is_told_to_use_ws_jit():
    """A port that kept its `@cuda.jit(device=True)` helper got only "'helper' cannot be called in a kernel"."""
    import numba
    from numba import cuda

    @cuda.jit(device=True)
    def cuda_helper(a):
        return a + 1.0

    @numba.njit
    def njit_helper(a):
        return a + 1.0

    @ws.jit
    def calls_cuda_helper(out):
        out[0] = cuda_helper(1.0)

    @ws.jit
    def calls_njit_helper(out):
        out[0] = njit_helper(1.0)

    for kernel in (calls_cuda_helper, calls_njit_helper):
        err = _numba_port_error(kernel)
        assert cuda_names.NUMBA_FUNCTION in str(err) and "cannot be called in a kernel" in str(err)
    assert not cuda_names.is_numba_function(len) and not cuda_names.is_numba_function(calls_cuda_helper)


def test_numbas_jit_options_are_refused_saying_what_wafersim_does_instead():
    """`@ws.jit(device=True)`, Numba's usual spelling of a device function, was a bare TypeError ("jit() got an
    unexpected keyword argument 'device'"), not a WaferError; so were fastmath=, cache=, debug=, ..."""
    for name, text in cuda_names.NUMBA_JIT_OPTIONS.items():
        with pytest.raises(ws.ArgumentTypeError) as info:
            ws.jit(**{name: True})
        assert f"{name}=: {text}" in str(info.value) and isinstance(info.value, TypeError)
        for doc in re.findall(r"docs/([\w-]+\.md)", text):
            assert (DOCS / doc).is_file(), doc
    with pytest.raises(ws.ArgumentTypeError, match=r"boundcheck=: unknown, did you mean 'boundscheck'\?"):
        ws.jit(boundcheck=False)
    with pytest.raises(ws.ArgumentTypeError, match=r"takes no Numba type signature \('void\(float32\[:\]\)'\)"):
        ws.jit("void(float32[:])")
    assert isinstance(ws.jit(boundscheck=False)(plain_kernel), type(ws.jit(plain_kernel)))


def plain_kernel(out):
    out[0] = 1.0


def test_a_local_array_of_a_numba_dtype_is_told_the_numpy_one():
    import numba

    @ws.jit
    def numba_dtype(out):
        t = ws.local.array(4, numba.float32)
        t[0] = 1.0
        out[0] = t[0]

    err = _numba_port_error(numba_dtype)
    assert "(numba.float32 is Numba's type: write np.float32)" in str(err)


def test_host_side_numba_names_are_missing_and_the_attribute_error_says_what_to_write():
    """`ws.pinned_array(n)` (a CUDA streams course's page-locked buffer) was a bare "no attribute"."""
    assert not [name for name in cuda_names.HOST_HINTS if hasattr(ws, name)]
    for name, text in cuda_names.HOST_HINTS.items():
        with pytest.raises(AttributeError) as info:
            getattr(ws, name)
        assert str(info.value) == f"module 'wafersim' has no attribute {name!r} ({text})"
        assert info.value.name == name and info.value.obj is ws  # (Python's "Did you mean" reads these)
        for dotted in re.findall(r"\bws\.([A-Za-z_][\w.]*[A-Za-z_])", text):
            assert hasattr(ws, dotted.split(".")[0]), dotted
    with pytest.raises(AttributeError, match=r"no attribute 'atomic' \(there are no atomic operations"):
        ws.atomic
    with pytest.raises(AttributeError, match=r"^module 'wafersim' has no attribute 'no_such_name'$"):
        ws.no_such_name
