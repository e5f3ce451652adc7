"""`wafersim.init()`: starts the compiled path ahead of the first launch (Numba and its registries), and
changes nothing a launch computes."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

import wafersim as ws
from wafersim.kernels import scan


def test_init_returns_its_seconds_and_a_second_call_is_free():
    first = ws.init()
    assert isinstance(first, float) and first >= 0
    assert ws.init() < 0.05  # (already started: nothing is loaded again)
    assert "numba" in sys.modules


def test_launches_after_init_give_the_same_results():
    values = np.random.default_rng(5).random((3, 40), dtype=np.float32)
    out, stats = scan.prefix_sum(values)
    ws.init()
    again, again_stats = scan.prefix_sum(values)
    np.testing.assert_array_equal(again, out)
    assert again_stats.cycles == stats.cycles and again_stats.instructions == stats.instructions


def test_init_in_a_fresh_process_loads_numba_before_any_launch():
    code = textwrap.dedent("""
        import sys
        import wafersim as ws
        assert "numba" not in sys.modules  # (importing wafersim does not start Numba)
        seconds = ws.init()
        assert "numba" in sys.modules and seconds > 0
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
