"""A routed vector send's step as one compiled call (`wafersim.sim.routed_step_kernels`,
`Strategy.fused_routed_step`) against the same step as separate compiled passes and NumPy between them
(`Strategy.routed_steps` alone) and the NumPy path (neither): the same words, cycles, statistics and errors."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import routed_step_kernels, stream_pump_steps
from wafersim.sim.strategy import Strategy, forced

# (NumPy executors throughout: the per-PE interpreter would run small groups itself)
FUSED = Strategy(compiled=False)
UNFUSED = Strategy(compiled=False, fused_routed_step=False)
NUMPY_PATH = Strategy(compiled=False, routed_steps=False, fused_routed_step=False)
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")
STAT_SCALARS = ("cycles", "instructions", "op_counts", "flops", "vector_elements")


def counted(monkeypatch) -> list[int]:
    """Calls of the fused step (senders per call), in either form (`routed_send_step`, or
    `stream_pump_steps.send_step_in_pe_order` where each receiver appears once, `send_step_undelivered` where
    a stream pump may follow: `Strategy.pump_first_step`)."""
    calls: list[int] = []
    for module, name in ((routed_step_kernels, "routed_send_step"), (stream_pump_steps, "send_step_in_pe_order"),
                         (stream_pump_steps, "send_step_undelivered")):
        step = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *args, step=step: calls.append(len(args[0])) or step(*args))
    return calls


def assert_same(runs: list) -> None:
    (ref, ref_stats), *others = runs
    for out, stats in others:
        np.testing.assert_array_equal(out.view(np.int32), ref.view(np.int32))
        for name in STAT_SCALARS:
            assert getattr(stats, name) == getattr(ref_stats, name), name
        for name in STAT_ARRAYS:
            np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


@pytest.mark.parametrize("p, tile, depth", [(12, 8, None), (6, 4, 3), (5, 6, 5)])
def test_gemm_panels_stream_the_same_fused_or_not(p, tile, depth, monkeypatch):
    """SUMMA's row and column buses: multicasts of many words in FIFO-deep steps (FIFOs shallower than a
    tile row too: back-pressure inside every step), senders whose steps move different counts."""
    rng = np.random.default_rng(p * tile)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    spec = ws.WaferSpec(width=p, height=p) if depth is None else ws.WaferSpec(width=p, height=p, fifo_depth=depth)
    calls = counted(monkeypatch)
    runs = []
    for strategy in (NUMPY_PATH, UNFUSED, FUSED):
        with forced(strategy):
            runs.append(gemm.gemm(a, b, p, device=ws.Device(spec)))
    assert calls and max(calls) == p  # (a bus's senders: one per row or column)
    assert_same(runs)
    np.testing.assert_allclose(runs[0][0], a.astype(np.float64) @ b, rtol=1e-4)


TWO_VECTOR_SENDERS = """
.name both
.sram 4
    sreg r1, tid.x
    seqi r2, r1, 0
    seqi r3, r1, 4
    or r2, r2, r3
    bz r2, listen
    li r5, 0
    li r6, 3
    sendv ramp, 1, r5, r6
    halt
listen:
    recv r4, ramp, 1
    recv r4, ramp, 1
    recv r4, ramp, 1
    recv r4, ramp, 1
    recv r4, ramp, 1
    recv r4, ramp, 1
    halt
"""


def test_a_vector_word_that_would_overtake_a_queued_one_raises_the_same_error(monkeypatch):
    """PEs 0 and 4 send three words each at once on a row bus: PE 1 hears PE 0 first, PE 3 hears PE 4
    first, an order the simulation cannot keep (`RoutedExchangeMixin._check_arrival_order`)."""
    calls = counted(monkeypatch)
    messages = []
    for strategy in (NUMPY_PATH, UNFUSED, FUSED):
        with forced(strategy), pytest.raises(ws.RouteError, match="before a word from") as error:
            ws.Device(ws.WaferSpec(width=5, height=1)).launch(ws.assemble(TWO_VECTOR_SENDERS), 1, (5, 1), [],
                                                                routes=[ws.routes.row_bus(1)])
        messages.append(str(error.value))
    assert calls
    assert messages[0] == messages[1] == messages[2]
