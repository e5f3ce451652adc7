"""Defect tolerance (docs/defects.md): spare PEs, a defect map, repair, and kernels that never notice.

References: results of the same kernel on a perfect wafer (bit-identical), hand-computed repair maps,
detour hops and cycles counted from `WaferSpec` figures, and the repair rule checked by brute force.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from wafersim import collectives as wsc
from wafersim.arch import defects as defect_model
from wafersim.errors import LaunchError, SpecError
from wafersim.isa.opcodes import DIRECTION_STEP
from wafersim.kernels import heat as heat_lib
from wafersim.kernels import heat_tiled as tiled_lib
from wafersim.kernels import reduce as reduce_lib
from wafersim.kernels import scan as scan_lib

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "6"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NORTH, EAST, SOUTH, WEST = range(4)


def spec_of(width: int, height: int, **defects) -> ws.WaferSpec:
    return ws.WaferSpec(width=width, height=height, **defects)


def library_runs(spec: ws.WaferSpec, seed: int = 0) -> dict:
    """Heat (scalar sends), all-reduce (chains), prefix sums (row pipelines) and tiled heat (vector sends)
    on `spec`: {name: (result, LaunchStats)}."""
    rng = np.random.default_rng(seed)
    w, h = spec.width, spec.height
    field = rng.random((h, w), dtype=np.float32)
    return {
        "heat": heat_lib.heat(field, 0.1, 3, device=ws.Device(spec), block=(w // 2, h)),
        "allreduce": reduce_lib.block_allreduce(field, "sum", block=(w, h), device=ws.Device(spec)),
        "scan": scan_lib.prefix_sum(field, device=ws.Device(spec)),
        "heat_tiled": tiled_lib.heat_tiled(rng.random((2 * h, 2 * w), dtype=np.float32), 0.1, 2, 2,
                                           device=ws.Device(spec)),
    }


PERFECT = {}


def perfect_runs(width: int, height: int) -> dict:
    if (width, height) not in PERFECT:
        PERFECT[width, height] = library_runs(spec_of(width, height))
    return PERFECT[width, height]


# ----------------------------------------------------------------------------- kernels never notice
@FUZZ
@given(width=st.sampled_from([4, 6]), height=st.integers(2, 5), spare_cols=st.integers(0, 2),
       spare_rows=st.integers(0, 2), data=st.data())
def test_random_defect_maps_give_bit_identical_results_or_a_clear_error(width, height, spare_cols, spare_rows, data):
    physical = [(x, y) for y in range(height + spare_rows) for x in range(width + spare_cols)]
    dead = data.draw(st.lists(st.sampled_from(physical), max_size=4, unique=True))
    spec = spec_of(width, height, spare_cols=spare_cols, spare_rows=spare_rows, defects=dead)
    perfect = perfect_runs(width, height)
    if spec.repair() is None:
        with pytest.raises(LaunchError) as caught:
            library_runs(spec)
        assert set(caught.value.defects) <= set(dead) and caught.value.defects
        assert caught.value.usable == spec.usable_rectangle
        return
    runs = library_runs(spec)
    for name, (result, stats) in runs.items():
        reference, reference_stats = perfect[name]
        assert np.array_equal(result, reference), name
        # Detours and farther physical edges only ever add latency: never fewer cycles.
        assert stats.cycles >= reference_stats.cycles, name
        assert stats.instructions == reference_stats.instructions, name


@FUZZ
@given(width=st.integers(1, 7), height=st.integers(1, 6), spare_cols=st.integers(0, 2),
       spare_rows=st.integers(0, 2), rate=st.sampled_from([0.05, 0.15, 0.3]), seed=st.integers(0, 2**31))
def test_repair_is_a_valid_map_and_usable_rectangle_is_the_largest_repairable(width, height, spare_cols,
                                                                               spare_rows, rate, seed):
    spec = spec_of(width, height, spare_cols=spare_cols, spare_rows=spare_rows, defect_rate=rate, defect_seed=seed)
    dead = spec.dead
    repairable = {(w, h): spec.repair(w, h) is not None
                  for w in range(1, width + 1) for h in range(1, height + 1)}
    best_area = max([w * h for (w, h), ok in repairable.items() if ok], default=0)
    usable = spec.usable_rectangle
    assert usable[0] * usable[1] == best_area
    assert (spec.repair() is not None) == (usable == (width, height))
    for (w, h), ok in repairable.items():
        if not ok:
            continue
        repair = spec.repair(w, h)
        rows = repair.phys_y
        assert np.all(np.diff(rows) > 0) and np.all(np.diff(repair.phys_x, axis=1) > 0)
        assert not dead[np.broadcast_to(rows[:, None], repair.phys_x.shape), repair.phys_x].any()
        # Logical x is the x-th live PE of its row, and a skipped row had too few live PEs (for the whole
        # mesh when the spares cover it: smaller rectangles then reuse the whole mesh's map).
        for y, row in enumerate(rows):
            assert repair.phys_x[y].tolist() == np.flatnonzero(~dead[row])[:w].tolist()
        skipped = sorted(set(range(rows[-1] + 1)) - set(rows.tolist()))
        laid_out_for = width if spec.repair() is not None else w
        assert all((~dead[row]).sum() < laid_out_for for row in skipped)


def test_defect_draw_is_reproducible_and_follows_the_rate():
    spec = ws.WaferSpec.preset("dev", spare_cols=2, defect_rate=0.01, defect_seed=7)
    expected = np.random.default_rng(7).random((64, 66)) < 0.01
    assert np.array_equal(spec.dead, expected)
    assert np.array_equal(spec.replace().dead, spec.dead)
    assert not np.array_equal(spec.replace(defect_seed=8).dead, spec.dead)
    with_listed = spec.replace(defects=[(65, 63), (0, 0)])
    assert with_listed.n_dead == int((expected | _mask((66, 64), [(65, 63), (0, 0)])).sum())


def _mask(size: tuple[int, int], pes) -> np.ndarray:
    out = np.zeros((size[1], size[0]), dtype=bool)
    for x, y in pes:
        out[y, x] = True
    return out


def test_direction_order_matches_the_isa():
    assert defect_model.DIRECTION_STEP == DIRECTION_STEP


# ----------------------------------------------------------------------------- edges, corners, neighbours
@pytest.mark.parametrize("name, spares, dead", [
    ("north-west corner", dict(spare_cols=1), [(0, 0)]),
    ("south-east corner of the physical array", dict(spare_cols=1, spare_rows=1), [(8, 6)]),
    ("south-east corner of the logical mesh", dict(spare_cols=1), [(7, 5)]),
    ("west edge", dict(spare_cols=1), [(0, 3)]),
    ("east edge of the logical mesh", dict(spare_cols=1), [(7, 2)]),
    ("north edge", dict(spare_cols=1), [(4, 0)]),
    ("two adjacent in one row, two spare columns", dict(spare_cols=2), [(3, 2), (4, 2)]),
    ("two adjacent in one row, a spare row", dict(spare_cols=1, spare_rows=1), [(3, 2), (4, 2)]),
    ("a whole row dead, a spare row", dict(spare_rows=1), [(x, 5) for x in range(8)]),
])
def test_dead_pes_on_edges_corners_and_side_by_side_are_repaired(name, spares, dead):
    spec = spec_of(8, 6, defects=dead, **spares)
    assert spec.repair() is not None, name
    perfect = perfect_runs(8, 6)
    for kernel, (result, stats) in library_runs(spec).items():
        assert np.array_equal(result, perfect[kernel][0]), (name, kernel)
        assert stats.cycles >= perfect[kernel][1].cycles


@pytest.mark.parametrize("spares, dead, usable, in_the_way", [
    # Largest area wins: one row short of live PEs leaves 7 x 6 (42 PEs) rather than 8 x 5 (40).
    (dict(spare_cols=1), [(3, 2), (4, 2)], (7, 6), [(3, 2), (4, 2)]),
    (dict(spare_rows=1), [(0, 0), (7, 6), (2, 3)], (7, 6), [(0, 0), (2, 3), (7, 6)]),
    (dict(), [(x, 5) for x in range(8)], (8, 5), [(x, 5) for x in range(8)]),
])
def test_a_map_the_spares_cannot_cover_gives_a_clear_launch_error(spares, dead, usable, in_the_way):
    spec = spec_of(8, 6, defects=dead, **spares)
    assert spec.repair() is None and spec.usable_rectangle == usable
    with pytest.raises(LaunchError) as caught:
        reduce_lib.block_allreduce(np.ones((6, 8), np.float32), block=(8, 6), device=ws.Device(spec))
    err = caught.value
    assert isinstance(err, ws.WaferError)
    assert sorted(err.defects, key=lambda p: (p[1], p[0])) == sorted(in_the_way, key=lambda p: (p[1], p[0]))
    assert err.needed == (8, 6) and err.usable == usable
    assert f"usable {usable[0]} x {usable[1]}" in str(err) and f"dead at x = {in_the_way[0][0]}" in str(err)
    # A launch that fits the usable rectangle runs, and gets the right answer.
    w, h = usable
    values = np.random.default_rng(3).random((h, w), dtype=np.float32)
    result, _ = reduce_lib.block_allreduce(values, block=(w, h), device=ws.Device(spec))
    assert np.array_equal(result, reduce_lib.block_allreduce(values, block=(w, h))[0])


# ----------------------------------------------------------------------------- detour costs, from WaferSpec
def test_detour_hops_of_one_dead_pe_match_the_hand_count():
    width, height, x0, y0 = 8, 6, 3, 2
    spec = spec_of(width, height, spare_cols=1, defects=[(x0, y0)])
    extra = spec.repair().extra_hops
    expected = np.zeros((4, height, width), dtype=np.int64)
    expected[EAST, y0, x0 - 1] = expected[WEST, y0, x0] = 1  # the row's link over the dead PE
    expected[NORTH, y0, x0:] = expected[SOUTH, y0, x0:] = 1  # the shifted PEs to the rows above and below
    expected[SOUTH, y0 - 1, x0:] = expected[NORTH, y0 + 1, x0:] = 1
    assert np.array_equal(extra, expected)
    # Heat sends one word over every link of its block each step: steps x bent links word-hops.
    steps = 4
    _, stats = heat_lib.heat(np.ones((height, width), np.float32), 0.1, steps, device=ws.Device(spec))
    assert stats.detour_word_hops == steps * int(expected.sum()) == steps * (2 + 4 * (width - x0))
    assert stats.detour_cycles == stats.detour_word_hops * spec.detour_cycles_per_hop


@pytest.mark.parametrize("detour", [1, 5, 0])
def test_a_row_pipeline_slows_by_exactly_the_detour_on_its_critical_path(detour):
    """A 1-row all-reduce is a chain west then east: the one long link is crossed twice."""
    width, x_dead = 9, 4
    values = np.arange(width, dtype=np.float32)[None, :]
    perfect, perfect_stats = reduce_lib.block_allreduce(values, block=(width, 1))
    spec = spec_of(width, 1, spare_cols=1, defects=[(x_dead, 0)], detour_cycles_per_hop=detour)
    result, stats = reduce_lib.block_allreduce(values, block=(width, 1), device=ws.Device(spec))
    assert np.array_equal(result, perfect)
    assert stats.detour_word_hops == 2
    assert stats.cycles - perfect_stats.cycles == 2 * detour
    assert stats.detour_cycles == 2 * detour
    assert "detours 2 extra word-hops" in stats.summary()


def test_fabric_energy_counts_every_physical_hop_of_a_bent_link():
    """docs/defects.md: "Energy counts every physical hop a word crosses" (user54): the one bent link of a
    row, crossed twice by a 1-row all-reduce, costs 2 more hops' energy than on a perfect wafer, and the
    fabric energy is every word's physical hops times `hop_energy_pj`."""
    width, x_dead, pj = 9, 4, 0.75
    values = np.arange(width, dtype=np.float32)[None, :]
    _, perfect = reduce_lib.block_allreduce(values, block=(width, 1), device=ws.Device(spec_of(width, 1,
                                                                                             hop_energy_pj=pj)))
    spec = spec_of(width, 1, spare_cols=1, defects=[(x_dead, 0)], hop_energy_pj=pj)
    _, stats = reduce_lib.block_allreduce(values, block=(width, 1), device=ws.Device(spec))
    assert stats.words_moved == perfect.words_moved and stats.detour_word_hops == 2
    hops = stats.words_moved + 2
    assert stats.energy_breakdown_j["fabric"] == pytest.approx(hops * pj * 1e-12, rel=1e-12)
    assert stats.energy_breakdown_j["fabric"] - perfect.energy_breakdown_j["fabric"] == pytest.approx(
        2 * pj * 1e-12, rel=1e-9)


