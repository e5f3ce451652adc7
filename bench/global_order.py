"""The cost of causal global memory (issue 11, item 3) on kernels that stress it.

    python bench/global_order.py [--size tiny|quick] [--repeat N]

Each kernel runs with global accesses in simulated-time order (the engine's behaviour) and, for
comparison, in scheduler order (`GlobalOrder.active = False`: the engine before causal memory). Prints
wall time (best of `--repeat`), simulated cycles and whether the results agree, one Markdown row each:

- `divergent-loop`: four groups of PEs (trip counts differ by threadIdx.x % 4), each loading and storing
  global memory every iteration: loads wait for other groups, stores go through the store log;
- `saxpy-waves`: the library saxpy over many waves (a later wave's loads against earlier waves' stores);
- `racy-publish`: every PE but one loads a word that PE (0, 0) stores after a long loop (a race: the
  results differ by design; scheduler order lets the loads see a store from their future).
"""
from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import wafersim as ws
from wafersim.kernels.saxpy import saxpy_kernel
from wafersim.sim import memory_order


@ws.jit
def divergent_loop(src, dst, rounds):
    x, y = ws.grid(2)
    w = src.shape[1]
    acc = 0.0
    for r in range(rounds + ws.threadIdx.x % 4):
        acc += src[y, (x + r) % w]
        dst[y, x] = acc


@ws.jit
def racy_publish(flag, out):
    x, y = ws.grid(2)
    if x == 0 and y == 0:
        spin = 0
        for i in range(200):
            spin += i
        flag[0] = spin
    else:
        out[y, x] = flag[0]


@contextlib.contextmanager
def scheduler_order():
    """Global accesses in the order the scheduler runs groups (the engine before causal memory)."""
    original = memory_order.GlobalOrder.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.active = False

    memory_order.GlobalOrder.__init__ = init
    try:
        yield
    finally:
        memory_order.GlobalOrder.__init__ = original


def measure(run, repeat: int):
    """(best wall seconds, cycles, result) of `run()` -> (stats, result)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        stats, result = run()
        best = min(best, time.perf_counter() - start)
    return best, stats.cycles, result


def workloads(size: str) -> dict:
    """name -> run() returning (LaunchStats, result array); fresh inputs each run."""
    w, h = {"tiny": (16, 8), "quick": (192, 128)}[size]
    dev = ws.Device(ws.WaferSpec.preset("dev", width=max(w, 64), height=max(h, 64)))
    rng = np.random.default_rng(1)
    src_host = rng.random((h, w), dtype=np.float32)

    def loop():
        src, dst = dev.to_device(src_host), dev.to_device(np.zeros((h, w), dtype=np.float32))
        return divergent_loop[(w // 16, h // 8), (16, 8)](src, dst, 8), dst.copy_to_host()

    n = 64 * 64 * {"tiny": 4, "quick": 16}[size]  # blocks of 64 x 1 PEs: 64 per wave on the 64 x 64 dev
    x_host, y_host = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)

    def waves():
        x, y, out = dev.to_device(x_host), dev.to_device(y_host), dev.device_array(n, np.float32)
        return saxpy_kernel[(n // 64, 1), (64, 1)](np.float32(2.0), x, y, out), out.copy_to_host()

    def racy():
        flag, out = dev.to_device(np.full(1, -1, dtype=np.int32)), dev.to_device(np.zeros((h, w), dtype=np.int32))
        return racy_publish[(w // 16, h // 8), (16, 8)](flag, out), out.copy_to_host()

    return {"divergent-loop": loop, "saxpy-waves": waves, "racy-publish": racy}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "quick"), default="quick")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"| kernel ({args.size}) | wall, simulated-time order (s) | wall, scheduler order (s) | ratio | "
          f"cycles, simulated-time order | cycles, scheduler order | same results |")
    print("|---|---|---|---|---|---|---|")
    for name, run in workloads(args.size).items():
        run()  # compile first: neither side pays for it
        causal = measure(run, args.repeat)
        with scheduler_order():
            before = measure(run, args.repeat)
        same = np.array_equal(causal[2], before[2])
        print(f"| {name} | {causal[0]:.3f} | {before[0]:.3f} | {causal[0] / before[0]:.2f} | {causal[1]:,} | "
              f"{before[1]:,} | {'yes' if same else 'no'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
