"""Racecheck for routes: a route change at a router against a word of its channel passing that router.

The simulator reads a router's route when it runs a send (`sim.routed`: the word's whole path is fixed
then), and applies a `route` instruction at once, in the order it runs PEs. On hardware a word takes the
route each router holds when the word passes it. The two agree unless a route change and a word of its
channel passing its router run in the simulator in the other order than their cycles say: a send the
simulator ran first whose word passes the router at or after the change's cycle (it took the old route,
the hardware the new one), or a send it ran after the change whose word passes the router before it (the
new route, where the hardware takes the old). Those are the misorders found, exactly: each wave keeps a `RouteWatch` of every rule a `route`/`routr` changed (router, input port,
old and new rule, cycle, pc) and every routed send step (the rows of the route table its words took, the
first and last word's departure), each numbered in the order the simulation ran it. When the wave ends
(or fails), `route_hazards` follows each word to the routers on its path where some rule changed, takes
the output ports the simulation used there (from the table: the links it left by, and the ramp where it
was delivered), and compares them with the rule in force at the cycle the word passed (the rule after the
last change before that cycle; a change at that very cycle, or between a step's first and last word, with
another rule makes it a hazard too: the hardware may do either).

A change that leaves the rule as it was is no change, and a PE's own words do not race with its own
router's changes (program order: a PE that clears its rule from the ramp right after its last send, as
docs/routes.md advises, is clean even where the ramp's latency has the word reach its router after the
change's cycle). A barrier orders a route change against sends only
through the cycles it gives them (a word sent after the barrier passes after the change made before it),
so the documented patterns (change routes after `ws.syncthreads()`, or before any send of the channel)
report nothing, and a word still on its way across a barrier is reported where the change really misses it.
The watch runs in every launch of a program that changes routes (`changes_routes`), racecheck or not:
under racecheck it reports every misorder found; without it, a strict one (`strictly_misordered`: not a
tie, which the hardware may order either way) stops the launch with a `RouteError` (`route_order`). A
program that never changes routes (the library's collectives and kernels declare theirs) has no watch: the
executors test one attribute per routed send step. Every change is seen: a kernel that changes routes
runs its `route`s in the NumPy run loop only (the compiled interpreter leaves `route` to it and does not run
such kernels, `compiled.stepper`; batched waves refuse them, `batching`), which tells a watched one the issue
cycles its lanes owe (`WaveSim._run_lanes`). Stream pumps, which move a routed stream's words in bulk, are off
in a watched wave (`stream_pump`). A long wave's watch is settled at barriers (`RouteWatch.settle`): the
send steps whose words have passed are analysed then and dropped, and the changes before them reduced to the
rule in force, which bounds its memory without changing what it finds.
"""
from __future__ import annotations

import numpy as np

from ..isa.opcodes import RAMP
from .deliveries import Deliveries
from .routing import N_PORTS, OPPOSITE
from .distinct import distinct


#: the instructions that change a router's rules
ROUTE_CHANGING_OPS = ("route", "routr")
#: rules changed plus send rows a `RouteWatch` keeps before a barrier settles it (a few MB of arrays)
SETTLE_AT = 1 << 16


def changes_routes(decoded: dict) -> bool:
    """Whether a program (its decoded instructions, pc -> `Instr`) changes routes: its waves keep a
    `RouteWatch` (else its routed words need no watching)."""
    return any(instr.op in ROUTE_CHANGING_OPS for instr in decoded.values())


def strictly_misordered(found: dict) -> bool:
    """Whether a misordered pair of `route_hazards` gives some word another route than the hardware's for
    certain: the simulation ran the send first and the change comes strictly before a word of it passes
    (strictly before the last one's pass), or it ran the change first and the change comes strictly after
    a word passes (the first one's). A change at the very cycle of the word's pass is a race the hardware
    may settle either way: racecheck reports it, nothing else does."""
    if found["send_seq"] < found["change_seq"]:
        return found["change_cycle"] < found["last_pass_cycle"]
    return found["change_cycle"] > found["pass_cycle"]


