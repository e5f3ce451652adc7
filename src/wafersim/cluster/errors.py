"""Errors of `wafersim.cluster`: all `WaferError`s, with the sizes involved as fields."""
from __future__ import annotations

from ..errors import OutOfMemoryError, WaferError


class ClusterError(WaferError):
    """A cluster that cannot be built or run: a bad number of systems, backend or batch split, or a
    backend (Ray) that is not installed."""


class ClusterTooLargeError(ClusterError, OutOfMemoryError):
    """A cluster whose systems would not fit the host memory of the machines simulating them; raised
    before any system is allocated, with the numbers and how many workers (machines) it would need."""


class SystemFailedError(ClusterError):
    """A system that kept failing in a step after every restart it was allowed."""