def test_spares_alone_bend_no_link_but_move_the_wafer_edge_for_global_memory():
    """Without defects every link stays one hop; off-wafer memory attaches at the physical edge, which
    spare columns (east) and rows (south) move away from the logical mesh."""
    spec = spec_of(5, 3, spare_cols=2, spare_rows=2)
    repair = spec.repair()
    assert np.array_equal(repair.extra_hops, np.zeros_like(repair.extra_hops))
    x, y = np.meshgrid(np.arange(5), np.arange(3))
    assert np.array_equal(repair.hops_to_edge(), np.minimum(np.minimum(x, 6 - x), np.minimum(y, 4 - y)))


# ----------------------------------------------------------------------------- spec, TOML, heatmaps
def test_presets_are_defect_free_and_toml_carries_the_map(tmp_path):
    for name in ("wse2", "wse3", "dev"):
        preset = ws.WaferSpec.preset(name)
        assert not preset.has_physical_layout and preset.n_dead == 0 and preset.repair_for_launch(8, 8) is None
    spec = ws.WaferSpec.preset("dev", spare_cols=2, spare_rows=1, defects=[(65, 64), (3, 2)], defect_rate=0.002,
                               defect_seed=11, detour_cycles_per_hop=3)
    path = tmp_path / "defective.toml"
    spec.save(path)
    loaded = ws.WaferSpec.load(path)
    assert loaded == spec and loaded.defects == ((3, 2), (65, 64))
    assert np.array_equal(loaded.dead, spec.dead) and loaded.usable_rectangle == spec.usable_rectangle
    assert "defects = [" in path.read_text()
    # A NumPy list of dead PEs (np.argwhere gives (y, x) rows) is accepted as plain ints.
    from_numpy = spec.replace(defects=np.argwhere(spec.dead)[:, ::-1])
    assert np.array_equal(from_numpy.dead, spec.dead) and all(type(c) is int for p in from_numpy.defects for c in p)


