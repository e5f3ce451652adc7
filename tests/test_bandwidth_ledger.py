"""`BandwidthLedger` (sim/bandwidth.py) against a plain-Python sum over its accesses: the bytes served up to
each key of a batch as it is recorded, and the stores a settle finds late, whole or up to a horizon, with
accesses in any order, keys repeated, issue cycles with fractions, and keys too wide for one integer."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wafersim.sim import bandwidth
from wafersim.sim.bandwidth import BandwidthLedger, prefix_bytes
from wafersim.sim.bandwidth_kernels import cycle_prefix_bytes

BYTES_PER_CYCLE = 2.5


def _random_batch(rng: np.random.Generator, pes: int, start: float, halves: bool):
    """A batch of accesses: issue cycles (whole, or in halves) from `start`, PEs (sorted, as lanes come, or
    not, or repeated), bytes (one count or each its own), and a store's unloaded completions or None."""
    count = int(rng.integers(1, 40))
    issue = start + rng.integers(0, 6, count) * (0.5 if halves else 1.0)
    if rng.random() < 0.3:
        issue[:] = issue[0]  # (one cycle: a group's lanes)
    pe = rng.integers(0, min(pes, 12), count)
    if rng.random() < 0.5:
        pe = np.sort(pe)
    nbytes = rng.integers(1, 9, count) if rng.random() < 0.5 else int(rng.integers(1, 9))
    unloaded = issue + rng.integers(0, 30, count) if rng.random() < 0.6 else None
    return issue, pe, nbytes, unloaded


def _plain_through(accesses, earlier: int, issue: float, pe: int) -> int:
    return earlier + sum(b for i, p, b, _ in accesses if (i, p) <= (issue, pe))


@pytest.mark.parametrize("pes", [12, 2 ** 61])  # (2 ** 61: keys too wide for cycle * pes + PE)
@pytest.mark.parametrize("halves", [False, True])
def test_each_batch_is_served_after_every_byte_of_a_key_up_to_its_own(pes, halves):
    rng = np.random.default_rng(pes % 1000 + halves)
    for _ in range(150):
        earlier = int(rng.integers(0, 50))
        ledger = BandwidthLedger(earlier, BYTES_PER_CYCLE, pes)
        accesses: list[tuple[float, int, int, float]] = []
        start = 0.0
        for _ in range(int(rng.integers(1, 6))):
            # (a batch mostly after the last, sometimes among them)
            start = start + float(rng.integers(0, 4)) if rng.random() < 0.7 else float(rng.integers(0, 8))
            issue, pe, nbytes, unloaded = _random_batch(rng, pes, start, halves)
            latest = ledger.latest
            ledger.record(issue, pe, nbytes, unloaded)
            sizes = np.broadcast_to(nbytes, issue.shape)
            accesses += [(float(i), int(p), int(b), math.nan) for i, p, b in zip(issue, pe, sizes)]
            expected = [_plain_through(accesses, earlier, float(i), int(p)) for i, p in zip(issue, pe)]
            np.testing.assert_array_equal(ledger.bytes_through(issue.astype(np.float64), pe.astype(np.int64),
                                                               latest), expected)


@pytest.mark.parametrize("pes", [12, 2 ** 61])
@pytest.mark.parametrize("halves", [False, True])
def test_a_settle_finds_late_exactly_the_stores_the_plain_rule_delays(pes, halves):
    rng = np.random.default_rng(7 + pes % 1000 + halves)
    for _ in range(150):
        earlier = int(rng.integers(0, 50))
        ledger = BandwidthLedger(earlier, BYTES_PER_CYCLE, pes)
        accesses: list[tuple[float, int, int, float]] = []
        for _ in range(int(rng.integers(1, 7))):
            # (batches far apart, touching or overlapping: the settle's runs of chunks)
            issue, pe, nbytes, unloaded = _random_batch(rng, pes, float(rng.integers(0, 4) * 5), halves)
            ledger.record(issue, pe, nbytes, unloaded)
            sizes = np.broadcast_to(nbytes, issue.shape)
            stores = np.full(len(issue), math.nan) if unloaded is None else unloaded
            accesses += [(float(i), int(p), int(b), float(u)) for i, p, b, u in zip(issue, pe, sizes, stores)]
        horizon = math.inf if rng.random() < 0.5 else float(rng.integers(0, 20)) + (0.5 if halves else 0.0)
        late = ledger.settle(horizon)
        expected = []
        for i, p, _, u in accesses:
            if i < horizon and not math.isnan(u):
                served = math.ceil(_plain_through(accesses, earlier, i, p) / BYTES_PER_CYCLE)
                if served > u:
                    expected.append((p, float(served)))
        got = [] if late is None else list(zip(late[0].tolist(), late[1].tolist()))
        assert sorted(got) == sorted(expected)
        # (what is left counts on: the bytes settled are served before it)
        assert ledger.earlier == earlier + sum(b for i, _, b, _ in accesses if i < horizon)


