"""Executors of instructions that only compute: scalar ALU/FPU ops, SRAM loads and stores, vector ops.

Each instruction gets one executor closure (built once per wave by `ComputeMixin._compile`) that runs it
over a group of lanes with one NumPy call; none of them touches timing beyond vector element cycles.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import KernelValueError, KernelZeroDivisionError, LaunchError, MemoryAccessError
from ..isa import float_math
from ..isa.float_math import multiply_first_nan
from ..isa.encoding import Instr
from ..isa.opcodes import FLAG_FLOAT, FLAG_SCALAR, SLICE_BOUND_CHECKS, SPECIAL_REGISTERS
from ..isa.opcodes import HALF_VECTOR_OPS, STREAM_OPS
from .compute_half import SCALAR_HALF_OPS, HalfComputeMixin
from . import parallel
from .lanes import Lanes
from .descriptors import DESCRIPTOR_OPS, DescriptorMixin
from .sparse import SPARSE_OPS, SparseMixin
from .vector_batch import BATCHED_VECTOR_OPS, VectorBatch, fma_block
from .register_blocks import RegisterBlocks

# Instructions that read or change timing state, or transfer control: they end a straight-line run.
ROUTE_OPS = frozenset({"route", "routr"})  # (plain, except under racecheck's route watch: `_compile`)
_CONTROL = {"bz", "bnz", "jmp", "halt", "bar", "gbar", "send", "sendv", "recv", "recvv", "recva", "rwait", "senda", "swait", "gld", "gst", "gldv", "gstv", "print"} | STREAM_OPS  # (the stream ops: fabric transfers, `stream_ops`)

_INT_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "and": np.bitwise_and, "or": np.bitwise_or,
               "xor": np.bitwise_xor, "min": np.minimum, "max": np.maximum, "slt": np.less, "sle": np.less_equal,
               "seq": np.equal, "sne": np.not_equal}
_INT_IMMEDIATE = {"addi": np.add, "muli": np.multiply, "andi": np.bitwise_and, "ori": np.bitwise_or,
                  "xori": np.bitwise_xor, "slti": np.less, "seqi": np.equal}
_FLOAT_UNARY = {"fneg": np.negative, "fabs": np.abs, "fsqrt": np.sqrt, "fexp": np.exp, "flog": np.log,
                "ftanh": np.tanh, "fsin": np.sin, "fcos": np.cos, "ftan": np.tan, "fasin": np.arcsin,
                "facos": np.arccos, "fatan": np.arctan, "fsinh": np.sinh, "fcosh": np.cosh, "fasinh": np.arcsinh,
                "facosh": np.arccosh, "fatanh": np.arctanh, "fexpm1": np.expm1, "flog2": np.log2,
                "flog10": np.log10, "flog1p": np.log1p, "ffloor": np.floor, "fceil": np.ceil, "ftrunc": np.trunc,
                **float_math.UNARY}
#: Scalar float32 math with two operands (the result is float32, like fadd's).
FLOAT_MATH_BINARY = {"fatan2": np.arctan2, "fhypot": np.hypot, "fcopysign": np.copysign,
                     "ffmod": np.fmod, "ffloordiv": np.floor_divide, "fpymod": np.remainder, **float_math.BINARY}
#: Reductions of an SRAM range into a register, left to right (docs/python-supported.md).
REDUCTIONS = frozenset({"vredsum", "vredmin", "vredmax", "vdot"})
# (of two NaN operands, the payload np.add and np.multiply keep depends on the lane's position: a NaN test of every
# operand would cost ~11% of heat's time; docs/engine-strategies.md)
_FLOAT_BINARY = {"fadd": np.add, "fsub": np.subtract, "fmul": np.multiply, "fdiv": np.divide, "fmin": np.minimum,
                 "fmax": np.maximum, "flt": np.less, "fle": np.less_equal, "feq": np.equal, "fne": np.not_equal,
                 **FLOAT_MATH_BINARY}
_VECTOR_BINARY = {"vadd": np.add, "vsub": np.subtract, "vmul": np.multiply, "vmin": np.minimum, "vmax": np.maximum,
                  "vdiv": np.divide}
FLOPS_PER_OP = {name: 1 for name in ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax")} | {"fma": 2}
FLOPS_PER_VECTOR_ELEMENT = {"vadd": 1, "vsub": 1, "vmul": 1, "vmin": 1, "vmax": 1, "vfma": 2, "vscale": 1, "vdiv": 1,
                            "vredsum": 1, "vredmin": 1, "vredmax": 1, "vdot": 2}



def _first_nan_of_sums(terms: np.ndarray, factors: np.ndarray | None, total: np.ndarray) -> np.ndarray:
    """A float sum of `terms` (or of their products with `factors`: vdot) down axis 0, `total` as NumPy's
    accumulate gave it, but where it is a NaN the first NaN partial sum, of products keeping their first NaN, as
    a left-to-right loop of scalar operations gives it (`compiled.arith.fadd`, `fmul`: of two NaNs the first):
    NumPy's SIMD loops over the lanes give the second's in their tail (`isa.float_math.keep_first_nan`). Only
    the lanes whose total is a NaN are computed again (one test of the lane-sized total when none is)."""
    nan = np.isnan(total)
    if not nan.any():
        return total
    lanes = nan.reshape(-1)
    picked = terms.reshape(len(terms), -1)[:, lanes]
    if factors is not None:
        picked = multiply_first_nan(picked, factors.reshape(len(terms), -1)[:, lanes])
    partial = np.add.accumulate(picked, axis=0, dtype=picked.dtype)
    first = np.argmax(np.isnan(partial), axis=0)[np.newaxis]  # (before it, no NaN: one NaN operand made it)
    fixed = np.array(total).reshape(-1)
    fixed[lanes] = np.take_along_axis(partial, first, axis=0)[0]
    return fixed.reshape(np.shape(total))


def _left_to_right(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
    """`ufunc.accumulate(values, axis=0, dtype=values.dtype)[-1]`: each lane's words combined left to right
    (a float32 sum rounds as a Python loop's does). Where the lanes outnumber the words, one call a word over
    all lanes (the same operations in the same order): accumulate down axis 0 runs its inner loop along the
    words, a strided loop per lane, 25x slower for 64 words of 1,024 lanes (616 against 25 us)."""
    if values.ndim != 2 or values.shape[1] < 2 * len(values):
        return ufunc.accumulate(values, axis=0, dtype=values.dtype)[-1]
    result = values[0].copy()  # (a copy: `values` may be a view of SRAM)
    for row in values[1:]:
        ufunc(result, row, out=result)
    return result


def _natural_operands(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every dividend is >= 0 and every divisor > 0: then truncating division is floor division
    and int32 has room for it (no INT_MIN / -1), so NumPy's int32 // and % give `div` and `rem` exactly."""
    return np.size(a) > 0 and np.min(a) >= 0 and np.min(b) > 0


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _natural_operands(a, b):  # (a thread index divided by a count, say: no int64 temporaries)
        return np.floor_divide(a, b).astype(np.int32, copy=False)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b64 == 0, 1, b64)
    q = np.abs(a64) // np.abs(safe) * np.sign(a64) * np.sign(safe)
    return np.where(b64 == 0, -1, q).astype(np.int32)  # INT_MIN / -1 wraps to INT_MIN


