"""Every error a user can trigger from the host API is a WaferError: a table of bad inputs to Device,
DeviceArray, DevicePointer, streams, events, WaferSpec, assemble, launch options and LaunchStats, each
with the error it must raise and the built-in exception it must also be where one fits."""
from __future__ import annotations

import contextlib
import types

import numpy as np
import pytest

import wafersim as ws

HALT = ws.assemble(".name halt_only\n.args 1\nhalt\n")


@ws.jit
def store_one(out):
    out[0] = 1.0


@pytest.fixture(scope="module")
def env():
    """Two small devices, arrays, a pointer, a freed array whose address has been handed out again, and
    the stats of one launch."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    other = ws.Device(ws.WaferSpec(width=8, height=8))
    arr = dev.device_array(4)
    stale = dev.device_array(4)
    stale.free()
    reused = dev.malloc(16)                           # takes the freed array's address
    assert reused.address == stale.address
    stats = ws.Kernel(HALT)[1, 1](arr)
    return types.SimpleNamespace(dev=dev, other=other, arr=arr, stale=stale, reused=reused, stats=stats,
                                 stream=dev.stream(), other_stream=other.stream(),
                                 recorded=recorded(dev), other_recorded=recorded(other))


def recorded(dev: ws.Device) -> ws.Event:
    event = dev.event()
    event.record()
    return event


def failed_state(e) -> ws.LaunchState:
    """The state a failed launch carries (a store to address 0, outside every allocation)."""
    try:
        ws.Kernel(ws.assemble(".args 1\ngst r0, r0, 0\nhalt\n"))[1, 1](e.arr)
    except ws.MemoryAccessError as error:
        return error.state
    raise AssertionError("the launch should have failed")


def launch(e, **options):
    return ws.Kernel(HALT)[1, 1](e.arr, **{"print_output": False, **options})


# (case id, call, the WaferError subclass it raises, the built-in it is also, or None)
CASES = [
    # devices and specs
    ("unknown preset", lambda e: ws.Device("no-such-wafer"), ws.SpecError, ValueError),
    ("spec of the wrong type", lambda e: ws.Device(3.5), ws.SpecError, ValueError),
    ("negative width", lambda e: ws.WaferSpec(width=-1), ws.SpecError, ValueError),
    ("width not an int", lambda e: ws.WaferSpec(width="wide"), ws.SpecError, ValueError),
    ("unknown preset name", lambda e: ws.WaferSpec.preset("zzz"), ws.SpecError, ValueError),
    ("missing spec file", lambda e: ws.WaferSpec.load("/nonexistent/spec.toml"), ws.SpecError, ValueError),
    ("unknown spec key", lambda e: ws.WaferSpec.from_dict({"bogus": 1}), ws.SpecError, ValueError),
    ("replace with a bad value", lambda e: e.dev.spec.replace(width=0), ws.SpecError, ValueError),
    ("replace of an unknown field", lambda e: e.dev.spec.replace(bogus=0), ws.SpecError, ValueError),
    ("preset with an unknown field", lambda e: ws.WaferSpec.preset("dev", bogus=1), ws.SpecError, ValueError),
    ("constructor with an unknown field", lambda e: ws.WaferSpec(width=4, bogus=1), ws.SpecError, ValueError),
    ("spec from a non-mapping", lambda e: ws.WaferSpec.from_dict(5), ws.SpecError, ValueError),
    ("select an unknown device", lambda e: ws.select_device("zz"), ws.SpecError, ValueError),
    # allocation
    ("malloc of a float size", lambda e: e.dev.malloc(1.5), ws.ArgumentTypeError, TypeError),
    ("malloc of a negative size", lambda e: e.dev.malloc(-1), ws.ArgumentError, ValueError),
    ("malloc of 0 bytes", lambda e: e.dev.malloc(0), ws.ArgumentError, ValueError),
    ("malloc beyond capacity", lambda e: e.dev.malloc(10**20), ws.OutOfMemoryError, None),
    ("device_array of a float shape", lambda e: e.dev.device_array(1.5), ws.ArgumentTypeError, TypeError),
    ("device_array of a str shape", lambda e: e.dev.device_array("abc"), ws.ArgumentTypeError, TypeError),
    ("device_array of a negative shape", lambda e: e.dev.device_array(-1), ws.LaunchError, ValueError),
    ("device_array of an unknown dtype", lambda e: e.dev.device_array(4, "nonsense"), ws.ArgumentTypeError,
     TypeError),
    ("device_array of objects", lambda e: e.dev.device_array(4, object), ws.ArgumentTypeError, TypeError),
    ("device_array too large", lambda e: e.dev.device_array((10**9, 10**9)), ws.OutOfMemoryError, None),
    ("to_device of strings", lambda e: e.dev.to_device("abc"), ws.ArgumentTypeError, TypeError),
    ("to_device of objects", lambda e: e.dev.to_device(np.array([object()])), ws.ArgumentTypeError, TypeError),
    # pointers and freeing
    ("free of an int", lambda e: e.dev.free(256), ws.InvalidPointerError, ValueError),
    ("free of another device's pointer", lambda e: e.other.free(e.reused), ws.InvalidPointerError, ValueError),
    ("double free after the address was reused", lambda e: e.stale.free(), ws.InvalidPointerError, ValueError),
    ("copy from a freed array whose address was reused", lambda e: e.stale.copy_to_host(),
     ws.MemoryAccessError, IndexError),
    ("copy into a freed array whose address was reused",
     lambda e: e.stale.copy_to_device(np.zeros(4, np.float32)), ws.MemoryAccessError, IndexError),
    # copies
    ("copy_to_host into a list", lambda e: e.arr.copy_to_host([0.0] * 4), ws.ArgumentTypeError, TypeError),
    ("copy_to_host into a wrong shape", lambda e: e.arr.copy_to_host(np.zeros(3, np.float32)), ws.LaunchError,
     ValueError),
    ("copy_to_device of a wrong shape", lambda e: e.arr.copy_to_device(np.zeros(3)), ws.LaunchError, ValueError),
    ("memcpy_htod past the allocation", lambda e: e.dev.memcpy_htod(e.reused, np.zeros(100, np.uint8)),
     ws.MemoryAccessError, IndexError),
    ("memcpy_htod of objects", lambda e: e.dev.memcpy_htod(e.reused, np.array([object()])), ws.ArgumentTypeError,
     TypeError),
    ("memcpy_dtoh into a list", lambda e: e.dev.memcpy_dtoh([0], e.reused), ws.LaunchError, ValueError),
    ("memcpy_dtoh into a strided view", lambda e: e.dev.memcpy_dtoh(np.zeros((4, 4), np.uint8)[:, ::2], e.reused),
     ws.LaunchError, ValueError),
    ("memcpy on another device's stream",
     lambda e: e.dev.memcpy_htod(e.reused, np.zeros(1), stream=e.other_stream), ws.LaunchError, ValueError),
    ("memcpy on a stream that is a str", lambda e: e.dev.memcpy_htod(e.reused, np.zeros(1), stream="s"),
     ws.ArgumentTypeError, TypeError),
    ("launch on stream 1 (only 0 means the default stream)", lambda e: ws.Kernel(HALT)[1, 1, 1](e.arr),
     ws.ArgumentTypeError, TypeError),
    ("launch on stream False", lambda e: ws.Kernel(HALT)[1, 1, False](e.arr), ws.ArgumentTypeError, TypeError),
    # events
    ("elapsed time of an unrecorded event", lambda e: e.dev.event().elapsed_time(e.recorded), ws.LaunchError,
     ValueError),
    ("elapsed time to a non-event", lambda e: ws.event_elapsed_time(e.recorded, 5), ws.ArgumentTypeError,
     TypeError),
    ("elapsed time across devices", lambda e: e.recorded.elapsed_time(e.other_recorded), ws.LaunchError,
     ValueError),
    ("record on another device's stream", lambda e: e.dev.event().record(e.other_stream), ws.LaunchError,
     ValueError),
    # calls that do not fit the signature: Python's TypeError named no wafersim class (Device's methods already
    # said ArgumentTypeError; streams, events, arrays and the module-level helpers did not)
    ("stream synchronize with an argument", lambda e: e.stream.synchronize(e.recorded), ws.ArgumentTypeError,
     TypeError),
    ("wait_event without the event", lambda e: e.stream.wait_event(), ws.ArgumentTypeError, TypeError),
    ("auto_synchronize with an argument (a context manager's call)", lambda e: e.stream.auto_synchronize(1),
     ws.ArgumentTypeError, TypeError),
    ("event query with an argument", lambda e: e.recorded.query(1), ws.ArgumentTypeError, TypeError),
    ("event record with an unknown keyword", lambda e: e.dev.event().record(strem=0), ws.ArgumentTypeError,
     TypeError),
    ("elapsed time of one event", lambda e: ws.event_elapsed_time(e.recorded), ws.ArgumentTypeError, TypeError),
    ("ws.stream with an argument", lambda e: ws.stream(1), ws.ArgumentTypeError, TypeError),
    ("ws.event with an argument", lambda e: ws.event(False), ws.ArgumentTypeError, TypeError),
    ("ws.synchronize with a stream", lambda e: ws.synchronize(e.stream), ws.ArgumentTypeError, TypeError),
    ("ws.to_device without an array", lambda e: ws.to_device(), ws.ArgumentTypeError, TypeError),
    ("ws.init with two arguments", lambda e: ws.init(0, 1), ws.ArgumentTypeError, TypeError),
    ("copy_to_host with an unknown keyword", lambda e: e.arr.copy_to_host(strem=0), ws.ArgumentTypeError, TypeError),
    ("free with an argument", lambda e: e.arr.free(e.arr), ws.ArgumentTypeError, TypeError),
    # launch configuration and options
    ("configuration of one item", lambda e: ws.Kernel(HALT)[1], ws.LaunchError, ValueError),
    ("configuration of four items", lambda e: ws.Kernel(HALT)[1, 1, None, None], ws.LaunchError, ValueError),
    ("grid of zero", lambda e: ws.Kernel(HALT)[0, 1](e.arr), ws.LaunchError, ValueError),
    ("grid of a str", lambda e: ws.Kernel(HALT)["a", 1](e.arr), ws.LaunchError, ValueError),
    ("three-dimensional grid", lambda e: ws.Kernel(HALT)[(1, 1, 2), 1](e.arr), ws.LaunchError, ValueError),  # (1, 1, 1): (1, 1)
    ("block of a bool", lambda e: ws.Kernel(HALT)[1, True](e.arr), ws.LaunchError, ValueError),
    ("block larger than the wafer", lambda e: ws.Kernel(HALT)[1, (9, 1)](e.arr), ws.LaunchError, ValueError),
    ("unknown launch option", lambda e: launch(e, zzz=1), ws.LaunchError, ValueError),
    ("negative max_cycles", lambda e: launch(e, max_cycles=-1), ws.LaunchError, ValueError),
    ("max_cycles of a str", lambda e: launch(e, max_cycles="many"), ws.ArgumentTypeError, TypeError),
    ("max_seconds of a str", lambda e: launch(e, max_seconds="long"), ws.ArgumentTypeError, TypeError),
    ("zero max_seconds", lambda e: launch(e, max_seconds=0), ws.LaunchError, ValueError),
    ("negative print_limit", lambda e: launch(e, print_limit=-1), ws.LaunchError, ValueError),
    ("print_limit of a str", lambda e: launch(e, print_limit="all"), ws.ArgumentTypeError, TypeError),
    ("progress of an int", lambda e: launch(e, progress=5), ws.ArgumentTypeError, TypeError),
    ("trace of a str", lambda e: launch(e, trace="yes"), ws.ArgumentTypeError, TypeError),
    ("print_output of None", lambda e: launch(e, print_output=None), ws.ArgumentTypeError, TypeError),
    ("keep_state of a str", lambda e: launch(e, keep_state="last"), ws.ArgumentTypeError, TypeError),
    ("a variable the kernel does not have", lambda e: failed_state(e).read_local("zzz", (0, 0)),
     ws.VariableUnavailableError, ValueError),
    ("Device(preset=)", lambda e: ws.Device(preset="dev"), ws.ArgumentTypeError, TypeError),
    ("a debugger's PEs read before it runs", lambda e: ws.debug(ws.Kernel(HALT)[1, 1], e.arr).locals((0, 0)),
     ws.DebuggerError, ValueError),
    ("racecheck of a string", lambda e: launch(e, racecheck="yes"), ws.ArgumentTypeError, TypeError),
    ("a race under racecheck", lambda e: ws.Kernel(ws.assemble("arg r1, 0\nsreg r2, tid.x\ngst r2, r1, 0\nhalt\n"))[
        1, (2, 1)](e.arr, racecheck=True), ws.RaceError, None),  # both PEs store their own value to one word
    ("routes of a str", lambda e: launch(e, routes="row"), ws.ArgumentTypeError, TypeError),
    ("route root outside the block", lambda e: launch(e, routes=[ws.routes.row_broadcast(1, root=5)]),
     ws.RouteError, ValueError),
    ("route on a channel the machine lacks", lambda e: launch(e, routes=[ws.routes.row_bus(99)]), ws.RouteError,
     ValueError),
    ("route pattern of an unknown name", lambda e: ws.routes.named(1, "ring"), ws.RouteError, ValueError),
    ("launch of something not a program", lambda e: e.dev.launch("program", 1, 1, []), ws.ArgumentTypeError,
     TypeError),
    ("Kernel of something not a program", lambda e: ws.Kernel("program")[1, 1](e.arr), ws.ArgumentTypeError,
     TypeError),
    ("argument of an unsupported type", lambda e: e.dev.launch(HALT, 1, 1, [object()]), ws.ArgumentTypeError,
     TypeError),
    ("a timedelta64 argument (an np.integer)", lambda e: e.dev.launch(HALT, 1, 1, [np.timedelta64(1, "s")]),
     ws.ArgumentTypeError, TypeError),
    ("argument too large for 32 bits", lambda e: e.dev.launch(HALT, 1, 1, [2**40]), ws.LaunchError, ValueError),
    ("freed array as an argument", lambda e: ws.Kernel(HALT)[1, 1](e.stale), ws.MemoryAccessError, IndexError),
    # @ws.jit kernels
    ("jit of something not a function", lambda e: ws.jit("kernel"), ws.ArgumentTypeError, TypeError),
    ("IR after an unknown pass", lambda e: (store_one.compile_for(e.arr), store_one.inspect_ir(after="no-such-pass")),
     ws.ArgumentError, ValueError),
    ("calling a kernel like a function", lambda e: store_one(e.arr), ws.LaunchError, ValueError),
    ("too few kernel arguments", lambda e: store_one[1, 1](), ws.LaunchError, ValueError),
    ("a host array as a kernel argument", lambda e: store_one[1, 1](np.zeros(4)), ws.LaunchError, ValueError),
    ("a float64 device array", lambda e: store_one[1, 1](e.dev.device_array(4, np.float64)), ws.LaunchError,
     ValueError),
    ("an array of another device on this stream", lambda e: store_one[1, 1, e.other_stream](e.arr),
     ws.InvalidPointerError, ValueError),
    # programs
    ("assembly with an unknown mnemonic", lambda e: ws.assemble("bogus r1"), ws.AssemblyError, None),
    ("assembly that is not text", lambda e: ws.assemble(5), ws.ArgumentTypeError, TypeError),
    ("assembly as bytes", lambda e: ws.assemble(b"halt"), ws.ArgumentTypeError, TypeError),
    ("disassembly of a str", lambda e: ws.disassemble("x"), ws.ArgumentTypeError, TypeError),
    # launch statistics
    ("unknown metric", lambda e: e.stats.metric("zzz"), ws.ArgumentError, ValueError),
    ("metric named by an int", lambda e: e.stats.metric(5), ws.ArgumentError, ValueError),
    ("heatmap of an unknown metric", lambda e: e.stats.heatmap("zzz", "never.png"), ws.ArgumentError, ValueError),
    ("perfetto of an untraced launch", lambda e: e.stats.to_perfetto("never.json"), ws.LaunchError, ValueError),
    # saving and loading
    ("load of a missing file", lambda e: ws.Device.load("/nonexistent/device.npz"), ws.CheckpointError,
     ValueError),
    ("save with arrays of the wrong type", lambda e: e.dev.save("never.npz", arrays=[e.arr]), ws.ArgumentTypeError,
     TypeError),
]


@pytest.mark.parametrize("call, error, builtin", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_raises_a_wafer_error(env, call, error, builtin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                              # nothing a failing call writes may land here
    launches = len(env.dev.launches)
    with pytest.raises(error) as info:
        call(env)
    assert isinstance(info.value, ws.WaferError)
    if builtin is not None:
        assert isinstance(info.value, builtin)
    assert str(info.value)                                   # a message for people
    assert len(env.dev.launches) == launches                 # a refused launch is not in the history
    assert list(tmp_path.iterdir()) == []


def test_the_table_covers_every_public_error_class():
    raised = {case[2] for case in CASES}
    public = {getattr(ws, name) for name in ws.__all__
              if isinstance(getattr(ws, name), type) and issubclass(getattr(ws, name), ws.WaferError)}
    # raised by kernels at run time or by the compiler (covered by test_bad_kernels and the guide), not by
    # a host call with a bad input
    from_kernels = {ws.WaferError, ws.CompileError, ws.SramBudgetError, ws.MeshBoundaryError, ws.DeadlockError,
                    ws.CycleLimitError, ws.KernelZeroDivisionError, ws.KernelValueError, ws.WordTypeError,
                    ws.ChainWordError,  # (tests/test_collectives_chain_words.py)
                    ws.EngineCacheError}  # (the last: a damaged cache file, tests/test_numba_cache.py)
    missing = sorted(cls.__name__ for cls in public - from_kernels - raised)
    assert not missing, f"add a bad host-API input raising each of {missing} to CASES"


@ws.jit
def _read_past_the_end(v, out):
    i = ws.grid(1)
    out[i] = v[i + 10]


def test_a_launch_error_lists_where_it_happened_in_its_fields():
    """`err.fields` holds every structured field, including the program counter, instruction and source
    line the engine adds to an executor's error."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.MemoryAccessError) as info:
        _read_past_the_end[1, 4](dev.device_array(4), dev.device_array(4))
    error = info.value
    for name in ("pc", "instruction", "source", "pe"):
        assert name in error.fields and error.fields[name] == getattr(error, name)
    assert error.source[1] == _read_past_the_end.py_func.__code__.co_firstlineno + 3  # the `out[i] = v[i + 10]` line
    assert (error.file, error.line) == error.source and error.file == _read_past_the_end.py_func.__code__.co_filename


