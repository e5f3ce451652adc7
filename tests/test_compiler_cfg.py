"""The control-flow analysis (compiler/passes/cfg.py): dominators (Cooper, Harvey and Kennedy), the
dominance test, natural loops, and the verifier's CFG handed to the next pass, against brute force and
the set-based dataflow the analysis used before, on random control-flow graphs (loops, irreducible
cycles, unreachable blocks); strength reduction's CFG updated in place against one built afresh."""
from __future__ import annotations

import dataclasses
import random

import pytest

import wafersim as ws
from wafersim.compiler import PASSES
from wafersim.compiler.frontend import KernelSignature, lower
from wafersim.compiler.ir import IRFunction, Label, Op, VReg
from wafersim.compiler.passes import run_passes
from wafersim.compiler.passes.cfg import CFG


def _random_function(rng: random.Random, blocks: int) -> IRFunction:
    """`blocks` labelled blocks, each ending in a fall-through, a jump, a conditional branch or a halt to
    random labels: back edges, irreducible cycles, and blocks nothing reaches."""
    labels = [Label(f"b{k}") for k in range(blocks)]
    cond = VReg(1, "i32", "c")
    ops: list = [Op("li", d=cond, imm=1)]
    for k in range(blocks):
        ops.append(labels[k])
        ops.append(Op("addi", d=cond, a=cond, imm=1))
        end = rng.random()
        if end < 0.3:
            ops.append(Op("bnz", a=cond, target=rng.choice(labels)))
        elif end < 0.55:
            ops.append(Op("jmp", target=rng.choice(labels)))
        elif end < 0.65:
            ops.append(Op("halt"))
    ops.append(Op("halt"))
    return IRFunction("random", ops)


def _brute_dominators(cfg: CFG) -> dict[int, set[int]]:
    """d dominates b when b cannot be reached from the entry without passing through d (reachable b; also
    test_compiler_ssa's reference)."""
    def reachable(without: int | None) -> set[int]:
        if without == 0:
            return set()
        seen, todo = {0}, [0]
        while todo:
            for s in cfg.succ[todo.pop()]:
                if s != without and s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen

    everything = reachable(None)
    return {b: {d for d in everything if d == b or b not in reachable(d)} for b in everything}


def _dataflow_dominators(cfg: CFG) -> list[set[int]]:
    """The set-based iterative dataflow the CFG used before (every block for an unreachable one)."""
    everything = set(range(len(cfg.blocks)))
    dom = [set(everything) for _ in cfg.blocks]
    dom[0] = {0}
    order = [k for k in range(len(cfg.blocks)) if k in cfg.reachable and k != 0]
    changed = True
    while changed:
        changed = False
        for k in order:
            preds = [dom[p] for p in cfg.pred[k] if p in cfg.reachable]
            new = set.intersection(*preds) | {k} if preds else {k}
            if new != dom[k]:
                dom[k], changed = new, True
    return dom


@pytest.mark.parametrize("seed", range(60))
def test_dominators_loops_and_dominance_match_brute_force_and_the_dataflow(seed):
    rng = random.Random(seed)
    fn = _random_function(rng, rng.randint(1, 40))
    cfg = CFG(fn)
    brute = _brute_dominators(cfg)
    dataflow = _dataflow_dominators(cfg)
    n = len(cfg.blocks)
    assert cfg.dom == dataflow
    for b in range(n):
        if b in cfg.reachable:
            assert cfg.dom[b] == brute[b]
            strict = brute[b] - {b}
            want = next((d for d in strict if all(o in brute[d] for o in strict)), None)
            assert cfg.idom[b] == want
        else:
            assert cfg.idom[b] is None
        for a in range(n):
            assert cfg.dominates(a, b) == (a in dataflow[b]), (a, b)
    # natural loops: a back edge t -> h (h dominates t), its body the blocks reaching t without passing h
    want_loops = {}
    for t in cfg.reachable:
        for h in cfg.succ[t]:
            if h in dataflow[t]:
                body = want_loops.setdefault(h, [{h}, []])
                body[1].append(t)
                todo = [t]
                while todo:
                    k = todo.pop()
                    if k not in body[0]:
                        body[0].add(k)
                        todo.extend(p for p in cfg.pred[k] if p in cfg.reachable)
    got = cfg.loops()
    assert [(loop.header, loop.blocks, sorted(loop.latches)) for loop in got] == sorted(
        ((h, blocks, sorted(latches)) for h, (blocks, latches) in want_loops.items()),
        key=lambda item: (len(item[1]), item[0]))
    assert got == cfg.loops() and got is not cfg.loops()  # computed once; each caller gets its own list


