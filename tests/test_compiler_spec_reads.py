"""`compiler.spec_reads`: the machine fields a compilation read, under which `@ws.jit` reuses a program for
another machine. A program reused where the compiler would have made another is a silent wrong answer:
every field the compiler reads must make a new compile when it changes, and a field it does not read must
not, with results and cycles identical to a fresh compile's."""
from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import PASSES, compile_kernel
from wafersim.compiler.spec_reads import RecordingSpec, finish_recording, fingerprint, reads_match
from test_codegen import fill_strided  # (its loop unrolls only where the SRAM has room: a kernel that reads it)

BASE = ws.WaferSpec(width=2, height=2)
LIVE = 14  # values live at once in `many_live`: more than 16 registers hold (4 are scratch), fewer than 32 do


def _sum_of_products_source() -> str:
    loads = "\n".join(f"    a{k} = x[{k}]" for k in range(LIVE))
    total = " + ".join(f"a{k} * a{LIVE - 1 - k}" for k in range(LIVE))
    return f"def many_live(x, out):\n{loads}\n    out[0] = {total}\n    out[1] = {' - '.join(f'a{k}' for k in range(LIVE))}\n"


@pytest.fixture(scope="module")
def many_live(tmp_path_factory):
    """A kernel holding `LIVE` loaded values at once: with fewer registers it spills (another program)."""
    from conftest import load_source

    return ws.jit(load_source(tmp_path_factory.mktemp("spec_reads"), _sum_of_products_source()).many_live)


@ws.jit
def scaled_sum(x, out):
    out[0] = x[0] * 2.0 + x[1]


def _run_scaled_sum(kernel, spec: ws.WaferSpec):
    dev = ws.Device(spec)
    out = dev.device_array(1)
    stats = kernel[1, 1](dev.to_device(np.array([1.5, -4.0], np.float32)), out)
    assert out.copy_to_host()[0] == 1.5 * 2.0 - 4.0
    return kernel.cache[kernel._last], stats


def _run_many_live(kernel, spec: ws.WaferSpec):
    dev = ws.Device(spec)
    x = (np.arange(LIVE, dtype=np.float32) % 7 + 1) / 4
    out = dev.device_array(2)
    stats = kernel[1, 1](dev.to_device(x), out)
    a = x.astype(np.float64)
    want = [float(np.sum(a * a[::-1])), float(a[0] - np.sum(a[1:]))]
    np.testing.assert_allclose(out.copy_to_host(), want, rtol=1e-5)
    return kernel.cache[kernel._last], stats


def _run_fill(kernel, spec: ws.WaferSpec):
    dev = ws.Device(spec)
    out = dev.device_array(64)
    stats = kernel[1, 1](out)
    want = np.zeros(64, np.float32)
    want[::4] = np.arange(16, dtype=np.float32) * np.float32(0.5)
    np.testing.assert_array_equal(out.copy_to_host(), want)
    return kernel.cache[kernel._last], stats


def _rolled_bytes() -> int:
    """The SRAM `fill_strided` needs with its loop rolled: less than unrolled, so a PE of this size forces it."""
    out_sig = fill_strided.signature_of((ws.Device(BASE).device_array(64),))[0]
    rolled = compile_kernel(fill_strided.py_func, out_sig, BASE,
                            passes=[(n, p) for n, p in PASSES if n != "unroll"])
    return rolled.program.sram_bytes_needed


def test_the_compiler_reads_the_registers_and_the_sram_size(many_live):
    compiled, _ = _run_many_live(many_live, BASE)
    assert [name for name, _ in compiled.spec_reads] == ["registers", "sram_bytes"]
    assert reads_match(compiled.spec_reads, BASE.replace(clock_hz=1e9, hop_latency=3))


