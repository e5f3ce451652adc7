"""Random straight runs of what a register run may hold (`sim.register_blocks`: integer register instructions,
`chk`, scalar `ld`/`st`, float32 `vadd`/`vsub`/`vmul`/`vscale` and `vcopy`) against a plain Python model of
each PE, and identical with the register runs on and off, with the compiled interpreter on and off.

The adversarial cases of review43: addresses, lengths and vector ranges differing by PE and drawn from each PE's
data (lengths 0 and 1, negative ones, ranges overlapping their destination at any shift, the same range read
twice, in place), a store then a load of the same word in one run, NaNs, infinities, -0.0 and subnormals, and
accesses leaving the data segment (the launch raises the same error whatever the strategy). The PEs take the
body in groups of several shapes (a split by pe % 2, pe % 3 or pe % 61: lanes by index, and one PE apart from
the rest; by pe < 30 or pe < 7: windows of the region), so that the runs see every lane form. Of two NaN operands of a float operation the
engine may return either (docs/engine-strategies.md): where the inputs hold NaNs, results compare with every
NaN alike; where they hold none (a NaN is then made only from infinities, every one the same), bit for bit.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run, error_facts
from wafersim.sim import register_block_kernels
from wafersim.sim.strategy import Strategy, forced

PES, WORDS, SRAM = 60, 32, 64  # two blocks of 6 x 5 PEs; each PE's 32 input words; its data segment
SMALL = 8  # input words 0..7: small ints (addresses, lengths), loaded into r9..r16; words 8..31: float32 bits
REGISTERS = tuple(range(9, 21))
PROLOGUE = [f".sram {SRAM}", ".args 2",
            "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
            "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
            f"li r5, {WORDS}", f"muli r6, r4, {4 * WORDS}", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5"]
_FLOAT_BINARY = {"vadd.f": np.add, "vsub.f": np.subtract, "vmul.f": np.multiply}


def random_body(rng: random.Random) -> list[str]:
    """Loads of the small words into r9..r16, then 4 to 16 instructions a register run may hold."""
    body = [f"ld r{register}, r0, {k}" for k, register in enumerate(REGISTERS[:SMALL])]
    for _ in range(rng.randint(4, 16)):
        kind = rng.choice(["li", "addi", "add", "ld", "ld", "st", "st", "chk", "vadd.f", "vsub.f", "vmul.f",
                           "vscale.f", "vcopy"])
        d, a, b, c = (rng.choice(REGISTERS) for _ in range(4))
        if kind == "li":
            body.append(f"li r{d}, {rng.randint(0, 40)}")
        elif kind == "addi":
            body.append(f"addi r{d}, r{a}, {rng.randint(-3, 12)}")
        elif kind == "add":
            body.append(f"add r{d}, r{a}, r{b}")
        elif kind == "ld":  # (a small word at a per-PE address, or a float word's bits from the fixed ones)
            body.append(f"ld r{d}, r{a}, {rng.randint(0, 30)}" if rng.random() < 0.6 else
                        f"ld r{d}, r0, {rng.randint(SMALL, WORDS - 1)}")
        elif kind == "st":
            body.append(f"st r{d}, r{a}, {rng.randint(0, 30)}")
        elif kind == "chk":
            body.append(f"chk r{a}, r{b}, 0")
        elif kind == "vcopy":
            body.append(f"vcopy r{d}, r{a}, r{c}")
        else:
            body.append(f"{kind} r{d}, r{a}, r{b}, r{c}")
    return body


def program(body: list[str], split: tuple[str, int]) -> str:
    """The PEs with pe % k == 0 (split ("rem", k)) or pe >= k (("below", k)) and the others each run `body`;
    then every PE's SRAM goes out."""
    how, k = split
    test = [f"li r8, {k}", "rem r3, r4, r8"] if how == "rem" else [f"slti r3, r4, {k}"]
    lines = PROLOGUE + test + ["bz r3, apart"] + body + ["jmp done", "apart:"]
    lines += body + ["done:", f"li r5, {SRAM}", f"muli r6, r4, {4 * SRAM}", "arg r7, 1", "add r7, r7, r6",
                     "gstv r7, r0, r5", "halt"]
    return "\n".join(lines) + "\n"


class _Fault(Exception):
    """The model's PE stopped: an access outside the data segment, a negative length or a failed `chk`."""


def _int32(value: int) -> int:
    return (int(value) + 2**31) % 2**32 - 2**31


