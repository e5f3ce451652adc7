"""sim/fused_exchange.py: the compiled one-pass scalar send/receive against the engine's NumPy path.

Every launch runs with the compiled path (single-threaded, and multi-threaded with tiny runs so that
small test wafers still split into several parallel tasks) and without it; results, cycle counts and
per-PE statistics must be bit-identical, and results also match NumPy models.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_engine_strategies import FUZZ, SPECS, assert_same_run, f32, library_launches
from test_fuzz_kernels import SPEC as FUZZ_SPEC
from test_fuzz_kernels import kernel_source, model, step
from wafersim.kernels import gemm
from wafersim.sim import fused_exchange
from wafersim.sim.lanes import Lanes

pytestmark = pytest.mark.skipif(not fused_exchange.available(), reason="Numba is not installed")


def run_both_ways(launch, monkeypatch):
    """`launch()` with the NumPy path, the compiled path on one thread and on several; all must agree."""
    with fused_exchange.disabled():
        reference = launch()
    runs = [launch()]
    with monkeypatch.context() as patch:  # every group parallel, in runs of at most 3 PEs
        patch.setattr(fused_exchange, "PARALLEL_LANES", 1)
        patch.setattr(fused_exchange, "CHUNK", 3)
        runs.append(launch())
    for run in runs:
        assert_same_run(reference, run)
    return reference


@pytest.mark.parametrize("name", sorted(library_launches()))
def test_library_kernels_are_identical_with_and_without_the_compiled_path(name, monkeypatch):
    run_both_ways(library_launches()[name], monkeypatch)  # each kernel's own tests compare with NumPy


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_gemm_is_identical_on_fractional_links_and_shallow_fifos(spec, monkeypatch):
    p, tile = 4, 4
    a, b = f32(p * tile, p * tile), f32(p * tile, p * tile)
    device = (lambda: ws.Device(SPECS[spec])) if SPECS[spec] else (lambda: None)
    c, _ = run_both_ways(lambda: gemm.gemm(a, b, p, device=device()), monkeypatch)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4)


@FUZZ
@given(steps=st.lists(step, min_size=1, max_size=6), block=st.tuples(st.integers(1, 5), st.integers(1, 4)),
       grid=st.tuples(st.integers(1, 3), st.integers(1, 2)), seed=st.integers(0, 2**16))
def test_random_exchange_kernels_are_identical_with_and_without_the_compiled_path(steps, block, grid, seed,
                                                                                  tmp_path_factory, monkeypatch):
    module = load_source(tmp_path_factory.mktemp("fused"), kernel_source(steps))
    h, w = grid[1] * block[1], grid[0] * block[0]
    values = np.random.default_rng(seed).uniform(-2, 2, (h, w)).astype(np.float32)

    def launch():
        dev = ws.Device(FUZZ_SPEC)
        d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
        stats = module.kernel[grid, block](d_in, d_out)
        return d_out.copy_to_host(), stats

    out, _ = run_both_ways(launch, monkeypatch)
    np.testing.assert_array_equal(out, model(steps, values, block))


def lanes_of_every_form(rng: np.random.Generator, n: int) -> list[tuple[Lanes, np.ndarray]]:
    """(lanes, the region indices they stand for) in each form, windowed or not."""
    mask = rng.random(n) < 0.5
    excl = np.sort(rng.choice(n, 5, replace=False))
    m, start = n - 7, 7  # a window of the last n - 7 PEs
    wmask = rng.random(m) < 0.3
    wexcl = np.sort(rng.choice(m, 4, replace=False))
    return [
        (Lanes(n), np.arange(n)),
        (Lanes(n, mask=mask), np.flatnonzero(mask)),
        (Lanes(n, excl=excl), np.setdiff1d(np.arange(n), excl)),
        (Lanes(n, idx=np.flatnonzero(mask)), np.flatnonzero(mask)),
        (Lanes(m, window=slice(start, n)), np.arange(start, n)),
        (Lanes(m, mask=wmask, window=slice(start, n)), np.flatnonzero(wmask) + start),
        (Lanes(m, excl=wexcl, window=slice(start, n)), np.setdiff1d(np.arange(m), wexcl) + start),
    ]


@pytest.mark.parametrize("chunk", [1, 4, 1 << 15])
def test_segments_cover_exactly_the_lanes(chunk, monkeypatch):
    monkeypatch.setattr(fused_exchange, "CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    for lanes, expected in lanes_of_every_form(rng, 60):
        starts, stops = fused_exchange.segments(lanes)
        assert (stops - starts <= chunk).all() and (stops > starts).all()
        covered = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])
        np.testing.assert_array_equal(covered, expected)


def test_a_lockstep_stencil_takes_the_compiled_path(monkeypatch):
    """Every send and receive of the heat kernel's lockstep groups goes through the compiled kernels."""
    from wafersim.kernels import heat, reference
    taken = []
    for name in ("try_push", "try_pop"):
        original = getattr(fused_exchange, name)
        monkeypatch.setattr(fused_exchange, name,
                            lambda *args, _original=original, **kwargs: taken.append(_original(*args, **kwargs))
                            or taken[-1])
    u = f32(6, 8)
    out, _ = heat.heat(u, 0.1, 3)
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 3, order=reference.ORDER_API))
    assert len(taken) == 3 * 8 and all(taken)  # 4 sends and 4 receives a step
