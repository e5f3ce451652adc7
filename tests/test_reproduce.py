"""Small-fabric versions of the reproductions in bench/reproduce_*.py (issue 11): the same kernels and the
same shapes of the published results, on grids of a few dozen PEs.

- `kernels.stencil25` (Jacquelin et al., SC22) equals its NumPy reference bit for bit, relaying columns or
  with localized broadcasts on routes; its time per step does not depend on the grid (weak scaling),
  grows linearly with the column height, and its slope moves with `WaferSpec` exactly as the kernel's
  operation count says.
- The 1-D reduce and all-reduce of bench/reproduce_luczynski_reduce.py (chain: the collectives library;
  tree: recursive halving over routes) give NumPy's sums; a chain's time grows linearly in P; one more
  cycle per hop adds exactly the model's distance L = P - 1 (twice, with the broadcast of an all-reduce).
- The whole-fabric all-reduce of bench/reproduce_rocki_allreduce.py gives NumPy's sum at every PE, and one
  more cycle per hop adds at most the fabric's diameter.
- The MeshGEMV of bench/reproduce_waferllm_gemv.py (WaferLLM, OSDI 2025) gives NumPy's product at every
  PE; its time grows per tile row at the float16 rate (`vector_lanes_half`) and per cycle of hop latency
  by the round trip from the allreduce's root to the farthest PE of a column; its two-phase tree beats
  the one-phase chain (the paper's pipeline allreduce).
- The MeshGEMM of bench/reproduce_waferllm_gemm.py (WaferLLM, OSDI 2025; no published time to compare)
  gives NumPy's product at every PE; its interleaved ring makes every shift at most 2 hops over links used
  once each; a step costs the same whatever the grid (time linear in P at a fixed tile), and its fmas are
  charged at the float16 rate (`vector_lanes_half`).
- The published cost models (bench/reproduce_models.py) follow their formulas from `WaferSpec` fields.
- docs/timing.md cites every calibrated preset figure with the value the preset carries.
"""
from __future__ import annotations

import functools
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim.arch.spec import PRESET_FIELDS
from wafersim.errors import ArgumentError
from wafersim.kernels import stencil25 as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import reproduce_common  # noqa: E402

models = reproduce_common.load_script("reproduce_models")
jacquelin = reproduce_common.load_script("reproduce_jacquelin_stencil")
luczynski = reproduce_common.load_script("reproduce_luczynski_reduce")
rocki = reproduce_common.load_script("reproduce_rocki_allreduce")
waferllm = reproduce_common.load_script("reproduce_waferllm_gemv")
meshgemm = reproduce_common.load_script("reproduce_waferllm_gemm")


def _fields(ny, nx, nz, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((ny, nx, nz), dtype=np.float32), rng.standard_normal((ny, nx, nz), dtype=np.float32),
            (rng.random((ny, nx, nz), dtype=np.float32) * np.float32(0.05)))


# ----------------------------------------------------------------------------- the 25-point stencil
@pytest.mark.parametrize("nx, ny, nz, steps, chunk", [(1, 1, 3, 2, 16), (5, 3, 7, 3, 16), (9, 9, 17, 2, 16),
                                                      (10, 6, 12, 1, 5)])
def test_stencil25_equals_numpy_bit_for_bit(nx, ny, nz, steps, chunk):
    u_prev, u, vp = _fields(ny, nx, nz)
    got, stats = st.stencil25(u_prev, u, vp, steps, chunk=chunk)
    assert np.array_equal(got, st.stencil25_reference(u_prev, u, vp, steps))
    assert stats.flops > 0


@pytest.mark.parametrize("nx, ny, nz, steps", [(3, 2, 5, 1), (12, 7, 18, 2)])
def test_stencil25_with_localized_broadcasts_equals_numpy_bit_for_bit(nx, ny, nz, steps):
    """20 routed channels, PEs taking turns by position mod 5 (12 x 7 reuses every channel)."""
    u_prev, u, vp = _fields(ny, nx, nz, seed=5)
    got, _ = st.stencil25(u_prev, u, vp, steps, routed=True)
    assert np.array_equal(got, st.stencil25_reference(u_prev, u, vp, steps, routed=True))


