"""The compiled interpreter's constants: operation kinds (`table.KINDS`) as module constants, so that
Numba folds them into the interpreter's if-chains, and what an executed instruction reports.

Numba freezes these numbers into the cached machine code of the files that use them; `numba_cache`
drops that cache whenever any file of this package changes, so a renumbering here can never leave
stale machine code behind.
"""
from __future__ import annotations

from .table import (A, B, C, D, DIR, FIFO, FLOAT, IMM, KIND, KINDS, LANE_ROW, NEXT, OUT_FIFO, OUT_LANE_ROW, SCALAR,
                    TAG)

(K_STOP, K_NOP, K_ADD, K_SUB, K_MUL, K_DIV, K_REM, K_AND, K_OR, K_XOR, K_SHL, K_SHR, K_SRA, K_MIN, K_MAX,
 K_SLT, K_SLE, K_SEQ, K_SNE, K_MOV, K_NEG, K_ABS, K_SEL,
 K_ADDI, K_MULI, K_ANDI, K_ORI, K_XORI, K_SHLI, K_SHRI, K_SRAI, K_SLTI, K_SEQI, K_LI,
 K_FADD, K_FSUB, K_FMUL, K_FDIV, K_FMIN, K_FMAX, K_FMA, K_FLT, K_FLE, K_FEQ, K_FNE, K_FNEG, K_FABS,
 K_FSQRT, K_ITOF, K_FTOI, K_FFLOOR, K_FCEIL, K_FTRUNC,
 K_BZ, K_BNZ, K_JMP,
 K_LD, K_ST, K_CHK, K_HASNB, K_SREG, K_ARG,
 K_VADD, K_VSUB, K_VMUL, K_VMIN, K_VMAX, K_VFMA, K_VSCALE, K_VCOPY, K_VFILL, K_VDIV, K_VREDSUM,
 K_VDOT, K_SEND, K_RECV, K_SENDV, K_RECVV, K_VADDX, K_VMAXX, K_VMINX) = range(len(KINDS))
assert (KIND, D, A, B, C, IMM, NEXT, FLOAT, SCALAR, LANE_ROW, FIFO, TAG, DIR, OUT_FIFO, OUT_LANE_ROW) == tuple(range(15))
assert K_RECVV == KINDS["recvv"] and K_VMINX == KINDS["vminx"] == len(KINDS) - 1  # lists agree
assert K_BZ == KINDS["bz"] and K_LD == KINDS["ld"] and K_VADDX == KINDS["vaddx"]
assert K_VDOT == KINDS["vdot"] and K_SEND == KINDS["send"]
assert K_SNE - K_SLT == K_FNE - K_FLT == 3 and K_FMAX - K_FADD == 5  # (`compare`, `float_binary`)

# Per-call statistics (`stats` argument; HALF_FLOPS: the flops on float16, `LaunchStats.half_flops`).
VECTOR_ELEMENTS, FLOPS, HALF_FLOPS = 0, 1, 2
STATS = 3
# What executing an instruction did: went on to the next instruction, took a branch, refused (executed
# nothing, or, for a vector transfer, stopped part-way with its progress kept: the instruction would fail,
# and the NumPy engine runs it and raises, with every other PE where it is), blocked (a fabric transfer
# waits for its FIFO: the PE is parked until a neighbour's push or pop wakes it, `fabric_ops`), or
# stopped (a backward branch past a limit: the PE, with every lane of its segment, stops before it, and
# the NumPy engine runs it; the other PEs go on to their own stops).
GO_ON, TAKEN, REFUSED, BLOCKED, STOPPED = 0, 1, 2, 3, 4
# ... or ran it and stops right after it (a routed word's sender and receiver: `routed_words`).
STOPPED_AFTER = 5

# The kinds of `register_block_kernels.run_block`'s own instructions, beside the register-only kinds above that
# it runs as they are (negative: apart from KINDS), as `register_blocks.RegisterRun` writes them: a float32 `vger`,
# a bounds check `chk`, a scalar load `ld` and store `st`, and (every vector kind <= BLOCK_VADD) the float32 vector
# ops and copies a run over lanes by index may hold.
BLOCK_VGER, BLOCK_CHK, BLOCK_LOAD, BLOCK_STORE = -1, -2, -3, -4
BLOCK_VADD, BLOCK_VSUB, BLOCK_VMUL, BLOCK_VSCALE, BLOCK_VCOPY = -10, -11, -12, -13, -14
