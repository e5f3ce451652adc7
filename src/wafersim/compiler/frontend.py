"""Front end: a kernel's Python source -> IR.

The function's source is parsed with `ast`; names resolve to kernel variables, arguments, or
compile-time objects from its globals and closure (constants, `math`, NumPy dtypes, wafersim
intrinsics, other `@ws.jit` functions, which are inlined). Values are int32 or float32 with Python's
promotions; Python constants fold at compile time. Errors are `CompileError`s that point at the source.

The lowering is split by job: `values` (what expressions lower to), `core` (state, registers, names,
constants), `expressions` (scalar expressions), `calls` (intrinsics and device functions), `arrays`
(elements and slices), `vectors` (slice assignments as vector code), `statements` (assignments and
control flow, with definite assignment).
"""
from __future__ import annotations

from typing import Callable

from .ir import IRFunction
from .statements import StatementLowering
from .values import DTYPES, GlobalArray, KernelSignature, Val

__all__ = ["DTYPES", "KernelSignature", "Lowering", "lower"]


class Lowering(StatementLowering):
    """One lowering of a kernel for one argument signature."""

    def lower(self) -> IRFunction:
        params = [a.arg for a in self.fdef.args.args]
        if len(params) != len(self.signature.args) or self.fdef.args.vararg or self.fdef.args.kwonlyargs \
                or self.fdef.args.kwarg or self.fdef.args.posonlyargs:
            raise self.error(self.fdef, f"{self.fn.name} takes {len(params)} plain argument(s), "
                                        f"the launch gave {len(self.signature.args)}")
        word = 0
        for name, kind in zip(params, self.signature.args):
            if kind[0] == "array":
                ptr = Val("i32", self.new_reg("i32", name))
                self.emit("arg", d=ptr.reg, imm=word)
                shape = []
                for k in range(kind[2]):
                    dim = Val("i32", self.new_reg("i32", f"{name}_n{k}_"))
                    self.emit("arg", d=dim.reg, imm=word + 1 + k)
                    shape.append(dim)
                self.bind(name, GlobalArray(name, kind[1], ptr, tuple(shape)))
                word += 1 + kind[2]
            else:
                v = Val(kind[1], self.new_reg(kind[1], name))
                self.emit("arg", d=v.reg, imm=word)
                self.bind(name, v)
                word += 1
        self.fn.arg_count = word
        self.statements(self.fdef.body)
        self.place(self.exit)
        self.emit("halt")
        return self.fn


def lower(func: Callable, signature: KernelSignature, boundscheck: bool = True) -> IRFunction:
    """Lower a Python kernel to IR for one argument signature (with array bounds checks unless told not to)."""
    return Lowering(func, signature, boundscheck).lower()
