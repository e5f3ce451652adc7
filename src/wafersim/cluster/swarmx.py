"""SwarmX: the broadcast/reduce tree between MemoryX and the systems of a cluster.

Weights flow from MemoryX down the tree to every system (each node copies what it receives to its
children); gradients flow up, each node adding its children's gradients as they pass. A node has
`fan_out` children, so `n` systems hang below `levels(n) = ceil(log_fan_out(n))` levels of nodes (none for a
single system, which MemoryX feeds directly, as in single-system training).

**Time of one tensor** through the tree, either way: MemoryX's own latency and the tree's per-level
latency, then the tensor at the slowest rate on the path, since the nodes forward (and add) as data arrives
rather than storing whole tensors:

    MemoryXSpec.latency_s + levels * level_latency_s + nbytes / min(MemoryX bandwidth, link bandwidth)

Reductions run at line rate (no extra term), as Cerebras describes its nodes.

**Order.** Gradients are added in a fixed tree order: the systems in index order in groups of `fan_out`,
then those sums in groups of `fan_out`, up to the root; each node adds its children left to right in
float32. The result depends only on the systems' gradients, never on the order in which they arrive.

**Figures.** Public (Cerebras, "SwarmX" glossary and the weight-streaming white paper, 2021): nodes do
"1:4 broadcast-reduce operations" (our `fan_out = 4`), reduce "at line-rate", are connected in a tree whose
latency grows logarithmically with the number of systems, and a cluster has up to 192 CS-2 systems (Hot
Chips 33, 2021; our `max_systems`). Each CS-2 has 1.2 Tb/s (150 GB/s) of I/O. **Our assumptions**: links as
fast as our MemoryX default (1.2e12 B/s, see `train.memoryx`), so that by default the tree is not the
bottleneck, as the design intends; and 1 us of latency per level (a switch hop and its cables). Set
`link_bandwidth_bytes_per_s=150e9` to study links at the CS-2's public I/O rate instead.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from ..arch.values import plural, whole_argument
from ..errors import ArgumentError, SpecError, check_calls
from ..train.errors import check_whole
from ..train.memoryx import MemoryXSpec, check_bytes
from .errors import ClusterArgumentError, ClusterArgumentTypeError, ClusterError

CS2_IO_BYTES_PER_S = 150e9  # 1.2 Tb/s per CS-2 system (Cerebras, SwarmX glossary / weight-streaming paper)


@dataclasses.dataclass(frozen=True)
class SwarmXSpec:
    """The tree's figures (see the module docstring for which are public and which are ours)."""

    link_bandwidth_bytes_per_s: float = 1.2e12  # each link, each direction (our assumption: MemoryX's rate)
    level_latency_s: float = 1e-6  # one level of nodes, a hop and its cables (our assumption)
    fan_out: int = 4  # children per node: "1:4 broadcast-reduce" (Cerebras, public)
    max_systems: int = 192  # the largest cluster Cerebras announced (Hot Chips 33, 2021)

    def __post_init__(self) -> None:
        for name in ("link_bandwidth_bytes_per_s", "level_latency_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value >= 0) or (
                    name == "link_bandwidth_bytes_per_s" and value == 0):
                raise SpecError(f"SwarmXSpec.{name} must be a finite number > 0 (latency >= 0), got {value!r}",
                                field=name, value=value)
        for name, low in (("fan_out", 2), ("max_systems", 1)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, whole_argument(value, f"SwarmXSpec.{name}", low))
            except ArgumentError as error:  # (a spec's own error class and fields)
                raise SpecError(str(error), field=name, value=value) from None