class RouteWatch:
    """A wave's route changes and routed send steps, numbered in the order the simulation ran them."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.seq = 0
        #: per `route` that changed rules, arrays with one entry per rule changed: (channel, router PE, input port,
        #: old mask, new mask, cycle, pc, seq) (arrays, not a tuple per rule: a block's routes rebuilt at every
        #: step of a loop change thousands of rules, and the watch runs in every launch that changes routes)
        self.changes: list[tuple[np.ndarray, ...]] = []
        #: per send step: (channel, table, rows, first departures, last departures, send pc, seq)
        self.sends: list[tuple[int, Deliveries, np.ndarray, np.ndarray, np.ndarray, int, int]] = []
        self.send_pc = -1  # the pc of the routed send running (`RoutedExchangeMixin._routed_send` sets it)
        #: the channels some `route`/`routr` of the program changes (a word of another channel races with none:
        #: its sends are not kept, which bounds the watch's memory by the sends of those channels)
        self.channels = frozenset(ins.ch for ins in sim.launch.decoded.values() if ins.op in ROUTE_CHANGING_OPS)
        self.analysed = False  # (`RaceChecker.wave_done` or `RouteOrderCheck.wave_done` has looked at it)
        #: the misorders of the send steps `settle` analysed and dropped (`route_hazards` adds them)
        self.settled: list[dict] = []
        self._changes_settled = 0  # (`changes` entries when `settle` last left one per rule)
        self.kept = 0  # rules changed and send rows kept (`settle`'s measure of the watch's memory)
        self.settle_at = SETTLE_AT  # (`kept` at which a barrier calls `settle`)

    def changing(self, channel: int, pes: np.ndarray) -> np.ndarray:
        """The channel's rules at `pes` before a change ((5, len(pes)), a copy: fancy indexing)."""
        return self.sim.routes.channel(channel)[:, pes]

    def changed(self, channel: int, pes: np.ndarray, before: np.ndarray, pc: int, owed: float, cost: float) -> None:
        """The `route` at `pc`, of cost `cost`, set the rules of `pes` (`before`: `changing`'s copy), whose lanes
        owed `owed` issue cycles before it (the NumPy run loop settles them only at a timing instruction: it
        runs a watched `route` as one, without settling them, `WaveSim._run_lanes`)."""
        after = self.sim.routes.channel(channel)[:, pes]
        port, lane = np.nonzero(before != after)
        if not len(port):
            return
        cycle = self.sim.cycle[pes[lane]].astype(np.float64) + owed + cost  # (its issue's end, as a global access's)
        self.seq += 1
        k = len(port)
        self.kept += k
        self.changes.append((np.full(k, channel, dtype=np.int64), pes[lane].astype(np.int64), port.astype(np.int64),
                             before[port, lane].astype(np.int64), after[port, lane].astype(np.int64), cycle,
                             np.full(k, pc, dtype=np.int64), np.full(k, self.seq, dtype=np.int64)))

    def sent(self, channel: int, table: Deliveries, rows: np.ndarray, first, last) -> None:
        """Senders (rows of `table`) sent words departing from `first` to `last` (per sender)."""
        if channel not in self.channels:
            return
        self.seq += 1
        first = np.array(first, dtype=np.float64).reshape(-1)
        last = np.array(last, dtype=np.float64).reshape(-1)
        self.kept += len(last)
        self.sends.append((channel, table, np.array(rows, dtype=np.int64).reshape(-1), first, last,
                           self.send_pc, self.seq))


    def settle(self, earliest: float) -> None:
        """Bound the watch's memory (a kernel that rebuilds routes at every step of a long loop would keep
        every step's sends and changes): `earliest` is a cycle no instruction still to run in the wave comes
        before (the least clock of the PEs that have not halted, after a barrier's release), so every change
        to come has its cycle at or after it. A send step whose words have all passed their routers strictly
        before it can then be misordered with no change to come: its misorders (against the changes so far)
        are found now and kept in `settled`, and the step dropped. Once no send step is left and every change
        so far comes at or before `earliest`, every word to come passes after all of them, so of those only
        the last of each rule (the rule in force) is kept. `route_hazards` finds the same misorders after as
        before. A barrier calls it once `kept` reaches `settle_at` (at least `SETTLE_AT`, and twice what the
        last call left: each call analyses many steps at once, as the wave's end would), which bounds the
        watch's memory in a wave whose barriers find its words delivered."""
        self._settle(earliest)
        self.kept = sum(len(c[0]) for c in self.changes) + sum(len(send[2]) for send in self.sends)
        self.settle_at = max(SETTLE_AT, 2 * self.kept)

    def _settle(self, earliest: float) -> None:
        if self.sends:
            passed_by = _passed_by(self.sends, self.sim.region, self.sim.spec.ramp_latency)
            done = [send for send, last_pass in zip(self.sends, passed_by) if last_pass < earliest]
            if done:
                self.settled += route_hazards(self, done, settled=False)
                self.sends = [send for send, last_pass in zip(self.sends, passed_by) if not last_pass < earliest]
        if (self.sends or len(self.changes) <= 1 or len(self.changes) == self._changes_settled
                or max(float(c[5].max()) for c in self.changes) > earliest):
            return
        columns = [np.concatenate(c) for c in zip(*self.changes)]
        channel, pe, port, seq = columns[0], columns[1], columns[2], columns[7]
        key = (channel * N_PORTS + port) * self.sim.region.n + pe
        order = np.lexsort((seq, key))
        last = order[np.r_[key[order][1:] != key[order][:-1], True]]  # (each rule's last change, by seq)
        self.changes = [tuple(column[last] for column in columns)]
        self._changes_settled = 1