def test_every_field_the_compiler_reads_compiles_anew_when_it_changes(many_live):
    """Per field the compiler read (so a new field it starts reading must be added here): a machine that differs
    in that field only gets a new compile, whose program differs from the first (so reusing it would be wrong),
    with the right results."""
    changes = {"registers": (many_live, _run_many_live, 16),
               "sram_bytes": (fill_strided, _run_fill, _rolled_bytes())}
    for name, (kernel, run, value) in changes.items():
        kernel.cache.clear()
        first, _ = run(kernel, BASE)
        assert name in dict(first.spec_reads)
        assert set(dict(first.spec_reads)) <= set(changes), "a field the compiler reads has no change tested here"
        second, _ = run(kernel, BASE.replace(**{name: value}))
        assert second is not first and len(kernel.cache) == 2
        assert not np.array_equal(second.program.code, first.program.code)  # (the field made another program)
        assert second.program.sram_bytes_needed != first.program.sram_bytes_needed


#: A changed value for every field the compiler does not read (each gives a valid spec on its own).
UNREAD_CHANGES = {
    "width": 3, "height": 5, "name": "other", "vector_lanes": 16, "vector_lanes_half": 8, "clock_hz": 1.25e9,
    "hop_latency": 3, "ramp_latency": 2, "link_words_per_cycle": 0.5, "channels": 8, "fifo_depth": 4,
    "global_latency": 77, "global_bytes_per_s": 9e9, "global_bytes": 1 << 24, "host_transfer_latency_s": 1e-6,
    "barrier_base_cycles": 9, "barrier_cycles_per_hop": 5, "hop_energy_pj": 0.25, "global_energy_pj_per_byte": 3.0,
    "spare_cols": 1, "spare_rows": 1, "defects": ((1, 1),), "defect_rate": 0.01, "defect_seed": 5,
    "detour_cycles_per_hop": 4, "zero_skip_cycles": 1, "sparse_pair_words": 1.5,
    "cost_cycles": {"global": 3, "alu": 2}, "op_cycles": {"ld": 2}, "op_energy_pj": {"alu": 2.0},
}


def test_a_field_the_compiler_does_not_read_reuses_the_program_with_a_fresh_compiles_results():
    """Per field the compiler did not read: the launch reuses the program (no compile), and its results and
    cycle count are those of the same kernel compiled afresh on that machine (a new dispatcher)."""
    scaled_sum.cache.clear()
    first, _ = _run_scaled_sum(scaled_sum, BASE)
    read = set(dict(first.spec_reads))
    fields = {field.name for field in dataclasses.fields(ws.WaferSpec)}
    assert set(UNREAD_CHANGES) == fields - read, "every spec field needs a change here, or is read"
    for name, value in UNREAD_CHANGES.items():
        spec = BASE.replace(**{name: value})
        reused, stats = _run_scaled_sum(scaled_sum, spec)
        assert reused is first, name
        fresh, fresh_stats = _run_scaled_sum(ws.jit(scaled_sum.py_func), spec)
        assert fresh is not first and np.array_equal(fresh.program.code, first.program.code), name
        assert stats.cycles == fresh_stats.cycles, name
    # (the machines that change cycles did change them: the reused program ran on each machine's own costs)
    _, slow = _run_scaled_sum(scaled_sum, BASE.replace(global_latency=900))
    _, base = _run_scaled_sum(scaled_sum, BASE)
    assert slow.cycles > base.cycles


def test_a_global_changed_since_compiles_anew_for_another_machine(tmp_path):
    """A machine that would reuse a program still compiles anew when the kernel's globals changed since: a
    specialisation reads them when first compiled, as before (`kernel_cache.program_key`)."""
    from conftest import load_source

    module = load_source(tmp_path, "import numpy as np\nSCALE = 2.0\n\ndef scaled(out):\n    out[0] = SCALE\n")
    kernel = ws.jit(module.scaled)
    for spec, scale in ((BASE, 2.0), (BASE.replace(clock_hz=1e9), 2.0), (BASE.replace(hop_latency=4), 3.0)):
        module.SCALE = scale
        dev = ws.Device(spec)
        out = dev.device_array(1)
        kernel[1, 1](out)
        assert out.copy_to_host()[0] == scale
    programs = list(kernel.cache.values())
    assert programs[0] is programs[1] and programs[2] is not programs[0]


