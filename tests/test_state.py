"""Variables by source name: the compiler's symbol table, `keep_state=True`, and `err.state` of a failed launch
(src/wafersim/runtime/state.py, src/wafersim/compiler/debuginfo.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of


@ws.jit
def accumulate(u, out, steps):
    x, y = ws.grid(2)
    c = u[y, x]
    history = ws.local.array(4, dtype=np.int32)
    scale = ws.local.array((2, 3), dtype=np.float32)
    total = 0
    for t in range(steps):
        history[t % 4] = t * 10 + x
        total += x + y * t
    for i in range(2):
        for j in range(3):
            scale[i, j] = c * (i * 3 + j)
    out[y, x] = c + total


@ws.jit
def fails_east(u, n):
    x, y = ws.grid(2)
    v = 0.0
    marker = x * 3 + y * 100
    if x == 3:
        v = u[y, x + n]  # MARK-oob
    u[y, x] = v + marker


def small_device(**fields) -> ws.Device:
    return ws.Device(ws.WaferSpec(width=8, height=8, **fields))


def test_local_arrays_of_every_pe_after_a_launch_match_python():
    dev = small_device()
    u = np.arange(64, dtype=np.float32).reshape(8, 8) / 7
    out = dev.device_array((8, 8))
    stats = accumulate[(2, 2), (4, 4)](dev.to_device(u), out, 6, keep_state=True)
    state = stats.state
    for x, y in [(0, 0), (5, 2), (7, 7), (3, 6)]:
        history = [0] * 4
        for t in range(6):
            history[t % 4] = t * 10 + x
        np.testing.assert_array_equal(state.read_local("history", (x, y)), np.array(history, np.int32))
        scale = state.read_local("scale", (x, y))
        assert scale.dtype == np.float32 and scale.shape == (2, 3)
        np.testing.assert_array_equal(scale, np.float32(u[y, x]) * np.arange(6, dtype=np.float32).reshape(2, 3))
        assert state.pc((x, y)) is None and state.line((x, y)) is None  # halted
        assert set(state.locals((x, y))) == {"history", "scale"}  # scalars are dead once a PE halts
    assert list(state.where()) == [None]
    with pytest.raises(ws.VariableUnavailableError, match="halted"):
        state.read_local("total", (1, 1))
    with pytest.raises(ws.VariableUnavailableError, match="no variable or local array 'nope'"):
        state.read_local("nope", (1, 1))
    with pytest.raises(ws.VariableUnavailableError, match=r"no variable or local array 'histroy' .*\); did you "
                                                          r"mean 'history'\?$"):
        state.read_local("histroy", (1, 1))


@ws.jit
def copied_then_dead(v, out):
    x = ws.grid(1)
    mine = v[x]
    acc = mine  # `mine` is never read again: the optimiser keeps its value only as `acc`
    if ws.has_neighbor(ws.WEST):
        acc += 1.0
    ws.syncthreads()
    out[x] = acc  # MARK-after-copy


def test_a_variable_never_read_after_a_copy_is_said_to_be_not_kept_not_to_be_missing():
    """It said "has no variable or local array 'mine' with storage (... names bound to compile-time constants
    have none)", as if the kernel had no `mine`: it has, but nothing reads it after `acc = mine`."""
    dev = small_device()
    v = np.arange(4, dtype=np.float32)
    out = dev.device_array(4)
    with ws.debug(copied_then_dead[1, 4], dev.to_device(v), out) as dbg:
        dbg.break_at(line=line_of(copied_then_dead, "MARK-after-copy"), pe=(2, 0))
        assert dbg.cont().reason == "breakpoint"
        assert dbg.read_local("acc", (2, 0)) == v[2] + 1
        with pytest.raises(ws.VariableUnavailableError,
                           match=r"'mine' with storage at any point .*: a variable is kept only where the program "
                                 r"reads it again, .* \(or only through a copy, `b = mine`\)"):
            dbg.read_local("mine", (2, 0))
    assert np.array_equal(out.copy_to_host(), v + (np.arange(4) > 0))