@pytest.mark.parametrize("field, value", [
    ("defects", [(1, 2, 3)]), ("defects", [(8, 0)]), ("defects", "nope"), ("defects", [(1.5, 0)]),
    ("defect_rate", 1.0), ("defect_rate", -0.1), ("spare_cols", -1), ("spare_rows", 1.5),
    ("defect_seed", -3), ("detour_cycles_per_hop", -1),
])
def test_bad_defect_fields_are_spec_errors_naming_the_field(field, value):
    with pytest.raises(SpecError) as caught:
        spec_of(8, 4, **{field: value})
    assert caught.value.field == field and f"WaferSpec.{field}" in str(caught.value)


def test_heatmaps_draw_the_physical_array_with_dead_and_unused_pes(tmp_path):
    import matplotlib.image

    spec = spec_of(8, 6, spare_cols=2, spare_rows=1, defects=[(3, 2), (0, 0)])
    _, stats = heat_lib.heat(np.ones((6, 8), np.float32), 0.1, 2, device=ws.Device(spec))
    physical = stats.repair.to_physical(stats.busy)
    assert physical.shape == (7, 10)
    assert np.isnan(physical[spec.dead]).all() and np.isnan(physical[~stats.repair.used]).all()
    assert np.array_equal(physical[2, [2, 4, 5]], stats.busy[2, [2, 3, 4]])  # row 2 shifts past x = 3
    pixels = matplotlib.image.imread(stats.heatmap("busy", tmp_path / "busy.png"))[..., :3]
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.1)
    grey = np.all(np.abs(pixels - 0xB0 / 255) < 0.02, axis=-1)
    assert red.sum() > 0 and grey.sum() > 0
    _, plain = heat_lib.heat(np.ones((6, 8), np.float32), 0.1, 2)
    pixels = matplotlib.image.imread(plain.heatmap("busy", tmp_path / "plain.png"))[..., :3]
    assert not ((pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.1)).any()


