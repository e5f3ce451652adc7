"""A plain-Python model of routed link arbitration, the reference the simulator is compared with.

It runs a small assembly program (the subset `SUBSET` below: integer arithmetic, branches, `sreg tid.x/tid.y`,
routed scalar `send ramp` / `recv ramp`, `halt`) on one block of PEs, PE by PE in plain Python, with the timing
of docs/timing.md ("Fabric") and docs/routes.md:

- every instruction costs its class's cycles (`opcodes.opcode_cycles`: 1 on `dev`);
- a routed send is ready at clock + send cost; its words cross the links of its route, entering the link
  leaving router p by port d at `ramp_latency + hop_latency * (hops before it)` cycles after departure, and
  reach each PE whose rule delivers them to its ramp after `2 * ramp_latency + hop_latency * hops`;
- **the span rule** (`RoutedExchangeMixin._share_links`): each link remembers one span [from, until) of
  simulated time, its latest reservation. A word leaving at `t` wants the span [t + offset, t + offset +
  word_time) of each link of its path; where that overlaps the link's span (begin < until and end > from)
  the word must wait `until - begin`; the whole multicast waits for its most contended link (its sender
  stalls that long, conservative for branches that were free). Then each link of the path whose span begins
  at or after the old `until` takes it: a span starting exactly at `until` extends the old one, a later one
  replaces it (a gap); a span lying wholly before the old one leaves it as it was;
- a word's receive completes at max(clock + recv cost, arrival); waiting counts as stall;
- **the commit order** (issue 9's rule): routed sends reserve links in the order of (send cycle, sender's
  linear PE index y * width + x, channel), each seeing every reservation made before it in that order. The
  model runs every PE that can run until it halts, blocks on an empty FIFO or reaches a routed send; only
  when none can run does it commit the pending send of least key (a PE blocked on a receive can only be woken
  by a commit, to a clock after it: the next send of any PE has a key at least the committed one's).

With `pick` (a random generator), sends commit in another order, issue 9's local bound (the engine's
`sim/routed_order.py`): any pending send no PE it can contend with can precede, chosen at random. A PE *can
contend* with a send where a path of its own (any channel it has a route from its ramp on) shares a link or
the receiver's FIFO of a channel with the send's; it can precede it where its next send can come earlier in
(send cycle, PE) order: a pending PE's key is its send's; a PE blocked on a receive sends no earlier than its
clock, nor than any PE whose words reach it there can send plus their latency. Sends that share no link or FIFO
commute, so the result is the same as in key order (tests/test_routed_link_model.py); with `careless` too,
any pending send goes (the order's effect, for contrast). Where no send is free so, the least key goes.

Back-pressure is not modelled: `run` refuses a program that queues `fifo_depth` words at a receiver.
Values are int32 words; the model returns each PE's finishing cycle, stall and received values.
"""
from __future__ import annotations

import dataclasses

import numpy as np

NORTH, EAST, SOUTH, WEST, RAMP = range(5)
STEP = {NORTH: (0, -1), EAST: (1, 0), SOUTH: (0, 1), WEST: (-1, 0)}
OPPOSITE = {NORTH: SOUTH, EAST: WEST, SOUTH: NORTH, WEST: EAST}
SUBSET = ("li", "addi", "muli", "add", "sub", "sreg", "bz", "bnz", "jmp", "send", "recv", "halt")

Rules = dict[tuple[int, int], dict[int, tuple[int, ...]]]  # (x, y) -> {input port: output ports}


@dataclasses.dataclass
class Path:
    """Where one source's words go: (link, offset) pairs, link = (x, y, out port); (receiver, latency)."""

    links: list[tuple[tuple[int, int, int], float]]
    receivers: list[tuple[tuple[int, int], float]]


def trace(rules: Rules, source: tuple[int, int], ramp: float, hop: float) -> Path:
    """The path of `source`'s words through the routers' `rules` (a tree: every PE reached once)."""
    path = Path([], [])
    frontier = [(source, RAMP, ramp)]  # (router, input port, cycles after departure the word is there)
    while frontier:
        (x, y), port, at = frontier.pop()
        for out in rules.get((x, y), {}).get(port, ()):
            if out == RAMP:
                path.receivers.append(((x, y), at + ramp))
            else:
                path.links.append(((x, y, out), at))
                dx, dy = STEP[out]
                frontier.append(((x + dx, y + dy), OPPOSITE[out], at + hop))
    return path


