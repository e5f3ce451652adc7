"""The debugger: `ws.debug(kernel[grid, block], *args)` driven programmatically, and `wafersim debug script.py`
driven through its prompt (src/wafersim/runtime/debug.py, sim/debug_hooks.py, tools/debug_repl.py)."""
from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import wafersim as ws
from conftest import line_of
from wafersim.tools.cli import main as cli


@ws.jit
def smooth(u, out, alpha, steps):
    x, y = ws.grid(2)
    c = u[y, x]
    for t in range(steps):
        if ws.has_neighbor(ws.NORTH):
            ws.send(ws.NORTH, c)
        if ws.has_neighbor(ws.SOUTH):
            ws.send(ws.SOUTH, c)
        above = ws.recv(ws.NORTH) if ws.has_neighbor(ws.NORTH) else c  # MARK-recv
        below = ws.recv(ws.SOUTH) if ws.has_neighbor(ws.SOUTH) else c
        c = c + alpha * (above + below - 2.0 * c)  # MARK-update
        ws.syncthreads()  # MARK-bar
    out[y, x] = c


def reference(u: np.ndarray, alpha: float, steps: int) -> list[np.ndarray]:
    """The field after each step, in float32 as the PEs compute it (blocks 4 PEs tall: no exchange across)."""
    c, fields = u.astype(np.float32), []
    alpha = np.float32(alpha)
    for _ in range(steps):
        blocks = c.reshape(-1, 4, c.shape[1])
        above = np.concatenate([blocks[:, :1], blocks[:, :-1]], axis=1).reshape(c.shape)
        below = np.concatenate([blocks[:, 1:], blocks[:, -1:]], axis=1).reshape(c.shape)
        c = c + alpha * (above + below - np.float32(2.0) * c)
        fields.append(c)
    return fields


@pytest.fixture
def setup():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.random.default_rng(3).random((8, 8), dtype=np.float32)
    return dev, u, dev.to_device(u)


def test_breakpoints_stop_each_iteration_and_show_values_python_computes(setup):
    dev, u, d_u = setup
    plain_out = dev.device_array(u.shape)
    plain = smooth[(2, 2), (4, 4)](d_u, plain_out, np.float32(0.1), 3)
    fields = [u] + reference(u, 0.1, 3)
    out = dev.device_array(u.shape)
    update = line_of(smooth, "MARK-update")
    seen = []
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, out, np.float32(0.1), 3) as dbg:
        dbg.break_at(line=update, pe=(2, 1))
        while (stop := dbg.cont()).reason != "finished":
            assert stop.reason == "breakpoint" and stop.line == update and dbg.line((2, 1)) == update
            assert dbg.read_local("c", (2, 1)) == fields[len(seen)][1, 2]
            assert dbg.read_local("above", (2, 1)) == fields[len(seen)][0, 2]
            seen.append(int(dbg.read_local("t", (2, 1))) if "t" in dbg.locals((2, 1)) else len(seen))
    assert seen == [0, 1, 2]
    np.testing.assert_array_equal(out.copy_to_host(), plain_out.copy_to_host())
    np.testing.assert_allclose(out.copy_to_host(), fields[-1], rtol=1e-6)
    assert dbg.stats.cycles == plain.cycles and dbg.stats.instructions == plain.instructions


def test_where_step_and_fifo_contents(setup):
    dev, u, d_u = setup
    recv_line = line_of(smooth, "MARK-recv")
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, dev.device_array(u.shape), np.float32(0.1), 2) as dbg:
        dbg.break_at(line=recv_line)
        stop = dbg.cont()
        assert stop.line == recv_line
        where = dbg.where()
        assert sum(len(pes) for pes in where.values()) == 64
        assert set(stop.pes) <= set(where[recv_line])
        # PE (5, 2) has neighbours north and south in its block: both sent c before anyone received
        north = dbg.fifo((5, 2), ws.NORTH)
        south = dbg.fifo((5, 2), "south")
        assert north.floats.tolist() == [u[1, 5]] and south.floats.tolist() == [u[3, 5]]
        assert len(dbg.fifo((5, 0), ws.NORTH)) == 0  # the top of a block: nothing comes from the north
        assert len(dbg.fifo((5, 2), ws.EAST)) == 0  # the kernel never uses it
        dbg.clear()
        stop = dbg.step(pe=(5, 2))  # the next line PE (5, 2) starts: the second receive
        assert stop.reason == "step" and stop.line == recv_line + 1 and dbg.line((5, 2)) == recv_line + 1
        assert dbg.read_local("above", (5, 2)) == u[1, 5]


