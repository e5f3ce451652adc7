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
