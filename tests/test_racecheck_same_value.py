"""The race checker's benign kind (sim/racecheck.py): a write-write conflict on a global word where every
write between the same barriers stored the same bits (CUDA's "done flag", Rodinia BFS's `*over = true`)
is reported as "write-write (same value)" and not raised for; reads racing those writes, and writes of
different values, stay races. The advice says what can fix a race (never a barrier where none can
help). Checked on kernels whose races are known by construction, on every engine strategy, and the
vectorised pair finder against a brute-force search over every pair of accesses."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim.sim.racecheck import racing_pairs, uniform_writes
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced


@ws.jit
def done_flag(out):
    x = ws.grid(1)
    if x % 2 == 0:
        out[0] = 1  # MARK-flag


@ws.jit
def flag_and_read(out):
    x = ws.grid(1)
    if x % 2 == 0:
        out[0] = 1  # MARK-set
    if x == 1:
        out[1] = out[0]  # MARK-read


@ws.jit
def flag_of_two_values(out):
    x = ws.grid(1)
    if x % 2 == 0:
        out[0] = 1
    if x == 3:
        out[0] = 2  # another value: whichever lands last decides the word


@ws.jit
def own_values(out):
    out[0] = ws.threadIdx.x  # MARK-own


@ws.jit
def rewrite_then_flag(out):
    x = ws.threadIdx.x
    if x == 0:
        out[0] = 1
        out[0] = 2  # PE 0's second store is ordered after its first, but not after PE 1's
    if x == 1:
        out[0] = 1


@ws.jit
def signed_zeros(out):
    out[0] = 0.0 if ws.threadIdx.x == 0 else -0.0  # equal as floats, different bits


@ws.jit
def across_blocks_read(out):
    if ws.blockIdx.x == 0:
        out[0] = 7
    ws.syncthreads()
    if ws.blockIdx.x == 1:
        out[1] = out[0]


@ws.jit
def two_phases(out):
    out[0] = 1
    ws.syncthreads()
    out[0] = 2


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def zeros(dev, n, dtype=np.int32):
    return dev.to_device(np.zeros(n, dtype=dtype))


@pytest.mark.parametrize("grid, block", [(1, (8, 1)), ((2, 1), (4, 1)), ((2, 2), (2, 2))])
def test_the_done_flag_idiom_is_benign_and_not_raised(dev, grid, block):
    out = zeros(dev, 1)
    stats = done_flag[grid, block](out, racecheck=True)  # was: RaceError "Add a ws.syncthreads()"
    assert out.copy_to_host().tolist() == [1]
    assert stats.races and all(r.same_value and r.kind == "write-write (same value)" for r in stats.races)
    line = line_of(done_flag, "MARK-flag")
    assert all(a.source[1] == line and a.write for r in stats.races for a in (r.first, r.second))
    assert "benign" in str(stats.races[0]) and "race on" not in str(stats.races[0])


def test_a_read_racing_same_value_writes_is_still_a_race(dev):
    out = zeros(dev, 2)
    with pytest.raises(ws.RaceError) as info:
        flag_and_read[1, (4, 1)](out, racecheck=True)
    err = info.value
    assert [r.kind for r in err.races] == ["read-write"]      # only the real race raises
    kinds = sorted(r.kind for r in err.stats.races)            # the benign pair is still listed on the stats
    assert kinds == ["read-write", "write-write (same value)"]
    assert {a.source[1] for r in err.races for a in (r.first, r.second)} == {line_of(flag_and_read, "MARK-set"),
                                                                             line_of(flag_and_read, "MARK-read")}
    assert "1 benign write-write (same value) pair of instructions, not raised for, is on err.stats.races" in str(err)
    assert "ws.syncthreads()" in str(err)                      # two instructions of one block: a barrier helps


def test_the_cap_keeps_races_before_benign_reports(dev, monkeypatch):
    from wafersim.sim import racecheck

    monkeypatch.setattr(racecheck, "RACE_REPORT_LIMIT", 1)
    stats = flag_and_read[1, (4, 1)](zeros(dev, 2), racecheck="report")
    assert [r.kind for r in stats.races] == ["read-write"] and stats.races_dropped == 1
    with pytest.raises(ws.RaceError, match=r"found 1 or more races(.|\n)*1 more report left out"):
        flag_and_read[1, (4, 1)](zeros(dev, 2), racecheck=True)


@pytest.mark.parametrize("kernel", [flag_of_two_values, rewrite_then_flag, own_values])
def test_writes_of_different_values_race(dev, kernel):
    stats = kernel[1, (4, 1)](zeros(dev, 1), racecheck="report")
    assert any(r.kind == "write-write" and not r.same_value for r in stats.races)
    with pytest.raises(ws.RaceError):
        kernel[1, (4, 1)](zeros(dev, 1), racecheck=True)


def test_signed_zeros_are_different_bits(dev):
    stats = signed_zeros[1, (2, 1)](zeros(dev, 1, np.float32), racecheck="report")
    assert [r.kind for r in stats.races] == ["write-write"]


def test_the_value_is_judged_between_the_same_barriers(dev):
    """Each barrier epoch's writes are judged alone: after a barrier the block may store another value."""
    out = zeros(dev, 1)
    stats = two_phases[1, (4, 1)](out, racecheck=True)
    assert len(stats.races) == 2 and all(r.same_value for r in stats.races)   # one report per store
    assert out.copy_to_host().tolist() == [2]