def test_localized_broadcasts_scale_flat_and_beat_relays():
    """The routers copy each column to four PEs, so a PE sends 4 columns a step instead of relaying 16.
    Columns of 32: two chunks of 16, the shortest where the routes win (at 16 the relays still do, by 5 of
    ~900 cycles); 64 shows the same at twice the cost."""
    routed = [_per_step(nx, ny, 32, routed=True) for nx, ny in ((9, 9), (12, 10))]
    assert routed[1] == pytest.approx(routed[0], rel=2e-3)  # (shared links: a few cycles of arrival order)
    assert routed[0] < _per_step(9, 9, 32)


def test_stencil25_reference_is_the_wave_equation_step():
    """The reference against a direct float64 formula (no shared code): zero outside the domain."""
    u_prev, u, vp = _fields(6, 7, 8, seed=3)
    padded = np.pad(u.astype(np.float64), 4)
    lap = 3 * st.AXIS_WEIGHTS[0] * u.astype(np.float64)
    for k, w in enumerate(st.AXIS_WEIGHTS[1:], start=1):
        for axis in range(3):
            for sign in (-1, 1):
                lap += w * np.roll(padded, sign * k, axis=axis)[4:-4, 4:-4, 4:-4]
    expected = 2 * u.astype(np.float64) - u_prev + vp.astype(np.float64) * lap
    assert np.allclose(st.stencil25_reference(u_prev, u, vp, 1), expected, rtol=1e-5, atol=1e-5)


def test_stencil25_refuses_chunks_deeper_than_the_fifo():
    u_prev, u, vp = _fields(2, 2, 4)
    with pytest.raises(ArgumentError, match="FIFO depth 16"):
        st.stencil25(u_prev, u, vp, 1, chunk=17)
    with pytest.raises(ArgumentError, match="shape"):
        st.stencil25(u_prev, u[:, :1], vp, 1)
    for steps in (-1, 1.5, True):  # (-1 ran zero steps without a word)
        with pytest.raises(ArgumentError, match="steps"):
            st.stencil25(u_prev, u, vp, steps)


@functools.lru_cache(maxsize=None)
def _per_step(nx, ny, nz, routed=False, **fields):
    spec = ws.WaferSpec.preset("wse2", width=nx, height=ny, global_bytes_per_s=1e18, **fields)
    ones = np.ones((ny, nx, nz), np.float32)
    cycles = [st.stencil25(ones, ones, ones * np.float32(0.01), s, device=ws.Device(spec), routed=routed)[1].cycles
              for s in (1, 3)]
    return (cycles[1] - cycles[0]) / 2


def test_stencil25_weak_scaling_is_flat():
    """Every PE four or more PEs from the edge does the same work: per-step time independent of the grid."""
    assert _per_step(9, 9, 16) == _per_step(12, 10, 16) == _per_step(9, 13, 16)


def test_stencil25_step_grows_linearly_with_the_column_and_moves_with_the_spec():
    """Slope per cell: each cell is sent 16 times (4 rounds x 4 directions) at 1 / link_words_per_cycle
    cycles a word by the sender, and 29 vector element operations (1 multiply, 8 Z and 16 received
    multiply-adds, 4 for the update) at 1 / vector_lanes cycles each."""
    nzs = (64, 80, 96)  # past the first few chunks, whose pipeline fills differently
    base = [_per_step(9, 9, nz) for nz in nzs]
    assert base[1] - base[0] == base[2] - base[1]  # linear in nz (whole chunks of 16)
    slow_link = [_per_step(9, 9, nz, link_words_per_cycle=0.5) for nz in nzs[:2]]
    two_lanes = [_per_step(9, 9, nz, vector_lanes=2) for nz in nzs[:2]]
    dz = nzs[1] - nzs[0]
    assert (slow_link[1] - slow_link[0]) - (base[1] - base[0]) == 16 * (2 - 1) * dz
    assert (base[1] - base[0]) - (two_lanes[1] - two_lanes[0]) == 29 * (1 - 1 / 2) * dz


def test_jacquelin_script_measures_and_checks_a_small_grid():
    row = jacquelin.per_step(9, 9, 16)
    assert row["cycles"] == _per_step(9, 9, 16)
    assert row["us"] == pytest.approx(row["cycles"] / ws.WaferSpec.preset("wse2").clock_hz * 1e6)


