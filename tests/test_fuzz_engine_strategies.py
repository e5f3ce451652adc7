"""Differential fuzzing of the engine's execution strategies on random raw ISA programs.

Random assembly programs -- scalar integer and float32 ops on edge values, 16-bit float ops, branches that
split PEs by index, loops with PE-dependent trip counts, SRAM loads, stores and vector ops, global loads and
stores (scalar and bulk), neighbour sends and receives (scalar, vector and background, typed and raw), relays
along a line (each PE receives from behind, works, sends on: chains of sleepers), sends from one PE along a
declared bus (scalar, vector, background; the receivers waiting first at times, panels repeated), barriers, rank-1 updates (`vger`), strided
copies (`vcopys`), sparse pairs (`vpacknz`, `vspchk`, `vspfma`), stream-op chains (`vaddx` ..., typed or a
collective's chain words, at times meeting a raw word), routes set from registers (`routr`) and a transfer along them, grid barriers (`gbar`, in one-wave launches), debug prints, `nop` (these in
tests/test_fuzz_engine_strategies_ops.py), and now and then an instruction that fails on some PEs -- on
blocks of up to 8 x 6 PEs over one or several waves (one launch in four 3 or 6 waves of one slot, most without
routes or prints: `batched_waves` batches those), with the engine's size thresholds (tests/engine_thresholds.py)
lowered at times, some or all of them at once, so that these small blocks take the large groups' paths, on 2 or 3
threads -- run under every strategy of tests/test_engine_strategies.py (`STRATEGIES`) and the four flags it never
turns off alone (`FUZZ_STRATEGIES`), which must agree bit for bit on the outputs, the cycle count, every per-PE
statistic and the printed lines, or raise the same error (type, message, PEs). A second test draws every run on
those large groups' paths (every threshold lowered, wide blocks in several waves, the statements they run first).

The generator keeps each program well defined, so that a disagreement is a bug and not a race:
- registers and SRAM words are typed (int32, float32, 16-bit float), and float NaNs reach integers only
  through `ftoi` and compares: docs/engine-strategies.md lets the strategies pick either NaN of two NaN operands, so
  the outputs compare float words with every NaN made one (`canonical`);
- each PE stores only into its own slot of the output and reads its own slot or the shared input;
- transfers and barriers sit where every PE of a block meets them the same number of times (outside
  divergent branches and loops with PE-dependent trip counts), each PE sends to a neighbour inside its
  block (guarded by `hasnb`) and the opposite neighbour receives the same number of words: the sends of a
  step end at the block's edge, so every chain drains and nothing deadlocks.

Default settings run a few examples (a few seconds); WAFERSIM_FUZZ_EXAMPLES=500 for a long run, with
WS_FUZZ_RANDOM=1 to draw fresh programs instead of Hypothesis's derandomized ones; WS_FUZZ_THREADS=3 (a
comma-separated list, "2,3" by default) the engine's thread counts of the lowered-threshold runs.
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from test_engine_strategies import STRATEGIES, run_every_strategy
from wafersim.isa.assembler import assemble
from wafersim.isa.float_math import VECTOR_MATH
from wafersim.sim.layout import Placement
from wafersim.sim.strategy import Strategy
from engine_thresholds import small_thresholds, thresholds
from test_fuzz_engine_strategies_ops import DATA, KINDS, OPPOSITE, PAIRS, REGION, ExtraStatements

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "6"))
WIDE_EXAMPLES = max(EXAMPLES // 2, 3)  # (`test_random_programs_on_the_large_groups_paths_...`)
# the engine's thread counts the lowered-threshold runs draw from ("2,3" by default; "3" was the only one once)
THREADS = tuple(int(t) for t in os.environ.get("WS_FUZZ_THREADS", "2,3").split(","))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("WS_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# tests/test_engine_strategies.py's strategies (every differential test runs them) and the four flags they never
# turn off alone, which this fuzzer reaches (each only where its path runs: a group in the NumPy executor for
# the half vectors, `vger` and `recva`: under the default strategy only with the thresholds lowered, so also each
# against `Strategy(compiled=False)`, which runs every group there; a launch of 3+ waves without prints or routes
# for `batched_waves`, which the compiled interpreter does not change).
FOUR_FLAGS = ("batched_waves", "compiled_background", "compiled_descriptors", "compiled_half_vectors")
FUZZ_STRATEGIES = (STRATEGIES[:-1] + [Strategy(**{flag: False}) for flag in FOUR_FLAGS]
                   + [Strategy(compiled=False, **{flag: False}) for flag in FOUR_FLAGS[1:]] + STRATEGIES[-1:])

# Registers: r1 tid.x, r2 tid.y, r3 this PE's output slot (bytes), r4 the input (bytes), r5 the PE's launch
# index; values r6-r8 (int32), r9-r11 (float32); r12 conditions, r13-r15 addresses and lengths, r16-r19
# loop counters (one per nesting depth), r20 hasnb results, r21 f2h scratch, r22 a second condition,
# r23-r24 route masks. SRAM: REGION words each of int32, float32, 16-bit floats, then sparse pairs (`PAIRS`).
INTS, FLOATS = (6, 7, 8), (9, 10, 11)
SLOT = 8 + 2 * DATA  # per PE: 6 registers, 2 unused, the SRAM image, a scratch image written by gst/gstv
INPUT = 16  # input words: 8 int32, 8 float32 bits

INT_EDGES = (0, 1, -1, 2, 7, 31, 32, -(2**31), 2**31 - 1, 0x55555555, -0x10000)
FLOAT_EDGES = (0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 3.0, 1e-40, -1e-45, 3.4028235e38, 65504.0, 7e4,
               float("inf"), float("-inf"), float("nan"), 1e-8, 100.25, -7.75)
INT_BINARY = ("add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt",
              "sle", "seq", "sne")
INT_IMMEDIATE = ("addi", "muli", "andi", "ori", "xori", "shli", "shri", "srai", "slti", "seqi")
FLOAT_BINARY = ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fpow", "fatan2", "fhypot", "fcopysign", "ffmod",
                "ffloordiv", "fpymod", "fremainder")
FLOAT_UNARY = ("fneg", "fabs", "fsqrt", "fexp", "flog", "ftanh", "fsin", "fcos", "ftan", "fasin", "facos", "fatan",
               "fsinh", "fcosh", "fasinh", "facosh", "fatanh", "fexpm1", "flog2", "flog10", "flog1p", "ffloor",
               "fceil", "ftrunc", "frint", "ffrac", "ferf", "ferfc", "fgamma", "flgamma")
FLOAT_COMPARE = ("flt", "fle", "feq", "fne")
INT_VECTOR = ("vadd", "vsub", "vmul", "vdiv", "vmin", "vmax", "vfma")
FLOAT_VECTOR = ("vadd.f", "vsub.f", "vmul.f", "vdiv.f", "vmin.f", "vmax.f", "vfma.f", "vfmaz.f")
HALF_VECTOR = ("vhadd", "vhsub", "vhmul", "vhmin", "vhmax", "vhfma")
TAGS = {"int": ("", ".i32"), "float": ("", ".f32")}


ROUTED = 3  # the channel of the named route a program may declare
BUSES = {"block_bus": "both", "row_bus": "x", "column_bus": "y"}  # which index the sender is picked by


class Builder(ExtraStatements):
    """Draws a program's lines; `uniform` says whether every PE of a block runs the current line alike."""

    def __init__(self, draw, fifo_depth: int, block: tuple[int, int], single_wave: bool = False,
                 unrouted: bool = False, favoured: tuple = ()):
        self.draw, self.fifo_depth, self.block, self.single_wave = draw, fifo_depth, block, single_wave
        self.unrouted, self.favoured = unrouted, favoured
        self.lines, self.labels, self.depth = [], 0, 0
        self.uniform, self.bus = True, draw(st.sampled_from(sorted(BUSES)))

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def reg(self, kind: str) -> str:
        return f"r{self.pick(INTS if kind == 'int' else FLOATS)}"

    def sram(self, kind: str, length: int) -> int:
        """A word address of `length` words inside the region of `kind`."""
        return KINDS.index(kind) * REGION + self.draw(st.integers(0, REGION - length))

    def li(self, register: str, value) -> None:
        self.emit(f"li {register}, {value!r}" if isinstance(value, float) else f"li {register}, {value}")

    # ------------------------------------------------------------------ statements
    def statements(self, count: int) -> None:
        for _ in range(count):
            self.statement()

    def statement(self) -> None:
        choices = ["int", "int", "float", "float", "convert", "sram", "vector", "half", "global", "vger", "vcopys",
                   "sparse", "print", "nop"]
        if self.depth < 2:
            choices += ["if", "loop"]
        if self.uniform:
            choices += ["exchange", "exchange", "vexchange", "background", "routed", "barrier", "routr", "gbar",
                        "stream", "relay"]
        choices += [c for c in self.favoured if c in choices] * 3
        if self.unrouted:  # (no route declared: `batched_waves` refuses launches with routes or prints)
            choices = [c for c in choices if c not in ("print", "routed", "routr")]
        getattr(self, "s_" + self.pick(choices))()

    def s_int(self) -> None:
        d, a, b = self.reg("int"), self.reg("int"), self.reg("int")
        kind = self.draw(st.integers(0, 5))
        if kind == 0:
            self.emit(f"{self.pick(INT_IMMEDIATE)} {d}, {a}, {self.draw(st.integers(-8192, 8191))}")
        elif kind == 1:
            self.emit(f"{self.pick(('mov', 'neg', 'abs'))} {d}, {a}")
        elif kind == 2:
            self.emit(f"sel {d}, {a}, {b}, {self.reg('int')}")
        elif kind == 3:
            self.li(d, self.pick(INT_EDGES))
        elif kind == 4:
            self.emit(f"add {d}, {a}, r{self.pick((1, 2, 5))}")  # PE-dependent values
        else:
            self.emit(f"{self.pick(INT_BINARY)} {d}, {a}, {b}")

    def s_float(self) -> None:
        d, a, b = self.reg("float"), self.reg("float"), self.reg("float")
        kind = self.draw(st.integers(0, 4))
        if kind == 0:
            self.emit(f"{self.pick(FLOAT_UNARY)} {d}, {a}")
        elif kind == 1:
            self.emit(f"fma {d}, {a}, {b}, {self.reg('float')}")
        elif kind == 2:
            self.li(d, self.pick(FLOAT_EDGES))
        elif kind == 3:
            self.emit(f"sel {d}, {self.reg('int')}, {a}, {b}")
        else:
            self.emit(f"{self.pick(FLOAT_BINARY)} {d}, {a}, {b}")

    def s_convert(self) -> None:
        kind = self.draw(st.integers(0, 3))
        if kind == 0:
            self.emit(f"itof {self.reg('float')}, {self.reg('int')}")
        elif kind == 1:
            self.emit(f"ftoi {self.reg('int')}, {self.reg('float')}")
        elif kind == 2:
            self.emit(f"{self.pick(FLOAT_COMPARE)} {self.reg('int')}, {self.reg('float')}, {self.reg('float')}")
        else:  # through 16 bits and back (the 16-bit bits stay in a scratch register: NaN payloads)
            b = self.pick(("", ".b"))
            self.emit(f"f2h{b} r21, {self.reg('float')}", f"h2f{b} {self.reg('float')}, r21")

    def s_sram(self) -> None:
        kind = self.pick(("int", "float"))
        op = self.pick(("ld", "st"))
        self.emit(f"{op} {self.reg(kind)}, r0, {self.sram(kind, 1)}")

    def s_vector(self) -> None:
        n = self.draw(st.integers(0, REGION))
        kind = self.pick(("int", "float"))
        d, a, b = self.sram(kind, n), self.sram(kind, n), self.sram(kind, n)
        self.emit(f"li r13, {d}", f"li r14, {a}", f"li r15, {n}")
        form = self.draw(st.integers(0, 6))
        if form == 0:
            self.emit(f"li r12, {b}", f"{self.pick(INT_VECTOR if kind == 'int' else FLOAT_VECTOR)} r13, r14, r12, r15")
        elif form == 1:
            op = self.pick(INT_VECTOR if kind == "int" else FLOAT_VECTOR)
            self.emit(f"{op}{'.s' if kind == 'int' else 's'} r13, r14, {self.reg(kind)}, r15")
        elif form == 2:
            self.emit("vcopy r13, r14, r15" if self.draw(st.booleans()) else f"vfill r13, {self.reg(kind)}, r15")
        elif form == 3:
            self.emit(f"vscale{'.f' if kind == 'float' else ''} r13, r14, {self.reg(kind)}, r15")
        elif form == 4:
            f = ".f" if kind == "float" else ""
            op = self.pick(("vredsum", "vredmin", "vredmax")) if n else "vredsum"
            self.emit(f"{op}{f} {self.reg(kind)}, r14, r15")
        elif form == 5:
            self.emit(f"li r12, {b}", f"vdot{'.f' if kind == 'float' else ''} {self.reg(kind)}, r14, r12, r15")
        else:
            self.emit(f"li r14, {self.sram('float', n)}", f"li r13, {self.sram('float', n)}",
                      f"vmath r13, r14, {self.pick(VECTOR_MATH)}, r15")

    def s_half(self) -> None:
        n = self.draw(st.integers(0, REGION))
        b = self.pick(("", ".b"))
        h, h2, h3, f = self.sram("half", n), self.sram("half", n), self.sram("half", n), self.sram("float", n)
        form = self.draw(st.integers(0, 4))
        self.emit(f"li r15, {n}")
        if form == 0:
            self.emit(f"li r13, {h}", f"li r14, {f}", f"vcvth{b} r13, r14, r15")
        elif form == 1:
            self.emit(f"li r13, {f}", f"li r14, {h}", f"vcvtf{b} r13, r14, r15")
        elif form == 2:
            self.emit(f"li r13, {h}", f"li r14, {h2}", f"li r12, {h3}",
                      f"{self.pick(HALF_VECTOR)}{b} r13, r14, r12, r15")
        elif form == 3:
            scalar = ".s" + b[1:] if b else ".s"
            self.emit(f"li r13, {h}", f"li r14, {h2}",
                      f"{self.pick(HALF_VECTOR)}{scalar} r13, r14, {self.reg('float')}, r15")
        else:
            self.emit(f"li r13, {f}", f"li r14, {h}", f"li r12, {h2}", f"vwfma{b} r13, r14, r12, r15")

    def s_global(self) -> None:
        kind = self.pick(("int", "float"))
        form = self.draw(st.integers(0, 3))
        if form == 0:  # the scratch image of this PE's slot
            self.emit(f"gst {self.reg(kind)}, r3, {4 * (8 + DATA + self.sram(kind, 1))}")
        elif form == 1:
            self.emit(f"gld {self.reg(kind)}, r3, {4 * (8 + DATA + self.sram(kind, 1))}")
        elif form == 2:  # the shared input
            self.emit(f"gld {self.reg(kind)}, r4, {4 * (self.draw(st.integers(0, 7)) + (8 if kind == 'float' else 0))}")
        else:
            n = self.draw(st.integers(0, REGION))
            word = self.sram(kind, n)
            self.emit(f"addi r13, r3, {4 * (8 + DATA + word)}", f"li r14, {word}", f"li r15, {n}",
                      "gstv r13, r14, r15" if self.draw(st.booleans()) else "gldv r14, r13, r15")

    def s_if(self) -> None:
        kind = self.draw(st.integers(0, 2))
        if kind == 0:
            self.emit(f"andi r12, r{self.pick((1, 2, 5))}, {self.draw(st.integers(1, 3))}")
        elif kind == 1:
            self.emit(f"slt r12, {self.reg('int')}, {self.reg('int')}")
        else:
            self.emit(f"{self.pick(FLOAT_COMPARE)} r12, {self.reg('float')}, {self.reg('float')}")
        otherwise, end = self.label(), self.label()
        uniform, self.uniform = self.uniform, False
        self.depth += 1
        self.emit(f"bz r12, {otherwise}")
        self.statements(self.draw(st.integers(1, 3)))
        self.emit(f"jmp {end}", f"{otherwise}:")
        self.statements(self.draw(st.integers(0, 2)))
        self.emit(f"{end}:")
        self.depth -= 1
        self.uniform = uniform

    def s_loop(self) -> None:
        counter, top = f"r{16 + self.depth}", self.label()
        uniform = self.uniform
        if self.draw(st.booleans()):
            self.li(counter, self.draw(st.integers(1, 3)))
        else:  # 1 to 4 trips, by PE
            self.emit(f"andi {counter}, r{self.pick((1, 2, 5))}, 3", f"addi {counter}, {counter}, 1")
            self.uniform = False
        self.depth += 1
        self.emit(f"{top}:")
        self.statements(self.draw(st.integers(1, 3)))
        self.emit(f"addi {counter}, {counter}, -1", f"bnz {counter}, {top}")
        self.depth -= 1
        self.uniform = uniform

    def s_exchange(self) -> None:
        """Each PE sends k words one way (where it has that neighbour), then receives k from the other way."""
        direction, channel = self.pick(sorted(OPPOSITE)), self.draw(st.integers(0, 2))
        words = [self.pick(("int", "float")) for _ in range(self.draw(st.integers(1, 2 * self.fifo_depth + 1)))]
        sent, received = self.label(), self.label()
        self.emit(f"hasnb r20, {direction}", f"bz r20, {sent}")
        tags = [self.pick(TAGS[kind]) for kind in words]
        for kind, tag in zip(words, tags):
            self.emit(f"send{tag} {direction}, {channel}, {self.reg(kind)}")
        self.emit(f"{sent}:", f"hasnb r20, {OPPOSITE[direction]}", f"bz r20, {received}")
        for kind, tag in zip(words, tags):
            self.emit(f"recv{self.pick(('', tag))} {self.reg(kind)}, {OPPOSITE[direction]}, {channel}")
        self.emit(f"{received}:")

    def s_relay(self) -> None:
        """A pipeline along a line (by a direction): each PE receives k words (or a vector of n) from behind,
        where it has that neighbour, does some work (at times a global access), then sends as many on ahead.
        PEs wait asleep in chains of receives (`sim/wake_chains.py`), a receive empties a FIFO whose sender is
        parked at a `sendv` (the interpreter's pull), and global loads wait behind the chain."""
        ahead, channel = self.pick(sorted(OPPOSITE)), self.draw(st.integers(0, 2))
        behind = OPPOSITE[ahead]
        kind = self.pick(("int", "float"))
        tag = self.pick(TAGS[kind])
        received, sent = self.label(), self.label()
        vector = self.draw(st.booleans())
        if vector:
            n = self.draw(st.integers(0, REGION))
            word = self.sram(kind, n)
            self.emit(f"li r15, {n}", f"li r14, {word}", f"hasnb r20, {behind}", f"bz r20, {received}",
                      f"recvv{self.pick(('', tag))} {behind}, {channel}, r14, r15", f"{received}:")
        else:
            registers = [self.reg(kind) for _ in range(self.draw(st.integers(1, 2 * self.fifo_depth + 1)))]
            self.emit(f"hasnb r20, {behind}", f"bz r20, {received}",
                      *[f"recv{self.pick(('', tag))} {register}, {behind}, {channel}" for register in registers],
                      f"{received}:")
        for _ in range(self.draw(st.integers(0, 3))):  # (a store, slow vector work, then a load: the load waits
            # behind the chain of sleepers, who may store before it, until their chain's floors let it go)
            getattr(self, "s_" + self.pick(("int", "float", "global", "global", "vector", "sram")))()
        if vector:
            self.emit(f"li r15, {n}", f"li r14, {word}")
        self.emit(f"hasnb r20, {ahead}", f"bz r20, {sent}")
        if vector:
            self.emit(f"sendv{tag} {ahead}, {channel}, r14, r15")
        else:
            self.emit(*[f"send{tag} {ahead}, {channel}, {register}" for register in registers])
        self.emit(f"{sent}:")

    def s_vexchange(self) -> None:
        direction, channel = self.pick(sorted(OPPOSITE)), self.draw(st.integers(0, 2))
        kind = self.pick(("int", "float"))
        n = self.draw(st.integers(0, REGION))
        tag = self.pick(TAGS[kind])
        sent, received = self.label(), self.label()
        self.emit(f"li r15, {n}", f"li r14, {self.sram(kind, n)}", f"li r13, {self.sram(kind, n)}",
                  f"hasnb r20, {direction}", f"bz r20, {sent}", f"sendv{tag} {direction}, {channel}, r14, r15",
                  f"{sent}:", f"hasnb r20, {OPPOSITE[direction]}", f"bz r20, {received}",
                  f"recvv{self.pick(('', tag))} {OPPOSITE[direction]}, {channel}, r13, r15", f"{received}:")

    def s_background(self) -> None:
        """A background send one way and receive from the other, register work between the issue and the
        waits (the ranges are defined only after `swait` / `rwait`, so nothing touches them before)."""
        direction, channel = self.pick(sorted(OPPOSITE)), self.draw(st.integers(0, 2))
        kind = self.pick(("int", "float"))
        n = self.draw(st.integers(0, REGION))
        labels = [self.label() for _ in range(4)]
        back = OPPOSITE[direction]
        self.emit(f"li r15, {n}", f"li r14, {self.sram(kind, n)}", f"li r13, {self.sram(kind, n)}",
                  f"hasnb r20, {direction}", f"bz r20, {labels[0]}", f"senda {direction}, {channel}, r14, r15",
                  f"{labels[0]}:", f"hasnb r20, {back}", f"bz r20, {labels[1]}", f"recva {back}, {channel}, r13, r15",
                  f"{labels[1]}:")
        for _ in range(self.draw(st.integers(0, 3))):
            getattr(self, "s_" + self.pick(("int", "float", "convert")))()
        waits = [(f"swait {direction}, {channel}", direction), (f"rwait {back}, {channel}", back)]
        if self.draw(st.booleans()):
            waits.reverse()
        for (wait, towards), label in zip(waits, labels[2:]):
            self.emit(f"hasnb r20, {towards}", f"bz r20, {label}", wait, f"{label}:")

    def s_routed(self) -> None:
        """One PE per block (a row, a column: by the bus) sends through its router on the declared bus, and
        every other PE it reaches receives as many words: scalar, vector or background transfers. The
        receivers' code comes first at times (they then wait at their receive before the sender's first step:
        a routed background send's pump, `sim/stream_pump.py`), and the transfer repeats 1-3 times at times (a
        SUMMA's panels)."""
        root = (self.draw(st.integers(0, self.block[0] - 1)), self.draw(st.integers(0, self.block[1] - 1)))
        by = BUSES[self.bus]
        tests = [f"seqi r12, r1, {root[0]}"] if by != "y" else []
        tests += [f"seqi r22, r2, {root[1]}"] if by != "x" else []
        if len(tests) == 2:
            tests.append("and r12, r12, r22")
        elif by == "y":
            tests = [tests[0].replace("r22", "r12")]
        other, done = self.label(), self.label()
        kind, form = self.pick(("int", "float")), self.draw(st.integers(0, 2))
        tag = self.pick(TAGS[kind])
        receivers_first = self.draw(st.booleans())
        panels = self.draw(st.sampled_from((1, 1, 2, 3)))
        if form == 0:
            words = [self.reg(kind) for _ in range(self.draw(st.integers(1, self.fifo_depth + 2)))]
            send = [f"send{tag} ramp, {ROUTED}, {word}" for word in words]
            receive = [f"recv{self.pick(('', tag))} {self.reg(kind)}, ramp, {ROUTED}" for _ in words]
        else:
            n = self.draw(st.integers(0, REGION))
            start = "sendv" + tag if form == 1 else "senda"
            send = [f"li r15, {n}", f"li r14, {self.sram(kind, n)}", f"{start} ramp, {ROUTED}, r14, r15"]
            if form == 2:
                send.append(f"swait ramp, {ROUTED}")
            receive = [f"li r15, {n}", f"li r13, {self.sram(kind, n)}"]
            if form == 1:
                receive.append(f"recvv{self.pick(('', tag))} ramp, {ROUTED}, r13, r15")
            else:
                receive.append(f"recva ramp, {ROUTED}, r13, r15")
                mark = len(self.lines)
                for _ in range(self.draw(st.integers(0, 2))):
                    getattr(self, "s_" + self.pick(("int", "float")))()
                receive += self.lines[mark:]  # (register work while the words come)
                del self.lines[mark:]
                receive.append(f"rwait ramp, {ROUTED}")
        if panels > 1:  # (r19: the innermost loop counter, free at the uniform depths a transfer is drawn at)
            send, receive = ([f"li r19, {panels}", f"{top}:", *part, "addi r19, r19, -1", f"bnz r19, {top}"]
                             for part, top in ((send, self.label()), (receive, self.label())))
        first, second = (receive, send) if receivers_first else (send, receive)
        self.emit(*tests, f"{'bnz' if receivers_first else 'bz'} r12, {other}", *first, f"jmp {done}", f"{other}:",
                  *second, f"{done}:")

    def s_barrier(self) -> None:
        self.emit("bar")

    def failure(self) -> None:
        """An instruction that fails on some PEs (or all): every strategy must report the same error."""
        kind = self.draw(st.integers(0, 4))
        if kind == 0:
            self.emit(f"li r12, {self.draw(st.integers(1, 6))}", "chk r5, r12, 0")
        elif kind == 1:
            self.emit(f"ld r6, r5, {DATA - self.draw(st.integers(1, 4))}")
        elif kind == 2:
            self.emit(f"send.f32 {self.pick(sorted(OPPOSITE))}, 0, r9")  # unguarded: off the block's edge
        elif kind == 3:  # an int32 word where the receiver expects a float32
            self.emit("hasnb r20, east", "bz r20, Lbad_sent", "send.i32 east, 1, r6", "Lbad_sent:",
                      "hasnb r20, west", "bz r20, Lbad_received", "recv.f32 r9, west, 1", "Lbad_received:")
        else:
            self.emit("andi r12, r5, 1", "bz r12, Lbad_skip", "li r15, 0", "vredmin r6, r0, r15", "Lbad_skip:")


