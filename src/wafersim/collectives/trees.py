"""Block all-reduce as a 2-D binary tree over routed channels (our construction, after the ~1.1 x diameter
that Rocki et al., SC20, report for a wafer-wide all-reduce): about the block's
diameter plus a few cycles a round, where the chains of `block.py` pay a receive, a combine, a send and
two ramps at every PE of a row and of the first column (about 9 cycles a hop on `wse2`).

The tree reduces to the centre PE (p, q) = (blockDim.x // 2, blockDim.y // 2), then the centre's routers
multicast the result back:

1. rows: along each half-row towards column p (distance d from it), in round r = 0, 1, ... the PE at
   d = 2^r (2k + 1) sends its partial result 2^r PEs towards p, to the PE at d - 2^r; the routers between
   forward it (one routed channel per round and side, no PE instructions on the way);
2. column p: the same along the column towards row q, with each PE's row total;
3. the centre sends the result once; the routers copy it along row q and up and down every column.

Order of a float32 SUM (deterministic: the same at every launch of a block of that size). Every PE
starts from its own value v and combines, `v = v + w` (`combine(v, w, op)`: MAX and MIN alike), the
partial results w it receives, in this order:

- a PE at distance d > 0 from its line's centre (row y: column p; column p: row q), for r = 0, 1, ...:
  stops at the lowest set bit of d (and sends v 2^r PEs towards the centre), else takes the result of
  the PE at distance d + 2^r on its side, if that PE is inside the block;
- the centre of a line, for r = 0, 1, ...: the result of the PE 2^r west (north) of it, then that of
  the PE 2^r east (south), each if inside the block;

rows first, then column p, whose PEs start from their row's result. The centre's result goes to every
PE. A row's result at column p is so ((v_p + W_0) + E_0) + W_1 + E_1 + ..., W_r (E_r) the result of the
PE 2^r west (east) of p, itself (v + w_0) + w_1 + ... of its own subtree; `tree_order_reduce` in
tests/test_collectives_trees.py sums in exactly this order, and the tests compare bit for bit.

Channels: `channel` .. `channel + rounds - 1` carry round r of the west and north trees,
`channel + rounds` .. `channel + 2 rounds - 1` those of the east and south trees, `channel + 2 rounds`
the broadcast: 2 rounds + 1 in all (the spec's `channels` must have them). `rounds` (a constant) must
cover the block: 2^rounds > the longest distance from the centre to an edge (`tree_rounds`: 5 for
blocks up to 63 x 63, 9 for the whole `wse2` fabric); a block that needs more is refused at launch with
a `RouteError` saying which `rounds` to pass.

Skew: at a PE of column p the row tree's words and the column tree's share a channel per round, and the PE
takes its row's first. That holds while the block's PEs reach the all-reduce together (rows running the same
code); where they do not (a solver's edge rows, with fewer halo messages, finish their row trees first), a
column word can overtake a row word, which the simulator refuses with a `RouteError` (hardware would combine
them in another order). `stages_apart=1` puts the column stage on channels of its own, `channel + 2 rounds`
.. `channel + 4 rounds - 1`, the broadcast on `channel + 4 rounds`: 4 rounds + 1 channels, one sender per
channel and PE, any skew, the same order of a float32 sum.
"""
from __future__ import annotations

import numbers

from ..arch.spec import MAX_CHANNELS
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, ArgumentTypeError, call_checked
from ..isa.routes import PATTERN_NAMES
from ..isa.tree_routes import MAX_TREE_ROUNDS
from ..isa.tree_routes import tree_rounds as _tree_rounds
from ..runtime.jit import jit
from .lines import combine, combine_into
from .ports import SUM

#: Pattern numbers (`ws.use_route` takes them from device code) of round 0 of each side's trees, and of
#: the broadcast of 1 round (`+ rounds - 1` for others).
TREE_LOW = PATTERN_NAMES.index("tree_low_0")
TREE_HIGH = PATTERN_NAMES.index("tree_high_0")
TREE_BROADCAST = PATTERN_NAMES.index("tree_broadcast_1")
#: rounds when the caller gives none: any block of up to 63 x 63 PEs (11 channels).
TREE_ROUNDS = 5
ROUNDS = tuple(range(MAX_TREE_ROUNDS))  # (loops over a tuple unroll: a round's channel is a constant)
BAD_ROUNDS = (f"rounds must be a constant from 1 to {MAX_TREE_ROUNDS} (wsc.tree_rounds(bx, by) gives the rounds a "
              f"block needs; its half-lines of up to 2**rounds - 1 PEs)")
BAD_STAGES_APART = "stages_apart must be 0 or 1, a constant"
PAST_CHANNELS = (f"a tree collective uses channels channel .. channel + 2 * rounds (channel + 4 * rounds with "
                 f"stages_apart=1: wsc.tree_channels(rounds, stages_apart) of them), and a channel is at most "
                 f"{MAX_CHANNELS - 1}: pass a lower channel (or fewer rounds, wsc.tree_rounds(bx, by))")
SHORT_PART = ("the tree's array all-reduce receives whole arrays into part: part must be a local array at least as "
              "long as values")

