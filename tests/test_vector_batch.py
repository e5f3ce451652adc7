"""Batched vector instructions (`sim.vector_batch`, `Strategy.fused_vectors`) and blocked vfma products
(`Strategy.blocked_vfma`): a chain of vector instructions with overlapping operands, scalar operands
whose registers are written again while the instruction is queued (one value for every lane, and one per
lane), a load of a word a queued instruction writes, float and int32 operations, over a full group and a
complement group (one PE halted), cut into several blocks of PEs and into thread parts, must give the
results, cycles and statistics of one NumPy call per instruction, and of NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.sim import compute, parallel, vector_batch
from wafersim.sim.strategy import REFERENCE, Strategy, forced

W = 12
PES = 40


@ws.jit
def chain(x, k, out, kout, scale, skip):
    """The instructions asked of the batch, in a row (vadd, vfma, ld, vsub, ld, vscale, vmul, vdiv, int vadd)."""
    i = ws.grid(1)
    if i < skip:
        return
    a = ws.local.array(W, np.float32)
    b = ws.local.array(W, np.float32)
    m = ws.local.array(W, np.int32)
    a[0:W] = x[i, 0:W]
    m[0:W] = k[i, 0:W]
    b[0:W] = a[0:W] + a[0:W]
    a[1:W] = a[0:W - 1] * scale + a[1:W]  # (overlapping: every product from the words before the sums)
    c = a[2]  # a word the vfma writes, queued: the load must see its result
    b[0:W] = b[0:W] - a[0:W]
    c = c + b[3]  # (the load runs the queue: the vsub alone, one call)
    b[0:W] = b[0:W] * c  # (a scalar per lane, its register written again by the next instructions)
    a[0:W - 2] = a[2:W] * b[0:W - 2]
    b[0:W] = b[0:W] / a[0:W]
    m[0:W] = m[0:W] + m[0:W]
    out[i, 0:W] = b[0:W]
    kout[i, 0:W] = m[0:W]


def numpy_chain(x: np.ndarray, k: np.ndarray, scale: np.float32, skip: int):
    a, b = x.copy(), np.zeros_like(x)
    b[:] = a + a
    a[:, 1:] = a[:, :-1] * scale + a[:, 1:]
    c = a[:, 2:3].copy()
    b[:] = b - a
    c = c + b[:, 3:4]
    b[:] = b * c
    a[:, :-2] = a[:, 2:] * b[:, :-2]
    b[:] = b / a
    out, kout = b, k + k
    out[:skip], kout[:skip] = 0, 0
    return out, kout


def _run(x: np.ndarray, k: np.ndarray, skip: int):
    dev = ws.Device(ws.WaferSpec(width=PES, height=1))
    d_out, d_k = dev.to_device(np.zeros_like(x)), dev.to_device(np.zeros_like(k))
    stats = chain[(1, 1), (PES, 1)](dev.to_device(x), dev.to_device(k), d_out, d_k, np.float32(0.75), skip,
                                    keep_state=True)
    sram = stats.state.waves[0].sram  # (a halted PE's words too: the batch must give them back)
    return np.concatenate([d_out.copy_to_host().view(np.int32), d_k.copy_to_host(), sram.T], axis=1), stats


@pytest.mark.parametrize("skip", [0, 1])  # a full group, and all but one PE (a complement group)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block", [256, 3])  # one block of PEs, and many (the last cut short)
def test_batched_vectors_match_one_call_per_instruction_and_numpy(skip, threads, block, monkeypatch):
    monkeypatch.setattr(vector_batch, "BATCH_LANES", 1)
    monkeypatch.setattr(vector_batch, "MIN_BLOCK_PES", block)
    monkeypatch.setattr(vector_batch, "BLOCK_BYTES", 1)
    monkeypatch.setattr(compute, "VFMA_BLOCK_BYTES", block * W * 4)
    monkeypatch.setattr(parallel, "PARALLEL_LANES", 8)
    rng = np.random.default_rng(skip + 2 * threads)
    x = rng.random((PES, W), dtype=np.float32) + 0.5
    k = rng.integers(-2**31, 2**31 - 1, (PES, W), dtype=np.int32)  # (int32 sums wrap)
    flushed = []
    flush = vector_batch.VectorBatch.flush
    monkeypatch.setattr(vector_batch.VectorBatch, "flush",
                        lambda self: (flushed.append(len(self.ops)), flush(self))[-1])
    runs = {}
    with parallel.threads(threads):
        for name, strategy in [("reference", REFERENCE), ("one call each", Strategy(compiled=False, fused_vectors=False,
                                                                                    blocked_vfma=False)),
                               ("blocked vfma", Strategy(compiled=False, fused_vectors=False)),
                               ("batched", Strategy(compiled=False))]:
            with forced(strategy):
                runs[name] = _run(x, k, skip)
    assert max(flushed) >= 2  # (the batched run queued instructions; the load ran the first ones)
    out, kout = numpy_chain(x, k, np.float32(0.75), skip)
    np.testing.assert_array_equal(runs["reference"][0][:, :2 * W], np.concatenate([out.view(np.int32), kout], axis=1))
    for name, run in runs.items():
        assert_same_run(runs["reference"], run)


def test_union_length():
    assert vector_batch._union_length([(5, 9), (0, 3), (2, 4), (8, 12), (20, 21)]) == 4 + 7 + 1
    assert vector_batch._union_length([]) == 1


@ws.jit(boundscheck=False)
def fails_after_vectors(x, bad):
    """Vector instructions queued, then one past the data segment (an error as it issues, the queue not yet
    run): the failed launch's state must have the queued ones run."""
    i = ws.grid(1)
    a = ws.local.array(W, np.float32)
    b = ws.local.array(W, np.float32)
    a[0:W] = x[i, 0:W]
    b[0:W] = a[0:W] + a[0:W]
    a[0:W] = b[0:W] * 3.0 + a[0:W]
    b[0:bad] = a[0:bad] + a[0:bad]


def test_a_failed_launch_shows_the_queued_vector_instructions_run(monkeypatch):
    monkeypatch.setattr(vector_batch, "BATCH_LANES", 1)
    x = np.random.default_rng(7).random((PES, W), dtype=np.float32)
    states = []
    for strategy in (Strategy(compiled=False, fused_vectors=False), Strategy(compiled=False)):
        dev = ws.Device(ws.WaferSpec(width=PES, height=1))
        with forced(strategy), pytest.raises(ws.MemoryAccessError) as error:
            fails_after_vectors[(1, 1), (PES, 1)](dev.to_device(x), 1000)
        states.append(error.value.state.waves[0].sram)
    np.testing.assert_array_equal(states[1], states[0])
    a = x + np.float32(3.0) * (x + x)
    np.testing.assert_array_equal(states[0][:W].view(np.float32).T, a)  # (a is the first local array)
