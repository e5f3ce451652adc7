"""The scalar send/recv path of the compiled interpreter (sim/compiled/scalar_transfers.py): on random FIFO states
it either leaves everything untouched (`GENERAL`) or does exactly what the general `transfers.transfer` does, array
for array; a word's timing follows the fabric's rule (taken at max(ready, its arrival); sent at max(ready, when its
slot was freed), arriving a link latency later); and it serves the common case (uniform tags, room in the ring)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from wafersim.sim.compiled.fabric_ops import HELD, META_COLUMNS, PER_SLOT, RAW, RESIDENT, SENDER_OFFSET, UNIFORM
from wafersim.sim.compiled.kinds import BLOCKED, GO_ON, K_RECV, K_SEND
from wafersim.sim.compiled.scalar_transfers import GENERAL, scalar_transfer
from wafersim.sim.compiled.table import A, D, DIR, FIELDS, FIFO, LANE_ROW, OUT_FIFO, OUT_LANE_ROW, TAG
from wafersim.sim.compiled.transfers import transfer

WIDTH, HEIGHT, FIFOS, DEPTH = 4, 3, 2, 4
N = WIDTH * HEIGHT
OFFSETS = np.array([-WIDTH, 1, WIDTH, -1], dtype=np.int64)  # flat offsets of the four directions
REGISTERS, COST, WORD_TIME = 4, 1.0, 1.0
TAGS = [RAW, 1, 2, 5, 6]  # raw, float32, int32, a chain's float32 and int32


def random_state(rng: np.random.Generator, time_dtype, rings: int, per_pe_latency: bool):
    """A PE, one scalar transfer at pc 0 and a random fabric (`fabric_ops`' layout) around it."""
    kind = K_SEND if rng.random() < 0.5 else K_RECV
    direction = int(rng.integers(4))
    x, y = int(rng.integers(1, WIDTH - 1)), int(rng.integers(1, HEIGHT - 1))  # (every neighbour on the wafer)
    i = y * WIDTH + x
    fields = np.zeros((FIELDS, 1), dtype=np.int64)
    fields[FIFO, 0], fields[TAG, 0], fields[DIR, 0] = rng.integers(FIFOS), rng.choice(TAGS), direction
    fields[A, 0], fields[D, 0], fields[LANE_ROW, 0] = rng.integers(REGISTERS), rng.integers(REGISTERS), 0
    fields[OUT_FIFO, 0] = fields[OUT_LANE_ROW, 0] = -1
    lane_constants = np.ones((1, N), dtype=np.int64)
    lane_constants[0, i] = rng.random() > 0.1  # sometimes across the block's edge
    popped = rng.integers(0, 9, (FIFOS, N)).astype(np.int32)
    pushed = (popped + rng.integers(0, min(DEPTH, rings) + 1, (FIFOS, N))).astype(np.int32)
    drained = rng.random(FIFOS) < 0.15  # (sometimes a FIFO no PE holds a word of)
    pushed[drained] = popped[drained]
    meta = np.zeros((FIFOS, META_COLUMNS), dtype=np.int64)
    meta[:, UNIFORM] = rng.choice([-1, *TAGS], FIFOS)
    meta[:, PER_SLOT] = rng.random(FIFOS) < 0.2
    meta[:, HELD] = (pushed.astype(np.int64) - popped).sum(axis=1)  # (what `FabricState.arrays` counts)
    meta[:, SENDER_OFFSET] = OFFSETS[rng.integers(4, size=FIFOS)]
    parked = np.full(N, -1, dtype=np.int64)
    for pe in range(N):  # some PEs wait, some resident in the scheduler
        if rng.random() < 0.5:
            parked[pe] = int(rng.integers(2 * FIFOS)) | (RESIDENT if rng.random() < 0.3 else 0)
    parked[i] = -1
    latency = (rng.integers(1, 4, (4, N)) if per_pe_latency else rng.integers(1, 4, (4, 1))).astype(np.float64)
    fabric = (rng.integers(0, 40, (FIFOS, DEPTH, N)).astype(time_dtype),
              rng.integers(-2**31, 2**31, (FIFOS, rings, N), dtype=np.int64).astype(np.int32),
              pushed, popped, rng.choice(TAGS, (FIFOS, DEPTH, N)).astype(np.uint8), meta, OFFSETS, latency,
              WORD_TIME, np.zeros(N, dtype=np.int64), rng.integers(0, 5, N).astype(np.float64), parked,
              np.zeros(N, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros((2, N), dtype=np.int64),
              np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    pe_state = (rng.integers(-2**31, 2**31, (REGISTERS, N), dtype=np.int64).astype(np.int32),
                rng.integers(0, 40, N).astype(np.float64), rng.integers(0, 5, N).astype(np.int64),
                rng.integers(0, 3, N).astype(np.int64))  # regs, times, counts, resume
    return kind, i, fields, lane_constants, fabric, pe_state


def run_scalar(kind, i, owed, done, fields, lane_constants, fabric, pe_state):
    regs, times, counts, resume = pe_state
    (time, value, pushed, popped, tags, meta, offsets, latency, word_time, _, stall, parked, ready, ready_top, joined,
     joined_top, _) = fabric
    return scalar_transfer(kind, 0, i, owed, done, fields, np.array([COST]), regs, lane_constants, times, counts,
                           resume, time, value, pushed, popped, tags, meta, offsets, latency, word_time, stall, parked,
                           ready, ready_top, joined, joined_top)


def run_general(kind, i, owed, done, fields, lane_constants, fabric, pe_state):
    regs, times, counts, resume = pe_state
    sram, fsram = np.zeros((1, N), dtype=np.int32), np.zeros((1, N), dtype=np.float32)
    word_bits = np.zeros(1, dtype=np.int32)
    return transfer(kind, 0, i, owed, done, fields, np.array([COST]), regs, sram, fsram, lane_constants,
                    np.zeros(3, dtype=np.int64), word_bits, word_bits.view(np.float32), times, counts, resume, fabric,
                    1.0, 1.0, np.zeros(1, dtype=np.int64), np.inf)


def assert_same(state, other) -> None:
    for mine, theirs in zip(state, other):
        if isinstance(mine, np.ndarray):
            np.testing.assert_array_equal(mine, theirs)
        else:
            assert mine == theirs


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rings,per_pe_latency", [(DEPTH, False), (1, False), (2, True)])
def test_the_scalar_path_does_what_the_general_transfer_does_or_nothing(time_dtype, rings, per_pe_latency):
    rng = np.random.default_rng([rings, per_pe_latency, time_dtype is np.float32])
    served = {GO_ON: 0, BLOCKED: 0, GENERAL: 0}
    for _ in range(300):
        kind, i, fields, lane_constants, fabric, pe_state = random_state(rng, time_dtype, rings, per_pe_latency)
        owed, done = float(rng.integers(0, 6)), int(rng.integers(0, 6))
        before = copy.deepcopy((fabric, pe_state))
        scalar = copy.deepcopy((fabric, pe_state))
        status = run_scalar(kind, i, owed, done, fields, lane_constants, *scalar)
        served[status] += 1
        if status == GENERAL:  # untouched, for the general transfer to run
            assert_same(scalar[0] + scalar[1], before[0] + before[1])
            continue
        general = copy.deepcopy((fabric, pe_state))
        assert run_general(kind, i, owed, done, fields, lane_constants, *general) == status
        assert_same(scalar[0] + scalar[1], general[0] + general[1])
    assert min(served.values()) > 0, served  # every outcome seen


def test_a_received_word_is_taken_at_its_arrival_and_a_sent_word_leaves_when_its_slot_is_free():
    rng = np.random.default_rng(3)
    checked = 0
    while checked < 40:
        kind, i, fields, lane_constants, fabric, pe_state = random_state(rng, np.float64, DEPTH, False)
        f, direction = fields[FIFO, 0], fields[DIR, 0]
        fabric[5][f, PER_SLOT], fabric[5][f, UNIFORM] = 0, -1  # (tags the path serves)
        lane_constants[0, i] = 1
        time, value, pushed, popped, latency, stall = (fabric[0].copy(), fabric[1].copy(), fabric[2].copy(),
                                                       fabric[3].copy(), fabric[7], fabric[10].copy())
        regs, times = pe_state[0].copy(), pe_state[1].copy()
        owed = 2.0
        ready = times[i] + owed + COST  # when the PE is ready to move the word
        status = run_scalar(kind, i, owed, 0, fields, lane_constants, fabric, pe_state)
        if status != GO_ON:
            continue
        checked += 1
        if kind == K_RECV:
            k = popped[f, i]
            arrival = time[f, k % DEPTH, i]
            taken = max(ready, arrival)
            assert fabric[3][f, i] == k + 1
            assert pe_state[0][fields[D, 0], i] == (value[f, k % DEPTH, i] if fields[D, 0] else regs[0, i])
            assert fabric[0][f, k % DEPTH, i] == taken  # (the slot's time: when it was freed)
            assert pe_state[1][i] + owed + COST == taken
        else:
            owner = i + OFFSETS[direction]
            k = pushed[f, owner]
            freed = time[f, k % DEPTH, owner]
            leaves = max(ready, freed)
            assert fabric[2][f, owner] == k + 1
            assert fabric[1][f, k % DEPTH, owner] == regs[fields[A, 0], i]
            assert fabric[0][f, k % DEPTH, owner] == leaves + latency[direction, 0]
            assert pe_state[1][i] + owed + COST == leaves + WORD_TIME
        moved = taken if kind == K_RECV else leaves
        assert fabric[10][i] == stall[i] + (moved - ready)  # (the cycles it waited)


@pytest.mark.parametrize("depth, rings", [(1, 1), (3, 3), (3, 2), (6, 4)])
def test_the_scalar_path_matches_the_general_one_for_fifos_of_other_depths(monkeypatch, depth, rings):
    """review46: FIFOs of depth 1 (every send parks until the pop) and of depths and value rings that are not
    powers of two (`ring_slot`'s modulo, not its mask), which the draws above (depth 4) never make."""
    monkeypatch.setitem(globals(), "DEPTH", depth)  # (`random_state`'s FIFOs)
    assert random_state(np.random.default_rng(0), np.float64, rings, False)[4][0].shape[1] == depth
    for time_dtype in (np.float32, np.float64):
        test_the_scalar_path_does_what_the_general_transfer_does_or_nothing(time_dtype, rings, depth % 2 == 0)
