"""Route traces kept on disk (`wafersim.sim.trace_store`): a file read back is the trace that was written, a
damaged or foreign file is never read as one, and a process that loads traces computes what a process that
traces them computes, to the bit and to the cycle."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import wafersim
from wafersim.runtime import kernel_cache
from wafersim.sim import trace_store


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """The store switched on (with the kernel cache), in a folder of this test."""
    monkeypatch.setattr(kernel_cache, "ENABLED", True)
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def sample_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"sources": np.arange(5, dtype=np.int64), "latency": rng.random(7),
            "link_dir": rng.integers(0, 4, 3).astype(np.int8), "empty": np.zeros(0, dtype=np.int64),
            "square": rng.integers(0, 100, (3, 3)).astype(np.int32)}


def test_arrays_stored_are_read_back_equal_with_their_dtypes_and_shapes(store_dir):
    arrays = sample_arrays()
    trace_store.store("abc", arrays)
    assert (store_dir / "abc.routes").exists()
    got = trace_store.load("abc")
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array)
    got["latency"][0] = -1.0  # (writable, as a trace's arrays; the file keeps what was stored)
    assert trace_store.load("abc")["latency"][0] == arrays["latency"][0]


def odd_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays whose sizes are not whole 8-byte words (the payload pads each), a large one among them."""
    rng = np.random.default_rng(seed)
    return {"dir": rng.integers(-128, 128, 100_003).astype(np.int8), "pe": rng.integers(0, 2 ** 62, 70_001),
            "third": rng.random(13).astype(np.float32), "empty": np.zeros(0, dtype=np.int16),
            "strided": rng.integers(0, 2 ** 15, 22).astype(np.int16)[::2], "bytes": np.frombuffer(b"read only", np.uint8)}


def fletcher_in_python(data: bytes) -> list[int]:
    first = second = 0
    for word in np.frombuffer(data, dtype="<u8").tolist():
        first = (first + word) % 2 ** 64
        second = (second + first) % 2 ** 64
    return [first, second]


