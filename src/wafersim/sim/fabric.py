"""The on-wafer fabric: per (PE, incoming direction, channel) FIFOs and per (PE, direction) links.

A FIFO is a ring of `fifo_depth` slots per PE. Word k of a FIFO uses slot k % depth; a slot also
remembers when the word that last used it was popped, which is the earliest time word k may enter
(back-pressure: word k waits for word k - depth to leave). FIFOs and links are created only for the
directions and channels a program uses, so memory follows the program. There are no per-link
arrays: a link carries only its sender's words and the sender is busy while a word leaves, so a link
is always free by the time its sender is ready again.
"""
from __future__ import annotations

import numpy as np


class Fifo:
    __slots__ = ("depth", "value", "arrival", "freed_at", "pushed", "popped")

    def __init__(self, depth: int, n: int, time_dtype=np.float64) -> None:
        self.depth = depth
        self.value = np.zeros((depth, n), dtype=np.int32)
        self.arrival = np.zeros((depth, n), dtype=time_dtype)  # when each buffered word arrives
        self.freed_at = np.zeros((depth, n), dtype=time_dtype)  # when the slot's previous word was popped
        self.pushed = np.zeros(n, dtype=np.int32)  # words ever written, per receiving PE
        self.popped = np.zeros(n, dtype=np.int32)

    def widen_time(self) -> None:
        self.arrival = self.arrival.astype(np.float64)
        self.freed_at = self.freed_at.astype(np.float64)
