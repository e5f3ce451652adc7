"""A program's analyses kept on disk (`wafersim.sim.facts_store`, `CodeFacts.kept_memo`): a later process reads
back what the analysis computes, a damaged, foreign or stale file is never read as a result, nothing is kept while
the kernel cache is off, and launches that read them compute the same results to the cycle."""
from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import wafersim as ws
from wafersim.isa.encoding import code_bytes
from wafersim.kernels import reduce
from wafersim.runtime import kernel_cache
from wafersim.sim import code_facts as code_facts_module, facts_store, routed_senders
from wafersim.sim.code_facts import CodeFacts, stable_text
from wafersim.sim.routed_senders import channel_conditions

# One sender per block on channel 2 (threadIdx (2, 1)), every PE of row 0 on channel 3.
PROGRAM = """
.name kept
.sram 0
.args 0
.route 2 block_bus
.route 3 block_bus
    sreg r7, tid.x
    sreg r10, tid.y
    seqi r1, r7, 2
    seqi r2, r10, 1
    and r1, r1, r2
    bz r1, other
    send.f32 ramp, 2, r2
other:
    bnz r10, end
    send.f32 ramp, 3, r2
end:
    halt
"""


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """The store switched on (with the kernel cache), in a folder of this test."""
    monkeypatch.setattr(kernel_cache, "ENABLED", True)
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def code() -> bytes:
    return code_bytes(ws.assemble(PROGRAM).code)


def analysed(facts: CodeFacts, calls: list) -> dict:
    """The routed senders of `facts`'s code through `kept_memo`, counting the analyses run in `calls`."""
    def make():
        calls.append(1)
        return channel_conditions(facts.decoded, len(facts.code) // 4)
    return facts.kept_memo("routed_senders_by_channel", make)


def test_an_analysis_is_run_once_and_read_back_equal_by_the_facts_of_a_later_process(store_dir):
    calls: list = []
    first = analysed(CodeFacts(code()), calls)
    assert first == {2: [((0, 2), (1, 1))], 3: [((1, 0),)]}  # (the guards, read off the program above)
    assert len(calls) == 1 and len(list(store_dir.glob("*.facts"))) == 1
    again = analysed(CodeFacts(code()), calls)  # (new facts of the same code: as a new process's)
    assert len(calls) == 1 and again == first
    assert analysed(CodeFacts(code_bytes(ws.assemble(PROGRAM.replace("ramp, 3", "ramp, 4")).code)), calls) == {
        2: [((0, 2), (1, 1))], 4: [((1, 0),)]}
    assert len(calls) == 2  # (another code: its own file)


def test_nothing_is_kept_or_read_while_the_kernel_cache_is_off(store_dir, monkeypatch):
    monkeypatch.setattr(kernel_cache, "ENABLED", False)
    calls: list = []
    for _ in range(2):
        assert analysed(CodeFacts(code()), calls) == {2: [((0, 2), (1, 1))], 3: [((1, 0),)]}
    assert len(calls) == 2 and not store_dir.exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "other name", "not a pickle"])
def test_a_damaged_or_foreign_file_is_never_read_as_a_result(store_dir, damage):
    calls: list = []
    expected = analysed(CodeFacts(code()), calls)
    (path,) = store_dir.glob("*.facts")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "flipped":  # (a byte of the result: it still unpickles, to another result)
        name, checksum, payload = pickle.loads(data)
        payload = payload.replace(b"\x02", b"\x05", 1)
        assert pickle.loads(payload) != expected
        path.write_bytes(pickle.dumps((name, checksum, payload)))
    elif damage == "other name":
        wrong = pickle.dumps({9: []})  # (a whole file, under another name)
        path.write_bytes(pickle.dumps(("0" * 64, hashlib.sha256(wrong).digest(), wrong)))
    else:
        path.write_bytes(b"not a pickle at all")
    assert analysed(CodeFacts(code()), calls) == expected and len(calls) == 2
    assert analysed(CodeFacts(code()), calls) == expected and len(calls) == 2  # (written whole again)