def test_a_failed_launch_carries_every_pe_where_it_stopped_with_its_live_variables():
    dev = small_device()
    u = dev.to_device(np.zeros((8, 8), np.float32))
    with pytest.raises(ws.MemoryAccessError) as caught:
        fails_east[(2, 2), (4, 4)](u, 100)
    state = caught.value.state
    bad_line = line_of(fails_east, "MARK-oob")
    where = state.where()
    assert sorted(where[bad_line]) == sorted((3, y) for y in range(8))
    assert sum(len(pes) for pes in where.values()) == 64
    for y in (0, 5):
        assert state.line((3, y))[1] == bad_line
        values = state.locals((3, y))
        assert values["x"] == 3 and values["y"] == y and values["marker"] == 3 * 3 + y * 100
        assert values["x"].dtype == np.int32
        assert "n" not in values  # its last use (x + n) is behind the failing bounds check: no value claimed
        assert state.read_local("u", (3, y)) == u.address  # a global array argument: its device address
    # A PE of the other branch: where the engine had run it to depends on the order it ran groups in (the
    # NumPy path stops it before its store, the compiled path may have run it to its end), as docs say.
    if state.line((6, 2)) is None:  # halted: its store is undone with the launch's
        assert state.pc((6, 2)) is None
    else:
        assert state.read_local("marker", (6, 2)) == 6 * 3 + 200


def test_spilled_variables_are_read_from_their_slots():
    @ws.jit
    def many(out, a0):
        x, y = ws.grid(2)
        v0, v1, v2, v3, v4, v5, v6, v7 = a0 + x, a0 * 2 + y, a0 + 3, x * y, x - y, y * 7, x + 9, a0 * x
        s = v0 * 1 + v1 * 2 + v2 * 3 + v3 * 4
        r = ws.recv(ws.NORTH, dtype=np.int32) if y == 99 else 0  # MARK-stop (never receives: y < 8)
        out[y, x] = s + v4 * 5 + v5 * 6 + v6 * 7 + v7 * 8 + r + v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7

    dev = small_device(registers=12)
    stats = many[(1, 1), (4, 4)](dev.device_array((4, 4), np.int32), 5, keep_state=True)
    program = stats.state.program
    assert any(sym.storage == "spill" for sym in program.symbols), "the test needs spilled variables"
    line = line_of(many, "MARK-stop")
    with ws.debug(many[(1, 1), (4, 4)], dev.device_array((4, 4), np.int32), 5) as dbg:
        dbg.break_at(line=line, pe=(2, 3))
        dbg.cont()
        values = dbg.locals((2, 3))
    a0, x, y = 5, 2, 3
    expected = {"v0": a0 + x, "v1": a0 * 2 + y, "v2": a0 + 3, "v3": x * y, "v4": x - y, "v5": y * 7, "v6": x + 9,
                "v7": a0 * x}
    assert {k: int(values[k]) for k in expected if k in values} == expected
    assert set(expected) <= set(values)


def test_keep_state_keeps_the_last_wave_or_every_wave_when_asked():
    dev = small_device()
    u = np.arange(32 * 8, dtype=np.float32).reshape(8, 32)
    d_u, out = dev.to_device(u), dev.device_array((8, 32))
    last = accumulate[(4, 1), (8, 8)](d_u, out, 3, keep_state=True)  # one block per wave: 4 waves
    every = accumulate[(4, 1), (8, 8)](d_u, out, 3, keep_state="all")
    assert last.waves == 4 and sorted(last.state.waves) == [3] and sorted(every.state.waves) == [0, 1, 2, 3]
    assert every.state.nbytes == 4 * last.state.nbytes
    with pytest.raises(ws.LaunchError, match="keep_state='all'"):
        last.state.read_local("history", (1, 1))
    for x in (1, 9, 30):
        expected = np.array([0 * 10 + x, 1 * 10 + x, 2 * 10 + x, 0], np.int32)
        np.testing.assert_array_equal(every.state.read_local("history", (x, 5)), expected)
    assert accumulate[(4, 1), (8, 8)](d_u, out, 3).state is None
    from wafersim.sim.engine import Launch

    plan = Launch(every.state.program, dev.spec, (4, 1), (8, 8), [d_u.address, 8, 32, out.address, 8, 32, 3],
                  dev.memory, keep_state="all").host_memory()
    assert plan["kept state"] >= every.state.nbytes - last.state.nbytes  # refused up front if it cannot fit


