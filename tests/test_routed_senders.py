"""The routed-senders analysis (`sim.routed_senders`) and the compiled path it opens to routed programs.

A routed program runs in the compiled interpreter only when the analysis proves that one PE per block sends
routed words (`Strategy.compiled_routed`); its results, cycles and statistics must be bit-identical to the
NumPy path's and the reference strategy's, and programs it cannot prove stay on the NumPy path."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.isa.encoding import code_bytes
from wafersim import collectives as wsc
from wafersim.kernels import reduce
from wafersim.sim.code_facts import code_facts
from wafersim.sim.compiled import stepper
from wafersim.sim.layout import Placement
from wafersim.sim.routed_senders import (broadcast_roots, channel_conditions, disjoint_senders, sender_conditions,
                                         single_sender)
from wafersim.sim.routing import RouteTables
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced


def conditions(body: str):
    program = ws.assemble(f".name t\n.sram 0\n.args 0\n.route 2 block_bus\n{body}\n    halt\n")
    return sender_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))


ROOT_ONLY = """
    sreg r7, tid.x
    sreg r10, tid.y
    seqi r1, r7, 2
    bz r1, sc
    seqi r1, r10, 1
sc:
    bz r1, other
    send.f32 ramp, 2, r2
    jmp end
other:
    recv.f32 r2, ramp, 2
end:
"""


def test_a_send_guarded_by_both_thread_indices_has_one_sender_per_block():
    found = conditions(ROOT_ONLY)
    assert found == [((0, 2), (1, 1))]
    assert single_sender(found, (4, 3))
    assert single_sender(found, (2, 3))  # (no PE of a 2-wide block has tid.x = 2: none sends)


@pytest.mark.parametrize("guard, block, single", [
    ("sreg r7, tid.x\n    seqi r1, r7, 0\n    bz r1, skip", (4, 1), True),  # one row: tid.y is always 0
    ("sreg r7, tid.x\n    seqi r1, r7, 0\n    bz r1, skip", (4, 2), False),  # one PE per row of the block
    ("sreg r7, tid.y\n    bnz r7, skip", (1, 5), True),  # bnz on tid.y itself: falls through where it is 0
    ("sreg r7, tid.x\n    sreg r8, tid.y\n    seqi r1, r7, 1\n    seqi r2, r8, 0\n    and r3, r1, r2\n    bz r3, skip",
     (3, 3), True),
    ("sreg r7, tid.x\n    seqi r1, r7, 1\n    sreg r1, tid.y\n    bz r1, skip", (3, 3), False),  # r1 overwritten
    ("arg r7, 0\n    seqi r1, r7, 0\n    bz r1, skip", (3, 3), False),  # a kernel argument: any PE
    ("", (1, 1), True),  # a one-PE block
    ("", (2, 1), False),
    # a reduction or scalar math between the guard and the send writes its own register only (a `ws.dot`
    # made every register unknown), unless that register is the guard's
    ("sreg r7, tid.x\n    seqi r1, r7, 0\n    vdot.f r5, r2, r3, r4\n    fexp r6, r6\n    bz r1, skip", (4, 1), True),
    ("sreg r7, tid.x\n    seqi r1, r7, 0\n    vdot.f r1, r2, r3, r4\n    bz r1, skip", (4, 1), False),
])
def test_the_analysis_bounds_the_senders_by_the_branches_that_guard_them(guard, block, single):
    found = conditions(f"    {guard}\n    send.f32 ramp, 2, r2\nskip:")
    assert single_sender(found, block) is single


SPILLED_GUARD = """
    sreg r7, tid.x
    sreg r10, tid.y
    seqi r1, r7, 0
    seqi r2, r10, 0
    and r3, r1, r2
    st r3, r0, 6
    li r3, 0
{between}
    ld r4, r0, 6
    bz r4, skip
    send.f32 ramp, 2, r5