# ----------------------------------------------------------------------------- reduce and all-reduce
def _collective(shape, P, B, all_reduce, **fields):
    """Cycles of a Luczynski-script collective on P x 1 wse2 PEs with `fields` changed (checked: ones)."""
    spec = ws.WaferSpec.preset("wse2", width=P, height=1, global_bytes_per_s=1e18, **fields)
    kernel, routes = luczynski.kernel(shape, B, P, all_reduce)
    cycles = []
    for go in (0, 1):
        dev = ws.Device(spec)
        d_out = dev.device_array((P, B))
        cycles.append(kernel[(1, 1), (P, 1)](dev.to_device(np.ones((P, B), np.float32)), d_out, go,
                                             routes=routes).cycles)
    rows = slice(None) if all_reduce else slice(0, 1)
    assert np.array_equal(d_out.copy_to_host()[rows], np.full((P, B), P, np.float32)[rows])
    return cycles[1] - cycles[0]


@pytest.mark.parametrize("shape", ["chain", "tree"])
@pytest.mark.parametrize("all_reduce", [False, True])
@pytest.mark.parametrize("P, B", [(5, 1), (6, 16), (3, 33), (3, 300)])
def test_luczynski_collectives_sum_like_numpy(shape, all_reduce, P, B):
    assert luczynski.simulated(shape, P, B, all_reduce) > 0  # raises if any checked sum differs


@pytest.mark.parametrize("shape", ["chain", "tree"])
def test_reduce_pays_the_model_distance_per_cycle_of_hop_latency(shape):
    for P in (4, 8):
        for B in (1, 20):
            extra = _collective(shape, P, B, False, hop_latency=2) - _collective(shape, P, B, False)
            assert extra == P - 1, (P, B)
        extra = _collective(shape, P, 1, True, hop_latency=2) - _collective(shape, P, 1, True)
        assert extra == 2 * (P - 1), P  # the reduce's distance, then the broadcast's


def test_chain_grows_linearly_in_P_and_the_tree_beats_it_for_one_word():
    chain = [_collective("chain", P, 1, False) for P in (4, 8, 16)]
    assert chain[2] - chain[1] == 2 * (chain[1] - chain[0])
    assert _collective("tree", 16, 1, False) < chain[2]


@pytest.mark.parametrize("width, height", [(9, 7), (16, 12), (5, 1)])
def test_rocki_allreduce_sums_everywhere_and_its_hops_stay_within_the_diameter(width, height):
    """One more cycle per hop adds the hops of the critical path: at least the broadcast's from the centre
    to the farthest corner, at most that plus the farthest tree leaf's (together the diameter)."""
    base = rocki.simulated(width, height)  # raises if a PE's sum differs from NumPy's
    assert base["diameter"] == (width - 1) + (height - 1)
    extra = rocki.simulated(width, height, hop_latency=2)["cycles"] - base["cycles"]
    p, q = width // 2, height // 2
    assert max(p, width - 1 - p) + max(q, height - 1 - q) <= extra <= base["diameter"]


# ----------------------------------------------------------------------------- MeshGEMV (WaferLLM)
@pytest.mark.parametrize("P, M, N, groups, chunk", [(8, 64, 64, 2, 8), (12, 96, 48, 3, 4), (16, 128, 256, 4, 16)])
def test_meshgemv_gives_numpys_product_at_every_pe(P, M, N, groups, chunk):
    r = waferllm.simulated(P, M, N, chunk=chunk, groups=groups)  # raises if any PE's result differs from NumPy
    assert r["cycles"] >= sum(r["model"].values())  # the structure's lower bound


def test_meshgemv_columns_are_independent():
    """The script simulates a strip of columns of the 512 x 512 grid: no word crosses between columns, so
    a column's time does not depend on how many are simulated."""
    full = waferllm.simulated(16, 128, chunk=8, groups=4)
    assert waferllm.simulated(16, 128, chunk=8, groups=4, columns=3)["cycles"] == full["cycles"]


@functools.lru_cache(maxsize=None)
def _meshgemv(P, M, N, groups, **fields):
    return waferllm.simulated(P, M, N, chunk=8, groups=groups, **fields)["cycles"]


