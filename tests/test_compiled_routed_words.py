"""Routed scalar words in the compiled interpreter (`sim.compiled.routed_words`, `Strategy.compiled_broadcast`): a
block's broadcast from one PE sent and received inside an interpreter call must give results, cycles and statistics
bit-identical to the NumPy path (`routed_one.send_from_one`, its link model) under every strategy, and the values
NumPy computes."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import STRATEGIES, assert_same_run
from wafersim.sim.compiled import fabric_state
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

WORDS = 3  # words each broadcast round sends back to back (the links of the first still busy for the next)


@ws.jit
def broadcast_rounds(values, out, rounds, root_x: ws.constant, root_y: ws.constant):
    """`rounds` times: a prefix sum along each row of the block (neighbour words, so that receivers reach the
    broadcast at different times and wait for it in the interpreter), then `WORDS` words from the root PE of the
    block to every other PE over the block bus (channel 2), which each PE folds into its value."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    acc = values[y, x]
    for _ in range(rounds):
        if ws.has_neighbor(ws.WEST):
            acc = ws.recv(ws.WEST) + acc
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, acc)
        mixed = acc * 0.5
        for k in range(WORDS):
            if ws.threadIdx.x == root_x and ws.threadIdx.y == root_y:
                word = acc + k
                ws.send(ws.RAMP, word, channel=2)
            else:
                word = ws.recv(ws.RAMP, channel=2)
            mixed = mixed + word * 0.25
        acc = mixed
    out[y, x] = acc


def model(values: np.ndarray, block: tuple[int, int], rounds: int, root: tuple[int, int]) -> np.ndarray:
    """NumPy's float32 arithmetic of `broadcast_rounds`, block by block, in the kernel's order."""
    bx, by = block
    acc = values.astype(np.float32).copy()
    quarter, half = np.float32(0.25), np.float32(0.5)
    for _ in range(rounds):
        for x in range(1, acc.shape[1]):  # (each block's row: from its west end)
            inside = (np.arange(acc.shape[0]) >= 0) & (x % bx != 0)
            acc[inside, x] = acc[inside, x - 1] + acc[inside, x]
        mixed = acc * half
        for k in range(WORDS):
            root_words = acc[root[1]::by, root[0]::bx] + np.float32(k)
            words = np.repeat(np.repeat(root_words, by, axis=0), bx, axis=1)
            mixed = mixed + words * quarter
        acc = mixed
    return acc


def values_through(launcher, spec: ws.WaferSpec, values: np.ndarray, *args, **options):
    """`launcher(values, out, *args, **options)` (a kernel configured as `kernel[grid, block]`) on a device of
    `spec`, `out` float32 of `values`' shape: (out, stats)."""
    dev = ws.Device(spec)
    d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
    stats = launcher(d_values, d_out, *args, **options)
    return d_out.copy_to_host(), stats


def launch(values: np.ndarray, grid: tuple[int, int], block: tuple[int, int], rounds: int, root: tuple[int, int]):
    return values_through(broadcast_rounds[grid, block], ws.WaferSpec(width=16, height=12), values, rounds, *root)


@pytest.fixture
def compiled_sends(monkeypatch):
    """The routed words the interpreter sent, counted as each call's log is settled."""
    sent = []
    original = fabric_state.FabricState.settle_sends

    def counting(self):
        sent.append(int(self.sent_top[0]))
        return original(self)  # (the PEs that sent: `CompiledMixin._run_compiled` reads them)

    monkeypatch.setattr(fabric_state.FabricState, "settle_sends", counting)
    return sent


