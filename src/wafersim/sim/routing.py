"""Routed channels: where each PE router sends the words of a channel, traced once per configuration.

Every PE has a router with five ports: the four links and its own PE (the "ramp"). For each channel, a
route at each router says, for each input port, which output ports a word arriving there goes to (a
bit mask: several outputs is multicast, at no extra cost). A word a PE hands to its router
(`send ramp`) therefore reaches a fixed set of PEs, each after a fixed latency: `trace` computes that set
for every PE whose route takes words from its ramp, one level of hops at a time over all sources at
once (NumPy, never a loop over PEs). It also finds the configurations that cannot work and names the
PEs: a route that leaves the block, a word arriving at a router whose route takes nothing from that
side, two sources sharing a link or a receiver on one channel (their words would interleave in an
order only the hardware's timing decides), and cycles.

The engine delivers a routed word into each receiver's FIFO of (ramp, channel) with arrival time
departure + 2 * ramp_latency + the latencies of the links on its path (docs/timing.md). A route is read
when a word is sent: a `route` instruction changes the paths of the words sent after it.
"""
from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict

import numpy as np

from ..errors import RouteError
from ..isa.opcodes import PORTS, RAMP
from . import trace_store
from .deliveries import ARRAYS, Deliveries, concatenate, cut_rows
from .layout import WaveRegion
from .distinct import distinct
from . import trace_ahead

#: Traces kept across launches (a kernel launched again with the same routes on the same placement skips
#: tracing: a wafer-wide bus takes seconds to trace), least recently used first out.
TRACE_CACHE: "OrderedDict[tuple, Deliveries]" = OrderedDict()
#: Bounds of the kept traces: entries (a kernel with a bus per step, like the library GEMM's 2 x P source
#: sets, keeps them all) and bytes (a wafer-wide trace is tens of MB).
TRACE_CACHE_SIZE = 512
TRACE_CACHE_BYTES = 128 << 20
#: Held while `TRACE_CACHE` is read or changed: host threads launching at once share it, and a trace found kept
#: could be pushed out by another thread's new one before it was read (a KeyError out of the launch).
TRACE_CACHE_LOCK = threading.Lock()
#: Receivers and links of a merging channel's whole trace at most (`RouteTables._trace_whole`; some 40 MB).
WHOLE_TRACE_ENTRIES = 1 << 21
#: A launch's broadcast whose trace may reach this many receivers and links is traced ahead, on a thread of its own
#: (`trace_ahead`; as many as make a trace worth a file of `trace_store`).
AHEAD_ENTRIES = trace_store.STORE_ENTRIES


def _kept_bytes(trace: Deliveries) -> int:
    """A kept trace's bytes, with the sender sets cut from it (`RouteTables._cut_from_whole` keeps them on it: a
    64 x 64 GEMM's cuts are twice its whole traces' bytes)."""
    return trace.nbytes + sum(cut.nbytes for cut in list(trace.__dict__.get("_cuts", {}).values())
                              if cut is not None)  # (None: a set not all of whose PEs the whole trace follows)


def _kept(key: tuple) -> Deliveries | None:
    """The trace kept in `TRACE_CACHE` under `key` (now its most recently used), or None."""
    with TRACE_CACHE_LOCK:
        kept = TRACE_CACHE.get(key)
        if kept is not None:
            TRACE_CACHE.move_to_end(key)
        return kept


def _keep(key: tuple, result: Deliveries, replacing: list[tuple] | tuple = ()) -> None:
    """Keeps `result` in `TRACE_CACHE` under `key` in place of the traces kept under `replacing` (the parts it was
    joined from), the least recently used traces out past its bounds."""
    with TRACE_CACHE_LOCK:
        for part in replacing:
            TRACE_CACHE.pop(part, None)
        TRACE_CACHE[key] = result
        while len(TRACE_CACHE) > 1 and (len(TRACE_CACHE) > TRACE_CACHE_SIZE
                                        or sum(map(_kept_bytes, TRACE_CACHE.values())) > TRACE_CACHE_BYTES):
            TRACE_CACHE.popitem(last=False)


N_PORTS = len(PORTS)
ALL_OUTPUTS = (1 << N_PORTS) - 1
OPPOSITE = (2, 3, 0, 1)  # the port a word enters by after leaving through north, east, south, west
MAX_PES_NAMED = 4


