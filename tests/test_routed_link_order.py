"""Routed words sharing links (`RoutedExchangeMixin._share_links`), against a plain-Python model of the rule
(tests/routed_link_model.py): per-PE finishing cycles, stall and the launch's cycles on random routed programs.

Today the simulator commits routed sends to the links' reservations in the order it runs them, which is the
model's order of (send cycle, PE, channel) where the senders run one after the other in that order: each
sender's code lies after the previous one's (the scheduler runs the lowest program counter first) and starts
sending after the previous one's last send. Their spans still meet: a word holds a link up to its path's
length after it leaves, so a later sender's word can wait for an earlier one's (and a sender's own words on
channels that share links wait for each other)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from routed_link_model import EAST, NORTH, OPPOSITE, RAMP, SOUTH, STEP, WEST, Rules, run, trace
from wafersim.isa.opcodes import opcode_cycles
from wafersim.sim.strategy import FAST, REFERENCE, forced

WIDTH, HEIGHT, CHANNELS = 6, 5, 8
SPEC = ws.WaferSpec.preset("dev", width=WIDTH, height=HEIGHT, ramp_latency=2, hop_latency=1, channels=CHANNELS)


def random_tree(rng: np.random.Generator, sender: tuple[int, int], follow: Rules | None = None) -> Rules:
    """Rules of a channel whose only source is `sender`: a walk of 2-7 hops, perhaps a branch of 1-3 hops off
    it, each PE reached delivering with probability 1/2 (a leaf always), every PE reached once. Where `follow`
    (another channel's rules) forwards from a PE, the walk goes the same way with probability 4/5."""
    rules: Rules = {sender: {RAMP: ()}}
    inputs = {sender: RAMP}
    seen = {sender}

    def walk(start: tuple[int, int], hops: int) -> None:
        at = start
        for _ in range(hops):
            ways = [d for d in (NORTH, EAST, SOUTH, WEST) if (nxt := (at[0] + STEP[d][0], at[1] + STEP[d][1]))
                    not in seen and 0 <= nxt[0] < WIDTH and 0 <= nxt[1] < HEIGHT]
            if not ways:
                break
            ahead = [d for rule in (follow or {}).get(at, {}).values() for d in rule if d in ways]
            d = int(rng.choice(ahead if ahead and rng.random() < 0.8 else ways))
            rule = rules[at]
            rule[inputs[at]] += (d,)
            at = (at[0] + STEP[d][0], at[1] + STEP[d][1])
            seen.add(at)
            inputs[at] = OPPOSITE[d]
            rules[at] = {OPPOSITE[d]: (RAMP,) if rng.random() < 0.5 else ()}

    walk(sender, int(rng.integers(2, 8)))
    if rng.random() < 0.5:
        walk(list(rules)[int(rng.integers(len(rules)))], int(rng.integers(1, 4)))
    for at, rule in rules.items():  # a leaf delivers (a word must go somewhere)
        if at != sender and not any(out != RAMP for out in rule[inputs[at]]) and RAMP not in rule[inputs[at]]:
            rule[inputs[at]] = (RAMP,)
    return rules


def program(regions: list[tuple]) -> str:
    """Assembly: region i (PE index, cycles before its first send, [(channel, spin count after)], [channels
    of its receives, in order]: none if left out), in this order; the other PEs halt."""
    lines = [".name links", "sreg r1, tid.x", "sreg r2, tid.y", f"muli r3, r2, {WIDTH}", "add r3, r3, r1", "li r9, 0"]
    for i, (pe, *_) in enumerate(regions):
        lines += [f"addi r4, r3, {-pe}", f"bz r4, region{i}"]
    lines.append("halt")
    for i, (_, delay, sends, *receives) in enumerate(regions):
        lines.append(f"region{i}:")
        spins = max(0, (delay - 1) // 2)  # (a spin loop of k turns: 1 + 2 k cycles; `li r7, 0` pads one)
        lines += delay_lines(f"{i}_start", spins) + ["li r7, 0"] * (delay - (1 + 2 * spins if spins else 0))
        for j, (channel, after) in enumerate(sends):
            lines += ["addi r9, r9, 1", f"send ramp, {channel}, r9"] + delay_lines(f"{i}_{j}", after)
        lines += [f"recv r5, ramp, {channel}" for channel in (receives[0] if receives else ())] + ["halt"]
    return "\n".join(lines) + "\n"


def delay_lines(label: str, spins: int) -> list[str]:
    return [f"li r8, {spins}", f"spin{label}:", "addi r8, r8, -1", f"bnz r8, spin{label}"] if spins else []


def model(source: str, routes: dict[int, Rules]):
    return run(source, WIDTH, HEIGHT, routes, opcode_cycles(SPEC), SPEC.ramp_latency, SPEC.hop_latency,
               1 / SPEC.link_words_per_cycle, SPEC.fifo_depth)


def custom_route(channel: int, rules: Rules) -> ws.routes.Route:
    def table(x: int, y: int, width: int, height: int) -> dict:
        return {port: outs for port, outs in rules.get((x, y), {}).items()}
    return ws.routes.custom(channel, table)


def sequential_program(seed: int) -> tuple[str, dict[int, Rules]]:
    """1-3 senders with 1-2 channels each, 2-8 sends each, each sender's first send after the previous one's
    last (the model says when), so that the two orders agree. A later sender sits h >= 2 hops down the path of
    the previous one's last word, its first route mostly following that path, and sends first h cycles after
    it (mostly; else 1-6): then the two words want that link in the same cycle."""
    rng = np.random.default_rng(seed)
    channels = iter(rng.permutation(CHANNELS))
    routes, regions, follow, gap = {}, [], None, 0
    for _ in range(int(rng.integers(1, 4))):
        senders = [pe for pe, *_ in regions]
        if regions:  # down the path of the previous sender's last word
            previous = regions[-1][0]
            follow = routes[regions[-1][2][-1][0]]
            hops = {(x, y): (offset - SPEC.ramp_latency) / SPEC.hop_latency for (x, y, _), offset in
                    trace(follow, (previous % WIDTH, previous // WIDTH), SPEC.ramp_latency, SPEC.hop_latency).links}
            down = [at for at, h in hops.items() if h >= 2 and at[1] * WIDTH + at[0] not in senders]
        if not regions or not down:
            pe = int(rng.choice([p for p in range(WIDTH * HEIGHT) if p not in senders]))
            follow, gap = None, int(rng.integers(1, 7))
        else:
            at = down[int(rng.integers(len(down)))]
            pe = at[1] * WIDTH + at[0]
            gap = int(hops[at]) if rng.random() < 0.7 else int(rng.integers(1, 7))
        own = [int(next(channels)) for _ in range(int(rng.integers(1, 3)))]
        for channel in own:
            routes[channel] = random_tree(rng, (pe % WIDTH, pe // WIDTH), follow)
        sends = [(own[0], int(rng.integers(0, 4)))] + [(int(rng.choice(own)), int(rng.integers(0, 4)))
                                                      for _ in range(int(rng.integers(1, 8)))]
        regions.append([pe, 0, sends])
        if len(regions) > 1:  # its first send `gap` cycles after the previous sender's last
            keys = model(program(regions), routes).sends
            first = next(key for key, index, *_ in keys if index == pe)
            last = max(key for key, index, *_ in keys if index == regions[-2][0])
            regions[-1][1] = max(0, int(last + gap - first))
    return program([tuple(r) for r in regions]), routes


def launch(source: str, routes: dict[int, Rules]) -> ws.LaunchStats:
    device = ws.Device(SPEC)
    return device.launch(ws.assemble(source), 1, (WIDTH, HEIGHT), [],
                         routes=[custom_route(c, rules) for c, rules in sorted(routes.items())])


def assert_matches_model(stats: ws.LaunchStats, expected) -> None:
    np.testing.assert_array_equal(stats.stall[:HEIGHT, :WIDTH], expected.stall)
    np.testing.assert_array_equal((stats.busy + stats.stall)[:HEIGHT, :WIDTH], expected.finish)
    assert stats.cycles == expected.finish.max()


@pytest.mark.parametrize("seed", range(40))
def test_senders_one_after_the_other_wait_as_the_model_says(seed):
    source, routes = sequential_program(seed)
    expected = model(source, routes)
    order = [index for _, index, *_ in expected.sends]
    assert order == sorted(order, key=order.index)  # (each sender's sends together: the engine's order too)
    for strategy in (REFERENCE, FAST):
        with forced(strategy):
            assert_matches_model(launch(source, routes), expected)


def test_the_random_programs_contend():
    """The programs above do make words wait for another sender's (some 23 of their sends)."""
    waited = across = 0
    for seed in range(40):
        source, routes = sequential_program(seed)
        sends = model(source, routes).sends
        waited += sum(delay > 0 for *_, delay in sends)
        across += sum(delay > 0 and index != sends[i - 1][1] for i, (_, index, _, delay) in enumerate(sends) if i)
    assert waited >= 20 and across >= 3, (waited, across)


def test_a_word_waits_for_the_span_of_a_word_sent_earlier_down_a_longer_path():
    # PE (0, 0) sends east along row 0 to (4, 0) on channel 0; then (3, 0) sends east to (4, 0) on channel 1,
    # `delay` cycles later in its code. The link (3, 0) -> (4, 0) carries channel 0's word from ramp 2 + 3 hops
    # = 5 cycles after it leaves, channel 1's from 2 cycles: the first, ready (= leaving) at r0, holds it over
    # [r0 + 5, r0 + 6); the second, ready at r1, wants [r1 + 2, r1 + 3), which overlaps that span only when
    # r1 = r0 + 3 (whole cycles), and then waits 1 cycle.
    routes = {0: east_row(0, 4), 1: east_row(3, 4)}
    waits = []
    for delay in range(8):
        source = program([(0, 0, [(0, 0)]), (3, delay, [(1, 0)])])
        expected = model(source, routes)
        (t0, _, _, d0), (t1, _, _, d1) = expected.sends  # (send cycles; ready a cycle later: r = t + 1)
        assert d0 == 0 and d1 == (1 if t1 == t0 + 3 else 0)
        waits.append(d1)
        assert_matches_model(launch(source, routes), expected)
    assert waits.count(1) == 1


def east_row(start: int, stop: int) -> Rules:
    """Rules of a channel whose source (start, 0) sends east along row 0 to (stop, 0), every PE on the way
    taking the word."""
    rules: Rules = {(start, 0): {RAMP: (EAST,)}}
    for x in range(start + 1, stop + 1):
        rules[(x, 0)] = {WEST: (RAMP, EAST) if x < stop else (RAMP,)}
    return rules


def test_today_a_send_run_first_holds_the_link_though_it_lies_later():
    """Today's order is the engine's, not simulated time's (docs/routes.md, "Simulation speed"): here PE (3, 0)'s
    code lies first, so its send reserves the link (3, 0) -> (4, 0) first though it sends 3 cycles after PE
    (0, 0), whose word then waits a cycle for it; the rule of the model (send cycle, then PE) makes (3, 0)'s
    word wait for (0, 0)'s instead. Whichever waits, a cycle: the two want the link in the same cycle."""
    routes = {0: east_row(0, 4), 1: east_row(3, 4)}
    first = model(program([(3, 0, [(1, 0)]), (0, 0, [(0, 0)])]), routes).sends
    key = {index: t for t, index, *_ in first}
    source = program([(3, int(key[0] + 3 - key[3]), [(1, 0)]), (0, 0, [(0, 0)])])
    expected = model(source, routes)
    assert [(index, delay) for _, index, _, delay in expected.sends] == [(0, 0), (3, 1)]
    for strategy in (REFERENCE, FAST):
        with forced(strategy):
            stats = launch(source, routes)
        assert (stats.stall[0, 0], stats.stall[0, 3]) == (1, 0)  # (the model: 0 and 1)
        np.testing.assert_array_equal(stats.busy[:HEIGHT, :WIDTH], expected.finish - expected.stall)


# ----------------------------------------------------------------------------- contention under every strategy
def same_cycle_program() -> tuple[str, dict[int, Rules]]:
    """`test_a_word_waits_for_the_span_of_a_word_sent_earlier_down_a_longer_path`'s two senders, PE (3, 0)'s
    word wanting the link (3, 0) -> (4, 0) in the cycle PE (0, 0)'s word crosses it (the model: it waits 1)."""
    routes = {0: east_row(0, 4), 1: east_row(3, 4)}
    for delay in range(8):
        source = program([(0, 0, [(0, 0)]), (3, delay, [(1, 0)])])
        if [d for *_, d in model(source, routes).sends] == [0, 1]:
            return source, routes
    raise AssertionError("no delay makes the two words meet")


def test_two_senders_words_on_one_link_in_one_cycle_wait_alike_under_every_strategy():
    """Real contention (two senders' words on one link in one cycle), in both code orders, under every engine
    strategy (tests/test_engine_strategies.py's STRATEGIES: the compiled interpreter, routed steps and all the
    rest on and off): the same stalls, busy cycles and launch cycles, the model's where the orders agree."""
    from test_engine_strategies import run_every_strategy

    source, routes = same_cycle_program()
    expected = model(source, routes)
    _, stats = run_every_strategy(lambda: (np.zeros(1), launch(source, routes)))
    assert_matches_model(stats, expected)
    assert (stats.stall[0, 0], stats.stall[0, 3]) == (0, 1)
    # PE (3, 0)'s code first: the engine's order, which reserves the link for it (the model's key order would not)
    first = model(program([(3, 0, [(1, 0)]), (0, 0, [(0, 0)])]), routes).sends
    key = {index: t for t, index, *_ in first}
    source = program([(3, int(key[0] + 3 - key[3]), [(1, 0)]), (0, 0, [(0, 0)])])
    _, stats = run_every_strategy(lambda: (np.zeros(1), launch(source, routes)))
    assert (stats.stall[0, 0], stats.stall[0, 3]) == (1, 0)


ROW = 6


def _line(channel: int, sender: int, last: int) -> ws.routes.Route:
    """Words of PE (sender, 0) go east to PE (last, 0), which alone takes them off its ramp."""
    def rules(x: int, y: int, width: int, height: int) -> dict:
        if y or not sender <= x <= last:
            return {}
        return {ws.RAMP: ws.EAST} if x == sender else {ws.WEST: ws.RAMP if x == last else ws.EAST}
    return ws.routes.custom(channel, rules)


@ws.jit
def two_senders_one_receiver(inp, out, words: ws.constant, senders):
    """PEs 0 and 1 of the row send `words` words each east to PE 3 (channels 0 and 1: both cross the links
    1 -> 2 and 2 -> 3 at once), PE 0 where `senders` has bit 1, PE 1 where it has bit 2; PE 3 takes channel 1's
    words first."""
    x, y = ws.grid(2)
    first = ws.local.array(words, np.float32)
    second = ws.local.array(words, np.float32)
    if x == 0 and senders & 1:
        first[0:words] = inp[0, 0:words]
        ws.send(ws.RAMP, first[0:words], channel=0)
    if x == 1 and senders & 2:
        first[0:words] = inp[1, 0:words]
        ws.send(ws.RAMP, first[0:words], channel=1)
    if x == 3:
        if senders & 2:
            ws.recv(ws.RAMP, out=first[0:words], channel=1)
        if senders & 1:
            ws.recv(ws.RAMP, out=second[0:words], channel=0)
        out[0, 0:words] = second[0:words]
        out[1, 0:words] = first[0:words]


def test_two_vector_senders_sharing_links_wait_alike_under_every_strategy():
    """Two routed vector sends whose words want the same links in the same cycles, under every strategy: the
    same results, stalls and cycles, the words arrive as sent (NumPy). PE 1 (its code after PE 0's) waits for
    PE 0's span on the links, one more cycle for each more word of it: its stall beside PE 0 less its stall
    sending alone grows by 8 from 8 to 16 words; at 24 words through FIFOs of 16, while PE 3 drains channel 1
    first, PE 0's first step is 16 words and one span, so PE 1 waits as at 16."""
    from test_engine_strategies import run_every_strategy

    waits = {}
    for words in (8, 16, 24):
        values = np.random.default_rng(words).standard_normal((2, words)).astype(np.float32)
        stalls = {}
        for senders in (2, 3):  # PE 1 alone, then both

            def launch_kernel():
                device = ws.Device(ws.WaferSpec.preset("dev", width=ROW, height=1, fifo_depth=16))
                d_in, d_out = device.to_device(values), device.device_array((2, words), np.float32)
                stats = two_senders_one_receiver[(1, 1), (ROW, 1)](d_in, d_out, words, senders,
                                                                   routes=[_line(0, 0, 3), _line(1, 1, 3)])
                return d_out.copy_to_host(), stats

            out, stats = run_every_strategy(launch_kernel)
            np.testing.assert_array_equal(out[1], values[1])
            if senders == 3:
                np.testing.assert_array_equal(out[0], values[0])
            stalls[senders] = stats.stall[0, 1]
        waits[words] = stalls[3] - stalls[2]
    assert waits[8] > 0 and waits[16] == waits[8] + 8 and waits[24] == waits[16], waits