def test_step_barrier_stops_once_per_release(setup):
    dev, u, d_u = setup
    releases = []
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, dev.device_array(u.shape), np.float32(0.1), 4) as dbg:
        while (stop := dbg.step_barrier()).reason == "barrier":
            releases.append(stop.barriers)
            # every PE was at the barrier, the body's last line: next is the for line's step and test
            assert dbg.where().keys() == {line_of(smooth, "for t in range(steps)")}
    assert releases == [1, 2, 3, 4]  # the four blocks run in lockstep: one release per step


def test_leaving_the_block_with_an_error_abandons_the_launch_and_keeps_memory(setup):
    dev, u, d_u = setup
    out = dev.to_device(np.full(u.shape, 7.0, np.float32))
    launches = len(dev.launches)
    with pytest.raises(RuntimeError, match="user stops here"):
        with ws.debug(smooth[(2, 2), (4, 4)], d_u, out, np.float32(0.1), 2) as dbg:
            dbg.break_at(line=line_of(smooth, "MARK-bar"))
            dbg.cont()
            raise RuntimeError("user stops here")
    assert (out.copy_to_host() == 7.0).all() and len(dev.launches) == launches
    with pytest.raises(ws.ArgumentError, match="finished"):
        dbg.cont()


def test_leaving_the_block_runs_the_launch_to_its_end(setup):
    dev, u, d_u = setup
    out = dev.device_array(u.shape)
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, out, np.float32(0.1), 2) as dbg:
        dbg.break_at(line=line_of(smooth, "MARK-update"))
        dbg.cont()
    np.testing.assert_allclose(out.copy_to_host(), reference(u, 0.1, 2)[-1], rtol=1e-6)
    assert dbg.stats is not None and dev.last_launch is dbg.stats


def run_with_timeout(command, seconds: float = 60.0) -> BaseException | str:
    """The error `command()` raised in a thread of its own, or a string saying it returned or still waits."""
    outcome: list = []

    def run():
        try:
            command()
            outcome.append("returned")
        except BaseException as error:  # noqa: BLE001 -- the test looks at it
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else f"still waiting after {seconds} s"


def test_commands_on_the_device_at_a_stop_are_refused_not_left_waiting_forever(setup):
    # The stopped launch's thread holds the device's lock: `out.copy_to_host()` at a breakpoint waited for it
    # forever (and the launch for the caller's next command), a hang with no message.
    dev, u, d_u = setup
    out = dev.device_array(u.shape)
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, out, np.float32(0.1), 2) as dbg:
        dbg.break_at(line=line_of(smooth, "MARK-update"))
        assert dbg.cont().reason == "breakpoint"
        for command in (out.copy_to_host, lambda: dev.to_device(u), dev.synchronize, lambda: dev.event().record(),
                        lambda: smooth[(2, 2), (4, 4)](d_u, out, np.float32(0.1), 2)):
            error = run_with_timeout(command)  # (in a thread: a regression fails the test rather than hanging it)
            assert isinstance(error, ws.LaunchError) and error.launch == "smooth", error
            assert "stopped under the debugger" in str(error) and "after the `with ws.debug" in str(error)
        # another device is free, and the launch goes on as before
        assert other.to_device(np.arange(3, dtype=np.float32)).copy_to_host().tolist() == [0.0, 1.0, 2.0]
        dbg.clear()
        assert dbg.cont().reason == "finished"
        np.testing.assert_allclose(out.copy_to_host(), reference(u, 0.1, 2)[-1], rtol=1e-6)  # (finished: free)
    assert dev.lock.stopped_launch is None and dev.last_launch is dbg.stats
    assert dev.to_device(u).copy_to_host().tolist() == u.tolist()


