"""Checkpoints inside a launch: saved at barriers, resumed in a new process with bit-identical results and
cycle counts (src/wafersim/runtime/resume.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc
from conftest import load_source
from wafersim.runtime.resume import resume_launch

KERNEL = textwrap.dedent('''
    import numpy as np
    import wafersim as ws

    @ws.jit
    def smooth(u, out, alpha, steps):
        x, y = ws.grid(2)
        c = u[y, x]
        for t in range(steps):
            if ws.has_neighbor(ws.NORTH):
                ws.send(ws.NORTH, c)
            if ws.has_neighbor(ws.SOUTH):
                ws.send(ws.SOUTH, c)
            above = ws.recv(ws.NORTH) if ws.has_neighbor(ws.NORTH) else c
            below = ws.recv(ws.SOUTH) if ws.has_neighbor(ws.SOUTH) else c
            c = c + alpha * (above + below - 2.0 * c)
            out[y, x] = out[y, x] + c       # a global load and store every step
            ws.syncthreads()
''')

RESUME = textwrap.dedent('''
    import sys
    import numpy as np
    from wafersim.runtime.resume import resume_launch

    dev, stats = resume_launch(sys.argv[1])
    out = dev.arrays()[sys.argv[3]].copy_to_host()  # arrays of a loaded device are named by address
    np.savez(sys.argv[2], out=out, cycles=stats.cycles, instructions=stats.instructions, busy=stats.busy,
             stall=stats.stall, link_words=stats.link_words, global_bytes=stats.global_bytes,
             history=len(dev.launches))
''')


@pytest.fixture
def kernels(tmp_path):
    return load_source(tmp_path, KERNEL)


def run(kernels, steps: int, **checkpoint):
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.random.default_rng(7).random((8, 8), dtype=np.float32)
    d_u, out = dev.to_device(u), dev.device_array(u.shape)
    launch = kernels.smooth[(2, 2), (4, 4)]
    args = (d_u, out, np.float32(0.1), steps)
    return dev, out, launch(*args, **checkpoint)


@pytest.mark.parametrize("steps, every", [(7, 3), (5, 2)])
def test_a_launch_resumed_in_a_new_process_matches_the_launch_run_through(kernels, tmp_path, steps, every):
    _, plain_out, plain = run(kernels, steps)
    path = tmp_path / "run.npz"
    dev, out, stats = run(kernels, steps, checkpoint_every=every, checkpoint=path)
    np.testing.assert_array_equal(out.copy_to_host(), plain_out.copy_to_host())
    assert stats.cycles == plain.cycles
    data = np.load(path)
    meta = json.loads(str(data["launch_checkpoint"][()]))
    assert meta["barriers"] == every * (steps // every)  # the last checkpoint replaced the earlier ones
    script = tmp_path / "resume.py"
    script.write_text(RESUME)
    result_path = tmp_path / "result.npz"
    done = subprocess.run([sys.executable, str(script), str(path), str(result_path), f"0x{out.address:x}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = np.load(result_path)
    np.testing.assert_array_equal(resumed["out"], plain_out.copy_to_host())
    assert int(resumed["cycles"]) == plain.cycles and int(resumed["instructions"]) == plain.instructions
    for name in ("busy", "stall", "link_words"):
        np.testing.assert_array_equal(resumed[name], getattr(plain, name))
    assert int(resumed["global_bytes"]) == plain.global_bytes
    assert int(resumed["history"]) == 1  # the loaded history (empty at the checkpoint) plus the resumed launch


def test_every_checkpoint_of_a_launch_in_waves_resumes_to_the_same_end(kernels, tmp_path, monkeypatch):
    from wafersim.runtime import resume as resume_module

    spec = ws.WaferSpec(width=8, height=4)  # two 4 x 4 slots: a 2 x 2 grid runs in two waves
    u = np.random.default_rng(2).random((8, 8), dtype=np.float32)

    def launch(**options):
        dev = ws.Device(spec)
        d_u, out = dev.to_device(u), dev.device_array(u.shape)
        stats = kernels.smooth[(2, 2), (4, 4)](d_u, out, np.float32(0.1), 4, **options)
        return out, stats

    plain_out, plain = launch()
    assert plain.waves == 2
    copies = []
    replace = resume_module.os.replace

    def keep_each(partial, path):  # every checkpoint, not only the last, to resume from each
        replace(partial, path)
        if "launch_checkpoint" in np.load(path).files:  # (not the device file it starts from)
            copies.append(tmp_path / f"copy{len(copies)}.npz")
            copies[-1].write_bytes(Path(path).read_bytes())

    monkeypatch.setattr(resume_module.os, "replace", keep_each)
    out, stats = launch(checkpoint_every=3, checkpoint=tmp_path / "run.npz")
    np.testing.assert_array_equal(out.copy_to_host(), plain_out.copy_to_host())
    waves = [json.loads(str(np.load(c)["launch_checkpoint"][()]))["wave"] for c in copies]
    assert waves == [0, 1]  # releases 3 (wave 0) and 6 (wave 1): each block releases once a step
    for copy in copies:
        dev, resumed = resume_launch(copy)
        result = dev.arrays()[f"0x{out.address:x}"].copy_to_host()
        np.testing.assert_array_equal(result, plain_out.copy_to_host())
        assert (resumed.cycles, resumed.instructions) == (plain.cycles, plain.instructions)
        for name in ("busy", "stall", "pe_instructions", "link_words"):
            np.testing.assert_array_equal(getattr(resumed, name), getattr(plain, name))


def test_launches_a_checkpoint_cannot_hold_are_refused_before_they_run(kernels, tmp_path):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    u = dev.to_device(np.zeros((8, 4), np.float32))
    args = (u, dev.device_array((8, 4)), np.float32(0.1), 2)
    path = tmp_path / "x.npz"
    with pytest.raises(ws.CheckpointError, match="traced .*launch it without tracing") as traced:
        kernels.smooth[(1, 1), (4, 4)](*args, checkpoint_every=1, checkpoint=path, trace=True)
    assert "race-checked" not in str(traced.value)  # (it said "traced or race-checked": which, and what to do)
    with pytest.raises(ws.CheckpointError, match="race-checked .*without racecheck"):
        kernels.smooth[(1, 1), (4, 4)](*args, checkpoint_every=1, checkpoint=path, racecheck=True)
    with pytest.raises(ws.CheckpointError, match="positive number of barriers"):
        kernels.smooth[(1, 1), (4, 4)](*args, checkpoint_every=0, checkpoint=path)
    with pytest.raises(ws.CheckpointError, match="needs checkpoint="):
        kernels.smooth[(1, 1), (4, 4)](*args, checkpoint_every=2)
    with pytest.raises(ws.CheckpointError, match="checkpoint= needs checkpoint_every="):  # (said: "got None")
        kernels.smooth[(1, 1), (4, 4)](*args, checkpoint=path)
    assert not (tmp_path / "x.npz").exists() and dev.launches == []


def test_resume_refuses_files_without_a_checkpoint_or_of_another_version(kernels, tmp_path):
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    dev.save(tmp_path / "plain.npz")
    with pytest.raises(ws.CheckpointError, match="without a launch checkpoint"):
        resume_launch(tmp_path / "plain.npz")
    path = tmp_path / "run.npz"
    run(kernels, 2, checkpoint_every=1, checkpoint=path)
    data = dict(np.load(path))
    meta = json.loads(str(data["launch_checkpoint"][()]))
    meta["version"] = 99
    data["launch_checkpoint"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(ws.CheckpointError, match="version 99"):
        resume_launch(tmp_path / "future.npz")
    with pytest.raises(ws.CheckpointError):
        resume_launch(tmp_path / "missing.npz")


def test_checkpoints_by_host_time_are_written_at_barriers_and_change_nothing(kernels, tmp_path):
    _, plain_out, plain = run(kernels, 4)
    path = tmp_path / "timed.npz"
    _, out, stats = run(kernels, 4, checkpoint_every="1e-9s", checkpoint=path)  # due at every release
    np.testing.assert_array_equal(out.copy_to_host(), plain_out.copy_to_host())
    assert stats.cycles == plain.cycles
    meta = json.loads(str(np.load(path)["launch_checkpoint"][()]))
    assert meta["barriers"] == 4  # the last release at which the whole wave was together
    with pytest.raises(ws.CheckpointError, match="'30 minutes'"):
        run(kernels, 1, checkpoint_every="30 minutes", checkpoint=path)
    with pytest.raises(ws.CheckpointError, match="positive number of seconds"):
        run(kernels, 1, checkpoint_every="-1s", checkpoint=path)


@ws.jit
def routed_steps(out, steps):
    x, y = ws.grid(2)
    total = 0.0
    for t in range(steps):
        if ws.threadIdx.x == 0:
            ws.send(ws.RAMP, 1.0 * (t + y), channel=1)  # a launch route: a row broadcast
        else:
            total += ws.recv(ws.RAMP, channel=1)
        total += wsc.block_all_reduce(1.0 * x, wsc.SUM, channel=2)  # declared routes (a block bus)
        ws.syncthreads()
    out[y, x] = total


def test_a_launch_with_routed_channels_resumes_to_the_same_end(tmp_path):
    def launch(**options):
        dev = ws.Device(ws.WaferSpec(width=8, height=8, channels=8))
        out = dev.device_array((4, 8))
        stats = routed_steps[(1, 1), (8, 4)](out, 5, routes=[ws.routes.row_broadcast(1)], **options)
        return dev, out, stats

    _, plain_out, plain = launch()
    path = tmp_path / "routed.npz"
    _, saved_out, _ = launch(checkpoint_every=2, checkpoint=path)
    device, resumed = resume_launch(path)
    assert resumed.cycles == plain.cycles and resumed.instructions == plain.instructions
    np.testing.assert_array_equal(device.arrays()[f"0x{saved_out.address:x}"].copy_to_host(),
                                  plain_out.copy_to_host())
    np.testing.assert_array_equal(resumed.link_words, plain.link_words)
    assert sorted(resumed.routed_link_words) == sorted(plain.routed_link_words)
    for channel, words in plain.routed_link_words.items():
        np.testing.assert_array_equal(resumed.routed_link_words[channel], words)
    # the values: every PE heard its row's root 5 times and took 5 block sums of the x indices
    y = np.arange(4)[:, None]
    expected = np.where(np.arange(8)[None, :] == 0, 0.0, sum(t + y for t in range(5))) + 5 * 4 * 28.0
    np.testing.assert_array_equal(plain_out.copy_to_host(), expected)


ASYNC_WORDS = 64  # four FIFOs' worth: the transfer's last word moves well after the barriers' release


@ws.jit
def waits_across_barriers(out):
    x = ws.threadIdx.x
    a = ws.local.array(ASYNC_WORDS, np.float32)
    for i in range(ASYNC_WORDS):
        a[i] = x * 100.0 + i
    if x == 0:
        ws.send_async(ws.EAST, a[0:ASYNC_WORDS])
    else:
        ws.recv_async(ws.WEST, out=a[0:ASYNC_WORDS])
    ws.syncthreads()  # checkpoints here, the transfer posted and not yet waited for
    ws.syncthreads()
    if x == 0:
        ws.send_wait(ws.EAST)
    else:
        ws.recv_wait(ws.WEST)
    out[x, 0:ASYNC_WORDS] = a[0:ASYNC_WORDS]


@pytest.mark.parametrize("every", [1, 2])
def test_a_launch_resumed_between_a_background_transfer_and_its_wait_keeps_its_cycles(tmp_path, every):
    """The wait after the checkpoint moves the PE's clock to the transfer's last word, as run through: the
    clocks of transfers in flight are part of the checkpoint (they were not, and the resumed launch ended
    earlier). The reference: the same launch run through, and the words of PE 0 at PE 1."""
    def launch(**options):
        dev = ws.Device(ws.WaferSpec(width=4, height=1))
        out = dev.device_array((2, ASYNC_WORDS))
        return out, waits_across_barriers[(1, 1), (2, 1)](out, **options)

    plain_out, plain = launch()
    path = tmp_path / "async.npz"
    saved_out, _ = launch(checkpoint_every=every, checkpoint=path)
    device, resumed = resume_launch(path)
    assert resumed.cycles == plain.cycles
    np.testing.assert_array_equal(resumed.busy + resumed.stall, plain.busy + plain.stall)
    sent = np.arange(ASYNC_WORDS, dtype=np.float32)  # PE 0's words
    np.testing.assert_array_equal(device.arrays()[f"0x{saved_out.address:x}"].copy_to_host(), np.stack([sent, sent]))


@pytest.mark.parametrize("keep", [True, "all"])
def test_a_resumed_launch_keeps_its_state_as_the_launch_run_through(kernels, tmp_path, keep):
    spec = ws.WaferSpec(width=8, height=4)  # two waves: the checkpoint (release 6) is in wave 1
    u = np.random.default_rng(3).random((8, 8), dtype=np.float32)

    def launch(**options):
        dev = ws.Device(spec)
        return kernels.smooth[(2, 2), (4, 4)](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 4,
                                              keep_state=keep, **options)

    plain = launch()
    path = tmp_path / "kept.npz"
    launch(checkpoint_every=6, checkpoint=path)
    _, resumed = resume_launch(path)
    assert resumed.state is not None  # was None: the checkpoint did not say the launch kept its state
    assert sorted(resumed.state.waves) == [1]  # the last wave's; with 'all', those from the checkpoint's on
    want, got = plain.state.waves[1], resumed.state.waves[1]
    for name in ("pcs", "regs", "sram", "cycle"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert resumed.state.locals((5, 6)) == plain.state.locals((5, 6))
    # a PE of wave 0 (launch coordinates (1, 1): block 0) is not in the file; the error says so, where it
    # told a launch made with keep_state='all' to pass keep_state='all'
    with pytest.raises(ws.LaunchError, match="resumed from a checkpoint taken in wave 1") as err:
        resumed.state.locals((1, 1))
    assert "keep_state='all' to keep" not in str(err.value)
    if keep is True:  # the launch run through kept only its last wave: that error still asks for 'all'
        with pytest.raises(ws.LaunchError, match="keep_state='all' to keep every wave"):
            plain.state.locals((1, 1))


def test_a_resumed_launch_runs_on_the_stream_it_was_launched_on(kernels, tmp_path):
    u = np.random.default_rng(3).random((8, 8), dtype=np.float32)

    def launch(**options):
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        s = dev.stream()
        d_u, out = dev.to_device(u, stream=s), dev.device_array(u.shape)
        stats = kernels.smooth[(2, 2), (4, 4), s](d_u, out, np.float32(0.1), 4, **options)
        return dev, stats

    plain_dev, plain = launch()
    launch(checkpoint_every=3, checkpoint=tmp_path / "run.npz")
    dev, resumed = resume_launch(tmp_path / "run.npz")
    copy_s = dev.spec.host_transfer_latency_s + u.nbytes / dev.spec.global_bytes_per_s
    assert resumed.start_cycle == plain.start_cycle == pytest.approx(copy_s * dev.spec.clock_hz, rel=1e-12)
    assert [(s.name, s.time, s.log) for s in dev.streams] == [(s.name, s.time, s.log) for s in plain_dev.streams]
    assert dev.streams[1].log[-1][0].startswith("launch") and dev.default_stream.log == []


def test_a_resumed_launch_still_waits_for_pes_another_streams_launch_held(kernels, tmp_path):
    """The checkpoint keeps until when each PE is held (`runtime.occupancy`): the resumed launch on a second
    stream starts when the first stream's launch on the same PEs ended, as the launch run through does."""
    u = np.random.default_rng(4).random((8, 8), dtype=np.float32)

    def launch(**options):
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        s1, s2 = dev.stream(), dev.stream()
        d_u, first_out, out = dev.to_device(u, stream=s1), dev.device_array(u.shape), dev.device_array(u.shape)
        first = kernels.smooth[(2, 2), (4, 4), s1](d_u, first_out, np.float32(0.1), 4)
        return first, kernels.smooth[(2, 2), (4, 4), s2](d_u, out, np.float32(0.1), 4, **options)

    first, plain = launch()
    launch(checkpoint_every=3, checkpoint=tmp_path / "run.npz")
    dev, resumed = resume_launch(tmp_path / "run.npz")
    # (the second launch's stream clock is 0: without the PEs' marks it would start there)
    assert resumed.start_cycle == plain.start_cycle == pytest.approx(first.start_cycle + first.cycles, rel=1e-12)
    assert dev.streams[2].time == pytest.approx(dev.spec.seconds(first.start_cycle + 2 * first.cycles), rel=1e-12)


