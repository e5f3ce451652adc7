"""A scalar routed send from one PE (`send` through the router, one sender in the group): the NumPy
path's arithmetic (`routed.RoutedExchangeMixin._routed_send`) as compiled passes over the sender's
receivers and links, which are contiguous runs of its `Deliveries` row, instead of expanded index arrays,
gathers and scatters over them (a block-wide broadcast reaches the whole wafer: a million receivers).

It covers the common case only, and returns None (the NumPy path then runs the send, and raises what it
raises) otherwise: a receiver whose FIFO is full, receivers at different word numbers (their slots
differ), none at all, a tracer, a row whose receivers or links are not all distinct (sequential updates
would then differ from NumPy's fancy assignment), or a word that would arrive before one already queued
(the NumPy path's `RouteError`). Nothing is changed before those checks pass, so the fallback starts
from the same state. Switched by `Strategy.routed_one`.
"""
from __future__ import annotations

import numpy as np

from ..isa.encoding import Instr
from .fabric import Fifo, compiled_movers
from .lanes import Lanes
from .deliveries import Deliveries


def send_from_one(wave, ins: Instr, next_pc: int, cost: float, L: Lanes, table: Deliveries, rows: np.ndarray,
                  fifo: Fifo) -> list[tuple] | None:
    """Continuations of the send of `L` (one PE, row `rows[0]` of `table`) on `fifo`, or None."""
    runs = table.one_source(int(rows[0])) if wave.tracer is None else None
    if runs is None or not len(runs[0]):
        return None
    kernels = compiled_movers()
    dest, latency, *links = runs
    word, most = kernels.routed_one_word(dest, fifo.pushed, fifo.popped, fifo.depth)
    if word < 0:
        return None
    if fifo.shallow:  # (as the NumPy path: each receiver gets one word)
        fifo.make_room(1 + most)
    time_row, value_row = fifo.time[word % fifo.depth], fifo.value[fifo.value_slots(word)]
    src = L.idx
    ready = wave.cycle[src] + cost
    depart = ready.copy()
    # word k may reach each receiver only once word k - depth has left its FIFO there
    np.maximum(depart, np.array([kernels.routed_one_free(time_row, dest, latency)]), out=depart)
    if len(links[0]):
        if wave.link_busy is None:
            wave.link_busy = wave._new_link_busy()
        leaves = float(depart[0])
        delay = kernels.routed_one_delay(wave.link_busy, *links, wave.n, leaves, leaves, wave.word_time)
    else:
        delay = 0.0
    departed = depart + np.array([delay])  # (`depart += delay`, as the NumPy path, once the links are reserved)
    departed = departed.astype(depart.dtype)
    previous, by = wave._last_arrival(ins.ch)
    if kernels.routed_one_early(previous, dest, float(departed[0]), latency):
        return None  # (the NumPy path raises the RouteError)
    if len(links[0]):
        kernels.routed_one_reserve(wave.link_busy, *links, wave.n, leaves, leaves, wave.word_time, delay)
    depart[:] = departed
    if wave.route_watch is not None:
        wave.route_watch.sent(ins.ch, table, rows, depart, depart)
    kernels.routed_one_deliver(dest, latency, float(depart[0]), int(wave.regs[ins.a, src[0]]), int(src[0]),
                               previous, by, time_row, value_row, fifo.pushed)
    sender = Lanes(wave.n, idx=src)
    wave._add_stall(sender, depart, ready)
    wave.cycle[src] = depart + wave.word_time
    wave._injected(ins.ch)[src] += 1
    wave._progress(fifo, True, None if len(dest) > wave.n // 16 else dest)  # (sorted)
    if wave.strategy.compiled_broadcast and wave.route_watch is None:  # (its next sends: compiled, `routed_words`)
        wave._checked_sender(ins.ch, int(src[0]), runs)
    return [(next_pc, Lanes.from_indices(wave.n, src), False)]