@pytest.mark.parametrize("value", ["last", 1, None])
def test_keep_state_must_be_true_false_or_all(value):
    dev = small_device()
    with pytest.raises(ws.ArgumentTypeError, match="keep_state"):
        accumulate[(1, 1), (2, 2)](dev.device_array((2, 2)), dev.device_array((2, 2)), 1, keep_state=value)


def test_pe_outside_the_launch_is_an_error_naming_the_size():
    dev = small_device()
    stats = accumulate[(1, 1), (2, 2)](dev.device_array((2, 2)), dev.device_array((2, 2)), 1, keep_state=True)
    with pytest.raises(ws.LaunchError, match=r"outside the launch: 2 x 2 PEs"):
        stats.state.locals((2, 0))
    with pytest.raises(ws.LaunchError, match="pair of ints"):
        stats.state.locals(3)


def test_variables_named_like_the_compilers_temporaries_are_the_users():
    @ws.jit
    def names(out, n):
        x, y = ws.grid(2)
        value = stop = x * 5 + y
        acc = 0
        for i in range(n):
            acc += i * 3 + value  # MARK-loop
            stop += 1
        out[y, x] = acc + stop

    dev = small_device()
    seen = []
    with ws.debug(names[(1, 1), (2, 2)], dev.device_array((2, 2), np.int32), 4) as dbg:
        dbg.break_at(line=line_of(names, "MARK-loop"), pe=(1, 1))
        while dbg.cont().reason != "finished":
            seen.append({k: int(v) for k, v in dbg.locals((1, 1)).items() if k in ("acc", "value", "stop", "i")})
    value = 1 * 5 + 1
    expected_acc = [sum(k * 3 + value for k in range(j)) for j in range(4)]
    assert [s["acc"] for s in seen] == expected_acc
    assert [s["stop"] for s in seen] == [value + j for j in range(4)]  # the user's stop, not the loop's bound
    # value and i may be optimised into one induction register (i * 3 + value): then they are not listed
    assert all(s.get("value", value) == value and s.get("i", j) == j for j, s in enumerate(seen))


@ws.jit
def fails_at(v, fx, fy):
    x, y = ws.grid(2)
    mine = x * 100 + y
    if x == fx and y == fy:
        w = v[100]  # out of bounds: the failing PE, with `mine` live (used below)
        v[0] = w + mine


@ws.jit
def waits_at(v, fx, fy):
    x, y = ws.grid(2)
    if x == fx and y == fy:
        v[0] = ws.recv(ws.WEST)  # nobody sends: a deadlock on this PE alone