@pytest.mark.parametrize("in_background", [False, True])
def test_a_file_holds_its_arrays_padded_to_words_and_their_checksum(store_dir, in_background):
    """The file, byte for byte: the header, then each array's bytes padded with zeros to 8-byte words, and the
    header's checksum is Fletcher's of that payload word by word (the store sums each array on its own)."""
    arrays = odd_arrays()
    trace_store.store("abc", arrays, in_background=in_background)
    trace_store.wait()
    data = (store_dir / "abc.routes").read_bytes()
    header_end = 16 + int.from_bytes(data[8:16], "little")
    header = json.loads(data[16:header_end])
    payload = b"".join(np.ascontiguousarray(a).tobytes() + bytes(-a.nbytes % 8) for a in arrays.values())
    assert data[-(-header_end // 8) * 8:] == payload and header["payload"] == len(payload)
    assert header["checksum"] == fletcher_in_python(payload)
    got = trace_store.load("abc")
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array)


def test_a_file_written_in_the_background_is_read_whole_by_a_load_that_follows(store_dir):
    """A background store returns before its file is written; a load of the same name in this process waits for
    it, reading the arrays stored, and so does the process as it exits (test below)."""
    for round_ in range(3):
        arrays = odd_arrays(round_)
        trace_store.store(f"abc{round_}", arrays, in_background=True)
        got = trace_store.load(f"abc{round_}")
        assert got is not None and list(got) == list(arrays)
        for name, array in arrays.items():
            np.testing.assert_array_equal(got[name], array)
    assert not trace_store._pending
    assert sorted(path.name for path in store_dir.iterdir()) == [f"abc{k}.routes" for k in range(3)]


def test_an_array_changed_during_a_background_write_makes_a_file_that_is_not_read(store_dir, monkeypatch):
    """The checksum is taken as `store` is called: an array changed before its bytes reach the file makes a
    file `load` refuses (traced again), never another trace."""
    arrays = odd_arrays()
    started, written = threading.Event(), trace_store._write

    def slow_write(*args):
        started.wait(timeout=60)
        written(*args)

    monkeypatch.setattr(trace_store, "_write", slow_write)
    trace_store.store("abc", arrays, in_background=True)
    arrays["pe"][5] += 1
    started.set()
    trace_store.wait()
    assert (store_dir / "abc.routes").exists() and trace_store.load("abc") is None


def test_nothing_is_stored_or_read_while_the_kernel_cache_is_off(store_dir, monkeypatch):
    monkeypatch.setattr(kernel_cache, "ENABLED", False)
    assert not trace_store.enabled()
    trace_store.store("abc", sample_arrays())
    assert not store_dir.exists() and trace_store.load("abc") is None


@pytest.mark.parametrize("damage", ["flip a payload byte", "truncate", "empty", "garbage", "header length",
                                    "swap two words", "a shape in the header"])
def test_a_damaged_file_is_never_read_as_a_trace(store_dir, damage):
    trace_store.store("abc", sample_arrays())
    path = store_dir / "abc.routes"
    data = bytearray(path.read_bytes())
    header_end = 16 + int.from_bytes(data[8:16], "little")
    if damage == "flip a payload byte":
        data[-20] ^= 0x10
    elif damage == "truncate":
        data = data[:-8]
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "header length":
        data[8:16] = (len(data) * 2).to_bytes(8, "little")
    elif damage == "a shape in the header":  # (still JSON, of the same length: "square" read as 1 x 3)
        old, new = b'"square", "<i4", [3, 3]', b'"square", "<i4", [1, 3]'
        at = data.index(old)
        data[at:at + len(old)] = new
    else:  # two different 8-byte words of the payload exchanged: the plain sum is the same
        start = -(-header_end // 8) * 8
        first, second = data[start:start + 8], data[start + 40:start + 48]
        assert first != second
        data[start:start + 8], data[start + 40:start + 48] = second, first
    path.write_bytes(bytes(data))
    assert trace_store.load("abc") is None


def test_a_file_is_read_where_it_cannot_be_touched(store_dir, monkeypatch):
    trace_store.store("abc", sample_arrays())

    def refused(*args, **kwargs):
        raise PermissionError("read-only cache")

    monkeypatch.setattr(trace_store.os, "utime", refused)
    np.testing.assert_array_equal(trace_store.load("abc")["latency"], sample_arrays()["latency"])


def test_a_file_whose_arrays_are_not_the_names_asked_for_is_not_read(store_dir):
    arrays = sample_arrays()
    trace_store.store("abc", arrays)
    assert list(trace_store.load("abc", names=tuple(arrays))) == list(arrays)
    assert trace_store.load("abc", names=tuple(arrays)[::-1]) is None  # (the same arrays, in another order)
    assert trace_store.load("abc", names=tuple(arrays)[:-1]) is None
    assert trace_store.load("abc", names=tuple(arrays) + ("broken",)) is None


def test_a_file_under_another_name_is_not_read(store_dir):
    trace_store.store("abc", sample_arrays())
    os.replace(store_dir / "abc.routes", store_dir / "abd.routes")
    assert trace_store.load("abd") is None


def test_the_least_recently_used_files_go_past_the_bound(store_dir, monkeypatch):
    for i, name in enumerate(("a", "b", "c")):
        trace_store.store(name, {"x": np.full(1000, i, dtype=np.int64)})
        os.utime(store_dir / f"{name}.routes", (1000 + i, 1000 + i))
    trace_store.load("a")  # (read: now the most recently used)
    size = (store_dir / "a.routes").stat().st_size
    monkeypatch.setattr(trace_store, "STORE_BYTES", 3 * size + 64)  # (headers differ by a few bytes)
    trace_store.store("d", {"x": np.full(1000, 3, dtype=np.int64)})
    assert sorted(path.stem for path in store_dir.glob("*.routes")) == ["a", "c", "d"]


def test_the_file_name_hashes_the_key_and_the_routing_sources():
    root = Path(wafersim.__file__).resolve().parent
    digest = hashlib.sha256(f"{wafersim.__version__}|{sys.version}|{np.__version__}".encode())
    for name in trace_store._SOURCES:
        digest.update(name.encode() + (root / name).read_bytes())
    assert trace_store.engine_version() == digest.hexdigest()
    assert {"sim/routing.py", "sim/trace_kernels.py", "sim/layout.py", "arch/spec.py"} <= set(trace_store._SOURCES)
    assert trace_store.file_key((1, "a")) != trace_store.file_key((1, "b"))
    assert trace_store.file_key((1, "a")) == hashlib.sha256(repr((digest.hexdigest(), (1, "a"))).encode()).hexdigest()


def test_an_install_without_the_routing_sources_keeps_no_traces(store_dir, monkeypatch):
    """The file name hashes the routing sources; where one cannot be read (an install of .pyc files only),
    nothing is kept, and a launch traces its routes as without the store (the hash's FileNotFoundError
    escaped the launch)."""
    from wafersim.kernels import gemm

    monkeypatch.setattr(trace_store, "_SOURCES", trace_store._SOURCES + ("sim/no_such_module.py",))
    monkeypatch.setattr(trace_store, "STORE_ENTRIES", 1)
    trace_store.engine_version.cache_clear()
    try:
        assert trace_store.engine_version() is None and not trace_store.enabled()
        rng = np.random.default_rng(3)
        a, b = (rng.random((8, 8), dtype=np.float32) for _ in range(2))
        c, _ = gemm.gemm(a, b, 2)
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5)
        assert not list(store_dir.glob("*.routes"))
    finally:
        trace_store.engine_version.cache_clear()


def test_fletcher64_matches_wrapping_sums():
    from wafersim.sim.trace_kernels import fletcher64

    words = np.random.default_rng(1).integers(0, 2 ** 63, 1000, dtype=np.uint64) * np.uint64(2)
    first = second = 0
    for word in words.tolist():
        first = (first + word) % 2 ** 64
        second = (second + first) % 2 ** 64
    assert tuple(int(v) for v in fletcher64(words)) == (first, second)


# A GEMM (two buses: sender sets cut from whole traces) and a block all-reduce (a broadcast from one PE, whose
# per-PE order `Deliveries.one_source` keeps) with every trace kept on disk (STORE_ENTRIES = 1), reporting
# their results, cycles, how many traces and orders were computed and how many traces came from files.
PROGRAM = r'''
import hashlib, json, sys
import numpy as np
import wafersim as ws
from wafersim.kernels import gemm, reduce
from wafersim.sim import deliveries, routing, trace_store

trace_store.STORE_ENTRIES = 1
counts = {"traced": 0, "ordered": 0}
original_trace, original_order = routing.trace, deliveries.distinct_order

def counted_trace(*args, **kwargs):
    counts["traced"] += 1
    return original_trace(*args, **kwargs)

def counted_order(keys):
    counts["ordered"] += 1
    return original_order(keys)

routing.trace, deliveries.distinct_order = counted_trace, counted_order
rng = np.random.default_rng(5)
a, b = (rng.random((24, 24), dtype=np.float32) for _ in range(2))
c, gemm_stats = gemm.gemm(a, b, 6)
values = rng.random((8, 16), dtype=np.float32)
total, reduce_stats = reduce.block_allreduce(values, "sum", (16, 8))
loaded = sum(kept.stored_as is not None for kept in routing.TRACE_CACHE.values())
print(json.dumps({"c": hashlib.sha256(c.tobytes()).hexdigest(), "total": hashlib.sha256(total.tobytes()).hexdigest(),
                  "cycles": [float(gemm_stats.cycles), float(reduce_stats.cycles)], "stored": loaded, **counts}))
'''


def run(cache: Path, enabled: bool = True) -> dict:
    env = dict(os.environ, WAFERSIM_CACHE_DIR=str(cache), WAFERSIM_KERNEL_CACHE="1" if enabled else "0")
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_later_process_loads_the_traces_and_computes_the_same_to_the_cycle(tmp_path):
    reference = run(tmp_path / "off", enabled=False)
    assert not list((tmp_path / "off").glob("*.routes"))
    first = run(tmp_path / "cache")
    files = sorted((tmp_path / "cache").glob("*.routes"))
    assert files and first["traced"] == reference["traced"] > 0 and first["ordered"] == reference["ordered"] > 0
    second = run(tmp_path / "cache")
    assert second["traced"] == 0 and second["ordered"] == 0 and second["stored"] == first["stored"] > 0
    for name in ("c", "total", "cycles"):
        assert first[name] == second[name] == reference[name], name
    # Damaged files are traced again, to the same results, and written whole again: the files the second
    # process loaded, byte for byte (a fifth process loading them added ~1/5 of this test's CPU, no check).
    whole = {path: path.read_bytes() for path in files}
    for i, path in enumerate(files):
        data = bytearray(whole[path])
        if i % 2:
            data[-3] ^= 0xFF
        path.write_bytes(bytes(data[:len(data) // 2] if i % 2 == 0 else data))
    third = run(tmp_path / "cache")
    assert third["traced"] == first["traced"] and third["ordered"] == first["ordered"]
    for name in ("c", "total", "cycles"):
        assert third[name] == reference[name], name
    assert sorted((tmp_path / "cache").glob("*.routes")) == files
    assert all(path.read_bytes() == data for path, data in whole.items())


def test_a_background_write_without_a_thread_to_be_had_is_written_at_once(store_dir, monkeypatch):
    """Where no thread can start (a process at its limit, an interpreter shutting down), the store writes the
    file itself, as a foreground store does: the launch goes on, and the file is there."""
    def refused(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    arrays = odd_arrays()
    trace_store.store("abc", arrays, in_background=True)
    assert not trace_store._pending and (store_dir / "abc.routes").exists()
    got = trace_store.load("abc")
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array)


def _in_a_forked_child(body) -> int:
    """The exit status of a forked child that runs `body()` (0 where it returns true), ended by SIGALRM after
    20 s where it hangs."""
    import signal
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        try:
            ok = body()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"), reason="fork is POSIX's")
def test_a_child_forked_while_a_writer_holds_the_pending_lock_does_not_hang(store_dir):
    """A writer thread of the parent may hold `_pending_lock` at the fork (as it ends); the child has no such
    thread to release it, so its first load waited forever on the copied lock."""
    trace_store.store("abc", sample_arrays())
    with trace_store._pending_lock:
        status = _in_a_forked_child(lambda: trace_store.load("abc") is not None and trace_store.wait() is None)
    assert status == 0


@pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"), reason="fork is POSIX's")
def test_a_child_forked_during_a_background_write_forgets_it_and_reads_no_half_file(store_dir, monkeypatch):
    """The parent's pending write is not the child's: the child's load does not wait for a thread it does not
    have, finds no file yet (the parent's write is held back), and stores and reads its own; the parent's file
    is whole once its write ends."""
    arrays, other = sample_arrays(1), sample_arrays(2)
    release, written = threading.Event(), trace_store._write

    def held_write(*args):
        release.wait(timeout=60)
        written(*args)

    monkeypatch.setattr(trace_store, "_write", held_write)
    trace_store.store("abc", arrays, in_background=True)

    def child() -> bool:
        if trace_store._pending or trace_store.load("abc") is not None:
            return False
        monkeypatch.setattr(trace_store, "_write", written)
        trace_store.store("xyz", other, in_background=True)
        got = trace_store.load("xyz")
        return all(np.array_equal(got[name], array) for name, array in other.items())

    try:
        assert _in_a_forked_child(child) == 0
    finally:
        release.set()
    got = trace_store.load("abc")
    assert got is not None and all(np.array_equal(got[name], array) for name, array in arrays.items())
    assert not trace_store._pending


def test_many_names_stored_at_once_from_several_threads_are_each_read_back_whole(store_dir, monkeypatch):
    """Forty background writes begun from four threads, held until all are begun: a load from another thread
    while they are held waits for its own name's write, and every file is read back as stored."""
    release, written = threading.Event(), trace_store._write

    def held_write(*args):
        release.wait(timeout=60)
        written(*args)

    monkeypatch.setattr(trace_store, "_write", held_write)
    stored = {f"n{k}": sample_arrays(k) for k in range(40)}
    names = sorted(stored)

    def store_some(part: list[str]) -> None:
        for name in part:
            trace_store.store(name, stored[name], in_background=True)

    starters = [threading.Thread(target=store_some, args=(names[k::4],)) for k in range(4)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    loaded = {}
    loader = threading.Thread(target=lambda: loaded.update(n7=trace_store.load("n7")))
    loader.start()
    loader.join(timeout=0.2)
    assert loader.is_alive() and not loaded  # (it waits for the held write of n7)
    release.set()
    loader.join(timeout=60)
    trace_store.wait()
    assert not trace_store._pending
    for name in names:
        got = loaded[name] if name in loaded else trace_store.load(name)
        assert got is not None and list(got) == list(stored[name])
        for field, array in stored[name].items():
            np.testing.assert_array_equal(got[field], array)
