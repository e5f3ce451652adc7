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


def launch(values: np.ndarray, grid: tuple[int, int], block: tuple[int, int], rounds: int, root: tuple[int, int]):
    dev = ws.Device(ws.WaferSpec(width=16, height=12))
    d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
    stats = broadcast_rounds[grid, block](d_values, d_out, rounds, root[0], root[1])
    return d_out.copy_to_host(), stats


@pytest.fixture
def compiled_sends(monkeypatch):
    """The routed words the interpreter sent, counted as each call's log is settled."""
    sent = []
    original = fabric_state.FabricState.settle_sends

    def counting(self):
        sent.append(int(self.sent_top[0]))
        original(self)

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
        dev = ws.Device(ws.WaferSpec(width=16, height=12))
        d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
        stats = all_reduces[(1, 1), (12, 8)](d_values, d_out, 4)
        return d_out.copy_to_host(), stats

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
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
        stats = two_paths[(1, 1), (3, 3)](d_values, d_out, 4, routes=routes)
        return d_out.copy_to_host(), stats

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