@st.composite
def isa_programs(draw, fifo_depth: int, block: tuple[int, int], single_wave: bool = False, unrouted: bool = False,
                 favoured: tuple = ()):
    """(assembly text) of a random program; arguments: the output and the input buffers. `single_wave`: the
    launch runs in one wave (a grid barrier is allowed); `unrouted`: no route, no routed transfer, no print (a
    launch of several waves that `batched_waves` may batch); `favoured`: statements drawn first, once each, then
    more often than the others."""
    b = Builder(draw, fifo_depth, block, single_wave, unrouted, favoured)
    b.emit(f".sram {DATA}", ".args 2", *([] if unrouted else [f".route {ROUTED} {b.bus}"]), '.string 1 "i"',
           '.string 2 "f: x"',
           "sreg r1, tid.x", "sreg r2, tid.y", "sreg r6, bid.x", "sreg r7, bid.y",
           "sreg r8, gdim.x", "mul r7, r7, r8", "add r6, r6, r7", "sreg r7, bdim.x", "sreg r8, bdim.y",
           "mul r8, r7, r8", "mul r5, r6, r8", "mul r7, r2, r7", "add r5, r5, r7", "add r5, r5, r1",
           f"muli r3, r5, {4 * SLOT}", "arg r8, 0", "add r3, r3, r8", "arg r4, 1")
    for register in INTS:
        b.li(f"r{register}", draw(st.sampled_from(INT_EDGES)))
    for register in FLOATS:
        b.li(f"r{register}", draw(st.sampled_from(FLOAT_EDGES)))
    b.emit("itof r12, r5", f"fadd r{FLOATS[0]}, r{FLOATS[0]}, r12", f"add r{INTS[0]}, r{INTS[0]}, r5")
    for name in favoured:  # (each once, in the block's uniform code, then the drawn statements)
        getattr(b, "s_" + name)()
    b.statements(draw(st.integers(1, 8)))
    if draw(st.integers(0, 9)) == 0:
        b.failure()
        b.statements(draw(st.integers(0, 3)))
    for k, register in enumerate(INTS + FLOATS):
        b.emit(f"gst r{register}, r3, {4 * k}")
    b.emit("addi r13, r3, 32", f"li r15, {DATA}", "gstv r13, r0, r15", "halt")
    return "\n".join(b.lines) + "\n"


