"""The engine's host memory around a launch (`sim.engine`): statistics made only when used, the heap a
process's first large launch maps in ahead (`Launch.heap_to_reserve`)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import wafersim as ws
from wafersim.kernels.assembly import saxpy_program
from test_engine import EXCHANGE
from test_isa_float_math import exact_fmas


def test_links_of_a_launch_without_words_between_pes_count_zero_after_and_before_one_with_them():
    # A wafer this size keeps a never-used `link_words` in memory mapped apart (`hostmem.sparse_zeros`); the
    # launches in between must not see each other's counts.
    dev = ws.Device(ws.WaferSpec(width=512, height=256))
    u = np.arange(12 * 8, dtype=np.int32).reshape(8, 12)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape, np.int32)
    n = 96
    x, y = np.arange(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    d_x, d_y, d_sum = dev.to_device(x), dev.to_device(y), dev.device_array(n)
    east = 4 * 5 * 4  # 2 x 2 blocks of 6 x 4 PEs: 5 senders a row, 4 rows a block
    for _ in range(2):
        moved = dev.launch(ws.assemble(EXCHANGE), (2, 2), (6, 4), (d_u, d_out))
        assert moved.words_per_link() == {"north": 0, "east": east, "south": 0, "west": 0}
        assert np.count_nonzero(moved.link_words[1]) == east and moved.link_words[1].max() == 1  # a word each
        still = ws.Kernel(saxpy_program())[(6, 1), (4, 4)](d_x, d_y, d_sum, np.float32(2.0), n)
        np.testing.assert_array_equal(d_sum.copy_to_host(), exact_fmas(2.0, x, y))
        assert still.link_words.shape == (4, 256, 512) and still.link_words.dtype == np.int64
        assert not still.link_words.any() and still.words_per_link() == dict.fromkeys(moved.words_per_link(), 0)
        still.link_words[0, 0, 0] = 7  # (the caller's to keep or change: writable)


_FIRST_LARGE = """
import sys
import numpy as np
import wafersim as ws
from wafersim.sim import hostmem
from wafersim.kernels.assembly import saxpy_program

dev = ws.Device(ws.WaferSpec(width=600, height=500))
for block in ((8, 8), (600, 500)):  # (a small launch first: it reserves nothing)
    n = block[0] * block[1]
    x = np.arange(n, dtype=np.float32)
    d_x, d_y, d_out = dev.to_device(x), dev.to_device(x), dev.device_array(n)
    ws.Kernel(saxpy_program())[(1, 1), block](d_x, d_y, d_out, np.float32(2.0), n)
    assert np.array_equal(d_out.copy_to_host(), 3 * x)
    print(hostmem.tune_allocator(), hostmem.reserve_heap(0))
"""


def test_a_processs_first_large_launch_maps_its_heap_estimate_in_and_a_small_one_none(tmp_path):
    from wafersim.sim.hostmem import launch_bytes
    (tmp_path / "first.py").write_text(_FIRST_LARGE)
    result = subprocess.run([sys.executable, str(tmp_path / "first.py")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (tuned, small), (_, large) = (line.split() for line in result.stdout.split("\n")[:2])
    assert small == "0"
    if tuned == "False":  # (not glibc, or WAFERSIM_NO_MALLOC_TUNING: nothing is reserved)
        assert large == "0"
        return
    n = 600 * 500
    parts = launch_bytes(n, n, 1, 0, 0, 0, 4)  # (the heap's parts do not depend on registers, SRAM or FIFOs)
    heap = parts["PE state"] + parts["temporaries"] + parts["statistics"]
    assert heap >= 64 << 20
    assert heap <= int(large) < heap + (8 << 20)  # (whole 8 MiB blocks)


_BEFORE_COMPILE = """
import numpy as np
import wafersim as ws
from wafersim.runtime import jit
from wafersim.sim import hostmem

reserved_at_compile = []
compile_kernel = jit.compile_kernel


def watched(*args, **kwargs):
    reserved_at_compile.append(hostmem.reserve_heap(0))  # (what the process has reserved when the kernel compiles)
    return compile_kernel(*args, **kwargs)


