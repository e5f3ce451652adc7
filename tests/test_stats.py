"""sim/stats.py: the launch summary's text."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.arch.values import plural
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


@pytest.mark.parametrize("grid", [(1, 1), (9, 1)])
def test_the_summary_counts_waves_in_the_singular_and_the_plural(grid):
    """The summary said "1 wave(s)": 8 x 8 blocks fill the 8 x 8 wafer, so a grid of 9 runs in 9 waves."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    stats = ws.Kernel(ws.assemble(".args 1\nhalt\n"))[grid, (8, 8)](dev.device_array(1))
    assert stats.waves == grid[0]
    assert f", {grid[0]} {'wave' if grid[0] == 1 else 'waves'}: " in stats.summary()
    assert "(s)" not in stats.summary() and plural(1, "wave") == "1 wave" and plural(9, "wave") == "9 waves"


@ws.jit
def _sends_without_receives(out, k):
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
    assert f"{k * senders:,} words sent but never received" in stats.summary()
    quiet = ws.Kernel(ws.assemble(".args 1\nhalt\n"))[1, 1](dev.device_array(1))
    assert quiet.words_left_in_fifos == 0 and "never received" not in quiet.summary()


@ws.jit
def _counted_loop(out):
    x, y = ws.grid(2)
    acc = 0
    for _ in range(3 * x + 7 * y + (x * y) % 5):
        acc += 1
    out[y, x] = acc


def test_wafer_xy_maps_launch_coordinates_to_the_per_pe_arrays():
    """Each PE loops n(x, y) times (its launch coordinates), so its instructions are c0 + c1 * n: fitted on
    one wave, every PE's count at `wafer_xy` must follow it, and with two waves each slot holds two blocks'."""
    spec = ws.WaferSpec(width=4, height=4)  # blocks of 2 x 2: 4 slots
    n = lambda x, y: 3 * x + 7 * y + (x * y) % 5  # noqa: E731 (the kernel's trip count)
    one = _counted_loop[(4, 1), (2, 2)](ws.Device(spec).device_array((2, 8), np.int32))
    at = {(x, y): one.wafer_xy(x, y) for x in range(8) for y in range(2)}
    assert sorted(at.values()) == sorted((wx, wy) for wx in range(4) for wy in range(4))  # each PE once
    count = lambda x, y: int(one.pe_instructions[at[x, y][1], at[x, y][0]])  # noqa: E731
    c1 = (count(7, 1) - count(0, 0)) / (n(7, 1) - n(0, 0))
    c0 = count(0, 0) - c1 * n(0, 0)
    assert c1 > 0 and all(count(x, y) == c0 + c1 * n(x, y) for x, y in at)
    two = _counted_loop[(4, 2), (2, 2)](ws.Device(spec).device_array((4, 8), np.int32))
    assert two.waves == 2
    for x in range(8):
        for y in range(2):  # block k and block k + 4 share a slot
            wx, wy = two.wafer_xy(x, y)
            assert two.wafer_xy(x, y + 2) == (wx, wy)
            assert two.pe_instructions[wy, wx] == 2 * c0 + c1 * (n(x, y) + n(x, y + 2))
    with pytest.raises(ws.ArgumentError):
        two.wafer_xy(8, 0)


def _one_launch():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))  # 4 channels
    return ws.Kernel(ws.assemble(".args 1\nhalt\n"))[1, 8](dev.device_array(8))


@pytest.mark.parametrize("call, error, word", [
    (lambda st: st.wafer_xy(1.5, 0), ws.ArgumentTypeError, "ints"),  # (was (1.5, 0.0))
    (lambda st: st.wafer_xy(True, 0), ws.ArgumentTypeError, "ints"),
    (lambda st: st.wafer_xy("a", 0), ws.ArgumentTypeError, "ints"),
    (lambda st: st.wafer_xy(None, None), ws.ArgumentTypeError, "ints"),
    (lambda st: st.metric("routed_words_99"), ws.ArgumentError, "channels 0..3"),  # (was all zeros)
    (lambda st: st.metric("routed_words_4"), ws.ArgumentError, "channels 0..3"),
    (lambda st: st.heatmap("busy", None), ws.ArgumentTypeError, "path"),
])
def test_bad_stats_calls_are_typed_errors(call, error, word):
    with pytest.raises(error, match=word):
        call(_one_launch())


def test_valid_neighbours_of_refused_stats_calls():
    stats = _one_launch()
    assert stats.wafer_xy(np.int64(3), 0) == (3, 0)
    assert stats.metric("routed_words_3").shape == stats.busy.shape and not stats.metric("routed_words_3").any()


def _fma_program(words: int, ops: tuple[str, ...]) -> str:
    """Each PE runs `ops` (vfma.f / vhfma), each over `words` elements; then a barrier and the same again."""
    body = "".join(f"{op} r0, r0, r0, r4\n" for op in ops)
    return f".name fmas\n.sram {words}\nli r4, {words}\n{body}bar\n{body}"