def parse(source: str) -> tuple[list[tuple[str, tuple]], dict[str, int]]:
    """(instructions, labels) of an assembly text in `SUBSET`."""
    code, labels = [], {}
    for line in source.splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("."):
            continue
        if line.endswith(":"):
            labels[line[:-1]] = len(code)
            continue
        op, _, rest = line.partition(" ")
        assert op in SUBSET, op
        code.append((op, tuple(part.strip() for part in rest.split(",")) if rest else ()))
    return code, labels


@dataclasses.dataclass
class PE:
    x: int
    y: int
    clock: float = 0.0
    stall: float = 0.0
    pc: int = 0
    regs: dict[str, int] = dataclasses.field(default_factory=dict)
    received: list[int] = dataclasses.field(default_factory=list)
    done: bool = False


@dataclasses.dataclass
class Result:
    finish: np.ndarray  # (height, width) cycles
    stall: np.ndarray
    received: dict[tuple[int, int], list[int]]
    sends: list[tuple[float, int, int, float]]  # (send cycle, PE index, channel, delay), in commit order


def run(source: str, width: int, height: int, routes: dict[int, Rules], costs: dict[str, float], ramp: float,
        hop: float, word_time: float, fifo_depth: int, pick: np.random.Generator | None = None,
        careless: bool = False) -> Result:
    """Run `source` on a `width` x `height` block whose channel `c` has the routers' rules `routes[c]`."""
    code, labels = parse(source)
    pes = [PE(x, y) for y in range(height) for x in range(width)]
    fifos: dict[tuple[int, int, int], list[tuple[float, int]]] = {}  # (x, y, channel) -> [(arrival, value)]
    busy: dict[tuple[int, int, int], tuple[float, float]] = {}  # link -> its span (from, until)
    paths: dict[tuple[int, tuple[int, int]], Path] = {}
    sends = []

    def value(pe: PE, operand: str) -> int:
        return 0 if operand == "r0" else pe.regs.get(operand, 0)

    def step(pe: PE) -> str:
        """Run `pe` until it halts ('done'), waits for a word ('blocked') or is at a routed send ('send')."""
        while True:
            op, args = code[pe.pc]
            if op == "send":
                return "send"
            if op == "recv":
                queue = fifos.get((pe.x, pe.y, int(args[2])), [])
                if not queue:
                    return "blocked"
                arrival, word = queue.pop(0)
                ready = pe.clock + costs["recv"]
                pe.clock = max(ready, arrival)
                pe.stall += pe.clock - ready
                pe.regs[args[0]] = word
                pe.received.append(word)
                pe.pc += 1
                continue
            pe.clock += costs[op]
            if op == "halt":
                pe.done = True
                return "done"
            pe.pc += 1
            if op == "li":
                pe.regs[args[0]] = int(args[1])
            elif op in ("addi", "muli"):
                a, imm = value(pe, args[1]), int(args[2])
                pe.regs[args[0]] = np.int32(a + imm if op == "addi" else a * imm).item()
            elif op in ("add", "sub"):
                a, b = value(pe, args[1]), value(pe, args[2])
                pe.regs[args[0]] = np.int32(a + b if op == "add" else a - b).item()
            elif op == "sreg":
                pe.regs[args[0]] = pe.x if args[1] == "tid.x" else pe.y
            elif op == "jmp":
                pe.pc = labels[args[0]]
            elif (op == "bz") == (value(pe, args[0]) == 0):  # bz taken on zero, bnz on nonzero
                pe.pc = labels[args[1]]

    def commit(pe: PE) -> None:
        """The routed send `pe` is at: wait for the links of its path, reserve them, deliver its word."""
        _, (port, channel, register) = code[pe.pc]
        assert port == "ramp"
        channel = int(channel)
        key = (channel, (pe.x, pe.y))
        if key not in paths:
            paths[key] = trace(routes[channel], (pe.x, pe.y), ramp, hop)
        path = paths[key]
        ready = pe.clock + costs["send"]
        delay = 0.0
        for link, offset in path.links:
            begin, end = ready + offset, ready + offset + word_time
            since, until = busy.get(link, (-np.inf, -np.inf))
            if begin < until and end > since:
                delay = max(delay, until - begin)
        depart = ready + delay
        for link, offset in path.links:
            begin, end = depart + offset, depart + offset + word_time
            since, until = busy.get(link, (-np.inf, -np.inf))
            if begin >= until:  # after the span (right after it when it waited): extend it, or a new one
                busy[link] = (since if begin == until else begin, end)
        word = value(pe, register)
        for (x, y), latency in path.receivers:
            queue = fifos.setdefault((x, y, channel), [])
            assert len(queue) < fifo_depth, "back-pressure is not modelled"
            queue.append((depart + latency, word))
        sends.append((pe.clock, pe.y * width + pe.x, channel, delay))
        pe.stall += delay
        pe.clock = depart + word_time
        pe.pc += 1

    def path_of(pe: PE, channel: int) -> Path:
        if (channel, (pe.x, pe.y)) not in paths:
            paths[channel, (pe.x, pe.y)] = trace(routes[channel], (pe.x, pe.y), ramp, hop)
        return paths[channel, (pe.x, pe.y)]

    def resources(pe: PE, channel: int) -> set:
        path = path_of(pe, channel)
        return {("link", link) for link, _ in path.links} | {("fifo", at, channel) for at, _ in path.receivers}

    # (for `pick`: each PE's channels with a route from its ramp, the resources of all its paths, and per
    # receiver and channel the senders whose words reach it, with their latency)
    own = {channel: [pe for pe in pes if RAMP in rules.get((pe.x, pe.y), {})] for channel, rules in routes.items()
           } if pick is not None else {}
    reach = {id(pe): set().union(*(resources(pe, c) for c, its in own.items() if pe in its)) for pe in pes}
    feeders = {(at, channel): [(pe, latency) for pe in its for at_, latency in path_of(pe, channel).receivers
                               if at_ == at] for channel, its in own.items() for at in
               {at for pe in its for at, _ in path_of(pe, channel).receivers}}

    def free(pending: list[PE]) -> list[PE]:
        """The pending sends no PE that can contend with them can precede (`pick`'s order)."""
        if careless:
            return pending
        bound = {id(pe): np.inf if pe.done else pe.clock for pe in pes}
        for _ in range(3):  # (waiting receivers fed by waiting ones: each round a sound bound)
            for pe in pes:
                if state[id(pe)] == "blocked":
                    fed = [bound[id(source)] + latency for source, latency in
                           feeders.get(((pe.x, pe.y), int(code[pe.pc][1][2])), [])]
                    bound[id(pe)] = max(bound[id(pe)], min(fed, default=np.inf))
        index = {id(pe): pe.y * width + pe.x for pe in pes}
        return [pe for pe in pending if all(
            (bound[id(other)], index[id(other)]) > (pe.clock, index[id(pe)]) for other in pes
            if other is not pe and reach[id(other)] & resources(pe, int(code[pe.pc][1][1])))]

    state = {id(pe): "run" for pe in pes}
    while True:
        for pe in pes:
            if state[id(pe)] in ("run", "blocked"):
                state[id(pe)] = step(pe)
        pending = [pe for pe in pes if state[id(pe)] == "send"]
        if not pending:
            assert all(pe.done for pe in pes), "deadlock: PEs wait for words that never come"
            break
        first = min(pending, key=lambda pe: (pe.clock, pe.y * width + pe.x, int(code[pe.pc][1][1])))
        if pick is not None:
            ready = free(pending)
            first = ready[int(pick.integers(len(ready)))] if ready else first
        commit(first)
        state[id(first)] = "run"
    shape = (height, width)
    return Result(np.array([pe.clock for pe in pes]).reshape(shape), np.array([pe.stall for pe in pes]).reshape(shape),
                  {(pe.x, pe.y): pe.received for pe in pes}, sends)
