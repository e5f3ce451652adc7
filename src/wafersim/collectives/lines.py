"""Collectives along the rows and columns of a block: routed multicast and neighbour chains.

Device functions: call them from `@ws.jit` kernels. Every PE of the block must call the same collective
with the same root and channel, like a CUDA cooperative-groups collective. Broadcasts declare the
static route they need (`ws.use_route`), which the launch installs in every block, so no PE ever
reconfigures a router while words are in flight; give each route pattern its own channel in a kernel.

- broadcast (channel: a bus): the root hands its words to its router once; the routers copy them along
  the line (multicast), so each word costs the root one send whatever the line's length;
- reduce (channel: neighbour words): each PE receives its outer neighbour's partial result, combines its
  own and sends on towards the root (a chain: routes could not shorten it). The chains' words carry chain
  tags (the compiler gives every send, receive and stream op of this package one, `isa.opcodes.chain_tag`):
  a kernel's own word left on the FIFO across the call stops the kernel with a `ChainWordError` instead of
  being combined, as does a kernel's receive meeting a chain's word. A float32 or int32 scalar's SUM
  streams, one stream op of one word a PE (`line_sum_stream`). float32, int32 and float16 arrays stream:
  one stream op a PE (`ws.add_stream`, `vaddx`; `vhaddx` on float16, as the SDK's `@faddh` with fabric DSDs)
  combines each word as it arrives and passes it on, as a WSE PE's DSD operation with fabric operands does;
  bfloat16 arrays (no stream op) move word by word (short arrays on long
  lines: each word forwarded at once) or in chunks pipelined with background transfers (`chunk_words`
  picks; a longer scratch `part` allows longer chunks);
- all-reduce (channels c, c + 1): reduce to PE 0 of the line on c, then broadcast from it over a bus on
  c + 1;
- scatter (a bus): the root broadcasts the whole array and each PE keeps its element; gather (neighbour
  words): each PE sends its value towards the root, and PEs on the way forward what they receive;
- all-gather (c, c + 1): gather to PE 0, then broadcast the array; reduce-scatter (c, c + 1): the array
  all-reduce, each PE keeping its element (one element per PE, as NCCL's with one element per rank).
"""
from __future__ import annotations

import numpy as np

from ..compiler import intrinsics as ws
from ..compiler.intrinsics import is_float, streamable
from ..runtime.jit import jit
from .ports import MAX, MIN, SUM

#: Any other `op` (a number that is no operation, or one known only at run time, which would compile every
#: branch) used to give MIN silently; now it is refused where the kernel calls the collective.
BAD_OP = ("op must be wsc.SUM, wsc.MAX or wsc.MIN, a constant (a literal, a module constant or a ws.constant "
          "parameter): not another number, nor a value known only when the kernel runs")

CHUNK = 16  # words per step of an array reduce: no more than a FIFO holds (fifo_depth 16), so the chain pipelines
# The cycles `chunk_words` weighs a chunked chain against a word-by-word one with: measured on the `wse2`
# preset, bounds checks on (bench/reproduce_luczynski_reduce.py).
PIPE_CHUNK_CYCLES = 44
MAX_CHUNK = 256  # (longer chunks save little; the bound keeps chunk_words' products within int32)
PIPE_HOP_CYCLES = 40
# The word-by-word loop (`chain_step`, c = 0: a receive into part, a one-word combine, a send, with their bounds
# checks) on `wse2`, measured as row_reduce_array's chain of bfloat16 words (tests/test_collectives_lines.py fits
# them within 10%): 13 cycles a word and 10 a hop (17 and 17 before stop 49's constant propagation took the
# constant-length slices' length checks out; 25 and 25 before stop 41's bounds-check elimination proved the
# loop's slice checks; 9 and 8 before stop 39, which sent 16-bit arrays of 9 to ~100 words on lines of 9 PEs or
# more word by word, at up to 3.5 times a chunked chain's cycles); up to
# UNROLLED_WORDS words the compiler unrolls the loop (compiler/passes/unroll.py), which then costs 7 a word
# and 10 a hop (8 and 11 before stop 49).
WORD_CYCLES = 13
WORD_HOP_CYCLES = 10
UNROLLED_WORDS = 8
UNROLLED_WORD_CYCLES = 7
UNROLLED_WORD_HOP_CYCLES = 10
#: Arrays this short go word by word whatever the line: with the costs above, one chunk of n <= 4 words costs
#: more than n words on every line (hops (2 n + PIPE_HOP_CYCLES) + n + PIPE_CHUNK_CYCLES > hops
#: UNROLLED_WORD_HOP_CYCLES + n UNROLLED_WORD_CYCLES for hops >= 1), so `chunk_words` would answer 0
#: (tests/test_collectives.py checks it).
SHORT_WORDS = 4


