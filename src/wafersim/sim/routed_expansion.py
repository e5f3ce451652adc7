"""The entries of some senders' rows of a routed trace (`routing.Deliveries`), lane by lane, and what a routed
send's steps derive from them (`Expansion`); reductions over each lane's entries (`per_lane`). Split from
`routed`, whose sends keep an `Expansion` while the same senders stream."""
from __future__ import annotations

import functools

import numpy as np

from .deliveries import Deliveries


def expand_rows(start: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entry index, lane number) of every entry of the given rows of compressed rows with row
    pointers `start` (`Deliveries.start` for receivers, `.link_start` for links), lane by lane."""
    first = start[rows]
    counts = start[rows + 1] - first
    lane = np.repeat(np.arange(len(rows)), counts)
    ends = np.cumsum(counts)
    # (each row's first entry less the entries of the rows before it, repeated: one pass over the entries where
    # gathering `before[lane]` and `first[lane]` took two, 30-60% of the time for 8-126 rows)
    return np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(first - (ends - counts), counts), lane


def per_lane(ufunc, values: np.ndarray, lane: np.ndarray, lanes: int, empty,
             starts: np.ndarray | None = None) -> np.ndarray:
    """ufunc.reduce of `values` over the entries of each lane (`lane`: sorted lane numbers, as `expand_rows`
    makes them; rows of a 2-D `values`), `empty` for a lane without entries: `ufunc.at` without its cost.
    `starts`: `lane_starts(lane)`, if known."""
    out = np.full((lanes,) + values.shape[1:], empty, dtype=np.result_type(values, np.asarray(empty)))
    if len(lane):
        starts = lane_starts(lane) if starts is None else starts
        out[lane[starts]] = ufunc.reduceat(values, starts, axis=0)
    return out


def lane_starts(lane: np.ndarray) -> np.ndarray:
    """Where each lane's entries begin in sorted lane numbers."""
    return np.flatnonzero(np.r_[True, lane[1:] != lane[:-1]])


class Expansion:
    """The entries of some senders' rows of a `Deliveries` (receivers, or links with `links`), and what the
    senders' steps derive from them, kept while those senders stream (a vector send runs as `depth`-word
    steps of the same senders): `routed.RoutedExchangeMixin._expanded`."""

    def __init__(self, table: Deliveries, rows: np.ndarray, links: bool, n: int) -> None:
        # The table's arrays, not the table: an expansion kept on its table (`_expanded`) makes no cycle.
        self.table_dest, self.table_latency = table.dest, table.latency
        self.table_link_dir, self.table_link_pe = table.link_dir, table.link_pe
        self.table_link_offset = table.link_offset
        self.entry, self.lane = expand_rows(table.link_start if links else table.start, rows)
        self.n = n

    @functools.cached_property
    def starts(self) -> np.ndarray:
        return lane_starts(self.lane)

    @functools.cached_property
    def dest(self) -> np.ndarray:
        return self.table_dest[self.entry]

    @functools.cached_property
    def sorted_dest(self) -> np.ndarray:
        return np.sort(self.dest)

    @functools.cached_property
    def latency(self) -> np.ndarray:
        return self.table_latency[self.entry]

    @functools.cached_property
    def by_dest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(order, dest, lane, latency): the entries with each lane's receivers in PE order. A trace lists
        them by distance (a bus's both ways alternately); in PE order they are a few runs of a constant
        stride, which `fifo_kernels.receiver_segments` turns into loops without per-receiver indices."""
        # (one stable sort of lane * n + dest: the order of lexsort((dest, lane)), as receivers are PEs of the
        # wave, < n; a quarter of lexsort's time, which took ~9 ms of a GEMM's first launch)
        order = np.argsort(self.lane * self.n + self.dest, kind="stable")
        return order, self.dest[order], self.lane[order], self.latency[order]

    @functools.cached_property
    def shared(self) -> bool:
        """Whether two senders reach a common receiver (receivers are PEs of the wave: a count each)."""
        return len(self.dest) > 1 and int(np.bincount(self.dest).max()) > 1

    @functools.cached_property
    def link(self) -> np.ndarray:
        return self.table_link_dir[self.entry].astype(np.int64) * self.n + self.table_link_pe[self.entry]

    @functools.cached_property
    def link_offset(self) -> np.ndarray:
        return self.table_link_offset[self.entry]

    @functools.cached_property
    def pe_sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dest, lane, latency) of the entries in their receivers' order, where each receiver appears once
        (not `shared`: the stream pump's, `stream_pump_steps.send_step_in_pe_order`'s)."""
        from .stream_pump_steps import pe_order  # (imports Numba: only routed vector sends come here)

        order = pe_order(self.receiver_of)
        return self.dest[order], self.lane[order], self.latency[order]

    @functools.cached_property
    def distinct_links(self) -> bool:
        """Whether no link is listed twice (links expansions: `fifo_kernels.share_links`' `distinct`)."""
        from .fifo_kernels import distinct_links  # (the stream pump's own test, on the same link numbers)

        return bool(distinct_links(self.link, 4 * self.n))

    @functools.cached_property
    def receiver_of(self) -> np.ndarray:
        """Each entry's receiver as an index into `sorted_dest` (a stream pump's receivers): the number of
        entries with a lower PE, `searchsorted(sorted_dest, dest)`."""
        dest = self.dest
        if self.n <= 4 * len(dest):  # (a count per PE of the wave: a tenth of the binary searches' time, which
            # took ~18 ms of a GEMM's first launch, 129 sender sets; where PEs far outnumber entries, the searches)
            below = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(np.bincount(dest, minlength=self.n), out=below[1:])
            return below[dest]
        return np.searchsorted(self.sorted_dest, dest)
