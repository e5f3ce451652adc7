"""Perfetto/Chrome traces: valid trace-event JSON, the expected tracks, bounded size at wafer scale."""
from __future__ import annotations

import json

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.heat import heat_kernel
from wafersim.runtime.progress import copy_bytes
from wafersim.sim import trace as trace_module


def check_format(events: list[dict]) -> None:
    """Every event has the fields the trace-event format requires for its phase."""
    for event in events:
        assert event["ph"] in ("X", "M")
        assert isinstance(event["pid"], int) and isinstance(event["name"], str)
        if event["ph"] == "X":
            assert isinstance(event["tid"], int) and event["ts"] >= 0 and event["dur"] >= 0


def heat(dev, grid, block, steps, **options):
    u = np.random.default_rng(1).random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    s = dev.stream()
    d_u, d_out = dev.to_device(u, stream=s), dev.device_array(u.shape)
    stats = heat_kernel[grid, block, s](d_u, d_out, np.float32(0.1), steps, **options)
    d_out.copy_to_host(stream=s)
    return stats


def test_a_track_per_block_with_the_activity_of_each_kind(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    stats = heat(dev, (8, 8), (2, 2), 3, trace=True)  # 64 blocks: one track each
    data = json.loads(stats.to_perfetto(tmp_path / "launch.json").read_text())
    events = data["traceEvents"]
    check_format(events)
    tracks = [e["args"]["name"] for e in events if e["name"] == "thread_name"]
    assert len(tracks) == 64 and tracks[0] == "block (0, 0) PE (0, 0)" and tracks[-1] == "block (7, 7) PE (14, 14)"
    slices = [e for e in events if e["ph"] == "X"]
    kinds = {e["name"] for e in slices}
    assert kinds == {"compute", "send", "recv", "barrier", "global load", "global store", "store drain"}
    start_us = stats.spec.seconds(stats.start_cycle) * 1e6  # the launch sits on its stream, after the memcpy
    ends = []
    for tid in range(64):  # each track runs from the launch's start, without overlaps
        own = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["tid"] == tid)
        assert own[0][0] == pytest.approx(start_us, abs=1e-6)
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(own, own[1:]))
        ends.append(own[-1][1])
    assert max(ends) == pytest.approx(start_us + stats.seconds * 1e6, abs=2e-3)  # the last PE ends the launch
    barriers = [e for e in slices if e["name"] == "barrier" and e["tid"] == 0]
    assert len(barriers) == 3  # one per step
    assert "sampled 64 of 256 PEs" in data["metadata"]["wafersim"]


def test_one_big_block_is_sampled_as_a_grid_of_pes():
    dev = ws.Device(ws.WaferSpec(width=32, height=32))
    stats = heat(dev, (1, 1), (32, 32), 2, trace=True)
    names = list(stats.trace.tracks.values())
    assert len(names) == 64 and names[0] == "block (0, 0) PE (0, 0)" and names[-1] == "block (0, 0) PE (31, 31)"
    assert "block (0, 0) PE (31, 0)" in names and "block (0, 0) PE (0, 31)" in names  # the corners too


def test_device_trace_has_host_streams_and_launches_on_one_timeline(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    dev.trace = True
    stats = heat(dev, (2, 2), (8, 8), 2)
    data = json.loads(dev.to_perfetto(tmp_path / "all.json").read_text())
    events = data["traceEvents"]
    check_format(events)
    host = [e for e in events if e["ph"] == "X" and e["pid"] == 0]
    assert [e["name"].split()[0] for e in host] == ["memcpy_htod", "launch", "memcpy_dtoh"]
    launch = host[1]
    pe_slices = [e for e in events if e["ph"] == "X" and e["pid"] == 1]
    assert min(e["ts"] for e in pe_slices) == pytest.approx(launch["ts"], abs=1e-6)  # the launch starts its PEs
    assert launch["dur"] == pytest.approx(stats.seconds * 1e6, rel=1e-6)


def test_untraced_launch_says_how_to_trace():
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    with pytest.raises(ws.LaunchError, match="trace=True"):
        heat(dev, (1, 1), (4, 4), 1).to_perfetto("never.json")


def test_wafer_scale_trace_stays_under_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_module, "MAX_EVENTS_PER_TRACK", 40)  # a short run that still hits the cap
    dev = ws.Device("wse2")
    stats = heat(dev, (1, 1), (dev.spec.width, dev.spec.height), 6, trace=True)
    path = stats.to_perfetto(tmp_path / "wafer.json")
    data = json.loads(path.read_text())
    check_format(data["traceEvents"])
    per_track = 2 * 40 + 1  # capped slices, with compute between them
    assert len(data["traceEvents"]) <= 1 + 64 * (per_track + 1)
    assert path.stat().st_size < 64 * per_track * 200  # bytes: the size follows the cap, not the wafer
    assert "sampled 64 of 753,972 PEs" in data["metadata"]["wafersim"] and "cut at 40 slices" in data["metadata"]["wafersim"]