skip:"""


@pytest.mark.parametrize("between, single", [
    ("", True),  # the guard stored to a word and loaded back (a spilled short circuit's result)
    ("    st r0, r0, 7\n    li r9, 2\n    ld r8, r9, 4", True),  # another word; the same word by another base
    ("    li r9, 2\n    st r3, r9, 4", True),  # the word overwritten with 0 at a known address: no PE sends
    ("    arg r9, 0\n    st r0, r9, 0", False),  # a store to an address the analysis does not know
    ("    li r9, 8\n    vfill r9, r0, r9", False),  # a vector op: it may write any word
    ("    recva west, 0, r9, r9\n    rwait west, 0", False),  # words received in the background
    ("    arg r8, 0\n    bz r8, other\n    st r8, r0, 6\nother:", False),  # one path stores an argument there
])
def test_a_guard_kept_in_sram_is_followed_only_while_no_other_write_can_reach_it(between, single):
    found = conditions(SPILLED_GUARD.format(between=between))
    assert single_sender(found, (4, 4)) is single


def test_sends_guarded_for_two_different_pes_are_not_one_sender():
    body = ("    sreg r7, tid.x\n    seqi r1, r7, 0\n    bz r1, b\n    send.f32 ramp, 2, r2\nb:\n"
            "    seqi r1, r7, 1\n    bz r1, c\n    send.f32 ramp, 2, r2\nc:")
    assert not single_sender(conditions(body), (2, 1))


def test_a_loop_around_the_guard_still_proves_one_sender():
    body = ("    li r5, 3\n    sreg r7, tid.x\n    seqi r1, r7, 0\nloop:\n    bz r1, next\n    send.f32 ramp, 2, r5\n"
            "next:\n    addi r5, r5, -1\n    bnz r5, loop")
    assert single_sender(conditions(body), (5, 1))


def test_many_paths_before_a_short_circuit_guard_still_prove_one_sender():
    """Four branches on neighbour flags give 16 register states before `tid.x == 0 and tid.y == 0` (compiled
    as a short circuit: the two ways into its second test join at one pc); more states than the analysis keeps
    apart at a pc are joined only with states of the same threadIdx equalities, so the guard's stay known."""
    flags = "".join(f"    hasnb r9, {d}\n    bz r9, f{k}\n    li r{3 + k}, {k + 1}\nf{k}:\n"
                    for k, d in enumerate(("north", "south", "east", "west")))
    body = ("    sreg r7, tid.x\n    sreg r10, tid.y\n" + flags +
            "    seqi r1, r7, 0\n    bz r1, other\n    seqi r2, r10, 0\n    jmp guard\nother:\n    li r2, 0\n"
            "guard:\n    bz r2, skip\n    send.f32 ramp, 2, r3\nskip:")
    found = conditions(body)
    assert sorted(set(found)) == [((0, 0), (1, 0))]
    assert single_sender(found, (4, 4))


def test_programs_that_change_routes_or_send_in_the_background_are_never_proven():
    assert conditions("    route 2, ramp, east\n    send.f32 ramp, 2, r2") is None
    assert single_sender(None, (1, 1)) is False
    assert conditions("    recv.f32 r2, ramp, 2") == []  # receives only: no sender at all


# ----------------------------------------------------------------------------- the compiled path
rng = np.random.default_rng(99)


@ws.jit
def broadcast_then_scan(values, out, root_x, root_y):
    """Every PE gets the root PE's value over a block bus, adds its own and runs a prefix sum along its
    row of the block (neighbour words): a routed program whose neighbour transfers the interpreter runs."""
    x, y = ws.grid(2)
    ws.use_route(2, "block_bus")
    v = values[y, x]
    if ws.threadIdx.x == 1 and ws.threadIdx.y == 0:
        ws.send(ws.RAMP, v, channel=2)
        shared = v
    else:
        shared = ws.recv(ws.RAMP, channel=2)
    acc = v + shared
    if ws.has_neighbor(ws.WEST):
        acc = ws.recv(ws.WEST) + acc
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, acc)
    out[y, x] = acc


