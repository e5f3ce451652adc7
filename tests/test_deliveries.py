"""`sim.deliveries`: a routed trace's rows, the permutation that sorts a source's receivers and links."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import deliveries


@pytest.mark.parametrize("seed", range(4))
def test_distinct_order_is_the_sorting_permutation_of_distinct_keys_else_none(seed):
    # (its table of positions is int32 where the keys' count fits: the permutation returned is int64 as before)
    g = np.random.default_rng(seed)
    keys = g.permutation(5000)[: g.integers(1, 3000)].astype(np.int64) * (1 + seed)  # sparse over the range
    order = deliveries.distinct_order(keys)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
    repeated = np.concatenate([keys, keys[g.integers(0, len(keys), 1)]])
    assert deliveries.distinct_order(repeated) is None
    assert deliveries.distinct_order(np.zeros(0, dtype=np.int64)).dtype == np.int64
