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

import numpy as np

from ..arch.values import plural
from ..errors import CompileError
from ..isa.assembler import ArgumentWord
from .background_races import check_background_slices
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
            raise self.error(self.fdef, f"{self.fn.name} takes {plural(len(params), 'plain argument')}, "
                                        f"the launch gave {len(self.signature.args)}")
        word = 0
        # parameters launched with a bool (KernelSignature): an index of one is refused (`may_be_bool`)
        self.bool_parameters = [frozenset(name for name, kind in zip(params, self.signature.args)
                                          if kind[0] in ("scalar", "constant") and kind[-1] == "bool")]
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
                self.fn.arguments += [ArgumentWord("ptr", name, dtype=kind[1])] + [ArgumentWord("dim", name)] * kind[2]
                word += 1 + kind[2]
            elif kind[0] == "constant":  # a ws.constant parameter: this specialisation's value
                value = kind[2]
                if kind[1] == "f32":  # from its float32 bits: the key's number is one nan for every nan, so
                    # a nan's sign and payload (`math.copysign(1.0, s)` of -nan is -1.0) are only in the bits
                    value = float(np.uint32(kind[3]).view(np.float32))
                self.bind(name, self.const(np.int64(value) if kind[-1] == "int64" else value))
                bits = kind[3] if kind[1] == "f32" else int(kind[2])
                self.fn.arguments.append(ArgumentWord("constant", name, int(bits) & 0xFFFFFFFF))
                word += 1
            else:  # (an np.int64's register holds NumPy's int64: its int arithmetic is refused, `Val.int64`)
                v = Val(kind[1], self.new_reg(kind[1], name), int64=kind[-1] == "int64")
                if v.int64:
                    self.int64_arguments[v.reg] = name
                self.emit("arg", d=v.reg, imm=word)
                self.bind(name, v)
                self.fn.arguments.append(ArgumentWord(kind[1], name))
                word += 1
        self.fn.arg_count = word
        self.statements(self.fdef.body)
        self.check_background_waits()
        self.check_nonzero_types()
        self.place(self.exit)
        # The halt that ends the kernel is code of no source line: credited to the last statement, it put
        # every PE that skipped that line (an `if i < n:` body) "at" it, and the debugger stopped them there.
        self.line = None
        self.emit("halt")
        return self.fn


def lower(func: Callable, signature: KernelSignature, boundscheck: bool = True) -> IRFunction:
    """Lower a Python kernel to IR for one argument signature (with array bounds checks unless told not to).

    A `ws.recv` without dtype= whose type nothing around it decides reads what every `ws.send` toward it
    sends (all PEs run the same program): the kernel is lowered once, and again with the types seen on
    the fabric when a recv read float32 by default where int32 is sent."""
    lowering = Lowering(func, signature, boundscheck)
    try:
        fn = lowering.lower()
    except CompileError as error:
        lowering, fn = _retry_with_int_words(func, signature, boundscheck, lowering, error)
    inferred = lowering.fabric_inference()
    lowering.check_half_words(inferred)
    if lowering.needs_fabric_types(inferred):
        lowering = Lowering(func, signature, boundscheck, fabric_types=inferred)
        fn = lowering.lower()
    lowering.check_fabric_types(inferred)
    check_background_slices(fn)
    return fn


def _retry_with_int_words(func, signature, boundscheck, failed: Lowering, error: CompileError):
    """A lowering that stopped with an error may have stopped because a recv read float32 by default (an
    int32 variable then cannot take the value) before the sends were seen. Lower again reading int32 there;
    keep that lowering only if every send toward those recvs does send int32, else raise the first error.

    A lowering stops at its first error, so it has seen only the recvs before it: a retry may stop at a
    later recv read float32 by default (a value sent both east and west, received from both sides). Each
    retry adds the recvs it newly read by default. The guess covers every recv read by default before the
    error, not only the one that caused it: where the sends toward one of them say otherwise (float32 words
    received into a float32 variable on another channel), that recv reads what they send and the kernel is
    lowered again, until one lowering's guesses all agree with its sends (no set of guesses is tried twice)."""
    guessed = {use.key: "i32" for use in failed.received if use.how == "default"}
    if not guessed:
        raise error
    tried: set[tuple] = set()
    while True:
        state = tuple(sorted(guessed.items()))
        if state in tried:
            raise error
        tried.add(state)
        retry = Lowering(func, signature, boundscheck, fabric_types=dict(guessed))
        try:
            fn = retry.lower()
        except CompileError:
            more = {use.key: "i32" for use in retry.received if use.how == "default" and use.key not in guessed}
            if not more:
                raise error from None
            guessed.update(more)
            continue
        inferred = retry.fabric_inference()
        wrong = [key for key, ty in guessed.items() if inferred.get(key) != ty]
        if not wrong:
            return retry, fn
        if any(inferred.get(key) in ("f16", "bf16") for key in wrong):
            retry.check_half_words(inferred)  # (16-bit words sent there: say so, rather than the first error)
        for key in wrong:  # read as its sends say where they agree on int32 or float32, else by default
            if inferred.get(key) in ("i32", "f32"):
                guessed[key] = inferred[key]
            else:
                del guessed[key]
        if not guessed:
            raise error