def test_a_launch_stopped_by_max_cycles_resumes_with_a_larger_limit(kernels, tmp_path):
    """The checkpoint keeps the launch's max_cycles; resuming with the same stops again (the error's advice,
    a larger max_cycles, is `resume_launch`'s argument), with a larger one finishes with the results and
    cycles of the launch run through."""
    dev, out, whole = run(kernels, 8)
    path = tmp_path / "stopped.npz"
    with pytest.raises(ws.CycleLimitError) as stopped:
        run(kernels, 8, checkpoint_every=2, checkpoint=path, max_cycles=whole.cycles * 0.6)
    # one barrier a step, steps of about equal cycles: 60% of the way is in step 5, past releases 2 and 4
    first_line = str(stopped.value).splitlines()[0]
    assert f"its last checkpoint, {path} (written at barrier release 4)" in first_line
    assert f"ws.resume_launch({str(path)!r}, max_cycles=" in first_line
    with pytest.raises(ws.CycleLimitError) as again:
        resume_launch(path)
    assert "to the launch" not in str(again.value)  # (it said to pass the limit to the launch: here, to resume)
    assert f"resumed from {path}: pass it to ws.resume_launch({str(path)!r}, max_cycles=" in str(again.value)
    with pytest.raises(ws.CycleLimitError, match="no checkpoint was written"):  # stopped before release 2
        run(kernels, 8, checkpoint_every=2, checkpoint=tmp_path / "never.npz", max_cycles=whole.cycles * 0.1)
    assert not (tmp_path / "never.npz").exists()
    resumed_dev, stats = resume_launch(path, max_cycles=whole.cycles * 2)
    assert stats.cycles == whole.cycles
    np.testing.assert_array_equal(list(resumed_dev.arrays().values())[-1].copy_to_host(), out.copy_to_host())
    with pytest.raises(ws.LaunchError, match="max_cycles must be positive"):
        resume_launch(path, max_cycles=-1)
    with pytest.raises(ws.ArgumentTypeError, match="max_seconds"):
        resume_launch(path, max_seconds="1s")