def test_no_barrier_is_advised_where_none_can_order_the_accesses(dev):
    with pytest.raises(ws.RaceError) as info:
        own_values[1, (3, 1)](zeros(dev, 1), racecheck=True)
    text = str(info.value)
    assert "no barrier can order them" in text and "put a ws.syncthreads()" not in text
    assert "allreduce" in text and f":{line_of(own_values, 'MARK-own')}" in text
    with pytest.raises(ws.RaceError) as info:
        across_blocks_read[(2, 1), (1, 1)](zeros(dev, 2), racecheck=True)
    text = str(info.value)
    assert "ws.syncthreads() cannot order them" in text and "ws.cg.this_grid().sync()" in text
    assert "two launches" in text and "put a ws.syncthreads()" not in text


@ws.jit
def shared_counts(values, counts):
    x = ws.threadIdx.x
    counts[values[x]] += 1  # MARK-rmw: a histogram without atomics


def test_a_shared_accumulation_is_told_to_combine_per_pe_counts_not_to_add_a_barrier(dev):
    """`counts[b] += 1` from several PEs loses updates (CUDA's atomicAdd case): a barrier cannot go between the
    read and the write of one line, so the advice is per-PE counts combined with messages."""
    values = np.array([0, 1, 0, 2, 0, 1, 3, 0], np.int32)
    counts = zeros(dev, 4)
    stats = shared_counts[1, (8, 1)](dev.to_device(values), counts, racecheck="report")
    assert counts.copy_to_host().tolist() != np.bincount(values, minlength=4).tolist()   # updates were lost
    with pytest.raises(ws.RaceError) as info:
        shared_counts[1, (8, 1)](dev.to_device(values), zeros(dev, 4), racecheck=True)
    text = str(info.value)
    assert {r.kind for r in info.value.races} == {"read-write"}
    assert all(a.source[1] == line_of(shared_counts, "MARK-rmw") for r in info.value.races for a in (r.first, r.second))
    assert "no atomics" in text and "block_reduce_array" in text and "classic.histogram" in text
    assert "put a ws.syncthreads() between" not in text and "storing different values" not in text
    assert stats.races


@ws.jit
def shift_in_place(a):
    x = ws.threadIdx.x
    if x < 7:
        a[x] = a[x + 1]  # MARK-shift: each PE writes its own word, reading its neighbour's


@ws.jit
def shift_after_a_barrier(a):
    x = ws.threadIdx.x
    v = a[x + 1] if x < 7 else a[x]
    ws.syncthreads()
    a[x] = v


def test_a_read_and_a_write_on_one_line_without_an_accumulation_is_told_where_the_barrier_goes(dev):
    """`a[i] = a[i + 1]` reads and writes on one line from different PEs, but each PE writes its own word: it
    was given the histogram advice (no atomics, no barrier can help), where a barrier after the read fixes
    it. The advice's version runs race-free and shifts as NumPy does."""
    host = np.arange(10, 18, dtype=np.int32)
    with pytest.raises(ws.RaceError) as info:
        shift_in_place[1, (8, 1)](dev.to_device(host), racecheck=True)
    text = str(info.value)
    line = line_of(shift_in_place, "MARK-shift")
    assert all(a.source[1] == line for r in info.value.races for a in (r.first, r.second))
    assert "put a ws.syncthreads() between the two accesses" in text and "read into a variable first" in text
    assert "no atomics" not in text
    d = dev.to_device(host)
    stats = shift_after_a_barrier[1, (8, 1)](d, racecheck=True)
    assert not stats.races and d.copy_to_host().tolist() == np.append(host[1:], host[-1]).tolist()