def scan_model(values: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    bx, by = block
    out = np.empty_like(values)
    for y0 in range(0, values.shape[0], by):
        for x0 in range(0, values.shape[1], bx):
            tile = values[y0:y0 + by, x0:x0 + bx]
            out[y0:y0 + by, x0:x0 + bx] = np.cumsum(tile + tile[0, 1], axis=1, dtype=np.float32)
    return out


@pytest.mark.parametrize("grid, block", [((1, 1), (6, 4)), ((3, 2), (5, 3)), ((2, 2), (2, 1))])
def test_a_routed_program_with_one_sender_is_identical_on_the_compiled_path(grid, block, monkeypatch):
    values = rng.random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    compiled_calls = []
    original = stepper.CompiledMixin._run_compiled
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled",
                        lambda self, pc, group: compiled_calls.append(pc) or original(self, pc, group))

    def launch():
        dev = ws.Device(ws.WaferSpec(width=16, height=8))
        d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
        stats = broadcast_then_scan[grid, block](d_values, d_out, 1, 0)
        return d_out.copy_to_host(), stats

    runs = {}
    for name, strategy in {"reference": REFERENCE, "numpy": Strategy(compiled_routed=False), "fast": FAST}.items():
        compiled_calls.clear()
        with forced(strategy):
            runs[name] = launch()
        if name == "fast":
            assert compiled_calls, "the routed program did not run in the interpreter"
        if name == "numpy":
            assert not compiled_calls, "Strategy(compiled_routed=False) ran a routed program in the interpreter"
    assert_same_run(runs["reference"], runs["numpy"])
    assert_same_run(runs["reference"], runs["fast"])
    np.testing.assert_array_equal(runs["fast"][0], scan_model(values, block))


def test_the_wafer_wide_allreduce_kernel_is_proven_and_identical():
    values = rng.random((24, 30), dtype=np.float32)
    with forced(REFERENCE):
        reference = reduce.block_allreduce(values, "sum", block=(30, 24))
    with forced(FAST):
        fast = reduce.block_allreduce(values, "sum", block=(30, 24))
    assert_same_run(reference, fast)
    program = reduce._ALLREDUCE[reduce.SUM]._compiled().program
    found = sender_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
    assert single_sender(found, (30, 24))


@ws.jit
def neighbours_then_total(values, out, n):
    """Data-dependent branches and a neighbour exchange (many paths), then the library all-reduce, whose
    broadcast from PE (0, 0) is the one routed sender."""
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine = 0
    for k in range(n):
        v = values[i, k]
        if v % 3 == 0:
            mine += 1
        elif v % 3 == 1:
            mine += 2
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            ws.send(d, mine)
    got = 0
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            got += ws.recv(d, dtype=np.int32)
    out[i] = wsc.block_all_reduce(mine + got, wsc.SUM, channel=0)


def identical_and_compiled_when_fast(launch, monkeypatch) -> np.ndarray:
    """`launch()`'s (result, stats) under REFERENCE and under FAST, asserted identical, the routed program run in
    the interpreter under FAST (proven) and not under REFERENCE; FAST's result."""
    compiled_calls = []
    original = stepper.CompiledMixin._run_compiled
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled",
                        lambda self, pc, group: compiled_calls.append(pc) or original(self, pc, group))
    runs = {}
    for name, strategy in {"reference": REFERENCE, "fast": FAST}.items():
        compiled_calls.clear()
        with forced(strategy):
            runs[name] = launch()
        assert bool(compiled_calls) is (name == "fast")
    assert_same_run(runs["reference"], runs["fast"])
    return runs["fast"][0]