def test_each_checkpoint_is_written_once_to_a_temporary_file_of_its_own(kernels, tmp_path, monkeypatch):
    """Checkpoints go through `Device.save`'s writer: a uniquely named temporary file in the same folder,
    renamed over the path (not a shared `<path>.partial` that two writers to one path would both use)."""
    path = tmp_path / "run.npz"
    real, written = np.savez_compressed, []

    def recording(file, **data):
        written.append((file.name, "launch_checkpoint" in data))
        real(file, **data)

    monkeypatch.setattr(np, "savez_compressed", recording)
    run(kernels, 4, checkpoint_every=2, checkpoint=path)
    monkeypatch.undo()
    names = [name for name, _ in written]
    assert len(written) == 2 and all(complete for _, complete in written)  # one whole write per checkpoint
    assert len(set(names)) == 2 and str(path) + ".partial" not in names
    assert all(Path(name).parent == tmp_path for name in names)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".py" and p.is_file()) == ["run.npz"]
    resume_launch(path)


@ws.jit
def wrong_port_before_a_barrier(out, never):
    x = ws.threadIdx.x
    if x == 0:
        ws.route(1, ws.RAMP, ws.EAST)
    if x == 1:
        ws.route(1, ws.NORTH, ws.RAMP)  # the wrong port: PE 1 runs a route that takes nothing from the west
    if never:
        ws.route(1, ws.WEST, ws.RAMP)  # (a rule from the west the kernel could set: one the hint would name)
    ws.syncthreads()  # (the checkpoint)
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)
    if x == 1:
        out[1] = ws.recv(ws.RAMP, channel=1)