def test_bad_breakpoints_are_errors(setup):
    dev, u, d_u = setup
    with ws.debug(smooth[(2, 2), (4, 4)], d_u, dev.device_array(u.shape), np.float32(0.1), 1) as dbg:
        dbg.break_at(line=1)  # a line of this file without kernel code: refused when the launch starts
        with pytest.raises(ws.ArgumentError, match="line 1 has no code in smooth; lines with code: "):
            dbg.cont()
    with pytest.raises(ws.ArgumentError, match="not stopped"):
        ws.debug(smooth[(1, 1), (4, 4)], d_u, dev.device_array(u.shape), np.float32(0.1), 1).locals((0, 0))
    # (user54: the error of a debugger used wrongly can be caught by its public name, as api.md lists it)
    with pytest.raises(ws.DebuggerError, match="not stopped") as caught:
        ws.debug(smooth[(1, 1), (4, 4)], d_u, dev.device_array(u.shape), np.float32(0.1), 1).locals((0, 0))
    assert isinstance(caught.value, ws.ArgumentError) and isinstance(caught.value, ws.WaferError)
    with pytest.raises(ws.LaunchError, match="configured kernel"):
        ws.debug(smooth, d_u)


def test_the_cli_prompt_stops_shows_and_runs_on(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import wafersim as ws

        @ws.jit
        def double(u, out):
            x, y = ws.grid(2)
            v = u[y, x] * 2.0
            w = v + x
            out[y, x] = w

        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        u = np.arange(16, dtype=np.float32).reshape(4, 4)
        out = dev.device_array(u.shape)
        double[(1, 1), (4, 4)](dev.to_device(u), out)
        assert (out.copy_to_host() == u * 2 + np.arange(4)).all()
    '''))
    commands = "break 10 1 2\nlocals 1 2\ncont\nlocals 1 2\nprint v 1 2\nwhere\nprint w 1 2\nfifo 1 2 north\nhelp\ncont\n"
    result = CliRunner().invoke(cli, ["debug", str(script)], input=commands)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "launch 1: double grid (1, 1) block (4, 4)" in text
    assert "breakpoint at line 10 for PE (1, 2)" in text
    assert "error: the launch is not stopped" in text  # locals before it runs
    # line 10 is `out[y, x] = w`: u[2, 1] = 9, so w = 9 * 2 + 1; v is dead there
    assert "breakpoint at line 10 (pc" in text and f"w = {np.float32(19.0)}" in text
    assert "error: 'v' holds no value" in text
    assert "line 10: 16 PEs" in text and "  0 words\n" in text  # (its own line: was run into the prompt)
    assert "stop when a PE" in text  # help
    assert "double" in text.splitlines()[-1]  # the launch table at the end


def test_the_cli_prompt_answers_a_mistyped_command_with_its_usage(tmp_path):
    """`break abc` answered "invalid literal for int() with base 10: 'abc'", `fifo 0 0` "list index out of
    range", and `locals` before the launch ran said to "call cont(), step() or step_barrier()", the Python
    API's names: each now says what the command takes, as docs/debugging.md lists the commands."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import wafersim as ws

        @ws.jit
        def double(out):
            x, y = ws.grid(2)
            out[y, x] = x * 2

        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        out = dev.device_array((2, 2), np.int32)
        double[(1, 1), (2, 2)](out)
        assert out.copy_to_host().tolist() == [[0, 2], [0, 2]]
    '''))
    documented = (Path(__file__).parents[1] / "docs" / "debugging.md").read_text()
    commands = "break abc\nlocals 1 x\nfifo 0 0\nsram a\np v\nlocals 0 0\ncont\n"
    result = CliRunner().invoke(cli, ["debug", str(script)], input=commands)
    assert result.exit_code == 0, result.output
    errors = [line.split("error: ", 1)[1] for line in result.output.splitlines() if "error: " in line]
    usages = {"break LINE [X Y]": "LINE, X, Y", "locals X Y": "X, Y", "fifo X Y DIR [CH]": "X, Y, CH",
              "sram X Y [START [COUNT]]": "X, Y, START, COUNT", "print NAME X Y": "X, Y"}
    for error, (usage, numbers) in zip(errors, usages.items()):
        assert f"`{usage}`" in documented  # the syntax the guide gives
        assert error.endswith(f": usage: {usage} ({numbers}: integers)"), error
    assert errors[-1] == "the launch is not stopped: type cont, step or barrier first"
    assert len(errors) == 6 and "int()" not in result.output and "index out of range" not in result.output