def test_a_file_of_another_engine_version_is_not_read(store_dir, monkeypatch):
    calls: list = []
    analysed(CodeFacts(code()), calls)
    monkeypatch.setattr(facts_store, "version", lambda: "another engine")
    analysed(CodeFacts(code()), calls)
    assert len(calls) == 2 and len(list(store_dir.glob("*.facts"))) == 2
    monkeypatch.setattr(facts_store, "version", lambda: None)  # (no sources to hash: nothing kept)
    analysed(CodeFacts(code()), calls)
    assert len(calls) == 3 and len(list(store_dir.glob("*.facts"))) == 2


def test_a_key_is_the_same_text_in_every_process_and_plain_values_only():
    key = ("cycles_until", frozenset({"gst", "gstv", "gld", "gldv"}), ((("add", 1.0),), 12, 2.5), 3, None)
    script = (f"from wafersim.sim.code_facts import stable_text; "
              f"print(stable_text(('cycles_until', frozenset({sorted(key[1])!r}), ((('add', 1.0),), 12, 2.5), 3, None)))")
    texts = {subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONHASHSEED=str(seed)),
                            capture_output=True, text=True, check=True).stdout.strip() for seed in (1, 2, 3)}
    assert texts == {stable_text(key)}
    assert stable_text(frozenset({"a", "b"})) != stable_text(("a", "b"))
    with pytest.raises(TypeError):
        stable_text(("x", object()))


def allreduce() -> tuple[bytes, float]:
    values = np.random.default_rng(5).random((8, 16), dtype=np.float32)
    total, stats = reduce.block_allreduce(values, "sum", (16, 8))
    return np.asarray(total).tobytes(), float(stats.cycles)


def test_a_launch_that_reads_the_kept_analyses_computes_the_same_to_the_cycle(store_dir, monkeypatch):
    runs: list = []
    original = routed_senders.channel_conditions

    def counted(*args):
        runs.append(1)
        return original(*args)

    monkeypatch.setattr(routed_senders, "channel_conditions", counted)
    monkeypatch.setattr(kernel_cache, "ENABLED", False)
    code_facts_module.code_facts.cache_clear()
    reference = allreduce()
    assert runs and not store_dir.exists()
    monkeypatch.setattr(kernel_cache, "ENABLED", True)
    for launch in range(2):  # (the facts of every code dropped before each: as in a new process)
        code_facts_module.code_facts.cache_clear()
        runs.clear()
        assert allreduce() == reference
        assert (len(runs) > 0) == (launch == 0), launch
    assert list(store_dir.glob("*.facts"))
    code_facts_module.code_facts.cache_clear()


# A loop before a store, a load after it: the fewest cycles from each pc to the next store or load depend on the
# spec's costs and its global latency (`memory_order.cycles_until`), which the kept file's key must name.
ORDERED = """
.name ordered
.sram 0
.args 1
    sreg r1, tid.x
    arg r2, 0
    li r3, 5
loop:
    addi r3, r3, -1
    bnz r3, loop
    gld r5, r2, 0
    gst r5, r2, 4
    halt
"""


def test_kept_distances_to_global_accesses_are_those_of_the_launch_spec_timing(store_dir):
    from wafersim.isa.opcodes import opcode_cycles
    from wafersim.sim.memory_order import LOAD_OPS, STORE_OPS, GlobalOrder, cycles_until

    program = ws.assemble(ORDERED)
    specs = [ws.WaferSpec(width=2, height=1, global_latency=latency, op_cycles={"addi": addi})
             for latency, addi in ((400, 30), (3, 1))]
    for spec in specs:  # (the facts of the code dropped before each: as in a new process, reading the store)
        costs = opcode_cycles(spec)
        facts = CodeFacts(code_bytes(program.code))
        order = GlobalOrder(facts, costs, len(program.code), spec.global_latency, tuple(sorted(costs.items())), 2)
        expected = {targets: cycles_until(facts.decoded, costs, targets, len(program.code), spec.global_latency)
                    for targets in (STORE_OPS, LOAD_OPS)}
        assert order.to_store == expected[STORE_OPS] and order.to_load == expected[LOAD_OPS]
        # (by hand: through the loop once, the load and its latency, the store's issue)
        path = ("sreg", "arg", "li", "addi", "bnz", "gld", "gst")
        assert order.to_store[0] == pytest.approx(sum(costs[op] for op in path) + spec.global_latency)
    assert len(list(store_dir.glob("*.facts"))) >= 4  # (each timing's files kept apart)
