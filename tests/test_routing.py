"""Sender sets of a merging channel (a bus) cut from one trace of all its sources (`RouteTables.whole_buses`,
with `Strategy.routed_steps`) against tracing each set on its own (`routing.trace`)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import routing
from wafersim.sim.strategy import Strategy, forced

rng = np.random.default_rng(3)


@pytest.fixture(scope="module")
def bus_tables():
    """The route tables of a small GEMM's wave (a row bus on channel 0, a column bus on channel 1)."""
    tables = []
    original = routing.RouteTables.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        tables.append(self)

    routing.RouteTables.__init__ = init
    try:
        p = 6
        a, b = (rng.random((p * 4, p * 4), dtype=np.float32) for _ in range(2))
        gemm.gemm(a, b, p)
    finally:
        routing.RouteTables.__init__ = original
    assert tables and tables[0].whole_buses
    return tables[0]


def assert_same_deliveries(got: routing.Deliveries, expected: routing.Deliveries) -> None:
    for field in dataclasses.fields(routing.Deliveries):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


@pytest.mark.parametrize("channel", [0, 1])
def test_bus_sender_sets_cut_from_one_trace_equal_their_own_traces(bus_tables, channel):
    region, masks = bus_tables.region, bus_tables.channel(channel)
    n = region.n
    sets = [np.arange(n)[k::6] for k in range(6)] + [np.arange(n)[6 * k:6 * k + 6] for k in range(6)]
    sets += [np.sort(rng.choice(n, size, replace=False)) for size in (1, 5, 17)]
    sets += [np.array([7, 3, 3])]  # unsorted, repeated: traced as its sorted distinct PEs
    for pes in sets:
        cut = bus_tables._cut_from_whole(channel, masks, pes)
        assert cut is not None
        expected = routing.trace(region, masks, bus_tables.ramp_latency, channel, pes, merge=True)
        assert_same_deliveries(cut, expected)


def test_a_set_with_a_pe_outside_the_whole_trace_is_traced_on_its_own(bus_tables):
    masks = bus_tables.channel(0).copy()
    masks[routing.RAMP, 4] = 0  # PE 4 takes nothing from its ramp: its set needs its own trace (and message)
    tables = routing.RouteTables(bus_tables.region, bus_tables.ramp_latency, {}, whole_buses=True)
    tables.masks[0], tables.merge = masks, {0}
    assert tables._cut_from_whole(0, masks, np.array([1, 4])) is None
    with pytest.raises(ws.RouteError, match="no route from the ramp"):
        tables.deliveries(0, np.array([1, 4])).check()
    assert tables._cut_from_whole(0, masks, np.array([1, 2])) is not None


def test_gemm_traces_each_bus_once_with_whole_buses(monkeypatch):
    traced = []
    original = routing.trace
    monkeypatch.setattr(routing, "trace", lambda *args, **kwargs: traced.append(len(args[4])) or original(*args, **kwargs))
    routing.TRACE_CACHE.clear()
    p = 5
    a, b = (rng.random((p * 4, p * 4), dtype=np.float32) for _ in range(2))
    runs = []
    for strategy in (Strategy(routed_steps=False), Strategy()):
        traced.clear()
        routing.TRACE_CACHE.clear()
        with forced(strategy):
            runs.append(gemm.gemm(a, b, p)[0])
        if strategy.routed_steps:
            assert len(traced) == 2  # one trace per bus, every sender set cut from it
        else:
            assert len(traced) >= 2 * p  # a trace per sender set: at least p per bus
    np.testing.assert_array_equal(runs[0], runs[1])
