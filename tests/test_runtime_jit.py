"""Launch arguments of `@ws.jit` kernels (runtime/jit.py) a kernel cannot take, and what the error says to
do: NumPy's default dtypes (int64, float64) copied as they are, other dtypes, 0-d and 3-D arrays."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import wafersim as ws
from wafersim.runtime.jit import array_argument_hint


@ws.jit
def store_one(a):
    a[0] = 1


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.mark.parametrize("host, fix", [
    (np.arange(4), "host.astype(np.int32)"),                     # NumPy's default integer type
    (np.zeros(4), "host.astype(np.float32)"),                    # NumPy's default float type
    (np.zeros(4, np.uint8), "host.astype(np.int32)"),
    (np.zeros(4, bool), "host.astype(np.int32)"),
    (np.zeros((2, 2, 3), np.float32), "host.reshape(4, 3)"),
    (np.zeros((), np.int32), "host.reshape(1)"),
])
def test_an_array_a_kernel_cannot_take_says_what_to_do(dev, host, fix):
    with pytest.raises(ws.LaunchError) as info:           # was: "got 1-D int64" and nothing to do
        store_one[1, 1](dev.to_device(host))
    err = info.value
    assert fix in str(err) and f"got {host.ndim}-D {host.dtype}" in str(err)
    assert err.position == 0 and err.dtype == str(host.dtype) and err.ndim == host.ndim


def test_the_default_dtypes_are_named_as_numpys():
    assert "(int64 is NumPy's default integer type): copy it as int32" in array_argument_hint(np.dtype(np.int64), (4,))
    assert "(float64 is NumPy's default float type): copy it as float32" in array_argument_hint(np.dtype(np.float64), (4,))
    assert "default" not in array_argument_hint(np.dtype(np.int16), (4,))
    # the advice for an integer type wider than int32 warns that astype wraps (np.int64(2**31) -> -2**31)
    for dtype in (np.int64, np.uint32, np.uint64):
        assert "astype wraps values outside int32" in array_argument_hint(np.dtype(dtype), (4,))
    assert "wraps" not in array_argument_hint(np.dtype(np.uint8), (4,))
    assert np.array([2**31]).astype(np.int32)[0] == -2**31  # what it warns of


@pytest.mark.parametrize("host", [np.arange(4), np.zeros(4)])
def test_the_suggested_copy_launches(dev, host):
    """What the message suggests works: the array copied as int32 / float32 is taken."""
    target = np.int32 if host.dtype.kind == "i" else np.float32
    d = dev.to_device(host.astype(target))
    store_one[1, 1](d)
    assert d.copy_to_host()[0] == 1


def test_a_malloc_pointer_as_a_kernel_argument_says_to_pass_a_device_array(dev):
    """cudaMalloc then a launch with the pointer, the CUDA habit: the error says what a kernel takes (was:
    "unsupported type DevicePointer (pass device arrays, ints or floats)")."""
    with pytest.raises(ws.LaunchError,
                       match=r"argument 0 \(a\): a DevicePointer from dev.malloc is raw memory") as info:
        store_one[1, 1](dev.malloc(16))
    assert "dev.device_array(shape, dtype)" in str(info.value) and info.value.position == 0
    d = dev.device_array(4, np.int32)  # what it says to pass instead
    store_one[1, 1](d)
    assert d.copy_to_host().tolist() == [1, 0, 0, 0]


@ws.jit
def axpb(x, out, a=2.0, b=1, n: ws.constant = 4):
    for i in range(n):
        out[i] = a * x[i] + b


@pytest.mark.parametrize("given, a, b, n", [((), 2.0, 1, 4), ((0.5,), 0.5, 1, 4), ((0.5, -3), 0.5, -3, 4),
                                           ((0.5, -3, 2), 0.5, -3, 2)])
def test_parameters_left_out_of_a_launch_take_their_defaults(dev, given, a, b, n):
    """As in a Python call (was: "takes 5 argument(s), the launch gave 2"), a ws.constant one included."""
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    out = dev.device_array(4)
    axpb[1, 1](dev.to_device(x), out, *given)
    want = np.zeros(4, np.float32)
    want[:n] = np.float32(a) * x[:n] + np.float32(b)
    np.testing.assert_array_equal(out.copy_to_host(), want)
    assert axpb.compile_for(dev.to_device(x), out, *given).program is not None


def test_too_few_or_too_many_arguments_say_how_many_the_kernel_takes(dev):
    x = dev.device_array(4)
    for args in [(x,), (x, x, 1.0, 2, 3, 4)]:
        with pytest.raises(ws.LaunchError, match=r"axpb\(x, out, a, b, n\) takes 2 to 5 arguments, the launch "
                                                 rf"gave {len(args)}"):
            axpb[1, 1](*args)
    with pytest.raises(ws.LaunchError, match=r"takes 1 argument, the launch gave 2"):
        store_one[1, 1](x, x)
    with pytest.raises(ws.LaunchError, match="takes 2 to 5"):
        axpb.compile_for(x)


@ws.jit
def scale_by(out, factor=None):
    out[0] = 1.0


def test_a_default_that_is_no_launch_argument_names_the_parameter_left_out(dev):
    """`def k(out, factor=None)` launched as k(out): the error names `factor` and its default (was: "argument
    1: unsupported type NoneType", an argument the launch did not give)."""
    out = dev.device_array(1)
    with pytest.raises(ws.LaunchError, match=r"factor was left out, and its default None is no launch argument: "
                                             r"unsupported type NoneType .*; pass factor at the launch") as info:
        scale_by[1, 1](out)
    assert info.value.position == 1 and info.value.parameter == "factor"
    scale_by[1, 1](out, 2.0)  # given at the launch, it is no default
    assert out.copy_to_host().tolist() == [1.0]


@ws.jit
def store_int(out, k):
    out[0] = k


@pytest.mark.parametrize("k", [-2**31 - 1, 2**31, 2**32, -2**40])
def test_an_int_argument_outside_int32_is_refused_with_the_int32_range_on_either_side(dev, k):
    """Below -2**31 the launch said "does not fit in 32 bits" (the raw word's check ran first), above 2**31 - 1
    "does not fit int32": both sides now name the kernel's int32 range, and nothing runs."""
    out = dev.to_device(np.array([7], np.int32))
    with pytest.raises(ws.LaunchError, match=r"argument 1 \(k\): -?\d+ does not fit int32 \(from -2147483648 to "
                                             r"2147483647\)"):
        store_int[1, 1](out, k)
    assert out.copy_to_host().tolist() == [7]
    for edge in (-2**31, 2**31 - 1):  # the ends of the range pass, unwrapped
        store_int[1, 1](out, edge)
        assert out.copy_to_host().tolist() == [edge]


@pytest.mark.parametrize("value", [1j, None, [1.0], "1", object(), np.timedelta64(5, "ms")])
def test_an_argument_of_an_unsupported_type_is_an_argument_type_error(dev, value):
    """docs/api.md: a launch given an argument of the wrong type raises ArgumentTypeError (a LaunchError and a
    TypeError); it was a plain LaunchError (and NumPy's timedelta64, an np.integer, a bare TypeError from int())."""
    out = dev.device_array(1, np.int32)
    with pytest.raises(ws.ArgumentTypeError, match=rf"argument 1 \(k\): unsupported type {type(value).__name__}"):
        store_int[1, 1](out, value)
    with pytest.raises(ws.ArgumentTypeError, match="a host NumPy array; copy it to the device first"):
        store_int[1, 1](np.zeros(1, np.int32), 1)
    assert isinstance(ws.ArgumentTypeError("x"), (ws.LaunchError, TypeError))


def test_a_nan_constant_is_one_specialisation(dev):
    """nan != nan: a key holding a fresh nan object each launch was never found, and every launch compiled."""
    @ws.jit
    def put(out, c: ws.constant):
        out[0] = c

    out = dev.device_array(1, np.float32)
    for value in (float("nan"), np.float32("nan"), float("nan"), 1.5):
        put[1, 1](out, value)
        assert np.array_equal(out.copy_to_host(), np.array([value], np.float32), equal_nan=True)
    assert len(put.cache) == 2


LATER = 5.0


def test_a_closure_variable_not_yet_assigned_is_unknown_not_the_global(dev):
    """An empty closure cell (the name is assigned after the function in its scope): Python raises NameError
    and never reads the global of that name; the compiler says the name is unknown (it raised ValueError)."""
    def make():
        @ws.jit
        def read(out):
            out[0] = LATER
        return read
        LATER = 1.0  # noqa: F841  (never runs: the cell stays empty)

    with pytest.raises(ws.CompileError, match="unknown name 'LATER'"):
        make()[1, 1](dev.device_array(1, np.float32))


@ws.jit
def store_param(out, trace=0, max_cycles=5):
    out[0] = trace
    out[1] = max_cycles


@pytest.mark.parametrize("given, options", [((), {"trace": True}), ((), {"max_cycles": 10**6}),
                                            ((1,), {"max_cycles": 10**6})])
def test_a_launch_keyword_naming_a_parameter_left_out_is_refused(dev, given, options):
    """`def k(out, trace=0)` launched as k(out, trace=True): the keyword is the launch option, and the kernel
    silently saw its default 0 (was: out == [0, 5] and the launch traced). Nothing runs; the message says
    to pass the parameter by position."""
    out = dev.to_device(np.array([7, 7], np.int32))
    name = next(iter(options))
    with pytest.raises(ws.LaunchError, match=rf"{name}=.* is the launch option {name}, not the kernel's parameter "
                                             rf"{name}, which the launch left out") as info:
        store_param[1, 1](out, *given, **options)
    assert info.value.parameter == name
    assert out.copy_to_host().tolist() == [7, 7] and not dev.launches


def test_a_launch_keyword_after_its_parameter_given_by_position_is_the_option(dev):
    """The parameter passed by position, the keyword is unambiguous: the option (the kernel sees the value)."""
    out = dev.device_array(2, np.int32)
    stats = store_param[1, 1](out, 3, 9, trace=True, max_cycles=10**6)
    assert out.copy_to_host().tolist() == [3, 9] and stats.trace is not None


@ws.jit
def scale_param(out, alpha=0.5):
    out[0] = alpha


def test_a_launch_keyword_naming_a_parameter_that_is_no_option_says_to_pass_it_by_position(dev):
    """k(out, alpha=2.0) (also as **options) said only "unknown launch option(s) ['alpha']": it names the
    parameter; by position it runs, and the kernel sees the value."""
    out = dev.device_array(1, np.float32)
    for options in ({"alpha": 2.0}, dict(alpha=2.0, trace=True)):
        with pytest.raises(ws.LaunchError, match=r"unknown launch option \['alpha'\]; kernel arguments are "
                                                 r"positional \(alpha: a parameter of scale_param\(out, alpha\); "
                                                 r"pass it by position\)"):
            scale_param[1, 1](out, **options)
    assert not dev.launches
    scale_param[1, 1](out, 2.0, trace=True)
    assert out.copy_to_host().tolist() == [2.0]


def test_a_misspelt_launch_option_is_named_with_the_option_meant(dev):
    """`max_cycle=10` said only "unknown launch option ['max_cycle']"; `dev.launch` says it the same way."""
    out = dev.device_array(1, np.float32)
    with pytest.raises(ws.LaunchError, match=r"unknown launch option \['max_cycle'\]; kernel arguments are "
                                             r"positional; did you mean 'max_cycles'\?"):
        scale_param[1, 1](out, 2.0, max_cycle=10)
    with pytest.raises(ws.ArgumentTypeError, match=r"'keep_sate'; did you mean 'keep_state'\?"):
        dev.launch(scale_param, 1, 1, (out, 2.0), keep_sate=True)
    assert not dev.launches


def test_a_stream_keyword_at_the_launch_says_where_the_stream_goes(dev):
    """`k[g, b](out, stream=s)` (`dev.launch` takes stream=) said only "unknown launch option ['stream']; kernel
    arguments are positional", which does not say where a stream goes; in the configuration it runs there."""
    out = dev.device_array(1, np.float32)
    s = dev.stream()
    with pytest.raises(ws.LaunchError, match=r"unknown launch option \['stream'\]; kernel arguments are positional; "
                                             r"a stream goes in the launch configuration, "
                                             r"kernel\[grid, block, stream\]\(\.\.\.\)"):
        scale_param[1, 1](out, 2.0, stream=s)
    assert not dev.launches and not s.log
    scale_param[1, 1, s](out, 2.0)
    assert out.copy_to_host().tolist() == [2.0] and [what for what, *_ in s.log] == ["launch scale_param"]


@pytest.mark.parametrize("shape", [(0, 2**31), (2**31, 0), (0, 2**32), (0, 2**40)])
def test_an_array_dimension_past_int32_is_refused_naming_the_argument(dev, shape):
    """A kernel reads x.shape as int32: an empty (0, 2**31) array read x.shape[1] == -2**31, silently; one of
    2**32 was "argument 2: ... does not fit in 32 bits", numbering argument words, not parameters."""
    @ws.jit
    def dims(x, out):
        out[0] = x.shape[0]
        out[1] = x.shape[1]

    out = dev.to_device(np.array([7, 7], np.int32))
    with pytest.raises(ws.LaunchError, match=r"argument 0 \(x\): shape .* has a dimension past 2,147,483,647"):
        dims[1, 1](dev.device_array(shape), out)
    assert out.copy_to_host().tolist() == [7, 7]
    dims[1, 1](dev.device_array((0, 2**31 - 1)), out)  # the largest that fits is read as it is
    assert out.copy_to_host().tolist() == [0, 2**31 - 1]


def test_a_host_array_argument_names_the_parameter_and_a_0d_one_says_to_pass_its_value(dev):
    """Not copied in and out as Numba does: refused, naming the parameter; a 0-d array is most likely meant
    as a number."""
    with pytest.raises(ws.ArgumentTypeError, match=r"argument 1 \(k\): a host NumPy array; .*host\[\(\)\]"):
        store_int[1, 1](dev.device_array(1, np.int32), np.array(3, np.int32))
    out = dev.device_array(1, np.int32)
    store_int[1, 1](out, np.array(3, np.int32)[()])  # what it says to do
    assert out.copy_to_host().tolist() == [3]


@ws.jit
def int_steps(out, k):
    out[0], out[1], out[2], out[3], out[4] = k + 100, k * 3, k // 7, int(k < 5), k << 3


@ws.jit
def int_steps_of_a_constant(out, k: ws.constant):
    out[0], out[1], out[2], out[3], out[4] = k + 100, k * 3, k // 7, int(k < 5), k << 3


def _narrow_scalars() -> list:
    """A value of each NumPy integer type the kernel refuses, where NumPy's step wraps (unsigned: below 0)."""
    values = [np.iinfo(t).min if np.iinfo(t).min else np.iinfo(t).max
              for t in (np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64)]
    return [t(v) for t, v in zip((np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64), values)]


@pytest.mark.parametrize("kernel", [int_steps, int_steps_of_a_constant])
@pytest.mark.parametrize("value", _narrow_scalars() + [np.True_])
def test_a_numpy_scalar_of_another_width_is_refused_naming_the_parameter_and_the_conversion(dev, kernel, value):
    """An np.uint8 argument was taken as its int32 value: `k + 100` with np.uint8(200) gave 300 where NumPy
    gives 44 (a SILENT WRONG ANSWER), as for the other widths and np.bool_ (np.True_ + np.True_ is True). Each
    is refused at launch, as module constants of those types are at compile time, saying what to pass; the
    conversion it names launches, and computes as Python's ints."""
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (NumPy warns of a Python int out of an unsigned type's range)
        if isinstance(value, np.bool_):
            numpy_steps, python_steps = [value + value, ~value], [True + True, ~True]
        else:
            numpy_steps = [value + 100, value * 3, value // 7, value << 3]
            python_steps = [int(value) + 100, int(value) * 3, int(value) // 7, int(value) << 3]
    assert [int(v) for v in numpy_steps] != python_steps  # (NumPy's own type: what the kernel cannot compute)
    convert = r"pass bool\(k\)" if isinstance(value, np.bool_) else r"pass int\(k\) or np.int32\(k\)"
    out = dev.to_device(np.full(5, 7, np.int32))
    with pytest.raises(ws.ArgumentTypeError, match=rf"argument 1 \(k\): a NumPy {value.dtype} .*{convert}"):
        kernel[1, 1](out, value)
    assert out.copy_to_host().tolist() == [7] * 5
    converted = bool(value) if isinstance(value, np.bool_) else int(value)
    if not -2**31 <= converted < 2**31:  # (np.uint64's largest: int() of it does not fit int32 either)
        return
    kernel[1, 1](out, np.int32(converted))
    k = np.int32(converted)
    with np.errstate(over="ignore"):
        want = [k + np.int32(100), k * np.int32(3), k // np.int32(7), int(k < 5), k << np.int32(3)]
    assert out.copy_to_host().tolist() == [int(v) for v in want]


@ws.jit
def int64_uses(out, k):
    for i in range(k):  # (a comparison, an index and a store compile; int arithmetic does not)
        out[i] = i
    out[k] = int(k == 3) + 10
    out[4] = int(k) * 5


def test_an_np_int64_argument_holds_numpys_int64_refusing_int_arithmetic(dev):
    """NumPy computes with an np.int64 in int64 (np.int64(2**30) * 4 is 2**32), where the kernel's int32 wraps
    to 0: as for a variable holding an np.int64, its int arithmetic is refused at the line, naming the parameter
    and the conversion; comparisons, loops, indices and stores compile and give NumPy's values. A `ws.constant`
    one folds as an np.int64 constant does, exactly, each step within int32 (2**30 * 4 // 8 is refused, where
    int32 steps would give 0 and NumPy gives 2**29)."""
    out = dev.to_device(np.zeros(6, np.int32))
    with pytest.raises(ws.CompileError, match=r"parameter 'k', launched with an np.int64, \+ an int32: NumPy computes "
                                              r"the pair in int64.*launch with int\(k\) or np.int32\(k\), or convert "
                                              r"it here, int\(k\)"):
        int_steps[1, 1](out, np.int64(2**30))
    int64_uses[1, 1](out, np.int64(3))
    want = np.zeros(6, np.int64)
    k = np.int64(3)
    want[:k] = np.arange(k)
    want[k], want[4] = int(k == 3) + 10, k * 5
    assert out.copy_to_host().tolist() == want.tolist()

    @ws.jit
    def folded(out, k: ws.constant):
        out[0] = k * 4 // 8

    with pytest.raises(ws.CompileError, match=r"1073741824 \* 4 = 4294967296 does not fit in int32"):
        folded[1, 1](out, np.int64(2**30))  # (NumPy: 2**29, through 2**32, which no int32 holds: not wrapped)
    folded[1, 1](out, np.int64(2**28))
    assert out.copy_to_host()[0] == np.int64(2**28) * 4 // 8


@pytest.mark.parametrize("value", [True, False, np.float16(1.1), np.longdouble(1.1), np.float64(1.1)])
def test_python_bools_and_other_float_widths_compute_as_documented(dev, value):
    """A bool is the int it equals (True + True is 2, as in Python); an np.float16, np.float64 or np.longdouble
    scalar is the float32 nearest (docs/api.md), as a float constant is: the kernel computes in float32."""
    if isinstance(value, bool):
        out = dev.to_device(np.zeros(5, np.int32))
        int_steps[1, 1](out, value)
        assert out.copy_to_host().tolist() == [value + 100, value * 3, value // 7, int(value < 5), value << 3]
        return

    @ws.jit
    def float_steps(out, x):
        out[0], out[1], out[2] = x + 0.1, x * 3.3, x / 7.0

    out = dev.device_array(3, np.float32)
    float_steps[1, 1](out, value)
    x = np.float32(value)
    assert out.copy_to_host().tolist() == [x + np.float32(0.1), x * np.float32(3.3), x / np.float32(7.0)]


def test_setting_boundscheck_after_a_launch_compiles_the_kernel_again(dev):
    """The in-process cache was keyed by the argument types and the machine only: `kernel.boundscheck = True`
    after an unchecked launch went on running the unchecked binary, reading past the array silently where the
    checked kernel stops with `MemoryAccessError` (the on-disk cache's key had `boundscheck` all along)."""

    def read(x, out, k):
        out[0] = x[k]

    kernel = ws.jit(boundscheck=False)(read)
    x, out = dev.to_device(np.arange(4, dtype=np.float32)), dev.device_array(1)
    kernel[1, 1](x, out, 2)
    assert out.copy_to_host()[0] == 2.0
    kernel.boundscheck = True
    with pytest.raises(ws.MemoryAccessError):
        kernel[1, 1](x, out, 4)
    kernel.boundscheck = False
    kernel[1, 1](x, out, 1)  # (each setting its own binary, both kept)
    assert out.copy_to_host()[0] == 1.0 and len(kernel.cache) == 2


@ws.jit
def _plus_one(out):
    out[ws.grid(1)] = 1.0


def test_compile_for_a_device_that_is_no_device_and_inspect_ir_after_no_name_are_argument_type_errors():
    """`compile_for(..., device="dev")` was "'str' object has no attribute 'spec'" and `inspect_ir(after=[...])`
    Python's "unhashable type"."""
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(2)
    with pytest.raises(ws.ArgumentTypeError, match="device must be a wafersim Device"):
        _plus_one.compile_for(out, device="dev")
    assert _plus_one.compile_for(out, device=dev).program.arg_count == 2
    with pytest.raises(ws.ArgumentTypeError, match="after must be a pass name"):
        _plus_one.inspect_ir(after=["dce"])
    assert "kernel _plus_one" in _plus_one.inspect_ir()