def _writers(tmp_path):
    """Each writer of a file, as a function of the path to write (the output-file rule: `errors.output_path`
    checks the path first, `errors.write_whole` writes it)."""
    from wafersim import train
    from wafersim.isa import binary

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    dev.trace = True
    stats = ws.Kernel(HALT)[1, 1](dev.device_array(4))
    trainer = train.Trainer(train.Model.mlp([2, 2], activation="relu"), train.SGD(lr=0.1), batch_size=2)
    return {"Device.save": (dev.save, ws.CheckpointError),
            "Trainer.save_checkpoint": (trainer.save_checkpoint, ws.CheckpointError),
            "binary.save": (lambda path: binary.save(HALT, path), ws.AssemblyError),
            "WaferSpec.save": (dev.spec.save, ws.SpecError),
            "LaunchStats.to_perfetto": (stats.to_perfetto, ws.ArgumentError)}


@pytest.mark.parametrize("writer", ["Device.save", "Trainer.save_checkpoint", "binary.save", "WaferSpec.save",
                                    "LaunchStats.to_perfetto"])
def test_every_writer_refuses_a_folder_first_and_never_leaves_a_torn_file(tmp_path, monkeypatch, writer):
    import os

    from wafersim import errors

    write, error = _writers(tmp_path)[writer]
    for folder in (tmp_path, tmp_path / "missing" / "f.out"):
        with pytest.raises(error, match="is a folder|does not exist") as info:
            write(folder)
        assert info.value.path == str(folder)
    path = tmp_path / "f.out"
    assert write(path) == path
    before = path.read_bytes()

    def crash(source, target):   # the process dies (here: the disk fills) before the new file is complete
        raise OSError(28, "No space left on device")

    real = os.replace
    monkeypatch.setattr(errors.os, "replace", crash)
    with pytest.raises(error, match="No space left") as info:   # was (.wsb, training checkpoint): written in place
        write(path)
    assert info.value.path == str(path)
    monkeypatch.setattr(errors.os, "replace", real)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["f.out"]


