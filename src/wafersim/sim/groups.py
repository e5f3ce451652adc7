"""A scheduler group: PEs at one program counter, with the issue cycles and instructions they owe."""
from __future__ import annotations

from .lanes import Lanes


class Group:
    """PEs at one program counter. `cost`/`count`: issue cycles and instructions every lane has executed
    but that are not yet added to the per-PE arrays (written once, at the next timing instruction or
    when merging with a group that owes a different amount, rather than at every branch)."""

    __slots__ = ("lanes", "blocked", "cost", "count")

    def __init__(self, lanes: Lanes, blocked: bool = False, cost: float = 0.0, count: int = 0) -> None:
        self.lanes, self.blocked, self.cost, self.count = lanes, blocked, cost, count