def canonical(out: np.ndarray) -> np.ndarray:
    """The output words (PE slots of `SLOT` words) with every float32 NaN one word and every 16-bit NaN one
    half: which NaN of two a float operation returns is up to the strategy (docs/engine-strategies.md)."""
    words = out.reshape(-1, SLOT).copy()
    floats = np.zeros(SLOT, dtype=bool)
    floats[3:6] = True
    halves = np.zeros(SLOT, dtype=bool)
    for base in (8, 8 + DATA):
        floats[base + REGION:base + 2 * REGION] = True
        halves[base + 2 * REGION:base + 3 * REGION] = True
        floats[base + PAIRS:base + DATA:2] = True  # (the values of the sparse pairs)
    f = words[:, floats]
    f[np.isnan(f.view(np.float32))] = 0x7FC00000
    words[:, floats] = f
    h = words[:, halves]
    low = h & 0xFFFF
    f16_nan = (low & 0x7C00) == 0x7C00
    f16_nan &= (low & 0x3FF) != 0
    bf16_nan = ((low & 0x7F80) == 0x7F80) & ((low & 0x7F) != 0)
    h[f16_nan] = (h[f16_nan] & ~0xFFFF) | 0x7E00
    h[bf16_nan & ~f16_nan] = (h[bf16_nan & ~f16_nan] & ~0xFFFF) | 0x7FC0
    words[:, halves] = h
    return words.reshape(-1)


