"""The on-wafer fabric: one FIFO per (PE, incoming direction, channel).

A FIFO is a ring of `fifo_depth` slots per PE; word k uses slot k % depth. Each slot keeps one time:
while its word is in flight or buffered, the word's arrival time; once popped, the pop time, which is
the earliest time word k + depth may enter (back-pressure: a word waits for the word `fifo_depth`
ahead of it to leave). FIFOs are created only for the directions and channels a program uses, so memory
follows the program. There are no per-link arrays: a link carries only its sender's words and the
sender is busy while a word leaves, so a link is always free by the time its sender is ready again.
"""
from __future__ import annotations

import numpy as np

from .wordtypes import WordTags


# FIFO fields up to this size are one (depth, PEs) array, so that a run of slots per PE is one gather.
BLOCK_BYTES = 8 << 20


class SlotRows:
    """The slots of one FIFO field, one per-PE row each.

    Small fields are one (depth, PEs) array whose rows are views. Large ones (wafer-scale waves) keep
    rows as separate arrays of a few MB, allocated on first use, so that the allocator can recycle them
    across waves and launches instead of mapping fresh pages every time."""

    __slots__ = ("rows", "n", "dtype", "block")

    def __init__(self, depth: int, n: int, dtype) -> None:
        self.n, self.dtype = n, dtype
        self.block: np.ndarray | None = None
        self.rows: list[np.ndarray | None] = [None] * depth
        if depth * n * np.dtype(dtype).itemsize <= BLOCK_BYTES:
            self._use_block(np.zeros((depth, n), dtype=dtype))

    def _use_block(self, block: np.ndarray) -> None:
        self.block = block
        self.rows = list(block)

    def __getitem__(self, slot: int) -> np.ndarray:
        row = self.rows[slot]
        if row is None:
            row = self.rows[slot] = np.zeros(self.n, dtype=self.dtype)
        return row

    def gather(self, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
        """Values at (slots[i], pes[i])."""
        if self.block is not None:
            return self.block[slots, pes]
        out = np.empty(len(pes), dtype=self.dtype)
        for slot in np.unique(slots):
            sel = slots == slot
            out[sel] = self[int(slot)][pes[sel]]
        return out

    def scatter(self, slots: np.ndarray, pes: np.ndarray, values) -> None:
        if self.block is not None:
            self.block[slots, pes] = values
            return
        values = np.broadcast_to(values, pes.shape)
        for slot in np.unique(slots):
            sel = slots == slot
            self[int(slot)][pes[sel]] = values[sel]

    def gather_run(self, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
        """out[i, j] = slot slots[i, j] of PE pes[i]: a run of consecutive slots per PE ((lanes, words)).

        Rows of a large field are read a column at a time when every PE is at the same slot (lockstep)."""
        if self.block is not None:
            return self.block[slots, pes[:, None]]
        if len(pes) and (slots == slots[0]).all():
            out = np.empty(slots.shape, dtype=self.dtype)
            for j, slot in enumerate(slots[0]):
                out[:, j] = self[int(slot)][pes]
            return out
        return self.gather(slots.reshape(-1), np.repeat(pes, slots.shape[1])).reshape(slots.shape)

    def scatter_run(self, slots: np.ndarray, pes: np.ndarray, values: np.ndarray, valid: np.ndarray) -> None:
        """The inverse of `gather_run` for the entries where `valid` (same shape as `values`) holds."""
        if self.block is None and len(pes) and (slots == slots[0]).all():
            for j, slot in enumerate(slots[0]):
                column = valid[:, j]
                self[int(slot)][pes[column]] = values[column, j]
            return
        self.scatter(slots[valid], np.repeat(pes, np.count_nonzero(valid, axis=1)), values[valid])

    def widen(self, dtype) -> None:
        self.dtype = dtype
        if self.block is not None:
            self._use_block(self.block.astype(dtype))
        else:
            self.rows = [None if row is None else row.astype(dtype) for row in self.rows]


class Fifo:
    __slots__ = ("depth", "value", "time", "pushed", "popped", "tags")

    def __init__(self, depth: int, n: int, time_dtype=np.float64) -> None:
        self.depth = depth
        self.value = SlotRows(depth, n, np.int32)
        self.time = SlotRows(depth, n, time_dtype)  # arrival of the slot's word, or when it was popped
        self.pushed = np.zeros(n, dtype=np.int32)  # words ever written, per receiving PE
        self.popped = np.zeros(n, dtype=np.int32)
        self.tags = WordTags(depth, n)  # the words' types (wordtypes)

    def widen_time(self) -> None:
        self.time.widen(np.float64)
