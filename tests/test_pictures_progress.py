"""Heatmap PNGs and launch progress reporting."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.heat import heat_kernel
from wafersim.runtime.progress import LaunchProgress, launch_progress


def run_heat(steps: int, grid=(2, 2), block=(8, 8), **options) -> ws.LaunchStats:
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    u = np.random.default_rng(0).random((16, 16), dtype=np.float32)
    return heat_kernel[grid, block](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), steps, **options)


@pytest.mark.parametrize("metric", ["busy", "stall", "instructions", "words_sent", "link_utilization"])
def test_heatmap_png_is_written_for_every_metric(metric, tmp_path):
    import matplotlib.image

    stats = run_heat(3)
    path = stats.heatmap(metric, tmp_path / f"{metric}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(path).shape
    assert 200 <= height <= 1200 and 300 <= width <= 1400  # a readable figure with room for the colour bar
    values = stats.metric(metric)
    assert values.shape == (16, 16)


@pytest.mark.parametrize("height, width", [(4, 32), (32, 4), (996, 757)])
def test_a_heatmap_figure_follows_the_maps_shape(height, width, tmp_path):
    """A wide, short map (a 32 x 4 launch) is a wide picture, not a thin strip in a square figure; a
    wafer-sized one stays within the pixel budget."""
    import matplotlib.image
    from wafersim.sim.pictures import save_map

    path = save_map(np.random.default_rng(1).random((height, width)), tmp_path / "map.png", "t", "cycles")
    rows, cols, _ = matplotlib.image.imread(path).shape
    if width > 4 * height:
        assert cols > 2.5 * rows
    elif height > 4 * width:
        assert rows > 1.5 * cols
    assert max(rows, cols) <= 1400


@pytest.mark.parametrize("height, width", [(9, 17), (16, 12), (4, 4)])
def test_a_heatmap_title_wider_than_its_map_is_drawn_whole(height, width, tmp_path):
    """A new user's heatmap of 2 waves of 8 x 8 blocks on a wafer with defects lost the first letter of its
    title, "work: instructions per PE, summed over 2 waves", at the picture's left edge: the title is centred
    on the map, and a map narrower than the title pushed it out of the figure. No dark pixel may touch the
    picture's edges (the figure's background is white, and nothing is drawn there but by overflowing)."""
    import matplotlib.image
    from wafersim.sim.pictures import save_map

    title = "work: instructions per PE, summed over 2 waves (a long kernel name)"
    path = save_map(np.random.default_rng(2).random((height, width)), tmp_path / "map.png", title, "instructions")
    pixels = matplotlib.image.imread(path)[..., :3]
    dark = pixels.min(axis=2) < 0.5
    assert not (dark[:, 0].any() or dark[:, -1].any() or dark[0].any() or dark[-1].any())
    assert dark[:, : dark.shape[1] // 10].any()  # (the title's first letters are drawn, near the left edge)


@pytest.mark.parametrize("height, width", [(1, 8), (3, 2), (2, 40), (16, 16)])
def test_a_heatmap_labels_its_axes_with_whole_pe_indices_inside_the_map(height, width, tmp_path, monkeypatch):
    """A one-row launch's map (a 1-D grid in the CLI's `--heatmap`) was labelled rows -0.5, 0.0 and 0.5: the
    ticks are PE indices, whole numbers from 0 to the last row or column."""
    from matplotlib.figure import Figure
    from wafersim.sim.pictures import save_map

    ticks = []
    savefig = Figure.savefig

    def recording(fig, *args, **kwargs):
        ax = fig.axes[0]
        low_x, high_x = sorted(ax.get_xlim())
        low_y, high_y = sorted(ax.get_ylim())
        ticks.append(([t for t in ax.get_xticks() if low_x <= t <= high_x],
                      [t for t in ax.get_yticks() if low_y <= t <= high_y]))
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    save_map(np.random.default_rng(3).random((height, width)), tmp_path / "map.png", "t", "cycles")
    [(xs, ys)] = ticks
    for shown, size in ((xs, width), (ys, height)):
        assert shown and all(float(t).is_integer() and 0 <= t < size for t in shown), (shown, size)


def test_heatmap_metrics_are_the_stats_arrays():
    stats = run_heat(3)
    np.testing.assert_array_equal(stats.metric("stall"), stats.stall)
    np.testing.assert_array_equal(stats.metric("words_sent"), stats.link_words.sum(axis=0))
    assert stats.metric("link_utilization").max() == pytest.approx(stats.link_words.sum(axis=0).max() / stats.cycles)
    with pytest.raises(ValueError, match="unknown metric"):
        stats.metric("temperature")


def test_progress_reports_every_barrier_and_the_end_of_each_wave():
    events = []
    run_heat(5, progress=lambda *e: events.append(e))
    assert [e for e in events if e[0] == 0] == [(0, 1, k) for k in range(1, 6)]  # one release per step
    assert events[-1] == (1, 1, 5)
    events.clear()
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.ones((16, 16), np.float32)
    heat_kernel[(2, 2), (8, 8)](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 2,
                               progress=lambda *e: events.append(e))
    # 4 waves of two releases each; a release reports the waves run to the end so far (it said 0 in every
    # wave, so a callback's count of finished waves went 1, 0, 0, 2, 0, ...), the end of a wave one more
    assert events == [e for w in range(4) for e in ((w, 4, 2 * w + 1), (w, 4, 2 * w + 2), (w + 1, 4, 2 * w + 2))]


def test_progress_is_quiet_off_a_terminal_and_when_disabled(monkeypatch, capsys):
    assert launch_progress(None, "k") is None  # pytest's stderr is not a terminal
    assert launch_progress(False, "k") is None
    assert isinstance(launch_progress(True, "k"), LaunchProgress)
    run_heat(2)
    assert capsys.readouterr().err == ""
    run_heat(2, progress=True)  # forced: a tqdm bar on stderr
    assert "barrier" in capsys.readouterr().err


def test_a_bar_shown_by_the_heartbeat_is_cleared_when_the_launch_ends(capsys):
    """A long wave's heartbeat (`running`) shows the bar before tqdm's own updates would: closing it must
    clear the line, or an error printed next (a launch stopped by max_seconds) lands after the stale bar."""
    bar = LaunchProgress("spin", delay=60.0)  # (tqdm's own updates would not have shown it yet)
    bar.running(1234, 16)
    assert "running=16 PEs" in capsys.readouterr().err
    bar.close()
    written = [chunk for chunk in capsys.readouterr().err.split("\r") if chunk]
    assert written and written[-1].strip() == ""  # spaces over the old text, last


def test_progress_counts_a_release_of_blocks_waiting_together_once():
    """docs/api.md said the callback gets "barriers released", read as every block's: a wave's blocks that
    reach their k-th barrier together release at once and count once, as documented now. 3 equal blocks of 6
    barriers in one wave: 6 releases, where the blocks ran 18 barriers (`op_counts['bar']` per PE of a block);
    12 such blocks in 4 waves of 3: 6 a wave."""
    for grid, waves in (((3, 1), 1), ((3, 4), 4)):
        events = []
        dev = ws.Device(ws.WaferSpec(width=24, height=8))  # 3 slots of 8 x 8
        u = np.ones((8 * grid[1], 24), np.float32)
        stats = heat_kernel[grid, (8, 8)](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 6,
                                          progress=lambda *e: events.append(e))
        blocks = grid[0] * grid[1]
        assert stats.waves == waves and stats.op_counts["bar"] == 6 * blocks * 64
        assert events[-1] == (waves, waves, 6 * waves)
