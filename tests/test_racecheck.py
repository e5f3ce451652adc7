"""The race checker (sim/racecheck.py, the `racecheck` launch option): two PEs touching one global word, at
least one writing, with no barrier between them (within a block `ws.syncthreads()` orders; across blocks
nothing does). Checked against kernels whose races are known by construction, and the vectorised pair
finder against a brute-force search over every pair of accesses."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim.sim import racecheck
from wafersim.sim.racecheck import conflict_partners


@ws.jit
def all_write(out):
    out[0] = ws.threadIdx.x  # MARK-all-write


@ws.jit
def publish(out, sync):
    if ws.threadIdx.x == 0:
        out[0] = 7  # MARK-publish
    if sync:
        ws.syncthreads()
    if ws.threadIdx.x == 1:
        out[1] = out[0]  # MARK-consume


@ws.jit
def across_blocks(out):
    if ws.blockIdx.x == 0:
        out[0] = 7  # MARK-block0
    ws.syncthreads()
    if ws.blockIdx.x == 1:
        out[1] = out[0]  # MARK-block1


@ws.jit
def private_words(out, shared):
    i = ws.threadIdx.x
    out[i] = shared[0] + i  # every PE reads one shared word and writes its own


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def zeros(dev, n):
    return dev.to_device(np.zeros(n, dtype=np.int32))


def test_off_by_default_and_clean_kernels_report_nothing(dev):
    out, shared = zeros(dev, 4), dev.to_device(np.array([5], dtype=np.int32))
    stats = private_words[1, (4, 1)](out, shared)
    assert stats.races == [] and stats.races_dropped == 0
    stats = private_words[1, (4, 1)](out, shared, racecheck=True)  # read-read is no race
    assert stats.races == []
    assert out.copy_to_host().tolist() == [5, 6, 7, 8]


def test_a_write_write_race_raises_naming_both_pes_and_lines(dev):
    out = zeros(dev, 1)
    with pytest.raises(ws.RaceError) as info:
        all_write[1, (3, 1)](out, racecheck=True)
    err = info.value
    assert len(err.races) == 1  # one pair of instructions: the store with itself
    hazard = err.races[0]
    line = line_of(all_write, "MARK-all-write")
    assert hazard.kind == "write-write" and hazard.address == out.address
    assert {hazard.first.source[1], hazard.second.source[1]} == {line}
    assert hazard.first.thread_index != hazard.second.thread_index
    assert hazard.count == 2  # threads 1 and 2 each race with thread 0's store (the first writer)
    assert f":{line}" in str(err) and "write-write" in str(err)
    assert err.stats.races == err.races


def test_a_barrier_orders_accesses_within_a_block(dev):
    out = zeros(dev, 2)
    stats = publish[1, (2, 1)](out, 1, racecheck=True)
    assert stats.races == []
    assert out.copy_to_host().tolist() == [7, 7]


def test_without_the_barrier_a_read_write_race_names_both_sides(dev):
    out = zeros(dev, 2)
    stats = publish[1, (2, 1)](out, 0, racecheck="report")  # report: no exception, races on the stats
    [hazard] = stats.races
    assert hazard.kind == "read-write"
    sides = {(a.thread_index, a.source[1], a.write) for a in (hazard.first, hazard.second)}
    assert sides == {((0, 0), line_of(publish, "MARK-publish"), True),
                     ((1, 0), line_of(publish, "MARK-consume"), False)}
    assert all(a.block_index == (0, 0) for a in (hazard.first, hazard.second))
    assert {a.kind for a in (hazard.first, hazard.second)} == {"write", "read"}
    assert all(a.route is None and a.channel is None for a in (hazard.first, hazard.second))
    writer = hazard.first if hazard.first.write else hazard.second
    assert str(writer).startswith("thread (0, 0) of block (0, 0) writes at ")


def test_nothing_orders_blocks_of_one_launch(dev):
    out = zeros(dev, 2)
    stats = across_blocks[(2, 1), (1, 1)](out, racecheck="report")
    [hazard] = stats.races
    assert {a.block_index for a in (hazard.first, hazard.second)} == {(0, 0), (1, 0)}
    assert {a.source[1] for a in (hazard.first, hazard.second)} == {line_of(across_blocks, "MARK-block0"),
                                                                     line_of(across_blocks, "MARK-block1")}


def test_reports_are_capped_and_the_rest_counted(dev, monkeypatch):
    monkeypatch.setattr(racecheck, "RACE_REPORT_LIMIT", 1)
    out = zeros(dev, 2)
    stats = across_blocks[(2, 1), (1, 1)](out, racecheck="report")
    assert len(stats.races) == 1 and stats.races_dropped == 0
    stats = all_write[(2, 1), (2, 1)](zeros(dev, 1), racecheck="report")
    # the store with itself in one block and across blocks: two reports (a different fix each), one left out
    assert len(stats.races) == 1 and stats.races_dropped == 1


def test_the_option_is_validated(dev):
    with pytest.raises(ws.ArgumentTypeError, match="racecheck"):
        all_write[1, 1](zeros(dev, 1), racecheck="yes")


def brute_force(group, who, write):
    """Entries that conflict with at least one other entry of their group, by every pair."""
    racing = set()
    for i, j in itertools.combinations(range(len(group)), 2):
        if group[i] == group[j] and who[i] != who[j] and (write[i] or write[j]):
            racing |= {i, j}
    return racing


@pytest.mark.parametrize("seed", range(20))
def test_conflict_partners_find_exactly_the_racing_accesses(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    group = np.sort(rng.integers(0, 5, size=n))
    who = rng.integers(0, 3, size=n)
    write = rng.random(n) < 0.3
    partner = conflict_partners(group, who, write)
    racing = brute_force(group, who, write)
    assert set(np.flatnonzero(partner >= 0).tolist()) == racing
    for i in np.flatnonzero(partner >= 0):  # every partner is a genuine conflict
        j = partner[i]
        assert group[i] == group[j] and who[i] != who[j] and (write[i] or write[j])


BULK_COPY = """
    .sram 4
    sreg r1, tid.x
    arg r2, 0
    shli r3, r1, 3
    add r2, r2, r3
    li r4, 0
    li r5, 4
    {fill}
    gstv r2, r4, r5
    halt
"""
OWN_VALUES = "addi r6, r1, 1\n" + "".join(f"st r6, r4, {k}\n" for k in range(4))  # PE k's words hold k + 1


def test_bulk_copies_race_on_the_words_they_share(dev):
    """PE k copies 4 words of its SRAM (each k + 1) to global words 2k..2k+3: neighbours overlap on two
    words each, with different values."""
    out = zeros(dev, 8)
    stats = dev.launch(ws.assemble(BULK_COPY.format(fill=OWN_VALUES)), 1, (3, 1), [out], racecheck="report")
    [hazard] = stats.races  # one pair of instructions: the gstv with itself
    assert hazard.kind == "write-write"
    assert hazard.count == 4  # words 2, 3 (PEs 0 and 1) and 4, 5 (PEs 1 and 2)
    assert hazard.address == out.address + 8  # the lowest shared word