def model(body: list[str], words: np.ndarray) -> np.ndarray:
    """One PE's SRAM after `body`, instruction by instruction in plain Python and NumPy float32 (each vector op's
    result computed whole, then stored); `_Fault` where the engine must raise."""
    sram = np.zeros(SRAM, np.uint32)
    sram[:WORDS] = words
    floats = sram.view(np.float32)
    regs = [0] * 32

    def get(name: str) -> int:
        return regs[int(name[1:])]

    def check(base: int, length: int) -> None:
        if length < 0 or base < 0 or base + length > SRAM:
            raise _Fault

    for line in body:
        op, operands = line.split(" ", 1)
        args = [part.strip() for part in operands.split(",")]
        d = int(args[0][1:])
        if op == "li":
            value = int(args[1])
        elif op == "addi":
            value = _int32(get(args[1]) + int(args[2]))
        elif op == "add":
            value = _int32(get(args[1]) + get(args[2]))
        elif op == "ld":
            address = get(args[1]) + int(args[2])
            check(address, 1)
            value = int(sram[address:address + 1].view(np.int32)[0])
        elif op == "st":
            address = get(args[1]) + int(args[2])
            check(address, 1)
            sram[address] = get(args[0]) & 0xFFFFFFFF
            continue
        elif op == "chk":
            if not 0 <= get(args[0]) < get(args[1]):
                raise _Fault
            continue
        elif op == "vcopy":
            target, source, length = (get(name) for name in args)
            check(target, length), check(source, length)
            sram[target:target + length] = sram[source:source + length].copy()
            continue
        elif op == "vscale.f":
            target, source, length = get(args[0]), get(args[1]), get(args[3])
            check(target, length), check(source, length)
            factor = np.array([get(args[2])], np.int32).view(np.float32)[0]
            floats[target:target + length] = floats[source:source + length] * factor
            continue
        else:
            target, source, other, length = (get(name) for name in args)
            check(target, length), check(source, length), check(other, length)
            floats[target:target + length] = _FLOAT_BINARY[op](floats[source:source + length],
                                                               floats[other:other + length])
            continue
        if d:
            regs[d] = value
    return sram


def inputs(rng: np.random.Generator, nans: bool, negative: bool) -> np.ndarray:
    """Each PE's words: small ints (-1 too where `negative`), then float32 bits with specials (NaNs of random
    payloads and signs, signalling ones too, where `nans`)."""
    words = np.zeros((PES, WORDS), np.uint32)
    words[:, :SMALL] = rng.integers(-1 if negative else 0, 12, (PES, SMALL)).astype(np.int32).view(np.uint32)
    values = rng.standard_normal((PES, WORDS - SMALL)).astype(np.float32)
    specials = np.array([-0.0, np.inf, -np.inf, 0.0, 1e-45, 3e38, -1e-40], np.float32)
    picks = rng.random(values.shape) < 0.25
    values[picks] = rng.choice(specials, picks.sum())
    bits = values.view(np.uint32)
    if nans:
        picks = rng.random(values.shape) < 0.08
        payloads = rng.integers(1, 1 << 23, picks.sum(), dtype=np.uint32)
        bits[picks] = 0x7F800000 | payloads | (rng.integers(0, 2, picks.sum(), dtype=np.uint32) << 31)
    words[:, SMALL:] = bits
    return words


def _launch(text: str, words: np.ndarray):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    d_in, d_out = dev.to_device(words.view(np.int32)), dev.device_array((PES, SRAM), np.int32)
    stats = dev.launch(ws.assemble(text), (2, 1), (6, 5), (d_in, d_out), print_output=False)
    return d_out.copy_to_host(), stats


def _nans_alike(words: np.ndarray) -> np.ndarray:
    out = np.array(words).view(np.uint32).copy()
    out[np.isnan(out.view(np.float32))] = 0x7FC00000
    return out


def check_trial(seed: int) -> None:
    """One random body on random inputs: the four strategies agree (or raise the same error), and agree with
    `model` (which then faults on some PE too)."""
    rng, data = random.Random(seed), np.random.default_rng(seed)
    nans = seed % 2 == 1
    body = random_body(rng)
    words = inputs(data, nans, negative=seed % 3 == 0)
    text = program(body, rng.choice([("rem", 2), ("rem", 3), ("rem", 61), ("below", 30), ("below", 7)]))
    runs = []
    for strategy in (Strategy(compiled=False, register_blocks=False), Strategy(compiled=False),
                     Strategy(register_blocks=False), Strategy()):
        with forced(strategy):
            try:
                runs.append(_launch(text, words))
            except ws.WaferError as error:
                runs.append(error)
    reference = runs[0]
    for run in runs[1:]:
        if isinstance(reference, ws.WaferError) or isinstance(run, ws.WaferError):
            facts = [error_facts(r) if isinstance(r, ws.WaferError) else "no error" for r in (reference, run)]
            assert facts[1] == facts[0], text
        elif nans:
            assert_same_run((_nans_alike(reference[0]), reference[1]), (_nans_alike(run[0]), run[1]))
        else:
            assert_same_run(reference, run)
    try:
        want = np.array([model(body, words[pe]) for pe in range(PES)])
    except _Fault:
        assert isinstance(reference, ws.MemoryAccessError), text
        return
    assert not isinstance(reference, ws.WaferError), (reference, text)
    got = reference[0].view(np.uint32)
    if nans:
        got, want = _nans_alike(got), _nans_alike(want)
    np.testing.assert_array_equal(got, want, err_msg=text)