class SwarmXTree:
    """The tree for `n_systems` systems under `spec`, fed by a MemoryX of `memoryx`."""

    def __init__(self, n_systems: int, spec: SwarmXSpec | None = None, memoryx: MemoryXSpec | None = None) -> None:
        self.spec = spec or SwarmXSpec()
        self.memoryx = memoryx or MemoryXSpec()
        n_systems = check_whole(n_systems, "n_systems", 1, ClusterArgumentTypeError, ClusterArgumentError)
        if n_systems > self.spec.max_systems:
            raise ClusterArgumentError(f"a cluster has 1 to {self.spec.max_systems} systems (SwarmXSpec.max_systems), got "
                               f"{n_systems!r}", n_systems=n_systems, available=self.spec.max_systems)
        self.n_systems = n_systems
        self.level_sizes = []  # nodes at each level, from the systems' parents up to the root
        count = n_systems
        while count > 1:
            count = -(-count // self.spec.fan_out)
            self.level_sizes.append(count)

    @property
    def levels(self) -> int:
        """Levels of nodes between MemoryX and the systems (0 for one system)."""
        return len(self.level_sizes)

    @property
    def nodes(self) -> int:
        """Broadcast/reduce nodes in the tree."""
        return sum(self.level_sizes)

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """The rate of a tensor's stream: the slowest link on its path."""
        if not self.levels:
            return self.memoryx.bandwidth_bytes_per_s
        return min(self.memoryx.bandwidth_bytes_per_s, self.spec.link_bandwidth_bytes_per_s)

    def transfer_seconds(self, nbytes: int) -> float:
        """Time of one tensor of `nbytes` (>= 0) between MemoryX and every system (a broadcast down, or a
        reduction up)."""
        return (self.memoryx.latency_s + self.levels * self.spec.level_latency_s
                + check_bytes(nbytes, ClusterArgumentError) / self.bandwidth_bytes_per_s)

    def reduce(self, parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The sum of the systems' tensors (`parts[i]` is system i's, by name), added in the tree's fixed
        order in float32."""
        if not (isinstance(parts, (list, tuple)) and all(isinstance(part, dict) for part in parts)):
            raise ClusterArgumentTypeError(f"reduce(parts) must be a list of the systems' tensors, one dict by "
                                           f"name for each system, got {parts!r}", parts=parts)
        if len(parts) != self.n_systems:
            raise ClusterError(f"the tree reduces {self.n_systems} systems' tensors, got {len(parts)}",
                               expected=self.n_systems, given=len(parts))
        level = [{name: _real_tensor(t, i, name) for name, t in part.items()} for i, part in enumerate(parts)]
        first = {n: t.shape for n, t in level[0].items()}
        for i, part in enumerate(level[1:], start=1):  # (NumPy broadcasting would add (1,) to (3,) silently)
            shapes = {n: t.shape for n, t in part.items()}
            if shapes != first:
                raise ClusterArgumentError(f"reduce(parts): the systems must send the same tensors of the same "
                                           f"shapes; system 0 sent {first}, system {i} {shapes}", system=i)
        fan_out = self.spec.fan_out
        while len(level) > 1:
            level = [_add_in_order(level[j:j + fan_out]) for j in range(0, len(level), fan_out)]
        return {name: t.copy() for name, t in level[0].items()}

    def summary(self) -> str:
        return (f"SwarmX tree: {plural(self.n_systems, 'system')}, {plural(self.levels, 'level')} of "
                f"{plural(self.nodes, 'node')} "
                f"(fan-out {self.spec.fan_out}), {_gigabytes_per_s(self.bandwidth_bytes_per_s)} GB/s, "
                f"{self.levels * self.spec.level_latency_s * 1e6:g} us of tree latency per tensor")


def _gigabytes_per_s(bytes_per_s: float) -> str:
    """A rate in GB/s for people: whole numbers from 100 GB/s up, else three significant digits, so that a
    slow link (0.5 GB/s, bench/cluster.py's 1.5 GB/s) is not shown as 0 or 2 GB/s."""
    gigabytes = bytes_per_s / 1e9
    return f"{gigabytes:,.0f}" if gigabytes >= 100 else f"{gigabytes:.3g}"


def _real_tensor(value: object, system: int, name: str) -> np.ndarray:
    """System `system`'s tensor `name` in float32, or a `ClusterArgumentTypeError` if it is not real numbers
    (a complex tensor lost its imaginary part, a string was a bare ValueError)."""
    t = np.asarray(value)
    if t.dtype.kind not in "biuf":
        raise ClusterArgumentTypeError(f"reduce(parts): system {system}'s tensor {name!r} must be real numbers, got "
                                       f"dtype {t.dtype}", system=system, tensor=name)
    return t.astype(np.float32)


def _add_in_order(children: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One node: its children's tensors added left to right."""
    total = dict(children[0])
    for child in children[1:]:
        if child.keys() != total.keys():
            raise ClusterError(f"systems sent different tensors: {sorted(child)} and {sorted(total)}")
        total = {name: total[name] + child[name] for name in total}
    return total


check_calls(SwarmXSpec, ClusterArgumentTypeError, ["__init__"])
check_calls(SwarmXTree, ClusterArgumentTypeError, ["__init__", "transfer_seconds", "reduce"])
