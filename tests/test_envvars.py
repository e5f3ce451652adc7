"""One parser for the on/off WAFERSIM_* environment variables (src/wafersim/envvars.py): the same words for
every variable, an unrecognised value an error naming it at the launch that reads it (a warning for those
read at import), and the variables that use it."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import wafersim as ws
from wafersim.envvars import OFF_WORDS, ON_WORDS, env_flag


@ws.jit
def double(v):
    i = ws.grid(1)
    v[i] = v[i] * 2.0


@pytest.mark.parametrize("default", [False, True])
def test_every_variable_takes_the_same_words_in_any_case(monkeypatch, default):
    assert env_flag("WAFERSIM_SOMETHING", default) is default  # unset
    for value, expected in [(w, True) for w in ON_WORDS] + [(w, False) for w in OFF_WORDS] + [("", default)]:
        for spelling in (value, value.upper(), f" {value.title()} "):
            monkeypatch.setenv("WAFERSIM_SOMETHING", spelling)
            assert env_flag("WAFERSIM_SOMETHING", default) is expected, spelling


def test_an_unrecognised_value_is_an_error_naming_the_variable_or_at_import_a_warning(monkeypatch):
    monkeypatch.setenv("WAFERSIM_SOMETHING", "maybe")
    with pytest.raises(ws.ArgumentError, match="WAFERSIM_SOMETHING='maybe' is not an on/off value") as info:
        env_flag("WAFERSIM_SOMETHING", False)
    assert (info.value.variable, info.value.value) == ("WAFERSIM_SOMETHING", "maybe")
    with pytest.warns(RuntimeWarning, match="WAFERSIM_SOMETHING='maybe'.*using the default"):
        assert env_flag("WAFERSIM_SOMETHING", True, at_import=True) is True


@pytest.mark.parametrize("value, traced", [("yes", True), ("ON", True), ("1", True), ("no", False), ("0", False)])
def test_wafersim_trace_takes_the_words_of_every_other_variable(monkeypatch, value, traced):
    monkeypatch.setenv("WAFERSIM_TRACE", value)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    d = dev.to_device(np.ones(4, np.float32))
    assert (double[1, 4](d).trace is not None) is traced


def test_a_bad_wafersim_trace_stops_the_launch_before_it_runs(monkeypatch):
    monkeypatch.setenv("WAFERSIM_TRACE", "maybe")
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    d = dev.to_device(np.ones(4, np.float32))
    with pytest.raises(ws.ArgumentError, match="WAFERSIM_TRACE='maybe'"):
        double[1, 4](d)
    assert dev.launches == []


def test_variables_read_at_import_warn_and_keep_their_default():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "try:\n import wafersim\nexcept RuntimeWarning as w: print('warned:', w)\n")
    for variable in ("WAFERSIM_KERNEL_CACHE", "WAFERSIM_VERIFY_PASSES"):
        env = {"WAFERSIM_KERNEL_CACHE": "0", "WAFERSIM_VERIFY_PASSES": "1", variable: "sometimes"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, **env}).stdout
        assert f"warned: {variable}='sometimes' is not an on/off value" in out
    out = subprocess.run([sys.executable, "-c", "from wafersim.runtime import kernel_cache as k; print(k.ENABLED)"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "WAFERSIM_KERNEL_CACHE": "No"}).stdout
    assert out.strip() == "False"
