"""The on-wafer fabric: one FIFO per (PE, incoming direction, channel).

A FIFO is a ring of `fifo_depth` slots per PE; word k uses slot k % depth. Each slot keeps one time:
while its word is in flight or buffered, the word's arrival time; once popped, the pop time, which is
the earliest time word k + depth may enter (back-pressure: a word waits for the word `fifo_depth`
ahead of it to leave). Values are kept only while queued, in a ring only as deep as the deepest
queue so far (`Fifo`). FIFOs are created only for the directions and channels a program uses, so memory
follows the program. There are no per-link arrays: a link carries only its sender's words and the
sender is busy while a word leaves, so a link is always free by the time its sender is ready again.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from .hostmem import array_nbytes
from .lanes import Lanes
from .wordtypes import WordTags


# FIFO fields up to this size are one (depth, PEs) array, so that a run of slots per PE is one gather.
BLOCK_BYTES = 8 << 20
#: Each new block whose rows span a 4 KiB page or more begins this many bytes (five cache lines) further into
#: its page than the one made before it (mod 4096): `page_staggered_zeros`.
PAGE_STAGGER = 5 * 64
_PAGE = 4096
_blocks_made = itertools.count()


def compiled_movers():
    """The `fifo_kernels` module, imported on first use: it imports Numba (some 150 MiB of memory), which
    only launches that stream words in bulk need."""
    from . import fifo_kernels

    return fifo_kernels


def page_staggered_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.zeros(shape, dtype), beginning `PAGE_STAGGER` bytes further into a 4 KiB page than the block made
    before it where a row (the last axis) spans a page or more. Why: a row of PEs is often a multiple of 4 KiB
    (4,096 PEs' float32 words: 16 KiB), so a walk down one PE's slots stays in the one L1 cache set that the
    block's offset in its page picks. Where glibc's heap had put a FIFO's value ring just after its time block (16
    or 32 bytes further into the page: its chunk header), the compiled loops that walk both (`stream_op_kernels`)
    shared one set: gemv2d's stream ops took 40-54 instead of 13-16 ms a launch, in about one process in 15. (The
    compiled interpreter's FIFO stacks too, `compiled.fabric_state`: msort's tag stack right after its time stack
    made its launch 0.13 instead of 0.097 s of CPU, in every process.)"""
    dtype = np.dtype(dtype)
    if shape[-1] * dtype.itemsize < _PAGE:  # (a small row: a column walk changes sets; a page more only costs memory)
        return np.zeros(shape, dtype=dtype)
    nbytes = array_nbytes(shape, dtype)
    raw = np.zeros(nbytes + _PAGE, dtype=np.uint8)
    start = (next(_blocks_made) * PAGE_STAGGER - raw.ctypes.data) % _PAGE
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _as_index(array: np.ndarray) -> np.ndarray:
    """A C-contiguous int64 copy (or the array itself), so that the compiled loops see one signature."""
    return np.ascontiguousarray(array, dtype=np.int64)