@pytest.mark.parametrize("halves", [False, True])
def test_settles_in_steps_find_late_what_one_settle_finds(halves):
    """Settles at rising horizons (before every access left, among them, past them: a scheduler's, most before
    the earliest access recorded, which finds nothing to settle without merging the chunks) find late, together,
    exactly the stores one settle of everything finds, and count the same bytes as served; between them, the
    ledger's earliest and latest issue cycles and its stores' least unloaded completion are those of the
    accesses left."""
    rng = np.random.default_rng(31 + halves)
    for _ in range(150):
        earlier = int(rng.integers(0, 50))
        stepped, whole = BandwidthLedger(earlier, BYTES_PER_CYCLE, 12), BandwidthLedger(earlier, BYTES_PER_CYCLE, 12)
        for _ in range(int(rng.integers(1, 7))):
            batch = _random_batch(rng, 12, float(rng.integers(0, 4) * 5), halves)
            stepped.record(*batch)
            whole.record(*batch)
        found = []
        for horizon in sorted(rng.integers(-5, 25, size=int(rng.integers(1, 6))).tolist()) + [math.inf]:
            left, _, _, unloaded = stepped._entries() if stepped.entries else ([], None, None, [])  # (not settled)
            assert stepped.earliest == (float(min(left)) if len(left) else math.inf)
            assert stepped.latest == (float(max(left)) if len(left) else -math.inf)
            stores = [float(u) for u in np.broadcast_to(unloaded, np.shape(left)) if not math.isnan(u)]
            assert stepped.store_unloaded_min == (min(stores) if stores else math.inf)
            late = stepped.settle(float(horizon) + (0.5 if halves else 0.0))
            found += [] if late is None else list(zip(late[0].tolist(), late[1].tolist()))
        late = whole.settle(math.inf)
        assert sorted(found) == sorted([] if late is None else zip(late[0].tolist(), late[1].tolist()))
        assert stepped.earlier == whole.earlier and stepped.total == whole.total == 0


def test_the_prefix_of_keys_already_in_order_is_a_running_sum():
    issue = np.repeat(np.arange(5.0), 4)
    pe = np.tile(np.arange(4), 5)
    np.testing.assert_array_equal(prefix_bytes(issue, pe, 3, 4), 3 * np.arange(1, 21))
    np.testing.assert_array_equal(prefix_bytes(issue[::-1].copy(), pe[::-1].copy(), 3, 4), 3 * np.arange(20, 0, -1))


def _plain_prefix(issue, pe, nbytes) -> list[int]:
    sizes = np.broadcast_to(nbytes, issue.shape)
    keys = list(zip(issue.tolist(), pe.tolist()))
    return [sum(int(b) for k2, b in zip(keys, sizes) if k2 <= k) for k in keys]


@pytest.mark.parametrize("cycles", ["dense", "sparse", "halves", "one"])
@pytest.mark.parametrize("order", ["by pe", "by key", "any", "repeated"])
@pytest.mark.parametrize("pes", [40, 2 ** 61])
@pytest.mark.parametrize("numba_loaded", [True, False])
def test_the_bytes_up_to_each_key_are_the_plain_sum_whichever_way_they_are_found(cycles, order, pes, numba_loaded,
                                                                                  monkeypatch):
    """`prefix_bytes` takes no sort (cycles near each other, each cycle's accesses by PE; compiled, where the
    process has loaded Numba), one integer key, or both parts of the key (cycles with fractions, keys too wide):
    each against a plain sum."""
    if not numba_loaded:  # (the process as one that has not loaded the engine's Numba module: NumPy only)
        monkeypatch.setattr(bandwidth, "numba_loaded", lambda: False)
    rng = np.random.default_rng(len(cycles) * 7 + len(order) + pes % 97)
    for _ in range(40):
        count = int(rng.integers(1, 41))
        pe = rng.permutation(40)[:count] if order != "repeated" else rng.integers(0, 6, count)
        issue = {"dense": rng.integers(3, 9, count) * 1.0, "sparse": rng.integers(0, 9, count) * 1e4 + 7,
                 "halves": rng.integers(0, 9, count) * 0.5, "one": np.full(count, 5.0)}[cycles]
        if order == "by pe":  # (the lanes of a group: the accesses of each cycle by increasing PE)
            pe = np.sort(pe)
        elif order == "by key":
            by_key = np.lexsort((pe, issue))
            issue, pe = issue[by_key], pe[by_key]
        nbytes = rng.integers(1, 9, count) if rng.random() < 0.5 else int(rng.integers(1, 9))
        np.testing.assert_array_equal(prefix_bytes(issue, pe.astype(np.int64), nbytes, pes),
                                      _plain_prefix(issue, pe, nbytes))


