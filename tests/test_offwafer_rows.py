"""Bulk global loads (`gldv`) of a different length at each PE take the general path of `OffWaferMixin._global`,
whose SRAM writes go through `_put_rows` (rows as a slice where every PE has the same SRAM base, the PEs as a slice
where evenly spaced, else 2-D index arrays): the words must be NumPy's in every case, under every strategy, with the
race checker on too (its records take the same words)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.sim import offwafer

W = 12  # SRAM words a PE keeps


@ws.jit
def ragged_rows(src, dst, lengths, bases):
    """PE i loads lengths[i] words of row i of `src` into buf[bases[i]:], then stores the whole buffer."""
    i = ws.grid(1)
    buf = ws.local.array(W, np.float32)
    buf[0:W] = 0.0
    n = lengths[i]
    b = bases[i]
    buf[b:b + n] = src[i, 0:n]
    dst[i, 0:W] = buf[0:W]


def _expected(src: np.ndarray, lengths: np.ndarray, bases: np.ndarray) -> np.ndarray:
    out = np.zeros((len(lengths), W), np.float32)
    for i, (n, b) in enumerate(zip(lengths, bases)):
        out[i, b:b + n] = src[i, :n]
    return out


def _launch(lengths: np.ndarray, bases: np.ndarray, racecheck: bool = False):
    pes = len(lengths)
    dev = ws.Device(ws.WaferSpec(width=pes, height=1))
    src = np.arange(pes * W, dtype=np.float32).reshape(pes, W) + 0.25
    d_dst = dev.to_device(np.full((pes, W), -1.0, np.float32))
    stats = ragged_rows[(1, 1), (pes, 1)](dev.to_device(src), d_dst, dev.to_device(lengths.astype(np.int32)),
                                         dev.to_device(bases.astype(np.int32)), racecheck=racecheck)
    return (src, d_dst.copy_to_host()), stats


# (lengths by PE: each length at PEs evenly spaced (slices of the PEs), or not; one base, or one per PE)
CASES = {
    "columns of lengths": (np.tile(np.arange(1, 5), 64), np.zeros(256, int)),  # (64 PEs a length: slices)
    "ragged": (np.array([3, 1, 3, 3, 2, 1, 5, 3, 2, 2, 7, 3] * 6), np.zeros(72, int)),
    "bases by PE": (np.tile(np.arange(1, 5), 16), np.tile([0, 2, 5, 1, 0, 3, 7, 4], 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ragged_bulk_loads_match_numpy_under_every_strategy(case, monkeypatch):
    lengths, bases = CASES[case]
    put = offwafer.OffWaferMixin._put_rows
    calls = []
    monkeypatch.setattr(offwafer.OffWaferMixin, "_put_rows", lambda self, *a: calls.append(a) or put(self, *a))
    (src, out), _ = run_every_strategy(lambda: _launch(lengths, bases))
    np.testing.assert_array_equal(out, _expected(src, lengths, bases))
    assert calls  # (the general path ran: a different length at each PE is never one strided block)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ragged_bulk_loads_under_the_race_checker(case):
    lengths, bases = CASES[case]
    (src, out), stats = _launch(lengths, bases, racecheck=True)
    np.testing.assert_array_equal(out, _expected(src, lengths, bases))
    assert not stats.races