def test_fast_and_reference_engine_strategies_agree_on_a_defective_wafer():
    """Per-link latencies go through every fabric path: scalar sends, bulk and per-word vector streams."""
    from wafersim.sim.strategy import FAST, REFERENCE, forced

    spec = spec_of(6, 4, spare_cols=1, spare_rows=1, defects=[(2, 1), (0, 3), (6, 4)], detour_cycles_per_hop=3)
    outcomes = []
    for strategy in (FAST, REFERENCE):
        with forced(strategy):
            runs = library_runs(spec, seed=5)
        outcomes.append({name: (result, stats.cycles, stats.busy, stats.stall, stats.detour_word_hops)
                         for name, (result, stats) in runs.items()})
    for name in outcomes[0]:
        fast, reference = outcomes[0][name], outcomes[1][name]
        assert np.array_equal(fast[0], reference[0]) and fast[1] == reference[1], name
        assert np.array_equal(fast[2], reference[2]) and np.array_equal(fast[3], reference[3]), name
        assert fast[4] == reference[4] > 0, name


def test_the_study_script_runs_and_writes_its_table_between_the_markers(tmp_path):
    """bench/defects.py on the dev preset: it checks results bit-identical itself; here, the table."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "defects.py"
    loader = importlib.util.spec_from_file_location("bench_defects", path)
    study = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(study)
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{study.BEGIN}\nold\n{study.END}\nafter\n")
    study.main(["--preset", "dev", "--rates", "0", "0.02", "--steps", "2", "--rounds", "1",
                "--plot", str(tmp_path / "study.png"), "--write", str(doc)])
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    rows = [line for line in text.splitlines() if line.startswith("| 0.00%") or line.startswith("| 2.00%")]
    assert len(rows) == 2 and rows[0].count("+0.00%") == 3
    assert (tmp_path / "study.png").stat().st_size > 0


def test_a_grid_larger_than_the_wafer_runs_in_waves_on_the_same_repaired_sites():
    u = np.random.default_rng(9).random((12, 16), dtype=np.float32)  # 2 x 2 blocks of 8 x 6 on an 8 x 6 wafer
    perfect, perfect_stats = heat_lib.heat(u, 0.1, 3, device=ws.Device(spec_of(8, 6)), block=(8, 6))
    spec = spec_of(8, 6, spare_cols=1, defects=[(2, 4)])
    result, stats = heat_lib.heat(u, 0.1, 3, device=ws.Device(spec), block=(8, 6))
    assert stats.waves == perfect_stats.waves == 4
    assert np.array_equal(result, perfect)
    per_block = 3 * (2 + 4 * (8 - 2))  # one dead PE inside: its row link and the shifted vertical links
    assert stats.detour_word_hops == 4 * per_block


def test_a_wafer_without_one_live_pe_offers_no_rectangle():
    # Was (4, 0): a rectangle of no PEs reported 4 wide (and "usable 4 x 0" in the LaunchError).
    spec = spec_of(4, 4, spare_cols=1, defects=[(x, y) for x in range(5) for y in range(4)])
    assert spec.n_dead == 20 and spec.usable_rectangle == (0, 0)
    with pytest.raises(LaunchError, match="usable 0 x 0") as caught:
        reduce_lib.block_allreduce(np.ones((1, 1), np.float32), block=(1, 1), device=ws.Device(spec))
    assert caught.value.needed == (1, 1) and caught.value.usable == (0, 0)
    # One live PE: a 1 x 1 rectangle (the widest of the largest area).
    alive = spec_of(4, 4, spare_cols=1, defects=[(x, y) for x in range(5) for y in range(4) if (x, y) != (3, 2)])
    assert alive.usable_rectangle == (1, 1)


SPARSE_N = 16


@ws.jit
def sparse_row_broadcast_then_block_sum(v, y, out):
    """Each block row's first PE sends its row of v's nonzeros along a routed row broadcast; the others add
    2 * v into their chunk of y (recv_fma); then the block all-reduces the sums of the chunks."""
    x, row = ws.grid(2)
    vals = ws.local.array(SPARSE_N, np.float32)
    pairs = ws.local.array(2 * SPARSE_N, np.float32)
    acc = ws.local.array(SPARSE_N, np.float32)
    acc[0:SPARSE_N] = y[row, x * SPARSE_N:(x + 1) * SPARSE_N]
    if ws.threadIdx.x == 0:
        vals[0:SPARSE_N] = v[row, 0:SPARSE_N]
        ws.send_nonzeros(ws.RAMP, vals, pairs, channel=1)
    else:
        ws.recv_fma(ws.RAMP, acc, 2.0, pairs, channel=1)
    out[row, x] = wsc.block_all_reduce(sum(acc[0:SPARSE_N]), wsc.SUM, 3)


def test_routed_sparse_words_and_collectives_in_waves_never_notice_the_defects():
    """(user54) A routed multicast of a sparse vector, recv_fma and a chain all-reduce, in a grid of 3 x 3
    blocks: on a defective wafer in one wave, on one whose dead PEs shrink the usable rectangle so that the
    grid runs in two waves, and on a small perfect wafer in three, bit for bit as on a perfect wafer, which
    NumPy checks."""
    bx, by, gx, gy = 4, 3, 3, 3
    width, height = bx * gx, by * gy
    rng = np.random.default_rng(4)
    v = np.zeros((height, SPARSE_N), np.float32)
    for r in range(height):
        k = int(rng.integers(0, SPARSE_N))
        v[r, rng.choice(SPARSE_N, k, replace=False)] = rng.standard_normal(k)
    y = rng.standard_normal((height, width * SPARSE_N)).astype(np.float32)
    specs = {"perfect": spec_of(width, height, channels=8),
             "small": spec_of(8, 6, channels=8),
             "defective": spec_of(width, height, channels=8, spare_cols=1, spare_rows=1,
                                  defects=[(0, 0), (1, 0), (5, 5), (9, 2), (11, 7)]),
             "shrunk": spec_of(width, height, channels=8, spare_cols=1,
                               defects=[(0, 0), (1, 0), (5, 5), (6, 5), (9, 2)])}
    results, waves = {}, {}
    for name, spec in specs.items():
        dev = ws.Device(spec)
        out = dev.device_array((height, width))
        stats = sparse_row_broadcast_then_block_sum[(gx, gy), (bx, by)](
            dev.to_device(v), dev.to_device(y), out, routes=[ws.routes.row_broadcast(1, root=0)])
        results[name], waves[name] = out.copy_to_host(), stats.waves
    assert waves == {"perfect": 1, "small": 3, "defective": 1, "shrunk": 2}
    for name in specs:
        assert np.array_equal(results[name], results["perfect"]), name
    chunks = y.reshape(height, width, SPARSE_N).copy()
    receivers = np.arange(width) % bx != 0
    chunks[:, receivers] = np.where(v[:, None, :] != 0, v[:, None, :] * np.float32(2.0) + chunks[:, receivers],
                                    chunks[:, receivers])
    block_sums = chunks.sum(axis=2, dtype=np.float64).reshape(gy, by, gx, bx).sum(axis=(1, 3))
    expected = np.repeat(np.repeat(block_sums, by, axis=0), bx, axis=1)
    np.testing.assert_allclose(results["perfect"], expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_tallest_and_widest_blocks_are_those_the_repair_lays_out(seed):
    # Against WaferSpec.repair itself, every width and height, on random maps with and without spares.
    rng = np.random.default_rng(seed)
    spares = dict(spare_cols=int(rng.integers(0, 2)), spare_rows=int(rng.integers(0, 2)))
    spec = ws.WaferSpec(width=5, height=6, defect_rate=0.15, defect_seed=seed, **spares)
    for width in range(1, 6):
        fits = [h for h in range(1, 7) if spec.repair(width, h) is not None]
        assert spec.tallest_block(width) == max(fits, default=0), (width, spares)
    assert spec.tallest_block(6) == 0
    for height in range(1, 7):
        fits = [w for w in range(1, 6) if spec.repair(w, height) is not None]
        assert spec.widest_block(height) == max(fits, default=0), (height, spares)
    assert spec.widest_block(7) == 0
