"""The compiled route trace (`sim.trace_kernels`, `Strategy.compiled_trace`) against the NumPy trace
(`routing.trace`): the same `Deliveries`, field by field, for routes that work (trees, buses, both with and
without merging), and the NumPy trace's broken sources and messages for routes that do not."""
from __future__ import annotations


import numpy as np
import pytest

from wafersim.isa.opcodes import ACCEPT, EAST, NORTH, RAMP, SOUTH, WEST
from wafersim.kernels import reduce
from wafersim.sim import routing, trace_kernels
from wafersim.sim.strategy import REFERENCE, Strategy, forced

from test_routing import assert_same_deliveries, small_gemm_route_tables

rng = np.random.default_rng(11)


@pytest.fixture(scope="module")
def region():
    """The region of a small GEMM's wave (6 x 6 PEs)."""
    return small_gemm_route_tables().region


def both(region, masks: np.ndarray, sources: np.ndarray, merge: bool) -> bool:
    """Trace both ways, check they agree; whether the compiled trace took it (the routes work)."""
    expected = routing.trace(region, masks, 1.5, 3, sources, merge)
    got = routing.trace(region, masks, 1.5, 3, sources, merge, compiled=True)
    assert_same_deliveries(got, expected)
    return routing._compiled_trace(region, masks, 1.5, np.unique(sources), merge) is not None


def tree_masks(region, root: tuple[int, int]) -> np.ndarray:
    """A broadcast from block PE `root` (x, y) to its whole block: along its row, then up and down the columns."""
    bx, by = region.placement.block
    masks = np.zeros((routing.N_PORTS, by, bx), dtype=np.uint8)
    rx, ry = root
    for y in range(by):
        for x in range(bx):
            vertical = (1 << NORTH if y <= ry and y > 0 else 0) | (1 << SOUTH if y >= ry and y < by - 1 else 0)
            if y == ry:
                horizontal = (1 << WEST if x <= rx and x > 0 else 0) | (1 << EAST if x >= rx and x < bx - 1 else 0)
                into = RAMP if x == rx else (EAST if x < rx else WEST)  # (the port it arrives by)
                masks[into, y, x] = horizontal | vertical | 1 << RAMP | ACCEPT
            else:
                into = SOUTH if y < ry else NORTH
                masks[into, y, x] = vertical | 1 << RAMP | ACCEPT
    tables = routing.RouteTables(region, 0.0, {})
    return tables._tile(masks)


def bus_masks(region, direction: int) -> np.ndarray:
    """Row buses east or west: every PE takes words from its ramp and from upstream, passes them on."""
    bx, by = region.placement.block
    masks = np.zeros((routing.N_PORTS, by, bx), dtype=np.uint8)
    upstream = WEST if direction == EAST else EAST
    for x in range(bx):
        last = x == (bx - 1 if direction == EAST else 0)
        out = (0 if last else 1 << direction) | 1 << RAMP | ACCEPT
        masks[RAMP, :, x] = (0 if last else 1 << direction) | ACCEPT
        masks[upstream, :, x] = out
    return routing.RouteTables(region, 0.0, {})._tile(masks)


@pytest.mark.parametrize("merge", [False, True])
def test_broadcast_trees_trace_the_same(region, merge):
    bx, by = region.placement.block
    for root in [(0, 0), (bx - 1, by - 1), (2, 3)]:
        masks = tree_masks(region, root)
        sources = np.flatnonzero(masks[RAMP] != 0)
        assert both(region, masks, sources, merge)  # (one root per block: separate trees)
        assert both(region, masks, sources[:1], merge)


@pytest.mark.parametrize("direction", [EAST, WEST])
def test_buses_trace_the_same(region, direction):
    masks = bus_masks(region, direction)
    sources = np.flatnonzero(masks[RAMP] != 0)
    assert both(region, masks, sources, True)  # merging: every source its own path
    assert both(region, masks, np.sort(rng.choice(sources, 5, replace=False)), True)
    assert not both(region, masks, sources, False)  # without merging sources share links: the NumPy trace