@pytest.mark.parametrize("grid, block, root, rounds", [
    ((1, 1), (6, 4), (0, 0), 3),
    ((3, 2), (5, 3), (2, 1), 2),
    ((2, 2), (4, 4), (3, 3), 3),
    ((1, 1), (1, 5), (0, 2), 2),
    ((2, 1), (8, 1), (7, 0), 4),
])
def test_broadcasts_sent_in_the_interpreter_match_numpy_and_every_strategy(grid, block, root, rounds,
                                                                          compiled_sends):
    rng = np.random.default_rng(hash((grid, block, root)) % 2**32)
    values = rng.standard_normal((grid[1] * block[1], grid[0] * block[0])).astype(np.float32)
    with forced(REFERENCE):
        reference = launch(values, grid, block, rounds, root)
    np.testing.assert_allclose(reference[0], model(values, block, rounds, root), rtol=1e-6, atol=1e-6)
    for strategy in STRATEGIES:
        with forced(strategy):
            assert_same_run(reference, launch(values, grid, block, rounds, root))
    compiled_sends.clear()
    with forced(Strategy(compiled_broadcast=False)):
        launch(values, grid, block, rounds, root)
    assert sum(compiled_sends) == 0, "Strategy(compiled_broadcast=False) sent routed words in the interpreter"
    with forced(FAST):
        launch(values, grid, block, rounds, root)
    if grid == (1, 1) and block[0] * block[1] > 1:  # (several blocks' roots send as one group: NumPy's, always)
        assert sum(compiled_sends) > 0, "no routed word was sent in the interpreter"


def test_a_block_all_reduce_in_a_loop_is_identical_and_sends_in_the_interpreter(compiled_sends):
    from wafersim import collectives as wsc

    @ws.jit
    def all_reduces(values, out, rounds):
        x, y = ws.grid(2)
        acc = values[y, x]
        for _ in range(rounds):
            acc = wsc.block_all_reduce(acc, wsc.SUM, channel=1) * 0.125 + acc
        out[y, x] = acc

    rng = np.random.default_rng(5)
    values = rng.standard_normal((8, 12)).astype(np.float32)

    def run():
        return values_through(all_reduces[(1, 1), (12, 8)], ws.WaferSpec(width=16, height=12), values, 4)

    with forced(REFERENCE):
        reference = run()
    acc = values.copy()
    for _ in range(4):  # (the sum's float32 order is the chains': compared loosely, the strategies exactly)
        acc = (acc.sum(dtype=np.float64) * 0.125 + acc).astype(np.float32)
    np.testing.assert_allclose(reference[0], acc, rtol=1e-4, atol=1e-4)
    compiled_sends.clear()
    for strategy in [Strategy(compiled_broadcast=False), FAST]:
        with forced(strategy):
            assert_same_run(reference, run())
    assert sum(compiled_sends) > 0


def straight_east(x, y, bx, by):
    """Channel 2: from PE (0, 0) east along row 0, to (1, 0) and (2, 0)."""
    return {(0, 0): {ws.RAMP: ws.EAST}, (1, 0): {ws.WEST: (ws.EAST, ws.RAMP)},
            (2, 0): {ws.WEST: ws.RAMP}}.get((x, y), {})


def detour_east(x, y, bx, by):
    """Channel 3: from PE (0, 0) down column 0, back up column 1 and east over the same link from (1, 0) as
    channel 2, six hops into the path rather than one, to (2, 0)."""
    return {(0, 0): {ws.RAMP: ws.SOUTH}, (0, 1): {ws.NORTH: ws.SOUTH}, (0, 2): {ws.NORTH: ws.EAST},
            (1, 2): {ws.WEST: ws.NORTH}, (1, 1): {ws.SOUTH: ws.NORTH}, (1, 0): {ws.SOUTH: ws.EAST},
            (2, 0): {ws.WEST: ws.RAMP}}.get((x, y), {})


@ws.jit
def two_paths(values, out, rounds):
    """PE (0, 0) sends a word on channel 3 (a detour) then one on channel 2 (straight), whose path crosses the
    link east of (1, 0) sooner: the second word waits for the first to clear it (a link delay)."""
    x, y = ws.grid(2)
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for _ in range(rounds):
        if tx == 0 and ty == 0:
            ws.send(ws.RAMP, acc, channel=3)
            doubled = (acc + 1.0) * 2.0  # (two instructions: the second word reaches the link as the first holds it)
            ws.send(ws.RAMP, doubled, channel=2)
        elif tx == 2 and ty == 0:
            acc = acc + ws.recv(ws.RAMP, channel=3) * 0.5 + ws.recv(ws.RAMP, channel=2) * 0.25
        elif tx == 1 and ty == 0:
            acc = acc + ws.recv(ws.RAMP, channel=2) * 0.25
        acc = acc * 0.5
    out[y, x] = acc


