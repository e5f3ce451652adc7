"""Hand-written assembly kernels: the heat stencil of docs/api.md and saxpy, as the compiler would emit them.

Register conventions used here: r0 = 0; arguments are read with `arg`.
"""
from __future__ import annotations

from ..isa.assembler import Program, assemble

#: Global 2-D coordinates of this PE: x in r1, y in r4 (clobbers r2, r3, r5, r6).
GLOBAL_XY = """
    sreg r1, tid.x
    sreg r2, bid.x
    sreg r3, bdim.x
    mul r2, r2, r3
    add r1, r1, r2
    sreg r4, tid.y
    sreg r5, bid.y
    sreg r6, bdim.y
    mul r5, r5, r6
    add r4, r4, r5
"""

#: This PE's global linear index i = y * (gdim.x * bdim.x) + x in r1 (clobbers r2 .. r7).
GLOBAL_INDEX = GLOBAL_XY + """
    sreg r7, gdim.x
    mul r7, r7, r3
    mul r4, r4, r7
    add r1, r1, r4
"""

SAXPY = """
.name saxpy
.args 5                  # x, y, out, a, n
""" + GLOBAL_INDEX + """    arg r8, 4
    slt r9, r1, r8
    bz r9, done          # if i < n:
    shli r10, r1, 2
    arg r11, 0
    add r11, r11, r10
    gld r12, r11, 0      #   x[i]
    arg r11, 1
    add r11, r11, r10
    gld r13, r11, 0      #   y[i]
    arg r14, 3
    fma r12, r14, r12, r13
    arg r11, 2
    add r11, r11, r10
    gst r12, r11, 0      #   out[i] = a * x[i] + y[i]
done:
    halt
"""


def _exchange_sends() -> str:
    out = []
    for d in ("north", "east", "south", "west"):
        out.append(f"    hasnb r15, {d}\n    bz r15, sent_{d}\n    send.f32 {d}, 0, r10\nsent_{d}:")  # float32 words, checked on receipt
    return "\n".join(out)


def _exchange_recvs() -> str:
    out = []
    for d in ("north", "east", "south", "west"):
        out.append(f"""    hasnb r15, {d}
    bz r15, edge_{d}
    recv.f32 r17, {d}, 0
    jmp got_{d}
edge_{d}:
    mov r17, r10         # zero-flux edge: the missing neighbour reads as the cell itself
got_{d}:
    fadd r16, r16, r17""")
    return "\n".join(out)


HEAT = """
.name heat
.args 5                  # u, out, alpha, steps, row length of u
""" + GLOBAL_XY + """
    arg r7, 4
    mul r8, r4, r7
    add r8, r8, r1
    shli r8, r8, 2       # byte offset of u[y, x]
    arg r9, 0
    add r9, r9, r8
    gld r10, r9, 0       # c = u[y, x]
    arg r11, 2           # alpha
    arg r12, 3           # steps
    li r13, 0            # t
    li r14, 4.0
    slt r15, r13, r12
    bz r15, finish
step:
""" + _exchange_sends() + """
    li r16, 0.0          # acc
""" + _exchange_recvs() + """
    fmul r18, r14, r10
    fsub r18, r16, r18
    fmul r18, r11, r18
    fadd r10, r10, r18   # c = c + alpha * (acc - 4 c)
    bar
    addi r13, r13, 1
    slt r15, r13, r12
    bnz r15, step
finish:
    arg r9, 1
    add r9, r9, r8
    gst r10, r9, 0       # out[y, x] = c
    halt
"""


def saxpy_program() -> Program:
    return assemble(SAXPY)


def heat_program() -> Program:
    return assemble(HEAT)