__all__ = ["MAX_TREE_ROUNDS", "TREE_ROUNDS", "block_all_reduce_tree", "block_all_reduce_array_tree", "tree_channels",
           "tree_rounds"]


def _whole(name: str, value, where: str) -> int:
    """`value` as an int, or an `ArgumentTypeError` (a bool, a float, a string are not a count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{where}: {name} must be an int, not {type(value).__name__} {value!r}")
    return int(value)


@call_checked
def tree_rounds(bx: int, by: int) -> int:
    """The rounds a bx x by block's tree needs (`rounds` of `block_all_reduce_tree`): the bits of the longest
    distance from the centre to an edge, 1 at least; 11 at most for blocks of up to 4,095 PEs a side (the
    tree takes up to `MAX_TREE_ROUNDS`; a larger block answers more, and uses the chains). bx and by are
    block sides: ints of at least 1 (else an `ArgumentError`; not an int: an `ArgumentTypeError`)."""
    sides = [_whole(name, value, "wsc.tree_rounds(bx, by)") for name, value in (("bx", bx), ("by", by))]
    if min(sides) < 1:
        raise ArgumentError(f"wsc.tree_rounds(bx, by): a block's sides are at least 1 PE, not {bx} x {by}")
    return _tree_rounds(*sides)


@call_checked
def tree_channels(rounds: int = TREE_ROUNDS, stages_apart: int = 0) -> int:
    """Channels a tree collective of `rounds` rounds uses (from its `channel` on): 2 rounds + 1, or
    4 rounds + 1 with the column stage on channels of its own (`stages_apart`). A `rounds` outside 1 ..
    `MAX_TREE_ROUNDS` or a `stages_apart` other than 0 and 1 is an `ArgumentError`, as the collective
    refuses them where a kernel calls it."""
    rounds = _whole("rounds", rounds, "wsc.tree_channels(rounds, stages_apart)")
    stages_apart = _whole("stages_apart", stages_apart, "wsc.tree_channels(rounds, stages_apart)")
    if not 1 <= rounds <= MAX_TREE_ROUNDS:
        raise ArgumentError(f"wsc.tree_channels(): {BAD_ROUNDS}, not {rounds}")
    if stages_apart not in (0, 1):
        raise ArgumentError(f"wsc.tree_channels(): {BAD_STAGES_APART}, not {stages_apart}")
    return 2 * rounds * (1 + stages_apart) + 1


@jit
def declare_tree_routes(channel, rounds, stages_apart=0):
    """ws.use_route for every channel of the tree (the launch installs them). A round's pattern holds the
    routes of both stages; with `stages_apart`, each stage's channels use only its own. A `rounds` outside
    1..MAX_TREE_ROUNDS or a `stages_apart` other than 0 and 1 is a CompileError here (rounds=0 compiled and
    failed at launch with a RouteError about channel 0's route; stages_apart=2 put the column stage on
    channels no route was declared for)."""
    if rounds < 1:
        ws.refuse(BAD_ROUNDS)
    if rounds > MAX_TREE_ROUNDS:
        ws.refuse(BAD_ROUNDS)
    if stages_apart != 0:
        if stages_apart != 1:
            ws.refuse(BAD_STAGES_APART)
    if channel + 2 * rounds * (1 + stages_apart) >= MAX_CHANNELS:  # (else '32 is not a channel' at a use_route)
        ws.refuse(PAST_CHANNELS)
    for r in ROUNDS:
        if r < rounds:
            ws.use_route(channel + r, TREE_LOW + r)
            ws.use_route(channel + rounds + r, TREE_HIGH + r)
            if stages_apart:
                ws.use_route(channel + 2 * rounds + r, TREE_LOW + r)
                ws.use_route(channel + 3 * rounds + r, TREE_HIGH + r)
    ws.use_route(channel + 2 * rounds * (1 + stages_apart), TREE_BROADCAST + rounds - 1)
    return 0


@jit
def half_line(value, d, room, op, channel, rounds):
    """One PE of a half-line tree at distance d > 0 from its root, with `room` PEs beyond it: combine what
    rounds 0, 1, ... bring while d's bit r is clear (from the PE 2^r beyond, if there is one), then send
    the result towards the root in the round of d's lowest set bit. (Two tests a round: no more control
    than that, which would add to every round of the critical path.)"""
    minus_room = -room
    for r in ROUNDS:
        s = 1 << r
        if r >= rounds:
            break
        if d & s:
            ws.send(ws.RAMP, value, channel=channel + r)
            break
        if minus_room < 1 - s:  # (room >= s as one slti and a branch, not a load of s, a compare and a branch)
            word = value  # (a received word takes the type of the variable it is assigned to)
            word = ws.recv(ws.RAMP, channel=channel + r)
            value = combine(value, word, op)
    return value


@jit
def line_root(value, low_room, high_room, op, channel, rounds):
    """The root of a line's two half-line trees (`low_room`, `high_room` PEs on each side): round by round,
    the low side's word then the high side's (they arrive at about the same time)."""
    minus_low, minus_high = -low_room, -high_room
    for r in ROUNDS:
        s = 1 << r
        if r >= rounds:
            break
        if minus_low < 1 - s:
            word = value
            word = ws.recv(ws.RAMP, channel=channel + r)
            value = combine(value, word, op)
        if minus_high < 1 - s:
            word = value
            word = ws.recv(ws.RAMP, channel=channel + rounds + r)
            value = combine(value, word, op)
    return value


@jit
def half_line_array(values, part, d, room, op, channel, rounds):
    """`half_line` for local arrays: values (op)= each received array, element-wise."""
    minus_room = -room
    n = len(values)
    for r in ROUNDS:
        s = 1 << r
        if r >= rounds:
            break
        if d & s:
            ws.send(ws.RAMP, values[0:n], channel=channel + r)
            break
        if minus_room < 1 - s:  # (room >= s as one slti and a branch, not a load of s, a compare and a branch)
            ws.recv(ws.RAMP, out=part[0:n], channel=channel + r)
            combine_into(values, part, 0, n, op)
    return 0


@jit
def line_root_array(values, part, low_room, high_room, op, channel, rounds):
    """`line_root` for local arrays."""
    minus_low, minus_high = -low_room, -high_room
    n = len(values)
    for r in ROUNDS:
        s = 1 << r
        if r >= rounds:
            break
        if minus_low < 1 - s:
            ws.recv(ws.RAMP, out=part[0:n], channel=channel + r)
            combine_into(values, part, 0, n, op)
        if minus_high < 1 - s:
            ws.recv(ws.RAMP, out=part[0:n], channel=channel + rounds + r)
            combine_into(values, part, 0, n, op)
    return 0


@jit
def block_all_reduce_tree(value, op=SUM, channel=0, rounds=TREE_ROUNDS, stages_apart=0):
    """The sum (max, min) of `value` (a float32 or int32 scalar) over the block, at every PE of it, by a
    binary tree to the centre and a multicast back (module docstring: the order of a float32 sum);
    channels `channel` .. `channel + tree_channels(rounds, stages_apart) - 1`; `rounds` a constant covering
    the block; `stages_apart` (a constant): the column stage on channels of its own, for PEs that reach
    the sum at different times (module docstring)."""
    declare_tree_routes(channel, rounds, stages_apart)
    x, y = ws.threadIdx.x, ws.threadIdx.y
    p, q = ws.blockDim.x // 2, ws.blockDim.y // 2
    if x < p:
        value = half_line(value, p - x, x, op, channel, rounds)
    elif x > p:
        value = half_line(value, x - p, ws.blockDim.x - 1 - x, op, channel + rounds, rounds)
    else:
        value = line_root(value, p, ws.blockDim.x - 1 - p, op, channel, rounds)
        if y < q:
            value = half_line(value, q - y, y, op, channel + 2 * rounds * stages_apart, rounds)
        elif y > q:
            value = half_line(value, y - q, ws.blockDim.y - 1 - y, op, channel + (2 * stages_apart + 1) * rounds,
                              rounds)
        else:
            value = line_root(value, q, ws.blockDim.y - 1 - q, op, channel + 2 * rounds * stages_apart, rounds)
    if x == p and y == q:
        ws.send(ws.RAMP, value, channel=channel + 2 * rounds * (1 + stages_apart))
    else:
        value = ws.recv(ws.RAMP, channel=channel + 2 * rounds * (1 + stages_apart))
    return value


@jit
def block_all_reduce_array_tree(values, part, op=SUM, channel=0, rounds=TREE_ROUNDS, stages_apart=0):
    """values = its element-wise sum (max, min) over the block, at every PE (in place), by the tree of
    `block_all_reduce_tree` (the same order, element by element, and the same channels); `part`: a scratch
    local array at least as long as `values` (else a CompileError here: it was a MemoryAccessError at the
    receiving PEs only)."""
    if len(part) < len(values):
        ws.refuse(SHORT_PART)
    declare_tree_routes(channel, rounds, stages_apart)
    x, y = ws.threadIdx.x, ws.threadIdx.y
    p, q = ws.blockDim.x // 2, ws.blockDim.y // 2
    n = len(values)
    if x < p:
        half_line_array(values, part, p - x, x, op, channel, rounds)
    elif x > p:
        half_line_array(values, part, x - p, ws.blockDim.x - 1 - x, op, channel + rounds, rounds)
    else:
        line_root_array(values, part, p, ws.blockDim.x - 1 - p, op, channel, rounds)
        if y < q:
            half_line_array(values, part, q - y, y, op, channel + 2 * rounds * stages_apart, rounds)
        elif y > q:
            half_line_array(values, part, y - q, ws.blockDim.y - 1 - y, op, channel + (2 * stages_apart + 1) * rounds,
                            rounds)
        else:
            line_root_array(values, part, q, ws.blockDim.y - 1 - q, op, channel + 2 * rounds * stages_apart, rounds)
    if x == p and y == q:
        ws.send(ws.RAMP, values[0:n], channel=channel + 2 * rounds * (1 + stages_apart))
    else:
        ws.recv(ws.RAMP, out=values[0:n], channel=channel + 2 * rounds * (1 + stages_apart))
    return 0
