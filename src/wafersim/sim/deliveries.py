"""A routed channel's trace (`Deliveries`): where each source's words go, after which latency, over which links,
as compressed rows; cut to some sources (`cut_rows`) or joined from parts (`concatenate`). `routing` traces them
and keeps them across launches; split from it."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..errors import RouteError
from . import trace_store
from .distinct import distinct


@dataclasses.dataclass
class Deliveries:
    """Where the words of each source go, as compressed rows: source `sources[i]` (a flat PE index)
    delivers to `dest[start[i]:start[i + 1]]` after `latency[...]` cycles, and its words cross the links
    (`link_pe`, `link_dir`)[link_start[i]:link_start[i + 1]], entering each `link_offset` cycles after
    leaving the sender."""

    sources: np.ndarray
    start: np.ndarray
    dest: np.ndarray
    latency: np.ndarray
    link_start: np.ndarray
    link_pe: np.ndarray
    link_dir: np.ndarray
    link_offset: np.ndarray
    broken: np.ndarray  # per row: the number of the message saying why its words cannot go, or -1
    messages: list[str]
    #: per message about a missing rule: (a flat PE index, the input port) whose rule is missing, so that the
    #: send's error can name a `route` of the program that would set it (`RoutedExchangeMixin._late_rule_hint`)
    missing: dict[int, tuple[int, int]] = dataclasses.field(default_factory=dict, compare=False)
    #: the name of its file in `trace_store` (a trace large enough to keep on disk), else None
    stored_as: str | None = dataclasses.field(default=None, compare=False)

    @functools.cached_property
    def nbytes(self) -> int:
        """Bytes of its arrays (for the bound of `TRACE_CACHE`)."""
        return sum(value.nbytes for value in vars(self).values() if isinstance(value, np.ndarray))

    @functools.cached_property
    def longest(self) -> float:
        """The most cycles any of its words takes from its sender to a receiver (the engine's float32 time
        bound, `ClockMixin._cover_routed_path`)."""
        return float(self.latency.max(initial=0))

    def rows(self, pes: np.ndarray) -> np.ndarray:
        """The row of each PE in `sources` (sorted), or -1 for a PE that is not one of them."""
        rows = np.minimum(np.searchsorted(self.sources, pes), max(len(self.sources) - 1, 0))
        found = self.sources[rows] == pes if len(self.sources) else np.zeros(len(pes), dtype=bool)
        return np.where(found, rows, -1)

    def one_source(self, row: int) -> tuple[np.ndarray, ...] | None:
        """Source row `row`'s receivers and links sorted by PE (dest, latency, link_dir, link_pe,
        link_offset), so that passes over them walk per-PE arrays in order, or None when it does not reach
        each receiver and cross each link once (as a traced tree does). Kept per row (a trace is kept across
        launches)."""
        known = self.__dict__.setdefault("_one_source", {})
        stored = self.stored_as is not None and (int(self.start[row + 1] - self.start[row]) + int(
            self.link_start[row + 1] - self.link_start[row]) >= trace_store.STORE_ENTRIES)
        if row not in known and stored:  # (a large source's order is kept on disk with its trace)
            arrays = trace_store.load(f"{self.stored_as}.{row}", names=ONE_SOURCE_ARRAYS)
            if arrays is not None:
                known[row] = tuple(arrays.values())
        if row not in known:
            first, last = self.start[row], self.start[row + 1]
            by_pe = distinct_order(self.dest[first:last])
            first, last = self.link_start[row], self.link_start[row + 1]
            link = self.link_dir[first:last].astype(np.int64) * (int(self.link_pe.max(initial=0)) + 1)
            link += self.link_pe[first:last]
            by_link = distinct_order(link)
            if by_pe is None or by_link is None:
                known[row] = None
            else:
                by_pe += self.start[row]
                by_link += first
                known[row] = (self.dest[by_pe], self.latency[by_pe], self.link_dir[by_link], self.link_pe[by_link],
                              self.link_offset[by_link])
                if stored:
                    trace_store.store(f"{self.stored_as}.{row}", dict(zip(ONE_SOURCE_ARRAYS, known[row])),
                                      in_background=True)
        return known[row]

    def check(self, rows: np.ndarray | None = None) -> None:
        """Raise the `RouteError` of the first broken source among `rows` (default: all)."""
        numbers = self.broken if rows is None else self.broken[rows]
        bad = numbers[numbers >= 0]
        if len(bad):
            number = int(bad.min())
            missing = {"missing_rule": self.missing[number]} if number in self.missing else {}
            raise RouteError(self.messages[number], pes_sending=int(np.count_nonzero(numbers >= 0)), **missing)


ONE_SOURCE_ARRAYS = ("dest", "latency", "link_dir", "link_pe", "link_offset")  # (`one_source`'s arrays, in order)
#: The arrays of a `Deliveries` (a stored trace has these, and no messages).
ARRAYS = ("sources", "start", "dest", "latency", "link_start", "link_pe", "link_dir", "link_offset", "broken")


def distinct_order(keys: np.ndarray) -> np.ndarray | None:
    """The permutation that sorts `keys` (non-negative integers), or None when two are equal: one pass
    over a table of the keys' range instead of a comparison sort."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    # (int32 positions where they fit: the table spans the keys' range, 4 x the PEs for a row's links, and is
    # fresh memory on a process's first launch; half the pages to fault in and to scan)
    kind = np.int32 if len(keys) <= np.iinfo(np.int32).max else np.int64
    position = np.full(int(keys.max()) + 1, -1, dtype=kind)
    position[keys] = np.arange(len(keys), dtype=kind)
    order = position[position >= 0]
    return order.astype(np.int64, copy=False) if len(order) == len(keys) else None