def test_a_word_that_waits_for_a_link_in_the_interpreter_is_timed_as_on_the_numpy_path(compiled_sends):
    # (one PE sends on both channels: proven. Its channel-2 word reaches the link east of (1, 0) one cycle into the
    # channel-3 word's hold and waits a cycle on the NumPy path, `routed_one_delay`; from the second round both
    # words are sent in the interpreter.)
    values = np.random.default_rng(7).standard_normal((3, 3)).astype(np.float32)
    routes = [ws.routes.custom(2, straight_east), ws.routes.custom(3, detour_east)]

    def run():
        return values_through(two_paths[(1, 1), (3, 3)], ws.WaferSpec(width=8, height=8), values, 4, routes=routes)

    with forced(REFERENCE):
        reference = run()
    acc = values.copy()
    for _ in range(4):
        root = acc[0, 0]
        doubled = (root + np.float32(1.0)) * np.float32(2.0)
        acc[0, 2] = acc[0, 2] + root * np.float32(0.5) + doubled * np.float32(0.25)
        acc[0, 1] = acc[0, 1] + doubled * np.float32(0.25)
        acc = acc * np.float32(0.5)
    np.testing.assert_array_equal(reference[0], acc)
    compiled_sends.clear()
    for strategy in STRATEGIES:
        with forced(strategy):
            assert_same_run(reference, run())
    assert sum(compiled_sends) > 0


# Cases the interpreter must hand back to the NumPy path, or time exactly as it does (review54c): each kernel is run
# under REFERENCE, with and without `compiled_broadcast`, and FAST, and compared bit for bit (results, cycles and
# every statistic) and against NumPy's arithmetic.


def same_everywhere(run, compiled_sends, expect_compiled: bool = True):
    """`run()` under REFERENCE, Strategy(compiled_broadcast=False) and FAST: the same run; returns the reference's."""
    with forced(REFERENCE):
        reference = run()
    with forced(Strategy(compiled_broadcast=False)):
        assert_same_run(reference, run())
    compiled_sends.clear()
    with forced(FAST):
        assert_same_run(reference, run())
    if expect_compiled:
        assert sum(compiled_sends) > 0, "no routed word was sent in the interpreter"
    return reference


