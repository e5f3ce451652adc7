"""Clusters of wafer-scale systems training data-parallel (a layer above the runtime and `train`).

- `Cluster(n_systems, spec, swarmx=..., memoryx=..., backend="local" | "ray")`: the systems, each a
  wafer with its own `Device`, simulated in this process or as Ray actors (`pip install 'wafersim[cluster]'`);
- `SwarmXSpec`, `SwarmXTree`: the broadcast/reduce tree between MemoryX and the systems (bandwidth,
  per-level latency, fan-out), reducing gradients in a fixed order;
- `Cluster.trainer(model, optimizer, batch_size)` -> `DataParallelTrainer`: the batch split over the
  systems, weights broadcast, gradients reduced, MemoryX updated; a `ClusterStepReport` per step;
- faults: a system that dies mid-step is restarted and its part of the step redone;
- a host-memory check that refuses a cluster too large for the machine(s) before allocating it.

See docs/cluster.md.
"""
from .cluster import BACKENDS, Cluster, ray_available
from .data_parallel import ClusterStepReport, DataParallelTrainer, split, tree_seconds
from .errors import (ClusterArgumentError, ClusterArgumentTypeError, ClusterClosedError, ClusterError,
                     ClusterTooLargeError, SystemFailedError)
from .memory import ClusterMemory
from .swarmx import SwarmXSpec, SwarmXTree

__all__ = [
    "BACKENDS", "Cluster", "ClusterArgumentError", "ClusterArgumentTypeError", "ClusterClosedError", "ClusterError",
    "ClusterMemory",
    "ClusterStepReport", "ClusterTooLargeError",
    "DataParallelTrainer", "SwarmXSpec", "SwarmXTree", "SystemFailedError", "ray_available", "split", "tree_seconds",
]