@jit
def combine(a, b, op):
    """a (op) b for op = SUM, MAX or MIN (a constant). MAX and MIN propagate a NaN from either side, as
    `np.max`/`np.min` do: Python's `max(a, b)` keeps `a` when b is a NaN, which would make a reduction's
    result depend on where the NaN sits (the vector forms, `combine_into`, propagate it already). The
    compiler makes `b if b != b else max(a, b)` one `fmax(b, a)` (docs/python-supported.md), as cheap as
    SUM's `fadd`: keep this form (another spelling may compile to a branch)."""
    if op == SUM:
        result = a + b
    elif op == MAX:
        result = b if b != b else max(a, b)
    elif op == MIN:
        result = b if b != b else min(a, b)
    else:
        ws.refuse(BAD_OP)
    return result


@jit
def combine_into(acc, part, start, stop, op):
    """acc[start:stop] = acc[start:stop] (op) part[0:stop - start], element by element."""
    n = stop - start
    if op == SUM:
        acc[start:stop] += part[0:n]
    elif op == MAX:
        acc[start:stop] = max(acc[start:stop], part[0:n])
    elif op == MIN:
        acc[start:stop] = min(acc[start:stop], part[0:n])
    else:
        ws.refuse(BAD_OP)
    return 0


# ---------------------------------------------------------------------------- generic line collectives
# position: this PE's index along the line; has_ahead / has_behind: whether it has a neighbour towards
# higher / lower positions; bus: the line's bus pattern; towards_low / towards_high: the chain patterns
# moving words to lower / higher positions.
@jit
def line_broadcast(value, position, root, channel, bus):
    ws.use_route(channel, bus)
    if position == root:
        ws.send(ws.RAMP, value, channel=channel)
    else:
        value = ws.recv(ws.RAMP, channel=channel)
    return value


@jit
def line_broadcast_array(values, position, root, channel, bus):
    ws.use_route(channel, bus)
    if position == root:
        ws.send(ws.RAMP, values[0:len(values)], channel=channel)
    else:
        ws.recv(ws.RAMP, out=values[0:len(values)], channel=channel)
    return 0


@jit
def line_reduce(value, position, root, op, channel, ahead, behind, has_ahead, has_behind, two_sided=1):
    """Partial results flow towards the root one neighbour hop at a time (plain sends: a chain gains
    nothing from routes). `two_sided` = 0 (a constant) when the root is PE 0: that side folds away. A sum
    streams (`line_sum_stream`); MAX and MIN receive, combine and send (`combine`'s order of a nan or two
    zeros, which a stream op's np.maximum would not keep)."""
    if op == SUM:
        value = line_sum_stream(value, position, root, channel, ahead, behind, has_ahead, has_behind, two_sided)
    else:
        part = value  # (a received word takes the type of the variable it is assigned to: value's)
        if position >= root and has_ahead:
            part = ws.recv(ahead, channel=channel)
            value = combine(value, part, op)
        if two_sided and position <= root and has_behind:
            part = ws.recv(behind, channel=channel)
            value = combine(value, part, op)
        if position > root:
            ws.send(behind, value, channel=channel)
        if two_sided and position < root:
            ws.send(ahead, value, channel=channel)
    return value