def test_large_copies_show_a_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    src = np.arange(300 << 20, dtype=np.uint8)[: 300 << 20]
    dst = np.empty_like(src)
    copy_bytes(dst, src, "memcpy_htod")  # not a terminal: quiet
    assert capsys.readouterr().err == "" and np.array_equal(dst, src)
    dst[:] = 0
    copy_bytes(dst, src, "memcpy_htod", progress=True)
    assert "memcpy_htod" in capsys.readouterr().err and np.array_equal(dst, src)


def nesting_faults(events: list[dict], tolerance_us: float = 1e-9) -> list[tuple]:
    """Pairs of complete slices on one track that overlap without one holding the other (the trace-event
    format requires complete events of a track to nest or be disjoint); sub-picosecond rounding ignored."""
    tracks: dict[tuple[int, int], list[tuple[float, float, str]]] = {}
    for e in events:
        if e["ph"] == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"], e["name"]))
    faults = []
    for track, slices in tracks.items():
        open_slices: list[tuple[float, float, str]] = []
        for s in sorted(slices, key=lambda s: (s[0], -s[1])):
            while open_slices and open_slices[-1][1] <= s[0] + tolerance_us:
                open_slices.pop()
            if open_slices and s[1] > open_slices[-1][1] + tolerance_us:
                faults.append((track, open_slices[-1], s))
            open_slices.append(s)
    return faults


@ws.jit
def ring_in_background(out, work):
    """Each PE sends its vector east in the background while it computes, and receives its west neighbour's."""
    p = ws.grid(1)
    buf = ws.local.array(24, np.float32)
    got = ws.local.array(24, np.float32)
    acc = ws.local.array(24, np.float32)
    for i in range(24):
        buf[i] = i + p
    acc[0:24] = 0.0
    if p < 3:
        ws.send_async(ws.EAST, buf[0:24])
    if p > 0:
        ws.recv_async(ws.WEST, out=got[0:24])
    for i in range(work):
        acc[0:24] = acc[0:24] + 1.0
    if p < 3:
        ws.send_wait(ws.EAST)
    if p > 0:
        ws.recv_wait(ws.WEST)
        acc[0:24] = acc[0:24] + got[0:24]
        out[p, 0:24] = acc[0:24]