@pytest.mark.parametrize("preset", ["dev", "wse2"])
@pytest.mark.parametrize("ops", [("vfma.f",), ("vhfma",), ("vfma.f", "vhfma")])
def test_utilization_charges_16_bit_flops_at_the_16_bit_peak(preset, ops, tmp_path):
    """A 16-bit FLOP takes 1 / (2 vector_lanes_half) of a PE-cycle, a float32 one 1 / (2 vector_lanes): the
    share of the peak used is the lane-cycles the FLOPs took over the launch's PE-cycles. Counting 16-bit
    FLOPs against the float32 peak gave `vhfma` kernels up to 4x the peak (`wse2`, `dev`). The count survives
    a checkpoint and `Device.save`."""
    spec = ws.WaferSpec.preset(preset, width=4, height=2)
    words = 64
    program = ws.assemble(_fma_program(words, ops))
    dev = ws.Device(spec)
    stats = ws.Kernel(program, dev)[1, (4, 2)](checkpoint_every=1, checkpoint=str(tmp_path / "fmas.npz"))
    lanes = {"vfma.f": spec.vector_lanes, "vhfma": spec.vector_lanes_half}
    half = sum(2 * 2 * words for op in ops if op == "vhfma") * spec.n_pes  # (an fma is 2 FLOPs; twice each op)
    assert stats.flops == 2 * 2 * words * len(ops) * spec.n_pes and stats.half_flops == half
    lane_cycles = sum(2 * words / lanes[op] for op in ops) * spec.n_pes  # (the element cycles, not the issues)
    assert stats.utilization == pytest.approx(lane_cycles / (stats.cycles * spec.n_pes), rel=1e-12)
    assert 0 < stats.utilization < 1
    _, resumed = ws.resume_launch(tmp_path / "fmas.npz")
    assert (resumed.flops, resumed.half_flops, resumed.utilization) == (stats.flops, half, stats.utilization)
    dev.save(tmp_path / "dev.npz")
    loaded = ws.Device.load(tmp_path / "dev.npz").launches[-1]
    assert (loaded.half_flops, loaded.utilization) == (half, stats.utilization)


@pytest.mark.parametrize("op, classes", [("vadd.f r1, r2, r3, r4", ()), ("vdiv.f r1, r2, r3, r4", ("div",)),
                                         ("vmath r1, r2, fexp, r4", ())])
def test_vector_energy_is_per_element_and_vdiv_pays_its_div_issue_too(op, classes):
    """docs/timing.md, "Energy": class `vector` instructions pay `op_energy_pj["vector"]` per element, `vdiv`
    (class `div`) its issue at the `div` figure as well."""
    spec = ws.WaferSpec(width=4, height=4)
    stats = ws.Kernel(ws.assemble(f".sram 64\nli r4, 10\n{op}\n"), ws.Device(spec))[1, 1]()
    pj = spec.op_energy_pj
    expected = pj["alu"] + sum(pj[c] for c in classes) + 10 * pj["vector"]
    assert stats.energy_breakdown_j["compute"] == pytest.approx(expected * 1e-12, rel=1e-12)


@ws.jit
def _pass_east(out):
    x, y = ws.grid(2)
    v = 1.0
    if ws.has_neighbor(ws.WEST):
        v = ws.recv(ws.WEST) + 1.0
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, v)
    out[y, x] = v


@pytest.mark.parametrize("per_hop, shown", [(0.75, "1.5"), (1.25, "2.5"), (2, "4")])
def test_summary_shows_fractional_detour_cycles_unrounded(per_hop, shown):
    """Two dead PEs (one per row) each bend one east link: 2 extra word-hops at `per_hop` cycles each; the
    summary once printed 1.5 as 2 (and 2.5 as 2)."""
    spec = ws.WaferSpec(width=8, height=2, spare_cols=1, defects=[(3, 0), (5, 1)], detour_cycles_per_hop=per_hop)
    dev = ws.Device(spec)
    out = dev.device_array((2, 8))
    stats = _pass_east[1, (8, 2)](out)
    assert np.array_equal(out.copy_to_host(), np.tile(np.arange(1, 9, dtype=np.float32), (2, 1)))
    assert stats.detour_word_hops == 2 and stats.detour_cycles == 2 * per_hop
    assert f"detours 2 extra word-hops ({shown} cycles of link latency" in stats.summary()



def test_a_heatmap_of_several_waves_adds_up_the_blocks_that_ran_on_each_pe(tmp_path):
    """docs/reading-traces.md: with several waves a wafer PE's figures add up every block that ran on it."""
    @ws.jit
    def count_up(out, n):
        i = ws.grid(1)
        acc = 0
        for k in range(n * (ws.blockIdx.x + 1)):  # block b loops n * (b + 1) times
            acc += 1
        out[i] = acc

    dev = ws.Device(ws.WaferSpec(width=4, height=1))  # one slot of 4 PEs
    ten = count_up[1, 4](dev.device_array(4, np.int32), 10)  # one block: 10 iterations
    twenty = count_up[1, 4](dev.device_array(4, np.int32), 20)  # one block: 20 iterations
    both = count_up[2, 4](dev.device_array(8, np.int32), 10)  # block 0 (10), then block 1 (20) on the same PEs
    assert (ten.waves, both.waves) == (1, 2)
    for metric in ("instructions", "busy"):
        np.testing.assert_array_equal(both.metric(metric), ten.metric(metric) + twenty.metric(metric))
    np.testing.assert_array_equal(both.metric("instructions"), both.pe_instructions)
    both.heatmap("instructions", tmp_path / "both.png")
    assert (tmp_path / "both.png").stat().st_size > 0
