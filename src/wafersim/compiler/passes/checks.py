"""Repeated bounds checks: within a block, a `chk a, b` after an identical one (the same two operands, neither
written in between) is dropped.

If the first check passed, the second passes too; if the first failed, the kernel stopped there and never
reaches the second. So only the first check's message (its source line) can ever be reported, and the kernel
does the same with one check as with two. The front end makes such pairs where one value is read and
written: `cnt[b] += 1` checks `b` before its load and again before its store, and a slice's end and length
checks compare with the same extent when the length is a constant.
"""
from __future__ import annotations

from ..debuginfo import carry_bindings
from ..ir import IRFunction, Op, basic_blocks


def drop_repeated_checks(fn: IRFunction) -> None:
    """Drop each `chk` that repeats an earlier one of its block on operands not written since."""
    dropped: set[int] = set()
    for block in basic_blocks(fn.ops):
        checked: set[tuple] = set()  # (a, b) pairs checked so far in this block, operands unchanged since
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if op.op == "chk":
                pair = (op.a, op.b)
                if pair in checked:
                    dropped.add(i)
                else:
                    checked.add(pair)
                continue
            written = op.writes()
            if written is not None and checked:
                checked = {pair for pair in checked if written not in pair}
    if dropped:
        carry_bindings(fn, dropped)
        fn.ops = [op for i, op in enumerate(fn.ops) if i not in dropped]


__all__ = ["drop_repeated_checks"]