def test_a_pass_gets_the_verifiers_cfg_once_and_only_of_the_ops_it_verified():
    rng = random.Random(3)
    fn = _random_function(rng, 12)
    verified = CFG(fn)
    fn._verified_cfg = verified
    assert CFG.of(fn) is verified
    assert CFG.of(fn) is not verified  # taken once: a pass's later CFGs are built afresh
    fn._verified_cfg = verified
    fn.ops = list(fn.ops)  # a new op list (a pass that rewrote the function): not the verified one
    fresh = CFG.of(fn)
    assert fresh is not verified and fresh.ops is fn.ops
    assert not hasattr(fn, "_verified_cfg")


@ws.jit
def _nested(out, n):
    for i in range(n):
        acc = 0.0
        for j in range(4):
            if out[j] > 0.0:
                acc += out[i * 4 + j]
            else:
                acc -= 1.0
        out[i] = acc


def test_run_passes_hands_each_pass_the_verifiers_cfg_and_leaves_none_behind(monkeypatch):
    """Every pass starts with `fn._verified_cfg` set to a CFG of exactly the ops it starts from (with the
    verifier after each pass), and no handed CFG outlives its pass."""
    import wafersim.compiler.passes as passes_module

    monkeypatch.setattr(passes_module, "VERIFY_EACH_PASS", True)
    seen = []

    def watching(name, run):
        def watched(fn, undefined):
            handed = fn.__dict__.get("_verified_cfg")
            if handed is not None:
                assert handed.ops is fn.ops and handed.size == len(fn.ops)
                fresh = CFG(fn)
                assert handed.blocks == fresh.blocks and handed.rw == fresh.rw
            seen.append((name, handed is not None))
            run(fn, undefined)
        return watched

    signature = KernelSignature((("array", "f32", 1), ("scalar", "i32")))
    fn = lower(_nested.py_func, signature, True)
    run_passes(fn, [(name, watching(name, run)) for name, run in PASSES])
    assert not hasattr(fn, "_verified_cfg")
    assert [name for name, _ in seen] == [name for name, _ in PASSES]
    assert not seen[0][1] and all(handed for _, handed in seen[1:])  # (the verifier ran after each pass)


def _layout_recomputing_loops(fn: IRFunction) -> None:
    """The layout pass as it was: the CFG and its loops rebuilt after every rewrite (the reference for the
    pass, which finds the instructions in loops once)."""
    from wafersim.compiler.ir import BRANCHES

    serial = 0
    changed = True
    while changed:
        changed = False
        targets: dict = {}
        for op in fn.instructions():
            if op.op in BRANCHES:
                targets[op.target] = targets.get(op.target, 0) + 1
        position = {op: k for k, op in enumerate(fn.ops) if isinstance(op, Label)}
        cfg = CFG(fn)
        in_loops = {i for loop in cfg.loops() for b in loop.blocks for i in cfg.blocks[b]}
        for i, op in enumerate(fn.ops):
            if not (isinstance(op, Op) and op.op == "bz" and targets.get(op.target) == 1 and i in in_loops):
                continue
            otherwise = position[op.target]
            jump = fn.ops[otherwise - 1]
            if not (isinstance(jump, Op) and jump.op == "jmp") or otherwise - 1 <= i:
                continue
            end = position.get(jump.target)
            if end is None or end <= otherwise:
                continue
            serial += 1
            then_label = Label(f"then{serial}_")
            fn.ops = (fn.ops[:i] + [Op("bnz", a=op.a, target=then_label, line=op.line, rebinds=op.rebinds)]
                      + fn.ops[otherwise:end] + [jump, then_label] + fn.ops[i + 1:otherwise - 1] + fn.ops[end:])
            changed = True
            break


@ws.jit
def _diamonds(out, n):
    for i in range(n):
        v = out[i]
        if v > 0.0:  # nested diamonds, a break and a continue on some sides, a diamond after the loop
            if v > 2.0:
                v = v * 2.0
            else:
                v = v - 1.0
        elif v < -5.0:
            break
        else:
            for j in range(3):
                if out[j] > v:
                    v = out[j]
                else:
                    continue
                if v > 1.0:
                    v = -v
        out[i] = v
    if n > 2:
        out[0] = 1.0
    else:
        out[0] = 2.0


def test_layout_finding_loops_once_rewrites_as_rebuilding_them_after_each_rewrite():
    from wafersim.compiler.passes.layout import place_then_before_join

    signature = KernelSignature((("array", "f32", 1), ("scalar", "i32")))
    fn = lower(_diamonds.py_func, signature, True)
    before = run_passes(fn, [(name, run) for name, run in PASSES if name != "layout"]).snapshots["deadwrites"]
    ours, reference = (dataclasses.replace(before, ops=list(before.ops)) for _ in range(2))
    place_then_before_join(ours)
    _layout_recomputing_loops(reference)
    assert ours.text() == reference.text()
    assert sum(isinstance(op, Label) and op.name.startswith("then") for op in ours.ops) >= 3


