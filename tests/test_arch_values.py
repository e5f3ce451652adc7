"""arch.values: the shared argument predicates, against Python's and NumPy's own type tests."""
import math

import numpy as np
import pytest

import wafersim as ws
from wafersim.arch.values import is_finite_real, is_integer, plural, whole_argument

INTEGERS = [0, -3, 2**70, np.int8(-1), np.uint64(2**63), np.int32(7)]
FLOATS = [0.5, -0.0, 1e308, np.float32(0.25), np.float16(2), np.float64(-3.5)]
NOT_FINITE = [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")]
NEITHER = [True, False, np.bool_(True), None, "3", b"3", 3j, np.complex64(1), [1], (1,), np.array(3), object()]


@pytest.mark.parametrize("value", INTEGERS)
def test_integers_are_integers_and_finite_reals(value):
    assert is_integer(value) and is_finite_real(value)
    assert int(value) == value  # the reference: an exact whole number


@pytest.mark.parametrize("value", FLOATS)
def test_floats_are_finite_reals_not_integers(value):
    assert is_finite_real(value) and not is_integer(value)


@pytest.mark.parametrize("value", NOT_FINITE)
def test_nan_and_infinities_are_not_finite_reals(value):
    assert not is_finite_real(value) and not is_integer(value)


@pytest.mark.parametrize("value", NEITHER, ids=lambda value: type(value).__name__)
def test_bools_and_non_numbers_are_neither(value):
    assert not is_integer(value) and not is_finite_real(value)


@pytest.mark.parametrize("value, lowest, highest, error", [
    (2.5, 0, None, ws.ArgumentTypeError), (True, 0, None, ws.ArgumentTypeError), (None, 0, None, ws.ArgumentTypeError),
    ("3", 0, None, ws.ArgumentTypeError), (-1, 0, None, ws.ArgumentError), (0, 1, 8, ws.ArgumentError),
    (9, 1, 8, ws.ArgumentError)])
def test_whole_argument_refuses_what_is_not_a_whole_number_in_range(value, lowest, highest, error):
    with pytest.raises(error, match=r"steps must be a whole number (>=|from)"):
        whole_argument(value, "steps", lowest, highest)


@pytest.mark.parametrize("value, lowest, highest", [(0, 0, None), (np.int64(7), 1, 8), (np.uint8(8), 1, 8), (2**40, 0, None)])
def test_whole_argument_gives_the_int(value, lowest, highest):
    got = whole_argument(value, "steps", lowest, highest)
    assert type(got) is int and got == int(value)


def test_whole_argument_takes_a_layers_own_errors():
    class Mine(ws.ArgumentError):
        pass
    with pytest.raises(Mine):
        whole_argument(-1, "n", value_error=Mine)


@pytest.mark.parametrize("args, text", [
    ((1, "cycle"), "1 cycle"), ((2, "cycle"), "2 cycles"), ((0, "word"), "0 words"), ((1234, "PE"), "1,234 PEs"),
    ((1.0, "cycle", "g"), "1 cycle"), ((1.5, "cycle", "g"), "1.5 cycles"), ((3, "launch"), "3 launches"),
    ((1, "launch"), "1 launch")])
def test_plural_is_singular_only_for_one(args, text):
    assert plural(*args) == text