def test_bulk_copies_of_the_same_words_are_benign(dev):
    """PE k copies its 4 SRAM words (all zero) to global words 2k..2k+3: the overlaps hold the same bits."""
    from test_racecheck import BULK_COPY

    out = zeros(dev, 8)
    stats = dev.launch(ws.assemble(BULK_COPY.format(fill="")), 1, (3, 1), [out], racecheck=True)
    [hazard] = stats.races
    assert hazard.same_value and hazard.count == 4


STRATEGIES = [REFERENCE, Strategy(compiled=False), Strategy(lockstep=False), Strategy(batched_waves=False), FAST]


@pytest.mark.parametrize("kernel, grid, block, n", [(done_flag, (2, 1), (4, 1), 1), (flag_and_read, 1, (4, 1), 2),
                                                     (flag_of_two_values, (2, 2), (2, 2), 1)])
def test_every_strategy_gives_the_same_report(kernel, grid, block, n):
    reports = []
    for strategy in STRATEGIES:
        with forced(strategy):
            out = zeros(ws.Device(ws.WaferSpec(width=8, height=8)), n)  # (a fresh device: the same address)
            stats = kernel[grid, block](out, racecheck="report")
            reports.append(([str(r) for r in stats.races], stats.races_dropped, out.copy_to_host().tolist(),
                            stats.cycles))
    assert all(report == reports[0] for report in reports[1:])


def test_same_value_races_survive_a_device_save(dev, tmp_path):
    stats = done_flag[1, (4, 1)](zeros(dev, 1), racecheck=True)
    loaded = ws.Device.load(dev.save(tmp_path / "flag.npz"))
    assert loaded.launches[-1].races == stats.races and stats.races[0].same_value


# ----------------------------------------------------------------------------- the pair finder
def brute_force(addr, block, pe, epoch, grid_epoch, write, bits):
    """Every racing pair (i < j) -> whether it is benign, by definition: same word, different PEs, at least
    one write; of one block: the same barrier epoch; of two blocks: the same grid epoch. Benign: two
    writes, and every write of the pair's group (the same word and epoch(s)) stored the same bits."""
    n = len(addr)

    def group_of(i, j):
        if block[i] == block[j]:
            return [k for k in range(n) if addr[k] == addr[i] and block[k] == block[i] and epoch[k] == epoch[i]]
        return [k for k in range(n) if addr[k] == addr[i] and grid_epoch[k] == grid_epoch[i]]

    verdict = {}
    for i, j in itertools.combinations(range(n), 2):
        if addr[i] != addr[j] or pe[i] == pe[j] or not (write[i] or write[j]):
            continue
        if block[i] == block[j] and epoch[i] != epoch[j] or block[i] != block[j] and grid_epoch[i] != grid_epoch[j]:
            continue
        values = {bits[k] for k in group_of(i, j) if write[k]}
        verdict[(i, j)] = bool(write[i] and write[j] and len(values) == 1)
    return verdict


@pytest.mark.parametrize("seed", range(40))
def test_racing_pairs_match_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    block = rng.integers(0, 3, size=n)
    pe = block * 4 + rng.integers(0, 3, size=n)  # (a PE is in one block)
    addr = rng.integers(0, 4, size=n)
    grid_epoch = rng.integers(0, 2, size=n)
    epoch = grid_epoch * 2 + rng.integers(0, 2, size=n)  # (a block's epochs lie within one grid epoch)
    write = rng.random(n) < 0.6
    bits = np.where(write, rng.integers(0, 2, size=n), 0)
    pairs, benign = racing_pairs(addr, block, pe, epoch, grid_epoch, write, bits)
    truth = brute_force(addr, block, pe, epoch, grid_epoch, write, bits)
    found = {(int(i), int(j)): bool(b) for (i, j), b in zip(pairs, benign)}
    assert set(found) <= set(truth)                                   # every pair found races...
    assert all(found[p] == truth[p] for p in found)                   # ...with the right verdict
    racing = {k for p in truth for k in p}
    assert {k for p in found for k in p} == racing                    # every racing access is in one
    # a word has a real race exactly when a real pair of it is found
    assert {int(addr[i]) for (i, _), b in found.items() if not b} == {int(addr[i]) for (i, _), b in truth.items()
                                                                       if not b}


@pytest.mark.parametrize("seed", range(10))
def test_uniform_writes_by_plain_python(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    group = np.sort(rng.integers(0, 6, size=n))
    write = rng.random(n) < 0.5
    value = rng.integers(-2, 2, size=n)
    expected = [len({int(value[k]) for k in range(n) if group[k] == group[i] and write[k]}) <= 1 for i in range(n)]
    assert uniform_writes(group, write, value).tolist() == expected