jit.compile_kernel = watched


@ws.jit
def doubled(u, out):
    x, y = ws.grid(2)
    out[y, x] = u[y, x] * 2.0


@ws.jit
def halved(u, out):
    x, y = ws.grid(2)
    out[y, x] = u[y, x] * 0.5


u = np.arange(600 * 500, dtype=np.float32).reshape(500, 600)
dev = ws.Device(ws.WaferSpec(width=600, height=500))
d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
for refused in ((601, 500), (600, -1), "whole"):  # (shapes the launch refuses reserve nothing)
    try:
        halved[(1, 1), refused](d_u, d_out)
    except ws.WaferError:
        pass
    else:
        raise AssertionError(refused)
assert hostmem.reserve_heap(0) == 0
reserved_at_compile.clear()
doubled[(1, 1), (600, 500)](d_u, d_out)
assert np.array_equal(d_out.copy_to_host(), u * 2) and len(reserved_at_compile) == 1
print(hostmem.tune_allocator(), reserved_at_compile[0])
"""


def test_a_jit_kernels_first_large_launch_maps_its_heap_in_before_the_kernel_compiles(tmp_path):
    """`engine.reserve_before_compile`: the populating thread is given the launch's heap estimate before the
    compile (which it overlaps), the same estimate the launch itself reserves (`Launch.heap_to_reserve`)."""
    from wafersim.sim.hostmem import launch_bytes
    (tmp_path / "before.py").write_text(_BEFORE_COMPILE)
    env = {**os.environ, "WAFERSIM_CACHE_DIR": str(tmp_path / "kernels")}  # (an empty kernel cache: it compiles)
    result = subprocess.run([sys.executable, str(tmp_path / "before.py")], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    tuned, reserved = result.stdout.split()
    if tuned == "False":  # (not glibc, or WAFERSIM_NO_MALLOC_TUNING: nothing is reserved)
        assert reserved == "0"
        return
    n = 600 * 500
    parts = launch_bytes(n, n, 0, 0, 0, 0, 4)
    heap = parts["PE state"] + parts["temporaries"] + parts["statistics"]
    assert heap >= 64 << 20
    assert heap <= int(reserved) < heap + (8 << 20)  # (whole 8 MiB blocks)



_FEW_BLOCKS_A_WAVE = """
import numpy as np
import wafersim as ws
from wafersim.sim import hostmem


@ws.jit
def doubled(u, out):
    x, y = ws.grid(2)
    out[y, x] = u[y, x] * 2.0


u = np.arange(502 * 602, dtype=np.float32).reshape(502, 602)
dev = ws.Device(ws.WaferSpec(width=600, height=500))
d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
stats = doubled[(2, 2), (301, 251)](d_u, d_out)
assert np.array_equal(d_out.copy_to_host(), u * 2)
print(stats.waves, hostmem.reserve_heap(0))
"""


def test_the_reserve_before_the_compile_counts_the_largest_waves_pes_not_the_grids(tmp_path):
    """Four blocks of 301 x 251 PEs on a 600 x 500 wafer run one a wave (no two fit side by side): the launch's
    estimate, for one block's 75,551 PEs and the wafer's statistics, is below `RESERVE_MIN_BYTES` and reserves
    nothing. The reserve before the compile counted the grid's PEs (capped at the wafer's 300,000) and mapped in
    ~80 MiB the launch never used (on wse2, 195 MiB for a launch that needs 79)."""
    from wafersim.sim.engine import RESERVE_MIN_BYTES
    from wafersim.sim.hostmem import launch_bytes
    wave = launch_bytes(301 * 251, 600 * 500, 0, 0, 0, 0, 4)
    assert wave["PE state"] + wave["temporaries"] + wave["statistics"] < RESERVE_MIN_BYTES  # (the case's premise)
    (tmp_path / "few.py").write_text(_FEW_BLOCKS_A_WAVE)
    result = subprocess.run([sys.executable, str(tmp_path / "few.py")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "0"]  # (one block a wave, and nothing reserved)