def test_the_cli_refuses_a_bad_breakpoint_line(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("print('no launches')\n")
    result = CliRunner().invoke(cli, ["debug", str(script), "--break", "x"])
    assert result.exit_code != 0


def test_an_error_of_the_launch_is_raised_by_the_call_that_ran_into_it(setup):
    dev, u, d_u = setup

    @ws.jit
    def reads_past(u, n):
        x, y = ws.grid(2)
        k = x * 10 + y
        v = u[y, x + n]  # MARK-oob
        u[y, x] = v + k

    with ws.debug(reads_past[(1, 1), (4, 4)], d_u, 6) as dbg:
        with pytest.raises(ws.MemoryAccessError) as caught:
            dbg.cont()
    state = caught.value.state
    assert state.line((2, 3))[1] == line_of(reads_past, "MARK-oob") and state.read_local("k", (2, 3)) == 23
    assert (d_u.copy_to_host() == u).all()  # the failed launch stored nothing


def test_a_breakpoint_for_one_pe_stops_only_in_that_pes_wave():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))  # one 4 x 4 block at a time: four waves

    @ws.jit
    def scaled(out, a):
        x, y = ws.grid(2)
        v = a * (x + 10 * y)
        out[y, x] = v  # MARK-store

    out = dev.device_array((4, 16), np.int32)
    stops = []
    with ws.debug(scaled[(4, 1), (4, 4)], out, 3) as dbg:
        dbg.break_at(line=line_of(scaled, "MARK-store"), pe=(9, 2))
        while dbg.cont().reason != "finished":
            stops.append((dbg.read_local("v", (9, 2)), sorted(dbg.where())))
            with pytest.raises(ws.LaunchError, match="wave 0 of 4"):
                dbg.locals((1, 1))  # a PE of a wave that has run: the debugger holds the current wave
    assert stops == [(3 * (9 + 20), [line_of(scaled, "MARK-store")])]
    assert dbg.stats.waves == 4


