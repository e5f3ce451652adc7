"""sim/compute.py: integer div and rem truncate toward zero like C (the ISA's rule), on every sign, with
and without the int32 shortcut for non-negative dividends and positive divisors."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim.compute import _int_div, _int_rem


def c_div(a: int, b: int) -> int:
    """The ISA's `div` on Python ints: truncating, b = 0 gives -1, INT_MIN / -1 wraps."""
    if b == 0:
        return -1
    q = abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1)
    return (q + 2**31) % 2**32 - 2**31


@pytest.mark.parametrize("dividends, divisors", [((0, 1000), (1, 17)), ((-1000, 1000), (-9, 17)),
                                                 ((0, 1000), (0, 3))])
def test_div_and_rem_match_c_semantics(dividends, divisors):
    rng = np.random.default_rng(7)
    a = rng.integers(*dividends, 4000).astype(np.int32)
    b = rng.integers(*divisors, 4000).astype(np.int32)
    a[:2], b[:2] = (np.iinfo(np.int32).min, 7), (-1, 1)  # INT_MIN / -1 wraps; (forces the general path)
    if dividends[0] >= 0 and divisors[0] > 0:
        a[:2], b[:2] = (np.iinfo(np.int32).max, 0), (1, 5)  # (keeps the shortcut's preconditions)
    expected_q = np.array([c_div(x, y) for x, y in zip(a.tolist(), b.tolist())], dtype=np.int64)
    expected_r = np.where(b == 0, a, a.astype(np.int64) - b.astype(np.int64) * expected_q)
    q, r = _int_div(a, b), _int_rem(a, b)
    assert q.dtype == r.dtype == np.int32
    np.testing.assert_array_equal(q, expected_q.astype(np.int32))
    np.testing.assert_array_equal(r, ((expected_r + 2**31) % 2**32 - 2**31).astype(np.int32))
