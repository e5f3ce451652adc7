"""sim/stats.py: the launch summary's text."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim.stats import energy_text


@pytest.mark.parametrize("joules, text", [(3.5, "3.5 J"), (2.1e-3, "2.1 mJ"), (0.0021e-3, "2.1 uJ"),
                                          (1.234567e-6, "1.235 uJ"), (4.2e-10, "0.42 nJ"), (0.0, "0 nJ")])
def test_energy_text_picks_a_unit_that_shows_the_digits(joules, text):
    assert energy_text(joules) == text


def test_a_small_launch_summary_shows_its_energy_not_zero():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    stats = ws.Kernel(ws.assemble(".args 1\nhalt\n"))[1, 1](dev.device_array(4))
    shown = stats.summary().rsplit(", ", 1)[-1]
    value, unit = shown.split()
    scale = {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "nJ": 1e-9}[unit]
    assert float(value) > 0
    np.testing.assert_allclose(float(value) * scale, stats.energy_j, rtol=1e-3)


@ws.jit
def _sends_without_receives(out, k):
    x = ws.threadIdx.x
    if ws.has_neighbor(ws.EAST):
        for _ in range(k):
            ws.send(ws.EAST, 1.0)
    out[0] = 1.0


@pytest.mark.parametrize("grid", [(1, 1), (40, 1)])  # one wave, and many blocks in several waves
def test_words_sent_but_never_received_are_counted_and_shown(grid):
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    k, block = 3, (4, 2)
    stats = _sends_without_receives[grid, block](dev.device_array(1), k)
    senders = (block[0] - 1) * block[1] * grid[0] * grid[1]  # PEs with an east neighbour in their block
    assert stats.waves >= (2 if grid[0] > 1 else 1)
    assert stats.words_left_in_fifos == k * senders
    assert f"{k * senders:,} word(s) sent but never received" in stats.summary()
    quiet = ws.Kernel(ws.assemble(".args 1\nhalt\n"))[1, 1](dev.device_array(1))
    assert quiet.words_left_in_fifos == 0 and "never received" not in quiet.summary()