@ws.jit
def late_receivers(values, out, rounds, words):
    """The root (0, 0) of the block sends `words` words back to back over the block bus, far more than a shallow
    FIFO holds, while each receiver first spins for a time that grows with its x: the FIFOs of the late ones are
    full when those of the early ones are not."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for r in range(rounds):
        if tx == 0 and ty == 0:
            for k in range(words):
                ws.send(ws.RAMP, acc + k, channel=2)
        else:
            spin = acc
            for _ in range(tx * 3 + r):
                spin = spin * 0.5
            for k in range(words):
                acc = acc + ws.recv(ws.RAMP, channel=2) * 0.125
            acc = acc + spin * 0.0
        acc = acc * 0.75
    out[y, x] = acc


@pytest.mark.parametrize("depth, words", [(2, 7), (1, 4), (3, 3)])
def test_a_broadcast_into_fifos_full_at_some_receivers_only_is_identical(depth, words, compiled_sends):
    values = np.random.default_rng(depth).standard_normal((3, 5)).astype(np.float32)

    def run():
        return values_through(late_receivers[(1, 1), (5, 3)], ws.WaferSpec(width=8, height=6, fifo_depth=depth),
                              values, 3, words)

    reference = same_everywhere(run, compiled_sends)
    acc = values.copy()
    for _ in range(3):
        root = acc[0, 0]
        others = acc.copy()
        for k in range(words):
            others = others + (root + np.float32(k)) * np.float32(0.125)
        others[0, 0] = root
        acc = others * np.float32(0.75)
    np.testing.assert_array_equal(reference[0], acc)


@ws.jit
def rerouted(values, out, rounds):
    """Channel 2 runs east along row 0 from (0, 0) (`straight_east`); every other round (1, 0) keeps the words for
    itself a while (`ws.route`), so that (1, 0) and (2, 0) are at different word numbers from then on."""
    x, y = ws.grid(2)
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for r in range(rounds):
        if tx == 0 and ty == 0:
            ws.send(ws.RAMP, acc, channel=2)
            ws.send(ws.RAMP, acc + 1.0, channel=2)
        elif ty == 0:
            acc = acc + ws.recv(ws.RAMP, channel=2) * 0.5 + ws.recv(ws.RAMP, channel=2) * 0.25
        ws.syncthreads()
        if r % 2 == 0:
            if tx == 1 and ty == 0:
                ws.route(2, ws.WEST, ws.RAMP)
            ws.syncthreads()
            if tx == 0 and ty == 0:
                ws.send(ws.RAMP, acc * 2.0, channel=2)
            elif tx == 1 and ty == 0:
                acc = acc - ws.recv(ws.RAMP, channel=2) * 0.125
            ws.syncthreads()
            if tx == 1 and ty == 0:
                ws.route(2, ws.WEST, (ws.EAST, ws.RAMP))
            ws.syncthreads()
        acc = acc * 0.5
    out[y, x] = acc


def test_broadcasts_around_a_route_change_that_leaves_receivers_words_apart_are_identical(compiled_sends):
    values = np.random.default_rng(11).standard_normal((2, 3)).astype(np.float32)
    rounds = 5

    def run():
        return values_through(rerouted[(1, 1), (3, 2)], ws.WaferSpec(width=8, height=8),
                              values, rounds, routes=[ws.routes.custom(2, straight_east)])

    reference = same_everywhere(run, compiled_sends, expect_compiled=False)
    acc = values.copy()
    half, quarter, eighth = np.float32(0.5), np.float32(0.25), np.float32(0.125)
    for r in range(rounds):
        root = acc[0, 0]
        for x in (1, 2):
            acc[0, x] = acc[0, x] + root * half + (root + np.float32(1.0)) * quarter
        if r % 2 == 0:
            acc[0, 1] = acc[0, 1] - acc[0, 0] * np.float32(2.0) * eighth
        acc = acc * half
    np.testing.assert_array_equal(reference[0], acc)


@ws.jit
def typed_words(values, counts, out, rounds):
    """The root sends `WORDS` pairs of an int32 word and a float32 one over the block bus each round, while the
    receivers spin first (words of two types held at once on one channel: tags per slot), and the receivers take
    each as its type."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    total = counts[y, x]
    for r in range(rounds):
        if tx == 0 and ty == 0:
            for k in range(WORDS):
                ws.send(ws.RAMP, total + r + k, channel=2)
                scaled = acc * 2.0
                ws.send(ws.RAMP, scaled, channel=2)
        else:
            spin = acc
            for _ in range(tx * 4 + ty):
                spin = spin * 0.5
            for k in range(WORDS):
                total = total + ws.recv(ws.RAMP, channel=2, dtype=np.int32)
                acc = acc + ws.recv(ws.RAMP, channel=2, dtype=np.float32) * 0.125
            acc = acc + spin * 0.0
    out[y, x] = acc + total


def test_broadcast_words_of_two_types_on_one_channel_are_identical(compiled_sends):
    rng = np.random.default_rng(3)
    values = rng.standard_normal((3, 4)).astype(np.float32)
    counts = rng.integers(-50, 50, (3, 4)).astype(np.int32)

    def run():
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        d_values, d_counts = dev.to_device(values), dev.to_device(counts)
        d_out = dev.device_array(values.shape, np.float32)
        stats = typed_words[(1, 1), (4, 3)](d_values, d_counts, d_out, 4)
        return d_out.copy_to_host(), stats

    # (an int32 word then a float32 one: the interpreter hands each such send back, the tags to mark first)
    reference = same_everywhere(run, compiled_sends, expect_compiled=False)
    acc, total = values.copy(), counts.copy()
    mask = np.ones_like(acc, dtype=bool)
    mask[0, 0] = False
    for r in range(4):
        root_total, root_acc = total[0, 0], acc[0, 0]
        for k in range(WORDS):
            total[mask] += root_total + np.int32(r + k)
            acc[mask] = acc[mask] + (root_acc * np.float32(2.0)) * np.float32(0.125)
    np.testing.assert_array_equal(reference[0], acc + total.astype(np.float32))


def west_from_1(x, y, bx, by):
    """Channel 3: from PE (1, 0) west to (0, 0) (the link west of (1, 0): none of channel 2's)."""
    return {(1, 0): {ws.RAMP: ws.WEST}, (0, 0): {ws.EAST: ws.RAMP}}.get((x, y), {})