def test_a_kernel_with_many_paths_before_an_allreduce_is_proven_and_identical(monkeypatch):
    bx, by, n = 6, 5, 7
    values = rng.integers(0, 100, (bx * by, n)).astype(np.int32)
    mine = np.where(values % 3 == 0, 1, np.where(values % 3 == 1, 2, 0)).sum(axis=1).reshape(by, bx)
    padded = np.pad(mine, 1)
    got = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    expected = np.full(bx * by, (mine + got).sum(), np.int32)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        out = dev.device_array(bx * by, np.int32)
        stats = neighbours_then_total[1, (bx, by)](dev.to_device(values), out, n)
        return out.copy_to_host(), stats

    np.testing.assert_array_equal(identical_and_compiled_when_fast(launch, monkeypatch), expected)
    program = neighbours_then_total._compiled().program
    found = sender_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
    assert single_sender(found, (bx, by))


# ----------------------------------------------------------------------------- several senders, paths apart
def tables(block: tuple[int, int], *routes) -> RouteTables:
    """The route tables of a one-block wave with these launch routes."""
    region = Placement(ws.WaferSpec(width=8, height=8), (1, 1), block).wave(0)
    return RouteTables(region, 0.0, {route.channel: (route.masks(block), route.merge) for route in routes})


def east_to(last: int, channel: int, sender: int) -> ws.routes.Route:
    """Channel `channel`: PE `sender` of each row sends east, to PE `last` of the row."""
    def rules(x, y, width, height):
        if x == sender:
            return {ws.RAMP: ws.EAST}
        if sender < x < last:
            return {ws.WEST: ws.EAST}
        return {ws.WEST: ws.RAMP} if x == last else {}
    return ws.routes.custom(channel, rules)


ROW_0, ROW_1 = ((1, 0),), ((1, 1),)


@pytest.mark.parametrize("senders, routes, apart", [
    ({1: [ROW_0]}, [ws.routes.column_broadcast(1)], True),  # a sender per column, down its own column
    ({1: [ROW_0]}, [ws.routes.column_bus(1)], True),  # a bus of each column, one sender on it
    ({1: [ROW_0, ROW_1]}, [ws.routes.column_bus(1)], False),  # two senders on each column's bus
    ({1: [()]}, [ws.routes.column_bus(1)], False),  # any PE may send
    ({1: [ROW_0]}, [ws.routes.broadcast(1)], False),  # row 0's other PEs have no route from their ramp
    # PEs 0 and 1 of each row send on channels of their own, but their words share the link from PE 1 to 2
    ({0: [((0, 0),)], 1: [((0, 1),)]}, [east_to(2, 0, 0), east_to(2, 1, 1)], False),
    ({0: [((0, 0),)], 1: [((0, 2),)]}, [east_to(1, 0, 0), east_to(3, 1, 2)], True),  # ... links of their own
    # a column's sender also reaches the next column: receivers with words of two senders (one channel)
    ({1: [ROW_0]}, [ws.routes.custom(1, lambda x, y, w, h: {ws.RAMP: (ws.SOUTH, ws.EAST)} if y == 0 and x + 1 < w else
                                     {ws.RAMP: ws.SOUTH} if y == 0 else {ws.NORTH: (ws.SOUTH, ws.RAMP)} if y + 1 < h
                                     else {ws.NORTH: ws.RAMP}, merge=True)], False),
])
def test_several_senders_are_proven_only_where_no_link_or_receiver_is_shared(senders, routes, apart):
    block = (4, 3)
    assert not single_sender([pins for found in senders.values() for pins in found], block)
    assert disjoint_senders(senders, tables(block, *routes)) is apart


@ws.jit
def column_products(values, out):
    """Row 0 of each column sends its value down the column (`column_broadcast`: a sender per column); each PE
    multiplies it with its own and sums the products along its row of the block (neighbour words)."""
    x, y = ws.grid(2)
    v = values[y, x]
    if ws.threadIdx.y == 0:
        ws.send(ws.RAMP, v, channel=1)
        top = v
    else:
        top = ws.recv(ws.RAMP, channel=1)
    acc = v * top
    if ws.has_neighbor(ws.WEST):
        acc = ws.recv(ws.WEST) + acc
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, acc)
    out[y, x] = acc