@pytest.mark.parametrize("P, groups", [(8, 2), (12, 3), (16, 4)])
def test_meshgemv_pays_the_round_trip_to_the_farthest_pe_per_cycle_of_hop(P, groups):
    """Back to back, a GEMV waits for the previous one's broadcast: one more cycle per hop adds the hops
    from the phase-2 root to the farthest PE of a column and back (the paper's critical path: from the
    farthest core's partial sum to the farthest core's result)."""
    g = P // groups
    r2 = (groups // 2) * g + g // 2
    extra = _meshgemv(P, 8 * P, 8 * P, groups, hop_latency=2) - _meshgemv(P, 8 * P, 8 * P, groups)
    assert extra == 2 * max(r2, P - 1 - r2)


def test_meshgemv_grows_per_tile_row_at_the_float16_rate():
    """More tile rows (M / P) at a fixed N add one 16-bit fma each: ceil(Nt / vector_lanes_half) cycles
    plus a fixed overhead, whatever Nt; the reduction (Nt words) is unchanged."""
    def slope(nt, lanes):
        fields = {"vector_lanes_half": lanes}
        return (_meshgemv(8, 16 * 8, nt * 8, 2, **fields) - _meshgemv(8, 8 * 8, nt * 8, 2, **fields)) / 8
    for nt in (8, 16):
        assert slope(nt, 2) - slope(nt, 4) == math.ceil(nt / 2) - math.ceil(nt / 4)
    assert slope(16, 4) - slope(8, 4) == math.ceil(16 / 4) - math.ceil(8 / 4)


def test_meshgemv_two_phase_tree_beats_the_one_phase_chain():
    """K = 2 (groups of about sqrt(P) PEs) against one chain into the column's centre (groups = 1). The chains
    stream (`vhaddx`: a word a hop costs its latency, not a chunk's store and forward), so the tree's gain grows
    with the column: a little on 32 PEs, a third or more on 128 (one column: each column alone)."""
    assert _meshgemv(32, 256, 256, 4) < _meshgemv(32, 256, 256, 1)
    assert _meshgemv(128, 1024, 1024, 8, columns=1) < 0.7 * _meshgemv(128, 1024, 1024, 1, columns=1)


def test_meshgemv_grid_inference_rules_out_256_pes_for_32k():
    """bench/reproduce_waferllm_gemv.py takes Table 6 at 512 x 512 PEs: at 256 x 256 the float16 fmas
    of [1,32K] x [32K,32K] alone exceed the published 2.03 us at 1.1 GHz; at 512 they do not."""
    spec = ws.WaferSpec.preset("wse2")
    fma = {P: waferllm.model_cycles(P, 32768, 32768, spec)["fma"] / waferllm.PAPER_CLOCK_HZ for P in (256, 512)}
    assert fma[256] > waferllm.PUBLISHED_MS[32768] * 1e-3 > fma[512]


# ----------------------------------------------------------------------------- MeshGEMM (WaferLLM)
@pytest.mark.parametrize("P, M, K, N", [(1, 8, 8, 8), (2, 8, 8, 8), (3, 12, 12, 12), (4, 16, 16, 16),
                                        (4, 8, 16, 32), (5, 10, 20, 40)])
def test_meshgemm_gives_numpys_product_at_every_pe(P, M, K, N):
    r = meshgemm.simulated(P, M, K, N)  # raises if any PE's result tile differs from NumPy's X @ W
    assert r["cycles"] >= r["model"]["product"]  # the structure's lower bound


def test_meshgemm_hides_its_shifts_behind_the_fmas():
    """Without shifts each PE multiplies its own tiles P times (checked against NumPy too); the shifts,
    256 words against 256 fmas of 16 elements a step, add only their issue and wait instructions."""
    alone = meshgemm.simulated(4, 64, shift=False)["cycles"]
    full = meshgemm.simulated(4, 64)["cycles"]
    assert alone < full < 1.05 * alone


@pytest.mark.parametrize("P", [2, 3, 5, 7])
def test_meshgemm_skews_x_on_the_device_in_p_over_2_shifts(P):
    """`device_skew`: X arrives unskewed and the kernel skews it (row i: i ring shifts back, or P - i forward
    where fewer, as the artifact's P / 2 timed steps): every PE's product is still NumPy's (checked in
    `simulated`), the products' period stays (up to a cycle: the start buffer is then a variable), and the
    launch takes P // 2 tile shifts more, each at least a tile's words through a link, 2 hops and 2 ramps
    (`model_cycles`), fewer than P // 2 + 1 of them (P - 1 shifts for the last row would be far more)."""
    n = 8 * P  # 8 x 8 tiles: 64 words a shift
    host = meshgemm.simulated(P, n, reps=(1, 2))
    device = meshgemm.simulated(P, n, reps=(1, 2), device_skew=True)
    assert 0 <= device["cycles"] - host["cycles"] <= 1
    shift = host["model"]["shift"]
    assert (P // 2) * shift <= device["launch"] - host["launch"] < (P // 2 + 1) * shift


@pytest.mark.parametrize("n", range(1, 10))
def test_meshgemm_ring_neighbours_are_at_most_two_hops_apart(n):
    """The interleaved ring visits every PE once and each shift (to the ring predecessor) spans at most
    2 PEs, and no directed link carries two shifts."""
    r = meshgemm.ring(n)
    assert sorted(r) == list(range(n))
    assert all(abs(r[i] - r[i - 1]) <= 2 for i in range(n))
    assert sorted(d for _, d in meshgemm.shift_flows(n)) == (list(range(n)) if n > 1 else [])
    links = [(p, 1 if d > s else -1) for s, d in meshgemm.shift_flows(n) for p in range(s, d, 1 if d > s else -1)]
    assert len(links) == len(set(links))  # every directed link carries one shift
    meshgemm.shift_route(1, n, vertical=n % 2 == 0)  # (builds its rules: raises on a port used twice)
    back = meshgemm.shift_flows(n, successor=True)  # the device skew's reverse shift: the same flows reversed
    assert sorted(back) == sorted((d, s) for s, d in meshgemm.shift_flows(n))
    meshgemm.shift_route(3, n, vertical=False, successor=True)


@functools.lru_cache(maxsize=None)
def _meshgemm(P, n, **fields):
    return meshgemm.simulated(P, n, **fields)["cycles"]


def test_meshgemm_step_costs_the_same_whatever_the_grid():
    """At a fixed 4 x 4 tile every shift is a 2-hop exchange, so each of the P steps costs the same: the
    product's cycles grow by the same amount from P to P + 1 (SUMMA's broadcasts would grow with P)."""
    steps = [_meshgemm(P + 1, 4 * (P + 1)) - _meshgemm(P, 4 * P) for P in (2, 3, 4)]
    assert steps[0] > 0 and steps == [steps[0]] * 3


def test_meshgemm_fmas_are_charged_at_the_float16_rate():
    """Halving `vector_lanes_half` makes each of the P * Kt * Nt fmas (Mt = 16 elements) cost
    ceil(16 / 2) - ceil(16 / 4) cycles more; the shifts (256 words a step) stay hidden behind them."""
    P, n = 2, 32
    extra = _meshgemm(P, n, vector_lanes_half=2) - _meshgemm(P, n)
    assert extra == P * (n // P) ** 2 * (math.ceil(16 / 2) - math.ceil(16 / 4))


# ----------------------------------------------------------------------------- the published models
def test_luczynski_chain_and_tree_follow_their_formulas():
    spec = ws.WaferSpec.preset("wse2")
    tr = spec.ramp_latency
    for P in (4, 16, 512):
        for B in (1, 64, 8192):
            assert models.chain_reduce(P, B, spec) == B + (P - 1) + (2 * tr + 1) * (P - 1)
            rounds = int(np.ceil(np.log2(P)))  # P a power of two: each round's senders cover P / 2 hops
            energy = B * P * rounds / 2  # wavelet-hops
            assert models.tree_reduce(P, B, spec) == (max(B * rounds, energy / (P - 1) + P - 1)
                                                       + (2 * tr + 1) * rounds)
    # the tree wins for short vectors, the chain for long ones (the paper's crossover)
    assert models.tree_reduce(512, 1, spec) < models.chain_reduce(512, 1, spec)
    assert models.chain_reduce(512, 8192, spec) < models.tree_reduce(512, 8192, spec)


def test_models_scale_with_the_spec():
    spec = ws.WaferSpec.preset("wse2")
    slow = spec.replace(link_words_per_cycle=0.5, ramp_latency=5)
    assert models.chain_reduce(8, 100, slow) == 200 + 7 + 11 * 7
    assert models.broadcast(8, 100, spec) == 100 + 7 + 4
    assert models.rocki_allreduce(757, 996) == pytest.approx(1.1 * 1751)


# ----------------------------------------------------------------------------- docs cite every figure
def test_timing_doc_cites_every_calibrated_figure_with_its_value():
    text = (ROOT / "docs" / "timing.md").read_text()
    section = text.split("## Calibrated presets", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)}
    for name in ("wse2", "wse3"):
        for field, value in PRESET_FIELDS[name].items():
            assert field in rows, f"docs/timing.md does not cite {name}.{field}"
            # a figure that differs between the presets reads "4 (`wse2`), 8 (`wse3`)"
            per_preset = {preset: figure for figure, preset in re.findall(r"([\d.,e]+) \(`(\w+)`\)", rows[field])}
            shown = per_preset.get(name, rows[field].split()[0])
            assert float(shown.replace(",", "")) == pytest.approx(value, rel=1e-9), field