class RouteTables:
    """The routes of one wave's region: per channel, a (5, n) uint8 array of output masks by input port
    (bit p: port p; ACCEPT: the input has a rule; 0: none), and whether sources may share links (merge)."""

    CACHED_SOURCE_SETS = 64  # traced source sets kept per channel (a kernel's groups of senders)
    CUTS_KEPT = 1024  # sender sets cut from a whole trace kept with it (`_cut_from_whole`)

    def __init__(self, region: WaveRegion, ramp_latency: float,
                 block_routes: dict[int, tuple[np.ndarray, bool]], whole_buses: bool = False,
                 compiled_trace: bool = False, ahead: dict[int, np.ndarray] | None = None) -> None:
        # (`ahead`: per merging channel of the launch, the PEs expected to send on it together, whose trace is begun
        # on a thread of its own: `trace_ahead`)
        self.region = region
        self.ramp_latency = float(ramp_latency)
        #: a merging channel's sender sets are cut from one trace of all its sources (`_cut_from_whole`)
        self.whole_buses = whole_buses
        #: routes that work are traced by `trace_kernels` (`Strategy.compiled_trace`)
        self.compiled_trace = compiled_trace
        self.masks: dict[int, np.ndarray] = {}
        self.merge: set[int] = set()
        self._traced: dict[int, dict[bytes | None, Deliveries]] = {}  # None: every source (no merges)
        self._whole: dict[int, Deliveries | bool] = {}  # per merging channel (`_cut_from_whole`); False: unusable
        #: channels whose routes are still the launch's (no `set` has changed them): their errors' advice
        self.from_launch: set[int] = set(block_routes)
        #: per launch route: (its masks, a digest of what they were tiled from), `_trace`'s key while unchanged
        self._tiled_from: dict[int, tuple[np.ndarray, bytes]] = {}
        #: traces begun on a thread of their own (`trace_ahead`), by `_trace`'s key
        self._ahead: dict[tuple, trace_ahead.Ahead] = {}
        for channel, (block_masks, merge) in block_routes.items():
            self.masks[channel] = self._tile(block_masks)
            self._tiled_from[channel] = (self.masks[channel], _tile_digest(block_masks, region))
            if merge:
                self.merge.add(channel)
            else:  # every source of a launch route must work: fail before anything runs
                try:
                    self.deliveries(channel).check()
                except RouteError as error:
                    raise with_launch_hint(error)
        wanted = {channel: (self._key(channel, self.masks[channel], sources), self.masks[channel], sources)
                  for channel, sources in (ahead or {}).items()
                  if channel in self.merge and len(sources) and N_PORTS * region.n * len(sources) >= AHEAD_ENTRIES}
        if wanted:  # (the launch's broadcasts, traced on a thread of their own: `trace_ahead`)
            if self.compiled_trace:  # (Numba's import on this thread, not the other's: the trace needs it)
                importlib.import_module(f"{__package__}.trace_kernels")
            self._ahead = trace_ahead.begin(wanted, TRACE_CACHE, self._computed)

    def _tile(self, block_masks: np.ndarray) -> np.ndarray:
        """A block's (5, by, bx) masks repeated over the region's blocks; PEs outside any block get none."""
        region = self.region
        tiled = np.tile(block_masks, (1, region.rows, region.cols)).reshape(N_PORTS, region.n)
        return np.where(region.active, tiled, 0).astype(np.uint8)

    def channel(self, channel: int) -> np.ndarray:
        if channel not in self.masks:
            self.masks[channel] = np.zeros((N_PORTS, self.region.n), dtype=np.uint8)
        return self.masks[channel]

    def set(self, channel: int, pes: np.ndarray, rx_mask, tx_mask) -> bool:
        """Send words arriving at `pes` by the ports in `rx_mask` to the ports in `tx_mask` (ints, or
        arrays aligned with `pes`); True if anything changed (the channel's paths are then traced again)."""
        masks = self.channel(channel)
        changed = False
        for port in range(N_PORTS):
            takes = (np.asarray(rx_mask) >> port & 1).astype(bool)
            if not takes.any():
                continue
            chosen = pes if takes.ndim == 0 else pes[takes]
            value = tx_mask if np.ndim(tx_mask) == 0 else np.asarray(tx_mask)[takes]
            row = masks[port]
            if (row[chosen] != value).any():
                row[chosen] = value
                changed = True
        if changed:
            self.from_launch.discard(channel)
            self._tiled_from.pop(channel, None)
            self._traced.pop(channel, None)
            self._whole.pop(channel, None)
        return changed

    def deliveries(self, channel: int, pes: np.ndarray | None = None) -> Deliveries:
        """Where the words of `pes` go on `channel` (their rows: `Deliveries.rows`).

        Without merges the paths of every PE with a route from its ramp are traced at once and kept (a
        tree per source, each link and receiver used once: about the size of the block); on a merging
        channel (a bus: every source reaches the whole line) only the given senders, per set of senders."""
        masks = self.channel(channel)
        cache = self._traced.setdefault(channel, {})
        if pes is None or channel not in self.merge:
            if None not in cache:
                cache[None] = self._trace(channel, masks, np.flatnonzero(masks[RAMP] != 0))
            return cache[None]
        key = pes.tobytes()
        if key not in cache:
            if len(cache) >= self.CACHED_SOURCE_SETS:
                cache.pop(next(iter(cache)))
            cut = self._cut_from_whole(channel, pes) if self.whole_buses else None
            if cut is None:
                cut = self._trace(channel, masks, pes)
                if self.whole_buses and channel not in self._whole:  # (the first set sizes the whole trace)
                    self._whole[channel] = self._trace_whole(channel, masks, cut)
            cache[key] = cut
        return cache[key]

    def _trace_whole(self, channel: int, masks: np.ndarray, sample: Deliveries) -> Deliveries | bool:
        """One trace of every source of a merging channel with a route from its ramp (`_cut_from_whole`), in
        parts of sources, or False where it would be too large (its receivers and links, judged from the
        sources of `sample`, a set traced on its own: a bus along a line of P PEs has P - 1 of each, one
        over a whole block thousands) or where a cut from it might differ from a set's own trace: a part
        found something wrong, or a source crossed more links than the check for multiplying paths allows
        one source (then no set of such sources fails that check either)."""
        sizes = np.diff(sample.start) + np.diff(sample.link_start)
        per_source = int(sizes.max(initial=0))
        sources = np.flatnonzero(masks[RAMP] != 0)
        if sample.messages or not per_source or len(sources) * per_source > WHOLE_TRACE_ENTRIES:
            return False
        chunk = max(1, WHOLE_TRACE_ENTRIES // (4 * per_source))  # (a part's size stays bounded if others are larger)
        # Kept across launches as its parts are: joining them again took 2-18 ms of each bicgstab7 launch (a
        # million receivers, fresh memory). The key holds all a whole trace depends on: the parts' own, the split.
        key = ("whole", chunk) + self._key(channel, masks, sources)
        kept = _kept(key)
        if kept is not None:
            return kept
        parts, part_keys, total = [], [], 0
        for first in range(0, len(sources), chunk):
            part_keys.append(self._key(channel, masks, sources[first:first + chunk]))
            part = self._trace(channel, masks, sources[first:first + chunk], part_keys[-1])
            total += len(part.dest) + len(part.link_pe)
            if part.messages or total > 2 * WHOLE_TRACE_ENTRIES:
                return False
            parts.append(part)
        whole = parts[0] if len(parts) == 1 else concatenate(parts)
        bx, by = self.region.placement.block
        if int(np.diff(whole.link_start).max(initial=0)) > N_PORTS * bx * by:
            return False
        if len(parts) > 1:  # (one part is kept as it is) In place of its parts: kept beside them it doubled their
            # bytes, and a 32 x 32 block's all-reduce and broadcast (three such buses, ~35 MB each) no longer fitted
            # `TRACE_CACHE_BYTES`: each warm launch traced its 15 parts and sets again (review57d). (Not the first
            # set's, where it is a part: the next launch asks for it first, by itself.)
            _keep(key, whole, [part_key for part_key, part in zip(part_keys, parts) if part is not sample])
        return whole

    def _cut_from_whole(self, channel: int, pes: np.ndarray) -> Deliveries | None:
        """The trace of `pes` on a merging channel cut from the channel's whole trace (`_trace_whole`: a
        GEMM's bus has 2 x P sender sets, each as long as the bus: two traces instead of 2 x P), or None
        where there is none or `pes` are not all its sources.

        On a merging channel each source is followed on its own, so a source's receivers, links, latencies
        and their order do not depend on the other sources traced with it; only the checks could, and
        `_trace_whole` keeps no trace where they might."""
        whole = self._whole.get(channel)
        if whole is None or whole is False:
            return None
        # Kept with the whole trace (which `TRACE_CACHE` keeps across launches, as it kept each set's trace).
        cuts = whole.__dict__.setdefault("_cuts", {})
        key = np.asarray(pes, dtype=np.int64).tobytes()
        cut = cuts.get(key)  # (one read: another thread's launch may clear `cuts` meanwhile)
        if cut is None:
            if len(cuts) >= self.CUTS_KEPT:
                cuts.clear()
            cut = cuts[key] = cut_rows(whole, pes)
        return cut

    def _key(self, channel: int, masks: np.ndarray, sources: np.ndarray) -> tuple:
        """What a trace of `sources` over `masks` on `channel` depends on (`TRACE_CACHE`'s key)."""
        region = self.region
        placement = region.placement
        tiled = self._tiled_from.get(channel)
        # A launch's route, unchanged: the digest of the block's masks it was tiled from (hashing the tiled (5, n)
        # masks took ~3 ms a launch on a whole wafer); else of the masks themselves.
        masks_digest = (tiled[1] if tiled is not None and tiled[0] is masks
                        else b"masks" + hashlib.blake2b(masks.tobytes(), digest_size=16).digest())
        return (placement.spec.cache_key, placement.grid, placement.block, region.first_block, region.count,
                channel, channel in self.merge, self.ramp_latency, masks_digest,
                hashlib.blake2b(np.asarray(sources, dtype=np.int64).tobytes(), digest_size=16).digest())

    def _trace(self, channel: int, masks: np.ndarray, sources: np.ndarray, key: tuple | None = None) -> Deliveries:
        """`trace`, or its result from an earlier launch with the same routes, placement and figures, or from the
        thread that began it (`trace_ahead`); `key`: `_key`'s, where the caller has it."""
        key = self._key(channel, masks, sources) if key is None else key
        kept = _kept(key)
        if kept is not None:
            return kept
        ahead = self._ahead.pop(key, None)
        result = ahead.result() if ahead is not None else None
        if result is None:  # (traced outside the lock: another thread's launch need not wait for this one's trace)
            result = self._computed(key, channel, masks, sources)
        _keep(key, result)
        return result

    def _computed(self, key: tuple, channel: int, masks: np.ndarray, sources: np.ndarray) -> Deliveries:
        """`trace` of `sources` over `masks` on `channel` (`key`: `_key`'s), or what a file of `trace_store` kept of
        it; a large one is kept there. Changes nothing of the tables (the thread of `trace_ahead` runs it too)."""
        region = self.region
        result = name = None
        # A trace that may be large enough to keep on disk (a merging channel's sources each reach up to the
        # whole region) is looked for there first (`trace_store`: from an earlier process).
        if (trace_store.enabled()
                and N_PORTS * region.n * (len(sources) if channel in self.merge else 1) >= trace_store.STORE_ENTRIES):
            name = trace_store.file_key(key + (self.compiled_trace,))
            arrays = trace_store.load(name, names=ARRAYS)
            if arrays is not None:
                result = Deliveries(**arrays, messages=[], stored_as=name)
        if result is None:
            result = trace(region, masks, self.ramp_latency, channel, sources, channel in self.merge,
                           self.compiled_trace)
            if (name is not None and not result.messages
                    and len(result.dest) + len(result.link_pe) >= trace_store.STORE_ENTRIES):
                trace_store.store(name, {field: getattr(result, field) for field in ARRAYS}, in_background=True)
                result.stored_as = name
        return result


def _tile_digest(block_masks: np.ndarray, region: WaveRegion) -> bytes:
    """A digest of what `RouteTables._tile` makes of `block_masks` over `region`: the block's masks and the
    region's shape in slots and blocks (its masks are a function of them)."""
    shape = (block_masks.shape, str(block_masks.dtype), region.rows, region.cols, region.count, region.n,
             region.placement.block)
    digest = hashlib.blake2b(repr(shape).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(block_masks).tobytes())
    return b"tiled" + digest.digest()


#: The fix-it of a receiver reached by several sources on a route that does not merge...
ONE_SOURCE_EACH = ("a receiver takes one source per channel: give each source a channel of its own, or merge them "
                   "(a *_bus route or ws.routes.custom(..., merge=True): one path from each source, senders "
                   "taking turns)")
#: ...and by one source twice on a route that merges.
ONE_PATH_EACH = "a merging route takes one path from each source to each receiver"
#: Added to the errors of two sources meeting: which PEs count as sources, and how one stops being one.
SENDERS_HINT = (" (every PE whose rule on the channel takes words from its ramp counts as a source, whether or "
                "not it sends now, so that senders at different times are checked too: a PE that no longer "
                "sends on the channel clears that rule with ws.route(channel, ws.RAMP, ()))")
#: Spliced into `SENDERS_HINT` for a program written in assembly (docs/isa.md: `none` is no rule).
ASSEMBLY_CLEAR_HINT = "; in assembly: route <channel>, ramp, none"
#: `SENDERS_HINT` for a channel whose route is still the launch's (`routes=`, `ws.use_route`): the fix is in
#: the route given, not a `ws.route` the kernel never ran.
LAUNCH_SENDERS_HINT = (" (every PE whose rule on the channel takes words from its ramp counts as a source, whether "
                       "or not it sends now; this channel's route is the one the launch gives (routes=, or "
                       "ws.use_route in the kernel): give the ramp a rule only at the PEs that send, as a custom "
                       "route's rules(x, y, width, height) can by leaving ws.RAMP out of the dict at the others, "
                       "or pick a route whose sources are the senders: docs/routes.md)")


def with_launch_hint(error: RouteError) -> RouteError:
    """`error` (of a channel whose route is the launch's) with `LAUNCH_SENDERS_HINT` for `SENDERS_HINT`."""
    if error.args and SENDERS_HINT in str(error.args[0]):
        error.args = (str(error.args[0]).replace(SENDERS_HINT, LAUNCH_SENDERS_HINT), *error.args[1:])
    return error


def pe_names(region: WaveRegion, flat: np.ndarray) -> str:
    """'PE (x, y) of block (bx, by), ...' for the first few flat indices."""
    x, y = region.xy
    gx = region.placement.grid[0]
    bx, by = region.placement.block
    parts = []
    for i in np.asarray(flat)[:MAX_PES_NAMED]:
        block = int(region.block_id[i])
        parts.append(f"thread ({int(x[i]) % bx}, {int(y[i]) % by}) of block ({block % gx}, {block // gx})")
    more = len(flat) - len(parts)
    return ", ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def trace(region: WaveRegion, masks: np.ndarray, ramp_latency: float, channel: int, sources: np.ndarray,
          merge: bool = False, compiled: bool = False) -> Deliveries:
    """Follow the words of `sources` (flat PE indices) on `channel`, hop by hop.

    A source whose words cannot be delivered is marked broken, with a message naming the PEs, rather
    than failing at once: a kernel that changes routes may leave stale sources that never send, and only
    a send from a broken source is an error (`Deliveries.check`). Unless `merge`, two sources may not
    share a link or a receiver; with it, each source is followed on its own (a cycle shows as a path
    longer than the block)."""
    n = region.n
    sources = np.asarray(sources, dtype=np.int64)
    if len(sources) > 1 and not (sources[1:] > sources[:-1]).all():
        sources = distinct(sources)  # sorted: `Deliveries.rows` searches them
    if compiled:  # (the same trace where the routes work; else the NumPy trace below names what is wrong)
        found = _compiled_trace(region, masks, ramp_latency, sources, merge)
        if found is not None:
            return found
    no_rule = masks[RAMP, sources] == 0
    broken = np.full(len(sources), -1, dtype=np.int64)  # per source row: its message's number, or -1
    messages: list[str] = []

    missing: dict[int, tuple[int, int]] = {}

    def fail(rows: np.ndarray, message: str, missing_at: tuple[int, int] | None = None) -> None:
        if missing_at is not None:
            missing[len(messages)] = missing_at
        messages.append(f"route of channel {channel}: {message}")
        rows = np.unique(rows)
        broken[rows] = np.where(broken[rows] < 0, len(messages) - 1, broken[rows])

    if no_rule.any():
        fail(np.flatnonzero(no_rule), f"{pe_names(region, sources[no_rule])}: no route from the ramp (their own sends)",
             (int(sources[no_rule][0]), RAMP))
    hop = {d: region.hop_cycles(d) for d in range(4)}
    bx, by = region.placement.block
    levels_left = N_PORTS * bx * by + 1  # a path longer than this visits some (PE, port) twice: a cycle
    # Each (PE, input port) of a channel may carry the words of one source only (else they merge).
    slot_owner = None if merge else np.full(N_PORTS * n, -1, dtype=np.int64)
    delivered: list[tuple[np.ndarray, ...]] = []
    links: list[tuple[np.ndarray, ...]] = []
    # frontier: (source row, PE, input port, latency so far)
    keep = ~no_rule
    row, pe = np.arange(len(sources))[keep], sources[keep]
    port = np.full(len(pe), RAMP, dtype=np.int64)
    latency = np.zeros(len(pe))
    while len(pe):
        levels_left -= 1
        if levels_left < 0:
            fail(row, f"words of {pe_names(region, sources[np.unique(row)])} go round a cycle (at "
                      f"{pe_names(region, pe[:1])})")
            break
        slots = port * n + pe
        if merge:  # two paths of one source that meet show as a receiver reached twice (checked at the end)
            if len(pe) > N_PORTS * bx * by * len(sources):
                fail(row, f"the paths of {pe_names(region, sources[np.unique(row)])} multiply (paths that split "
                          f"and meet again, at {pe_names(region, pe[:1])})")
                break
            pairs = owner = np.zeros(0, dtype=np.int64)
        else:  # a slot written twice in this level keeps one row: the others see it
            owner = slot_owner[slots]
            slot_owner[slots] = row
            lost = np.flatnonzero(slot_owner[slots] != row)
            pairs = np.concatenate([lost, np.flatnonzero(np.isin(slots, slots[lost]))]) if len(lost) else lost
        if len(pairs):
            one = int(pairs[0])
            fail(row[pairs], f"words of two sources, or of one source by two paths, meet arriving from the "
                             f"{PORTS[int(port[one])]} at {pe_names(region, pe[[one]])}; sources: "
                             f"{pe_names(region, sources[np.unique(row[pairs])])}{SENDERS_HINT}")
        taken = owner >= 0
        if len(owner) and taken.any():
            j = int(np.flatnonzero(taken)[0])
            cycle = owner[j] == row[j]
            what = ("its words come back to a router they passed (a cycle)" if cycle else
                    f"its words meet those of {pe_names(region, sources[[owner[j]]])} on one link")
            fail(np.concatenate([row[taken], owner[taken]]), f"{pe_names(region, sources[[row[j]]])}: {what}, "
                 f"arriving from the {PORTS[int(port[j])]} at {pe_names(region, pe[[j]])}"
                 f"{'' if cycle else SENDERS_HINT}")
        out = masks[port, pe] & ALL_OUTPUTS  # (the ACCEPT bit says only that the rule exists)
        next_parts = []
        for p in range(N_PORTS):
            goes = (out >> p & 1).astype(bool)
            if not goes.any():
                continue
            r, at, lat = row[goes], pe[goes], latency[goes]
            if p == RAMP:
                delivered.append((r, at, lat + 2 * ramp_latency))
                continue
            inside = region.has_neighbor(p)[at]
            if not inside.all():
                fail(r[~inside], f"words go {PORTS[p]} out of the block at {pe_names(region, at[~inside])}")
                r, at, lat = r[inside], at[inside], lat[inside]
            links.append((r, at, np.full(len(at), p, dtype=np.int8), lat + ramp_latency))
            nb = at + region.offset(p)
            entry = OPPOSITE[p]
            accepted = masks[entry, nb] != 0
            if not accepted.all():
                fail(r[~accepted], f"words go {PORTS[p]} to {pe_names(region, nb[~accepted])}, whose route takes "
                                   f"nothing from the {PORTS[entry]} (add it to the route there)",
                     (int(nb[~accepted][0]), entry))
            step = hop[p] if np.isscalar(hop[p]) else hop[p][at]
            next_parts.append((r, nb, np.full(len(nb), entry, dtype=np.int64), lat + step))
        if not next_parts:
            break
        row, pe, port, latency = (np.concatenate(parts) for parts in zip(*next_parts))
        going = broken[row] < 0
        if not going.all():
            row, pe, port, latency = row[going], pe[going], port[going], latency[going]
    d_row, dest, d_lat = _join(delivered)
    ok = broken[d_row] < 0
    d_row, dest, d_lat = d_row[ok], dest[ok], d_lat[ok]
    receiver = dest + d_row * n if merge else dest  # with merge, a receiver may hear several sources
    ordered = np.sort(receiver)
    twice_keys = ordered[1:][ordered[1:] == ordered[:-1]]
    repeated = np.isin(receiver, twice_keys) if len(twice_keys) else np.zeros(len(receiver), dtype=bool)
    if repeated.any():
        twice = np.unique(dest[repeated])
        fail(d_row[repeated], f"{pe_names(region, twice)} {'receives' if len(twice) == 1 else 'receive'} the words of "
                              f"{'one source twice' if merge else 'several sources'} "
                              f"({pe_names(region, sources[np.unique(d_row[repeated])])}); "
                              f"{ONE_PATH_EACH if merge else ONE_SOURCE_EACH + SENDERS_HINT}")
        d_row, dest, d_lat = d_row[~repeated], dest[~repeated], d_lat[~repeated]
    l_row, link_pe, link_dir, link_offset = _join(links, 4)
    keep = broken[l_row] < 0
    l_row, link_pe, link_dir, link_offset = l_row[keep], link_pe[keep], link_dir[keep], link_offset[keep]
    order, link_order = np.argsort(d_row, kind="stable"), np.argsort(l_row, kind="stable")
    return Deliveries(sources=sources, start=_row_starts(d_row, len(sources)), dest=dest[order].astype(np.int64),
                      latency=d_lat[order], link_start=_row_starts(l_row, len(sources)),
                      link_pe=link_pe[link_order].astype(np.int64), link_dir=link_dir[link_order].astype(np.int8),
                      link_offset=link_offset[link_order].astype(np.float64),
                      broken=broken, messages=messages, missing=missing)