@pytest.mark.parametrize("width", [8, 16])  # one slot (three waves), four slots (block (2, 0) at wafer (0, 8))
@pytest.mark.parametrize("fx, fy", [(19, 1), (11, 6), (2, 3)])
def test_errors_name_the_global_pe_that_err_state_reads(width, fx, fy):
    dev = small_device() if width == 8 else ws.Device(ws.WaferSpec(width=16, height=16))
    with pytest.raises(ws.MemoryAccessError) as info:
        fails_at[(3, 1), (8, 8)](dev.device_array(4), fx, fy)
    err = info.value
    assert err.pe == (fx, fy) and err.pes == [(fx, fy)]  # ws.grid(2) of the failing PE
    assert err.block_index == (fx // 8, fy // 8)
    assert f"PE ({fx}, {fy})" in str(err)
    assert err.state.locals(err.pe)["mine"] == fx * 100 + fy
    with pytest.raises(ws.DeadlockError) as info:
        waits_at[(3, 1), (8, 8)](dev.device_array(4), fx, fy)
    err = info.value
    assert err.pe == (fx, fy) and [b["pe"] for b in err.blocked] == [(fx, fy)]
    assert f"block ({fx // 8}, {fy // 8})" in str(err)


REGISTERS_SOURCE = """
.name regs
.sram 8
    sreg r1, tid.x
    sreg r2, tid.y
    muli r5, r1, 7
    sub r5, r5, r2          # r5 = 7 x - y
    itof r6, r1
    li r7, 0.5
    fmul r6, r6, r7         # r6 = float32(x) * 0.5
    st r5, r2, 0            # sram[y] = 7 x - y
    st r6, r0, 7            # sram[7] = r6's bits
    halt
"""


def test_registers_and_sram_of_an_assembled_program_match_python():
    """An assembled program has no symbol table: `registers` and `sram` read each PE's raw state."""
    program = ws.assemble(REGISTERS_SOURCE)
    stats = ws.Kernel(program)[(2, 1), (3, 4)](keep_state=True)
    state = stats.state
    for x in range(6):
        for y in range(4):
            tx = x % 3  # tid.x: the block is 3 PEs wide
            regs = state.registers((x, y))
            assert regs.dtype == np.int32 and regs[0] == 0
            assert (regs[1], regs[2], regs[5]) == (tx, y, 7 * tx - y)
            assert regs[6:7].view(np.float32)[0] == np.float32(tx) * np.float32(0.5)
            expected = np.zeros(8, np.int32)
            expected[y] = 7 * tx - y
            expected[7:8] = np.array([np.float32(tx) * np.float32(0.5)]).view(np.int32)
            assert np.array_equal(state.sram((x, y)), expected)
            assert np.array_equal(state.sram((x, y), 2, 3), expected[2:5])
    state.registers((1, 0))[5] = 99  # copies: the kept state does not change
    state.sram((1, 0))[0] = 99
    assert state.registers((1, 0))[5] == 7 and state.sram((1, 0))[0] == 7
    with pytest.raises(ws.ArgumentError, match=r"words \[6, 6 \+ 3\) are outside .* 8 words"):
        state.sram((0, 0), 6, 3)
    with pytest.raises(ws.ArgumentError, match="outside"):
        state.sram((0, 0), -1, 2)
    with pytest.raises(ws.VariableUnavailableError, match=r"no symbol table .* registers\(pe\)"):
        state.read_local("r5", (0, 0))


@ws.jit
def _doubled(out):
    x = ws.threadIdx.x
    buf = ws.local.array(2, np.float32)
    buf[0] = 2.0 * x
    out[x] = buf[0]


@pytest.mark.parametrize("bad", [0, 2.5, ["buf"], {}])
def test_read_local_of_a_name_that_is_no_str_is_an_argument_type_error(bad):
    """`state.read_local(0, pe)` (the PE first, a slip) was Python's "'int' object is not iterable"."""
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    state = _doubled[1, 2](dev.device_array(2), keep_state=True).state
    with pytest.raises(ws.ArgumentTypeError, match="name must be a str"):
        state.read_local(bad, (1, 0))
    assert state.read_local("buf", (1, 0))[0] == 2.0


@ws.jit
def ratio_then_scale(a, b, out):
    x = ws.grid(1)
    num = a[x] * 2.0
    den = b[x] + 1.0
    alpha = num / den  # MARK-ratio
    out[x] = alpha * 3.0 + num


def test_a_variable_the_stopped_line_assigns_is_said_to_be_assigned_after_the_stop_not_used_up():
    """A breakpoint at `alpha = num / den` stops before the line runs; reading `alpha` there said "the
    program does not read it again from there (its last use is behind ...)", though the next line reads it
    (a new user's CG under the debugger). It now says the line assigns it and to step; a step shows
    NumPy's value. A variable not assigned yet on an earlier line gets the general reason, which says that."""
    dev = small_device()
    a, b = np.arange(1, 5, dtype=np.float32), np.arange(4, dtype=np.float32) * 0.5
    out = dev.device_array(4)
    with ws.debug(ratio_then_scale[1, 4], dev.to_device(a), dev.to_device(b), out) as dbg:
        dbg.break_at(line=line_of(ratio_then_scale, "MARK-ratio"), pe=(2, 0))
        assert dbg.cont().reason == "breakpoint"
        with pytest.raises(ws.VariableUnavailableError, match=r"'alpha' holds no value .*: this line assigns it, "
                                                              r"and a stop at a line comes before the line runs"):
            dbg.read_local("alpha", (2, 0))
        dbg.step(pe=(2, 0))
        assert dbg.read_local("alpha", (2, 0)) == np.float32(a[2] * 2) / np.float32(b[2] + 1)
    expected = (a * 2) / (b + 1) * np.float32(3) + a * 2
    assert np.array_equal(out.copy_to_host(), expected.astype(np.float32))
