"""The on-disk kernel cache keyed by the machine fields a compilation read (`kernel_cache.find`, `store`): a
process on a machine that differs only in fields the compiler never reads loads the program; one that differs
in a field it read compiles anew (the program differs: loading the other would be a silent wrong answer)."""
from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np

import wafersim as ws
from wafersim.runtime import jit, kernel_cache

from conftest import assert_same_program, load_source
from test_compiler_spec_reads import BASE, _run_many_live, _sum_of_products_source
from test_kernel_cache import cache  # noqa: F401  (the fixture: the cache on, in this test's folder)

#: Fields the compiler does not read, with values that change a launch's cycles (global_latency) or nothing.
UNREAD = {"clock_hz": 1.25e9, "hop_latency": 3, "global_latency": 77, "cost_cycles": {"global": 3, "alu": 2}}


def _many_live(tmp_path):
    """A kernel whose program depends on `registers` (it spills with 16): `_run_many_live` checks it by NumPy."""
    return ws.jit(load_source(tmp_path, _sum_of_products_source()).many_live)


def _fresh_run(kernel, spec):
    """Launch on `spec` in a fresh dispatcher, as a new process would: (the program it ran, the launch's stats)."""
    return _run_many_live(jit.Dispatcher(kernel.py_func), spec)


def test_an_unread_field_loads_and_a_read_field_compiles_anew(tmp_path, cache):
    kernel = _many_live(tmp_path)
    first, _ = _fresh_run(kernel, BASE)
    assert len(cache) == 1 and [name for name, _ in first.spec_reads] == ["registers", "sram_bytes"]
    for name, value in UNREAD.items():
        spec = BASE.replace(**{name: value})
        cache.clear()
        loaded, stats = _fresh_run(kernel, spec)
        assert loaded.from_disk_cache and not cache, name  # (loaded: no compile)
        assert_same_program(loaded.program, first.program)
        with_cache_off = jit.Dispatcher(kernel.py_func)
        kernel_cache.ENABLED = False
        try:
            fresh, fresh_stats = _run_many_live(with_cache_off, spec)
        finally:
            kernel_cache.ENABLED = True
        assert_same_program(fresh.program, loaded.program)
        assert (stats.cycles, stats.instructions) == (fresh_stats.cycles, fresh_stats.instructions), name
    cache.clear()
    spilling, _ = _fresh_run(kernel, BASE.replace(registers=16))
    assert not spilling.from_disk_cache and len(cache) == 1  # (a read field changed: compiled)
    assert not np.array_equal(spilling.program.code, first.program.code)  # (loading the first would be wrong)
    again, _ = _fresh_run(kernel, BASE.replace(registers=16, clock_hz=2e9))
    assert again.from_disk_cache and len(cache) == 1
    assert_same_program(again.program, spilling.program)
    back, _ = _fresh_run(kernel, BASE.replace(hop_latency=5))
    assert back.from_disk_cache and len(cache) == 1
    assert_same_program(back.program, first.program)
    folder = tmp_path / "cache"
    assert len(list(folder.glob("*.pkl"))) == 2 and len(list(folder.glob("*.fields"))) == 1
    index = next(folder.glob("*.fields")).read_text().splitlines()
    assert [json.loads(line) for line in index] == [["registers", "sram_bytes"]]  # (each list once)


def test_a_compilation_that_read_the_whole_spec_is_keyed_by_every_field(tmp_path, cache, monkeypatch):
    """A record of None (the compiler called a method of the spec, say): only an equal machine loads it."""
    kernel = _many_live(tmp_path)
    counted = jit.compile_kernel  # (the fixture's, which counts compiles)

    def whole(*args, **kwargs):
        compiled = counted(*args, **kwargs)
        compiled.spec_reads = None
        return compiled

    monkeypatch.setattr(jit, "compile_kernel", whole)
    first, _ = _fresh_run(kernel, BASE)
    assert first.spec_reads is None and len(cache) == 1
    assert not list((tmp_path / "cache").glob("*.fields"))  # (no fields to list)
    loaded, _ = _fresh_run(kernel, BASE)
    assert loaded.from_disk_cache and len(cache) == 1
    other, _ = _fresh_run(kernel, BASE.replace(clock_hz=1.25e9))
    assert not other.from_disk_cache and len(cache) == 2
    assert_same_program(loaded.program, first.program)


def test_a_bad_index_line_or_entry_means_compiling(tmp_path, cache):
    kernel = _many_live(tmp_path)
    first, _ = _fresh_run(kernel, BASE)
    folder = tmp_path / "cache"
    index = next(folder.glob("*.fields"))
    index.write_text('["registers", "sram_b\n' + index.read_text() + "7\n")  # (cut short; not a list)
    loaded, _ = _fresh_run(kernel, BASE.replace(clock_hz=1.25e9))
    assert loaded.from_disk_cache and len(cache) == 1  # (the good line still found it)
    index.write_text('["registers"]\n["no_such_field"]\n')  # (lists of no entry, of a field no spec has)
    missed, _ = _fresh_run(kernel, BASE)
    assert not missed.from_disk_cache and len(cache) == 2
    assert_same_program(missed.program, first.program)
    for entry in folder.glob("*.pkl"):
        entry.write_bytes(b"not a pickle")
    unreadable, _ = _fresh_run(kernel, BASE)
    assert not unreadable.from_disk_cache and len(cache) == 3


