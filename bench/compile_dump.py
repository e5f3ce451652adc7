"""Every kernel the bench workloads compile: its compile time, and a dump of what the compiler made of it.

    python bench/compile_dump.py [--only gemm,heat] [--size full] [--repeat 5] [--dump FILE] [--times FILE]

Each workload (bench/workloads*.py) runs once in a fresh process with the on-disk kernel cache off; each
`compile_kernel` call that its launches make is recorded, then compiled again `--repeat` times (CPU time,
median; the first compile of the process, which also reads the kernel's source, is printed apart). `--dump`
writes, for every compiled kernel, all that a compile hands on: the code words, the program's line, caller
and symbol tables, its labels and strings, the IR before the passes and after each one, the allocation and
the disassembly, the machine fields the compile read, and the kernel cache's program key without the
compiler's version (a hash of the compiler's own sources, which any change to them changes). Diffing the
dumps of two trees shows whether a change to the compiler changed its output (compile-time work must not).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _program_key_without_version(func, signature_args: tuple, boundscheck: bool) -> str:
    from wafersim.runtime import kernel_cache

    try:
        fingerprint = kernel_cache._function(func, 0, set())
        pipeline = kernel_cache._pipeline()
    except (kernel_cache.Uncacheable, RecursionError) as error:
        return f"uncacheable: {error}"
    text = _tree_free(repr((fingerprint, signature_args, bool(boundscheck), pipeline)))
    return hashlib.sha256(text.encode()).hexdigest()


def _tree_free(text: str) -> str:
    """`text` with the path of the package's folder replaced (a library kernel's file is in the tree compared)."""
    import wafersim

    return text.replace(os.path.dirname(os.path.realpath(wafersim.__file__)), "<wafersim>")


def _describe(compiled, func, signature, boundscheck: bool) -> dict:
    """What a compile hands on, as text (dictionaries in their order: the order is output too)."""
    program = compiled.program
    return {key: _tree_free(value) if isinstance(value, str) else value for key, value in {
        "kernel": f"{func.__module__}.{func.__qualname__}",
        "signature": repr(signature.args),
        "boundscheck": bool(boundscheck),
        "program_key": _program_key_without_version(func, signature.args, boundscheck),
        "spec_reads": repr(compiled.spec_reads),
        "code": program.code.astype("uint32").tobytes().hex(),
        "program": repr({name: getattr(program, name) for name in
                         ("name", "data_words", "arg_count", "strings", "labels", "lines", "callers", "routes",
                          "symbols", "arguments")}),
        "ir_text": compiled.ir_text,
        "passes": None if compiled.passes is None else _tree_free(repr({
            "before": compiled.passes.before,
            **{name: ir.text() for name, ir in compiled.passes.snapshots.items()}})),
        "allocation": repr(compiled.allocation),
        "machine_code": repr(compiled.machine_code),
        "asm": compiled.asm_text,
    }.items()}


def one_workload(name: str, size: str, repeat: int) -> dict:
    """Run workload `name` at `size` with every compile recorded; (kernels, dumps, times) as a JSON-able dict."""
    sys.path.insert(0, HERE)
    import numpy as np

    import wafersim as ws
    from wafersim.compiler import compile_kernel
    from wafersim.runtime import jit, kernel_cache
    from workload_registry import WORKLOADS

    importlib.import_module("workloads")  # (registers the workloads)
    kernel_cache.ENABLED = False
    ws.init()
    calls = []

    def recording(func, signature, spec, boundscheck=True, *rest):
        start = time.process_time()
        compiled = compile_kernel(func, signature, spec, boundscheck, *rest)
        calls.append((func, signature, spec, boundscheck, rest, compiled, time.process_time() - start))
        return compiled

    jit.compile_kernel = recording
    case = WORKLOADS[name](size, np.random.default_rng(0))
    case.simulate()
    jit.compile_kernel = compile_kernel
    out = []
    for func, signature, spec, boundscheck, rest, compiled, first in calls:
        seconds = []
        for _ in range(repeat):
            start = time.process_time()
            again = compile_kernel(func, signature, spec, boundscheck, *rest)
            seconds.append(time.process_time() - start)
        dump = _describe(compiled, func, signature, boundscheck)
        if _describe(again, func, signature, boundscheck) != dump:
            raise AssertionError(f"{name}: compiling {dump['kernel']} again gave other output")
        out.append({"dump": dump, "first": first, "median": statistics.median(seconds) if seconds else None,
                    "times": seconds})
    return {"workload": name, "size": size, "kernels": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="workloads, comma-separated (default: all)")
    parser.add_argument("--size", default="full", choices=("full", "quick", "tiny"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dump", help="write the kernels' dumps here (JSON)")
    parser.add_argument("--times", help="write the compile times here (JSON)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        json.dump(one_workload(args.child, args.size, args.repeat), sys.stdout)
        return 0
    if args.only:
        names = args.only.split(",")
    else:
        sys.path.insert(0, HERE)
        importlib.import_module("workloads")  # (registers the workloads)
        from workload_registry import WORKLOADS
        names = sorted(WORKLOADS)
    dumps, times = {}, {}
    for name in names:
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, "--size", args.size,
                                 "--repeat", str(args.repeat)], capture_output=True, text=True)
        if result.returncode:
            print(f"{name}: failed\n{result.stderr[-3000:]}", flush=True)
            continue
        found = json.loads(result.stdout)
        for k, kernel in enumerate(found["kernels"]):
            label = f"{name}#{k} {kernel['dump']['kernel']}"
            dumps[label] = kernel["dump"]
            times[label] = {"first": kernel["first"], "median": kernel["median"], "times": kernel["times"]}
            median = "-" if kernel["median"] is None else f"{kernel['median'] * 1e3:.1f}"
            print(f"{label:70s} first {kernel['first'] * 1e3:7.1f} ms  median {median:>7s} ms  "
                  f"{len(kernel['dump']['code']) // 8} words", flush=True)
    if args.dump:
        with open(args.dump, "w") as file:
            json.dump(dumps, file, indent=1, sort_keys=True)
    if args.times:
        with open(args.times, "w") as file:
            json.dump(times, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
