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


class Fifo:
    __slots__ = ("depth", "value", "time", "pushed", "popped")

    def __init__(self, depth: int, n: int, time_dtype=np.float64) -> None:
        self.depth = depth
        self.value = np.zeros((depth, n), dtype=np.int32)
        self.time = np.zeros((depth, n), dtype=time_dtype)  # arrival of the slot's word, or when it was popped
        self.pushed = np.zeros(n, dtype=np.int32)  # words ever written, per receiving PE
        self.popped = np.zeros(n, dtype=np.int32)

    def widen_time(self) -> None:
        self.time = self.time.astype(np.float64)
