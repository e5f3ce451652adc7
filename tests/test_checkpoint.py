"""Device.save / Device.load: spec, memory, arrays and launch history survive a round trip; a launch after
loading gives bit-identical results and cycle counts; damaged or foreign files are CheckpointErrors."""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import numpy as np
import pytest

import wafersim as ws
from wafersim.runtime import checkpoint
from test_routes import ONE_WORD  # (a root sends one word through its router; the others receive it)

SPEC = ws.WaferSpec(width=8, height=8, fifo_depth=8)


@ws.jit
def shift_scale(u, out, a):
    """out = a * (u shifted one PE east within each block row, the west edge keeping its own value) + 1."""
    x, y = ws.grid(2)
    c = u[y, x]
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, c)
    w = ws.recv(ws.WEST) if ws.has_neighbor(ws.WEST) else c
    if x == 0 and y == 0:
        ws.print("corner", w)
    out[y, x] = a * w + 1.0


def reference(u: np.ndarray, a: np.float32, block_width: int) -> np.ndarray:
    shifted = u.copy()
    for x in range(u.shape[1]):
        if x % block_width:
            shifted[:, x] = u[:, x - 1]
    return (a * shifted + np.float32(1.0)).astype(np.float32)


def first_half(dev: ws.Device):
    """A device with two named arrays, a freed array, a raw allocation and one launch on a second stream."""
    u = np.random.default_rng(7).random((8, 8), dtype=np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array((8, 8))
    dev.device_array(5, np.int32).free()
    raw = dev.malloc(12)
    dev.memcpy_htod(raw, np.array([3, 1, 4], dtype=np.int32))
    stream = dev.stream()
    shift_scale[(2, 2), (4, 4), stream](d_u, d_out, np.float32(0.5), print_output=False)
    return u, d_u, d_out, raw, stream


def test_round_trip_keeps_spec_memory_arrays_streams_and_launch_history(tmp_path):
    dev = ws.Device(SPEC)
    u, d_u, d_out, raw, stream = first_half(dev)
    path = dev.save(tmp_path / "device.npz", arrays={"u": d_u, "out": d_out})
    assert path == tmp_path / "device.npz" and path.exists()

    loaded = ws.Device.load(path)
    assert loaded.spec == SPEC
    assert [(s.name, s.time, s.log) for s in loaded.streams] == [(s.name, s.time, s.log) for s in dev.streams]
    arrays = loaded.arrays()
    assert list(arrays) == ["u", "out"]                     # address order; the freed array is gone
    assert np.array_equal(arrays["u"].copy_to_host(), u)
    assert np.array_equal(arrays["out"].copy_to_host(), reference(u, np.float32(0.5), 4))
    assert [(a.shape, a.dtype, a.address) for a in arrays.values()] == \
        [(d_u.shape, d_u.dtype, d_u.address), (d_out.shape, d_out.dtype, d_out.address)]
    # the raw allocation's bytes are there, at its address
    assert loaded.memory.lookup(raw.address).storage[:12].view(np.int32).tolist() == [3, 1, 4]

    (before,), (after,) = dev.launches, loaded.launches
    assert after.summary() == before.summary() and after.spec == before.spec
    for field in dataclasses.fields(ws.LaunchStats):
        value = getattr(before, field.name)
        if isinstance(value, np.ndarray):
            restored = getattr(after, field.name)
            assert restored.dtype == value.dtype and np.array_equal(restored, value), field.name
        elif field.name != "trace":
            assert getattr(after, field.name) == value, field.name
    assert [p.text for p in after.prints] == ["corner"] and after.prints[0].value == pytest.approx(u[0, 0])
    assert loaded.last_launch is loaded.launches[-1]


def test_every_statistic_is_saved_or_marked_not_saved(tmp_path):
    """Routed words per link (`routed_link_words`, a dict of arrays) were left out of the file silently;
    now every LaunchStats field is written, or is one `SKIPPED_STATS_FIELDS` names (marked `*_not_saved`)."""
    dev = ws.Device(SPEC)
    stats = dev.launch(ws.assemble(ONE_WORD), 1, (6, 1), [], routes=[ws.routes.row_broadcast(1, root=0)])
    assert stats.routed_link_words[1].sum() == 5
    loaded = ws.Device.load(dev.save(tmp_path / "routed.npz")).last_launch
    assert sorted(loaded.routed_link_words) == [1]   # was: {}
    assert loaded.routed_link_words[1].dtype == stats.routed_link_words[1].dtype
    np.testing.assert_array_equal(loaded.routed_link_words[1], stats.routed_link_words[1])
    np.testing.assert_array_equal(loaded.metric("routed_words_1"), stats.metric("routed_words_1"))
    record = checkpoint._stats_record(stats, 0, {})
    assert {f.name for f in dataclasses.fields(ws.LaunchStats)} - set(record) == checkpoint.SKIPPED_STATS_FIELDS - {"races"}


def test_unnamed_arrays_are_keyed_by_address_and_new_allocations_do_not_overlap(tmp_path):
    dev = ws.Device(SPEC)
    _, d_u, d_out, raw, _ = first_half(dev)
    assert list(dev.arrays()) == [f"0x{d_u.address:x}", f"0x{d_out.address:x}"]
    loaded = ws.Device.load(dev.save(tmp_path / "d.npz"))
    assert list(loaded.arrays()) == list(dev.arrays())

    fresh = loaded.device_array(64, np.int32)
    taken = [(a.base, a.end) for a in loaded.memory.allocations() if a.base != fresh.address]
    assert all(fresh.address >= end or fresh.address + fresh.nbytes <= base for base, end in taken)
    with pytest.raises(ws.InvalidPointerError):             # pointers of the saved device stay its own
        loaded.free(raw)


def test_a_launch_after_load_is_bit_identical_to_one_without_save_and_load(tmp_path):
    plain = ws.Device(SPEC)
    u, d_u, d_out, _, stream = first_half(plain)
    second = shift_scale[(2, 2), (4, 4), stream](d_out, d_u, np.float32(-3.0), print_output=False)

    saved = ws.Device(SPEC)
    _, s_u, s_out, _, _ = first_half(saved)
    loaded = ws.Device.load(saved.save(tmp_path / "mid.npz", arrays={"u": s_u, "out": s_out}))
    arrays = loaded.arrays()
    again = shift_scale[(2, 2), (4, 4), loaded.streams[1]](arrays["out"], arrays["u"], np.float32(-3.0),
                                                            print_output=False)

    expected = reference(reference(u, np.float32(0.5), 4), np.float32(-3.0), 4)
    assert np.array_equal(d_u.copy_to_host(), expected)
    assert arrays["u"].copy_to_host().tobytes() == d_u.copy_to_host().tobytes()
    assert (again.cycles, again.start_cycle, again.instructions) == (second.cycles, second.start_cycle,
                                                                      second.instructions)
    for name in ("busy", "stall", "pe_instructions", "link_words"):
        assert np.array_equal(getattr(again, name), getattr(second, name)), name
    assert len(loaded.launches) == 2


def test_save_refuses_arrays_it_cannot_name(tmp_path):
    dev, other = ws.Device(SPEC), ws.Device(SPEC)
    mine, theirs = dev.device_array(4), other.device_array(4)
    with pytest.raises(ws.ArgumentTypeError):
        dev.save(tmp_path / "a.npz", arrays=[mine])
    with pytest.raises(ws.InvalidPointerError):
        dev.save(tmp_path / "a.npz", arrays={"theirs": theirs})
    with pytest.raises(ws.LaunchError, match="same device array"):
        dev.save(tmp_path / "a.npz", arrays={"a": mine, "b": mine})
    mine.free()
    with pytest.raises(ws.MemoryAccessError):
        dev.save(tmp_path / "a.npz", arrays={"mine": mine})
    assert not (tmp_path / "a.npz").exists()


def rewrite_meta(source, target, change) -> None:
    """Copy a device file, passing its meta document through `change`."""
    with np.load(source) as npz:
        data = {name: npz[name] for name in npz.files}
    meta = json.loads(str(data["meta"][()]))
    change(meta)
    data["meta"] = np.array(json.dumps(meta))
    with open(target, "wb") as fh:
        np.savez(fh, **data)


@pytest.fixture(scope="module")
def saved_file(tmp_path_factory):
    dev = ws.Device(SPEC)
    first_half(dev)
    return dev.save(tmp_path_factory.mktemp("ckpt") / "device.npz")


def damaged(kind: str, good, folder):
    path = folder / f"{kind}.npz"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupted":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])
    elif kind == "not npz":
        path.write_text("hello")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "missing":
        pass
    elif kind == "npz without meta":
        with open(path, "wb") as fh:
            np.savez(fh, x=np.arange(3))
    elif kind == "other format version":
        rewrite_meta(good, path, lambda meta: meta.update(format_version=checkpoint.FORMAT_VERSION + 1))
    elif kind == "other format":
        rewrite_meta(good, path, lambda meta: meta.update(format="something.else"))
    elif kind == "memory of the wrong size":
        rewrite_meta(good, path, lambda meta: meta["allocations"][0].update(size=10_000))
    elif kind == "missing allocation":
        rewrite_meta(good, path, lambda meta: meta["allocations"].append(dict(meta["allocations"][0])))
    elif kind == "overlapping allocations":
        rewrite_meta(good, path, lambda meta: meta["allocations"][1].update(base=meta["allocations"][0]["base"]))
    elif kind == "invalid spec":
        rewrite_meta(good, path, lambda meta: meta["spec"].update(width=-3))
    return path


@pytest.mark.parametrize("kind", ["truncated", "corrupted", "not npz", "empty", "missing", "npz without meta",
                                  "other format version", "other format", "memory of the wrong size",
                                  "missing allocation", "overlapping allocations", "invalid spec"])
def test_damaged_or_foreign_files_are_checkpoint_errors(kind, saved_file, tmp_path):
    assert ws.Device.load(saved_file).spec == SPEC          # the file it was made from loads
    with pytest.raises(ws.CheckpointError) as info:
        ws.Device.load(damaged(kind, saved_file, tmp_path))
    assert isinstance(info.value, ValueError) and isinstance(info.value, ws.WaferError)
    assert str(tmp_path) in str(info.value)
    if kind == "other format version":
        assert info.value.version == checkpoint.FORMAT_VERSION + 1
        assert info.value.supported == checkpoint.FORMAT_VERSION


def test_the_file_is_a_plain_npz_with_a_version_field(saved_file):
    with zipfile.ZipFile(saved_file) as archive:
        assert "meta.npy" in archive.namelist()
    with np.load(saved_file, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"][()]))
    assert (meta["format"], meta["format_version"]) == ("wafersim.device", checkpoint.FORMAT_VERSION)


def test_a_traced_launch_read_back_says_its_trace_was_not_saved(tmp_path):
    device = ws.Device(SPEC)
    d_u = device.to_device(np.ones((8, 8), np.float32))
    d_out = device.device_array((8, 8))
    traced = shift_scale[(2, 2), (4, 4)](d_u, d_out, np.float32(0.5), trace=True, print_output=False)
    untraced = shift_scale[(2, 2), (4, 4)](d_u, d_out, np.float32(0.5), print_output=False)
    assert traced.to_perfetto(tmp_path / "before.json").exists()
    loaded = ws.Device.load(device.save(tmp_path / "traced.npz"))
    with pytest.raises(ws.LaunchError, match="was traced, but its trace is not saved with the device"):
        loaded.launches[0].to_perfetto(tmp_path / "after.json")    # was: "this launch was not traced"
    with pytest.raises(ws.LaunchError, match="this launch was not traced: launch with trace=True"):
        loaded.launches[1].to_perfetto(tmp_path / "untraced.json")
    assert untraced.trace is None and not loaded.launches[1].trace_not_saved
    # saved again after loading: still known to have been traced
    again = ws.Device.load(loaded.save(tmp_path / "again.npz"))
    assert again.launches[0].trace_not_saved and not again.launches[1].trace_not_saved


@ws.jit
def racy(v, out):
    """Every PE writes word 0 of `out`: a write-write race."""
    x = ws.grid(1)
    out[0] = v[x]


def test_race_reports_are_saved_and_kept_state_is_marked_not_saved(tmp_path):
    device = ws.Device(ws.WaferSpec(width=16, height=16))
    v, out = device.to_device(np.arange(16, dtype=np.float32)), device.device_array(16)
    kept = racy[4, 4](v, out, racecheck="report", keep_state=True)
    plain = racy[4, 4](v, out)
    assert kept.races and kept.state is not None
    loaded = ws.Device.load(device.save(tmp_path / "races.npz"))
    first, second = loaded.launches
    assert first.races == kept.races and first.races_dropped == kept.races_dropped   # was: [] (race-free)
    assert [str(r) for r in first.races] == [str(r) for r in kept.races]
    assert first.state is None and first.state_not_saved                               # was: stateless
    assert "PE state kept at launch but not saved" in first.summary()
    assert not second.races and not second.state_not_saved
    assert "not saved" not in second.summary()
    again = ws.Device.load(loaded.save(tmp_path / "again.npz"))   # saved again after loading: still known
    assert again.launches[0].races == kept.races and again.launches[0].state_not_saved


def test_saves_to_one_path_at_once_each_write_a_whole_file(tmp_path, monkeypatch):
    """Another save to the same path, made while a save is writing (as by another process or thread), does
    not share its temporary file: both succeed and the file left is one of them, whole."""
    path = tmp_path / "shared.npz"
    first, second = ws.Device(SPEC), ws.Device(SPEC)
    first.to_device(np.arange(64, dtype=np.float32))
    second.to_device(np.full(8, 2, np.float32))
    real, written = np.savez_compressed, []

    def interleaved(file, **data):
        written.append(file.name)
        if len(written) == 1:
            second.save(path)  # the other save, in the middle of this one
        real(file, **data)

    monkeypatch.setattr(np, "savez_compressed", interleaved)
    first.save(path)
    monkeypatch.undo()
    assert len(set(written)) == 2 and all(os.path.dirname(w) == str(tmp_path) for w in written)
    loaded = ws.Device.load(path)  # the last rename wins: the first save's
    assert np.array_equal(next(iter(loaded.arrays().values())).copy_to_host(), np.arange(64, dtype=np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.npz"]  # no temporary file left


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def failing(file, **data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", failing)
    with pytest.raises(ws.CheckpointError, match="No space left"):
        ws.Device(SPEC).save(tmp_path / "a.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_npy_file_is_a_checkpoint_error_saying_what_it_is(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(2))
    for read in (ws.Device.load, ws.resume_launch):
        with pytest.raises(ws.CheckpointError, match=r"a single NumPy array \(float64 \(2,\), a \.npy file\)"):
            read(tmp_path / "a.npy")   # was: TypeError (no context manager protocol)


def test_an_array_may_not_be_named_as_another_array_is_known(tmp_path):
    device = ws.Device(SPEC)
    a, b = device.to_device(np.full(4, 1, np.float32)), device.to_device(np.full(4, 2, np.float32))
    with pytest.raises(ws.LaunchError, match=f"named '0x{b.address:x}'.*not an address"):
        device.save(tmp_path / "n.npz", arrays={f"0x{b.address:x}": a})   # was: one array lost on load
    with pytest.raises(ws.LaunchError, match="not an address"):
        device.save(tmp_path / "n.npz", arrays={"0x10000": a})  # an address another array may take later
    assert not (tmp_path / "n.npz").exists()
    ws.Device.load(device.save(tmp_path / "own.npz", arrays={f"0x{a.address:x}": a}))  # its own address: fine
    loaded = ws.Device.load(device.save(tmp_path / "n.npz", arrays={"first": a}))
    with pytest.raises(ws.LaunchError, match="both named 'first'"):
        loaded.save(tmp_path / "m.npz", arrays={"first": loaded.arrays()[f"0x{b.address:x}"]})
    renamed = loaded.save(tmp_path / "r.npz", arrays={"second": loaded.arrays()["first"]})
    assert sorted(ws.Device.load(renamed).arrays()) == [f"0x{b.address:x}", "second"]
    # a hand-edited file with two arrays of one name
    rewrite_meta(renamed, tmp_path / "dup.npz", lambda meta: meta["allocations"][1].update(name="second"))
    with pytest.raises(ws.CheckpointError, match="both named 'second'"):
        ws.Device.load(tmp_path / "dup.npz")


@pytest.mark.parametrize("field, value, error", [
    ("dtype", "<c16", "shape .* and dtype '<c16' take 128 bytes, but its allocation \\(size\\) has 32: the dtype"),
    ("dtype", "<f8", "shape \\[8\\] and dtype '<f8' take 64 bytes, .* the dtype \\(or the shape\\) does not match"),
    ("dtype", "|i1", "dtype '|i1' take 8 bytes"),
    ("dtype", "O", "allocations\\[0\\].dtype is 'O', not a dtype a device array holds"),
    ("dtype", 3, "allocations\\[0\\].dtype is 3"),
    ("shape", [1000], "shape \\[1000\\] and dtype '<f4' take 4000 bytes.*: the shape \\(or the dtype\\)"),
    ("shape", [3], "shape \\[3\\] and dtype '<f4' take 12 bytes"),
    ("shape", [-8], "allocations\\[0\\].shape is \\[-8\\], not a list of non-negative ints"),
    ("shape", "8", "allocations\\[0\\].shape is '8'"),
    ("name", 5, "allocations\\[0\\].name is 5")])
def test_metadata_that_does_not_match_the_data_is_refused_at_load(tmp_path, field, value, error):
    device = ws.Device(SPEC)
    good = device.save(tmp_path / "good.npz", arrays={"d": device.to_device(np.arange(8, dtype=np.float32))})
    rewrite_meta(good, tmp_path / "bad.npz", lambda meta: meta["allocations"][0].update({field: value}))
    with pytest.raises(ws.CheckpointError, match=error) as info:   # was: loaded, failing later
        ws.Device.load(tmp_path / "bad.npz")
    assert info.value.field == field   # was "shape" where only the dtype differed


@pytest.mark.parametrize("edit, field", [
    (lambda meta: meta.update(next_serial=1), "next_serial"),
    (lambda meta: meta.update(next_serial=meta["allocations"][-1]["serial"]), "next_serial"),
    (lambda meta: meta.update(next_serial="9"), "next_serial"),
    (lambda meta: meta["allocations"][1].update(serial=meta["allocations"][0]["serial"]), "serial"),
    (lambda meta: meta["allocations"][0].update(serial=0), "serial")])
def test_hand_edited_serials_that_would_mix_arrays_are_refused_at_load(tmp_path, edit, field):
    device = ws.Device(SPEC)
    a = device.to_device(np.arange(8, dtype=np.float32))
    b = device.to_device(np.arange(4, dtype=np.int32))
    good = device.save(tmp_path / "good.npz", arrays={"a": a, "b": b})
    rewrite_meta(good, tmp_path / "bad.npz", edit)
    with pytest.raises(ws.CheckpointError, match=field) as info:   # was: loaded, a new array taking a's serial
        ws.Device.load(tmp_path / "bad.npz")
    assert info.value.field == field and info.value.path == str(tmp_path / "bad.npz")


def test_a_new_array_after_load_keeps_its_own_layout_and_name(tmp_path):
    device = ws.Device(SPEC)
    good = device.save(tmp_path / "good.npz", arrays={"a": device.to_device(np.arange(8, dtype=np.float32))})
    loaded = ws.Device.load(good)
    fresh = loaded.to_device(np.arange(3, dtype=np.int32))
    assert sorted(loaded.arrays()) == sorted(["a", f"0x{fresh.address:x}"])
    assert loaded.arrays()["a"].dtype == np.float32 and fresh.dtype == np.int32


def test_save_refuses_a_folder_or_a_missing_folder_by_name(tmp_path, monkeypatch):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    monkeypatch.chdir(tmp_path)
    for folder in (".", tmp_path):
        with pytest.raises(ws.CheckpointError, match="is a folder") as info:
            dev.save(folder)
        assert info.value.path == str(folder)
    with pytest.raises(ws.CheckpointError, match="'missing' does not exist"):
        dev.save("missing/dev.npz")
    with pytest.raises(ws.CheckpointError, match="cannot write launch option checkpoint 'missing/c.npz'"):  # before it runs
        dev.launch(ws.assemble("halt"), 1, 1, [], checkpoint_every=1, checkpoint="missing/c.npz")
