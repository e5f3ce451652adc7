"""Repeated bounds checks (`wafersim.compiler.passes.checks`): a block's second `chk a, b` on operands not
written since goes; a write in between, other operands, or another block keep it. Kernels against NumPy:
`cnt[b] += 1` checks `b` once and still stops at its line on a bad bin."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import loop_body
from wafersim.compiler.passes.checks import drop_repeated_checks

from test_compiler_opt import Builder


def _checks(fn) -> list[tuple]:
    return [(op.a, op.b, op.imm) for op in fn.instructions() if op.op == "chk"]


def test_only_a_repeat_on_unchanged_operands_goes():
    b = Builder()
    b.op("arg", d="i", imm=0)
    b.op("arg", d="n", imm=1)
    b.op("chk", a="i", b="n", imm=1)
    b.op("chk", a="i", b="n", imm=2)  # a repeat: goes
    b.op("chk", a="n", b="i", imm=3)  # other operands: stays
    b.op("addi", d="i", a="i", imm=1)
    b.op("chk", a="i", b="n", imm=4)  # i written in between: stays
    b.op("bz", a="i", target="next")
    b.place("next")
    b.op("chk", a="i", b="n", imm=5)  # another block: stays
    b.op("halt")
    drop_repeated_checks(b.fn)
    i, n = b.r("i"), b.r("n")
    assert _checks(b.fn) == [(i, n, 1), (n, i, 3), (i, n, 4), (i, n, 5)]


@ws.jit
def histogram(x, out, n: ws.constant):
    cnt = ws.local.array(16, np.int32)
    for i in range(n):
        cnt[x[i]] += 1
    out[0:16] = cnt[0:16]


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=1, height=1))


def test_an_augmented_assignment_checks_its_index_once_and_counts_as_numpy(dev):
    x = np.random.default_rng(1).integers(0, 16, 40).astype(np.int32)
    out = dev.device_array(16, np.int32)
    histogram[1, 1](dev.to_device(x), out, 40)
    np.testing.assert_array_equal(out.copy_to_host(), np.bincount(x, minlength=16))
    body = loop_body(histogram.inspect_asm())
    # x[i]'s check (x's length is known only at run time), then the bin's, once: before the load, not again
    # before the store
    ops = [line.split()[0] for line in body]
    assert ops.count("chk") == 2
    assert "chk" not in ops[ops.index("ld"):ops.index("st")]


def test_a_bad_bin_still_stops_at_its_line(dev):
    x = np.array([3, 16, 2], np.int32)
    out = dev.device_array(16, np.int32)
    with pytest.raises(ws.MemoryAccessError, match=r"test_compiler_opt_checks.py:\d+$"):
        histogram[1, 1](dev.to_device(x), out, 3)
