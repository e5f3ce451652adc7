"""Sends through a PE's router along a channel's route (`send`/`sendv` with dir = ramp) and `route`.

A routed word is written, at send time, into the (ramp, channel) FIFO of every PE its route reaches
(`routing.trace`), arriving at departure + that PE's path latency. Back-pressure holds at every
receiver: word k may arrive only once word k - `fifo_depth` has been popped there, so it leaves no
earlier than that pop minus the path's latency, at the latest of its receivers (a multicast stalls on
its slowest branch). Words on their way sit in the routers of the path (about a word per hop of
buffering), so a long route still streams a word a cycle when its receivers keep up.
Receives are ordinary FIFO pops (`exchange`). Forwarding costs no PE instructions.
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import RouteError
from ..isa.encoding import Instr
from ..isa.opcodes import PORTS, RAMP
from ..isa.tree_routes import merge_order_hint
from .fabric import Fifo, compiled_movers
from .lanes import Lanes
from .routed_expansion import Expansion, expand_rows, per_lane
from .routed_one import send_from_one
from .deliveries import Deliveries
from .routing import ASSEMBLY_CLEAR_HINT, SENDERS_HINT, pe_names, with_launch_hint
from .streams import send_departures, waits_added


class RoutedExchangeMixin:
    """Routed send, vector send and `route` executors of `WaveSim`."""

    #: per channel, the routers (flat PE indices) where a `route`/`routr` ran in this wave (for `_late_rule_hint`)
    routes_ran: dict[int, np.ndarray] | None = None
    #: per channel, {PE: its word's receivers and links, `Deliveries.one_source`} of the single senders whose paths
    #: on the channel's current routes `routed_one.send_from_one` has checked and used (the compiled interpreter's
    #: routed sends, `Strategy.compiled_broadcast`); `checked_version` counts its changes
    checked_senders: dict[int, dict[int, tuple]] | None = None
    checked_version = 0

    def _checked_sender(self, channel: int, pe: int, runs: tuple) -> None:
        """PE `pe`'s word on `channel` took the paths `runs` (`send_from_one`, on the current routes)."""
        if self.checked_senders is None:
            self.checked_senders = {}
        senders = self.checked_senders.setdefault(channel, {})
        if pe not in senders:
            senders[pe] = runs
            self.checked_version += 1

    def _route(self, ins: Instr, lanes: Lanes, pc: int = -1, owed: float = 0.0) -> None:
        """Set the route rules of `lanes`' routers. `pc` and `owed` (the issue cycles the lanes owe before it:
        their cycle is `self.cycle` + `owed`) are given under racecheck's route watch only (`_run_lanes`)."""
        pes = lanes.indices()
        if ins.op == "routr":  # masks from registers, per PE (higher bits are ignored)
            rx, tx = self.regs[ins.a, pes] & 31, self.regs[ins.b, pes] & 63
        else:
            rx, tx = ins.a, ins.b
        self._count_routed_links(ins.ch)  # the words sent so far took the paths of the routes before
        if self.checked_senders and self.checked_senders.pop(ins.ch, None) is not None:
            self.checked_version += 1  # (paths to check again: the routes may change)
        if self.routes_ran is None:
            self.routes_ran = {}
        if ins.ch not in self.routes_ran:
            self.routes_ran[ins.ch] = np.zeros(self.n, dtype=bool)
        self.routes_ran[ins.ch][pes] = True
        watch = self.route_watch
        if watch is None:
            self.routes.set(ins.ch, pes, rx, tx)
        else:  # (racecheck: which rules changed, and when, `racecheck_routes`)
            before = watch.changing(ins.ch, pes)
            self.routes.set(ins.ch, pes, rx, tx)
            watch.changed(ins.ch, pes, before, pc, owed, self.launch.costs[ins.op])

    def _routed_rows(self, ins: Instr, lanes: Lanes) -> tuple[Deliveries, Lanes, np.ndarray]:
        """The paths of these lanes' words on the channel, the lanes in index form and their rows."""
        L = lanes.to_index_form(self.n)
        masks = self.routes.channel(ins.ch)
        no_rule = masks[RAMP][L.idx] == 0
        if no_rule.any():
            # (no rule anywhere: the usual cause is a launch without routes=, not a rule missing at a PE)
            unrouted = (f" (no PE has a route on channel {ins.ch}: pass one to the launch, routes=[ws.routes."
                        f"row_broadcast({ins.ch}, root=0)] or another of ws.routes, declare one in the kernel, "
                        f"ws.use_route({ins.ch}, \"row_bus\"), or set one with ws.route; docs/routes.md)"
                        if not masks.any() else "")
            if unrouted and ins.ch in self.routes.from_launch:  # (one was passed: it gives no PE a rule)
                unrouted = (f" (the launch's route for channel {ins.ch} gives no PE a rule: a custom route's "
                            f"rules must give the sending PEs a rule from ws.RAMP; docs/routes.md)")
            late = self._late_rule_hint(ins.ch, int(L.idx[no_rule][0]), RAMP)
            if late:  # (the kernel does set one: the hint says why it is not there yet, not how to give one)
                unrouted = ""
            raise self._lane_error(RouteError, f"send through the router on channel {ins.ch}, but the route of "
                                   f"channel {ins.ch} at these PEs takes nothing from the ramp (their own sends)"
                                   f"{unrouted}{late}", L, no_rule, channel=ins.ch)
        table = self.routes.deliveries(ins.ch, L.idx)
        self._cover_routed_path(table.longest)  # (its words' times stay exact: float64 first if they need it)
        kept = self.rows_kept
        if kept is not None and kept[0] is table and kept[1] is L.idx and kept[3]:
            return table, L, kept[2]  # (checked already: the same table, the same lanes)
        checked = table.__dict__.setdefault("_checked_rows", {})  # (a table never changes: the same lanes, the
        key = L.idx.tobytes()  # same rows, checked; a stencil's receivers wake in small sets, its senders with them)
        rows = checked.get(key)
        if rows is not None:
            self.rows_kept = (table, L.idx, rows, True)
            return table, L, rows
        rows = self._rows_of(table, L.idx)
        try:
            table.check(rows)
        except RouteError as error:
            missing = getattr(error, "missing_rule", None)
            late = self._late_rule_hint(ins.ch, *missing) if missing is not None else ""
            if late:  # (instead of "add it to the route there": the kernel does, too late for this send)
                error.args = (str(error).replace(" (add it to the route there)", "") + late, *error.args[1:])
            if ins.ch in self.routes.from_launch:  # (the fix is in the launch's route, not a ws.route)
                raise with_launch_hint(error)
            if self.program.from_assembly and SENDERS_HINT in str(error):  # the fix-it in the program's language
                error.args = (str(error).replace(SENDERS_HINT, SENDERS_HINT[:-1] + ASSEMBLY_CLEAR_HINT + ")"),
                              *error.args[1:])
            raise
        if len(checked) >= self.CHECKED_ROWS_KEPT:
            checked.clear()
        rows.setflags(write=False)  # (shared by every send of these lanes)
        checked[key] = rows
        self.rows_kept = (table, L.idx, rows, True)
        return table, L, rows

    def _late_rule_hint(self, channel: int, pe: int, port: int) -> str:
        """Where a send failed for want of a rule of `channel` from `port` at the router of PE `pe` (flat), and
        the program has a `route` that could set that rule (its rx takes `port`; any `routr`): a sentence naming
        them and saying why the rule was not there yet -- the simulator reads the routers' rules when it runs a
        send and runs PEs in its own order, so a rule set later in program order, or on another PE without a
        barrier between, is missing -- and what to do; else "". (The error alone said to add a rule the
        kernel does set.)"""
        ran = (self.routes_ran or {}).get(channel)
        if ran is not None and ran[pe]:  # (it ran one, which left no rule there: not a matter of order)
            return ""
        setters = sorted(pc for pc, ins in self.launch.decoded.items() if ins.ch == channel and (
            ins.op == "routr" or (ins.op == "route" and ins.a >> port & 1 and ins.b != 0)))
        if not setters:
            return ""
        places = []
        for pc in setters[:3]:
            where = self.program.source_of(pc)
            places.append(f"{where[0]}:{where[1]}" if where else f"pc {pc}")
        more = f" and {len(setters) - 3} more" if len(setters) > 3 else ""
        call = "`route`" if self.program.from_assembly else "ws.route"
        side = "its ramp (its own sends)" if port == RAMP else f"the {PORTS[port]}"
        router = pe_names(self.region, np.array([pe]))
        return (f"; the kernel sets a rule of channel {channel} from {side} with {call} at {', '.join(places)}"
                f"{more}, which {router} had not run when the simulator ran this send: it reads the rules of a "
                f"word's whole path when it runs the send, and runs PEs in its own order, not by their cycles, so "
                f"a rule set later in program order, or on another PE with no barrier before the send, is "
                f"missing. Set a channel's rules before its first send: the sender's before the send, "
                f"the other PEs' before a ws.syncthreads() that precedes it (or give the route at launch, "
                f"routes=[...], or declare it, ws.use_route; docs/routes.md \"Changing routes inside a kernel\")")

    #: (table, lanes' indices, their rows, whether checked) of the last `_rows_of`: a routed send's step looks
    #: its senders' rows up three times (the send, its stream step, the stream pump's test), each a binary
    #: search over the table's sources. A table is replaced, never changed, when its routes change
    #: (`RouteTables.set`), and the lanes' index arrays are never written: the same objects, the same rows.
    rows_kept: tuple | None = None

    def _rows_of(self, table: Deliveries, pes: np.ndarray) -> np.ndarray:
        """table.rows(pes), from `rows_kept` where these are the last table and lanes looked up."""
        kept = self.rows_kept
        if kept is not None and kept[0] is table and kept[1] is pes:
            return kept[2]
        rows = table.rows(pes)
        self.rows_kept = (table, pes, rows, False)
        return rows

    def _check_arrival_order(self, channel: int, dest: np.ndarray, source: np.ndarray, first: np.ndarray,
                             last: np.ndarray) -> None:
        """Words reach each receiver's FIFO in the order the simulation ran their sends; that must also be
        the order they arrive (`first`/`last`: arrival of this send's first/last word at each `dest`),
        else the hardware would deliver them otherwise (several sources merging on one channel)."""
        previous, by = self._last_arrival(channel)
        early = first < previous[dest]
        if early.any():
            i = int(np.flatnonzero(early)[0])
            raise RouteError(
                f"channel {channel}: a word from {self._coords(source[i:i + 1])[0]} reaches "
                f"{self._coords(dest[i:i + 1])[0]} at cycle {first[i]:,.0f}, before a word from "
                f"{self._coords(by[dest[i:i + 1]])[0]} already queued there (cycle {previous[dest[i]]:,.0f}); the "
                f"simulation keeps the order in which sends ran, the hardware the order of arrival: order the "
                f"senders (e.g. a barrier between them) or give them separate channels"
                f"{merge_order_hint(channel, dict(self.launch.program.routes).get(channel))}", channel=channel)
        previous[dest] = last
        by[dest] = source

    def _last_arrival(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        if channel not in self.last_arrival:
            self.last_arrival[channel] = (np.full(self.n, -np.inf), np.zeros(self.n, dtype=np.int64))
        return self.last_arrival[channel]

    #: Sender sets whose checked rows a table keeps (`_routed_rows`; then it starts afresh): the routed 25-point
    #: stencil's sends look up some 200 sets a channel, a row search and a check each (~14 us) every time.
    CHECKED_ROWS_KEPT = 1024
    EXPANSIONS_KEPT = 256  # sender sets whose expansions a wave keeps (then it starts afresh)
    #: A table of at most this many receivers and links keeps the expansions of its sender sets itself, up to
    #: `TABLE_EXPANSIONS` of them, so that a launch repeated (a trace is kept across launches, `routing`) finds
    #: them, their sorts and searches done: the library GEMM's 128 panels each have a table of their own, a
    #: few thousand entries, and recomputed them every launch. Larger tables keep them for one wave.
    TABLE_EXPANSION_ENTRIES = 1 << 16
    TABLE_EXPANSIONS = 4
    #: ... and more of them while they hold at most this many entries in all (some 100 bytes each, its derived
    #: arrays included): a stencil whose receivers wake in small sets as their words come (stencil25r: some
    #: 200 sender sets a channel, ~12,000 entries) finds each set's expansion on its next visit and launch,
    #: where 4 kept 1 visit in 13 (measured, stop 42: 5.0 -> 4.1-4.3 s CPU warm).
    TABLE_EXPANSION_BUDGET = 1 << 15

    def _expanded(self, table: Deliveries, rows: np.ndarray, links: bool = False) -> Expansion:
        """`Expansion` of these rows of `table`, from the table's or the wave's cache when these senders
        streamed before."""
        if len(table.dest) + len(table.link_pe) <= self.TABLE_EXPANSION_ENTRIES:
            cache = table.__dict__.setdefault("_expansions", {})
            key = (links, self.n, rows.tobytes())
            kept = cache.get(key)
            if kept is None:
                kept = Expansion(table, rows, links, self.n)
                entries = table.__dict__.get("_expansion_entries", 0) + len(kept.entry)
                if len(cache) >= self.TABLE_EXPANSIONS and entries > self.TABLE_EXPANSION_BUDGET:
                    cache.clear()
                    entries = len(kept.entry)
                cache[key] = kept
                table.__dict__["_expansion_entries"] = entries
            return kept
        cache = self.expansions
        key = (id(table), links, rows.tobytes())
        kept = cache.get(key)
        if kept is None or kept[0] is not table:
            if len(cache) >= self.EXPANSIONS_KEPT:
                cache.clear()
            kept = cache[key] = (table, Expansion(table, rows, links, self.n))  # (held: the key holds its id)
        return kept[1]

    #: racecheck's record of route changes and routed words (`racecheck_routes.RouteWatch`), else None
    route_watch = None

    def _routed_send(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        table, L, rows = self._routed_rows(ins, lanes)
        if self.route_watch is not None:  # (racecheck: the send whose steps run now)
            self.route_watch.send_pc = pc
        fifo = self._fifo(RAMP, ins.ch)
        if L.count > 1 and ins.ch in self.routes.merge and self._expanded(table, rows).shared:
            return self._routed_send_in_turn(pc, ins, next_pc, cost, L)
        if ins.op in ("sendv", "senda"):
            mover = functools.partial(self._routed_stream_step, table, ins.ch)
            return self._stream(pc, ins, next_pc, cost, L, 0, fifo, sending=True, mover=mover)
        if L.count == 1 and ins.op == "send" and self.strategy.routed_one:
            out = send_from_one(self, ins, next_pc, cost, L, table, rows, fifo)
            if out is not None:
                return out
        entry, lane = expand_rows(table.start, rows)
        dest = table.dest[entry]
        queued = fifo.pushed[dest] - fifo.popped[dest]
        full = queued >= fifo.depth
        blocked_lane = np.bincount(lane[full], minlength=len(rows)) > 0
        out = []
        if blocked_lane.any():
            keep = ~blocked_lane[lane]
            entry, dest, queued = entry[keep], dest[keep], queued[keep]
            lane = np.cumsum(~blocked_lane)[lane[keep]] - 1  # renumber the lanes that go
            out.append((pc, Lanes.from_indices(self.n, L.idx[blocked_lane]), True))
        src = Lanes(self.n, idx=L.idx[~blocked_lane])  # index form: its arrays are indexed by src.idx below
        if src.count:
            if fifo.shallow:  # (each receiver gets one word: one source per receiver in a send)
                fifo.make_room(1 + int(queued.max(initial=0)))
            word = fifo.pushed[dest]
            slot = word % fifo.depth
            ready = self.cycle[src.idx] + cost
            depart = ready.copy()
            # word k may reach each receiver only once word k - depth has left its FIFO there
            free = fifo.time.gather(slot, dest) - table.latency[entry]
            np.maximum(depart, per_lane(np.maximum, free, lane, len(depart), -np.inf), out=depart)
            depart += self._share_links(table, rows[~blocked_lane], depart, depart)
            arrival = depart[lane] + table.latency[entry]
            self._check_arrival_order(ins.ch, dest, src.idx[lane], arrival, arrival)
            if self.route_watch is not None:  # (racecheck: the words' departures, `racecheck_routes`)
                self.route_watch.sent(ins.ch, table, rows[~blocked_lane], depart, depart)
            fifo.value.scatter(fifo.value_slots(word), dest, self.regs[ins.a][src.idx][lane])
            fifo.time.scatter(slot, dest, arrival)
            fifo.pushed[dest] += 1
            self._add_stall(src, depart, ready)
            if self.tracer:
                self.tracer.record(src, "send", ready - cost, depart + self.word_time)
                self._trace_link_words(ins.ch, table, rows[~blocked_lane], depart,
                                       np.ones(len(depart), dtype=np.int64))
            self.cycle[src.idx] = depart + self.word_time
            self._injected(ins.ch)[src.idx] += 1
            # (each receiver appears once: one source per receiver in a send; many: wake all that wait)
            self._progress(fifo, True, None if len(dest) > self.n // 16 else np.sort(dest))
        return [(next_pc, Lanes.from_indices(self.n, src.idx), False)] + out

    def _routed_send_in_turn(self, pc: int, ins: Instr, next_pc: int, cost: float, L: Lanes):
        """Senders that share receivers on a merging channel, one after the other: earliest first, then
        by PE (each receiver's FIFO then holds their words in that order; `_check_arrival_order` refuses
        an order the hardware's arrival times would contradict). Rare, and a Python loop over them.

        A vector send's ranges are checked for every sender first, as `_stream` checks a group's: a sender
        whose range is outside SRAM raised after those before it had sent, and the scheduler, which runs the
        group's other lanes again without the failing one (`_stop_at_fault`), had them send their words twice
        (and a step's words held for the stream pump, `_first_step`, read by receivers before they landed)."""
        if ins.op in ("sendv", "senda"):
            self._stream_range(ins, L.to_index_form(self.n), "sendv")
        order = np.lexsort((L.idx, self.cycle[L.idx]))
        out = []
        for pe in L.idx[order]:
            out += self._routed_send(pc, ins, next_pc, cost, Lanes(self.n, idx=np.array([pe])))
        return out

    def _routed_stream_step(self, table: Deliveries, channel: int, L: Lanes, base: np.ndarray,
                            length: np.ndarray, offset: int, fifo: Fifo, cost: float, sending: bool,
                            latency) -> np.ndarray | None:
        """Move, per lane, as many words as every receiver of its route has room for (a `_stream` mover)."""
        done = self.progress[L.idx].astype(np.int64)
        rows = self._rows_of(table, L.idx)
        expansion = self._expanded(table, rows)
        lane, dest = expansion.lane, expansion.dest
        if self.strategy.routed_steps:  # (a route with no receivers never fills: the int64 maximum)
            room = compiled_movers().routed_room(fifo.pushed, fifo.popped, dest, lane, fifo.depth, len(L.idx))
        else:
            room = np.full(len(L.idx), np.iinfo(np.int64).max)
            free = fifo.depth - (fifo.pushed[dest] - fifo.popped[dest]).astype(np.int64)
            np.minimum(room, per_lane(np.minimum, free, lane, len(room), room[0], expansion.starts), out=room)
        count = np.minimum(length - done, room)
        can = count > 0
        if not can.any():
            return None
        if not can.all():
            pes, rows, done, count, base = L.idx[can], rows[can], done[can], count[can], base[can]
            expansion = self._expanded(table, rows)
            lane, dest = expansion.lane, expansion.dest
        else:
            pes = L.idx
        if fifo.shallow:
            fifo.make_room(int((fifo.pushed[dest] - fifo.popped[dest] + count[lane]).max(initial=0)))
        words = int(count.max())
        if (self.strategy.routed_steps and self.strategy.fused_routed_step and self.launch.whole_cycles
                and self.tracer is None and fifo.time.block is not None and fifo.value.block is not None):
            return self._fused_stream_step(table, channel, pes, rows, expansion, done, count, base, words, fifo,
                                           cost)
        columns = np.arange(words)
        valid = columns < count[:, None]
        ready = self.cycle[pes] + np.where(done == 0, cost, 0.0)
        first_word = fifo.pushed[dest].astype(np.int64)  # the number of each receiver's first word
        path_latency = expansion.latency  # (float64, from `routing.trace`)
        # Single-block FIFO fields (`fabric.SlotRows`): one compiled pass per direction, else NumPy.
        compiled = fifo.time.block is not None and fifo.value.block is not None
        if compiled:
            # The receivers in PE order (`Expansion.by_dest`) with `routed_steps`: the same writes, and each
            # lane's maxima over the same values (in another order, equal but for the sign of a zero, which the
            # `np.maximum` from +0.0 below erases; times are never NaN).
            order, by_dest, by_lane, by_latency = (expansion.by_dest if self.strategy.routed_steps else
                                                   (None, dest, lane, path_latency))
            by_word = first_word if order is None else first_word[order]
            free = compiled_movers().routed_slot_free(fifo.time.block, by_dest, by_lane, by_latency, by_word,
                                                      len(pes), words)
        else:
            slots = (first_word[:, None] + columns) % fifo.depth
            free = per_lane(np.maximum, fifo.time.gather_run(slots, dest) - path_latency[:, None], lane, len(pes),
                             -np.inf)  # (as in `_routed_send`)
        slot_free = np.zeros((len(pes), words), dtype=self.time_dtype)
        np.maximum(slot_free, free, out=slot_free)
        later = send_departures(ready, slot_free, self.word_time, self.launch.whole_cycles)
        later += self._share_links(table, rows, later[:, 0], later[np.arange(len(pes)), count - 1])[:, None]
        values = compiled_movers().gather_word_runs(self.sram, base + done, pes, count, words)
        previous, by = self._last_arrival(channel)
        if not self.strategy.routed_steps or compiled_movers().routed_arrivals(
                previous, by, fifo.pushed, dest, lane, pes, later, count, path_latency) >= 0:
            # (when the compiled pass finds a word arriving early it changes nothing: this raises the RouteError)
            count_d = count[lane]
            self._check_arrival_order(channel, dest, pes[lane], later[lane, 0] + path_latency,
                                      later[lane, count_d - 1] + path_latency)
            fifo.pushed[dest] += count_d.astype(fifo.pushed.dtype)
        # (the arrivals kept and the words counted into `pushed`; `first_word` holds the numbers before)
        if compiled:
            compiled_movers().routed_deliver(fifo.time.block, fifo.value.block, by_dest, by_lane, by_latency, by_word,
                                           values, later, count)
        else:
            numbers = first_word[:, None] + columns
            count_d = count[lane]
            fifo.value.scatter_run(fifo.value_slots(numbers), dest, values[lane], count_d)
            fifo.time.scatter_run(numbers % fifo.depth, dest, later[lane] + path_latency[:, None], count_d)
        last = later[np.arange(len(pes)), count - 1]
        self.stall[pes] = waits_added(self.stall[pes], later, last, ready, count, self.word_time, valid,
                                      self.launch.whole_cycles)
        if self.tracer:
            self.tracer.record(Lanes(self.n, idx=pes), "send", ready - np.where(done == 0, cost, 0.0),
                               last + self.word_time)
            self._trace_link_words(channel, table, rows, later[:, 0], count)
        self.cycle[pes] = last + self.word_time
        self.progress[pes] += count.astype(self.progress.dtype)
        self._injected(channel)[pes] += count
        if self.route_watch is not None:
            self.route_watch.sent(channel, table, rows, later[:, 0], last)
        return expansion.sorted_dest  # (each receiver once: one source per receiver in a send)

    def _fused_stream_step(self, table: Deliveries, channel: int, pes: np.ndarray, rows: np.ndarray,
                           expansion: Expansion, done: np.ndarray, count: np.ndarray, base: np.ndarray,
                           words: int, fifo: Fifo, cost: float) -> np.ndarray:
        """The rest of `_routed_stream_step` as one compiled call (`routed_step_kernels`; where each receiver
        appears once, `stream_pump_steps.send_step_in_pe_order`: the same stores, the FIFO slots in PE order)."""
        from . import routed_step_kernels  # (imports Numba: only launches with routed vector sends load it)

        links = self._expanded(table, rows, links=True)
        if self.link_busy is None and len(links.lane):
            self.link_busy = self._new_link_busy()
        busy = self.link_busy if self.link_busy is not None else np.empty((2, 0))
        previous, by = self._last_arrival(channel)
        self._deliver_first_step()  # (words held for a stream pump land before another step reads the slots)
        if not expansion.shared:  # (each receiver once: its FIFO slots walked in PE order, the same stores)
            from . import stream_pump_steps

            p_dest, p_lane, p_latency = expansion.pe_sorted
            arguments = (pes, done, count, base, float(cost), float(self.word_time), self.cycle, self.stall,
                         self.progress, self._injected(channel), self.sram, fifo.pushed, fifo.time.block,
                         fifo.value.block, expansion.dest, expansion.lane, expansion.latency, p_dest, p_lane,
                         p_latency, busy, links.link, links.lane, links.link_offset, previous, by,
                         np.zeros((len(pes), words), dtype=self.time_dtype), links.distinct_links)
            if self._defer_first_step:  # (its words held for the stream pump that may follow: `stream_pump`)
                self._defer_first_step = False
                later, ok, *words_held = stream_pump_steps.send_step_undelivered(*arguments)
                if ok:
                    self._first_step = (fifo, pes, p_lane, p_latency, count.copy(), *words_held)
            else:
                later, ok = stream_pump_steps.send_step_in_pe_order(*arguments)
        else:
            _, by_dest, by_lane, by_latency = expansion.by_dest
            later, ok = routed_step_kernels.routed_send_step(
                pes, done, count, base, float(cost), float(self.word_time), self.cycle, self.stall, self.progress,
                self._injected(channel), self.sram, fifo.pushed, fifo.time.block, fifo.value.block, expansion.dest,
                expansion.lane, expansion.latency, by_dest, by_lane, by_latency, busy, links.link, links.lane,
                links.link_offset, previous, by, np.zeros((len(pes), words), dtype=self.time_dtype))
        if not ok:  # (a word would arrive early: this raises the RouteError, as on the NumPy path)
            lane = expansion.lane
            self._check_arrival_order(channel, expansion.dest, pes[lane], later[lane, 0] + expansion.latency,
                                      later[lane, count[lane] - 1] + expansion.latency)
            raise AssertionError("the compiled and NumPy arrival checks disagree")  # (it raised above)
        if self.route_watch is not None:
            self.route_watch.sent(channel, table, rows, later[:, 0], later[np.arange(len(pes)), count - 1])
        return expansion.sorted_dest

    # ------------------------------------------------------------------ links shared by channels
    def _share_links(self, table: Deliveries, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """How long each sender's words (leaving at `first` .. `last`) must wait so that no link of their
        path carries them while it carries other routed words; then reserves those links.

        A link moves `link_words_per_cycle` words a cycle whatever their channel. Each link remembers one span
        [from, until), its latest reservation. A sender's words want [first + o, last + o + word_time) of each
        link of its path (o: the link's offset, `Deliveries.link_offset`); where that overlaps the link's span
        (begin < until and end > from) they must wait until - begin, and the whole multicast waits (its sender
        stalls) for its most contended link: conservative for branches that were free. Each link whose span
        the words then begin at or after `until` takes it (beginning exactly at `until` extends it, later
        replaces it); a span wholly before the link's leaves it. The senders of one call are one channel's,
        which share no link (a merging route's that would run one at a time); they read the reservations as
        before it. Calls come in the scheduler's order (lowest program counter first), not simulated time's:
        a send run later whose span lies earlier neither waits for one run before it nor is waited for
        (docs/routes.md; tests/routed_link_model.py has issue 9's (send cycle, PE, channel) order)."""
        links = self._expanded(table, rows, links=True)
        lane = links.lane
        if not len(lane):
            return np.zeros(len(rows))
        if self.link_busy is None:
            self.link_busy = self._new_link_busy()
        if self.strategy.routed_steps:  # (one compiled pass over the links: the NumPy below, fused)
            return compiled_movers().share_links(self.link_busy, links.link, lane, links.link_offset,
                                                 np.ascontiguousarray(first, dtype=np.float64),
                                                 np.ascontiguousarray(last, dtype=np.float64), float(self.word_time),
                                                 len(rows))
        link = links.link
        begin = first[lane] + links.link_offset
        end = last[lane] + links.link_offset + self.word_time
        busy_from, busy_until = self.link_busy[0, link], self.link_busy[1, link]
        overlap = (begin < busy_until) & (end > busy_from)
        delay = np.zeros(len(rows))
        if overlap.any():
            np.maximum(delay, per_lane(np.maximum, np.where(overlap, busy_until - begin, 0.0), lane, len(rows), 0.0,
                                        links.starts), out=delay)
            begin, end = begin + delay[lane], end + delay[lane]
        later = begin >= busy_until  # after the reservation (right after it, when it waited)
        gap = later & (begin > busy_until)  # a new span; one right after the old extends it
        self.link_busy[0, link] = np.where(gap, begin, busy_from)
        self.link_busy[1, link] = np.where(later, end, busy_until)
        return delay

    # ------------------------------------------------------------------ link statistics
    def _trace_link_words(self, channel: int, table: Deliveries, rows: np.ndarray, times: np.ndarray,
                          words: np.ndarray) -> None:
        """Count, on the trace's counter track of the channel, the link crossings of these senders' words
        (`rows` of `table`)."""
        links = table.link_start[rows + 1] - table.link_start[rows]
        self.tracer.count(f"channel {channel}: routed words over links", times, links * words)

    def _injected(self, channel: int) -> np.ndarray:
        """Words each PE has handed to its router on `channel` since the channel's paths last changed."""
        if channel not in self.injected:
            self.injected[channel] = np.zeros(self.n, dtype=np.int64)
        return self.injected[channel]

    def _count_routed_links(self, channel: int) -> None:
        """Add the words sent on `channel` so far to the per-link counts, along the paths the current
        routes give them (called before a route changes, and at the end of the wave)."""
        words = self.injected.pop(channel, None)
        if words is None or not words.any():
            return
        table = self.routes.deliveries(channel, np.flatnonzero(words))
        per_source = words[table.sources]
        link_words = self.routed_link_words.get(channel)
        if link_words is None:
            link_words = self.routed_link_words[channel] = np.zeros((4, self.n), dtype=np.int64)
        compiled_movers().add_link_words(link_words, table.link_start, table.link_dir, table.link_pe, per_source)