@jit
def line_sum_stream(value, position, root, channel, ahead, behind, has_ahead, has_behind, two_sided):
    """`line_reduce`'s SUM: each PE with a neighbour beyond it adds the word arriving from there to its own
    and sends the sum on as it is made, one stream op of one word (`ws.add_stream` on a one-word local
    array, as `stream_into` does a vector's): about 6 cycles a hop on `wse2` where a receive, an add and a
    send take 12. Bit for bit `combine`'s value + part (the op's sram[a] + word, own first: of two nans the
    PE's own; int32 wraps alike); the farthest PEs send their value as it is."""
    if is_float(value):  # (a constant: the array takes the scalar's type)
        word = ws.local.array(1, np.float32)
    else:
        word = ws.local.array(1, np.int32)
    if position > root:
        if has_ahead:
            word[0] = value
            ws.add_stream(ahead, behind, word[0:1], channel=channel)
            value = word[0]
        else:
            ws.send(behind, value, channel=channel)
    elif two_sided and position < root:
        if has_behind:
            word[0] = value
            ws.add_stream(behind, ahead, word[0:1], channel=channel)
            value = word[0]
        else:
            ws.send(ahead, value, channel=channel)
    elif two_sided or position == root:  # the root: the side ahead, then the side behind (combine's order)
        word[0] = value
        if has_ahead:
            ws.add_stream(ahead, None, word[0:1], channel=channel)
        if two_sided and has_behind:
            ws.add_stream(behind, None, word[0:1], channel=channel)
        value = word[0]
    return value


@jit
def line_reduce_array(values, part, position, root, op, channel, ahead, behind, has_ahead, has_behind,
                      two_sided=1, length=0):
    """Partial vectors flow towards the root, each PE combining its own and passing them on (`chain_step`:
    word by word or in chunks, as `chunk_words` picks for the chain's length); a root with neighbours on both sides
    (`two_sided`) takes the two chains in turn, chunk by chunk. `length`: the PEs of the line (0: unknown,
    taken as long)."""
    room = len(part)  # (a stream needs no scratch, but `part` must still be a local array: one missing is refused)
    hops = root  # the farthest PE's distance from the root
    if length - 1 - root > hops:
        hops = length - 1 - root
    if hops < 1:  # (a line of one PE: nothing moves)
        hops = 1
    if length <= 0:
        hops = 4096  # (longer than any line of a wafer; small enough that chunk_words' products fit in int32)
    c = 0  # (up to SHORT_WORDS words, word by word is the cheaper on every line, as chunk_words finds; a constant
    if len(values) > SHORT_WORDS and not streamable(values):  # length folds this test away, sparing short vectors
        c = chunk_words(len(values), hops, room)  # the run-time choice; streams need none)
    if position > root:
        chain_step(values, part, op, channel, ahead, behind, has_ahead, 1, c)
    elif two_sided and position < root:
        chain_step(values, part, op, channel, behind, ahead, has_behind, 1, c)
    elif two_sided and has_behind:
        root_of_two_chains(values, part, op, channel, ahead, behind, has_ahead)
    else:
        chain_step(values, part, op, channel, ahead, behind, has_ahead, 0, c)
    return 0


@jit
def chunk_words(n, hops, room):
    """How a chain of `hops` PEs moves n words: in chunks of the returned size (a power of two; chunks
    above `CHUNK` words need `part` to hold two, so that one arrives while the other is combined), or word
    by word (0). A chunk pipelines (one vector op, one background receive and send for c words: about
    PIPE_CHUNK_CYCLES + c cycles a chunk) but a PE forwards it only once it has all of it (about
    2 c + PIPE_HOP_CYCLES a hop); a word at a time a PE forwards each word at once (WORD_HOP_CYCLES a hop)
    but pays WORD_CYCLES for each (UNROLLED_ ones for arrays short enough to unroll the loop: n, a
    constant, folds the test away). Chunks of c words cost about hops (2 c + PIPE_HOP_CYCLES) +
    (n / c) (c + PIPE_CHUNK_CYCLES): least near c = sqrt(n PIPE_CHUNK_CYCLES / (2 hops))."""
    cap = min(room, CHUNK)
    if room // 2 > cap:
        cap = room // 2
    if cap > MAX_CHUNK:
        cap = MAX_CHUNK
    limit = PIPE_CHUNK_CYCLES * n  # (no division: 8 cycles each; products within int32 for hops < 4096)
    c = 1
    shift = 0
    while c * 2 <= cap and 2 * (c * 2) * (c * 2) * hops <= limit:
        c = c * 2
        shift += 1
    if n <= cap and c * 2 > n:  # one chunk holds the whole array
        c = n
        chunks = hops * (2 * n + PIPE_HOP_CYCLES) + n + PIPE_CHUNK_CYCLES
    else:
        chunks = hops * (2 * c + PIPE_HOP_CYCLES) + ((n + c - 1) >> shift) * (c + PIPE_CHUNK_CYCLES)
    if n <= UNROLLED_WORDS:
        words = hops * UNROLLED_WORD_HOP_CYCLES + n * UNROLLED_WORD_CYCLES
    else:
        words = hops * WORD_HOP_CYCLES + n * WORD_CYCLES
    if words < chunks:
        c = 0
    return c


