"""The compiled stream-op mover taking along the lanes asleep at the same op (`StreamOpsMixin._stream_sleepers`,
`_join_sleepers`, stop 46): chains whose PEs reach their stream op at cycles of their own (a spin by PE), so
that some sleep at it while words are on their way and wake in the middle of a transfer, flowing east or west,
int32 and float32 (NaNs of distinct payloads among the words), against plain Python's values (review47)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.sim import stream_ops
from wafersim.sim.strategy import FAST, REFERENCE, Strategy

NUMPY_EXECUTOR = Strategy(compiled=False)
STRATEGIES = [REFERENCE, FAST, NUMPY_EXECUTOR, Strategy(event_wakeup=False), Strategy(bulk_streams=False),
              Strategy(compiled=False, event_wakeup=False), Strategy(compiled_fabric=False)]


def chain_source(n: int, op: str, flt: bool, east: bool, spin: tuple[int, int, int], nan_every: int) -> str:
    """A row of PEs: PE x holds sram[k] = value(x, k) (`values`); the leaf at one end sends its words towards
    the other (`east`: from PE 0), every PE between combines what arrives into its own and sends it on, the
    root combines only. Before its op PE x spins (x * a + b) & m loop trips (`spin`)."""
    out, into = ("east", "west") if east else ("west", "east")
    make = "itof r7, r7\n    li r8, 0.37\n    fmul r7, r7, r8" if flt else "muli r7, r7, -7"
    nan = (f"\n    andi r14, r15, {nan_every}\n    bnz r14, kept\n    li r7, 0x7fc00000\n    or r7, r7, r15\nkept:"
           if flt and nan_every else "")
    a, b, m = spin
    kind, suffix = ("f32", ".f") if flt else ("i32", "")
    return f"""
.sram {n}
    sreg r1, tid.x
    sreg r2, bdim.x
    li r5, {n}
    li r3, 0
    mul r6, r1, r5
init:
    add r7, r6, r3
    mov r15, r7
    {make}{nan}
    st r7, r3, 0
    addi r3, r3, 1
    slt r9, r3, r5
    bnz r9, init
    muli r13, r1, {a}
    addi r13, r13, {b}
    andi r13, r13, {m}
spin:
    bz r13, go
    addi r13, r13, -1
    jmp spin
go:
    li r4, 0
    addi r10, r2, -1
    {"seqi r11, r1, 0" if east else "seq r11, r1, r10"}
    bnz r11, leaf
    {"seq r12, r1, r10" if east else "seqi r12, r1, 0"}
    bnz r12, root
    {op}{suffix} {out}, {into}, 0, r4, r5
    halt
leaf:
    sendv.{kind} {out}, 0, r4, r5
    halt
root:
    {op}{suffix} none, {into}, 0, r4, r5
    halt
"""


def values(x: int, n: int, flt: bool, nan_every: int) -> np.ndarray:
    """PE x's words before the chain: float32 i * 0.37 (a quiet NaN of payload i where i & nan_every is 0) or
    int32 i * -7, i = x * n + k."""
    i = x * n + np.arange(n)
    if not flt:
        return (i * -7).astype(np.int32)
    words = (i.astype(np.float32) * np.float32(0.37)).view(np.uint32)
    if nan_every:
        words = np.where(i & nan_every, words, 0x7FC00000 | i).astype(np.uint32)
    return words.view(np.float32)


def first_nan_add(own: np.ndarray, word: np.ndarray) -> np.ndarray:
    """float32 own + word; of a NaN operand the first one's payload, quieted (docs/engine-strategies.md)."""
    with np.errstate(invalid="ignore"):
        total = own + word
    quiet = lambda x: (x.view(np.uint32) | np.uint32(0x400000)).view(np.float32)
    return np.where(np.isnan(own), quiet(own), np.where(np.isnan(word), quiet(word), total))


def expected(p: int, n: int, op: str, flt: bool, east: bool, nan_every: int) -> np.ndarray:
    """Each PE's words after the chain (n, p), as raw 32-bit words: PE x combines its own word with the one
    that reached it, its own first."""
    chain = list(range(p)) if east else list(range(p - 1, -1, -1))
    sent = values(chain[0], n, flt, nan_every)
    result = {chain[0]: sent}
    for x in chain[1:]:
        own = values(x, n, flt, nan_every)
        if op == "vaddx":
            sent = first_nan_add(own, sent) if flt else (own.astype(np.int64) + sent).astype(np.int32)
        else:
            sent = (np.maximum if op == "vmaxx" else np.minimum)(own, sent)
        result[x] = sent
    return np.stack([result[x] for x in range(p)], axis=1).view(np.uint32)


def run_chain(p: int, n: int, source: str, spec: ws.WaferSpec):
    dev = ws.Device(spec)
    stats = dev.launch(ws.assemble(source), (1, 1), (p, 1), (), keep_state=True)
    words = np.asarray(stats.state.waves[0].sram)[:n, :p].view(np.uint32).copy()
    stats.state = None  # (`assert_same_run` compares outputs and statistics)
    return words, stats


@pytest.mark.parametrize("p, n, op, flt, east, spin, nan_every, depth", [
    (8, 30, "vaddx", True, False, (13, 5, 31), 1, 2),   # float32 sums with NaNs, westwards, PEs out of step
    (8, 30, "vaddx", True, True, (13, 5, 31), 3, 2),    # the same eastwards
    (7, 23, "vaddx", False, True, (29, 3, 15), 0, 3),   # int32 sums (wrapping)
    (9, 17, "vmaxx", False, False, (7, 40, 127), 0, 1),  # int32 maxima, one-word FIFOs
    (6, 40, "vminx", False, True, (0, 0, 0), 0, 4),     # in step: every middle PE asleep at the op at once
])
def test_chains_whose_pes_reach_the_op_at_their_own_cycles_give_python_values_under_every_strategy(
        monkeypatch, p, n, op, flt, east, spin, nan_every, depth):
    joined = []
    join = stream_ops.StreamOpsMixin._join_sleepers
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_join_sleepers",
                        lambda self, *args: joined.append(1) or join(self, *args))
    spec = ws.WaferSpec(width=p, height=1, fifo_depth=depth)
    source = chain_source(n, op, flt, east, spin, nan_every)
    words, _ = run_every_strategy(lambda: run_chain(p, n, source, spec), STRATEGIES)
    np.testing.assert_array_equal(words, expected(p, n, op, flt, east, nan_every))
    assert joined  # (the NumPy executor's compiled mover took sleepers along)