def test_broken_routes_give_the_numpy_trace(region):
    bx, by = region.placement.block
    tree = tree_masks(region, (2, 3))
    sources = np.flatnonzero(tree[RAMP] != 0)
    cases = []
    cut = tree.copy()
    cut[:, sources[0] + 1] = 0  # a PE on the path takes nothing
    cases.append(cut)
    leaves = tree_masks(region, (0, 2))
    leaves[RAMP, np.flatnonzero(leaves[RAMP] != 0)] |= 1 << WEST  # out of the block at its west edge
    cases.append(leaves)
    twice = tree.copy()
    twice[RAMP, sources[0] + 1] = 1 << RAMP | ACCEPT  # the east neighbour also sends: sources meet
    cases.append(twice)
    loop = bus_masks(region, EAST)
    loop[WEST] |= 1 << WEST  # words go back west: a cycle
    cases.append(loop)
    for k, masks in enumerate(cases):
        for merge in (False, True):
            senders = np.flatnonzero(masks[RAMP] != 0)
            if k != 2 or not merge:  # (merging, the two sources of `twice` (case 2) may share links)
                assert not both(region, masks, senders, merge), (k, merge)
    no_ramp = np.flatnonzero(tree[RAMP] == 0)[:3]
    assert not both(region, tree, no_ramp, False)


def test_random_routes_trace_the_same(region):
    n = region.n
    taken = 0
    for _ in range(60):
        masks = np.where(rng.random((routing.N_PORTS, n)) < 0.8, ACCEPT, 0).astype(np.uint8)
        outputs = rng.choice(np.array([0, 1 << RAMP, 1 << EAST | 1 << RAMP, 1 << SOUTH | 1 << RAMP, 1 << EAST,
                                       1 << NORTH, 1 << WEST | 1 << RAMP], dtype=np.uint8), (routing.N_PORTS, n))
        masks |= outputs
        sources = np.sort(rng.choice(n, int(rng.integers(1, 8)), replace=False))
        for merge in (False, True):
            taken += both(region, masks, sources, merge)
    assert taken  # (some of them work)


def test_empty_source_set(region):
    assert both(region, tree_masks(region, (0, 0)), np.zeros(0, dtype=np.int64), False)


def test_allreduce_same_under_compiled_trace_and_reference():
    values = rng.random((12, 10), dtype=np.float32)
    routing.TRACE_CACHE.clear()
    out, stats = reduce.block_allreduce(values, "sum", (10, 12))
    for strategy in (Strategy(compiled_trace=False), REFERENCE):
        routing.TRACE_CACHE.clear()
        with forced(strategy):
            again, again_stats = reduce.block_allreduce(values, "sum", (10, 12))
        np.testing.assert_array_equal(again, out)
        for name in ("cycles", "instructions", "op_counts", "global_bytes", "link_words", "busy", "stall"):
            np.testing.assert_array_equal(getattr(again_stats, name), getattr(stats, name), err_msg=name)


def test_kernel_module_is_numba():
    assert hasattr(trace_kernels.trace_routes, "py_func")


@pytest.mark.parametrize("detour", [1, 5])
def test_allreduce_on_a_wafer_with_detours_same_under_both_traces(detour):
    """Links bent around dead PEs: per-PE hop cycles, which the compiled trace adds as the NumPy one."""
    import wafersim as ws

    spec = ws.WaferSpec(width=9, height=6, spare_cols=1, defects=[(4, 2), (2, 4)], detour_cycles_per_hop=detour)
    values = rng.random((6, 9), dtype=np.float32)
    runs = []
    for strategy in (Strategy(), Strategy(compiled_trace=False)):
        routing.TRACE_CACHE.clear()
        with forced(strategy):
            runs.append(reduce.block_allreduce(values, "sum", (9, 6), ws.Device(spec)))
    (out, stats), (again, again_stats) = runs
    np.testing.assert_array_equal(again, out)
    for name in ("cycles", "instructions", "busy", "stall", "link_words", "detour_word_hops"):
        np.testing.assert_array_equal(getattr(again_stats, name), getattr(stats, name), err_msg=name)