def run_program(source: str, spec: ws.WaferSpec, grid, block, inputs: np.ndarray, print_limit: int = 1000):
    """A launch of `source` -> (canonical output words, LaunchStats); `assert_same_run` compares the prints."""
    program = assemble(source, name="fuzz")
    pes = grid[0] * grid[1] * block[0] * block[1]
    dev = ws.Device(spec)
    d_out, d_in = dev.to_device(np.zeros(pes * SLOT, dtype=np.int32)), dev.to_device(inputs)
    stats = dev.launch(program, grid, block, [d_out, d_in], max_cycles=200_000, print_output=False,
                       print_limit=print_limit)
    return canonical(d_out.copy_to_host()), stats


@st.composite
def launches(draw):
    """(spec, grid, block): blocks of up to 8 x 6 PEs, several waves at times; in one launch in four, 3 or 6
    waves of one slot each (blocks over half the wafer each way), which `batched_waves` batches."""
    spec = ws.WaferSpec(width=draw(st.integers(2, 8)), height=draw(st.integers(1, 6)),
                        fifo_depth=draw(st.integers(1, 4)),
                        link_words_per_cycle=draw(st.sampled_from([1, 1, 0.5, 0.75])),
                        hop_latency=draw(st.integers(1, 2)), channels=5)
    if draw(st.integers(0, 3)) == 0:
        block = (draw(st.integers(spec.width // 2 + 1, spec.width)),
                 draw(st.integers(spec.height // 2 + 1, spec.height)))
        return spec, (3, draw(st.integers(1, 2))), block
    block = (draw(st.integers(1, spec.width)), draw(st.integers(1, spec.height)))
    grid = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    return spec, grid, block


def input_words(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ints = rng.choice(np.array(INT_EDGES, dtype=np.int64), 8).astype(np.int32)
    floats = rng.choice(np.array(FLOAT_EDGES, dtype=np.float32), 8).view(np.int32)
    return np.concatenate([ints, floats])


def lowered_thresholds(keys: list) -> st.SearchStrategy:
    """Which of `small_thresholds()` a run lowers: none, every one (some large groups' paths need several at
    once: `stream_rows` a dense lockstep group past `BULK_MAX_LANES` and `ROWS_MIN_LANES` outside the
    interpreter's `SMALL_GROUP`, `vector_batch` `BATCH_LANES` and `MIN_BLOCK_PES`), or a random set."""
    return st.sampled_from(["all", "none", "some"]).flatmap(
        lambda which: st.just(set(keys)) if which == "all" else st.just(set()) if which == "none"
        else st.sets(st.sampled_from(keys)))


def check_drawn_program(data, setup, seed: int, lowered, favoured: tuple = (), routes: bool = True) -> None:
    """A program drawn for the launch `setup` runs alike under every strategy of `FUZZ_STRATEGIES`, with the
    thresholds `lowered(keys)` draws lowered (`favoured`: statements drawn first and more often; `routes`: a
    launch of 3 or more waves may declare a route, and print, as one in four do, else none does)."""
    spec, grid, block = setup
    waves = Placement(spec, grid, block).waves
    unrouted = waves >= 3 and (not routes or data.draw(st.integers(0, 3), label="unrouted") > 0)
    source = data.draw(isa_programs(spec.fifo_depth, block, waves == 1, unrouted, favoured), label="source")
    small = small_thresholds()
    chosen = data.draw(lowered(list(small)), label="lowered")
    threads = data.draw(st.sampled_from(THREADS), label="threads")
    print_limit = data.draw(st.sampled_from([1000, 3]), label="print_limit")
    inputs = input_words(seed)
    with thresholds({key: small[key] for key in chosen}, threads):
        try:
            run_every_strategy(lambda: run_program(source, spec, grid, block, inputs, print_limit),
                               FUZZ_STRATEGIES)
        except ws.WaferError:
            pass  # (every strategy raised it alike: `run_every_strategy` compares errors too)


@FUZZ
@given(data=st.data(), setup=launches(), seed=st.integers(0, 2**16))
def test_random_isa_programs_are_identical_under_every_strategy(data, setup, seed):
    check_drawn_program(data, setup, seed, lowered_thresholds)


@st.composite
def wide_launches(draw):
    """(spec, grid, block) of 3 or 6 waves of one slot each, blocks of 3 x 2 to 8 x 6 PEs over most of the wafer,
    whole-cycle links (row transfers need whole cycle times), FIFOs mostly as deep as a whole vector transfer
    (a row transfer moves every word at once)."""
    spec = ws.WaferSpec(width=draw(st.integers(3, 8)), height=draw(st.integers(2, 6)),
                        fifo_depth=draw(st.sampled_from([2, 8, 9])), hop_latency=draw(st.integers(1, 2)), channels=5)
    block = (draw(st.integers(spec.width // 2 + 1, spec.width)), draw(st.integers(spec.height // 2 + 1, spec.height)))
    return spec, (3, draw(st.integers(1, 2))), block


@settings(FUZZ, max_examples=WIDE_EXAMPLES)
@given(data=st.data(), setup=wide_launches(), seed=st.integers(0, 2**16))
def test_random_programs_on_the_large_groups_paths_are_identical_under_every_strategy(data, setup, seed):
    """The paths of large groups and of many waves that the draws above reach only now and then, every run: every
    threshold lowered, blocks of most of the wafer in 3 or 6 waves, the statements they run drawn more often (row
    transfers, `stream_rows`; batched vector ops, `vector_batch`; float16 vector ops, rank-1 updates and
    background receives in the NumPy executor; wave batches, `batched_waves`)."""
    check_drawn_program(data, setup, seed, lambda keys: st.just(set(keys)),
                        favoured=("vexchange", "vector", "half", "vger", "background"), routes=False)
