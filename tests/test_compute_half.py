"""The engine's 16-bit float instructions (sim/compute_half.py), written in assembly: each PE's result
against NumPy / ml_dtypes on the same 16-bit values, the `.b` (bfloat16) modifier through the assembler
and disassembler, per-PE operands, and operands outside the data segment.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from wafersim.isa import halfprec

PES = 8
N = 6
# Each PE i: its 2N input words at global word i * 2N go to SRAM [0, 2N); results at [2N, 5N) go back.
PROGRAM = """
.name half_ops
.sram {sram}
.args 3                  # inputs (words), outputs (words), length n
    sreg r1, tid.x
    muli r2, r1, {in_bytes}
    arg r3, 0
    add r3, r3, r2
    li r4, 0
    li r5, {two_n}
    gldv r4, r3, r5       # x at [0, n), y at [n, 2n)
    arg r6, 2             # n (the same on every PE)
    li r7, {n}
    li r8, {out0}
    li r9, {out1}
    li r10, {out2}
    vhadd{b} r8, r4, r7, r6      # x + y (16-bit)
    vcvtf{b} r9, r4, r6          # float32(x)
    vwfma{b} r9, r4, r7, r6      # float32(x) + float32(x) * float32(y)
    ld r11, r0, {n}              # y[0] bits
    h2f{b} r12, r11
    vhfma.s{bl} r10, r4, r12, r6  # out2 (zeros) += x * y[0] (16-bit)
    ld r13, r0, 0
    h2f{b} r13, r13
    fadd r13, r13, r13
    f2h{b} r13, r13
    st r13, r10, 0               # out2[0] = 16-bit(2 * x[0])
    muli r2, r1, {out_bytes}
    arg r3, 1
    add r3, r3, r2
    li r14, {three_n}
    gstv r3, r8, r14
    halt
"""


def program(bfloat: bool) -> ws.Program:
    return ws.assemble(PROGRAM.format(sram=5 * N, in_bytes=8 * N, out_bytes=12 * N, two_n=2 * N, n=N, out0=2 * N,
                                      out1=3 * N, out2=4 * N, three_n=3 * N, b=".b" if bfloat else "",
                                      bl="b" if bfloat else ""))


@pytest.mark.parametrize("kind", ["f16", "bf16"])
def test_each_pe_computes_what_numpy_computes_in_16_bits(kind):
    dtype = halfprec.HALF_DTYPES[kind]
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((PES, N)) * 4).astype(dtype)
    y = (rng.standard_normal((PES, N)) * 4).astype(dtype)
    words = np.concatenate([halfprec.host_to_words(x), halfprec.host_to_words(y)], axis=1).astype(np.int32)
    dev = ws.Device(ws.WaferSpec(width=PES, height=1))
    d_out = dev.device_array((PES, 3 * N), np.int32)
    ws.Kernel(program(kind == "bf16"))[(1, 1), (PES, 1)](dev.to_device(words), d_out, N)
    out = d_out.copy_to_host()
    got_sum = halfprec.from_words(out[:, :N], kind)
    got_acc = out[:, N:2 * N].view(np.float32)
    got_fma = halfprec.from_words(out[:, 2 * N:], kind)
    np.testing.assert_array_equal(got_sum.view(np.uint16), (x + y).view(np.uint16))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    np.testing.assert_array_equal(got_acc, x32 + x32 * y32)
    expected_fma = np.zeros((PES, N), dtype) + x * y[:, :1]
    expected_fma[:, 0] = (x32[:, 0] + x32[:, 0]).astype(dtype)
    np.testing.assert_array_equal(got_fma.view(np.uint16), expected_fma.view(np.uint16))
    assert out[:, 2 * N:].min() >= 0 and out[:, :N].max() <= 0xFFFF  # 16-bit results leave the high half zero


def test_bfloat16_modifier_round_trips_through_the_disassembler():
    text = ws.disassemble(program(True))
    assert "vhadd.b" in text and "vhfma.sb" in text and "f2h.b" in text
    assert ws.disassemble(ws.assemble(text)) == text
    with pytest.raises(ws.AssemblyError, match="takes no .b modifier"):
        ws.assemble(".name bad\n    vadd.b r1, r2, r3, r4\n    halt\n")


def test_an_operand_outside_the_data_segment_is_a_memory_access_error():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    prog = ws.assemble(".name oob\n.sram 8\n    li r1, 4\n    li r2, 6\n    vhadd r1, r0, r0, r2\n    halt\n")
    with pytest.raises(ws.MemoryAccessError, match=r"vhadd operand d: SRAM words \[4, 10\) outside"):
        ws.Kernel(prog)[(1, 1), (1, 1)]()


def test_bfloat16_values_are_ml_dtypes_bits():
    """The word form is the dtype's own bit pattern in the low half (what `host_to_words` writes)."""
    values = np.array([1.0, -2.5, 3.0e38], ml_dtypes.bfloat16)
    words = halfprec.host_to_words(values)
    assert words.tolist() == [0x3F80, 0xC020, values.view(np.uint16)[2]]
    np.testing.assert_array_equal(halfprec.words_to_host(words, values.dtype), values)