def _passed_by(sends: list, region, ramp_latency: float) -> list[float]:
    """Per send step of a `RouteWatch`, a cycle by which all its words have passed every router of their paths
    (its last departure plus the longest path of its table)."""
    longest: dict[int, float] = {}
    out = []
    for _, table, _, _, last, _, _ in sends:
        if id(table) not in longest:
            longest[id(table)] = float(_visits(table, region, ramp_latency)[3].max(initial=0.0))
        out.append(float(last.max(initial=-np.inf)) + longest[id(table)])
    return out


def _visits(table: Deliveries, region, ramp_latency: float) -> tuple[np.ndarray, ...]:
    """Per row of `table`, the routers its words pass, as compressed rows: (start, PE, input port, cycles
    after departure, output ports the words left by there as a mask (bit 4: delivered to that PE))."""
    n = region.n
    rows = len(table.sources)
    l_row = np.repeat(np.arange(rows), np.diff(table.link_start))
    d_row = np.repeat(np.arange(rows), np.diff(table.start))
    link_pe, link_dir = table.link_pe, table.link_dir.astype(np.int64)
    # Routers entered by a link: the neighbour the link leads to, by the opposite port, a hop later.
    hop = np.zeros(len(link_pe))
    nb = np.zeros(len(link_pe), dtype=np.int64)
    port = np.zeros(len(link_pe), dtype=np.int64)
    for d in range(4):
        on = link_dir == d
        if not on.any():
            continue
        step = region.hop_cycles(d)
        hop[on] = step if np.isscalar(step) else np.asarray(step)[link_pe[on]]
        nb[on] = link_pe[on] + region.offset(d)
        port[on] = OPPOSITE[d]
    v_row = np.concatenate([np.arange(rows), l_row])
    v_pe = np.concatenate([table.sources.astype(np.int64), nb])
    v_port = np.concatenate([np.full(rows, RAMP, dtype=np.int64), port])
    v_lat = np.concatenate([np.full(rows, float(ramp_latency)), table.link_offset + hop])
    # The outputs each (row, router) used: its links out, and the ramp where the row delivers there.
    out_key = np.concatenate([l_row * n + link_pe, d_row * n + table.dest])
    out_bit = np.concatenate([np.left_shift(1, link_dir), np.full(len(d_row), 1 << RAMP, dtype=np.int64)])
    used = np.zeros(len(v_row), dtype=np.int64)
    if len(out_key):
        order = np.argsort(out_key, kind="stable")
        keys, bits = out_key[order], out_bit[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        unique, merged = keys[starts], np.bitwise_or.reduceat(bits, starts)
        at = np.minimum(np.searchsorted(unique, v_row * n + v_pe), len(unique) - 1)
        used = np.where(unique[at] == v_row * n + v_pe, merged[at], 0)
    order = np.argsort(v_row, kind="stable")
    start = np.r_[0, np.cumsum(np.bincount(v_row, minlength=rows))]
    return start, v_pe[order], v_port[order], v_lat[order], used[order]


def _rule_outputs(mask: np.ndarray) -> np.ndarray:
    """The output ports of rules (bit 5 alone: a rule that drops its words, 0 outputs), -1 for no rule (a
    word arriving there is an error on hardware)."""
    mask = np.asarray(mask, dtype=np.int64)
    return np.where(mask == 0, -1, mask & ((1 << N_PORTS) - 1))


def route_hazards(watch: RouteWatch, sends: list | None = None, settled: bool = True) -> list[dict]:
    """The misordered (route change, word passing its router) pairs of a wave, one dict per word pass found
    (the change's PE, pc, cycle and seq; the sender's PE, send pc, the pass cycle and the send's seq; the
    channel and whether the simulation ran the send first), in no particular order: those of `sends` (the
    watch's own by default), with those `RouteWatch.settle` found (`settled`)."""
    found = list(watch.settled) if settled else []
    sends = watch.sends if sends is None else sends
    if not watch.changes or not sends:
        return found
    sim = watch.sim
    region, n = sim.region, sim.region.n
    c_channel, c_pe, c_port, c_old, c_new, c_cycle, c_pc, c_seq = (np.concatenate(c) for c in zip(*watch.changes))
    c_key = (c_channel * N_PORTS + c_port) * n + c_pe
    order = np.lexsort((c_seq, c_key))  # (a router's changes are its PE's, in program order: cycles ascend)
    c_key, c_cycle, c_pc, c_seq, c_pe = c_key[order], c_cycle[order], c_pc[order], c_seq[order], c_pe[order]
    c_old, c_new = _rule_outputs(c_old[order]), _rule_outputs(c_new[order])
    changed_keys = distinct(c_key)
    visits_of: dict[int, tuple[np.ndarray, ...]] = {}
    parts = []
    changed_channels = set(c_channel.tolist())
    for channel, table, rows, first, last, pc, seq in sends:
        if channel not in changed_channels:
            continue
        visits = visits_of.get(id(table))
        if visits is None:
            visits = visits_of[id(table)] = _visits(table, region, sim.spec.ramp_latency)
        start, v_pe, v_port, v_lat, used = visits
        counts = start[rows + 1] - start[rows]
        lane = np.repeat(np.arange(len(rows)), counts)
        entry = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + start[rows][lane]
        key = (channel * N_PORTS + v_port[entry]) * n + v_pe[entry]
        # (a PE's own words and its own router's changes are in its program order, whatever the ramp's
        # latency: a PE that clears its rule from the ramp right after its last send does not race)
        hit = np.isin(key, changed_keys) & (v_pe[entry] != table.sources[rows[lane]])
        if not hit.any():
            continue
        lane, entry, key = lane[hit], entry[hit], key[hit]
        parts.append((key, first[lane] + v_lat[entry], last[lane] + v_lat[entry], used[entry],
                      table.sources[rows[lane]].astype(np.int64), np.full(len(key), pc), np.full(len(key), seq)))
    if not parts:
        return found
    key, pass_first, pass_last, used, s_pe, s_pc, s_seq = (np.concatenate(p) for p in zip(*parts))
    first_of = np.searchsorted(c_key, key, "left")
    end_of = np.searchsorted(c_key, key, "right")
    by_key = np.argsort(key, kind="stable")  # (the passes of each changed rule, without a scan per rule)
    bounds = np.flatnonzero(np.r_[True, key[by_key][1:] != key[by_key][:-1], True])
    for lo_at, hi_at in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        on = by_key[lo_at:hi_at]
        k = key[on[0]]
        a, b = int(first_of[on[0]]), int(end_of[on[0]])
        t, new, seq = c_cycle[a:b], c_new[a:b], c_seq[a:b]
        lo = np.searchsorted(t, pass_first[on], "left")  # changes before the first word passes
        hi = np.searchsorted(t, pass_last[on], "right")  # ... up to the last word's pass, included
        before = np.where(lo > 0, new[np.maximum(lo - 1, 0)], c_old[a])  # the rule in force as it passes
        ok = before == used[on]
        # Changes while the words pass (a stream's words, or one word at the change's very cycle) must all
        # leave the rule the simulation used (rare: a loop over those only).
        for j in np.flatnonzero(ok & (hi > lo)):
            ok[j] = bool((new[lo[j]:hi[j]] == used[on][j]).all())
        for j in np.flatnonzero(~ok).tolist():
            i = on[j]
            if before[j] != used[i] and lo[j] > 0 and seq[lo[j] - 1] > s_seq[i]:
                c = lo[j] - 1  # run after the send, in force before the word passed: it missed the word
            elif before[j] != used[i] and lo[j] < len(t) and seq[lo[j]] < s_seq[i]:
                c = lo[j]  # run before the send, in force only after the word passed: it caught it
            else:  # the first change while the words pass that sets another rule (or the nearest one)
                inside = [m for m in range(lo[j], hi[j]) if new[m] != used[i]]
                c = inside[0] if inside else min(max(lo[j] - 1, 0), len(t) - 1)
            # The word named: the first, but for a send run first that a change comes while its words pass,
            # the last, which passes after the change (those before it took the old route on hardware too)
            named = pass_last[i] if s_seq[i] < seq[c] and t[c] >= pass_first[i] else pass_first[i]
            found.append({"channel": int(k // n // N_PORTS), "router": int(c_pe[a + c]), "change_pc": int(c_pc[a + c]),
                          "change_cycle": float(t[c]), "change_seq": int(seq[c]), "sender": int(s_pe[i]),
                          "send_pc": int(s_pc[i]), "pass_cycle": float(named),
                          "last_pass_cycle": float(pass_last[i]), "send_seq": int(s_seq[i])})
    return found