def test_an_index_line_nested_past_the_parsers_depth_means_compiling(tmp_path, cache):
    """A corrupt index line that `json` gives up on with a RecursionError (not a ValueError) is skipped as any bad
    line: the launch compiles (it raised out of the launch)."""
    kernel = _many_live(tmp_path)
    first, _ = _fresh_run(kernel, BASE)
    index = next((tmp_path / "cache").glob("*.fields"))
    index.write_text("[" * 100_000 + "\n" + index.read_text())
    loaded, _ = _fresh_run(kernel, BASE.replace(clock_hz=1.25e9))
    assert loaded.from_disk_cache and len(cache) == 1  # (the good line after it still found the entry)
    index.write_text("[" * 100_000 + "\n")
    missed, _ = _fresh_run(kernel, BASE)
    assert not missed.from_disk_cache and len(cache) == 2
    assert_same_program(missed.program, first.program)


def _record(key, payload: bytes) -> bytes:
    """A cache file as `kernel_cache._write` makes one: (key, the payload's SHA-256, the pickled program)."""
    return pickle.dumps((key, hashlib.sha256(payload).digest(), payload))


def test_an_entry_holding_something_else_under_its_key_means_compiling(tmp_path, cache):
    """A file that unpickles to something else than (its key, the checksum of a compiled program, it) -- damage that
    still parses, another key, stop 44's format without a checksum -- or is cut short is compiled again, never
    returned nor crashed on."""
    kernel = _many_live(tmp_path)
    first, _ = _fresh_run(kernel, BASE)
    (entry,) = (tmp_path / "cache").glob("*.pkl")
    whole = entry.read_bytes()
    program = pickle.dumps(first)
    for damaged in (_record(entry.stem, pickle.dumps(7)), _record(7, program), _record(entry.stem + "0", program),
                    pickle.dumps((entry.stem, first)), whole[:len(whole) // 2]):
        entry.write_bytes(damaged)
        again, _ = _fresh_run(kernel, BASE)
        assert not again.from_disk_cache
        assert_same_program(again.program, first.program)
    assert len(cache) == 6


RACING = '''
import numpy as np
import wafersim as ws


@ws.jit
def kernel(x, out):
    i = ws.grid(1)
    out[i] = x[i] * 3.0 + i


x = np.arange(4, dtype=np.float32)
for registers, clock in ((32, 1e9), (16, 1e9), (32, 2e9)):  # (three machines: two entries, one list of fields)
    dev = ws.Device(ws.WaferSpec(width=4, height=1, registers=registers, clock_hz=clock))
    out = dev.device_array(4, np.float32)
    kernel[1, 4](dev.to_device(x), out)
    print(*out.copy_to_host(), kernel.cache[kernel._last].from_disk_cache)
'''


def test_processes_filling_one_cache_at_once_each_get_the_right_program(tmp_path):
    """Three processes start together on an empty cache and store the same entries and index line at once (atomic
    replaces, appended lines): each computes what NumPy does; a fourth loads every entry, the index's line read as
    one list however many times it was appended."""
    import os
    import subprocess
    import sys

    (tmp_path / "racing.py").write_text(RACING)
    env = dict(os.environ, WAFERSIM_KERNEL_CACHE="1", WAFERSIM_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(sys.path))
    expected = [str(v) for v in np.arange(4, dtype=np.float32) * np.float32(3) + np.arange(4, dtype=np.float32)]

    def start():
        return subprocess.Popen([sys.executable, str(tmp_path / "racing.py")], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def lines_of(process):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        lines = [line.split() for line in out.splitlines()]
        assert [line[:4] for line in lines] == [expected] * 3
        return [line[4] == "True" for line in lines]

    for process in [start() for _ in range(3)]:
        lines_of(process)
    assert lines_of(start()) == [True, True, True]  # (the third machine's program: the first's, read fields alike)
    folder = tmp_path / "cache"
    assert len(list(folder.glob("*.pkl"))) == 2 and not list(folder.glob("*.tmp"))
    (index,) = folder.glob("*.fields")
    assert {tuple(json.loads(line)) for line in index.read_text().splitlines()} == {("registers", "sram_bytes")}


def test_a_changed_byte_anywhere_in_an_entry_means_compiling_never_another_program(tmp_path, cache):
    """review45: a byte of an entry changed where the pickle still loads (an immediate's, a register number's) loaded
    another program and ran it (281 of 3,393 positions of a small kernel's file; some launched with wrong results):
    every single-byte change now either means compiling or (none found) loads the very same program."""
    kernel = _many_live(tmp_path)
    first, _ = _fresh_run(kernel, BASE)
    (entry,) = (tmp_path / "cache").glob("*.pkl")
    whole = entry.read_bytes()
    reference = pickle.dumps(first.program)
    step = max(1, len(whole) // 3000)  # (every byte of a small file; evenly spaced ones of a large one)
    for position in range(0, len(whole), step):
        damaged = bytearray(whole)
        damaged[position] ^= 0x01
        entry.write_bytes(bytes(damaged))
        loaded = kernel_cache.load(entry.stem)
        assert loaded is None or pickle.dumps(loaded.program) == reference, position
    entry.write_bytes(whole)
    again, _ = _fresh_run(kernel, BASE)
    assert again.from_disk_cache
    assert_same_program(again.program, first.program)