def test_background_transfers_have_tracks_of_their_own_where_slices_nest(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    out = dev.device_array((4, 24))
    stats = ring_in_background[(1, 1), (4, 1)](out, 5, trace=True)
    np.testing.assert_array_equal(out.copy_to_host()[1:], np.arange(24) + np.arange(3)[:, None] + 5.0)
    events = json.loads(stats.to_perfetto(tmp_path / "ring.json").read_text())["traceEvents"]
    check_format(events)
    assert nesting_faults(events) == []
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert "block (0, 0) PE (1, 0) background send east ch 0" in names.values()
    assert "block (0, 0) PE (1, 0) background recv west ch 0" in names.values()
    background = {tid for tid, name in names.items() if "background" in name}
    kinds = {e["name"] for e in events if e["ph"] == "X" and e["tid"] in background}
    assert kinds == {"send", "recv"}  # only the transfers' slices, no compute between them
    own = [e for e in events if e["ph"] == "X" and e["tid"] not in background]
    assert {"compute", "send", "recv"} <= {e["name"] for e in own}  # the waits stay on the PE's track


def test_slices_nest_on_every_track_of_the_heat_and_summa_kernels(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    stats = heat(dev, (8, 8), (2, 2), 3, trace=True)
    assert nesting_faults(json.loads(stats.to_perfetto(tmp_path / "heat.json").read_text())["traceEvents"]) == []
    from wafersim.kernels.gemm import gemm
    from wafersim.kernels.hosting import fitting_device
    dev = fitting_device(4, 4)
    dev.trace = True  # the SUMMA kernel broadcasts its panels with background transfers
    a = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    c, stats = gemm(a, a, 4, device=dev)
    np.testing.assert_allclose(c, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-4)
    events = json.loads(stats.to_perfetto(tmp_path / "summa.json").read_text())["traceEvents"]
    assert any("background" in e["args"]["name"] for e in events if e["name"] == "thread_name")
    assert nesting_faults(events) == []


def test_a_background_transfer_is_one_slice_so_large_panels_do_not_cut_the_track(tmp_path):
    """docs/reading-traces.md: a background track holds the transfers "with gaps between transfers". A
    transfer's words were each a slice of their own (a chunk's, for sends), so SUMMA's 1,024-word panels
    filled a receiving track's 1,000 slices with the first panel: the later steps' transfers were cut."""
    from wafersim.kernels.gemm import gemm
    from wafersim.kernels.hosting import fitting_device

    p, n = 4, 128  # 32 x 32 tiles: a panel is 1,024 words
    dev = fitting_device(p, p)
    dev.trace = True
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    c, stats = gemm(a, a, p, device=dev)
    np.testing.assert_allclose(c, a.astype(np.float64) @ a, rtol=1e-3, atol=1e-3)
    data = json.loads(stats.to_perfetto(tmp_path / "summa.json").read_text())
    assert "cut" not in data["metadata"]["wafersim"]
    events = data["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    slices: dict[int, list] = {tid: [] for tid, name in names.items() if "background" in name}
    for e in events:
        if e["ph"] == "X" and e["tid"] in slices:
            slices[e["tid"]].append(e)
    assert len(slices) == 4 * p * p  # every PE sends and receives on both channels (0: A panels, 1: B panels)
    for tid, track in slices.items():
        # SUMMA: of its row's (column's) p panels a PE owns one, which it sends, and receives the other p - 1
        assert len(track) == (p - 1 if " recv " in names[tid] else 1), names[tid]
        for before, after in zip(track, track[1:]):
            assert after["ts"] > before["ts"] + before["dur"]  # gaps between transfers


@ws.jit
def two_receives_back_to_back(out):
    """PE 1 starts two background receives on one channel; PE 0 sends their 16 words without a pause."""
    p = ws.grid(1)
    a = ws.local.array(8, np.float32)
    b = ws.local.array(8, np.float32)
    if p == 0:
        for i in range(8):
            a[i] = i
        ws.send(ws.EAST, a[0:8])
        ws.send(ws.EAST, a[0:8])
    else:
        ws.recv_async(ws.WEST, out=a[0:8])
        ws.recv_async(ws.WEST, out=b[0:8])
        ws.recv_wait(ws.WEST)
        out[0:8] = a[0:8]
        out[8:16] = b[0:8]


def test_two_background_transfers_back_to_back_are_two_slices(tmp_path):
    """Transfers that abut on a background track (the second's first word right after the first's last)
    were merged into one slice, as a transfer's own words are; each is a slice of its own now, the second
    starting where the first ends (not overlapping it: its issue overlaps the first's end)."""
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(16)
    stats = two_receives_back_to_back[1, (2, 1)](out, trace=True)
    np.testing.assert_array_equal(out.copy_to_host(), np.tile(np.arange(8), 2))
    events = json.loads(stats.to_perfetto(tmp_path / "two.json").read_text())["traceEvents"]
    assert nesting_faults(events) == []
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    track = [e for e in events if e["ph"] == "X" and names[e["tid"]].endswith("background recv west ch 0")]
    assert [e["name"] for e in track] == ["recv", "recv"]  # two transfers, two slices
    first, second = sorted(track, key=lambda e: e["ts"])
    assert second["ts"] == pytest.approx(first["ts"] + first["dur"], abs=1e-6)  # back to back, no gap
    assert first["dur"] > 0 and second["dur"] > 0


@ws.jit
def sends_on_two_channels(out):
    """PE 0 sends 32 words east in the background on channel 0, then 32 more on channel 1 of the same link."""
    p = ws.grid(1)
    buf = ws.local.array(64, np.float32)
    if p == 0:
        for i in range(64):
            buf[i] = i
        ws.send_async(ws.EAST, buf[0:32], channel=0)
        ws.send_async(ws.EAST, buf[32:64], channel=1)
        ws.send_wait(ws.EAST, channel=0)
        ws.send_wait(ws.EAST, channel=1)
    else:
        ws.recv_async(ws.WEST, out=buf[0:32], channel=0)
        ws.recv_async(ws.WEST, out=buf[32:64], channel=1)
        ws.recv_wait(ws.WEST, channel=0)
        ws.recv_wait(ws.WEST, channel=1)
        out[0:64] = buf[0:64]


def test_a_second_channels_send_slice_begins_with_its_issue_beside_the_first_sends_last_word(tmp_path):
    """docs/reading-traces.md: a send slice is 1 + n cycles (docs/timing.md: the issue, then n words at
    `link_words_per_cycle`); channels of one link share it, so channel 1's words follow channel 0's last one
    and its slice, which begins with its issue, begins one cycle before channel 0's ends: the two take as long
    as one send of all their words."""
    spec = ws.WaferSpec(width=2, height=1)
    dev = ws.Device(spec)
    out = dev.device_array(64)
    stats = sends_on_two_channels[1, (2, 1)](out, trace=True)
    np.testing.assert_array_equal(out.copy_to_host(), np.arange(64))
    events = json.loads(stats.to_perfetto(tmp_path / "channels.json").read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    slices = {}
    for e in events:
        if e["ph"] == "X" and "background send east ch" in names[e["tid"]]:
            slices[names[e["tid"]][-4:]] = e
    cycle_us = 1e6 / spec.clock_hz
    words_cycles = 32 / spec.link_words_per_cycle
    first, second = slices["ch 0"], slices["ch 1"]
    assert first["dur"] == pytest.approx((1 + words_cycles) * cycle_us, abs=1e-6)
    assert second["dur"] == pytest.approx((1 + words_cycles) * cycle_us, abs=1e-6)
    assert second["ts"] == pytest.approx(first["ts"] + words_cycles * cycle_us, abs=1e-6)  # issue beside last word
    one_send = (1 + 64 / spec.link_words_per_cycle) * cycle_us
    assert second["ts"] + second["dur"] - first["ts"] == pytest.approx(one_send, abs=1e-6)


def test_a_cut_track_ends_in_a_not_recorded_slice_and_not_in_compute(tmp_path):
    """A track past its 1,000 slices was filled with `compute` to the PE's end, so a long heat launch's
    sampled time read ~70% compute where the PEs sent, received and waited at barriers every step. The
    cut's rest is one `not recorded` slice, and the slices still add up to the PE's busy + stall."""
    from wafersim.sim.trace import MAX_EVENTS_PER_TRACK

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    steps = 400  # each step: 2 to 4 sends and receives and a barrier on every PE: over 2,000 slices
    long = heat(dev, (1, 1), (4, 4), steps, trace=True)
    data = json.loads(long.to_perfetto(tmp_path / "long.json").read_text())
    assert f"16 tracks cut at {MAX_EVENTS_PER_TRACK} slices" in data["metadata"]["wafersim"]
    check_format(data["traceEvents"])
    assert nesting_faults(data["traceEvents"]) == []
    names = {e["tid"]: e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"}
    for tid, name in names.items():
        track = [e for e in data["traceEvents"] if e["ph"] == "X" and e["tid"] == tid]
        recorded = [e for e in track if e["name"] != "compute"]
        assert len(recorded) == MAX_EVENTS_PER_TRACK + 1 and track[-1]["name"] == "not recorded"
        # the PE sends and receives every step until its last: the cut is long before its end
        assert track[-1]["dur"] > 0.5 * long.seconds * 1e6
        x, y = (int(v) for v in name.split("PE (")[1].rstrip(")").split(", "))
        elapsed = long.spec.seconds(long.busy[y, x] + long.stall[y, x]) * 1e6
        assert sum(e["dur"] for e in track) == pytest.approx(elapsed, abs=1e-5)
        assert track[-1]["ts"] == pytest.approx(track[-2]["ts"] + track[-2]["dur"], abs=2e-6)  # no gap


def test_traces_are_written_to_exactly_the_file_named_and_never_to_a_folder(tmp_path, monkeypatch):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    dev.trace = True
    stats = heat(dev, (1, 1), (4, 4), 1)
    monkeypatch.chdir(tmp_path)
    assert stats.to_perfetto("launch") == type(tmp_path)("launch") and (tmp_path / "launch").is_file()
    for write in (stats.to_perfetto, dev.to_perfetto):
        for folder in (".", tmp_path):
            with pytest.raises(ws.ArgumentError, match="is a folder"):
                write(folder)
        with pytest.raises(ws.ArgumentError, match="'missing' does not exist") as info:
            write("missing/trace.json")
        assert info.value.path == "missing/trace.json" and not (tmp_path / "missing").exists()


def test_tracks_name_the_block_index_and_the_wafer_pe_and_add_up_to_its_elapsed_cycles(tmp_path):
    """docs/reading-traces.md: a track is `block (bx, by) PE (x, y)`, the block's index in the grid and the PE's
    wafer position (where `stats.busy` indexes it). With several waves, the blocks of one slot trace the same
    wafer PEs, and the slices of a PE's tracks add up to its busy + stall."""

    @ws.jit
    def uneven(out):
        i = ws.grid(1)
        acc = 0
        for t in range(ws.blockIdx.x * 7):  # blocks of one slot last differently
            acc += t
        out[i] = acc

    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    grid, block = 10, (4, 1)  # 4 slots: 3 waves
    stats = uneven[grid, block](dev.device_array(40, np.int32), trace=True)
    assert stats.waves == 3
    data = json.loads(stats.to_perfetto(tmp_path / "waves.json").read_text())
    names = {e["tid"]: e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"}
    elapsed_us = {}
    for e in data["traceEvents"]:
        if e["ph"] == "X" and e.get("cat") == "pe":
            elapsed_us[names[e["tid"]]] = elapsed_us.get(names[e["tid"]], 0.0) + e["dur"]
    per_pe_us: dict[tuple[int, int], float] = {}
    for name, us in elapsed_us.items():
        b, pe = name.removeprefix("block (").split(") PE (")
        bx, by = (int(v) for v in b.split(", "))
        x, y = (int(v) for v in pe.rstrip(")").split(", "))
        assert by == 0 and 0 <= bx < grid
        # the PE is one of block bx's, at its wafer position: its west or east end (the sampled corners)
        assert (x, y) in {stats.wafer_xy(bx * block[0], 0), stats.wafer_xy(bx * block[0] + block[0] - 1, 0)}
        per_pe_us[(x, y)] = per_pe_us.get((x, y), 0.0) + us
    assert len(elapsed_us) == 2 * grid and len(per_pe_us) == 8  # two PEs of each block; 4 slots' two PEs
    for (x, y), us in per_pe_us.items():
        assert us == pytest.approx(stats.spec.seconds(stats.busy[y, x] + stats.stall[y, x]) * 1e6, abs=1e-5)


def test_a_launchs_slices_sit_at_its_start_cycle_on_the_devices_timeline(tmp_path):
    """docs/reading-traces.md said only "times are simulated microseconds": a launch's trace is on the device's
    timeline, so a second launch's slices begin at its `start_cycle`, not at 0, and ws.print's cycles and
    busy + stall (counted from the launch's start) need it added. Each track's last slice ends at start_cycle
    plus the PE's busy + stall, and a print just after the k-th barrier is stamped the same few cycles (the
    `if` before it) after that barrier slice's end, less start_cycle, in both launches."""

    @ws.jit
    def steps(out, n):
        x, y = ws.grid(2)
        s = 0
        for t in range(n):
            for j in range(x + 1):
                s += j
            ws.syncthreads()
            if x == 2 and y == 1:
                ws.print("s", s)
        out[y, x] = s

    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    clock = dev.spec.clock_hz
    first = steps[(1, 1), (4, 4)](dev.device_array((4, 4), np.int32), 3, trace=True, print_output=False)
    second = steps[(1, 1), (4, 4)](dev.device_array((4, 4), np.int32), 3, trace=True, print_output=False)
    assert second.start_cycle == pytest.approx(first.cycles)
    for stats in (first, second):
        events = json.loads(stats.to_perfetto(tmp_path / "t.json").read_text())["traceEvents"]
        names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
        slices = [e for e in events if e["ph"] == "X" and e.get("cat") == "pe"]
        assert min(e["ts"] for e in slices) * 1e-6 * clock == pytest.approx(stats.start_cycle, abs=1e-3)
        for tid, name in names.items():
            x, y = (int(v) for v in name.split("PE (")[1].rstrip(")").split(", "))
            end = max(e["ts"] + e["dur"] for e in slices if e["tid"] == tid) * 1e-6 * clock
            assert end - stats.start_cycle == pytest.approx(stats.busy[y, x] + stats.stall[y, x], abs=1e-3)
        tid = next(t for t, name in names.items() if name.endswith("PE (2, 1)"))
        barrier_ends = [(e["ts"] + e["dur"]) * 1e-6 * clock - stats.start_cycle
                        for e in slices if e["tid"] == tid and e["name"] == "barrier"]
        gaps = [p.cycle - end for p, end in zip(stats.prints, barrier_ends, strict=True)]
        assert len(gaps) == 3 and 0 < gaps[0] < 10 and gaps == pytest.approx([gaps[0]] * 3, abs=1e-3)