def _int_rem(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _natural_operands(a, b):
        return np.remainder(a, b).astype(np.int32, copy=False)
    q = _int_div(a, b).astype(np.int64)
    return np.where(b == 0, a, a.astype(np.int64) - b.astype(np.int64) * q).astype(np.int32)


def _shift_left(a, b):
    return np.left_shift(a, np.bitwise_and(b, 31))


def _shift_right_logical(a, b):
    return np.right_shift(np.asarray(a).view(np.uint32), np.bitwise_and(b, 31).astype(np.uint32)).view(np.int32)


def _shift_right_arith(a, b):
    return np.right_shift(a, np.bitwise_and(b, 31))


def _float_to_int(f: np.ndarray) -> np.ndarray:
    f64 = np.nan_to_num(f.astype(np.float64), nan=0.0, posinf=2**31 - 1, neginf=-(2**31))
    return np.clip(np.trunc(f64), -(2**31), 2**31 - 1).astype(np.int32)


_fma = float_math.fused_multiply_add32



#: `chk` messages the compiler emits for Python's arithmetic errors -> (error class, message).
ARITHMETIC_CHECKS = {
    "division by zero": (KernelZeroDivisionError, "integer division by zero"),
    "negative shift count": (KernelValueError, "negative shift count"),
    "range() step is zero": (KernelValueError, "range() arg 3 must not be zero"),
}

_INT_CUSTOM = {"div": _int_div, "rem": _int_rem, "shl": _shift_left, "shr": _shift_right_logical,
               "sra": _shift_right_arith}
_SHIFT_IMMEDIATE = {"shli": _shift_left, "shri": _shift_right_logical, "srai": _shift_right_arith}
_SIMPLE = frozenset({"mov", "neg", "abs", "sel", "li", "fma", "itof", "ftoi", "hasnb", "sreg", "arg", "ld", "chk"})


#: Bytes of a blocked vfma's product block (`_vfma_blocked`): it stays in cache until it is added in.
VFMA_BLOCK_BYTES = 2 << 20


def _vfma_blocked(lanes: Lanes, dst: np.ndarray, a: np.ndarray, other: np.ndarray) -> None:
    """dst = dst + a * other (each rounded) over a dense group's window, in blocks of PEs: the products of a
    block go into a small array and are added in at once. Each PE's words are computed from its own words
    only, and a block's products before any of its sums, so overlapping operands give what separate ones
    would (as one product array over the region did). `other`: (words, PEs) or one value per PE."""
    d, x, y = lanes.window_view(dst), lanes.window_view(a), lanes.window_view(other)
    words, width = d.shape
    step = max(1, VFMA_BLOCK_BYTES // max(words * d.itemsize, 1))
    block = np.empty((words, min(step, width)), dtype=a.dtype)
    kept = lanes.keep_outside(d)
    for first in range(0, width, step):
        cols = slice(first, min(first + step, width))
        fma_block(d[:, cols], x[:, cols], y[..., cols], block[:, :cols.stop - first])
    lanes.restore_outside(d, kept)


class _Deferred:
    """The plain executor of the instruction at `pc` of a wave (`ComputeMixin._compile`), made by its first call,
    which puts it in the wave's table in its place (unless something wrapped this one there: a debugger's stop,
    which goes on calling it, and so the executor it made)."""

    __slots__ = ("wave", "pc", "executor")

    def __init__(self, wave: "ComputeMixin", pc: int) -> None:
        self.wave, self.pc, self.executor = wave, pc, None

    def __call__(self, lanes: Lanes) -> None:
        executor = self.executor
        if executor is None:
            ops = self.wave.ops
            instr, next_pc, cost, plain = ops[self.pc]
            executor = self.executor = self.wave._plain(instr)
            if plain is self:
                ops[self.pc] = (instr, next_pc, cost, executor)
        executor(lanes)


class ComputeMixin(SparseMixin, HalfComputeMixin, DescriptorMixin):
    """Compute executors of a wave simulation (`WaveSim`): registers, SRAM and vector state live there."""

    #: The vector instructions of the running group being queued (`sim.vector_batch`), or None.
    vector_batch: VectorBatch | None = None

    # ------------------------------------------------------------------ program preparation
    def _compile(self) -> dict[int, tuple[Instr, int, float, Callable | None]]:
        """pc -> (instruction, next pc, issue cost, plain executor or None for control/timing ops). A plain
        executor is made on its first call (`_Deferred`): a wave runs few of a long program's instructions, and
        making them all took 0.9 ms of a 6 ms warm launch of the 64-PE transpose (436 instructions)."""
        costs = self.launch.costs
        # (under racecheck's route watch a `route` leaves the plain path: `WaveSim._run_lanes` gives it the
        # issue cycles its lanes owe, so that the change's cycle is exact, `racecheck_routes`)
        control = _CONTROL | ROUTE_OPS if self.route_watch is not None else _CONTROL
        return {pc: (instr, pc + instr.words, costs[instr.op], None if instr.op in control else _Deferred(self, pc))
                for pc, instr in self.launch.decoded.items()}

    def _plain(self, ins: Instr) -> Callable[[Lanes], None]:
        """An executor for an instruction that only computes (no timing, no control transfer)."""
        R, F, op = self.regs, self.fregs, ins.op
        d = ins.d
        if op in ROUTE_OPS:  # changes this PE's router, not its registers
            return lambda L: self._route(ins, L)
        if op == "nop" or (d == 0 and op not in ("st", "ld", "chk") and not op.startswith("v")):
            return lambda lanes: None  # r0 stays zero (a load into r0 still checks its address)
        if op in _INT_BINARY:
            f = _INT_BINARY[op]
            return lambda L: L.apply(f, R[d], R[ins.a], R[ins.b])
        if op in _INT_IMMEDIATE:
            f, imm = _INT_IMMEDIATE[op], np.int32(ins.imm)
            return lambda L: L.apply(f, R[d], R[ins.a], imm)
        if op in _FLOAT_BINARY:
            f = _FLOAT_BINARY[op]
            out = R[d] if op in ("flt", "fle", "feq", "fne") else F[d]
            return lambda L: L.apply(f, out, F[ins.a], F[ins.b])
        if op in _FLOAT_UNARY:
            f = _FLOAT_UNARY[op]
            return lambda L: L.apply(f, F[d], F[ins.a])
        if op in _INT_CUSTOM:
            f = _INT_CUSTOM[op]
            return lambda L: L.put(R[d], f(L.get(R[ins.a]), L.get(R[ins.b])))
        if op in _SHIFT_IMMEDIATE:
            f, imm = _SHIFT_IMMEDIATE[op], np.int32(ins.imm)
            return lambda L: L.put(R[d], f(L.get(R[ins.a]), imm))
        if op in _SIMPLE:  # (an if-chain, not a dict of closures: built for every instruction of every wave)
            return self._simple(ins)
        if op == "st":
            return lambda L: self._store(L, ins)
        if op in SPARSE_OPS:
            return self._sparse_executor(ins)
        if op in HALF_VECTOR_OPS or op in SCALAR_HALF_OPS:
            return self._half_executor(ins)
        if op in DESCRIPTOR_OPS:
            return self._descriptor_executor(ins)
        if op in REDUCTIONS:
            return lambda L: self._reduction(L, ins)
        if op.startswith("v"):
            return lambda L: self._vector(L, ins)
        raise AssertionError(f"no executor for {op}")  # the opcode table and the engine disagree

    def _simple(self, ins: Instr) -> Callable[[Lanes], None]:
        """The executor of one of the `_SIMPLE` ops."""
        R, F, op, d = self.regs, self.fregs, ins.op, ins.d
        if op == "mov":
            return lambda L: L.put(R[d], L.get(R[ins.a]))
        if op == "neg":
            return lambda L: L.apply(np.negative, R[d], R[ins.a])
        if op == "abs":
            return lambda L: L.apply(np.abs, R[d], R[ins.a])
        if op == "sel":
            return lambda L: L.put(R[d], np.where(L.get(R[ins.a]) != 0, L.get(R[ins.b]), L.get(R[ins.c])))
        if op == "li":
            return lambda L: L.put(R[d], np.int32(ins.imm))
        if op == "fma":
            return lambda L: L.put(F[d], _fma(L.get(F[ins.a]), L.get(F[ins.b]), L.get(F[ins.c])))
        if op == "itof":
            return lambda L: L.put(F[d], L.get(R[ins.a]).astype(np.float32))
        if op == "ftoi":
            return lambda L: L.put(R[d], _float_to_int(L.get(F[ins.a])))
        if op == "hasnb":
            return lambda L: L.put(R[d], L.get(self.region.has_neighbor(ins.dir)))
        if op == "sreg":
            return lambda L: L.put(R[d], L.get(self.region.special(SPECIAL_REGISTERS[ins.imm])))
        if op == "arg":
            return lambda L: L.put(R[d], self._arg(ins.imm))
        if op == "ld":
            return lambda L: self._load(L, ins)
        return lambda L: self._bounds_check(L, ins)  # chk

    def _bounds_check(self, L: Lanes, ins: Instr) -> None:
        index, bound = L.get(self.regs[ins.a]), L.get(self.regs[ins.b])  # (int32: compared as they are)
        bad = index < 0
        bad |= index >= bound
        if L.any(bad):
            i = self._first_true(L, bad)
            # (string number N without a .string: labelled #N, as `print` labels it; 0: the compiler's "index")
            what = (self.program.strings[ins.imm] if 0 < ins.imm < len(self.program.strings) else "") or (
                f"#{ins.imm}" if ins.imm > 0 else "index")
            if what in ARITHMETIC_CHECKS:  # a guard the compiler put where Python would raise
                cls, message = ARITHMETIC_CHECKS[what]
                raise self._lane_error(cls, message, L, bad)
            if ins.a == 0:  # a guard: its message says it all
                raise self._lane_error(MemoryAccessError, what, L, bad)
            value, size = int(index[i]), int(bound[i])
            if what.endswith(SLICE_BOUND_CHECKS):  # tested against size + 1
                size -= 1
                raise self._lane_error(MemoryAccessError, f"{what} {value} is outside 0..{size}: slices need 0 <= "
                                       f"start <= stop <= size", L, bad, index=value, size=size, array=what.split(" ")[0])
            # (a Python user expects a run-time -1 to count from the end, as a constant -1 does: say it does not)
            hint = " (a negative index computed at run time does not count from the end)" if value < 0 else ""
            raise self._lane_error(MemoryAccessError, f"{what}: index {value} is out of bounds for size {size}{hint}",
                                   L, bad, index=value, size=size, array=what.split(" ")[0])

    def _arg(self, k: int) -> np.int32:
        if not 0 <= k < len(self.launch.args):
            raise LaunchError(f"{self.program.name} reads argument {k} but the launch gave {len(self.launch.args)}",
                              index=k, given=len(self.launch.args))
        return self.launch.args[k]

    # ------------------------------------------------------------------ SRAM
    def _first_true(self, lanes: Lanes, cond: np.ndarray) -> int:
        """Position (in `get` coordinates) of the lane where `cond` holds at the earliest cycle, the first
        of them: the PE a failure's message describes (`_lane_error` names those at that cycle)."""
        cond = np.asarray(cond, dtype=bool)
        if lanes.idx is None and not lanes.is_full:
            cond = cond & lanes.as_mask()
        return int(np.argmin(np.where(cond, lanes.get(self.cycle), np.inf)))

    def _sram_check(self, lanes: Lanes, addr: np.ndarray, length, what: str) -> None:
        size = self.program.data_words
        bad = (addr < 0) | (addr + length > size)
        if lanes.any(bad):
            i = self._first_true(lanes, bad)
            a = int(addr[i])
            n = int(length if np.isscalar(length) else np.asarray(length)[i])
            raise self._lane_error(MemoryAccessError,
                                   f"{what} of SRAM words [{a}, {a + n}) outside the data segment [0, {size})",
                                   lanes, bad, address=a, length=n, size=size)

    def _load(self, L: Lanes, ins: Instr) -> None:
        if ins.a == 0 and 0 <= ins.imm < self.program.data_words:  # (r0 is zero: one word, in range, for all)
            if ins.d:
                batch = self.vector_batch
                if batch is not None and batch.writes(ins.imm):
                    batch.flush()  # (a queued vector instruction writes the word)
                L.put(self.regs[ins.d], L.get(self.sram[ins.imm]))
            return
        addr = L.get(self.regs[ins.a]).astype(np.int64) + ins.imm
        self._sram_check(L, addr, 1, "load")
        if ins.d == 0:
            return
        common = L.all_equal(addr)
        batch = self.vector_batch
        if batch is not None and (common is None or batch.writes(int(common))):
            batch.flush()  # (a queued vector instruction writes the word)
        if common is not None:
            L.put(self.regs[ins.d], L.get(self.sram[int(common)]))
        else:
            Li = L.to_index_form(self.n)
            self.regs[ins.d, Li.idx] = self.sram[addr if L.idx is not None else addr[L.as_mask()], Li.idx]

    def _store(self, L: Lanes, ins: Instr) -> None:
        addr = L.get(self.regs[ins.a]).astype(np.int64) + ins.imm
        self._sram_check(L, addr, 1, "store")
        common = L.all_equal(addr)
        if common is not None:
            L.put(self.sram[int(common)], L.get(self.regs[ins.d]))
        else:
            Li = L.to_index_form(self.n)
            self.sram[addr if L.idx is not None else addr[L.as_mask()], Li.idx] = self.regs[ins.d, Li.idx]

    def _vector(self, L: Lanes, ins: Instr) -> None:
        """A vector op over SRAM ranges; each distinct (addresses, length) tuple is one NumPy call."""
        scalar_b = ins.op in ("vscale", "vfill", "vmath") or bool(ins.flags & FLAG_SCALAR)
        names = ["d", "c"] + (["a"] if ins.op != "vfill" else []) + ([] if scalar_b or ins.op == "vcopy" else ["b"])
        self._by_operands(L, ins, names, lambda sub, where: self._vector_uniform(sub, ins, where, scalar_b))

    def _by_operands(self, L: Lanes, ins: Instr, names: list[str], run) -> None:
        """run(lanes, {field: value}) once per distinct tuple of the register operands `names` (SRAM
        addresses and lengths) over the lanes: one call when every lane agrees, the common case."""
        if self._whole_region(L):  # (every PE: the operands' rows tested at once against the first PE's)
            block = self.regs[[getattr(ins, f) for f in names]]
            if not (block != block[:, :1]).any():
                run(L, dict(zip(names, map(int, block[:, 0]))))
                return
        rows = [L.get(self.regs[getattr(ins, f)]) for f in names]
        common = []
        for row in rows:  # (each row tested as it is: no stacked int64 copy unless the lanes disagree)
            common.append(L.all_equal(row))
            if common[-1] is None:
                break
        else:
            run(L, dict(zip(names, map(int, common))))
            return
        keys = np.stack([row.astype(np.int64) for row in rows])
        Li = L.to_index_form(self.n)
        if L.idx is None:
            keys = keys[:, L.as_mask()]
        uniq, inverse = np.unique(keys, axis=1, return_inverse=True)
        inverse = inverse.reshape(-1)
        for j in range(uniq.shape[1]):
            run(Lanes(self.n, idx=Li.idx[inverse == j]), dict(zip(names, map(int, uniq[:, j]))))

    def _all_lanes(self, L: Lanes) -> np.ndarray:
        return np.ones(np.shape(L.get(self.cycle)), dtype=bool)

    def _vector_uniform(self, L: Lanes, ins: Instr, where: dict[str, int], scalar_b: bool) -> None:
        d, n, a, b = where["d"], where["c"], where.get("a", 0), where.get("b", 0)
        if n < 0:
            raise self._lane_error(MemoryAccessError, f"{ins.op} with a negative length {n}", L, self._all_lanes(L),
                                   length=n)
        for operand in [f for f in ("d", "a", "b") if f in where]:
            base = where[operand]
            if base < 0 or base + n > self.program.data_words:
                raise self._lane_error(MemoryAccessError,
                                       f"{ins.op} operand {operand}: SRAM words [{base}, {base + n}) outside the data "
                                       f"segment [0, {self.program.data_words})", L, self._all_lanes(L),
                                       address=base, length=n, size=self.program.data_words)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S = self.fsram if is_float else self.sram
        regs = self.fregs if is_float else self.regs
        # (vmath's b names a function, not a register; vcopy has no b: its field may name any register)
        scalar = regs[ins.b] if ins.op not in ("vmath", "vcopy") else None
        dst = S[d:d + n]
        op = ins.op
        element_cycles = 1.0
        if op == "vcopy":  # (NumPy's assignment copies an overlapping source first; a gather is a copy)
            L.put(dst, L.get(S[a:a + n]) if L.is_dense or L.idx is not None else np.array(L.get(S[a:a + n])))
        elif op == "vmath":  # float32 whatever the flags: every function of the table is a float32 one
            function = float_math.VECTOR_MATH[ins.b]
            L.put(self.fsram[d:d + n], _FLOAT_UNARY[function](L.get(self.fsram[a:a + n])))
            element_cycles = self.launch.costs[function]
        elif op == "vfill":
            L.put(dst, L.get(scalar))
        elif self._queued(L, ins, S, d, n, a, b, scalar, scalar_b, is_float):
            pass  # (runs with the instructions queued next to it: `sim.vector_batch`)
        elif L.is_dense and (op != "vdiv" or is_float):
            self._vector_dense(L, op, dst, S[a:a + n], scalar if scalar_b or op == "vscale" else S[b:b + n])
        elif op == "vscale":
            L.put(dst, L.get(S[a:a + n]) * L.get(scalar))
        else:
            other = L.get(scalar) if scalar_b else L.get(S[b:b + n])
            if op == "vfma":
                L.put(dst, L.get(dst) + L.get(S[a:a + n]) * other)
            elif op == "vdiv" and not is_float:  # int32: the scalar `div`'s truncating, defined results
                L.put(dst, _int_div(L.get(S[a:a + n]), other))
            else:
                L.put(dst, _VECTOR_BINARY[op](L.get(S[a:a + n]), other))
        # Elements beyond the issue cost: n / vector_lanes cycles (times the function's cost for vmath).
        self._add_element_cycles(L, math.ceil(n * element_cycles / self.spec.vector_lanes))
        self.totals.vector_elements += n * L.count
        if is_float:
            self.totals.flops += FLOPS_PER_VECTOR_ELEMENT.get(op, 0) * n * L.count

    def _queued(self, L: Lanes, ins: Instr, S: np.ndarray, d: int, n: int, a: int, b: int, scalar: np.ndarray | None,
                scalar_b: bool, is_float: bool) -> bool:
        """Queue a vector instruction of the group whose vector instructions are being batched
        (`sim.vector_batch`), True; else run what is queued (the instruction may read it), False."""
        batch = self.vector_batch
        if batch is None:
            return False
        op = ins.op
        if L is not batch.lanes or op not in BATCHED_VECTOR_OPS or (op == "vdiv" and not is_float):
            batch.flush()
            return False
        if scalar_b or op == "vscale":  # read now: a later instruction may write the register
            row = L.get(scalar)
            common = L.all_equal(row)
            other = row.copy() if common is None else common
        else:
            other = S[b:b + n]
        ufunc = np.multiply if op == "vscale" else _VECTOR_BINARY.get(op)
        sources = [(a, a + n)] + ([] if scalar_b or op == "vscale" else [(b, b + n)])
        batch.add(ufunc, S[d:d + n], (d, d + n), S[a:a + n], other, fma=op == "vfma", sources=sources)
        return True

    def _vector_dense(self, L: Lanes, op: str, dst: np.ndarray, a: np.ndarray, other: np.ndarray) -> None:
        """A vector op of a full or complement group written straight into `dst` (unmasked over the window,
        the few excluded PEs restored: `Lanes.apply`), with no temporary the size of the operands: at wafer
        scale each would be hundreds of MiB of freshly mapped memory. NumPy's ufuncs give overlapping
        operands the results of separate ones, so this equals computing first and storing after."""
        ufunc = np.multiply if op == "vscale" else _VECTOR_BINARY.get(op)
        blocked = op == "vfma" and self.strategy.blocked_vfma
        # (a whole region's op: the unblocked path's calls, on one thread; a vfma only where its products are
        # one block of `_vfma_blocked`'s, which a larger region's would cut into blocks that stay in cache)
        if self._whole_region(L) and (not blocked or a.size * a.itemsize <= VFMA_BLOCK_BYTES):
            if op == "vfma":
                product = self._vector_scratch(a.shape, a.dtype)
                np.multiply(a, other, out=product)
                np.add(dst, product, out=dst)
            else:
                ufunc(a, other, out=dst)
            return
        product = self._vector_scratch(a.shape, a.dtype) if op == "vfma" and not blocked else None

        def run(part: Lanes) -> None:
            if blocked:
                _vfma_blocked(part, dst, a, other)
            elif product is not None:  # dst + a * other, each rounded: the product into the scratch array
                np.multiply(part.window_view(a), part.window_view(other), out=part.window_view(product))
                part.apply(np.add, dst, dst, product)
            else:
                part.apply(ufunc, dst, a, other)

        # A large group's PEs in parts on the engine's threads (NumPy releases the GIL): each part reads and
        # writes only its own PEs' columns, so overlapping SRAM ranges stay within a part.
        parts = parallel.parts_of([L])
        if parts is None:
            run(L)
        else:
            parallel.run(run, parts)

    def _whole_region(self, L: Lanes) -> bool:
        """Whether `L` is every PE of a region too small to split over the engine's threads, where
        `Strategy.whole_vectors` runs a vector op's operand tests and arithmetic on whole rows: no window,
        no exclusions, no parts (`parallel.parts_of`)."""
        return (L.idx is None and L.mask is None and L.excl is None and L.window is None
                and L.n < parallel.PARALLEL_LANES and self.strategy.whole_vectors)

    def _vector_scratch(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A region-wide array of this shape, reused by every vector op of the wave that needs one."""
        key = (shape, np.dtype(dtype))
        scratch = self.scratch.get(key)
        if scratch is None:
            self.scratch.clear()  # (one at a time: memory grows with the largest operand only)
            scratch = self.scratch[key] = np.empty(shape, dtype=dtype)
        return scratch

    def _reduction(self, L: Lanes, ins: Instr) -> None:
        """vredsum / vredmin / vredmax / vdot: one value per lane from an SRAM range, accumulated left to right
        (`_left_to_right`: float32 sums round exactly as a Python loop does)."""
        fields = ["a", "c"] + (["b"] if ins.op == "vdot" else [])
        self._by_operands(L, ins, fields, lambda sub, where: self._reduction_uniform(sub, ins, where))

    def _reduction_uniform(self, L: Lanes, ins: Instr, where: dict[str, int]) -> None:
        n, op = where["c"], ins.op
        if n < 0:
            raise self._lane_error(MemoryAccessError, f"{op} with a negative length {n}", L, self._all_lanes(L),
                                   length=n)
        if n == 0 and op in ("vredmin", "vredmax"):
            raise self._lane_error(KernelValueError, f"{'min' if op == 'vredmin' else 'max'}() of an empty slice",
                                   L, self._all_lanes(L))
        for operand in [f for f in ("a", "b") if f in where]:
            base = where[operand]
            if base < 0 or base + n > self.program.data_words:
                raise self._lane_error(MemoryAccessError,
                                       f"{op} operand {operand}: SRAM words [{base}, {base + n}) outside the data "
                                       f"segment [0, {self.program.data_words})", L, self._all_lanes(L),
                                       address=base, length=n, size=self.program.data_words)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S, regs = (self.fsram, self.fregs) if is_float else (self.sram, self.regs)
        values = terms = L.get(S[where["a"]:where["a"] + n])
        factors = L.get(S[where["b"]:where["b"] + n]) if op == "vdot" else None
        if n and is_float and op in ("vredsum", "vdot") and self.strategy.compiled_sums and RegisterBlocks.applies():
            from . import sum_kernels  # (Numba is loaded: `RegisterBlocks.applies`)

            result = sum_kernels.dot_down(terms, factors) if factors is not None else sum_kernels.sum_down(terms)
            result = _first_nan_of_sums(terms, factors, result) + terms.dtype.type(0)  # (as below)
            if ins.d:
                L.put(regs[ins.d], result)
            self._charge_reduction(L, n, op, is_float)
            return
        if factors is not None:
            values = values * factors  # each product rounded (or wrapped) first
        if n == 0:
            result = np.zeros(values.shape[1:], dtype=values.dtype)
        else:
            ufunc = {"vredsum": np.add, "vdot": np.add, "vredmin": np.minimum, "vredmax": np.maximum}[op]
            result = _left_to_right(ufunc, values)
            if ufunc is np.add and is_float:
                result = _first_nan_of_sums(terms, factors, result)
                result = result + values.dtype.type(0)  # Python's sum starts from 0: 0 + -0.0 is +0.0
        if ins.d:
            L.put(regs[ins.d], result)
        self._charge_reduction(L, n, op, is_float)

    def _charge_reduction(self, L: Lanes, n: int, op: str, is_float: bool) -> None:
        """A reduction's element cycles, elements and FLOPs."""
        self._add_element_cycles(L, math.ceil(n / self.spec.vector_lanes))
        self.totals.vector_elements += n * L.count
        if is_float:
            self.totals.flops += FLOPS_PER_VECTOR_ELEMENT[op] * n * L.count