@ws.jit
def shared_link(values, out):
    """PEs 0 and 1 of each row send to PE 2 on channels 0 and 1, over one link (PE 1 to 2): not proven."""
    x, y = ws.grid(2)
    if ws.threadIdx.x == 0:
        ws.send(ws.RAMP, values[y, x], channel=0)
    if ws.threadIdx.x == 1:
        ws.send(ws.RAMP, values[y, x], channel=1)
    if ws.threadIdx.x == 2:
        out[y] = 10.0 * ws.recv(ws.RAMP, channel=0, dtype=np.float32) + ws.recv(ws.RAMP, channel=1, dtype=np.float32)


def run_each_strategy(kernel, grid, block, arrays, routes, monkeypatch):
    """(result, stats) per strategy (reference, the NumPy path, fast), with whether the fast one was proven and
    ran in the interpreter."""
    compiled_calls, proofs = [], []
    original, original_proof = stepper.CompiledMixin._run_compiled, stepper.proven_senders
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled",
                        lambda self, pc, group: compiled_calls.append(pc) or original(self, pc, group))
    monkeypatch.setattr(stepper, "proven_senders", lambda *args: proofs.append(original_proof(*args)) or proofs[-1])
    runs = {}
    for name, strategy in {"reference": REFERENCE, "numpy": Strategy(compiled_routed=False), "fast": FAST}.items():
        compiled_calls.clear()
        proofs.clear()
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=16, height=8))
            values, out = dev.to_device(arrays[0]), dev.device_array(arrays[1].shape, np.float32)
            stats = kernel[grid, block](values, out, routes=routes)
            runs[name] = out.copy_to_host(), stats
    assert_same_run(runs["reference"], runs["numpy"])
    assert_same_run(runs["reference"], runs["fast"])
    return runs["fast"][0], all(proofs) and bool(proofs), bool(compiled_calls)


@pytest.mark.parametrize("grid, block", [((1, 1), (6, 4)), ((2, 2), (4, 3))])
def test_a_sender_per_column_is_proven_and_identical_on_the_compiled_path(grid, block, monkeypatch):
    values = rng.random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    got, proven, compiled = run_each_strategy(column_products, grid, block, (values, values),
                                              [ws.routes.column_broadcast(1)], monkeypatch)
    assert proven and compiled
    expected = np.empty_like(values)
    for y0 in range(0, values.shape[0], block[1]):
        for x0 in range(0, values.shape[1], block[0]):
            tile = values[y0:y0 + block[1], x0:x0 + block[0]]
            expected[y0:y0 + block[1], x0:x0 + block[0]] = np.cumsum(tile * tile[0], axis=1, dtype=np.float32)
    np.testing.assert_array_equal(got, expected)


def test_senders_sharing_a_link_stay_on_the_numpy_path_and_identical(monkeypatch):
    values = rng.random((4, 3), dtype=np.float32)
    got, proven, compiled = run_each_strategy(shared_link, (1, 1), (3, 4), (values, np.zeros(4, np.float32)),
                                              [east_to(2, 0, 0), east_to(2, 1, 1)], monkeypatch)
    assert not proven and not compiled
    np.testing.assert_array_equal(got, (np.float32(10) * values[:, 0] + values[:, 1]).astype(np.float32))
    program = shared_link._compiled().program
    found = channel_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
    assert {channel: set(pins) for channel, pins in found.items()} == {0: {((0, 0),)}, 1: {((0, 1),)}}