class SlotRows:
    """The slots of one FIFO field, one per-PE row each.

    Small fields are one (depth, PEs) array whose rows are views. Large ones (wafer-scale waves) keep
    rows as separate arrays of a few MB, allocated on first use, so that the allocator can recycle them
    across waves and launches instead of mapping fresh pages every time.

    Rows whose every entry is dead (`recycle`) go to a pool that the next rows allocated take from: their
    entries then hold old times instead of zeros, which only a field of times may do, and only where every
    reader takes such an entry as a lower bound below its own clock (see `Fifo.note_popped_at_barrier`)."""

    __slots__ = ("rows", "n", "dtype", "block", "pool")

    def __init__(self, depth: int, n: int, dtype) -> None:
        self.n, self.dtype = n, dtype
        self.block: np.ndarray | None = None
        self.pool: list[np.ndarray] = []  # recycled rows, handed out before fresh ones
        self.rows: list[np.ndarray | None] = [None] * depth
        if depth * n * np.dtype(dtype).itemsize <= BLOCK_BYTES:
            self._use_block(page_staggered_zeros((depth, n), dtype))

    def _use_block(self, block: np.ndarray) -> None:
        self.block = block
        self.rows = list(block)

    @classmethod
    def over(cls, block: np.ndarray) -> "SlotRows":
        """Slot rows that are the rows of `block` ((depth, PEs), a view kept, e.g. of a stack of FIFOs)."""
        rows = cls.__new__(cls)
        rows.n, rows.dtype, rows.pool = block.shape[1], block.dtype, []
        rows._use_block(block)
        return rows

    def __getitem__(self, slot: int) -> np.ndarray:
        row = self.rows[slot]
        if row is None:
            row = self.rows[slot] = self.pool.pop() if self.pool else np.zeros(self.n, dtype=self.dtype)
        return row

    def recycle(self) -> None:
        """Every row (of a field kept as rows) back to the pool: the caller knows that no entry of any row
        can change what a reader computes (for FIFO slot times: see `Fifo.note_popped_at_barrier`). A stencil
        that moves one word per step then cycles one row instead of `depth` of fresh memory."""
        if self.block is None:
            self.pool += [row for row in self.rows if row is not None]
            self.rows = [None] * len(self.rows)

    def gather(self, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
        """Values at (slots[i], pes[i])."""
        if self.block is not None:
            return self.block[slots, pes]
        if len(pes) and slots.min() == slots.max():  # one slot (a multicast's receivers, lockstep): one row
            return self[int(slots[0])][pes]
        out = np.empty(len(pes), dtype=self.dtype)
        for slot in _present(slots):
            sel = slots == slot
            out[sel] = self[int(slot)][pes[sel]]
        return out

    def scatter(self, slots: np.ndarray, pes: np.ndarray, values) -> None:
        if self.block is not None:
            self.block[slots, pes] = values
            return
        if len(pes) and slots.min() == slots.max():  # (as in `gather`)
            self[int(slots[0])][pes] = values
            return
        values = np.broadcast_to(values, pes.shape)
        for slot in _present(slots):
            sel = slots == slot
            self[int(slot)][pes[sel]] = values[sel]

    def gather_run(self, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
        """out[i, j] = slot slots[i, j] of PE pes[i]: a run of consecutive slots per PE ((lanes, words)).

        Rows of a large field are read a column at a time when every PE is at the same slot (lockstep)."""
        if self.block is not None:
            return compiled_movers().gather_slot_runs(self.block, _as_index(slots), _as_index(pes))
        if len(pes) and (slots == slots[0]).all():
            out = np.empty(slots.shape, dtype=self.dtype)
            for j, slot in enumerate(slots[0]):
                out[:, j] = self[int(slot)][pes]
            return out
        return self.gather(slots.reshape(-1), np.repeat(pes, slots.shape[1])).reshape(slots.shape)

    def scatter_run(self, slots: np.ndarray, pes: np.ndarray, values: np.ndarray, counts: np.ndarray) -> None:
        """The inverse of `gather_run` for the first counts[i] entries of each lane i."""
        if self.block is not None:
            compiled_movers().scatter_slot_runs(self.block, _as_index(slots), _as_index(pes), values, _as_index(counts))
            return
        valid = np.arange(slots.shape[1]) < counts[:, None]
        if len(pes) and (slots == slots[0]).all():
            for j, slot in enumerate(slots[0]):
                column = valid[:, j]
                self[int(slot)][pes[column]] = values[column, j]
            return
        self.scatter(slots[valid], np.repeat(pes, np.count_nonzero(valid, axis=1)), values[valid])

    def widen(self, dtype) -> None:
        self.dtype, self.pool = dtype, []
        if self.block is not None:
            self._use_block(self.block.astype(dtype))
        else:
            self.rows = [None if row is None else row.astype(dtype) for row in self.rows]


class Fifo:
    """One FIFO of every PE of a wave: word k of a PE uses time slot k % depth and value slot k % the
    value ring's depth.

    The time ring is always `depth` deep (word k's back-pressure reads the pop time of word k - depth),
    but a value is only needed while its word is queued, so the value ring is only as deep as the
    deepest queue so far (`make_room`): one row for a stencil that pops every word before the next
    arrives, instead of `depth` rows of 4 bytes per PE.

    Uniform counts: a lockstep send or receive (`exchange`) notes that every lane of its group now has
    the same `pushed` (or `popped`) count, so that the next one over the same PEs needs no reductions to
    find it. The note on a counter is forgotten whenever anything reads that counter's array through
    `pushed` / `popped` (whoever reads it may write it), and for good once the array is replaced (the
    compiled interpreter maps FIFOs into arrays of its own and writes them there).

    Deferred counts (`count_one`): a lockstep send or receive of a whole dense group may leave its counter's
    `+= 1` owed, as (region key, lanes, words owed); the next ones over the same PEs add to what is owed, and
    the array is brought up to date when anything reads it through `pushed` / `popped`, or when a group over
    other PEs moves words: a stencil's counters are written once per launch, not at every step."""

    __slots__ = ("depth", "value", "time", "_pushed", "_popped", "tags", "_uniform", "popped_by_barrier", "_owed",
                 "__weakref__")

    def __init__(self, depth: int, n: int, time_dtype=np.float64) -> None:
        self.depth = depth
        self.value = SlotRows(1, n, np.int32)  # grows with the queues (`make_room`)
        self.time = SlotRows(depth, n, time_dtype)  # arrival of the slot's word, or when it was popped
        self._pushed = np.zeros(n, dtype=np.int32)  # words ever written, per receiving PE
        self._popped = np.zeros(n, dtype=np.int32)
        # the words' types (wordtypes; a weak reference back: no cycle keeping a launch's FIFOs past its end)
        self.tags = WordTags(depth, n, weakref.ref(self))
        # counter name -> (a group's `Lanes.region_key`, the count every PE of it has); None: never noted
        self._uniform: dict[str, tuple[tuple, int]] | None = {}
        # (region key, p): every PE of that group had taken its first p words before a barrier of the whole
        # wave (one block) released; noted by the barrier from `uniform_count` (`exchange`: a slot freed
        # then needs no wait). True for good once true: counts only grow and the barrier is past.
        self.popped_by_barrier: tuple[tuple, int] | None = None
        # counter name -> (a dense group's `Lanes.region_key`, those lanes, words each of them is owed): `count_one`
        self._owed: dict[str, tuple[tuple, Lanes, int]] = {}

    @property
    def pushed(self) -> np.ndarray:
        """Words ever written, per receiving PE (reading it forgets the uniform count noted for it)."""
        if self._owed:
            self._settle("pushed")
        if self._uniform:
            self._uniform.pop("pushed", None)
        return self._pushed

    @pushed.setter
    def pushed(self, array: np.ndarray) -> None:
        self._settle("pushed")
        self._pushed, self._uniform = array, None

    @property
    def popped(self) -> np.ndarray:
        """Words ever taken, per receiving PE (reading it forgets the uniform count noted for it)."""
        if self._owed:
            self._settle("popped")
        if self._uniform:
            self._uniform.pop("popped", None)
        return self._popped

    @popped.setter
    def popped(self, array: np.ndarray) -> None:
        self._settle("popped")
        self._popped, self._uniform = array, None

    def holds_no_words(self) -> bool:
        """Whether every PE has taken every word written to it (reads the counters without forgetting the
        uniform counts noted for them)."""
        if self._owed:
            self._settle("pushed")
            self._settle("popped")
        return bool(np.array_equal(self._pushed, self._popped))

    def count_one(self, counter: str, lanes: Lanes, key: tuple) -> None:
        """`counter` ("pushed" or "popped") += 1 over the dense group `lanes` (region key `key`), which has just
        moved one word of this FIFO as a whole (not in parts on threads): owed, added to what the same PEs are
        owed; what other PEs were owed is written first (one group's debt a counter). Exact: whole numbers,
        added in any order. (Parts on threads write their counts through `pushed` / `popped`, which settles
        a debt on the thread that reads first while the others add: a debt must not be left to them.)"""
        owed = self._owed.get(counter)
        if owed is not None and owed[0] == key:
            self._owed[counter] = (key, owed[1], owed[2] + 1)
            return
        self._settle(counter)
        self._owed[counter] = (key, lanes, 1)

    def _settle(self, counter: str) -> None:
        """Write the words owed to `counter`'s array (`count_one`)."""
        owed = self._owed.pop(counter, None)
        if owed is not None:
            owed[1].add(self._pushed if counter == "pushed" else self._popped, owed[2])

    def uniform_count(self, counter: str, key: tuple) -> int | None:
        """The `counter` ("pushed" or "popped") every PE of the group with `Lanes.region_key` `key` has, if a
        lockstep send or receive noted it and nothing has read the counter since; else None."""
        noted = self._uniform.get(counter) if self._uniform else None
        return noted[1] if noted is not None and noted[0] == key else None

    def note_popped_at_barrier(self, recycle: bool = False) -> None:
        """At a barrier of the whole wave (one block), called before the release: the popped count noted as
        uniform, if any, becomes `popped_by_barrier`.

        With `recycle`, a FIFO that every PE has emptied (its noted group has taken every word it was given,
        and each PE left out of the group too) gives its time rows back to their pool (`SlotRows.recycle`):
        every entry is then a pop time, or an arrival before it, or zero, all at most the release, and after
        the release every PE's clock is at least the release. Every later reader of such an entry takes the
        later of it and a time no earlier than that clock (a word's departure waits for its slot; a routed
        slot's time minus a latency), so any entry at most the release, a recycled row's old time as well as
        the true one, gives the same result."""
        noted = self._uniform.get("popped") if self._uniform else None
        if noted is None:
            return
        self.popped_by_barrier = noted
        if recycle and self._uniform.get("pushed") == noted:
            for counter in ("pushed", "popped"):  # (words owed to PEs other than the group's: written first)
                if counter in self._owed and self._owed[counter][0] != noted[0]:
                    self._settle(counter)
            left_out = np.frombuffer(noted[0][1], dtype=np.int64)  # (`Lanes.region_key`)
            if np.array_equal(self._pushed[left_out], self._popped[left_out]):
                self.time.recycle()

    def note_uniform(self, counter: str, key: tuple, count: int) -> None:
        """Note that every PE of the group with region key `key` has `counter` = `count` (called right after
        the lockstep send or receive that made it so, with nothing in between reading the counter)."""
        if self._uniform is not None:
            self._uniform[counter] = (key, count)

    @property
    def value_depth(self) -> int:
        """Rows of the value ring."""
        return len(self.value.rows)

    @property
    def shallow(self) -> bool:
        """Whether the value ring is shallower than the FIFO (pushes must then call `make_room`)."""
        return len(self.value.rows) < self.depth

    def value_slots(self, counts):
        """The value slot of word `counts` (an int or an array of word numbers)."""
        return counts % len(self.value.rows)

    def allocate_rows(self, word: int) -> None:
        """Allocate (if still unallocated) the time and value rows word number `word` uses, so that
        threads writing different PEs of them never allocate one at once (`parallel`)."""
        self.time[word % self.depth], self.value[self.value_slots(word)]  # noqa: B018 (allocation on access)

    def make_room(self, queued: int) -> None:
        """Deepen the value ring (at least doubling it, at most to `depth`) so that queues of `queued`
        words fit, moving the queued words to their new slots."""
        old_depth = len(self.value.rows)
        if queued <= old_depth:
            return
        new_depth = min(self.depth, max(queued, 2 * old_depth))
        old, new = self.value, SlotRows(new_depth, self.value.n, np.int32)
        for ahead in range(old_depth):  # the words queued at each PE: popped, popped + 1, ...
            word = self.popped + ahead
            pes = np.flatnonzero(word < self.pushed)
            if len(pes):
                new.scatter(word[pes] % new_depth, pes, old.gather(word[pes] % old_depth, pes))
        self.value = new

    def queued_values(self, pe: int) -> np.ndarray:
        """The values of the words queued at PE `pe`, oldest first."""
        words = np.arange(int(self.popped[pe]), int(self.pushed[pe]))
        return np.array([self.value[int(s)][pe] for s in self.value_slots(words)], dtype=np.int32)

    def values_by_slot(self) -> np.ndarray:
        """(depth, n) values with each queued word k at row k % depth (as a full-depth ring holds them;
        the other entries are zero), for checkpoints."""
        if not self.shallow:
            return np.stack([self.value[s] for s in range(self.depth)])
        out = np.zeros((self.depth, self.value.n), dtype=np.int32)
        for ahead in range(len(self.value.rows)):
            word = self.popped + ahead
            pes = np.flatnonzero(word < self.pushed)
            out[word[pes] % self.depth, pes] = self.value.gather(self.value_slots(word[pes]), pes)
        return out

    @classmethod
    def restore(cls, values: np.ndarray, times: np.ndarray, pushed: np.ndarray, popped: np.ndarray,
                time_dtype) -> "Fifo":
        """A FIFO from `values_by_slot`, its time rows and counters (a full-depth value ring)."""
        depth, n = values.shape
        fifo = cls(depth, n, time_dtype)
        fifo.make_room(depth)  # (nothing queued yet: nothing moves)
        for slot in range(depth):
            fifo.value[slot][:] = values[slot]
            fifo.time[slot][:] = times[slot]
        fifo.pushed[:], fifo.popped[:] = pushed, popped
        return fifo

    def widen_time(self) -> None:
        self.time.widen(np.float64)


def _present(slots: np.ndarray) -> np.ndarray:
    """The distinct slot numbers (small non-negative integers) of `slots`, in order: a count per slot,
    several times faster than `np.unique`'s hashing over a wafer's worth of PEs."""
    if not len(slots):
        return slots
    return np.flatnonzero(np.bincount(slots))
