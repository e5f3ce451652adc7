"""The SwarmX tree: its shape and transfer times against formulas from its spec, and its reduction order
against sums written out by hand."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.cluster import ClusterArgumentError, ClusterArgumentTypeError, ClusterError, SwarmXSpec, SwarmXTree


@pytest.mark.parametrize("n, fan_out", [(1, 4), (2, 4), (4, 4), (5, 4), (16, 4), (17, 4), (64, 4), (65, 4),
                                        (192, 4), (7, 2), (192, 8)])
def test_levels_and_nodes_follow_the_fan_out(n, fan_out):
    tree = SwarmXTree(n, SwarmXSpec(fan_out=fan_out))
    levels = min(k for k in range(20) if fan_out ** k >= n)        # the smallest tree that reaches n leaves
    assert tree.levels == levels
    assert tree.nodes == sum(math.ceil(n / fan_out ** k) for k in range(1, levels + 1))


def test_transfer_time_is_latencies_plus_bytes_at_the_slowest_rate():
    mx = train.MemoryXSpec(bandwidth_bytes_per_s=1e9, latency_s=2e-6)
    one = SwarmXTree(1, SwarmXSpec(link_bandwidth_bytes_per_s=5e8), mx)
    assert one.transfer_seconds(4000) == pytest.approx(2e-6 + 4000 / 1e9, rel=1e-12)   # no tree: MemoryX alone
    spec = SwarmXSpec(link_bandwidth_bytes_per_s=5e8, level_latency_s=3e-6, fan_out=4)
    big = SwarmXTree(192, spec, mx)                                   # 4 levels: 4^3 = 64 < 192 <= 256
    assert big.transfer_seconds(4000) == pytest.approx(2e-6 + 4 * 3e-6 + 4000 / 5e8, rel=1e-12)
    fast_links = SwarmXTree(192, SwarmXSpec(link_bandwidth_bytes_per_s=1e12, level_latency_s=3e-6), mx)
    assert fast_links.transfer_seconds(4000) == pytest.approx(2e-6 + 4 * 3e-6 + 4000 / 1e9, rel=1e-12)


def test_reduction_adds_in_the_tree_order_in_float32():
    rng = np.random.default_rng(3)
    g = [rng.standard_normal(6).astype(np.float32) for _ in range(5)]
    tree = SwarmXTree(5, SwarmXSpec(fan_out=2))
    total = tree.reduce([{"w": v} for v in g])["w"]
    assert total.dtype == np.float32
    assert np.array_equal(total, ((g[0] + g[1]) + (g[2] + g[3])) + g[4])
    six = SwarmXTree(6, SwarmXSpec(fan_out=4)).reduce([{"w": v} for v in g + [g[0]]])["w"]
    assert np.array_equal(six, (((g[0] + g[1]) + g[2]) + g[3]) + (g[4] + g[0]))


def test_reduction_order_is_the_trees_not_the_sequence():
    # In float32 1e8 + 1 rounds to 1e8: left to right these give 1, in pairs (fan-out 2) they give 0.
    values = [np.float32(v) for v in (1e8, 1.0, -1e8, 1.0)]
    assert ((values[0] + values[1]) + values[2]) + values[3] == 1.0
    tree = SwarmXTree(4, SwarmXSpec(fan_out=2))
    assert tree.reduce([{"x": np.array([v])} for v in values])["x"][0] == 0.0


def test_bad_trees_are_refused_with_the_limit():
    with pytest.raises(ClusterError, match="1 to 192 systems") as err:
        SwarmXTree(193)
    assert err.value.available == 192
    with pytest.raises(ClusterError):
        SwarmXTree(0)
    for bad in (dict(fan_out=1), dict(link_bandwidth_bytes_per_s=0), dict(level_latency_s=-1.0),
                dict(max_systems=True)):
        with pytest.raises(ws.SpecError):
            SwarmXSpec(**bad)
    with pytest.raises(ClusterError, match="reduces 3 systems"):
        SwarmXTree(3).reduce([{"w": np.zeros(2)}] * 2)


def test_a_negative_transfer_size_is_an_argument_error_and_zero_latencies_are_allowed():
    tree = SwarmXTree(4)
    with pytest.raises(ClusterArgumentError, match="bytes >= 0, got -5") as err:
        tree.transfer_seconds(-5)                          # was 3e-6 - 4e-12 s: less than the latencies
    assert isinstance(err.value, ws.ArgumentError)
    free = SwarmXTree(4, SwarmXSpec(level_latency_s=0), train.MemoryXSpec(latency_s=0, bandwidth_bytes_per_s=1e9))
    assert free.transfer_seconds(0) == 0.0 and free.transfer_seconds(3000) == 3000 / 1e9


@pytest.mark.parametrize("parts", [None, 5, "ab", [None, None], ({"w": np.ones(2)}, 3)])
def test_reduce_of_anything_but_a_list_of_tensor_dicts_is_a_typed_error(parts):
    with pytest.raises(ClusterArgumentTypeError, match="reduce\\(parts\\)") as err:
        SwarmXTree(2).reduce(parts)
    assert isinstance(err.value, ws.ArgumentTypeError)
    total = SwarmXTree(2).reduce(({"w": np.ones(2)}, {"w": np.full(2, 2.0)}))   # a tuple of dicts is fine
    assert np.array_equal(total["w"], np.full(2, 3.0, np.float32))


def test_reduce_refuses_tensors_of_other_shapes_or_kinds():
    """(1,) and (3,) were broadcast and added, complex lost its imaginary part, a string was a bare ValueError."""
    tree = SwarmXTree(3)
    ones = {"w": np.ones(3, np.float32)}
    shapes = r"same shapes; system 0 sent \{'w': \(3,\)\}, system 2 \{'w': \(1,\)\}"
    with pytest.raises(ClusterArgumentError, match=shapes):
        tree.reduce([ones, ones, {"w": np.ones(1, np.float32)}])
    with pytest.raises(ClusterArgumentError, match="same tensors"):
        tree.reduce([ones, ones, {"v": np.ones(3, np.float32)}])
    for bad in (np.ones(3) * 1j, np.array(["a", "b", "c"])):
        with pytest.raises(ClusterArgumentTypeError, match="system 1's tensor 'w' must be real numbers"):
            tree.reduce([ones, {"w": bad}, ones])
    # integers and float64 are taken, and added in float32 as float32 parts would be
    parts = [{"w": np.array([1, 2, 3])}, {"w": np.array([0.1, 0.2, 0.3])}, {"w": np.array([True, False, True])}]
    expected = (np.float32([1, 2, 3]) + np.float32([0.1, 0.2, 0.3])) + np.float32([1, 0, 1])
    assert np.array_equal(tree.reduce(parts)["w"], expected)


@pytest.mark.parametrize("field", ["link_bandwidth_bytes_per_s", "level_latency_s"])
def test_a_bool_figure_is_a_spec_error(field):
    with pytest.raises(ws.SpecError, match=f"SwarmXSpec.{field}"):
        SwarmXSpec(**{field: True})


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_summary_counts_with_plurals(n):
    # (arch.values.plural, the one helper: "1 level", "2 levels", against the tree's own counts)
    tree = SwarmXTree(n, SwarmXSpec(fan_out=4))
    word = lambda count, name: f"{count} {name}" + ("" if count == 1 else "s")  # noqa: E731
    assert tree.summary().startswith(f"SwarmX tree: {word(n, 'system')}, {word(tree.levels, 'level')} of "
                                     f"{word(tree.nodes, 'node')} (fan-out 4)")


@pytest.mark.parametrize("link", [0.5e9, 1.5e9, 12.34e9, 150e9, 1.2e12, 12e12])
def test_summary_shows_a_slow_links_rate(link):
    # (user54: links at 0.5 GB/s were shown as "0 GB/s", bench/cluster.py's 1.5 GB/s as "2 GB/s")
    tree = SwarmXTree(5, SwarmXSpec(link_bandwidth_bytes_per_s=link),
                      train.MemoryXSpec(bandwidth_bytes_per_s=1e15))
    shown = float(re.search(r"fan-out 4\), ([\d,.]+) GB/s", tree.summary()).group(1).replace(",", ""))
    assert shown == pytest.approx(link / 1e9, rel=5e-3)
