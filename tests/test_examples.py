"""The ported examples run small and agree with NumPy (each asserts its own results against NumPy or
float64; these tests check the figures they return as well)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ports():
    spec = importlib.util.spec_from_file_location("classic_ports", ROOT / "examples" / "classic_ports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["classic_ports"] = module  # the kernels' source is read from the module's file
    spec.loader.exec_module(module)
    return module


def test_the_ring_visits_every_pe_once_with_neighbour_steps(ports):
    for width, height in ((2, 2), (4, 4), (8, 2), (3, 4)):
        order = ports.ring_order(width, height)
        assert sorted(order) == sorted((x, y) for x in range(width) for y in range(height))
        for (x0, y0), (x1, y1) in zip(order, order[1:] + order[:1]):
            assert abs(x1 - x0) + abs(y1 - y0) == 1
    with pytest.raises(ValueError):
        ports.ring_order(4, 3)


@pytest.mark.parametrize("width, height", [(4, 4), (8, 2)])
def test_nbody_matches_float64_and_moves_each_body_round_the_ring(ports, width, height):
    err, stats = ports.nbody(width, height)
    assert err < 1e-5
    npes = width * height
    # every PE hands its 4 K words to the next, npes - 1 times: one link crossing each
    assert int(stats.routed_link_words[0].sum()) == npes * (npes - 1) * 4 * ports.K


def test_red_black_stops_where_numpy_does_bit_for_bit(ports):
    same, iterations, stats = ports.solve(6, 6)
    assert same and 10 < iterations < 500
    assert stats.cycles > iterations * 50      # each iteration pays three exchanges and a block all-reduce


def test_odd_even_sort_is_np_sort(ports):
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.int32):
        values = (rng.standard_normal((2, 8)) * 50).astype(dtype)
        values[0, 3] = values[0, 5]                 # a tie
        got, _ = ports.sort_rows(values)
        assert np.array_equal(got, np.sort(values, axis=1))


def test_main_runs_small(ports, capsys):
    ports.main(small=True)
    assert capsys.readouterr().out.count("\n") == 5