def test_a_resumed_launch_knows_which_routers_ran_a_route_before_the_checkpoint(tmp_path):
    """A send that finds no rule at a router which ran a route of its channel is not a matter of order, so
    the RouteError gives no "set the rule before the send" hint (`_late_rule_hint`); which routers ran one
    was not in the checkpoint, so the resumed launch blamed the order of a rule PE 1 had set, wrongly."""
    def launch(**options):
        device = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
        with pytest.raises(ws.RouteError) as info:
            wrong_port_before_a_barrier[1, (2, 1)](device.to_device(np.zeros(2, np.float32)), 0, **options)
        return str(info.value)

    plain = launch()
    assert "whose route takes nothing from the west" in plain and "had not run" not in plain
    path = tmp_path / "route.npz"
    assert launch(checkpoint_every=1, checkpoint=path) == plain
    with pytest.raises(ws.RouteError) as info:
        resume_launch(path)
    assert str(info.value) == plain


STREAM_KERNEL = textwrap.dedent('''
    import numpy as np
    import wafersim as ws

    @ws.jit
    def relay(data, out, n: ws.constant, steps):
        x, y = ws.grid(2)
        buf = ws.local.array(n, np.float32)
        buf[0:n] = data[y, 0:n]
        for t in range(steps):
            if y == 0:
                ws.send(ws.SOUTH, buf[0:n], channel=1)
            elif y == 1:
                ws.add_stream(ws.NORTH, ws.SOUTH, buf[0:n], channel=1)
            else:
                ws.add_stream(ws.NORTH, None, buf[0:n], channel=1)
            ws.syncthreads()
        out[y, 0:n] = buf[0:n]
''')