def _compiled_trace(region: WaveRegion, masks: np.ndarray, ramp_latency: float, sources: np.ndarray,
                    merge: bool) -> Deliveries | None:
    """`trace` by `trace_kernels.trace_routes`, or None where the NumPy trace must run (something is wrong)."""
    from . import trace_kernels  # (imports Numba: only launches with routes need it)

    hops = [region.hop_cycles(d) for d in range(4)]
    if all(np.isscalar(h) for h in hops):
        hop = np.array([[float(h)] for h in hops], dtype=np.float64)
    else:
        hop = np.stack([np.broadcast_to(np.asarray(h, dtype=np.float64), (region.n,)) for h in hops])
    has_neighbor = np.stack([region.has_neighbor(d) for d in range(4)])
    offsets = np.array([region.offset(d) for d in range(4)], dtype=np.int64)
    bx, by = region.placement.block
    ok, start, dest, latency, link_start, link_pe, link_dir, link_offset = trace_kernels.trace_routes(
        np.ascontiguousarray(masks, dtype=np.uint8), sources, has_neighbor, offsets, hop, float(ramp_latency),
        bool(merge), N_PORTS * bx * by)
    if not ok:
        return None
    return Deliveries(sources=sources, start=start, dest=dest, latency=latency, link_start=link_start,
                      link_pe=link_pe, link_dir=link_dir, link_offset=link_offset,
                      broken=np.full(len(sources), -1, dtype=np.int64), messages=[])


def _join(parts: list[tuple[np.ndarray, ...]], width: int = 3) -> tuple[np.ndarray, ...]:
    if not parts:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))[:width]
    return tuple(np.concatenate(column) for column in zip(*parts))


def _row_starts(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """CSR row pointers of entries labelled by `rows` (any order)."""
    return np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_rows)))).astype(np.int64)
