"""sim/fabric.py: FIFO value rings only as deep as the queues they hold, against plain Python queues."""
from collections import deque

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import heat
from wafersim.sim.fabric import Fifo


def push(fifo: Fifo, pe: int, value: int) -> None:
    """Push one word as the engine does: deepen the ring first, then write the word's value slot."""
    if fifo.shallow:
        fifo.make_room(int(fifo.pushed[pe] - fifo.popped[pe]) + 1)
    fifo.value.scatter(np.array([fifo.value_slots(int(fifo.pushed[pe]))]), np.array([pe]), np.int32(value))
    fifo.pushed[pe] += 1


def pop(fifo: Fifo, pe: int) -> int:
    word = int(fifo.popped[pe])
    fifo.popped[pe] += 1
    return int(fifo.value[int(fifo.value_slots(word))][pe])


@pytest.mark.parametrize("seed", range(4))
def test_value_ring_deepens_without_losing_queued_words(seed):
    rng = np.random.default_rng(seed)
    depth, pes = 16, 5
    fifo = Fifo(depth, pes, np.float32)
    queues = [deque() for _ in range(pes)]
    popped_seen, popped_expected = [], []
    for step in range(600):
        pe = int(rng.integers(pes))
        # bursts of pushes at times: queues grow to various depths, up to the FIFO's
        if rng.random() < 0.55 and len(queues[pe]) < depth:
            value = int(rng.integers(-2**31, 2**31))
            push(fifo, pe, value)
            queues[pe].append(value)
        elif queues[pe]:
            popped_seen.append(pop(fifo, pe))
            popped_expected.append(queues[pe].popleft())
        for p in range(pes):
            assert list(fifo.queued_values(p)) == list(queues[p])
    assert popped_seen == popped_expected
    deepest = fifo.value_depth
    assert 2 < deepest <= depth  # (the queues did grow past the first rows)
    # a checkpoint's full-depth layout round-trips
    times = np.stack([fifo.time[s] for s in range(depth)])
    back = Fifo.restore(fifo.values_by_slot(), times, fifo.pushed, fifo.popped, np.float32)
    for p in range(pes):
        assert list(back.queued_values(p)) == list(queues[p])


def test_value_ring_grows_only_as_far_as_the_deepest_queue():
    fifo = Fifo(16, 3, np.float32)
    for value in range(3):  # three words queued at PE 1: the ring doubles 1 -> 2 -> 4
        push(fifo, 1, value)
    assert fifo.value_depth == 4 and fifo.shallow
    assert list(fifo.queued_values(1)) == [0, 1, 2]
    for _ in range(3):
        pop(fifo, 1)
    for value in range(40):  # one word at a time: no deeper
        push(fifo, 2, value)
        assert pop(fifo, 2) == value
    assert fifo.value_depth == 4


def test_a_stencil_keeps_one_value_row_per_fifo_and_matches_numpy(monkeypatch):
    """The heat kernel pops every word before the next arrives: its FIFOs keep one value row, not 16."""
    from wafersim.kernels import reference
    from wafersim.sim.wave import WaveSim
    seen: list[dict] = []
    accumulate = WaveSim._accumulate

    def record_fifos(sim):  # the FIFOs as the wave leaves them (the engine drops them right after)
        seen.append(dict(sim.fifos))
        accumulate(sim)

    monkeypatch.setattr(WaveSim, "_accumulate", record_fifos)
    u = np.random.default_rng(1).random((6, 8), dtype=np.float32)
    result, _ = heat.heat(u, 0.1, 5, ws.Device(ws.WaferSpec(width=8, height=6)))
    np.testing.assert_array_equal(result, reference.heat(u, 0.1, 5, order=reference.ORDER_API))
    (fifos,) = seen
    assert len(fifos) == 4
    assert all(fifo.value_depth == 1 and fifo.depth == 16 for fifo in fifos.values())