def test_the_cli_prompt_opens_on_a_failed_launch(tmp_path):
    """A launch that fails under `wafersim debug`: the prompt shows its PEs as the error left them (it
    printed the error and ended), then the error ends the run."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import wafersim as ws

        @ws.jit
        def gather(u, out):
            x, y = ws.grid(2)
            i = x * 10 + y
            out[y, x] = u[0, i]

        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        u = np.zeros((1, 16), np.float32)
        gather[(1, 1), (4, 4)](dev.to_device(u), dev.device_array((4, 4)))
    '''))
    result = CliRunner().invoke(cli, ["debug", str(script)], input="cont\nwhere\nprint i 2 0\ncont\n")
    text = result.output
    assert result.exit_code != 0 and "launch failed: MemoryAccessError" in text, text
    assert "line 9:" in text and "i = 20" in text  # PE (2, 0) reads u[0, 20]: out of range, at line 9
    assert "Error: MemoryAccessError" in text.splitlines()[-1]  # then the error ends the run


def test_the_cli_opens_no_post_mortem_for_an_error_the_script_catches(tmp_path):
    """As pdb's post-mortem: the script handles an error it catches and goes on (docs/debugging.md); the table
    lists that launch as failed."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        import wafersim as ws

        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        try:
            dev.launch(ws.assemble(".name edge\\nsend east, 0, r0"), 1, (4, 1))
        except ws.MeshBoundaryError as err:
            print("caught, state kept:", err.state is not None)
    '''))
    result = CliRunner().invoke(cli, ["debug", str(script)], input="cont\n")
    text = result.output
    assert result.exit_code == 0 and "launch failed" not in text, text
    assert "caught, state kept: True" in text and "launch 1 (edge) failed, and the script caught the error" in text


@ws.jit
def guarded_axpy(a, x, y, out):
    i = ws.grid(1)
    if i < x.size:  # the grid is larger than the data
        out[i] = a * x[i] + y[i]  # MARK-body


def test_a_breakpoint_stops_only_pes_that_reach_its_line_not_the_kernels_end():
    # PEs past the data never run the body: the halt that ends the kernel is no code of its line
    # (it was credited to the last line, so all 16 PEs stopped "at line 8" as they halted).
    dev = ws.Device(ws.WaferSpec(width=16, height=1))
    x = np.arange(10, dtype=np.float32)
    d_x, out = dev.to_device(x), dev.device_array(10)
    body = line_of(guarded_axpy, "MARK-body")
    stops = []
    with ws.debug(guarded_axpy[(1, 1), (16, 1)], np.float32(2.0), d_x, d_x, out) as dbg:
        dbg.break_at(line=body)
        while (stop := dbg.cont()).reason != "finished":
            stops.append((stop.line, stop.count))
            where = dbg.where()
            assert sorted(where[body]) == [(i, 0) for i in range(10)]
            assert all(dbg.line((i, 0)) is None for i in range(10, 16))  # finishing: at no line
    assert stops == [(body, 10)]
    np.testing.assert_array_equal(out.copy_to_host(), 3 * x)
    program = guarded_axpy.compile_for(np.float32(2.0), d_x, d_x, out).program
    end = len(program.code) - 1
    assert program.instructions()[-1][1].op == "halt" and program.source_of(end) is None
    assert program.describe_pc(end) == "pc %d (halt) at the end of guarded_axpy" % end  # what errors there say


LOOP_SOURCE = """.name triangle
.sram 4
.args 1
    arg r10, 0
    sreg r1, tid.x
    li r3, 0
    li r4, 0
loop:
    add r3, r3, r4          # line 9: r3 = 0 + 1 + ... + r4
    addi r4, r4, 1
    st r3, r0, 2
    slt r5, r4, r1
    bnz r5, loop
    shli r6, r1, 2
    add r6, r6, r10
    gst r3, r6, 0
    halt
"""


def test_registers_and_sram_of_an_assembled_program_at_each_stop():
    """Under the debugger an assembled program is read by register and SRAM word: at each stop at line 9
    of PE 3's loop, r4 is the trip and r3 the sum of the earlier trips, as Python counts them; stopping
    changes neither the results nor the cycles."""
    program = ws.assemble(LOOP_SOURCE)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    plain_out = dev.device_array(4, np.int32)
    plain = ws.Kernel(program)[1, 4](plain_out)
    out = dev.device_array(4, np.int32)
    with ws.debug(ws.Kernel(program)[1, 4], out) as dbg:
        dbg.break_at(line=9, pe=(3, 0))
        for trip in range(3):
            stop = dbg.cont()
            assert stop.reason == "breakpoint" and stop.line == 9
            regs = dbg.registers((3, 0))
            assert (regs[1], regs[3], regs[4]) == (3, sum(range(trip)), trip)
            assert dbg.sram((3, 0), 2, 1)[0] == sum(range(trip))  # stored at the end of the previous trip
            assert dbg.locals((3, 0)) == {}
        assert dbg.cont().reason == "finished"
    expected = [sum(range(max(n, 1))) for n in range(4)]  # a PE runs its loop max(tid.x, 1) times
    assert out.copy_to_host().tolist() == plain_out.copy_to_host().tolist() == expected
    assert dbg.stats.cycles == plain.cycles and dbg.stats.instructions == plain.instructions


def test_the_cli_prompt_shows_registers_and_sram_of_an_assembled_program(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import numpy as np\nimport wafersim as ws\n"
                      f"program = ws.assemble({LOOP_SOURCE!r})\n"
                      "dev = ws.Device(ws.WaferSpec(width=8, height=8))\n"
                      "ws.Kernel(program)[1, 4](dev.device_array(4, np.int32))\n")
    commands = "break 9 3 0\ncont\ncont\nregs 3 0\nsram 3 0\nsram 3 0 2 1\nlocals 3 0\nsram 3 0 3 2\nquit\n"
    result = CliRunner().invoke(cli, ["debug", str(script)], input=commands)
    assert result.exit_code == 0, result.output
    text = result.output
    # the second stop: r3 = 0 + 0 (the first trip's sum), r4 = 1, and sram[2] = 0
    assert "r1  =           3 (4.2039e-45)" in text and "r4  =           1 (1.4013e-45)" in text
    assert "  [0 0 0 0]\n" in text and "  [0]\n" in text
    assert "(no variables: triangle has no symbol table" in text
    assert "error: sram: words [3, 3 + 2) are outside" in text


@ws.jit
def tagged(out, k):
    x, y = ws.grid(2)
    marker = x * 100 + y + k
    hist = ws.local.array(3, np.int32)
    hist[0] = marker
    hist[1] = ws.blockIdx.x
    hist[2] = ws.blockIdx.y
    v = 0
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, marker)
    if ws.has_neighbor(ws.WEST):
        v = ws.recv(ws.WEST, dtype=np.int32)
    ws.syncthreads()  # MARK-bar
    out[y, x] = marker * 1000 + v


def test_launch_coordinates_name_the_right_pes_on_a_defective_wafer_in_waves():
    """(user54) Dead PEs the spares cannot cover shrink the usable rectangle (11 x 6 of 12 x 6), so a grid of
    4 x 3 blocks of 3 x 2 runs in two waves on repaired sites: keep_state='all', and the debugger at a stop
    in the second wave, read each PE by its launch coordinates, as plain Python computes its values."""
    bx, by, gx, gy = 3, 2, 4, 3
    width, height = bx * gx, by * gy
    spec = ws.WaferSpec(width=width, height=height, spare_cols=1,
                        defects=[(0, 0), (1, 0), (4, 3), (5, 3), (8, 5), (9, 5)])
    assert spec.usable_rectangle == (11, 6)
    dev = ws.Device(spec)
    out = dev.device_array((height, width), np.int32)

    def marker(x, y):
        return x * 100 + y + 7

    def from_west(x, y):
        return marker(x - 1, y) if x % bx else 0

    stats = tagged[(gx, gy), (bx, by)](out, 7, keep_state="all")
    assert stats.waves == 2
    assert out.copy_to_host().tolist() == [[marker(x, y) * 1000 + from_west(x, y) for x in range(width)]
                                           for y in range(height)]
    for x in range(width):
        for y in range(height):
            assert stats.state.read_local("hist", (x, y)).tolist() == [marker(x, y), x // bx, y // by]
    with ws.debug(tagged[(gx, gy), (bx, by)], out, 7) as dbg:
        dbg.break_at(line=line_of(tagged, "MARK-bar"), pe=(11, 5))  # the last block: the second wave
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and (11, 5) in dbg.where()[stop.line]
        for pe in dbg.where()[stop.line]:
            assert dbg.read_local("marker", pe) == marker(*pe) and dbg.read_local("v", pe) == from_west(*pe)
    assert dbg.stats.cycles == stats.cycles