@jit
def chain_step(values, part, op, channel, source, sink, receives, sends, c):
    """One PE of a chain: values (op)= the vector arriving from `source` (if `receives`), passed on to
    `sink` (if `sends`): in chunks of c words (`chain_pipe`), or word by word (c = 0). A PE with nothing to
    receive hands its whole vector to the fabric at once, in the background (the receiver paces it)."""
    n = len(values)
    if receives:
        if streamable(values):  # (a constant: float32, int32 and float16 arrays stream, one instruction a PE)
            stream_into(values, op, channel, source, sink, sends)
        elif c > 0:
            chain_pipe(values, part, op, channel, source, sink, sends, c)
        else:  # word by word, in the array's own type (bfloat16: it has no stream op): each word
            # received into part[0:1] and combined there, rounded to 16 bits, then sent on from values. (A scalar
            # read of a 16-bit element is a float32, so the receive expected float32 words where the chain's
            # first PE sends its 16-bit vector, a WordTypeError, and the sum went on unrounded.)
            for k in range(n):
                ws.recv(source, out=part[0:1], channel=channel)
                combine_into(values, part, k, k + 1, op)
                if sends:
                    ws.send(sink, values[k:k + 1], channel=channel)
    elif sends:
        ws.send_async(sink, values[0:n], channel=channel)
        ws.send_wait(sink, channel=channel)  # (values may change, a broadcast into them, only after it)
    return 0


@jit
def stream_into(values, op, channel, source, sink, sends):
    """values (op)= the vector arriving from `source`, word by word as it arrives (values[k] first, as
    `combine_into`), each result passed on to `sink` as it is made (if `sends`, a constant): one stream op
    (`ws.add_stream`, ...: docs/timing.md, "Streams through the FMAC")."""
    n = len(values)
    if sends:
        if op == SUM:
            ws.add_stream(source, sink, values[0:n], channel=channel)
        elif op == MAX:
            ws.max_stream(source, sink, values[0:n], channel=channel)
        elif op == MIN:
            ws.min_stream(source, sink, values[0:n], channel=channel)
        else:
            ws.refuse(BAD_OP)
    elif op == SUM:
        ws.add_stream(source, None, values[0:n], channel=channel)
    elif op == MAX:
        ws.max_stream(source, None, values[0:n], channel=channel)
    elif op == MIN:
        ws.min_stream(source, None, values[0:n], channel=channel)
    else:
        ws.refuse(BAD_OP)
    return 0


@jit
def chain_pipe(values, part, op, channel, source, sink, sends, c):
    """values (op)= the vector from `source` in chunks of c words, each sent on to `sink` (if `sends`). The
    transfers run in the background (as CSL's asynchronous DSD operations): chunk k + 1 arrives while
    chunk k is combined and the combined chunk leaves while the PE waits for the next, so a PE spends a
    chunk's combine and a few issues on it, not a receive, a combine and a send one after the other.
    Chunks up to `CHUNK` words (the FIFO's depth) wait in the FIFO until part is free again; longer ones
    alternate between the two halves of `part`, the next landing while this one is combined."""
    n = len(values)
    ws.recv_async(source, out=part[0:min(c, n)], channel=channel)
    start = 0
    if c > CHUNK:
        here = 0
        while start < n:
            stop = min(start + c, n)
            ws.recv_wait(source, channel=channel)
            if stop < n:
                ws.recv_async(source, out=part[c - here:c - here + min(c, n - stop)], channel=channel)
            combine_from(values, start, stop, part, here, op)
            if sends:
                ws.send_async(sink, values[start:stop], channel=channel)
            here = c - here
            start = stop
    else:
        while start < n:
            stop = min(start + c, n)
            ws.recv_wait(source, channel=channel)
            combine_from(values, start, stop, part, 0, op)
            if sends:
                ws.send_async(sink, values[start:stop], channel=channel)
            if stop < n:
                ws.recv_async(source, out=part[0:min(c, n - stop)], channel=channel)
            start = stop
    if sends:  # values may change (a broadcast into them) only once the last word has left
        ws.send_wait(sink, channel=channel)
    return 0


