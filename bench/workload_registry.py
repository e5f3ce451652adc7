"""The workloads' registry, shared by bench/workloads.py and the files that add workloads to it
(bench/workloads_user.py): a `Case` per workload and size, and the builders by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import wafersim as ws
from wafersim.sim.stats import LaunchStats


@dataclass
class Case:
    """One workload at one size: a simulator run and the same math in NumPy."""

    label: str                                                 # what the table says it is
    pes: int                                                   # PEs the launch runs on
    simulate: Callable[[], tuple[np.ndarray, LaunchStats]]     # one library call: (result, stats)
    numpy: Callable[[], np.ndarray]                            # the same math in NumPy
    rtol: float = 0.0                                          # 0: the result must match bit for bit


WORKLOADS: dict[str, Callable[[str, np.random.Generator], Case]] = {}


def workload(name: str):
    """Register a `(size, rng) -> Case` builder under `name`."""
    def register(build):
        WORKLOADS[name] = build
        return build
    return register


def wafer(size: str) -> tuple[int, int, Callable[[], ws.Device | None]]:
    """(width, height, device factory) of the "whole wafer" at this size: wse2 at full size, else a
    smaller array on a wafer just large enough (the library's default device)."""
    width, height = {"full": (757, 996), "quick": (192, 128), "tiny": (16, 8)}[size]
    return width, height, (lambda: ws.Device("wse2")) if size == "full" else (lambda: None)

