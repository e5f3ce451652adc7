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