def test_the_pass_without_a_sort_refuses_cycles_with_fractions_or_accesses_not_by_pe():
    issue = np.array([7.0, 8.0, 7.0, 8.0])
    through = np.zeros(4, dtype=np.int64)
    sizes = np.array([3], dtype=np.int64)
    assert cycle_prefix_bytes(issue, 7.0, 2, np.array([0, 1, 2, 3]), sizes, through)
    np.testing.assert_array_equal(through, [3, 9, 6, 12])
    assert not cycle_prefix_bytes(issue, 7.0, 2, np.array([2, 1, 0, 3]), sizes, through)  # (cycle 7: PE 2, then 0)
    assert not cycle_prefix_bytes(issue, 7.0, 2, np.array([0, 1, 0, 3]), sizes, through)  # (a key repeated)
    assert not cycle_prefix_bytes(issue + [0, 0.5, 0, 0], 7.0, 2, np.array([0, 1, 2, 3]), sizes, through)


@st.composite
def _lane_batches(draw):
    """Accesses as a wave records them: one or more groups, each its lanes' PEs (distinct, increasing) and an
    issue cycle a lane from a few whole cycles after a base (small or far from 0, or with a fraction now and
    then); bytes one count for all or each its own."""
    pes = draw(st.sampled_from([1, 7, 64, 1000, 2 ** 40]))
    base = draw(st.sampled_from([0.0, 3.0, 123456.0, 2.0 ** 40]))
    issue, pe = [], []
    for _ in range(draw(st.integers(1, 4))):
        lanes = sorted(draw(st.sets(st.integers(0, min(pes, 300) - 1), min_size=1, max_size=40)))
        width = draw(st.integers(0, 12))
        fraction = draw(st.sampled_from([0.0, 0.0, 0.0, 0.5]))
        for lane in lanes:
            issue.append(base + draw(st.integers(0, width)) + (fraction if draw(st.booleans()) else 0.0))
            pe.append(lane)
    count = len(issue)
    if draw(st.booleans()):
        nbytes = draw(st.integers(1, 2 ** 20))
    else:
        nbytes = np.array(draw(st.lists(st.integers(1, 2 ** 20), min_size=count, max_size=count)), dtype=np.int64)
    return np.array(issue), np.array(pe, dtype=np.int64), nbytes, pes


@settings(max_examples=300, deadline=None)
@given(batch=_lane_batches())
def test_the_numpy_prefix_gives_the_compiled_passs_bytes_wherever_that_pass_takes_the_accesses(batch):
    """A process that has not loaded Numba finds the bytes by NumPy (stop 51): in every case the compiled pass
    takes (it refuses fractions and cycles not by PE), the same bytes and dtype as that pass, and both the plain
    sum."""
    issue, pe, nbytes, pes = batch
    lo, hi = float(issue.min()), float(issue.max())
    compiled = np.empty(len(issue), dtype=np.int64)
    sizes = np.array([nbytes], dtype=np.int64) if isinstance(nbytes, int) else nbytes
    taken = cycle_prefix_bytes(issue, lo, int(hi - lo) + 1, pe, sizes, compiled)
    saved = bandwidth.numba_loaded
    bandwidth.numba_loaded = lambda: False  # (the process as one without the engine's Numba module)
    try:
        numpy_only = prefix_bytes(issue, pe, nbytes, pes)
    finally:
        bandwidth.numba_loaded = saved
    np.testing.assert_array_equal(numpy_only, _plain_prefix(issue, pe, nbytes))
    if taken:
        assert numpy_only.dtype == compiled.dtype
        np.testing.assert_array_equal(numpy_only, compiled)
        np.testing.assert_array_equal(prefix_bytes(issue, pe, nbytes, pes), compiled)


_PREFIX_WITHOUT_NUMBA = """
import sys
import numpy as np
from wafersim.sim.bandwidth import prefix_bytes
pe = np.tile(np.arange(1000, dtype=np.int64), 3)  # (three cycles' stores of a group's lanes, each cycle by PE)
issue = np.repeat(np.array([10.0, 11.0, 13.0]), 1000)
through = prefix_bytes(issue, pe, 4, 1000)
print("numba" in sys.modules, through[[0, 999, 1000, 2999]].tolist())
"""


def test_a_process_that_has_not_loaded_numba_finds_the_bytes_without_loading_it():
    # A whole-wafer store at a wave's end (Game of Life's) loaded Numba for the compiled pass: the whole
    # import in a process's first launch, and the compiled register runs and receives in its later ones.
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _PREFIX_WITHOUT_NUMBA], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    loaded, values = result.stdout.split(" ", 1)
    assert loaded == "False"
    assert values.strip() == str([4, 4000, 4004, 12000])  # (a cycle's bytes, then the next cycle's on top)