@pytest.mark.parametrize("seed", range(30))
def test_live_in_of_one_block_is_what_a_set_based_liveness_gives_it(seed):
    # user46: LICM and strength reduction ask for a loop header's live registers only; `live_in_of` makes that
    # one set (a kernel with tree all-reduces made 7,047 for 20 headers). Random blocks reading and writing
    # random registers, against the textbook dataflow over Python sets, asked before and after `live_in()`.
    rng = random.Random(seed)
    regs = [VReg(k, "i32", f"r{k}") for k in range(1, 9)]
    fn = _random_function(rng, rng.randint(1, 30))
    ops: list = []
    for op in fn.ops:
        if isinstance(op, Op) and op.op == "addi":  # each block's one op becomes a few random reads and writes
            for _ in range(rng.randint(1, 4)):
                ops.append(Op("add", d=rng.choice(regs), a=rng.choice(regs), b=rng.choice(regs)))
        ops.append(op)
    fn = IRFunction("random", ops)
    cfg = CFG(fn)
    use, define = [], []
    for block in cfg.blocks:
        u, d = set(), set()
        for i in block:
            reads, written = cfg.rw[i]
            u |= {r for r in reads if r not in d}
            if written is not None:
                d.add(written)
        use.append(u)
        define.append(d)
    live = [set() for _ in cfg.blocks]
    changed = True
    while changed:
        changed = False
        for k in range(len(cfg.blocks)):
            new = use[k] | (set().union(*(live[s] for s in cfg.succ[k])) - define[k])
            if new != live[k]:
                live[k], changed = new, True
    headers = [rng.randrange(len(cfg.blocks)) for _ in range(5)]
    assert [cfg.live_in_of(b) for b in headers] == [live[b] for b in headers]   # before live_in() was asked
    assert cfg.live_in() == live
    assert [cfg.live_in_of(b) for b in headers] == [live[b] for b in headers]   # and after


@ws.jit
def _scaled(buf, k, scale):
    """A device function inlined in the loops below: a strided element scaled."""
    return buf[k * 3 + 1] * scale


@ws.jit
def _inductions(out, n):
    """Loops whose induction variables strength reduction rewrites: several of one loop (i, and j and k stepped
    beside it), nested loops, a while loop with break and continue, a device function inlined in a loop."""
    j = 0
    k = 5
    for i in range(n):
        out[i * 4] = out[j * 2 + 1] + out[k * 3]
        j += 1
        k += 2
    for a in range(4):
        for b in range(a, 6):
            out[a * 8 + b * 2] = out[b * 5 + a] * 2.0
    t = 0
    s = 1
    while t < n:
        t += 1
        s += 3
        if out[t * 2] > 1.0:
            continue
        if out[s * 2 + 3] < -4.0:
            break
        out[t * 6] = out[t * 2] + 1.0
    for m in range(n):
        out[m * 3 + 2] = _scaled(out, m, 0.5) + out[m * 7]


def test_strength_reductions_updated_cfg_is_a_fresh_cfgs_in_every_analysis_and_code(monkeypatch):
    """`CFG.after_insertions` (strength reduction's CFG after each variable it reduces, its blocks and registers
    updated, its edges, dominators and loops carried over) against a CFG built afresh of the same ops, in every
    analysis the passes read; the code words the same with and without `WAFERSIM_VERIFY_PASSES` (which checks
    only blocks, registers and edges, and only where it is set)."""
    import wafersim.compiler.passes as passes_module
    from wafersim.compiler import compile_kernel

    updates = []
    updated = CFG.after_insertions

    def checked(self, fn, blocks, rw):
        after = updated(self, fn, blocks, rw)
        fresh = CFG(fn)
        assert (after.blocks, after.rw, after.succ, after.pred, after.reachable) == (
            fresh.blocks, fresh.rw, fresh.succ, fresh.pred, fresh.reachable)
        assert (after.idom, after.dom, after.block_of, after.live_in()) == (
            fresh.idom, fresh.dom, fresh.block_of, fresh.live_in())
        assert ([(loop.header, loop.blocks, loop.latches) for loop in after.loops()]
                == [(loop.header, loop.blocks, loop.latches) for loop in fresh.loops()])
        updates.append(fn.name)
        return after

    signature = KernelSignature((("array", "f32", 1), ("scalar", "i32")))
    spec = ws.WaferSpec(width=4, height=4)
    words = []
    for verify in (True, False):
        monkeypatch.setattr(passes_module, "VERIFY_EACH_PASS", verify)
        with monkeypatch.context() as patch:
            if verify:
                patch.setattr(CFG, "after_insertions", checked)
            compiled = compile_kernel(_inductions.py_func, signature, spec)
        words.append(compiled.program.code.tolist())
    assert len(updates) >= 8  # (17 when written: each loop's derived addresses, one update each)
    assert words[0] == words[1]
