"""The published cost models the reproductions compare the simulator with, written from `WaferSpec`
fields so that the same formulas hold for any calibration.

Luczynski, Gianinazzi, Iff, Wilson, De Sensi and Hoefler, "Near-Optimal Wafer-Scale Reduce" (HPDC 2024)
model a collective on the WSE by five quantities: C (contention: the most wavelets one PE must receive),
E (energy: wavelet-hops in all), N (links used), L (distance: the longest path in hops) and D (depth:
dependent receive-add-send steps). The time in cycles is

    T = max(C, E / N + L) + (2 * T_R + 1) * D

where T_R is the ramp latency between a PE and its router (each way) and the 1 is the add; the paper
reports the model within 4% of measurements on a CS-2. For a 1-D reduce of B words over P PEs towards
the PE at one end:

- chain (each PE adds what it received to its own vector and forwards it): C = B, E = B (P - 1),
  N = P - 1, L = P - 1, D = P - 1;
- binary tree (recursive halving; in round r, PEs 2^r apart pair up): C = B log2 P (the root receives
  one vector per round), E = B P log2(P) / 2 (each round's senders cover P / 2 hops in all, for P a power
  of two), L = P - 1, D = log2 P.

An all-reduce is the reduce followed by a broadcast of the result from the root, which the router's
multicast does in L + B cycles plus the two ramps (one dependent step without an add).

Rocki et al., "Fast Stencil-Code Computation on a Wafer-Scale Processor" (SC20, arXiv:2010.03660, on a
CS-1) report a whole-fabric all-reduce of one value per PE in about 10% more cycles than the fabric's
diameter (W - 1) + (H - 1), which they credit to the interconnect's latency of one cycle a hop.
"""
from __future__ import annotations

import math

from wafersim.arch.spec import WaferSpec


def luczynski_time(C: float, E: float, N: float, L: float, D: float, spec: WaferSpec) -> float:
    """The model's cycles: max(C, E / N + L) + (2 T_R + 1) D, with T_R = `spec.ramp_latency` and the
    per-hop and per-word figures of `spec` (one hop and one word per cycle on the calibrated presets)."""
    hop, word = spec.hop_latency, 1 / spec.link_words_per_cycle
    return max(C * word, E * word / max(N, 1) + L * hop) + (2 * spec.ramp_latency + 1) * D


def chain_reduce(P: int, B: int, spec: WaferSpec) -> float:
    """Cycles of a 1-D chain reduce of B words over P PEs (the paper's chain)."""
    if P < 2:
        return 0.0
    return luczynski_time(C=B, E=B * (P - 1), N=P - 1, L=P - 1, D=P - 1, spec=spec)


def tree_reduce(P: int, B: int, spec: WaferSpec) -> float:
    """Cycles of a 1-D binary-tree reduce of B words over P PEs (recursive halving towards PE 0)."""
    if P < 2:
        return 0.0
    rounds = math.ceil(math.log2(P))
    # E counts wavelet-hops: in round r the PEs 2^r past a multiple of 2^(r+1) send B words 2^r hops each
    # (P / 2 hops a round for P a power of two: E = B P log2(P) / 2, not the B (P - 1) words sent).
    hops = sum(len(range(2 ** r, P, 2 ** (r + 1))) * 2 ** r for r in range(rounds))
    return luczynski_time(C=B * rounds, E=B * hops, N=P - 1, L=P - 1, D=rounds, spec=spec)


def broadcast(P: int, B: int, spec: WaferSpec) -> float:
    """Cycles of a multicast of B words from one end of P PEs: one dependent step, no add."""
    if P < 2:
        return 0.0
    return B / spec.link_words_per_cycle + (P - 1) * spec.hop_latency + 2 * spec.ramp_latency


def allreduce(P: int, B: int, spec: WaferSpec, shape: str = "best") -> float:
    """Reduce (chain, tree, or the faster of the two) then broadcast."""
    reduce = {"chain": chain_reduce, "tree": tree_reduce}
    if shape == "best":
        return min(f(P, B, spec) for f in reduce.values()) + broadcast(P, B, spec)
    return reduce[shape](P, B, spec) + broadcast(P, B, spec)


def rocki_allreduce(width: int, height: int) -> float:
    """Rocki et al. (SC20): a whole-fabric all-reduce of one value per PE takes about 1.1 x the diameter."""
    return 1.1 * ((width - 1) + (height - 1))