def cut_rows(whole: Deliveries, pes: np.ndarray) -> Deliveries | None:
    """The rows of `pes` (sorted and distinct first) of an unbroken trace, or None if one is not its source."""
    pes = np.asarray(pes, dtype=np.int64)
    if len(pes) > 1 and not (pes[1:] > pes[:-1]).all():
        pes = distinct(pes)
    rows = whole.rows(pes)
    if (rows < 0).any():
        return None
    entry, starts = _rows_entries(whole.start, rows)
    link, link_starts = _rows_entries(whole.link_start, rows)
    return Deliveries(sources=pes, start=starts, dest=whole.dest[entry], latency=whole.latency[entry],
                      link_start=link_starts, link_pe=whole.link_pe[link], link_dir=whole.link_dir[link],
                      link_offset=whole.link_offset[link], broken=np.full(len(pes), -1, dtype=np.int64),
                      messages=[])


def concatenate(parts: list[Deliveries]) -> Deliveries:
    """The traces of consecutive parts of sorted sources (none broken) as one."""
    def rows(name: str) -> np.ndarray:
        offsets = np.cumsum([0] + [int(getattr(part, name)[-1]) for part in parts[:-1]])
        return np.concatenate([getattr(part, name)[:-1] + offset for part, offset in zip(parts, offsets)]
                              + [np.array([offsets[-1] + int(getattr(parts[-1], name)[-1])])]).astype(np.int64)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return Deliveries(sources=joined("sources"), start=rows("start"), dest=joined("dest"), latency=joined("latency"),
                      link_start=rows("link_start"), link_pe=joined("link_pe"), link_dir=joined("link_dir"),
                      link_offset=joined("link_offset"), broken=joined("broken"), messages=[])


def _rows_entries(start: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of `rows` of compressed rows with pointers `start`, row after row, and the pointers of
    those rows alone."""
    counts = start[rows + 1] - start[rows]
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    entry = np.arange(int(starts[-1]), dtype=np.int64) - np.repeat(starts[:-1] - start[rows], counts)
    return entry, starts