M = 8  # 16-bit values per PE in `some_pes_scale`


@ws.jit
def some_pes_scale(h_in, w_in, out, skip):
    x, y = ws.grid(2)
    me = y * ws.blockDim.x + x
    h = ws.local.array(M, np.float16)
    w = ws.local.array(M, np.float16)
    acc = ws.local.array(M, np.float32)
    h[0:M] = h_in[me, 0:M]
    w[0:M] = w_in[me, 0:M]
    acc[0:M] = 0.5
    if x % skip != 0:  # a divergent group: every skip-th column of PEs leaves its values as they are
        h[0:M] = h[0:M] * w[0:M] - 0.75
        acc[0:M] += h[0:M] * w[0:M]
        h[0:M] = acc[0:M]
    out[me, 0:M] = h[0:M]


@pytest.mark.parametrize("skip", [2, 3, 100])  # 100: one PE per row skips (nearly converged)
@pytest.mark.parametrize("compiled", [True, False])
def test_16_bit_vector_ops_of_divergent_groups_leave_the_other_pes_alone(skip, compiled):
    from wafersim.sim.strategy import Strategy, forced

    width, height = 96, 4
    rng = np.random.default_rng(skip)
    h = (rng.standard_normal((width * height, M)) * 3).astype(np.float16)
    w = (rng.standard_normal((width * height, M)) * 3).astype(np.float16)
    with forced(Strategy(compiled=compiled)):
        dev = ws.Device(ws.WaferSpec(width=width, height=height))
        d_out = dev.device_array(h.shape, np.float16)
        some_pes_scale[(1, 1), (width, height)](dev.to_device(h), dev.to_device(w), d_out, skip)
    scaled = h * w - np.float16(0.75)
    changed = (np.float32(0.5) + scaled.astype(np.float32) * w.astype(np.float32)).astype(np.float16)
    runs = (np.arange(width * height) % width % skip != 0)[:, None]
    np.testing.assert_array_equal(d_out.copy_to_host().view(np.uint16), np.where(runs, changed, h).view(np.uint16))


def test_a_conversion_with_the_scalar_flag_runs_alike_under_every_strategy():
    """A stray `vcvth` word with the scalar flag set and b past the code's registers (test_fuzz_engine's draw,
    0x7C000202): the flag means nothing for a conversion, as on the NumPy path; the compiled path read register b
    for it and raised a bare IndexError. Every strategy now gives the same words and cycles."""
    from test_engine_strategies import run_every_strategy
    from wafersim.isa.encoding import decode

    code = np.array([0x7C000202], dtype=np.uint32)
    [(_, ins)] = decode(code)
    assert (ins.op, ins.b, ins.flags) == ("vcvth", 1, 2)
    program = ws.Program(code=code, name="fuzz", data_words=0)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=8, height=6, fifo_depth=4))
        buffer = dev.to_device(np.zeros(64, dtype=np.int32))
        stats = dev.launch(program, (2, 1), (1, 1), [buffer], max_cycles=5_000, print_output=False)
        return buffer.copy_to_host(), stats

    words, stats = run_every_strategy(launch)
    np.testing.assert_array_equal(words, np.zeros(64, dtype=np.int32))  # (no store: the buffer as it was)
    assert stats.instructions == stats.pe_instructions.sum() == 2  # (one vcvth on each of the grid's 2 PEs)