def test_call_checked_names_a_call_that_does_not_fit_and_leaves_errors_from_inside_alone():
    from wafersim.errors import call_checked

    @call_checked
    def scale(x, factor=2):
        return x * factor  # ("a" * 2.5 is a TypeError from inside: not the caller's call)

    assert scale(3) == 6 and scale(3, factor=3) == 9
    with pytest.raises(ws.ArgumentTypeError, match=r"unexpected keyword argument 'factr'; did you mean 'factor'\? "
                                                   r"\(see help\(.*scale\)\)"):
        scale(3, factr=3)
    with pytest.raises(ws.ArgumentTypeError, match=r"unexpected keyword argument 'size' \(see help"):
        scale(3, size=3)  # (nothing close to suggest)
    with pytest.raises(ws.ArgumentTypeError, match="missing 1 required positional argument"):
        scale()
    with pytest.raises(TypeError) as info:
        scale("a", 2.5)
    assert not isinstance(info.value, ws.WaferError)

    @call_checked
    @contextlib.contextmanager
    def block(x):  # (the generator is called inside contextmanager's wrapper: a frame below `checked`)
        yield x + 1

    with block(1) as value:
        assert value == 2
    with pytest.raises(ws.ArgumentTypeError, match="takes 1 positional argument but 2 were given"):
        block(1, 2)
    with pytest.raises(TypeError) as info:
        with block("a"):
            pass
    assert not isinstance(info.value, ws.WaferError)