def test_a_launch_checkpoint_written_before_stop_51_resumes_its_stream_ops_as_written(tmp_path):
    """Launch checkpoints of version 1 hold the program's code in the MSGX layout of before stop 51 (odir
    bits 23:19, flags bit 0); read the new way, `vaddx.f south, ...` became `vaddx.c north, ...` (another
    port, a chain's tag, int32). A version 1 checkpoint resumes with its stream ops moved to today's layout:
    NumPy's running sums down the column, as the launch run through gives."""
    from wafersim.isa import decode

    kernels = load_source(tmp_path, STREAM_KERNEL)
    n, steps = 5, 5  # the last checkpoint at the 4th barrier: a step of streams left
    data = np.random.default_rng(51).integers(-8, 8, (3, n)).astype(np.float32)  # exact sums
    want = data.copy()
    for _ in range(steps):
        want[1] += want[0]
        want[2] += want[1]

    def launch(**options):
        dev = ws.Device(ws.WaferSpec(width=1, height=3))
        out = dev.device_array((3, n), np.float32)
        stats = kernels.relay[(1, 1), (1, 3)](dev.to_device(data), out, n, steps, **options)
        return out, stats

    out, plain = launch()
    np.testing.assert_array_equal(out.copy_to_host(), want)
    path = tmp_path / "run.npz"
    launch(checkpoint_every=2, checkpoint=path)
    saved = dict(np.load(path))
    meta = json.loads(str(saved["launch_checkpoint"][()]))
    code = saved["ckpt_code"].astype(np.uint32)
    moved = 0
    for pc, instr in decode(code):
        if instr.opcode.fmt == "MSGX":  # written as before stop 51: odir[23:19] ... flags[0]
            word = int(code[pc])
            code[pc] = (word & 0xFF07FFFE) | (word >> 21 & 0x7) << 19 | (word >> 19 & 0x3)
            moved += 1
    assert moved == 2
    saved["ckpt_code"], meta["version"] = code, 1
    saved["launch_checkpoint"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **saved)
    dev, stats = resume_launch(tmp_path / "old.npz")
    np.testing.assert_array_equal(dev.arrays()[f"0x{out.address:x}"].copy_to_host(), want)
    assert stats.cycles == plain.cycles
