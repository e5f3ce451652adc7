"""The compiler encodes `Instr`s directly (compiler/encode.py): the binaries are bit-identical to what the
former assembly-text path produced (tests/conftest.py, `assembled_reference`; the session fixture there
checks every kernel any test compiles), a compiler bug is a `CompileError` at the kernel's source line
rather than an `AssemblyError`, and the line table survives a `.wsb` file."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import wafersim as ws
import wafersim.compiler as compiler
from wafersim.compiler.encode import encode_machine_code, to_instr
from wafersim.compiler.ir import Label, Op
from wafersim.errors import AssemblyError
from wafersim.isa import binary
from wafersim.isa.assembler import assemble
from wafersim.runtime.jit import Dispatcher

from conftest import assert_same_program, assembled_reference, line_of

RNG = np.random.default_rng(7)


def _library_runs():
    """(name, a call of a library host function at a small size) for the library's kernels."""
    from wafersim.kernels import gemm, gemv, heat, heat_tiled, life, reduce, saxpy, scan
    from wafersim.kernels.classic import cholesky, fft, histogram, mandelbrot  # (the host functions)
    from wafersim.kernels.ml import dense, elementwise
    from wafersim.kernels.solvers import stencil7
    from wafersim.kernels.sparse import dense as sparse_dense

    f32 = lambda *shape: RNG.random(shape, dtype=np.float32)  # noqa: E731
    spd = f32(8, 8) @ f32(8, 8).T + 8 * np.eye(8, dtype=np.float32)
    return [
        ("saxpy", lambda: saxpy.saxpy(np.float32(2), f32(64), f32(64), block=16)),
        ("heat", lambda: heat.heat(f32(4, 4), 0.1, 3)),
        ("heat_tiled", lambda: heat_tiled.heat_tiled(f32(16, 16), 0.1, 2, 8)),
        ("gemm", lambda: gemm.gemm(f32(32, 32), f32(32, 32), 2)),
        ("gemv", lambda: gemv.gemv(f32(64, 64), f32(64), 2, 2)),
        ("gemv_batch", lambda: gemv.gemv_batch(f32(64, 64), f32(3, 64), 2, 2)),
        ("life", lambda: life.life((RNG.random((6, 6)) < 0.4).astype(np.int32), 2)),
        ("allreduce", lambda: reduce.block_allreduce(f32(4, 4), "sum", (4, 4))),
        ("prefix sum", lambda: scan.prefix_sum(f32(2, 4))),
        ("mandelbrot", lambda: mandelbrot(8, 8, 8, tile=(4, 4))),
        ("histogram", lambda: histogram(f32(64), bins=4, p=2)),
        ("fft", lambda: fft(f32(16).astype(np.complex64), p=1)),
        ("cholesky", lambda: cholesky(spd, 2)),
        ("reduce", lambda: reduce.block_reduce(f32(4, 4), "max", (4, 4))),
        ("activation", lambda: elementwise.activation_forward(f32(4, 16), "relu")),
        ("column sum", lambda: dense.column_sum(f32(8, 16))),
        ("stencil7", lambda: stencil7(f32(4, 4, 8), (0.5, 0.1, 0.1, 0.1), 2)),
        ("dense spmv", lambda: sparse_dense.dense_spmv(f32(8, 8), f32(8), 2)),
    ]


@pytest.mark.parametrize("name, run", _library_runs(), ids=[name for name, _ in _library_runs()])
def test_library_kernels_are_bit_identical_to_the_text_path(name, run, monkeypatch):
    compiled_here = []
    emit = compiler.emit

    def recording(*args, **kwargs):
        compiled_here.append(emit(*args, **kwargs))
        return compiled_here[-1]

    monkeypatch.setattr(compiler, "emit", recording)
    for dispatcher in [obj for obj in gc.get_objects() if type(obj) is Dispatcher]:  # (type(): no attribute hooks)
        monkeypatch.setattr(dispatcher, "cache", {})  # (an earlier test may have compiled the kernel already)
    run()
    assert compiled_here, f"{name} compiled nothing"
    for compiled in compiled_here:
        reference = assembled_reference(compiled)
        assert_same_program(compiled.program, reference)
        # the listing is the program disassembled: it assembles back to the same words
        assert (assemble(compiled.asm_text).code == compiled.program.code).all()


def test_an_encoding_failure_is_a_compile_error_at_the_source_line():
    too_wide = Op("addi", d=1, a=2, imm=1 << 20, line=42)  # the 14-bit immediate cannot hold it
    with pytest.raises(ws.CompileError) as info:
        encode_machine_code([too_wide], "k", "kern.py")
    assert not isinstance(info.value, AssemblyError)
    assert info.value.line == 42 and "kern.py:42" in str(info.value) and "addi" in str(info.value)
    with pytest.raises(ws.CompileError, match="no flags"):
        to_instr(Op("add", d=1, a=2, b=3, flags=1, line=3), {})
    with pytest.raises(ws.CompileError, match="label"):
        encode_machine_code([Op("jmp", target=Label("nowhere"), line=5)])


def test_fields_outside_an_opcodes_operands_encode_as_zero():
    (word,) = encode_machine_code([Op("mov", d=1, a=2, b=7, imm=99, ch=3)])[0]
    assert word == assemble("mov r1, r2").code[0]


@ws.jit
def _reads_past_the_end(a, out):
    i = ws.grid(1)
    out[i] = a[i + 4]  # MARK-past


def test_a_wsb_file_keeps_the_line_table(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    a, out = dev.to_device(np.zeros(4, np.float32)), dev.device_array(4)
    program = _reads_past_the_end.compile_for(a, out, device=dev).program
    loaded = binary.load(binary.save(program, tmp_path / "k.wsb"))
    assert loaded.lines == program.lines and loaded.routes == program.routes and loaded.symbols == program.symbols
    assert (loaded.code == program.code).all()
    _, words = _reads_past_the_end.signature_of((a, out))
    with pytest.raises(ws.MemoryAccessError) as info:
        dev.launch(loaded, (1, 1), (4, 1), words)
    assert f":{line_of(_reads_past_the_end, 'MARK-past')}" in str(info.value)
