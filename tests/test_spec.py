"""Tests of `WaferSpec` (src/wafersim/arch/spec.py) and the per-opcode cost table built from it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wafersim as ws
from wafersim.arch.spec import DEFAULT_COST_CYCLES, DEFAULT_OP_ENERGY_PJ, WaferSpec
from wafersim.errors import SpecError
from wafersim.isa.opcodes import BY_NAME, OPCODES, opcode_cycles

API_DEFAULTS = {
    "sram_bytes": 49152,
    "registers": 32,
    "vector_lanes": 8,
    "clock_hz": 0.85e9,
    "hop_latency": 1,
    "link_words_per_cycle": 1,
    "channels": 4,
    "fifo_depth": 16,
    "global_latency": 500,
    "global_bytes_per_s": 150e9,
    "global_bytes": 1.5e12,
}


# The published WSE-2/WSE-3 figures the calibrated presets carry (docs/timing.md cites each): the SDK's
# 0.85 GHz, one hop a cycle plus 2 cycles of ramp each way (Luczynski et al., HPDC 2024), one 32-bit word
# per link and cycle, 24 routable colors, 48 kB of SRAM, one fp32 FMAC a cycle.
PUBLISHED = {"clock_hz": 0.85e9, "hop_latency": 1, "ramp_latency": 2, "link_words_per_cycle": 1,
             "channels": 24, "sram_bytes": 48 * 1024, "vector_lanes": 1}
PRESET_FIGURES = {"wse2": {**API_DEFAULTS, **PUBLISHED}, "wse3": {**API_DEFAULTS, **PUBLISHED},
                  "dev": {**API_DEFAULTS, "ramp_latency": 0}}


# ----------------------------------------------------------------------------- presets
@pytest.mark.parametrize("name, width, height", [("wse2", 757, 996), ("wse3", 762, 1172), ("dev", 64, 64)])
def test_preset_sizes_and_figures(name, width, height):
    spec = WaferSpec.preset(name)
    assert (spec.width, spec.height) == (width, height)
    assert spec.name == name
    assert spec.n_pes == width * height
    assert spec.n_links == 4 * width * height - 2 * (width + height)  # 4 per PE, less the edges' missing ones
    for field, value in PRESET_FIGURES[name].items():
        assert getattr(spec, field) == value, field
    assert spec.cost_cycles == DEFAULT_COST_CYCLES
    assert spec.op_energy_pj == DEFAULT_OP_ENERGY_PJ
    assert spec.op_cycles == {}


def test_preset_is_case_insensitive_and_accepts_overrides():
    spec = WaferSpec.preset("WSE3", clock_hz=1.1e9, fifo_depth=8)
    assert (spec.width, spec.height, spec.name) == (762, 1172, "wse3")
    assert spec.clock_hz == 1.1e9
    assert spec.fifo_depth == 8
    assert spec.sram_bytes == 49152


def test_device_resolves_preset_names():
    assert ws.Device("wse2").spec == WaferSpec.preset("wse2")
    assert ws.Device("dev").spec == WaferSpec.preset("dev")


@pytest.mark.parametrize("name", ["wse4", "", "devv"])
def test_unknown_preset_raises_spec_error(name):
    with pytest.raises(SpecError):
        WaferSpec.preset(name)


def test_spec_error_is_a_wafer_error():
    with pytest.raises(ws.WaferError):
        WaferSpec.preset("nope")


@pytest.mark.parametrize("spec", [[WaferSpec(width=8, height=8)] * 2, (WaferSpec(width=2, height=2),), 3])
def test_a_spec_that_is_no_name_is_a_spec_error(spec):
    # str() of a list of specs is a file name too long for the OS: Path.exists() raised OSError, not SpecError
    with pytest.raises(SpecError, match=f"a spec cannot be a {type(spec).__name__}.*a preset"):
        ws.Device(spec)


def test_a_name_too_long_for_a_path_is_an_unknown_spec():
    with pytest.raises(SpecError, match="unknown spec 'xxx"):
        ws.Device("x" * 5000)


# ----------------------------------------------------------------------------- TOML
def test_toml_round_trip_of_a_preset(tmp_path):
    spec = WaferSpec.preset("wse2")
    path = tmp_path / "wse2.toml"
    spec.save(path)
    loaded = WaferSpec.load(path)
    assert loaded == spec
    assert loaded.to_dict() == spec.to_dict()


def test_toml_round_trip_with_partial_cost_override(tmp_path):
    spec = WaferSpec(width=16, height=8, name="small", hop_latency=2.5, global_latency=120,
                     cost_cycles={"div": 20, "sfu": 12.5}, op_cycles={"fsqrt": 3, "halt": 0},
                     op_energy_pj={"alu": 0.25})
    # the partial tables are filled with the defaults of the classes left out
    assert spec.cost_cycles == {**DEFAULT_COST_CYCLES, "div": 20, "sfu": 12.5}
    assert spec.op_energy_pj == {**DEFAULT_OP_ENERGY_PJ, "alu": 0.25}
    path = tmp_path / "small.toml"
    spec.save(path)
    loaded = WaferSpec.load(path)
    assert loaded == spec
    assert loaded.cost_cycles["div"] == 20
    assert loaded.cost_cycles["alu"] == DEFAULT_COST_CYCLES["alu"]
    assert loaded.op_cycles == {"fsqrt": 3, "halt": 0}
    assert loaded.hop_latency == 2.5


def test_toml_hand_written_partial_cost_table(tmp_path):
    path = tmp_path / "partial.toml"
    path.write_text('width = 8\nheight = 4\n\n[cost_cycles]\ndiv = 30\n')
    spec = WaferSpec.load(path)
    assert (spec.width, spec.height) == (8, 4)
    assert spec.cost_cycles == {**DEFAULT_COST_CYCLES, "div": 30}
    assert spec.sram_bytes == 49152


def test_toml_unknown_key_raises(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("width = 8\nheight = 8\nwarp_size = 32\n")
    with pytest.raises(SpecError) as info:
        WaferSpec.load(path)
    assert "warp_size" in str(info.value)


def test_toml_preset_key(tmp_path):
    path = tmp_path / "preset.toml"
    path.write_text('preset = "wse2"\nclock_hz = 1.0e9\n')
    spec = WaferSpec.load(path)
    assert (spec.width, spec.height, spec.name) == (757, 996, "wse2")
    assert spec.clock_hz == 1.0e9
    assert spec == WaferSpec.preset("wse2", clock_hz=1.0e9)


def test_toml_unknown_preset_raises(tmp_path):
    path = tmp_path / "preset.toml"
    path.write_text('preset = "wse9"\n')
    with pytest.raises(SpecError):
        WaferSpec.load(path)


def test_invalid_toml_raises_spec_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("width = = 3\n")
    with pytest.raises(SpecError):
        WaferSpec.load(path)


def test_device_loads_a_toml_path(tmp_path):
    spec = WaferSpec(width=12, height=6, global_latency=77)
    path = tmp_path / "d.toml"
    spec.save(path)
    assert ws.Device(str(path)).spec == spec


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("changes, field", [
    ({"width": 0}, "width"),
    ({"height": 0}, "height"),
    ({"width": -3}, "width"),
    ({"hop_latency": -1}, "hop_latency"),
    ({"registers": 33}, "registers"),
    ({"registers": 1}, "registers"),
    ({"channels": 0}, "channels"),
    ({"channels": 33}, "channels"),
    ({"fifo_depth": 0}, "fifo_depth"),
    ({"sram_bytes": 49150}, "sram_bytes"),
    ({"sram_bytes": 49153}, "sram_bytes"),
    ({"vector_lanes": 0}, "vector_lanes"),
    ({"clock_hz": 0.0}, "clock_hz"),
    ({"global_bytes_per_s": -1.0}, "global_bytes_per_s"),
    ({"global_latency": -5}, "global_latency"),
    ({"global_latency": 0}, "global_latency"),
    ({"clock_hz": float("nan")}, "clock_hz"),
    ({"width": 4.0}, "width"),
    ({"width": True}, "width"),
    ({"cost_cycles": {"alu": -1}}, "cost_cycles"),
    ({"cost_cycles": {"warp": 3}}, "cost_cycles"),
    ({"op_cycles": {"add": -2}}, "op_cycles"),
    ({"op_energy_pj": {"mul": -0.5}}, "op_energy_pj"),
])
def test_invalid_fields_raise_spec_error_naming_the_field(changes, field):
    with pytest.raises(SpecError) as info:
        WaferSpec(**{"width": 16, "height": 16, **changes})
    assert info.value.field == field
    assert field in str(info.value)


def test_cost_table_errors_name_the_key():
    with pytest.raises(SpecError) as info:
        WaferSpec(width=4, height=4, cost_cycles={"div": -8})
    assert info.value.key == "div"
    with pytest.raises(SpecError) as info:
        WaferSpec(width=4, height=4, cost_cycles={"tensor": 2})
    assert info.value.key == "tensor"


def test_replace_revalidates():
    spec = WaferSpec(width=16, height=16)
    assert spec.replace(channels=8).channels == 8
    with pytest.raises(SpecError) as info:
        spec.replace(channels=0)
    assert info.value.field == "channels"


def test_boundary_values_are_accepted():
    spec = WaferSpec(width=1, height=1, registers=32, channels=32, fifo_depth=1, sram_bytes=64, hop_latency=0,
                     cost_cycles={"alu": 0})
    assert spec.n_pes == 1
    assert spec.cost_cycles["alu"] == 0


def test_spec_is_frozen():
    spec = WaferSpec(width=4, height=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 8  # type: ignore[misc]


# ----------------------------------------------------------------------------- derived figures
def test_derived_figures():
    spec = WaferSpec(width=20, height=10, vector_lanes=4, clock_hz=2e9, global_bytes_per_s=100e9)
    assert spec.n_pes == 200
    assert spec.sram_words == 49152 // 4
    assert spec.peak_flops == pytest.approx(2 * 4 * 2e9 * 200, rel=1e-15)
    assert spec.seconds(1000) == pytest.approx(1000 / 2e9, rel=1e-15)
    assert spec.seconds(0) == 0
    assert spec.global_bytes_per_cycle == pytest.approx(50.0)


def test_preset_peak_flops_analytic():
    spec = WaferSpec.preset("wse2")  # one fp32 FMAC (2 FLOPs) per PE and cycle
    assert spec.peak_flops == pytest.approx(2 * 1 * 0.85e9 * 757 * 996, rel=1e-12)
    assert WaferSpec.preset("dev").peak_flops == pytest.approx(2 * 8 * 0.85e9 * 64 * 64, rel=1e-12)
    assert spec.seconds(0.85e9) == pytest.approx(1.0)


def test_barrier_cycles_formula_and_growth():
    spec = WaferSpec(width=64, height=64, barrier_base_cycles=4, barrier_cycles_per_hop=2)
    assert spec.barrier_cycles(1, 1) == 4
    assert spec.barrier_cycles(8, 4) == 4 + 2 * (7 + 3)
    sizes = [(1, 1), (2, 1), (2, 2), (4, 4), (16, 8), (32, 32), (64, 64)]
    costs = [spec.barrier_cycles(w, h) for w, h in sizes]
    assert all(a < b for a, b in zip(costs, costs[1:]))
    other = WaferSpec(width=64, height=64, barrier_base_cycles=10, barrier_cycles_per_hop=0.5)
    assert other.barrier_cycles(5, 3) == pytest.approx(10 + 0.5 * 6)


@pytest.mark.parametrize("x, y, expected", [(0, 0, 0), (15, 15, 0), (5, 7, 5), (7, 8, 7), (8, 8, 7), (15, 8, 0),
                                            (3, 1, 1), (10, 12, 3)])
def test_hops_to_edge_scalar(x, y, expected):
    spec = WaferSpec(width=16, height=16)
    assert int(spec.hops_to_edge(x, y)) == expected


def test_hops_to_edge_vectorised_on_a_rectangle():
    spec = WaferSpec(width=9, height=5)
    y, x = np.mgrid[0:5, 0:9]
    got = spec.hops_to_edge(x, y)
    expected = np.minimum.reduce([x, 8 - x, y, 4 - y])
    np.testing.assert_array_equal(got, expected)
    assert got.max() == 2


# ----------------------------------------------------------------------------- opcode cost table
def test_opcode_cycles_uses_class_costs():
    spec = WaferSpec(width=4, height=4)
    table = opcode_cycles(spec)
    assert set(table) == {op.name for op in OPCODES}
    for op in OPCODES:
        assert table[op.name] == DEFAULT_COST_CYCLES[op.cost_class], op.name
    assert table["div"] == 8 and table["fsqrt"] == 8 and table["add"] == 1


def test_opcode_cycles_class_override_and_per_opcode_override():
    spec = WaferSpec(width=4, height=4, cost_cycles={"div": 20, "sfu": 5}, op_cycles={"fdiv": 3, "add": 0.5})
    table = opcode_cycles(spec)
    assert table["div"] == 20 and table["rem"] == 20  # class cost
    assert table["fdiv"] == 3  # per-opcode override beats its class
    assert table["add"] == 0.5
    assert table["sub"] == 1  # same class as add, not overridden
    assert table["fsqrt"] == 5 and table["ftanh"] == 5
    for name, cost in table.items():
        expected = spec.op_cycles.get(name, spec.cost_cycles[BY_NAME[name].cost_class])
        assert cost == expected, name
        assert isinstance(cost, float)


def test_opcode_cycles_unknown_opcode_raises():
    spec = WaferSpec(width=4, height=4, op_cycles={"frobnicate": 2})
    with pytest.raises(SpecError) as info:
        opcode_cycles(spec)
    assert info.value.field == "op_cycles"
    assert info.value.key == "frobnicate"


# ----------------------------------------------------------------------------- user errors stay WaferErrors
# errors.py: "Every error a user can cause subclasses `WaferError`".
def test_toml_wrong_value_type_raises_spec_error(tmp_path):
    path = tmp_path / "typed.toml"
    path.write_text('width = "8"\nheight = 8\n')
    with pytest.raises(SpecError) as info:
        WaferSpec.load(path)
    assert info.value.field == "width"


def test_toml_cost_table_that_is_not_a_table_raises_spec_error(tmp_path):
    path = tmp_path / "table.toml"
    path.write_text("width = 8\nheight = 8\ncost_cycles = 3\n")
    with pytest.raises(SpecError):
        WaferSpec.load(path)


def test_missing_toml_file_raises_spec_error(tmp_path):
    with pytest.raises(SpecError):
        WaferSpec.load(tmp_path / "missing.toml")
    with pytest.raises(SpecError):
        ws.Device(str(tmp_path / "missing.toml"))


def test_unknown_spec_name_for_a_device_raises_spec_error():
    with pytest.raises(SpecError):
        ws.Device("not-a-preset")


def test_toml_hand_written_defect_map(tmp_path):
    path = tmp_path / "defective.toml"
    path.write_text('preset = "dev"\nspare_cols = 1\ndefects = [[64, 0], [3, 2], [3, 2]]\n')
    spec = WaferSpec.load(path)
    assert (spec.width, spec.physical_width, spec.physical_height) == (64, 65, 64)
    assert spec.defects == ((64, 0), (3, 2)) and spec.n_dead == 2  # sorted by row, duplicates merged
    assert spec.repair().phys_x[2, :5].tolist() == [0, 1, 2, 4, 5]  # row 2 skips its dead PE
    path.write_text('preset = "dev"\ndefects = [[1, 2, 3]]\n')
    with pytest.raises(SpecError) as caught:
        WaferSpec.load(path)
    assert caught.value.field == "defects"


def test_16_bit_vector_lanes_per_preset_and_validation():
    """The fp16 SIMD widths cited in docs/timing.md: 4 on the WSE-2 core, 8 on the WSE-3's; `dev` 4 x its 8."""
    assert [WaferSpec.preset(name).vector_lanes_half for name in ("wse2", "wse3", "dev")] == [4, 8, 32]
    for bad in (0, 1.5, True):
        with pytest.raises(SpecError) as caught:
            WaferSpec(vector_lanes_half=bad)
        assert caught.value.field == "vector_lanes_half"