@ws.jit
def two_roots(values, out, rounds):
    """(0, 0) sends east on channel 2 to (1, 0) and (2, 0); (1, 0) sends back west on channel 3: each of the two
    is the other's receiver."""
    x, y = ws.grid(2)
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for _ in range(rounds):
        if tx == 0 and ty == 0:
            ws.send(ws.RAMP, acc, channel=2)
            acc = acc * 0.75
            acc = acc + ws.recv(ws.RAMP, channel=3) * 0.5
        elif tx == 1 and ty == 0:
            a = ws.recv(ws.RAMP, channel=2)
            b = acc + 3.0
            ws.send(ws.RAMP, b, channel=3)
            acc = acc + a * 0.25
        elif tx == 2 and ty == 0:
            acc = acc + ws.recv(ws.RAMP, channel=2) * 0.25
        acc = acc * 0.5
    out[y, x] = acc


def test_two_roots_each_the_others_receiver_are_identical(compiled_sends):
    values = np.random.default_rng(21).standard_normal((2, 3)).astype(np.float32)
    rounds = 5

    def run():
        return values_through(two_roots[(1, 1), (3, 2)], ws.WaferSpec(width=8, height=8),
                              values, rounds,
                              routes=[ws.routes.custom(2, straight_east), ws.routes.custom(3, west_from_1)])

    reference = same_everywhere(run, compiled_sends)
    acc = values.copy()
    half, quarter = np.float32(0.5), np.float32(0.25)
    for _ in range(rounds):
        a, b = acc[0, 0], acc[0, 1] + np.float32(3.0)
        acc[0, 0] = acc[0, 0] * np.float32(0.75) + b * half
        acc[0, 1] = acc[0, 1] + a * quarter
        acc[0, 2] = acc[0, 2] + a * quarter
        acc = acc * half
    np.testing.assert_array_equal(reference[0], acc)


