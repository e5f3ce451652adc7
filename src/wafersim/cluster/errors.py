"""Errors of `wafersim.cluster`: all `WaferError`s, with the sizes involved as fields."""
from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError, OutOfMemoryError, WaferError


class ClusterError(WaferError):
    """A cluster that cannot be built or run: a bad number of systems, backend or batch split, or a
    backend (Ray) that is not installed."""


class ClusterArgumentError(ClusterError, ArgumentError):
    """A cluster call given a value out of its range (a batch that cannot be split, a fault position, a
    negative size): also an `ArgumentError` (and a `ValueError`)."""


class ClusterArgumentTypeError(ClusterArgumentError, ArgumentTypeError):
    """A cluster call given an argument of the wrong type (a `swarmx` that is not a `SwarmXSpec`, transfers
    that are not a list): also a `ws.ArgumentTypeError` (and a `TypeError`)."""


class ClusterClosedError(ClusterError):
    """A trainer used after its `Cluster` was closed (`Cluster.close()`, or the end of its `with` block)."""


class ClusterTooLargeError(ClusterError, OutOfMemoryError):
    """A cluster whose systems would not fit the host memory of the machines simulating them; raised
    before any system is allocated, with the numbers and how many workers (machines) it would need."""


class SystemFailedError(ClusterError):
    """A system that kept failing in a step after every restart it was allowed."""
