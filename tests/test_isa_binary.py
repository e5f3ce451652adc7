"""Program files (src/wafersim/isa/binary.py, `.wsb`): checksum, versions, malformed metadata, whole writes."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from wafersim.errors import AssemblyError
from wafersim.isa import assemble


# ----------------------------------------------------------------- .wsb files: checksum, versions
def _wsb(tmp_path):
    from wafersim.isa import binary

    program = assemble(".args 2\n.sram 3\nloop:\n    li r1, 7\n    bz r1, loop\n    halt")
    return program, binary.save(program, tmp_path / "p.wsb").read_bytes()


def test_every_single_bit_flip_of_a_program_file_is_an_assembly_error(tmp_path):
    from wafersim.isa import binary

    _, data = _wsb(tmp_path)
    damaged = tmp_path / "damaged.wsb"
    for bit in range(len(data) * 8):   # was: most loaded (some running with wrong results), some a KeyError
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << bit % 8
        damaged.write_bytes(bytes(flipped))
        with pytest.raises(AssemblyError):
            binary.load(damaged)
    for cut in (3, 8, 11, len(data) // 2, len(data) - 1):  # truncated
        damaged.write_bytes(data[:cut])
        with pytest.raises(AssemblyError):
            binary.load(damaged)


def test_program_files_are_version_3_and_version_1_files_still_load(tmp_path):
    import zlib

    from wafersim.isa import binary

    program, data = _wsb(tmp_path)
    assert data[:4] == b"WSB3" and struct.unpack("<I", data[4:8])[0] == zlib.crc32(data[:4] + data[8:])
    (tmp_path / "v1.wsb").write_bytes(b"WSB1" + data[8:])   # version 1: the same without the checksum
    old = binary.load(tmp_path / "v1.wsb")
    assert old.code.tolist() == program.code.tolist() and old.labels == program.labels
    (tmp_path / "v4.wsb").write_bytes(b"WSB4" + data[4:])
    with pytest.raises(AssemblyError, match="version '4'; this wafersim reads versions 1 to 3"):
        binary.load(tmp_path / "v4.wsb")


@pytest.mark.parametrize("meta", [b"[1, 2]", b'{"name": "k"}', b'{"name": "k", "data_words": 0, "arg_count": 0, '
                                  b'"strings": [], "lines": [[1]]}'])
def test_a_program_file_with_malformed_metadata_is_an_assembly_error(tmp_path, meta):
    import zlib

    from wafersim.isa import binary

    body = struct.pack("<I", len(meta)) + meta + np.zeros(2, "<u4").tobytes()
    (tmp_path / "m.wsb").write_bytes(b"WSB2" + struct.pack("<I", zlib.crc32(body)) + body)  # checksum right
    with pytest.raises(AssemblyError, match="damaged program metadata"):   # was: KeyError, TypeError, ...
        binary.load(tmp_path / "m.wsb")


def test_a_program_file_is_written_whole_through_a_temporary_file(tmp_path, monkeypatch):
    """`.wsb` files were written in place: a crash mid-write left a torn file. Now a temporary file of a
    unique name in the same folder is renamed over the path (`errors.write_whole`)."""
    import os

    from wafersim import errors
    from wafersim.isa import binary

    program = assemble(".name p\nhalt")
    path = tmp_path / "p.wsb"
    renames, real = [], os.replace
    monkeypatch.setattr(errors.os, "replace", lambda source, target: renames.append((source, target))
                        or real(source, target))
    assert binary.save(program, path) == path
    ((source, target),) = renames
    assert target == path and source.parent == tmp_path and source != path
    assert binary.load(path).code.tolist() == program.code.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.wsb"]
    with pytest.raises(AssemblyError, match="it is a folder") as info:
        binary.save(program, tmp_path)
    assert info.value.path == str(tmp_path)


def _msgx_before_stop_51(word: int) -> int:
    """A stream op's word in the MSGX layout wafersim wrote before stop 51 (`odir[23:19] ... ch[5:1]
    flags[0]`), from today's (`odir[23:21] flags[20:19] ... ch[5:1] 0[0]`); flags then had only `.f`."""
    odir, flags = word >> 21 & 0x7, word >> 19 & 0x3
    assert flags in (0, 1)
    return (word & 0xFF07FFFE) | odir << 19 | flags


@pytest.mark.parametrize("magic", [b"WSB1", b"WSB2"])
def test_a_stream_op_in_a_file_written_before_stop_51_loads_as_it_was_written(tmp_path, magic):
    """Stop 51 moved MSGX's fields (odir to bits 23:21, flags to 20:19). A version 1 or 2 file holds the old
    layout: it must load as the instruction it was written as, not as the bits read the new way (was:
    `vaddx.f west, ...` loaded as `vaddx.fc north, ...`: another output port, a chain's tag)."""
    import zlib

    from wafersim.isa import binary, decode, disassemble

    text = ("li r1, 0x8F180001\nvaddx.f west, east, 3, r3, r4\nvminx south, north, 31, r5, r6\n"
            "vhmaxx none, ramp, 7, r1, r2\nvmaxx.f east, west, 0, r7, r8\nhalt\n")
    program = assemble(text)
    old_code = [w for w in program.code.tolist()]
    for pc, instr in decode(program.code):
        if instr.op.endswith("x") and instr.opcode.fmt == "MSGX":
            old_code[pc] = _msgx_before_stop_51(old_code[pc])
    assert old_code != program.code.tolist()
    data = binary.save(program, tmp_path / "new.wsb").read_bytes()
    body = data[8:]
    (length,) = struct.unpack("<I", body[:4])
    old_body = body[:4 + length] + np.array(old_code, "<u4").tobytes()
    header = magic if magic == b"WSB1" else magic + struct.pack("<I", zlib.crc32(old_body))
    (tmp_path / "old.wsb").write_bytes(header + old_body)
    loaded = binary.load(tmp_path / "old.wsb")
    assert loaded.code.tolist() == program.code.tolist()
    assert disassemble(loaded) == disassemble(program)


def _compiled_file_meta(tmp_path):
    """A compiled kernel's program file (float parameter `factor`) and its metadata, as JSON."""
    import json

    import wafersim as ws
    from wafersim.isa import binary

    @ws.jit
    def scale(out, factor):
        i = ws.grid(1)
        if i < out.shape[0]:
            out[i] = i * factor

    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    out = dev.device_array(4)
    data = binary.save(scale.compile_for(out, 2.0).program, tmp_path / "k.wsb").read_bytes()
    length = struct.unpack("<I", data[8:12])[0]
    return dev, out, json.loads(data[12:12 + length]), data[12 + length:]


def _rewritten(tmp_path, meta, code):
    import json
    import zlib

    body = json.dumps(meta).encode()
    body = struct.pack("<I", len(body)) + body + code
    path = tmp_path / "rewritten.wsb"
    path.write_bytes(b"WSB3" + struct.pack("<I", zlib.crc32(body, zlib.crc32(b"WSB3"))) + body)
    return path


def test_a_compiled_program_file_of_stop_51_without_argument_words_loads_and_launches_unchecked(tmp_path):
    """Files written before stop 52 hold no "arguments": the program loads as one of unknown argument words
    (as assembly), and launches with the words given, the right ones computing what they did."""
    import wafersim as ws
    from wafersim.isa import binary

    dev, out, meta, code = _compiled_file_meta(tmp_path)
    assert [entry[0] for entry in meta.pop("arguments")] == ["ptr", "dim", "f32"]
    program = binary.load(_rewritten(tmp_path, meta, code))
    assert program.arguments is None
    ws.Kernel(program)[1, 4](out, 4, 2.0)
    assert out.copy_to_host().tolist() == [2.0 * i for i in range(4)]
    ws.Kernel(program)[1, 4](out, 4, 2)  # (unchecked, as before: the int's bits read as a float, 2.8e-45)
    assert out.copy_to_host().tolist() == [float(np.float32(i) * np.uint32(2).view(np.float32)) for i in range(4)]


@pytest.mark.parametrize("arguments", [["ptr", "dim", "f32"], [["ptr", "out"], ["dim", "out"], ["real", "factor"]],
                                       [["ptr", "out"], ["dim", "out"], ["constant", "factor"]],
                                       [["ptr", "out"], ["dim", "out"], ["f32", 7]]])
def test_a_program_file_with_malformed_argument_words_is_an_assembly_error(tmp_path, arguments):
    """Each was taken: a string entry spelled out its letters as an ArgumentWord, an unknown kind raised a bare
    KeyError at launch, a constant without its word a bare TypeError."""
    from wafersim.isa import binary

    _, _, meta, code = _compiled_file_meta(tmp_path)
    meta["arguments"] = arguments
    with pytest.raises(AssemblyError, match="damaged program metadata"):
        binary.load(_rewritten(tmp_path, meta, code))
