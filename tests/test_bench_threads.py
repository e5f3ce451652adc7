"""bench/threads.py: the table of thread counts (speed-ups are ratios to one thread, from the rows' walls)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import threads  # noqa: E402


def test_the_table_shows_each_count_and_its_speed_up_over_one_thread():
    row = {"name": "heat", "label": "heat", "first_s": 2.0, "numpy_s": 0.25, "instructions": 10**9,
           "best": {1: 2.0, 4: 0.8, 16: 0.5}}
    text = threads.table([row], 3, (1, 4, 16))
    assert "| 1 / 4 / 16 threads, best of 3 (s) |" in text
    line = text.splitlines()[-1]
    assert "| 2 / 0.8 / 0.5 |" in line and "| 2.50x / 4.00x |" in line  # 2.0 / 0.8, 2.0 / 0.5
    assert "| 8.0x / 3.2x / 2.0x |" in line and line.endswith("| 2e+09 |")  # x NumPy; 1e9 / 0.5 s


@pytest.mark.parametrize("counts", ["2,4", "1", "1,0", "1,two", "1,2.5"])
def test_counts_must_be_whole_numbers_starting_with_one_thread(counts, capsys):
    with pytest.raises(SystemExit):
        threads.main(["--counts", counts])
    assert "--counts" in capsys.readouterr().err
