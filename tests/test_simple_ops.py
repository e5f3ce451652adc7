"""`simple_ops.run_memory_span`: the interpreter's scalar SRAM loads and stores over a segment's PEs in one loop,
against NumPy's gather and scatter at each PE's own address; where an address leaves the data segment it does
nothing (the general loop then refuses that PE), and through the engine such a load raises what the NumPy engine
raises, with the same words and cycles elsewhere."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run, error_facts
from wafersim.sim.compiled.kinds import K_ADD, K_LD, K_ST
from wafersim.sim.compiled.simple_ops import run_memory_span
from wafersim.sim.strategy import Strategy, forced

PES, WORDS = 40, 32


def machine(seed: int):
    rng = np.random.default_rng(seed)
    regs = rng.integers(-2**31, 2**31, (8, PES), dtype=np.int64).astype(np.int32)
    regs[0] = 0
    regs[2] = rng.integers(0, WORDS - 5, PES)  # addresses (+ imm up to 4: inside)
    sram = rng.integers(-2**31, 2**31, (WORDS, PES), dtype=np.int64).astype(np.int32)
    order = rng.permutation(PES).astype(np.int64)
    return regs, sram, order


@pytest.mark.parametrize("imm", [0, 4])
def test_loads_gather_each_pe_s_word(imm):
    regs, sram, order = machine(1)
    lanes = order[5:31]
    want = regs.copy()
    want[3, lanes] = sram[regs[2, lanes] + imm, lanes]
    assert run_memory_span(K_LD, 3, 2, imm, order, 5, 31, regs, sram)
    np.testing.assert_array_equal(regs, want)  # (the other PEs' registers untouched)


def test_a_load_into_r0_writes_nothing_and_a_load_into_its_address_register_reads_it_first():
    regs, sram, order = machine(2)
    before = regs.copy()
    assert run_memory_span(K_LD, 0, 2, 1, order, 0, PES, regs, sram)
    np.testing.assert_array_equal(regs, before)
    assert run_memory_span(K_LD, 2, 2, 1, order, 0, PES, regs, sram)
    np.testing.assert_array_equal(regs[2], sram[before[2] + 1, np.arange(PES)])


def test_stores_scatter_each_pe_s_register():
    regs, sram, order = machine(3)
    lanes = order[:17]
    want = sram.copy()
    want[regs[2, lanes] + 2, lanes] = regs[4, lanes]
    assert run_memory_span(K_ST, 4, 2, 2, order, 0, 17, regs, sram)
    np.testing.assert_array_equal(sram, want)


@pytest.mark.parametrize("kind", [K_LD, K_ST])
@pytest.mark.parametrize("address", [-1, WORDS])
def test_an_address_outside_the_data_segment_does_nothing(kind, address):
    regs, sram, order = machine(4)
    regs[2, order[20]] = address
    regs_before, sram_before = regs.copy(), sram.copy()
    assert not run_memory_span(kind, 3, 2, 0, order, 0, PES, regs, sram)
    np.testing.assert_array_equal(regs, regs_before)
    np.testing.assert_array_equal(sram, sram_before)


def test_other_kinds_are_not_its():
    regs, sram, order = machine(5)
    assert not run_memory_span(K_ADD, 3, 2, 0, order, 0, PES, regs, sram)


GATHER = """
.sram 64
.args 3
    sreg r1, tid.x
    li r2, 32
    shli r3, r1, 7
    arg r4, 1
    add r4, r4, r3
    gldv r0, r4, r2
    muli r5, r1, 7
    andi r5, r5, 31
    arg r6, 2
    add r5, r5, r6
    ld r7, r5, 0
    muli r8, r1, 5
    andi r8, r8, 15
    st r7, r8, 40
    ld r9, r8, 40
    add r9, r9, r7
    arg r10, 0
    shli r11, r1, 2
    add r10, r10, r11
    gst r9, r10, 0
    halt
"""


@pytest.mark.parametrize("offset,fails", [(0, False), (40, True)])
def test_loads_and_stores_through_the_engine_match_the_numpy_engine(offset, fails):
    """Each PE loads its row of 32 words, loads word 7 x index mod 32 + `offset` of it, stores that at word 40 + 5 x
    index mod 16, loads it back and returns their sum: the compiled interpreter (with and without its fast paths)
    against the NumPy engine and NumPy; with `offset` 40 some PEs load outside the data segment and every strategy
    raises the same error."""
    rows = np.random.default_rng(6).integers(-2**20, 2**20, (24, 32)).astype(np.int32)

    def run():
        dev = ws.Device(ws.WaferSpec(width=24, height=1))
        d_out = dev.device_array(24, np.int32)
        stats = dev.launch(ws.assemble(GATHER), (1, 1), (24, 1), (d_out, dev.to_device(rows), offset),
                           print_output=False)
        return d_out.copy_to_host(), stats

    results = []
    for strategy in (Strategy(compiled=False), Strategy(compiled_loops=False), Strategy()):
        with forced(strategy):
            if fails:
                with pytest.raises(ws.WaferError) as error:
                    run()
                results.append(error_facts(error.value))
            else:
                results.append(run())
    if fails:
        assert results[1] == results[0] and results[2] == results[0]
        return
    pes = np.arange(24)
    np.testing.assert_array_equal(results[0][0], 2 * rows[pes, 7 * pes % 32])
    for got in results[1:]:
        assert_same_run(results[0], got)
