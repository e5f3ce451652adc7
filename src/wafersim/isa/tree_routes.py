"""Route patterns of the tree collectives (`wafersim.collectives.trees`): a 2-D binary tree to the block's
centre PE (p, q) = (bx // 2, by // 2) over routed channels, one channel per round and side, and the
broadcast back from the centre.

Along a half-line towards the root (distance d from it, 0 = the root), round r (stride s = 2^r): the PE
at d = s (2k + 1) sends its partial result s hops towards the root, to the PE at d - s; the routers of
the s - 1 PEs between pass it on without PE instructions. `tree_low_{r}` carries round r of the trees
whose words travel east along the rows (the PEs west of column p) and south along column p (north of
row q); `tree_high_{r}` round r of the trees travelling west and north. Column p's PEs take the words of
their row and of their column on one channel (a merging route: each takes its row's words before its
column's). `tree_broadcast_{R}` is the broadcast from the centre (along row q, then up and down every
column), and refuses, at launch, a block whose half-lines need more than R rounds.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import RouteError
from .opcodes import ACCEPT, EAST, NORTH, RAMP, SOUTH, WEST

#: Rounds the named patterns cover: half-lines of up to 2^MAX_TREE_ROUNDS - 1 PEs (any block of a wafer).
MAX_TREE_ROUNDS = 11


def tree_rounds(bx: int, by: int) -> int:
    """The rounds a bx x by block's tree needs: the bits of the longest distance from the centre to an
    edge (1 at least)."""
    p, q = bx // 2, by // 2
    far = max(p, bx - 1 - p, q, by - 1 - q)
    return max(1, int(far).bit_length())


def _half_line(d: np.ndarray, length: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For distances d (0 = the root) along a half-line of `length` + 1 PEs, round with stride s: who
    sends, whose router passes the word on, who receives."""
    m = d % (2 * s)
    sender = m == s
    between = (m > 0) & (m < s) & (d - m + s <= length)
    receiver = (m == 0) & (d + s <= length)
    return sender, between, receiver


def tree_round(bx: int, by: int, r: int, low: bool) -> np.ndarray:
    """Masks of round r of the low (east- and southward) or high (west- and northward) trees."""
    s = 1 << r
    p, q = bx // 2, by // 2
    masks = np.zeros((5, by, bx), dtype=np.uint8)
    x, y = np.arange(bx), np.arange(by)
    if low:
        row_d, row_len, row_sel, col_d, col_len, col_sel = p - x, p, x <= p, q - y, q, y <= q
        toward_row, from_row, toward_col, from_col = EAST, WEST, SOUTH, NORTH
    else:
        row_d, row_len, row_sel = x - p, bx - 1 - p, x >= p
        col_d, col_len, col_sel = y - q, by - 1 - q, y >= q
        toward_row, from_row, toward_col, from_col = WEST, EAST, NORTH, SOUTH
    sender, between, receiver = (a & row_sel for a in _half_line(row_d, row_len, s))
    masks[RAMP][:, sender] = 1 << toward_row | ACCEPT
    masks[from_row][:, between] = 1 << toward_row | ACCEPT
    masks[from_row][:, receiver] = 1 << RAMP | ACCEPT
    sender, between, receiver = (a & col_sel for a in _half_line(col_d, col_len, s))
    masks[RAMP][sender, p] |= 1 << toward_col | ACCEPT
    masks[from_col][between, p] |= 1 << toward_col | ACCEPT
    masks[from_col][receiver, p] |= 1 << RAMP | ACCEPT
    return masks


def tree_broadcast(bx: int, by: int, rounds: int) -> np.ndarray:
    """The centre's words to every other PE of the block (as `ws.routes.broadcast(c, (bx // 2, by // 2))`),
    once the block is checked to fit a tree of `rounds` rounds."""
    from .routes import blank, line_broadcast  # (routes imports this module)

    need = tree_rounds(bx, by)
    if need > rounds:
        raise RouteError(f"a tree collective with rounds={rounds} covers half-lines of up to {2 ** rounds - 1} "
                         f"PEs from the centre; this {bx} x {by} block needs rounds={need} (pass rounds={need} "
                         f"or more: it uses channels channel .. channel + 2 * rounds, or channel + 4 * rounds with "
                         f"stages_apart=1: wsc.tree_channels(rounds, stages_apart) of them)", rounds=rounds, block=(bx, by))
    p, q = bx // 2, by // 2
    masks = blank(bx, by)
    vertical = (1 << NORTH if q > 0 else 0) | (1 << SOUTH if q < by - 1 else 0)
    line_broadcast(masks, q, by, SOUTH, NORTH, lambda i: (i, slice(None)), False, root_sends=False)
    line_broadcast(masks, p, bx, EAST, WEST, lambda i: (q, i), False, also=vertical)
    return masks


def _round(r: int, low: bool) -> Callable[[int, int], np.ndarray]:
    return lambda bx, by: tree_round(bx, by, r, low)


def _broadcast(rounds: int) -> Callable[[int, int], np.ndarray]:
    return lambda bx, by: tree_broadcast(bx, by, rounds)


def merge_order_hint(channel: int, name: str | None) -> str:
    """What to change where words merging on `channel` would arrive out of order and the channel carries a
    round of the tree all-reduce (its pattern `name`, `tree_low_R` or `tree_high_R`), else "": the senders
    are the library's, inside one call, so "order the senders" alone leaves the user nothing to do."""
    if not str(name).startswith(("tree_low_", "tree_high_")):
        return ""
    return (f" (channel {channel} carries a round of wsc.block_all_reduce's tree, algorithm=wsc.TREE, whose centre "
            f"column takes its row's words and its column's on one channel: PEs that reach the call at different "
            f"times break that order; pass stages_apart=1, the column stage on channels of its own "
            f"(wsc.tree_channels(rounds, 1) channels), or use wsc.CHAIN; docs/routes.md, \"The tree all-reduce\")")


#: name -> (masks of a bx x by block, merge), for `isa.routes.NAMED`.
TREE_PATTERNS: dict[str, tuple[Callable[[int, int], np.ndarray], bool]] = {
    **{f"tree_low_{r}": (_round(r, True), True) for r in range(MAX_TREE_ROUNDS)},
    **{f"tree_high_{r}": (_round(r, False), True) for r in range(MAX_TREE_ROUNDS)},
    **{f"tree_broadcast_{n}": (_broadcast(n), False) for n in range(1, MAX_TREE_ROUNDS + 1)},
}