@pytest.fixture
def ran_in_runs(monkeypatch):
    """(pass lengths, vector elements) of every register run the trials make: the runs did take the accesses."""
    seen = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block", lambda *args: (lambda got: seen.append(
        (got[0], int(args[-1][0]))) or got)(original(*args)))
    return seen


def test_random_register_runs_match_a_python_model_under_every_strategy(ran_in_runs):
    for seed in range(12):
        check_trial(seed)
    assert max(length for length, _ in ran_in_runs) >= 10 and sum(elements for _, elements in ran_in_runs) > 0


if __name__ == "__main__":  # a longer search: python tests/test_register_blocks_fuzz.py FIRST_SEED COUNT
    import sys

    first, count = int(sys.argv[1]), int(sys.argv[2])
    for trial in range(first, first + count):
        check_trial(trial)
    print("ok", count)


@ws.jit
def overlapping_slices(out, x, lengths, shared):
    pe = ws.blockIdx.x * ws.blockDim.x + ws.threadIdx.x
    a = ws.local.array(16, np.float32)
    for k in range(16):
        a[k] = x[pe * 16 + k]
    n = lengths[pe]
    if pe % 3 == 1:  # (lanes by index: the NumPy path's register runs)
        a[1:1 + n] = a[1:1 + n] + a[0:n]  # in place, shifted by one
        a[0:n] = a[2:2 + n] * a[0:n]
    else:
        a[0:n] = a[0:n] + a[0:n]  # the same range read twice, in place
        a[3:3 + n] = a[3:3 + n] - a[1:1 + n]
        a[4:4 + n] = a[0:n] * 0.5
    m = shared[pe]  # (equal over runs of 16 PEs: the compiled interpreter's dense vector ops)
    a[2:2 + m] = a[2:2 + m] + a[2:2 + m]
    a[0:m] = a[0:m] * a[4:4 + m]  # apart where m <= 4, overlapping its destination beyond
    a[8:8 + m] = a[6:6 + m]
    for k in range(16):
        out[pe * 16 + k] = a[k]


def overlapping_slices_reference(x: np.ndarray, lengths: np.ndarray, shared: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for pe in range(len(lengths)):
        a = x[pe].copy()
        n, m = int(lengths[pe]), int(shared[pe])
        if pe % 3 == 1:
            a[1:1 + n] = a[1:1 + n] + a[0:n]
            a[0:n] = a[2:2 + n] * a[0:n]
        else:
            a[0:n] = a[0:n] + a[0:n]
            a[3:3 + n] = a[3:3 + n] - a[1:1 + n]
            a[4:4 + n] = a[0:n] * np.float32(0.5)
        a[2:2 + m] = a[2:2 + m] + a[2:2 + m]
        a[0:m] = a[0:m] * a[4:4 + m]
        a[8:8 + m] = a[6:6 + m]
        out[pe] = a
    return out


def test_overlapping_vector_slices_of_a_kernel_match_numpy_under_every_strategy():
    """A kernel's slice arithmetic with its destination overlapping an operand (shifted by one, the same range
    read twice, in place) at per-PE lengths 0 to 12, in groups by index and in converged runs of PEs with equal
    lengths: NumPy's float32 results (infinities and -0.0 among the inputs), identical under every strategy."""
    from test_engine_strategies import run_every_strategy

    pes = 64
    data = np.random.default_rng(43)
    x = data.standard_normal((pes, 16)).astype(np.float32)
    x[data.random(x.shape) < 0.1] = np.inf
    x[data.random(x.shape) < 0.1] = -0.0
    lengths = data.integers(0, 13, pes).astype(np.int32)
    lengths[:4] = (0, 1, 0, 1)
    shared = (np.arange(pes) // 16 * 3 % 9).astype(np.int32)  # 0, 3, 6, 0 over four runs of 16

    def launch():
        dev = ws.Device(ws.WaferSpec(width=32, height=2))
        out = dev.device_array(pes * 16, np.float32)
        stats = overlapping_slices[(2, 1), (32, 1)](out, dev.to_device(x.ravel()), dev.to_device(lengths),
                                                     dev.to_device(shared))
        return out.copy_to_host(), stats

    got, _ = run_every_strategy(launch)
    np.testing.assert_array_equal(got.reshape(pes, 16).view(np.uint32),
                                  overlapping_slices_reference(x, lengths, shared).view(np.uint32))