@jit
def combine_from(acc, start, stop, part, offset, op):
    """acc[start:stop] = acc[start:stop] (op) part[offset:offset + stop - start], element by element."""
    n = stop - start
    if op == SUM:
        acc[start:stop] += part[offset:offset + n]
    elif op == MAX:
        acc[start:stop] = max(acc[start:stop], part[offset:offset + n])
    elif op == MIN:
        acc[start:stop] = min(acc[start:stop], part[offset:offset + n])
    else:
        ws.refuse(BAD_OP)
    return 0


@jit
def root_of_two_chains(values, part, op, channel, ahead, behind, has_ahead):
    """A root inside the line: the chunks of both sides, in turn, with blocking receives (one scratch); a
    float32, int32 or float16 array streams the whole of one side, then the other's (the same order of operations:
    values[k] (op) ahead's word k, then (op) behind's; the side behind waits in its FIFO meanwhile)."""
    n = len(values)
    if streamable(values):
        if has_ahead:
            stream_into(values, op, channel, ahead, behind, 0)
        stream_into(values, op, channel, behind, ahead, 0)
        return 0
    step = min(CHUNK, len(part))
    for start in range(0, n, step):
        stop = min(start + step, n)
        if has_ahead:
            ws.recv(ahead, out=part[0:stop - start], channel=channel)
            combine_into(values, part, start, stop, op)
        ws.recv(behind, out=part[0:stop - start], channel=channel)
        combine_into(values, part, start, stop, op)
    return 0


@jit
def line_gather(value, values, position, root, channel, size, ahead, behind):
    """values[i] at the root = value of PE i of the line; each PE forwards what comes from beyond it."""
    if position == root:
        values[root] = value
        for i in range(root + 1, size):
            values[i] = ws.recv(ahead, channel=channel)
        for i in range(root - 1, -1, -1):
            values[i] = ws.recv(behind, channel=channel)
    elif position > root:
        ws.send(behind, value, channel=channel)
        for _ in range(size - 1 - position):
            ws.send(behind, ws.recv(ahead, channel=channel), channel=channel)
    else:
        ws.send(ahead, value, channel=channel)
        for _ in range(position):
            ws.send(ahead, ws.recv(behind, channel=channel), channel=channel)
    return 0