def test_cache_key_names_every_field():
    spec = ws.WaferSpec.preset("wse2")
    assert spec.cache_key == repr(spec.to_dict()) == ws.WaferSpec.preset("wse2").cache_key
    for changed in (spec.replace(width=5), spec.replace(cost_cycles={**spec.cost_cycles, "alu": 2})):
        assert changed.cache_key == repr(changed.to_dict()) != spec.cache_key


# ----------------------------------------------------------------- arguments of the spec's helpers (8 x 8)
SMALL = WaferSpec(width=8, height=8)


@pytest.mark.parametrize("call, error, word", [
    # PEs and blocks off the wafer, and sizes that are not whole numbers (were meaningless figures)
    (lambda: SMALL.hops_to_edge(100, 100), ws.ArgumentError, "off the wafer"),
    (lambda: SMALL.hops_to_edge(-1, -1), ws.ArgumentError, "off the wafer"),
    (lambda: SMALL.hops_to_edge(8, 0), ws.ArgumentError, "off the wafer"),
    (lambda: SMALL.hops_to_edge(0, np.array([0, 8])), ws.ArgumentError, "off the wafer"),
    (lambda: SMALL.hops_to_edge(1.5, 0), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.hops_to_edge("a", 0), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.hops_to_edge(0, None), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.barrier_cycles(-1, 1), ws.ArgumentError, "block_width"),
    (lambda: SMALL.barrier_cycles(0, 0), ws.ArgumentError, "block_width"),
    (lambda: SMALL.barrier_cycles(9, 1), ws.ArgumentError, "block_width"),
    (lambda: SMALL.barrier_cycles(1, 9), ws.ArgumentError, "block_height"),
    (lambda: SMALL.barrier_cycles(1.5, 2), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.barrier_cycles(float("nan"), 1), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.barrier_cycles("a", 1), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.barrier_cycles(None, 1), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.repair(width=1000), ws.ArgumentError, "repair"),
    (lambda: SMALL.repair(width=-1), ws.ArgumentError, "repair"),
    (lambda: SMALL.repair(width=0), ws.ArgumentError, "repair"),
    (lambda: SMALL.repair(height=9), ws.ArgumentError, "repair"),
    (lambda: SMALL.repair(width="a"), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.repair(width=2.5), ws.ArgumentTypeError, "whole number"),
    (lambda: SMALL.seconds(-1), ws.ArgumentError, "cycles"),
    (lambda: SMALL.seconds(float("nan")), ws.ArgumentError, "cycles"),
    (lambda: SMALL.seconds(1 + 1j), ws.ArgumentTypeError, "cycles"),
    (lambda: SMALL.seconds(None), ws.ArgumentTypeError, "cycles"),
    (lambda: SMALL.seconds("x"), ws.ArgumentTypeError, "cycles"),
    (lambda: SMALL.seconds([1]), ws.ArgumentTypeError, "cycles"),
    # the spec itself: its name is the str shown in summaries; whole-number fields fit the engine's int32
    (lambda: WaferSpec(name=5), SpecError, "name"),
    (lambda: WaferSpec(name=None), SpecError, "name"),
    (lambda: WaferSpec(vector_lanes=2**70), SpecError, "vector_lanes"),
    (lambda: WaferSpec(vector_lanes_half=2**31), SpecError, "vector_lanes_half"),
    (lambda: WaferSpec(fifo_depth=2**40), SpecError, "fifo_depth"),
    (lambda: WaferSpec(spare_cols=2**70), SpecError, "spare_cols"),
    (lambda: WaferSpec(width=32, height=8, spare_cols=33), SpecError, r"spare_cols = 33: must be at most 32 \(the width"),
    (lambda: WaferSpec(width=8, height=4, spare_rows=17), SpecError, r"must be at most 16 \(the height, or 16 on a"),
    (lambda: WaferSpec(global_bytes=2**70), SpecError, "global_bytes"),
    (lambda: WaferSpec.preset(None), SpecError, "preset"),
    (lambda: WaferSpec.preset(5), SpecError, "preset"),
    (lambda: WaferSpec.load(None), ws.ArgumentTypeError, "path"),
    (lambda: SMALL.save(None), ws.ArgumentTypeError, "path"),
])
def test_bad_arguments_of_the_spec_and_its_helpers_are_wafer_errors(call, error, word):
    with pytest.raises(error, match=word):
        call()


