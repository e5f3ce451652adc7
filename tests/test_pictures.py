"""Heatmaps crop to the launched blocks by default, with an option for the whole wafer: `LaunchStats.heatmap`,
`pictures.crop_physical` on a wafer with defects, and `wafersim run --heatmap` (src/wafersim/sim/pictures.py)."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import wafersim as ws
from wafersim.kernels.heat import heat_kernel
from wafersim.sim import pictures
from wafersim.tools.cli import main as cli


@pytest.fixture
def drawn(monkeypatch):
    """The arrays `save_map` is asked to draw (it still writes the PNG)."""
    calls = []
    real = pictures.save_map

    def spy(values, path, *args, **kwargs):
        calls.append((np.array(values), kwargs.get("dead")))
        return real(values, path, *args, **kwargs)

    monkeypatch.setattr(pictures, "save_map", spy)
    return calls


def run_heat(spec: ws.WaferSpec, grid, block) -> ws.LaunchStats:
    dev = ws.Device(spec)
    shape = (grid[1] * block[1], grid[0] * block[0])
    u = np.random.default_rng(1).random(shape, dtype=np.float32)
    return heat_kernel[grid, block](dev.to_device(u), dev.device_array(shape), np.float32(0.1), 2)


def test_a_heatmap_shows_the_launched_blocks_unless_asked_for_the_wafer(drawn, tmp_path):
    stats = run_heat(ws.WaferSpec(width=32, height=16), (3, 1), (4, 6))  # 3 blocks side by side: 12 x 6 PEs
    assert stats.heatmap("busy", tmp_path / "crop.png").exists()
    assert stats.heatmap("busy", tmp_path / "wafer.png", whole_wafer=True).exists()
    cropped, whole = drawn[0][0], drawn[1][0]
    assert cropped.shape == (6, 12) and whole.shape == (16, 32)
    np.testing.assert_array_equal(cropped, stats.busy[:6, :12])
    assert (whole[6:, :] == 0).all() and (whole[:, 12:] == 0).all() and (cropped > 0).all()


def test_blocks_that_wrap_onto_more_rows_of_slots_are_all_shown(drawn, tmp_path):
    stats = run_heat(ws.WaferSpec(width=16, height=16), (3, 1), (8, 4))  # two slots a row: 2 rows of slots
    stats.heatmap("instructions", tmp_path / "m.png")
    assert drawn[0][0].shape == (8, 16)
    assert (drawn[0][0][:4] > 0).all() and (drawn[0][0][4:, :8] > 0).all() and (drawn[0][0][4:, 8:] == 0).all()


def test_on_a_wafer_with_defects_the_physical_map_is_cut_around_the_launched_pes(drawn, tmp_path):
    spec = ws.WaferSpec(width=16, height=8, spare_cols=2, spare_rows=1, defects=[(1, 1)])
    stats = run_heat(spec, (1, 1), (4, 4))
    stats.heatmap("busy", tmp_path / "d.png")
    values, dead = drawn[0]
    # row 1 has a dead PE at x = 1: its logical PEs 1..3 sit one site east, so 5 physical columns show
    assert values.shape == (4, 5) and dead.shape == (4, 5) and dead[1, 1]
    np.testing.assert_array_equal(values[1, [0, 2, 3, 4]], stats.busy[1, :4])
    assert values[0, 4] == 0 and np.isnan(values[1, 1])  # logical PE (4, 0) is outside the launch: idle
    stats.heatmap("busy", tmp_path / "w.png", whole_wafer=True)
    assert drawn[1][0].shape == (9, 18)  # the physical array: spares included


def test_the_cli_draws_cropped_heatmaps_of_every_launch(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import wafersim as ws
        from wafersim.kernels.heat import heat_kernel

        dev = ws.Device(ws.WaferSpec(width=32, height=32))
        u = np.ones((4, 8), np.float32)
        heat_kernel[(2, 1), (4, 4)](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 1)
    '''))
    out = tmp_path / "maps"
    result = CliRunner().invoke(cli, ["run", "--heatmap", "busy", "--heatmap", "stall", "--out", str(out), str(script)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["launch1_heat_kernel_busy.png", "launch1_heat_kernel_stall.png"]
    bad = CliRunner().invoke(cli, ["run", "--heatmap", "zzz", "--out", str(out), str(script)])
    assert bad.exit_code != 0 and "unknown metric 'zzz'" in bad.output


def test_a_heatmap_returns_the_file_it_wrote_and_refuses_what_it_cannot_write(tmp_path, monkeypatch):
    stats = run_heat(ws.WaferSpec(width=8, height=8), (1, 1), (4, 4))
    monkeypatch.chdir(tmp_path)
    written = stats.heatmap("busy", "noext")  # no suffix: a PNG, and the name says so
    assert written == tmp_path.joinpath("noext.png").relative_to(tmp_path) and written.is_file()
    assert not (tmp_path / "noext").exists()
    assert stats.heatmap("busy", "map.svg").read_text().lstrip().startswith("<?xml")  # matplotlib's formats
    for name in ("run.v2", "x.json"):  # a suffix matplotlib cannot write: said before any drawing
        with pytest.raises(ws.ArgumentError, match=name.replace(".", r"\.")) as info:
            stats.heatmap("busy", name)
        assert info.value.path == name and not (tmp_path / name).exists()
    for folder in (".", tmp_path):
        with pytest.raises(ws.ArgumentError, match="is a folder"):
            stats.heatmap("busy", folder)
    with pytest.raises(ws.ArgumentError, match="'missing' does not exist"):  # no writer creates folders
        stats.heatmap("busy", "missing/map.png")
    assert not (tmp_path / "missing").exists()


def test_a_heatmap_of_several_waves_says_it_sums_them(monkeypatch, tmp_path):
    """A wafer PE's figures add up every block that ran on it (one a wave): the heatmap's title and the
    notebook's caption say so, where they read as the launch's blocks (or its last wave) alone."""
    titles = []
    real = pictures.save_map

    def spy(values, path, title, *args, **kwargs):
        titles.append((np.array(values), title))
        return real(values, path, title, *args, **kwargs)

    monkeypatch.setattr(pictures, "save_map", spy)
    spec = ws.WaferSpec(width=8, height=8)
    one = run_heat(spec, (1, 1), (8, 8))
    three = run_heat(spec, (3, 1), (8, 8))  # one slot: three waves on the same PEs
    assert (one.waves, three.waves) == (1, 3)
    one.heatmap("busy", tmp_path / "one.png")
    three.heatmap("busy", tmp_path / "three.png")
    (one_busy, one_title), (three_busy, three_title) = titles
    assert one_title == "heat_kernel: busy cycles per PE"
    assert three_title == "heat_kernel: busy cycles per PE, summed over 3 waves"
    np.testing.assert_array_equal(three_busy, 3 * one_busy)  # the stencil's work does not depend on the data
    assert "busy per PE over the launched blocks, summed over 3 waves: x 0..7" in three._repr_html_()
    assert "busy per PE over the launched blocks: x 0..7" in one._repr_html_()