@ws.jit
def many_live_then_total(values, out, n):
    """More live values than a 12-register machine holds: threadIdx is spilled (the compiler reloads it with
    `sreg`, so the analysis still sees the all-reduce's guard), then the library all-reduce."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    i = y * ws.blockDim.x + x
    a0, a1, a2, a3 = values[i, 0], values[i, 1], values[i, 2], values[i, 3]
    a4, a5, a6, a7 = values[i, 4], values[i, 5], values[i, 6], values[i, 7]
    s = 0.0
    for k in range(n):
        s += a0 * a1 + a2 * a3 + a4 * a5 + a6 * a7 + k
    out[i] = wsc.block_all_reduce(s, wsc.SUM, channel=0) + x + 10 * y


def test_a_spilled_thread_index_is_reloaded_from_its_register_and_the_kernel_proven(monkeypatch):
    bx, by, n = 5, 4, 3
    values = rng.random((bx * by, 8), dtype=np.float32)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=8, height=8, registers=12))
        out = dev.device_array(bx * by, np.float32)
        stats = many_live_then_total[1, (bx, by)](dev.to_device(values), out, n)
        return out.copy_to_host(), stats

    got = identical_and_compiled_when_fast(launch, monkeypatch)
    v = values.astype(np.float32)
    partial = np.zeros(bx * by, np.float32)
    for k in range(n):
        partial += v[:, 0] * v[:, 1] + v[:, 2] * v[:, 3] + v[:, 4] * v[:, 5] + v[:, 6] * v[:, 7] + np.float32(k)
    tid = np.arange(bx * by)
    np.testing.assert_allclose(got, partial.sum() + tid % bx + 10 * (tid // bx), rtol=1e-5)
    compiled = many_live_then_total._compiled()
    slots = {reg.hint: slot for reg, slot in compiled.allocation.spills.items() if reg.hint in ("x", "y")}
    assert slots, "threadIdx was not spilled: the test no longer covers the reload"
    loads = {line.split()[-1] for line in compiled.asm_text.splitlines() if line.split()[:1] == ["ld"]}
    assert not loads & {str(slot) for slot in slots.values()}
    found = sender_conditions(code_facts(code_bytes(compiled.program.code)).decoded, len(compiled.program.code))
    assert single_sender(found, (bx, by))


@ws.jit
def cg_laplacian(b, x_out, iters, z: ws.constant):
    """Conjugate gradient on the 7-point Laplacian (a Z column per PE, halos from the four neighbours, two
    all-reduces an iteration), as a new user wrote it: the all-reduce's guard `threadIdx.x == 0 and
    threadIdx.y == 0`, a short circuit, is spilled to SRAM between its two tests and loaded back."""
    px, py = ws.threadIdx.x, ws.threadIdx.y
    x = ws.local.array(z, np.float32)
    r = ws.local.array(z, np.float32)
    p = ws.local.array(z, np.float32)
    ap = ws.local.array(z, np.float32)
    halo = ws.local.array((4, z), np.float32)
    r[0:z] = b[py, px * z:px * z + z]
    x[0:z] = 0.0
    p[0:z] = r[0:z]
    for k in range(4):
        halo[k, 0:z] = 0.0
    rho = wsc.block_all_reduce(ws.dot(r[0:z], r[0:z]), wsc.SUM, channel=0)
    for _ in range(iters):
        for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
            if ws.has_neighbor(d):
                ws.send(d, p[0:z])
        for kk, d in enumerate((ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST)):
            if ws.has_neighbor(d):
                ws.recv(d, out=halo[kk, 0:z])
        ap[0:z] = p[0:z] * 6.0
        for k in range(4):
            ap[0:z] = ap[0:z] - halo[k, 0:z]
        ap[1:z] = ap[1:z] - p[0:z - 1]
        ap[0:z - 1] = ap[0:z - 1] - p[1:z]
        alpha = rho / wsc.block_all_reduce(ws.dot(p[0:z], ap[0:z]), wsc.SUM, channel=0)
        x[0:z] = p[0:z] * alpha + x[0:z]
        r[0:z] = ap[0:z] * (-alpha) + r[0:z]
        rho_new = wsc.block_all_reduce(ws.dot(r[0:z], r[0:z]), wsc.SUM, channel=0)
        p[0:z] = p[0:z] * (rho_new / rho) + r[0:z]
        rho = rho_new
    x_out[py, px * z:px * z + z] = x[0:z]


def test_a_solver_whose_guard_is_spilled_is_proven_and_identical(monkeypatch):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    linalg = pytest.importorskip("scipy.sparse.linalg")
    nx, ny, nz, iters = 3, 3, 8, 5
    b = rng.random((ny, nx * nz), dtype=np.float32)

    def launch():
        dev = ws.Device(ws.WaferSpec.preset("dev", width=4, height=4))
        out = dev.device_array(b.shape, np.float32)
        stats = cg_laplacian[1, (nx, ny)](dev.to_device(b), out, iters, nz)
        return out.copy_to_host(), stats

    got = identical_and_compiled_when_fast(launch, monkeypatch)
    program = cg_laplacian._compiled().program
    assert single_sender(sender_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code)), (nx, ny))
    # SciPy's CG, the same iterations, in float64: A = 6 on the diagonal, -1 to each of the six neighbours
    index = np.arange(nx * ny * nz).reshape(ny, nx, nz)
    pairs = [(index[:-1], index[1:]), (index[:, :-1], index[:, 1:]), (index[:, :, :-1], index[:, :, 1:])]
    rows = np.concatenate([index.ravel()] + [u.ravel() for u, v in pairs] + [v.ravel() for u, v in pairs])
    cols = np.concatenate([index.ravel()] + [v.ravel() for u, v in pairs] + [u.ravel() for u, v in pairs])
    vals = np.concatenate([np.full(index.size, 6.0), -np.ones(len(rows) - index.size)])
    a = scipy_sparse.csr_matrix((vals, (rows, cols)), shape=(index.size, index.size))
    expected, _ = linalg.cg(a, b.astype(np.float64).ravel(), rtol=0.0, atol=0.0, maxiter=iters)
    np.testing.assert_allclose(got.ravel(), expected, rtol=1e-4, atol=1e-5)


def test_broadcast_roots_are_the_pes_at_the_one_thread_every_path_to_a_channels_sends_pins():
    """`broadcast_roots` (the senders `routing.RouteTables` traces ahead): a channel whose every path to a send pins
    both axes to one thread gives that thread's PE in each block; one axis free, paths pinning different threads, a
    channel without sends, or no analysis (None) give nothing."""
    region = Placement(ws.WaferSpec(width=8, height=8), (2, 1), (4, 3)).wave(0)
    by_channel = {2: [((0, 2), (1, 1))], 3: [((0, 1),)], 4: [((0, 1), (1, 0)), ((0, 2), (1, 0))],
                  5: [((0, 1), (1, 2)), ((1, 2), (0, 1))]}
    roots = broadcast_roots(by_channel, region, [2, 3, 4, 5, 6])
    assert sorted(roots) == [2, 5]
    x, y = region.xy  # (blocks of 4 x 3 PEs side by side from the corner: threads (2, 1) and (1, 2) of each)
    np.testing.assert_array_equal(roots[2], np.flatnonzero(((x == 2) | (x == 6)) & (y == 1)))
    np.testing.assert_array_equal(roots[5], np.flatnonzero(((x == 1) | (x == 5)) & (y == 2)))
    assert broadcast_roots(None, region, [2]) == {} and broadcast_roots({}, region, [2]) == {}
    program = ws.assemble(f".name t\n.sram 0\n.args 0\n.route 2 block_bus\n{ROOT_ONLY}\n    halt\n")
    found = channel_conditions(code_facts(code_bytes(program.code)).decoded, len(program.code))
    np.testing.assert_array_equal(broadcast_roots(found, region, [2])[2], roots[2])  # (the root (2, 1) of ROOT_ONLY)
