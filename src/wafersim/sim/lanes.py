"""`Lanes`: the set of PEs that execute one instruction together.

PEs that share a program counter run as one group: every operation is one NumPy call over the
group, never a Python loop over PEs. A group is held in the cheapest of four forms:

- full:       every PE of the region: plain slices;
- complement: all but a few PEs (typically a block's edges): the operation runs unmasked over every PE
              and the few excluded entries are saved before and restored after, which is ~5x faster
              than a `where=` mask;
- mask:       a boolean mask, for large irregular groups;
- index:      sorted flat indices, for small groups (gathers touch only the group).

A `window` (a slice of the flat PE range) views a group shifted by a neighbour offset without
copying: sender i and receiver i + offset line up as `arr[src.window]` and `arr[dst.window]`.
Indices stored in a windowed group (`excl`) are relative to its window.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# Groups (or their complements) smaller than this fraction of the region are kept as index lists.
SPARSE_FRACTION = 1 / 16
#: Index-form groups of at least this many lanes are written through a slice where their indices are evenly
#: spaced (`idx_at`: a block's edge row or column, a strided view instead of a scatter: ~3x faster at 1,000
#: lanes); smaller ones through their indices (finding the spacing would cost more than it saves).
STRIDED_LANES = 64


class Lanes:
    __slots__ = ("n", "mask", "idx", "excl", "count", "window", "_excl_at", "_idx_at", "_region_key", "_index_form",
                 "_shifted", "_first", "_rejoin")

    def __init__(self, n: int, mask: np.ndarray | None = None, idx: np.ndarray | None = None,
                 excl: np.ndarray | None = None, count: int | None = None, window: slice | None = None) -> None:
        self.n = n  # PEs in the region (or in the window)
        self.mask, self.idx, self.excl, self.window = mask, idx, excl, window
        self._excl_at: slice | np.ndarray | None = None  # `excl` as an index, on first use (`excl_at`)
        self._idx_at: slice | np.ndarray | None = None  # `idx` as an index for writes, on first use (`idx_at`)
        self._region_key: tuple | None = None  # (`region_key`, on first use)
        # The same lanes in index form, on first use (`to_index_form`): a group blocked on a transfer comes
        # back step after step as the same object (a panel's receivers), and its lanes never change.
        self._index_form: Lanes | None = None
        # (offset, `shifted_pair(offset)`) of the last call: a memoized split's lanes send the same way at every
        # visit (a halo exchange), and the pair's own caches (`excl_at`, `region_key`) are kept with it
        self._shifted: tuple | None = None
        self._first: int | None = None  # (`first`, on first use)
        # (the other part, the whole) where these lanes are the first part of a dense unwindowed group's split
        # kept for rejoining (`rejoins`): the two parts merging again are that group, its caches with it
        # (`union_disjoint`; a halo exchange's block and edges meet again after each transfer). Only the first
        # part refers to the whole: no cycle.
        self._rejoin: tuple[Lanes, Lanes] | None = None
        if count is None:
            if idx is not None:
                count = len(idx)
            elif mask is not None:
                count = int(np.count_nonzero(mask))
            else:
                count = n - (0 if excl is None else len(excl))
        self.count = count

    # ------------------------------------------------------------------ construction
    @classmethod
    def full(cls, n: int) -> "Lanes":
        return cls(n)

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "Lanes":
        n = mask.shape[0]
        count = int(np.count_nonzero(mask))
        if count == n:
            return cls(n)
        if count < n * SPARSE_FRACTION:
            return cls(n, idx=np.flatnonzero(mask), count=count)
        if n - count < n * SPARSE_FRACTION:
            return cls(n, excl=np.flatnonzero(~mask), count=count)
        return cls(n, mask=mask, count=count)

    @classmethod
    def from_indices(cls, n: int, idx: np.ndarray) -> "Lanes":
        if len(idx) >= n * SPARSE_FRACTION:
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            return cls.from_mask(mask)
        return cls(n, idx=idx)

    @classmethod
    def all_but(cls, n: int, excluded: np.ndarray) -> "Lanes":
        """Every PE except the sorted, unique `excluded` ones."""
        if len(excluded) == 0:
            return cls(n)
        if len(excluded) >= n * SPARSE_FRACTION:
            mask = np.ones(n, dtype=bool)
            mask[excluded] = False
            return cls.from_mask(mask)
        return cls(n, excl=excluded)

    @property
    def form(self) -> str:
        if self.idx is not None:
            return "index"
        if self.mask is not None:
            return "mask"
        return "full" if self.excl is None else "complement"

    @property
    def is_full(self) -> bool:
        return self.idx is None and self.mask is None and self.excl is None

    @property
    def _base(self) -> int:
        return 0 if self.window is None else self.window.start

    def as_mask(self) -> np.ndarray:
        """A boolean mask over the window (or region)."""
        if self.idx is not None:
            mask = np.zeros(self.n, dtype=bool)
            mask[self.idx] = True
            return mask
        if self.mask is not None:
            return self.mask
        mask = np.ones(self.n, dtype=bool)
        if self.excl is not None:
            mask[self.excl] = False
        return mask

    def indices(self) -> np.ndarray:
        """Flat region indices of the lanes."""
        if self.idx is not None:
            return self.idx
        if self.is_full:
            return np.arange(self._base, self._base + self.n)
        return np.flatnonzero(self.as_mask()) + self._base

    def to_index_form(self, region_n: int) -> "Lanes":
        """The same lanes as region indices (for per-lane addressing); windows are resolved."""
        if self.idx is not None:
            return self
        kept = self._index_form
        if kept is None or kept.n != region_n:
            kept = self._index_form = Lanes(region_n, idx=self.indices(), count=self.count)
        return kept

    # ------------------------------------------------------------------ data access
    def _view(self, arr: np.ndarray) -> np.ndarray:
        return arr if self.window is None else arr[..., self.window]

    # (Index form: `arr[idx]` where the array has one axis, the usual per-PE array: NumPy's `arr[..., idx]` takes
    # its general indexing path, about 3x the time of a gather or scatter of 64 lanes, 7 against 2.4 us of 4,032.)
    def get(self, arr: np.ndarray) -> np.ndarray:
        """The lanes' values of a per-PE array (last axis = PEs). Index form gathers; the others return a
        view over every PE of the window (entries of PEs outside the group are not meaningful)."""
        if self.idx is not None:
            return arr[self.idx] if arr.ndim == 1 else arr[..., self.idx]
        return self._view(arr)

    def put(self, arr: np.ndarray, values) -> None:
        """Write lane-aligned `values` (as computed from `get`), or a scalar, into the lanes."""
        if self.idx is not None:
            at = self._idx_at if self._idx_at is not None else self.idx_at
            if arr.ndim == 1:
                arr[at] = values
            else:
                arr[..., at] = values
            return
        view = arr if self.window is None else arr[..., self.window]
        if self.mask is not None:
            np.copyto(view, values, where=self.mask, casting="unsafe")
        elif self.excl is None:
            view[...] = values
        else:
            at = self._excl_at if self._excl_at is not None else self.excl_at
            kept = view[at] if view.ndim == 1 else view[..., at]
            if type(at) is slice:
                kept = kept.copy()
            view[...] = values
            if view.ndim == 1:
                view[at] = kept
            else:
                view[..., at] = kept

    def apply(self, ufunc, out: np.ndarray, *inputs) -> None:
        """out[lanes] = ufunc(*inputs[lanes]) for per-PE arrays or scalars, without temporaries when possible."""
        idx = self.idx
        if idx is not None:
            at = self._idx_at if self._idx_at is not None else self.idx_at  # (views where a slice: read first)
            values = ufunc(*[(x[at] if x.ndim == 1 else x[..., at] if x.ndim else x)
                             if isinstance(x, np.ndarray) else x for x in inputs])
            if out.ndim == 1:
                out[at] = values
            else:
                out[..., at] = values
            return
        if self.window is None:  # (the usual group: the arrays as they are, no views, no calls but the ufunc's)
            args, view = inputs, out
        else:
            args = [self._view(x) if isinstance(x, np.ndarray) and x.ndim else x for x in inputs]
            view = self._view(out)
        if self.mask is not None:
            ufunc(*args, out=view, where=self.mask)
        elif self.excl is None:
            ufunc(*args, out=view)
        else:  # (`keep_outside` and `restore_outside` written out here, in `put` and in `add`: the register
            # instructions of a block's large groups, thousands a launch, each ~1.5 us less so)
            at = self._excl_at if self._excl_at is not None else self.excl_at
            kept = view[at] if view.ndim == 1 else view[..., at]
            if type(at) is slice:  # (a view: copied; a gather is a copy already)
                kept = kept.copy()
            ufunc(*args, out=view)
            if view.ndim == 1:
                view[at] = kept
            else:
                view[..., at] = kept

    def add(self, arr: np.ndarray, value) -> None:
        """arr[lanes] += value (scalar or lane-aligned values)."""
        if self.idx is not None:
            arr[self._idx_at if self._idx_at is not None else self.idx_at] += value
            return
        view = arr if self.window is None else arr[..., self.window]
        if self.mask is not None:
            np.add(view, value, out=view, where=self.mask)
        elif self.excl is None:
            view += value
        else:
            at = self._excl_at if self._excl_at is not None else self.excl_at
            kept = view[at] if view.ndim == 1 else view[..., at]
            if type(at) is slice:
                kept = kept.copy()
            view += value
            if view.ndim == 1:
                view[at] = kept
            else:
                view[..., at] = kept

    # ------------------------------------------------------------------ unmasked writes (full, complement forms)
    @property
    def is_dense(self) -> bool:
        """Full or complement form: writes can run unmasked over the whole window (`keep_outside`)."""
        return self.idx is None and self.mask is None

    def window_view(self, arr: np.ndarray) -> np.ndarray:
        """The window of a per-PE array (the region when unwindowed), for `out=` arguments of dense groups."""
        return self._view(arr)

    @property
    def idx_at(self) -> slice | np.ndarray:
        """`idx` (index form) as an index for writes: a slice where the lanes are evenly spaced and at least
        `STRIDED_LANES`, else the indices themselves."""
        if self._idx_at is None:
            self._idx_at = _as_slice(self.idx) if len(self.idx) >= STRIDED_LANES else self.idx
        return self._idx_at

    @property
    def excl_at(self) -> slice | np.ndarray | None:
        """`excl` as an index: a slice where the exclusions are evenly spaced (a block's edge row or
        column: strided copies instead of gathers and scatters), else the array itself."""
        if self._excl_at is None and self.excl is not None:
            self._excl_at = _as_slice(self.excl)
        return self._excl_at

    def region_key(self, region_n: int) -> tuple:
        """A hashable identity of the PEs of a dense group (full or complement form) among the `region_n` of
        its region, whatever its window: the sorted region indices it leaves out. Groups with equal keys
        stand for the same PEs (a sender group's receivers, windowed, and the receiving group itself)."""
        if self._region_key is None:
            base = 0 if self.window is None else self.window.start
            inside = np.empty(0, dtype=np.int64) if self.excl is None else self.excl.astype(np.int64) + base
            outside = np.concatenate([np.arange(base, dtype=np.int64), inside,
                                      np.arange(base + self.n, region_n, dtype=np.int64)])
            self._region_key = (region_n, outside.tobytes())
        return self._region_key

    def keep_outside(self, view: np.ndarray) -> np.ndarray | None:
        """The entries of a window view that belong to no lane (a complement's few exclusions), saved
        (a copy) before an unmasked write over the whole window and put back by `restore_outside`."""
        if self.excl is None:
            return None
        at = self.excl_at
        kept = view[at] if view.ndim == 1 else view[..., at]
        return kept.copy() if isinstance(at, slice) else kept

    def restore_outside(self, view: np.ndarray, kept: np.ndarray | None) -> None:
        """Put back the entries `keep_outside` saved (nothing for a full group)."""
        if kept is not None:
            if view.ndim == 1:
                view[self.excl_at] = kept
            else:
                view[..., self.excl_at] = kept

    def extremes(self, arr: np.ndarray, least: bool = True, largest: bool = True) -> tuple:
        """(min, max) of a per-PE array over the lanes of a dense group, as Python numbers (read-only
        reductions: the excluded entries are set to a lane's value meanwhile, then put back); the one
        not asked for (`least`, `largest`) is None."""
        view = self._view(arr)
        kept = self.keep_outside(view)
        if kept is not None:
            view[self.excl_at] = view[self.first()]
        try:
            return view.min().item() if least else None, view.max().item() if largest else None
        finally:
            self.restore_outside(view, kept)

    def chunk_extremes(self, arr: np.ndarray, largest: bool, size: int | None = 4096) -> np.ndarray:
        """The max (`largest`) or min of a per-PE float array over each run of `size` window positions of a
        dense group (None: the whole window, one value), its exclusions left out (set to -inf or +inf meanwhile,
        then put back): bounds that stay tight where values drift across the region, at the cost of one
        reduction."""
        view = self._view(arr)
        kept = self.keep_outside(view)
        if kept is not None:
            view[self.excl_at] = -np.inf if largest else np.inf
        try:
            reduce = np.maximum.reduce if largest else np.minimum.reduce
            if size is None:
                return reduce(view, keepdims=True)
            whole = len(view) - len(view) % size
            parts = [reduce(view[:whole].reshape(-1, size), axis=1)] if whole else []
            if whole < len(view):
                parts.append(reduce(view[whole:], keepdims=True))
            return np.concatenate(parts)
        finally:
            self.restore_outside(view, kept)

    def any(self, cond: np.ndarray) -> bool:
        """Whether lane-aligned `cond` holds for any lane."""
        if self.idx is not None or self.is_full:
            return bool(cond.any())
        if self.mask is not None:
            return bool(np.count_nonzero(cond & self.mask))
        return int(np.count_nonzero(cond)) > int(np.count_nonzero(cond[self.excl]))

    def all(self, cond: np.ndarray) -> bool:
        return not self.any(~cond)

    def max(self, values: np.ndarray) -> float:
        """Largest lane-aligned value (-inf for no lanes)."""
        return self._reduce(values, np.ndarray.max, -np.inf)

    def min(self, values: np.ndarray) -> float:
        """Smallest lane-aligned value (inf for no lanes)."""
        return self._reduce(values, np.ndarray.min, np.inf)

    def span(self, values: np.ndarray) -> tuple[float, float]:
        """(`min`, `max`) of lane-aligned values, a mask or complement's lanes picked once for both."""
        if self.count == 0:
            return np.inf, -np.inf
        picked = self._picked(values)
        return float(picked.min()), float(picked.max())

    def _reduce(self, values: np.ndarray, reduce: Callable[[np.ndarray], object], empty: float) -> float:
        """`reduce` of the lanes' values, given lane-aligned (`get`)."""
        if self.count == 0:
            return empty
        return float(reduce(self._picked(values)))

    def _picked(self, values: np.ndarray) -> np.ndarray:
        """The lanes' values of lane-aligned `values`: a mask or complement's are every PE of its window, so its
        lanes' are picked."""
        return values if self.idx is not None or self.is_full else values[self.as_mask()]

    def first(self) -> int:
        """Lane position (in `get` coordinates) of the first lane."""
        first = self._first
        if first is None:
            first = self._first = self._find_first()
        return first

    def _find_first(self) -> int:
        if self.idx is not None or self.is_full:
            return 0
        if self.excl is not None:  # the first position missing from the sorted exclusions
            if not len(self.excl) or self.excl[0] != 0:
                return 0
            gaps = self.excl != np.arange(len(self.excl))
            return int(np.argmax(gaps)) if gaps.any() else len(self.excl)
        return int(np.argmax(self.mask))

    def all_equal(self, values: np.ndarray):
        """The common value of lane-aligned `values`, or None when lanes differ."""
        if self.count == 0:
            return None
        first = values[self._first if self._first is not None else self.first()]
        differ = values != first  # (the exact negation of ==, NaNs included)
        if self.mask is not None:
            differ &= self.mask
        elif self.excl is not None and self.idx is None:  # (the excluded entries are no lane's: ignored)
            differ[self._excl_at if self._excl_at is not None else self.excl_at] = False
        return None if differ.any() else first

    # ------------------------------------------------------------------ set operations
    def split(self, cond: np.ndarray) -> tuple["Lanes", "Lanes"]:
        """(lanes where cond, lanes where not cond); `cond` is lane-aligned (as from `get`)."""
        cond = np.asarray(cond, dtype=bool)
        if self.idx is not None:
            return Lanes(self.n, idx=self.idx[cond]), Lanes(self.n, idx=self.idx[~cond])
        if self.mask is not None:
            return self._rewrap(self.mask & cond), self._rewrap(self.mask & ~cond)
        yes_total = int(np.count_nonzero(cond))
        if self.excl is not None:
            yes_total -= int(np.count_nonzero(cond[self.excl]))
        no_total = self.count - yes_total
        small = self.n * SPARSE_FRACTION
        if yes_total == 0:
            return Lanes(self.n, idx=np.empty(0, dtype=np.int64), window=self.window), self
        if no_total == 0:
            return self, Lanes(self.n, idx=np.empty(0, dtype=np.int64), window=self.window)
        if yes_total < small or no_total < small:  # the minority side as indices, the rest as a complement
            minority_true = yes_total <= no_total
            picked = np.flatnonzero(cond if minority_true else ~cond)
            if self.excl is not None:
                picked = np.setdiff1d(picked, self.excl, assume_unique=True)
            rest = picked if self.excl is None else np.union1d(self.excl, picked)
            minority = self._wrap_indices(picked)
            majority = Lanes(self.n, excl=rest, window=self.window) if len(rest) < small else self._rewrap_mask_of(rest)
            return (minority, majority) if minority_true else (majority, minority)
        base = self.as_mask()
        return self._rewrap(base & cond), self._rewrap(base & ~cond)

    def rejoins(self, parts: tuple["Lanes", "Lanes"]) -> tuple["Lanes", "Lanes"]:
        """`parts` (from `split`), the first told, where both have lanes and this group is dense and unwindowed,
        that with the second they are this group (`union_disjoint` then gives it back)."""
        if parts[0].count and parts[1].count and self.is_dense and self.window is None:
            parts[0]._rejoin = (parts[1], self)
        return parts

    def _wrap_indices(self, window_idx: np.ndarray) -> "Lanes":
        """Lanes at window positions `window_idx`, as region indices."""
        return Lanes(self.n, idx=window_idx + self._base)

    def _rewrap_mask_of(self, excluded: np.ndarray) -> "Lanes":
        mask = np.ones(self.n, dtype=bool)
        mask[excluded] = False
        return self._rewrap(mask)

    def _rewrap(self, mask: np.ndarray) -> "Lanes":
        if self.window is None:
            return Lanes.from_mask(mask)
        return Lanes(self.n, mask=mask, window=self.window)

    def union(self, other: "Lanes") -> "Lanes":
        """Lanes of both groups (unwindowed)."""
        a, b = (self, other) if self.form != "index" else (other, self)
        if a.is_full:
            return a
        if a.form == "complement" and b.form == "index":
            return Lanes.all_but(a.n, np.setdiff1d(a.excl, b.idx, assume_unique=True))
        if a.form == "complement" and b.form == "complement":
            return Lanes.all_but(a.n, np.intersect1d(a.excl, b.excl, assume_unique=True))
        if a.form == "index":  # both index
            return Lanes.from_indices(a.n, np.union1d(a.idx, b.idx))
        return Lanes.from_mask(a.as_mask() | b.as_mask())

    # ------------------------------------------------------------------ sparse updates (event wake-up)
    def pick(self, flat: np.ndarray) -> np.ndarray:
        """The region indices among `flat` (sorted, unique; out-of-range ones ignored) that are lanes of this
        unwindowed group: O(len(flat)) for mask and full groups, no pass over the region."""
        if len(flat) and (flat[0] < 0 or flat[-1] >= self.n):
            flat = flat[(flat >= 0) & (flat < self.n)]
        if self.idx is not None:
            return flat[_sorted_member(self.idx, flat)]
        if self.mask is not None:
            return flat[self.mask[flat]]
        if self.excl is None:
            return flat
        if 8 * len(flat) >= self.n:  # (many: a look-up in the group's mask, not a binary search per index; a
            # multicast's receivers waking, 4,032 of them: 53 against 14 us)
            return flat[self.as_mask()[flat]]
        return flat[~_sorted_member(self.excl, flat)]

    def without(self, picked: np.ndarray) -> "Lanes":
        """This unwindowed group less `picked` (sorted lanes of it, as from `pick`)."""
        count = self.count - len(picked)
        if self.idx is not None:
            return Lanes(self.n, idx=self.idx[~_sorted_member(picked, self.idx)], count=count)
        if self.mask is not None:
            mask = self.mask.copy()
            mask[picked] = False
            if count < self.n * SPARSE_FRACTION:
                return Lanes(self.n, idx=np.flatnonzero(mask), count=count)
            return Lanes(self.n, mask=mask, count=count)
        if len(picked) >= self.n * SPARSE_FRACTION:  # (what `all_but` makes of so many exclusions: a mask, without
            mask = self.as_mask()                   # `np.insert`'s merge of them, 26 ms for 750,000 on a whole wafer;
            mask[picked] = False                    # a fresh mask: this group is in complement or full form)
            return Lanes.from_mask(mask)
        excl = picked if self.excl is None else np.insert(self.excl, np.searchsorted(self.excl, picked), picked)
        return Lanes.all_but(self.n, excl)

    def union_disjoint(self, other: "Lanes") -> "Lanes":
        """`union` for unwindowed groups known to share no lane, without passes over the region where the
        smaller one is in index form; the two parts of a split, the group that was split (`_rejoin`)."""
        if self._rejoin is not None and self._rejoin[0] is other:
            return self._rejoin[1]
        if other._rejoin is not None and other._rejoin[0] is self:
            return other._rejoin[1]
        a, b = (self, other) if self.form != "index" else (other, self)
        if b.form != "index" or a.form == "full":
            return a.union(b)
        if a.form == "index":
            merged = np.concatenate((a.idx, b.idx.astype(a.idx.dtype, copy=False)))  # (np.insert's Python work
            merged.sort(kind="stable")  # costs 15-150 us a call; a merge of two sorted runs: O(n) in timsort)
            return Lanes.from_indices(a.n, merged)
        if a.form == "mask":
            mask = a.mask.copy()
            mask[b.idx] = True
            return Lanes(a.n, mask=mask, count=a.count + b.count)
        if b.count == len(a.excl):  # (disjoint: b's lanes are among a's exclusions, here all of them: a block's
            # edge row or column rejoining the rest)
            return Lanes(a.n)
        excl = a.excl[~_sorted_member(b.idx, a.excl)]
        return Lanes.all_but(a.n, excl)

    def unwindow(self, n: int) -> "Lanes":
        """Windowed lanes back in region coordinates (a region of `n` PEs)."""
        if self.idx is not None:
            return Lanes.from_indices(n, self.idx) if self.count else Lanes(n, idx=self.idx)
        if self.window is None:
            return self
        start, stop = self.window.start, self.window.stop
        if self.mask is None:
            outside = np.concatenate([np.arange(0, start), np.arange(stop, n)])
            inside = np.empty(0, dtype=np.int64) if self.excl is None else self.excl + start
            return Lanes.all_but(n, np.union1d(outside, inside))
        mask = np.zeros(n, dtype=bool)
        mask[self.window] = self.mask
        return Lanes.from_mask(mask)

    def shifted_pair(self, offset: int) -> tuple["Lanes", "Lanes"]:
        """(sender lanes, receiver lanes) for sends to flat index + offset, aligned lane for lane.

        Senders whose receiver would fall outside the region must not be in the group (the caller
        checks neighbours first)."""
        kept = self._shifted
        if kept is not None and kept[0] == offset:
            return kept[1]
        pair = self._shifted_pair(offset)
        self._shifted = (offset, pair)
        return pair

    def _shifted_pair(self, offset: int) -> tuple["Lanes", "Lanes"]:
        if self.idx is not None:
            return self, Lanes(self.n, idx=self.idx + offset, count=self.count)
        n, m = self.n, self.n - abs(offset)
        src = slice(0, m) if offset > 0 else slice(-offset, n)
        dst = slice(offset, n) if offset > 0 else slice(0, m)
        if self.mask is not None:
            mask = self.mask[src]
            return Lanes(m, mask=mask, count=self.count, window=src), Lanes(m, mask=mask, count=self.count, window=dst)
        excl = None
        if self.excl is not None:
            excl = self.excl - src.start
            excl = excl[(excl >= 0) & (excl < m)]
        return (Lanes(m, excl=excl, count=self.count, window=src),
                Lanes(m, excl=excl, count=self.count, window=dst))

    def aligned(self, other_window: slice | None, offset: int = 0) -> "Lanes":
        """The same lanes (as selected in this group) seen through another window, or shifted indices."""
        if self.idx is not None:
            return Lanes(self.n, idx=self.idx + offset, count=self.count)
        return Lanes(self.n, mask=self.mask, excl=self.excl, count=self.count, window=other_window)

    def key(self) -> tuple:
        """A hashable identity of the lane set (unwindowed groups), for memoizing splits."""
        if self.idx is not None:
            return ("index", self.idx.tobytes())
        if self.mask is not None:
            return ("mask", self.mask.tobytes())
        return ("all_but", b"" if self.excl is None else self.excl.tobytes())

    def __repr__(self) -> str:
        return f"Lanes({self.form}, count={self.count})"


def _as_slice(indices: np.ndarray) -> slice | np.ndarray:
    """Sorted unique `indices` as an equivalent slice when evenly spaced, else unchanged."""
    if len(indices) <= 1:
        return slice(int(indices[0]), int(indices[0]) + 1) if len(indices) else slice(0, 0)
    step = int(indices[1] - indices[0])
    if step > 0 and (np.diff(indices) == step).all():
        return slice(int(indices[0]), int(indices[-1]) + 1, step)
    return indices


def _sorted_member(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values[i] in sorted_set, for a sorted unique `sorted_set` (binary search, no sort of `values`)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values


def park(places: dict[int, Lanes], pc: int, lanes: Lanes) -> None:
    """Add `lanes` to those held at `pc` in `places` (a wave's lanes asleep, or stopped at a limit or a
    failure: disjoint from them)."""
    held = places.get(pc)
    places[pc] = lanes if held is None else held.union_disjoint(lanes)
