"""isa/halfprec.py: the 16-bit dtype tables load `ml_dtypes` only when bfloat16 is asked for, and answer as
the plain dicts they stand for."""
from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from wafersim.compiler.values import ARRAY_DTYPES
from wafersim.isa import halfprec
from wafersim.kernels.ml.mixed import PRECISIONS

FLOAT16, BFLOAT16 = np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)
PLAIN_HALF_DTYPES = {"f16": FLOAT16, "bf16": BFLOAT16}
PLAIN_ARRAY_DTYPES = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32", FLOAT16: "f16", BFLOAT16: "bf16"}


def test_the_tables_equal_the_plain_dicts():
    assert dict(halfprec.HALF_DTYPES) == PLAIN_HALF_DTYPES
    assert dict(halfprec.HALF_NAMES) == {dtype: name for name, dtype in PLAIN_HALF_DTYPES.items()}
    assert dict(ARRAY_DTYPES) == PLAIN_ARRAY_DTYPES
    assert dict(PRECISIONS) == {"float32": None, "float16": FLOAT16, "bfloat16": BFLOAT16}


@pytest.mark.parametrize("key", [np.float16, "f2", np.dtype(np.float64), np.dtype(np.int16), "f16", None,
                                 np.dtype(np.float32), FLOAT16, BFLOAT16])
def test_keys_other_than_half_dtypes_miss_as_in_a_dict(key):
    plain = {dtype: name for name, dtype in PLAIN_HALF_DTYPES.items()}
    assert (key in halfprec.HALF_NAMES) == (key in plain)
    assert (key in ARRAY_DTYPES) == (key in PLAIN_ARRAY_DTYPES)


@pytest.mark.parametrize("dtype, half", [("bfloat16", True), ("float16", True), (ml_dtypes.bfloat16, True),
                                         ("float32", False), (np.int32, False), ("not a dtype", False)])
def test_is_half(dtype, half):
    assert halfprec.is_half(dtype) is half


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_package_does_not_import_ml_dtypes():
    # (it costs 0.5-1 s at every start; only programs that use bfloat16 need it)
    loaded = _fresh("import sys, wafersim, wafersim.kernels, wafersim.train; print('ml_dtypes' in sys.modules)")
    assert loaded == "False"


def test_bfloat16_by_name_in_a_fresh_process_loads_ml_dtypes():
    # The name "bfloat16" means something to NumPy only after ml_dtypes is imported: as_dtype imports it.
    code = ("import numpy as np; from wafersim.isa import halfprec\n"
            "print(halfprec.is_half('bfloat16'), halfprec.as_dtype('bfloat16') == halfprec.HALF_DTYPES['bf16'])")
    assert _fresh(code) == "True True"


def test_float64_is_not_half_before_ml_dtypes_is_imported():
    # (NumPy compares float64 equal to None: a lookup before bfloat16 is loaded must not take float64 for it)
    code = ("import numpy as np; from wafersim.isa import halfprec; from wafersim.compiler.values import ARRAY_DTYPES\n"
            "print(np.dtype(np.float64) in halfprec.HALF_NAMES, np.dtype(np.float64) in ARRAY_DTYPES)")
    assert _fresh(code) == "False False"