# ---------------------------------------------------------------------------- rows and columns
class _Line:
    """The collectives of one kind of line (rows or columns): device functions built once per axis, so
    that rows and columns share one definition. `position` is threadIdx.x (rows) or .y (columns)."""

    def __init__(self, axis: int) -> None:
        rows = axis == 0
        bus = "row_bus" if rows else "column_bus"
        ahead, behind = (ws.EAST, ws.WEST) if rows else (ws.SOUTH, ws.NORTH)

        @jit
        def position():
            return ws.threadIdx.x if rows else ws.threadIdx.y

        @jit
        def size():
            return ws.blockDim.x if rows else ws.blockDim.y

        @jit
        def broadcast(value, root=0, channel=0):
            return line_broadcast(value, position(), root, channel, bus)

        @jit
        def broadcast_array(values, root=0, channel=0):
            return line_broadcast_array(values, position(), root, channel, bus)

        @jit
        def reduce(value, root=0, op=SUM, channel=0):
            return line_reduce(value, position(), root, op, channel, ahead, behind, ws.has_neighbor(ahead),
                               ws.has_neighbor(behind))

        @jit
        def reduce_array(values, part, root=0, op=SUM, channel=0):
            return line_reduce_array(values, part, position(), root, op, channel, ahead, behind,
                                     ws.has_neighbor(ahead), ws.has_neighbor(behind), 1, size())

        @jit
        def all_reduce(value, op=SUM, channel=0):
            total = line_reduce(value, position(), 0, op, channel, ahead, behind, ws.has_neighbor(ahead), 0, 0)
            return line_broadcast(total, position(), 0, channel + 1, bus)

        @jit
        def all_reduce_array(values, part, op=SUM, channel=0):
            line_reduce_array(values, part, position(), 0, op, channel, ahead, behind, ws.has_neighbor(ahead), 0,
                              0, size())
            return line_broadcast_array(values, position(), 0, channel + 1, bus)

        @jit
        def scatter(values, root=0, channel=0):
            line_broadcast_array(values, position(), root, channel, bus)
            return values[position()]

        @jit
        def gather(value, values, root=0, channel=0):
            return line_gather(value, values, position(), root, channel, size(), ahead, behind)

        @jit
        def all_gather(value, values, channel=0):
            line_gather(value, values, position(), 0, channel, size(), ahead, behind)
            return line_broadcast_array(values, position(), 0, channel + 1, bus)

        @jit
        def reduce_scatter(values, part, op=SUM, channel=0):
            line_reduce_array(values, part, position(), 0, op, channel, ahead, behind, ws.has_neighbor(ahead), 0,
                              0, size())
            line_broadcast_array(values, position(), 0, channel + 1, bus)
            return values[position()]

        line, index = ("row", "column x") if rows else ("column", "row y")
        docs = {
            broadcast: f"The `value` of the PE at {index} = `root` of this PE's {line} (a scalar; channel: a bus).",
            broadcast_array: f"Every PE of the {line} gets the root's local array `values` (in place; channel: a bus).",
            reduce: f"The sum (max, min) of `value` over the {line}, returned at the root (others get partial "
                    f"results); channel: neighbour words.",
            reduce_array: f"values (a local array) = its element-wise sum (max, min) over the {line}, at the root; "
                          f"`part`: a scratch local array of at least min(len(values), CHUNK) elements (a longer one, "
                          f"room for two chunks, lets long arrays move in longer chunks); channel: "
                          f"neighbour words.",
            all_reduce: f"The sum (max, min) of `value` over the {line}, at every PE of it; channels `channel` (a "
                        f"chain) and `channel + 1` (a bus).",
            all_reduce_array: f"values = its element-wise sum (max, min) over the {line}, at every PE of it; "
                              f"channels `channel` (a chain) and `channel + 1` (a bus).",
            scatter: f"values[i] of the root's array at the PE of {index} = i (every PE passes an array as long as "
                     f"the {line}: the root's holds the data, the others' receive a copy; channel: a bus).",
            all_gather: f"At every PE of the {line}: values[i] = `value` of the PE of {index} = i (values: a local "
                        f"array as long as the {line}, as NCCL's all-gather of one element per rank); channels "
                        f"`channel` (neighbour words) and `channel + 1` (a bus).",
            reduce_scatter: f"The element-wise sum (max, min) over the {line} of `values` (a local array as "
                            f"long as the {line}), element i returned at the PE of {index} = i (NCCL's "
                            f"reduce-scatter of one element per rank; `values` holds the whole reduction "
                            f"afterwards, everywhere); `part`: as for reduce_array; channels `channel` (a chain) "
                            f"and `channel + 1` (a bus).",
            gather: f"At the root: values[i] = `value` of the PE of {index} = i (values: a local array as long as "
                    f"the {line}); channel: neighbour words.",
        }
        for function, doc in docs.items():
            function.__doc__ = function.py_func.__doc__ = doc
        self.broadcast, self.broadcast_array, self.reduce, self.reduce_array = (broadcast, broadcast_array, reduce,
                                                                                 reduce_array)
        self.all_reduce, self.all_reduce_array, self.scatter, self.gather = (all_reduce, all_reduce_array, scatter,
                                                                             gather)
        self.all_gather, self.reduce_scatter = all_gather, reduce_scatter


_ROWS, _COLUMNS = _Line(0), _Line(1)
row_broadcast, column_broadcast = _ROWS.broadcast, _COLUMNS.broadcast
row_broadcast_array, column_broadcast_array = _ROWS.broadcast_array, _COLUMNS.broadcast_array
row_reduce, column_reduce = _ROWS.reduce, _COLUMNS.reduce
row_reduce_array, column_reduce_array = _ROWS.reduce_array, _COLUMNS.reduce_array
row_all_reduce, column_all_reduce = _ROWS.all_reduce, _COLUMNS.all_reduce
row_all_reduce_array, column_all_reduce_array = _ROWS.all_reduce_array, _COLUMNS.all_reduce_array
row_scatter, column_scatter = _ROWS.scatter, _COLUMNS.scatter
row_gather, column_gather = _ROWS.gather, _COLUMNS.gather
row_all_gather, column_all_gather = _ROWS.all_gather, _COLUMNS.all_gather
row_reduce_scatter, column_reduce_scatter = _ROWS.reduce_scatter, _COLUMNS.reduce_scatter
