"""The wave's paths to global accesses and chains of sleepers, made on first use: what the scheduler's bounds on
held loads and stores (`offwafer`, `held_loads`) read. A part of `WaveSim` (sim/wave.py) through `OffWaferMixin`."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .memory_order import ACCESS_OPS
from .neighbour_paths import StorePaths
from .wake_chains import WakeChains


class AccessPathsMixin:
    """The wave's `StorePaths` (to stores; to loads and stores) and `WakeChains`, each made once per wave."""

    #: (`_store_paths`, `_access_paths`, `_wake_chains`: made on first use)
    store_paths: StorePaths | None = None
    access_paths: StorePaths | None = None
    wake_chains: WakeChains | None = None

    def _store_paths(self) -> StorePaths:
        """The wave's `neighbour_paths.StorePaths`, made on first use."""
        if self.store_paths is None:
            self.store_paths = StorePaths(self.launch, self.region)
        return self.store_paths

    def _access_paths(self) -> StorePaths:
        """The wave's paths to global loads and stores by neighbours (`StorePaths` of `ACCESS_OPS`)."""
        if self.access_paths is None:
            self.access_paths = StorePaths(self.launch, self.region, ACCESS_OPS)
        return self.access_paths

    def _arrival(self, pc: int) -> Callable[[np.ndarray], np.ndarray] | None:
        """For the lanes asleep at a neighbour receive at `pc`: the least cycle each can take its word, by its
        chain of sleepers (`wake_chains`); None elsewhere."""
        chains = self._wake_chains()
        if not chains.applies(pc):
            return None
        return lambda picked: chains.arrival(pc, picked, self.asleep, self.cycle)

    def _chains_apply(self) -> bool:
        """Whether some lanes sleep at a neighbour receive (bounds by chains may then be tighter)."""
        return any(self._wake_chains().applies(pc) for pc in self.asleep)

    def _wake_chains(self) -> WakeChains:
        """The wave's chains of PEs asleep at neighbour receives (`WakeChains`), made on first use."""
        if self.wake_chains is None:
            self.wake_chains = WakeChains(self.launch, self.region)
        return self.wake_chains
