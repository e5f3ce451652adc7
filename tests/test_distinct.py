"""`sim.distinct` against `np.unique`, and the bandwidth ledger's prefix sums against a plain-Python sum."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from wafersim.sim.bandwidth import BandwidthLedger
from wafersim.sim.distinct import distinct, distinct_indices


@given(st.lists(st.integers(-50, 50), max_size=60), st.sampled_from([np.int64, np.float64, np.int32]))
def test_distinct_is_numpys_unique(values, dtype):
    array = np.array(values, dtype=dtype)
    found = distinct(array)
    assert found.dtype == array.dtype
    np.testing.assert_array_equal(found, np.unique(array))


@given(st.lists(st.integers(0, 39), max_size=60))
def test_distinct_indices_is_numpys_unique(values):
    np.testing.assert_array_equal(distinct_indices(np.array(values, dtype=np.int64), 40),
                                  np.unique(np.array(values, dtype=np.int64)))


def test_distinct_of_strided_pe_indices_over_a_wafer():
    """The case NumPy 2's hashing is slow on (multiples of 4096): still the right answer."""
    values = np.tile(np.arange(0, 4096 * 700, 4096, dtype=np.int64), 3)
    np.testing.assert_array_equal(distinct(values), np.arange(0, 4096 * 700, 4096))


def test_bytes_through_every_key_is_the_plain_sum_of_the_keys_at_or_before_it():
    rng = np.random.default_rng(1)
    for _ in range(200):
        ledger = BandwidthLedger(int(rng.integers(0, 50)), 2.0, 8)
        for _ in range(int(rng.integers(1, 4))):
            count = int(rng.integers(1, 30))
            nbytes = rng.integers(1, 9, count) if rng.random() < 0.5 else int(rng.integers(1, 9))
            ledger.record(rng.integers(0, 5, count).astype(float), rng.integers(0, 8, count), nbytes,
                          rng.random(count) * 10 if rng.random() < 0.5 else None)
        issue, pe, nbytes, _ = ledger._entries()
        expected = [ledger.earlier + sum(int(b) for i2, p2, b in zip(issue, pe, nbytes) if (i2, p2) <= (i, p))
                    for i, p in zip(issue, pe)]
        np.testing.assert_array_equal(ledger._through_entries(), expected)