@ws.jit
def staggered_blocks(values, out, rounds):
    """Each block's root spins for a time that grows with its block index before each broadcast: the roots of
    one launch reach their sends at different times."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for _ in range(rounds):
        if tx == 0 and ty == 0:
            spin = acc
            for _ in range(ws.blockIdx.x * 5 + ws.blockIdx.y * 2):
                spin = spin * 0.5
            ws.send(ws.RAMP, acc + spin * 0.0, channel=2)
            ws.send(ws.RAMP, acc * 2.0, channel=2)
        else:
            acc = acc + ws.recv(ws.RAMP, channel=2) * 0.5 + ws.recv(ws.RAMP, channel=2) * 0.125
        acc = acc * 0.5
    out[y, x] = acc


def test_broadcasts_of_several_blocks_at_different_times_are_identical(compiled_sends):
    grid, block, rounds = (3, 2), (3, 3), 3
    values = np.random.default_rng(8).standard_normal((grid[1] * block[1], grid[0] * block[0])).astype(np.float32)

    def run():
        return values_through(staggered_blocks[grid, block], ws.WaferSpec(width=16, height=12), values, rounds)

    reference = same_everywhere(run, compiled_sends, expect_compiled=False)
    acc = values.copy()
    for _ in range(rounds):
        root = np.repeat(np.repeat(acc[0::block[1], 0::block[0]], block[1], 0), block[0], 1)
        new = acc + root * np.float32(0.5) + (root * np.float32(2.0)) * np.float32(0.125)
        new[0::block[1], 0::block[0]] = acc[0::block[1], 0::block[0]]
        acc = new * np.float32(0.5)
    np.testing.assert_array_equal(reference[0], acc)


def test_broadcasts_whose_times_pass_the_float32_limit_are_identical(compiled_sends):
    # (each send's issue costs 1,000,003 cycles: the clocks pass 2**23 within the rounds, where the interpreter
    # must hand the send back for the clocks to be widened first)
    from wafersim.sim.clocks import TIME32_LIMIT
    values = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)

    def run():
        return values_through(broadcast_rounds[(1, 1), (3, 2)],
                              ws.WaferSpec(width=8, height=8, cost_cycles={"send": 1_000_003}),
                              values, 4, 0, 0)

    reference = same_everywhere(run, compiled_sends)
    assert reference[1].cycles > TIME32_LIMIT
    np.testing.assert_array_equal(reference[0], model(values, (3, 2), 4, (0, 0)))


@ws.jit
def held_up(values, out, rounds, words):
    """The root sends `words` words over the block bus each round into FIFOs one word deep, while the receivers of
    row 0 first wait for a word from the PE south of them, which first loads from device memory (steps the NumPy
    engine runs after the root's sends): the root's send finds a full FIFO and sleeps there."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    acc = values[y, x]
    for _ in range(rounds):
        if tx == 0 and ty == 0:
            for k in range(words):
                ws.send(ws.RAMP, acc + k, channel=2)
        else:
            if ty == 1 and tx > 0:
                loaded = acc
                for j in range(4):
                    loaded = loaded + values[y, (x + j) % 3] * 0.5
                ws.send(ws.NORTH, loaded, channel=0)
            if ty == 0 and tx > 0:
                acc = acc + ws.recv(ws.SOUTH, channel=0) * 0.25
            for k in range(words):
                acc = acc + ws.recv(ws.RAMP, channel=2) * 0.125
        acc = acc * 0.75
    out[y, x] = acc


def test_a_root_asleep_at_a_full_fifo_wakes_as_its_receivers_take_words():
    # (review54c: the root's routed send, asleep in the scheduler, became a resident sleeper of the interpreter,
    # which no receive there ever woke: a DeadlockError with compiled_broadcast, none without)
    values = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    rounds, words = 3, 4

    def run():
        return values_through(held_up[(1, 1), (3, 2)], ws.WaferSpec(width=8, height=6, fifo_depth=1),
                              values, rounds, words)

    with forced(REFERENCE):
        reference = run()
    for strategy in [Strategy(compiled_broadcast=False), FAST]:
        with forced(strategy):
            assert_same_run(reference, run())
    acc = values.copy()
    for _ in range(rounds):
        loaded = acc[1].copy()  # (row 1's, sent north)
        for j in range(4):
            loaded = loaded + values[1, (np.arange(3) + j) % 3] * np.float32(0.5)
        new = acc.copy()
        new[0, 1:] = acc[0, 1:] + loaded[1:] * np.float32(0.25)
        root = acc[0, 0]
        for k in range(words):
            new = new + (root + np.float32(k)) * np.float32(0.125)
        new[0, 0] = root
        acc = new * np.float32(0.75)
    np.testing.assert_array_equal(reference[0], acc)


@ws.jit
def block_word(acc, k, is_root):
    """A device function that sends a word from the root over the block bus, or receives it at the others."""
    if is_root:
        ws.send(ws.RAMP, acc + k, channel=2)
        return acc + k
    return ws.recv(ws.RAMP, channel=2)


@ws.jit
def routed_in_a_late_round(values, out, rounds, late):
    """Rows' prefix sums (neighbour words) each round; routed words only in round `late`, inside a device function:
    the interpreter's first groups run no routed word (review56: `run_group` gets the routed state wherever the
    program's table has routed words, not only where a group reached one first)."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    acc = values[y, x]
    for r in range(rounds):
        if ws.has_neighbor(ws.WEST):
            acc = ws.recv(ws.WEST) + acc
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, acc)
        if r == late:
            for k in range(2):
                acc = acc * 0.5 + block_word(acc, k, ws.threadIdx.x == 0 and ws.threadIdx.y == 0) * 0.25
    out[y, x] = acc


def test_routed_words_reached_only_in_a_late_round_inside_a_device_function_are_identical(compiled_sends):
    rounds, late, block = 4, 3, (6, 4)
    values = np.random.default_rng(7).standard_normal((block[1], block[0])).astype(np.float32)

    def run():
        return values_through(routed_in_a_late_round[(1, 1), block], ws.WaferSpec(width=8, height=6),
                              values, rounds, late)

    reference = same_everywhere(run, compiled_sends)
    acc = values.copy()
    for r in range(rounds):
        acc = np.cumsum(acc, axis=1, dtype=np.float32)  # (the rows' prefix sums, in the kernel's order)
        if r == late:
            for k in range(2):
                acc = acc * np.float32(0.5) + (acc[0, 0] + np.float32(k)) * np.float32(0.25)
    np.testing.assert_array_equal(reference[0], acc)