@pytest.mark.parametrize("word, choices, said", [
    ("max_cycle", ["max_cycles", "max_seconds", "trace"], "; did you mean 'max_cycles'?"),
    ("syncthread", ["syncthreads", "send", "recv"], "; did you mean 'syncthreads'?"),
    ("tarce", ["trace", "racecheck"], "; did you mean 'trace'?"),  # (two letters swapped)
    ("alpha", ["max_cycles", "trace"], ""),  # nothing close
    ("lanch", ["_lanch", "launch"], "; did you mean 'launch'?"),  # a private name is never suggested
    ("x", [], ""),
])
def test_did_you_mean_names_only_a_close_public_choice(word, choices, said):
    from wafersim.errors import did_you_mean

    assert did_you_mean(word, choices) == said


@pytest.mark.parametrize("package", ["wafersim.kernels.ml", "wafersim.kernels.sparse", "wafersim.kernels.classic",
                                     "wafersim.kernels.solvers"])
def test_a_librarys_host_functions_are_checked_and_pickle_as_themselves(package):
    """Every function a library package exports refuses an unknown keyword as an `ArgumentTypeError` (api.md; the
    solvers' `stencil7` and bandwidth tests raised Python's bare TypeError). Each is checked where it is defined
    (`@call_checked`); pickle finds a function by its `__module__` and `__qualname__` (a `multiprocessing` pool's or
    `ProcessPoolExecutor.map`'s task), and a package that rebound its exports to checked copies left the defining
    module's unchecked one there: 'not the same object', a PicklingError (stop 54's user54). Each comes back as the
    very function the package exports, still checked."""
    import importlib
    import inspect
    import pickle

    module = importlib.import_module(package)
    functions = [getattr(module, name) for name in module.__all__ if inspect.isfunction(getattr(module, name))]
    assert len(functions) >= 5
    for function in functions:
        assert pickle.loads(pickle.dumps(function)) is function
        # (the defining module's name is the checked function too: `from wafersim.kernels.sparse.spmv import spmv`)
        defined_in = importlib.import_module(inspect.unwrap(function).__module__)
        assert getattr(defined_in, function.__name__) is function
        with pytest.raises(ws.ArgumentTypeError, match="unexpected keyword argument 'not_a_parameter'"):
            pickle.loads(pickle.dumps(function))(not_a_parameter=1)


@pytest.mark.parametrize("package", ["wafersim", "wafersim.cluster", "wafersim.train", "wafersim.collectives"])
def test_every_exported_function_refuses_an_unknown_keyword_as_a_wafer_error(package):
    """Every function `ws`, the cluster, training and collectives layers export answers a call that does not fit with
    a `WaferError` (`ws.assemble`, `ws.disassemble`, `ws.resume_launch`, `ws.debug`, `cluster.split`,
    `tree_seconds`, `ray_available`, `train.default_device`, `synthetic_classification`, `wsc.tree_rounds` and
    `tree_channels` raised Python's bare TypeError: review55's list; `ws.jit`'s Numba options have their own
    messages, user55), and still pickles as itself. The math aliases are C builtins of `math`, for kernels."""
    import importlib
    import inspect
    import pickle

    module = importlib.import_module(package)
    functions = [getattr(module, name) for name in module.__all__
                 if inspect.isfunction(getattr(module, name))]
    assert len(functions) >= 2
    for function in functions:
        assert pickle.loads(pickle.dumps(function)) is function
        with pytest.raises(ws.WaferError):
            function(not_a_parameter=1)
