"""A compiled program launched with raw argument words (`ws.Kernel`) checks them against what it reads
(runtime/program_arguments.py): a new user's int for a float parameter ran with the int's bits read as a
float (2 as 2.8e-45: every product a denormal), silently."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.isa import binary


@ws.jit
def _scale(x, out, factor):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = x[i] * factor


@ws.jit
def _shift(out, k):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = i + k


@ws.jit
def _times_constant(out, c: ws.constant):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = i * c


def _device():
    return ws.Device(ws.WaferSpec(width=8, height=1))


def test_an_int_for_a_float_parameter_is_refused_naming_it_where_its_bits_were_read_as_a_float():
    dev = _device()
    x = dev.to_device(np.arange(8, dtype=np.float32))
    out = dev.device_array(8, np.float32)
    program = _scale.compile_for(x, out, 2.0).program
    with pytest.raises(ws.ArgumentTypeError) as info:
        ws.Kernel(program)[1, 8](x, 8, out, 8, 2)
    assert info.value.parameter == "factor" and info.value.position == 4 and "pass 2.0" in str(info.value)
    assert not out.copy_to_host().any()  # nothing ran
    ws.Kernel(program)[1, 8](x, 8, out, 8, 2.0)
    assert np.array_equal(out.copy_to_host(), 2.0 * np.arange(8, dtype=np.float32))


def test_a_float_for_an_int_parameter_or_a_dimension_and_a_number_for_an_array_are_refused():
    dev = _device()
    out = dev.device_array(8, np.int32)
    program = _shift.compile_for(out, 3).program
    kernel = ws.Kernel(program)
    for args, parameter in (((out, 8, 3.0), "k"), ((out, 8.0, 3), "out"), ((0, 8, 3), "out")):
        with pytest.raises(ws.ArgumentTypeError) as info:
            kernel[1, 8](*args)
        assert info.value.parameter == parameter
    kernel[1, 8](out, 8, 3)
    assert out.copy_to_host().tolist() == [i + 3 for i in range(8)]


def test_a_constant_parameter_launched_with_another_value_is_refused_as_the_value_is_in_the_code():
    dev = _device()
    out = dev.device_array(8, np.int32)
    program = _times_constant.compile_for(out, 3).program
    with pytest.raises(ws.LaunchError) as info:
        ws.Kernel(program)[1, 8](out, 8, 5)  # the code multiplies by 3 whatever the word says
    assert info.value.parameter == "c" and "ws.constant" in str(info.value)
    ws.Kernel(program)[1, 8](out, 8, 3)
    assert out.copy_to_host().tolist() == [3 * i for i in range(8)]


def test_the_check_survives_a_program_file_and_assembly_programs_take_any_words(tmp_path):
    dev = _device()
    x = dev.to_device(np.arange(8, dtype=np.float32))
    out = dev.device_array(8, np.float32)
    loaded = binary.load(binary.save(_scale.compile_for(x, out, 2.0).program, tmp_path / "scale.wsb"))
    with pytest.raises(ws.ArgumentTypeError):
        ws.Kernel(loaded)[1, 8](x, 8, out, 8, 2)
    # assembly knows no parameter types: the int 7 is the word the program stores (an int32 array)
    program = ws.assemble(".args 2\narg r1, 0\narg r2, 1\ngst r2, r1, 0\nhalt\n")
    assert program.arguments is None
    cell = dev.device_array(1, np.int32)
    ws.Kernel(program)[1, 1](cell, 7)
    assert cell.copy_to_host().tolist() == [7]


@ws.jit
def _fill_from(out, start, v):
    i = ws.grid(1)
    if start <= i < out.shape[0]:
        out[i] = v


def test_dimensions_larger_than_the_array_are_refused_where_the_stores_reached_another_array():
    """`out`'s 8 floats given as 72: the kernel's bounds check let PEs 64..71 store past its end, 256 bytes on,
    into the next allocation, another array, without an error. A smaller dimension (a part of the array)
    stays a launch like any other."""
    dev = ws.Device(ws.WaferSpec(width=72, height=1))
    out = dev.device_array(8)
    other = dev.to_device(np.arange(8, dtype=np.float32))
    kernel = ws.Kernel(_fill_from.compile_for(out, 0, 1.0).program)
    with pytest.raises(ws.LaunchError) as info:
        kernel[1, 72](out, 72, 64, 5.0)
    assert info.value.parameter == "out" and info.value.position == 1 and "(8,)" in str(info.value)
    assert other.copy_to_host().tolist() == list(range(8)) and not out.copy_to_host().any()
    kernel[1, 72](out, 4, 0, 5.0)  # the first 4 elements only
    assert out.copy_to_host().tolist() == [5.0] * 4 + [0.0] * 4


@ws.jit
def _double(x, out):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = x[i] * 2.0


def test_an_array_of_another_dtype_than_the_program_reads_is_refused():
    """An int32 array given where the program reads float32 elements ran with their bits read as floats (0, 1,
    2, 3 doubled as 0, 3e-45, 6e-45, 8e-45), silently; so did float32 words read as float16 halves."""
    dev = _device()
    values = np.arange(4, dtype=np.float32)
    out = dev.device_array(4)
    kernel = ws.Kernel(_double.compile_for(dev.to_device(values), out).program)
    for dtype in (np.int32, np.float16, np.float64):
        with pytest.raises(ws.ArgumentTypeError, match="reads float32 elements") as info:
            kernel[1, 4](dev.to_device(values.astype(dtype)), 4, out, 4)
        assert info.value.parameter == "x" and info.value.expected == "f32"
    kernel[1, 4](dev.to_device(values), 4, out, 4)
    assert out.copy_to_host().tolist() == (2 * values).tolist()
    halves = ws.Kernel(_double.compile_for(dev.to_device(values.astype(np.float16)), out).program)
    with pytest.raises(ws.ArgumentTypeError, match="reads float16 elements"):
        halves[1, 4](dev.to_device(values), 4, out, 4)
    halves[1, 4](dev.to_device(values.astype(np.float16)), 4, out, 4)
    assert out.copy_to_host().tolist() == (2 * values).tolist()


@ws.jit
def _store_scalar(out, v):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = v


@ws.jit
def _store_constant(out, c: ws.constant):
    i = ws.grid(1)
    if i < out.shape[0]:
        out[i] = c


def _signalling_nans():
    import ml_dtypes

    return (np.uint32(0x7F800001).view(np.float32), np.uint16(0x7C01).view(np.float16),
            np.uint16(0x7F81).view(ml_dtypes.bfloat16))


@pytest.mark.parametrize("value", _signalling_nans(), ids=["float32", "float16", "bfloat16"])
def test_a_signalling_nan_scalar_reaches_the_kernel_with_its_bits_and_a_constant_one_launches(value):
    """A @ws.jit launch passed float scalars through Python's `float`, which quiets a signalling NaN: the kernel
    read 0x7fc00001 for the float32 0x7f800001 (16-bit floats so too, also through `ws.Kernel`), and a
    `ws.constant` parameter given one was refused as "another value than compiled for" (its word against the
    compiled bits), a false error."""
    dev = _device()
    out = dev.device_array(8, np.float32)
    bits = int(np.float32(value).view(np.uint32))  # NumPy's widening to float32: exact, NaN payloads too
    _store_scalar[1, 8](out, value)
    assert out.copy_to_host().view(np.uint32).tolist() == [bits] * 8
    out = dev.device_array(8, np.float32)
    ws.Kernel(_store_scalar.compile_for(out, value).program)[1, 8](out, 8, value)
    assert out.copy_to_host().view(np.uint32).tolist() == [bits] * 8
    out = dev.device_array(8, np.float32)
    _store_constant[1, 8](out, value)  # (the compiler's constant is a Python float: NaN, sign and payload kept)
    stored = out.copy_to_host()
    assert np.isnan(stored).all() and (stored.view(np.uint32) & 0xFFBFFFFF == bits & 0xFFBFFFFF).all()


def test_a_long_double_scalar_rounds_once_to_float32_and_a_constant_one_launches():
    """1 + 2**-24 + 2**-60 as an np.longdouble went through Python's float first: rounded to 1 + 2**-24, a tie,
    then to 1.0, where NumPy's float32 of it is 1 + 2**-23; a `ws.constant` one was refused (its word, 1.0,
    against the compiled bits). (Where long double is double, both roundings agree: the test still holds.)"""
    dev = _device()
    value = np.longdouble(1) + np.longdouble(2) ** -24 + np.longdouble(2) ** -60
    for kernel in (_store_scalar, _store_constant):
        out = dev.device_array(8, np.float32)
        kernel[1, 8](out, value)
        assert out.copy_to_host().tolist() == [float(np.float32(value))] * 8
