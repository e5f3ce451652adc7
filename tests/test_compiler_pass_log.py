"""The pass log (`compiler.passes.PassLog`, `inspect_ir(after=...)`): the IR after each pass is made on first
use by running the passes again on a copy of the IR they started from. It must be exactly the IR that pass
left in the compile (checked against running the passes one by one and printing the IR after each), leave
the compiled function alone, survive pickling, and a pass that is not deterministic is an internal error."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import PASSES, compile_kernel
from wafersim.compiler.backend import emit
from wafersim.compiler.frontend import lower
from wafersim.compiler.ir import Label, Op
from wafersim.compiler.passes import run_passes
from wafersim.compiler.passes.verify import undefined_reads
from wafersim.compiler.values import KernelSignature
from wafersim.errors import CompileError

SPEC = ws.WaferSpec(width=4, height=4)


@ws.jit
def _clamp(v, top):
    if v > top:
        v = top
    return v


@ws.jit
def _loops(out, values, n):
    acc = 0.0
    count = 0
    for i in range(n):
        v = values[i]
        a = v * 2.0
        if v > 0.0:
            acc += _clamp(a, 5.0)
            count += 1
        else:
            acc = a
    for j in range(4):
        out[j] = acc + float(j * count)
    k = 0
    while k < n:
        out[k] += 1.0
        k += 2


@ws.jit
def _straight(out, x):
    b = x[0] + x[1]
    c = b * b
    out[0] = c - b
    out[1] = b * b


SIGNATURES = {_loops: (("array", "f32", 1), ("array", "f32", 1), ("scalar", "i32")),
              _straight: (("array", "f32", 1), ("array", "f32", 1))}


def _one_by_one(kernel) -> dict[str, str]:
    """The IR after each pass of `PASSES`, printed as each pass ends (the reference)."""
    fn = lower(kernel.py_func, KernelSignature(SIGNATURES[kernel]), True)
    undefined = frozenset(undefined_reads(fn))
    texts = {}
    for name, run in PASSES:
        run(fn, undefined)
        texts[name] = fn.text()
    return texts


@pytest.mark.parametrize("kernel", [_loops, _straight], ids=["loops", "straight"])
def test_the_ir_after_each_pass_is_what_that_pass_left(kernel):
    expected = _one_by_one(kernel)
    compiled = compile_kernel(kernel.py_func, KernelSignature(SIGNATURES[kernel]), SPEC)
    assert list(compiled.passes.snapshots) == [name for name, _ in PASSES]
    assert {name: compiled.ir_after(name) for name in expected} == expected
    assert len(set(expected.values())) > 3  # (the passes did change the IR: the test compares something)


def test_making_the_log_leaves_the_compiled_function_alone():
    fn = lower(_loops.py_func, KernelSignature(SIGNATURES[_loops]), True)
    compiled = emit(fn, SPEC, fn.filename)
    fields = ("ssa_origin", "end_rebinds", "join_names", "shared_registers", "folded_copies", "ssa_undefined")
    state = (fn.text(), [op.__dict__.copy() if isinstance(op, Op) else op for op in fn.ops],
             {name: repr(getattr(fn, name)) for name in fields})
    assert compiled.passes.text_after("ssa") != compiled.passes.text_after("layout")
    assert (fn.text(), [op.__dict__.copy() if isinstance(op, Op) else op for op in fn.ops],
            {name: repr(getattr(fn, name)) for name in fields}) == state


def test_the_log_pickles_with_its_snapshots():
    compiled = compile_kernel(_loops.py_func, KernelSignature(SIGNATURES[_loops]), SPEC)
    log = pickle.loads(pickle.dumps(compiled.passes))
    assert list(log.snapshots) == list(compiled.passes.snapshots)
    assert all(log.text_after(name) == compiled.passes.text_after(name) for name in log.snapshots)
    assert log.before == compiled.passes.before


def test_an_unknown_pass_name_lists_the_passes():
    compiled = compile_kernel(_straight.py_func, KernelSignature(SIGNATURES[_straight]), SPEC)
    with pytest.raises(KeyError, match="licm"):
        compiled.ir_after("no-such-pass")


def test_a_pass_that_is_not_deterministic_is_an_internal_error_when_the_log_is_made():
    runs = []

    def label_per_run(fn, undefined):  # a different label name on every run
        runs.append(1)
        fn.ops.insert(len(fn.ops) - 1, Label(f"nondeterministic{len(runs)}"))

    fn = lower(_straight.py_func, KernelSignature(SIGNATURES[_straight]), True)
    log = run_passes(fn, [*PASSES[:3], ("label", label_per_run)])
    assert len(runs) == 1
    with pytest.raises(CompileError, match="not deterministic"):
        log.snapshots


def test_kernels_still_compute_as_numpy():
    dev = ws.Device(SPEC)
    values = np.array([1.0, -2.0, 3.5, 4.0, -0.5, 2.0], np.float32)
    out = dev.to_device(np.zeros(6, np.float32))
    _loops[1, 1](out, dev.to_device(values), np.int32(6))
    acc, count = 0.0, 0
    for v in values:
        a = np.float32(v * np.float32(2.0))
        if v > 0:
            acc = np.float32(acc + min(a, np.float32(5.0)))
            count += 1
        else:
            acc = a
    expected = np.zeros(6, np.float32)
    for j in range(4):
        expected[j] = np.float32(acc + np.float32(j * count))
    expected[0:6:2] += np.float32(1.0)
    assert out.copy_to_host().tolist() == expected.tolist()