def test_the_view_records_what_it_hands_out():
    view = RecordingSpec(BASE)
    assert view.registers == 32 and view.n_pes == 4 and view.cost_cycles["div"] == 8
    reads = finish_recording(view)
    assert [name for name, _ in reads] == ["registers", "n_pes", "cost_cycles"]
    assert reads_match(reads, BASE.replace(width=4, height=1, clock_hz=2e9))
    assert not reads_match(reads, BASE.replace(width=4))  # (n_pes is 8: a derived figure is compared by value)
    assert not reads_match(reads, BASE.replace(cost_cycles={"div": 9}))
    assert not reads_match(reads, BASE.replace(registers=31))


@pytest.mark.parametrize("use", [
    lambda view: view.seconds(10),  # a method: what it reads is not seen
    lambda view: view._derived,  # a private attribute
    lambda view: view.__dict__,
    lambda view: view.dead,  # an array: not compared by value here
    lambda view: view == BASE,
    lambda view: repr(view),
    lambda view: f"{view}",
    lambda view: copy.copy(view),
    lambda view: pickle.dumps(view),
    lambda view: isinstance(view, ws.WaferSpec),
])
def test_anything_but_a_plain_field_makes_the_record_the_whole_spec(use):
    view = RecordingSpec(BASE)
    view.registers
    use(view)
    reads = finish_recording(view)
    assert reads is None and not reads_match(reads, BASE)


def test_the_view_refuses_reads_after_its_compilation_and_any_write():
    view = RecordingSpec(BASE)
    with pytest.raises(ws.WaferError, match="read-only"):
        view.registers = 4
    finish_recording(view)
    for late in (lambda: view.registers, lambda: repr(view), lambda: view == BASE):
        with pytest.raises(ws.WaferError, match="after the compilation"):
            late()


def test_fingerprints_tell_apart_what_python_calls_equal():
    assert fingerprint(1) != fingerprint(True) != fingerprint(1.0)
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(float("nan")) == fingerprint(float("nan"))  # (the same bits: nan != nan is no change)
    assert fingerprint({"a": 1, "b": 2}) != fingerprint({"b": 2, "a": 1})  # (the order a compiler would iterate)
    assert fingerprint(np.float32(1)) != fingerprint(np.float64(1)) != fingerprint(1.0)



@ws.jit
def looped_sum(x, out, n):
    acc = 0.0
    for k in range(n):
        acc += x[0] * k
    out[0] = acc


def _run_looped_sum(kernel, spec: ws.WaferSpec):
    dev = ws.Device(spec)
    out = dev.device_array(1)
    stats = kernel[1, 1](dev.to_device(np.array([1.5], np.float32)), out, 20)
    assert out.copy_to_host()[0] == 1.5 * sum(range(20))
    return kernel.cache[kernel._last], stats


def test_machines_taking_turns_with_one_program_each_run_on_their_own_costs():
    """review43: machines that share one `Program` object (another cost table, latency or lane count, alternating
    A, B, C, A, B, C) each get the cycles of a fresh compile on that machine: nothing the engine keeps per program
    (`ProgramTable.of`, the code's facts) carries one machine's timing into another's launch. The loop runs in the
    compiled interpreter (loaded here), which reads the program's table."""
    importlib.import_module("wafersim.sim.compiled.interpreter")  # (loaded: a small group's loop runs compiled)

    machines = [BASE, BASE.replace(cost_cycles={"alu": 3, "fpu": 5}, global_latency=40),
                BASE.replace(vector_lanes=2, op_cycles={"gld": 7, "fadd": 2})]
    fresh = [_run_looped_sum(ws.jit(looped_sum.py_func), spec)[1].cycles for spec in machines]
    assert len(set(fresh)) == 3  # (each machine's timing shows in the cycles)
    looped_sum.cache.clear()
    programs = []
    for spec, want in [*zip(machines, fresh)] * 2:
        compiled, stats = _run_looped_sum(looped_sum, spec)
        programs.append(compiled.program)
        assert stats.cycles == want
    assert all(program is programs[0] for program in programs)