def test_unwritable_and_unreadable_spec_files_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="cannot write"):
        SMALL.save(tmp_path)                                  # a directory
    with pytest.raises(SpecError, match="cannot write"):
        SMALL.save(tmp_path / "missing" / "spec.toml")        # a missing parent folder
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(SpecError, match="not valid TOML"):
        WaferSpec.load(binary)
    SMALL.save(tmp_path / "spec.toml")
    assert WaferSpec.load(str(tmp_path / "spec.toml")) == SMALL


def test_valid_neighbours_of_the_refused_helper_arguments_keep_their_values():
    assert SMALL.hops_to_edge(0, 0) == 0 and SMALL.hops_to_edge(7, 7) == 0 and SMALL.hops_to_edge(3, 4) == 3
    assert SMALL.hops_to_edge(np.int64(4), np.int32(2)) == 2
    ys, xs = np.mgrid[0:8, 0:8]
    assert np.array_equal(SMALL.hops_to_edge(xs, ys), np.minimum(np.minimum(xs, 7 - xs), np.minimum(ys, 7 - ys)))
    assert SMALL.barrier_cycles(1, 1) == SMALL.barrier_base_cycles
    assert SMALL.barrier_cycles(8, 8) == SMALL.barrier_base_cycles + SMALL.barrier_cycles_per_hop * 14
    assert SMALL.barrier_cycles(np.int64(2), 3) == SMALL.barrier_base_cycles + SMALL.barrier_cycles_per_hop * 3
    assert (SMALL.repair(width=4).width, SMALL.repair(width=4).height) == (4, 8)
    assert (SMALL.repair(8, np.int64(2)).width, SMALL.repair().width) == (8, 8)
    assert SMALL.seconds(0) == 0.0 and SMALL.seconds(850) == 850 / 0.85e9 and SMALL.seconds(np.float32(8.5)) == 1e-8
    assert WaferSpec(name="mine").name == "mine"
    edge = WaferSpec(width=8, height=8, vector_lanes=2**31 - 1, fifo_depth=2**31 - 1)
    assert edge.vector_lanes == 2**31 - 1


def test_hops_to_edge_takes_lists_of_coordinates_as_it_takes_arrays():
    """A list passed the coordinate checks (an integer array) and then failed in the formula with Python's
    bare "unsupported operand type(s) for -: 'int' and 'list'"; it gives each PE's hops, as one call a PE."""
    spec = ws.WaferSpec(width=5, height=4)
    xs, ys = [0, 2, 4, 1], [1, 1, 3, 2]
    expected = [min(x, y, 5 - 1 - x, 4 - 1 - y) for x, y in zip(xs, ys)]
    assert spec.hops_to_edge(xs, ys).tolist() == expected == [int(spec.hops_to_edge(x, y)) for x, y in zip(xs, ys)]
    assert spec.hops_to_edge(tuple(xs), np.array(ys)).tolist() == expected
