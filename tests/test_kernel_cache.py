"""The on-disk cache of compiled kernels (`wafersim.runtime.kernel_cache`): a kernel loaded from it is the
program the compiler makes, and its key changes with everything the compilation depends on (never stale)."""
from __future__ import annotations

import types

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import KernelSignature, PASS_NAMES
from wafersim.runtime import jit, kernel_cache

from conftest import assert_same_program, load_source

SPEC = ws.WaferSpec(width=8, height=4)
SIGNATURE = (("array", "f32", 1), ("array", "f32", 1), ("scalar", "i32"))

KERNEL = '''
import numpy as np
import wafersim as ws

SCALE = {scale}


@ws.jit
def helper(v):
    return v * {helper_factor}


@ws.jit
def kernel(x, out, n):
    i = ws.grid(1)
    if i < n:
        out[i] = helper(x[i]) * SCALE + {constant}
'''


def module(tmp_path, name="k", scale=2.0, helper_factor=3.0, constant=1.0):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return load_source(folder, KERNEL.format(scale=scale, helper_factor=helper_factor, constant=constant))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache switched on, in a directory of this test; counts real compilations."""
    monkeypatch.setattr(kernel_cache, "ENABLED", True)
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", str(tmp_path / "cache"))
    compiled = []
    original = jit.compile_kernel
    monkeypatch.setattr(jit, "compile_kernel", lambda *args, **kwargs: compiled.append(args[0]) or original(*args, **kwargs))
    return compiled


def launch(kernel, x=None):
    dev = ws.Device(SPEC)
    x = np.arange(8, dtype=np.float32) if x is None else x
    d_x, d_out = dev.to_device(x), dev.device_array(8, np.float32)
    stats = kernel[1, 8](d_x, d_out, 8)
    return d_out.copy_to_host(), stats


def key_of(kernel, signature=SIGNATURE, boundscheck=True):
    """The key of all but the machine (`program_key`): what the machine adds is tested with `find` below."""
    return kernel_cache.program_key(kernel.py_func, signature, boundscheck)


def test_a_second_process_loads_the_program_the_compiler_made(tmp_path, cache):
    first = module(tmp_path).kernel
    out, stats = launch(first)
    assert len(cache) == 1 and len(list((tmp_path / "cache").glob("*.pkl"))) == 1
    again = jit.Dispatcher(first.py_func)  # (a fresh dispatcher: as in a new process)
    out2, stats2 = launch(again)
    assert len(cache) == 1  # loaded, not compiled
    loaded = again._compiled()
    assert loaded.from_disk_cache
    assert_same_program(loaded.program, first._compiled().program)
    np.testing.assert_array_equal(out2, out)
    assert stats2.cycles == stats.cycles and stats2.instructions == stats.instructions
    np.testing.assert_array_equal(out, (np.arange(8, dtype=np.float32) * 3 * 2 + 1).astype(np.float32))
    # The IR after each pass is not kept on disk: asking for it compiles again, to the same program.
    assert again.inspect_ir(after=PASS_NAMES[-1]) == first.inspect_ir(after=PASS_NAMES[-1])
    assert len(cache) == 2
    assert_same_program(again._compiled().program, loaded.program)


def test_the_key_changes_with_everything_the_compilation_depends_on(tmp_path, cache, monkeypatch):
    base = module(tmp_path, "base").kernel
    keys = {key_of(base)}
    assert None not in keys
    assert key_of(module(tmp_path, "same").kernel) != key_of(base)  # another file (debug information)
    variants = [module(tmp_path, "scale", scale=2.5).kernel, module(tmp_path, "helper", helper_factor=4.0).kernel,
                module(tmp_path, "constant", constant=1.5).kernel]
    # Same file name and lines as `base` but a changed global: the key must differ.
    for variant in variants:
        keys.add(key_of(variant))
    base.py_func.__globals__["SCALE"] = 7.0
    keys.add(key_of(base))
    base.py_func.__globals__["SCALE"] = 2.0
    assert key_of(base) in keys
    keys.add(key_of(base, signature=SIGNATURE[:2] + (("constant", "i32", 8),)))
    keys.add(key_of(base, boundscheck=False))
    monkeypatch.setattr(kernel_cache, "compiler_version", lambda: "another compiler")
    keys.add(key_of(base))
    assert len(keys) == 1 + len(variants) + 4


def test_closure_constants_are_in_the_key(cache):
    def make(tile):
        @ws.jit
        def scaled(x, out, n):
            i = ws.grid(1)
            if i < n:
                out[i] = x[i] * tile
        return scaled

    two, three = make(2.0), make(3.0)
    assert key_of(two) != key_of(three) and key_of(two) == key_of(make(2.0))
    out2, _ = launch(two)
    out3, _ = launch(three)
    np.testing.assert_array_equal(out3, np.arange(8, dtype=np.float32) * 3)
    assert len(cache) == 2
    out3_again, _ = launch(make(3.0))
    assert len(cache) == 2
    np.testing.assert_array_equal(out3_again, out3)



def test_a_nan_constant_is_in_the_key_by_its_sign_and_payload(cache):
    """Every nan's repr is "nan": keyed by repr, a kernel compiled for G = math.nan was loaded for G = -math.nan
    (in another process), and `math.copysign(1.0, G)` gave 1.0 where Python gives -1.0."""
    import math

    def make(g):
        @ws.jit
        def signed(x, out, n):
            i = ws.grid(1)
            if i < n:
                out[i] = math.copysign(1.0, g) + x[i]
        return signed

    payload = np.uint32(0x7FC00123).view(np.float32)
    values = (math.nan, -math.nan, np.float32(math.nan), np.float32(-math.nan), payload)
    keys = [key_of(make(g)) for g in values]
    assert len(set(keys)) == len(keys) and key_of(make(-math.nan)) == keys[1]
    for g in values:
        out, _ = launch(make(g))
        np.testing.assert_array_equal(out, np.arange(8, dtype=np.float32) + math.copysign(1.0, float(g)))


ANNOTATED = '''
import wafersim as ws

ACC = {acc}


@ws.jit
def low_bit(v):
    t: ACC = 0  # Python never evaluates this annotation: ACC is in no code object
    t += v  # 16777217 as a float32 is 16777216: the low bit survives in int32 only
    return t - 16777216


@ws.jit
def kernel(x, out, n):
    i = ws.grid(1)
    if i < n:
        out[i] = low_bit(16777217) + x[i]
'''


def test_names_in_annotations_are_in_the_key(tmp_path, cache):
    """A device function's `t: ACC = 0` types `t` by ACC: a later process with another ACC must not load
    the old program (it did, running the float program for an int ACC)."""
    outs = {}
    for acc in ("float", "int"):
        folder = tmp_path / acc
        folder.mkdir()
        kernel = load_source(folder, ANNOTATED.format(acc=acc)).kernel
        outs[acc], _ = launch(kernel)
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(outs["float"], x + 0)  # Python with float32: float32(16777217) - 16777216
    np.testing.assert_array_equal(outs["int"], x + 1)
    # Same file and lines, only ACC's value changed (as in a later process): another key.
    before = key_of(kernel)
    kernel.py_func.__globals__["ACC"] = float
    assert key_of(kernel) != before
    kernel.py_func.__globals__["ACC"] = int
    assert key_of(kernel) == before


SETTINGS = types.ModuleType("user_settings")  # a user's module: its attributes could change unseen
SETTINGS.FACTOR = 2.0


@ws.jit
def uses_a_module(x, out, n):
    i = ws.grid(1)
    if i < n:
        out[i] = x[i] * SETTINGS.FACTOR


def test_a_kernel_that_reads_a_user_module_is_not_cached(cache, tmp_path):
    assert key_of(uses_a_module) is None
    out, _ = launch(uses_a_module)
    SETTINGS.FACTOR = 3.0
    try:
        out3, _ = launch(jit.Dispatcher(uses_a_module.py_func))
    finally:
        SETTINGS.FACTOR = 2.0
    np.testing.assert_array_equal(out3, out * 1.5)
    assert len(cache) == 2 and not (tmp_path / "cache").exists()


def test_an_unreadable_file_means_compiling(tmp_path, cache):
    kernel = module(tmp_path).kernel
    out, _ = launch(kernel)
    for path in (tmp_path / "cache").glob("*.pkl"):
        path.write_bytes(b"not a pickle")
    out2, _ = launch(jit.Dispatcher(kernel.py_func))
    assert len(cache) == 2
    np.testing.assert_array_equal(out2, out)


def test_switched_off_it_writes_nothing(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(kernel_cache, "ENABLED", False)
    kernel = module(tmp_path).kernel
    launch(kernel)
    launch(jit.Dispatcher(kernel.py_func))
    assert len(cache) == 2 and not (tmp_path / "cache").exists()


def test_the_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", str(tmp_path / "here"))
    assert kernel_cache.directory() == tmp_path / "here"
    monkeypatch.delenv("WAFERSIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.directory() == tmp_path / "xdg" / "wafersim" / "kernels"


@pytest.mark.parametrize("under", ["", "sub/folder"])
def test_a_cache_dir_that_is_a_file_is_an_error_naming_the_variable(tmp_path, cache, monkeypatch, under):
    (tmp_path / "a-file").write_text("not a folder")
    value = str(tmp_path / "a-file" / under) if under else str(tmp_path / "a-file")
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", value)
    with pytest.raises(ws.ArgumentError, match="WAFERSIM_CACHE_DIR=.* is not a folder: .*a-file' is a file") as info:
        launch(module(tmp_path).kernel)   # was: accepted, every kernel compiled again without a word
    assert (info.value.variable, info.value.value) == ("WAFERSIM_CACHE_DIR", value) and cache == []
    monkeypatch.setenv("WAFERSIM_CACHE_DIR", str(tmp_path / "new" / "cache"))   # a missing folder: created
    launch(module(tmp_path).kernel)
    assert len(list((tmp_path / "new" / "cache").glob("*.pkl"))) == 1


LOCAL = ws.local  # (an intrinsic object whose repr holds its address)


@ws.jit
def uses_local_directly(x, out, n):
    i = ws.grid(1)
    buf = LOCAL.array(4, np.float32)
    buf[0] = x[i]
    if i < n:
        out[i] = buf[0]


def test_keys_of_intrinsic_objects_do_not_depend_on_the_process():
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, {tests!r}); import test_kernel_cache as t; "
            "print(t.key_of(t.uses_local_directly))").format(tests=str(__import__("pathlib").Path(__file__).parent))
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)}
    assert keys == {key_of(uses_local_directly)} and None not in keys


def test_library_kernels_have_keys():
    from wafersim.kernels import reduce, scan

    kernels = [k for module_ in (reduce, scan) for k in vars(module_).values() if getattr(k, "__wafersim_jit__", False)]
    assert kernels and all(key_of(k) is not None for k in kernels)
    assert KernelSignature(SIGNATURE).args == SIGNATURE


def test_warm_up_does_the_source_readers_first_use_and_changes_no_key():
    # `ws.init()` calls `warm_up`: Python's tokenizer compiles its expressions on first use (a first launch's
    # `key` paid it); afterwards a kernel's key is the one a process without the warm-up computes.
    import subprocess
    import sys

    code = ("import sys, tokenize; sys.path.insert(0, {tests!r}); import test_kernel_cache as t\n"
            "from wafersim.runtime import kernel_cache\n"
            "if sys.argv[1] == 'warm': kernel_cache.warm_up()\n"
            "info = getattr(tokenize._compile, 'cache_info', None)\n"
            "print(info().currsize if info else -1)\n"
            "print(t.key_of(t.uses_local_directly))").format(tests=str(__import__("pathlib").Path(__file__).parent))
    runs = {mode: subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                 check=True).stdout.split() for mode in ("cold", "warm")}
    assert runs["warm"][1] == runs["cold"][1] == key_of(uses_local_directly)
    if runs["cold"][0] != "-1":  # (a tokenizer that caches its compiled expressions: Python 3.11)
        assert int(runs["cold"][0]) == 0 and int(runs["warm"][0]) > 0


def test_the_pipeline_is_in_the_key(tmp_path, cache):
    """bench/compiler.py swaps `PASSES` in place to measure before and after the SSA passes: a kernel compiled
    then must be the other pipeline's program, not the default one's loaded from the cache."""
    from wafersim.compiler import compile_kernel
    from wafersim.compiler.passes import BASELINE_PASSES, PASSES

    kernel = module(tmp_path).kernel
    dev = ws.Device(SPEC)
    args = (dev.to_device(np.arange(8, dtype=np.float32)), dev.device_array(8, np.float32), 8)
    default = kernel.compile_for(*args, device=dev)
    saved = list(PASSES)
    PASSES[:] = BASELINE_PASSES  # (restored in place below, as bench/compiler.py does)
    try:
        other_key = key_of(kernel)
        fresh = jit.Dispatcher(kernel.py_func)
        baseline = fresh.compile_for(*args, device=dev)
        reference = compile_kernel(kernel.py_func, KernelSignature(SIGNATURE), SPEC)  # (PASSES: the baseline)
        PASSES[:] = [(name, lambda fn, undefined: None) if name == "dce2" else (name, run) for name, run in saved]
        foreign_key = key_of(kernel)
    finally:
        PASSES[:] = saved
    assert other_key != key_of(kernel) and other_key is not None
    assert foreign_key is None  # a pass from outside the package: its source is in no key
    assert not baseline.from_disk_cache and len(cache) == 2
    assert_same_program(baseline.program, reference.program)
    assert baseline.asm_text != default.asm_text


SCRIPT = '''
import numpy as np
import wafersim as ws
from helpers_{tag} import scaled

OFFSET = {offset}


@ws.jit
def kernel(out, a):
    out[0] = scaled(a) + OFFSET


dev = ws.Device(ws.WaferSpec(width=4, height=4))
out = dev.device_array(1, np.float32)
kernel[1, 1](out, 3)
print(out.copy_to_host()[0], kernel.cache[kernel._last].from_disk_cache)
'''

HELPERS_MODULE = '''
import wafersim as ws

SCALE = {scale}


@ws.jit
def scaled(v):
    return {body}
'''


def test_a_fresh_process_after_an_edit_never_loads_the_stale_program(tmp_path):
    """Run a script, edit what its kernel depends on (a called device function's global, its body, the
    kernel's own global), run it again in a fresh process: each edit compiles anew, and gives what the
    current source computes; an unchanged source loads the stored program."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, WAFERSIM_KERNEL_CACHE="1", WAFERSIM_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONDONTWRITEBYTECODE="1",  # (a .pyc of a same-size edit in the same second would be stale)
               PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))

    def run(scale, body, offset):
        (tmp_path / "helpers_x.py").write_text(HELPERS_MODULE.format(scale=scale, body=body))
        (tmp_path / "main_x.py").write_text(SCRIPT.format(tag="x", offset=offset))
        done = subprocess.run([sys.executable, str(tmp_path / "main_x.py")], env=env, capture_output=True,
                              text=True, check=True)
        value, from_disk = done.stdout.split()
        return float(value), from_disk == "True"

    assert run(2, "v * SCALE", 1) == (3 * 2 + 1, False)
    assert run(2, "v * SCALE", 1) == (3 * 2 + 1, True)
    assert run(5, "v * SCALE", 1) == (3 * 5 + 1, False)         # the device function's global
    assert run(5, "v * SCALE + 100", 1) == (3 * 5 + 100 + 1, False)  # its body
    assert run(5, "v * SCALE + 100", 7) == (3 * 5 + 100 + 7, False)  # the kernel's global
    assert run(2, "v * SCALE", 1) == (3 * 2 + 1, True)           # back as it was: that program again


def test_the_passes_of_a_loaded_program_are_never_another_programs(tmp_path, cache):
    """`inspect_ir(after=...)` compiles a loaded kernel again; with a global changed since, that would be
    another program, which the launches after it ran: refused instead, and the loaded program stays."""
    first = module(tmp_path).kernel
    launch(first)
    loaded = jit.Dispatcher(first.py_func)
    expected = (np.arange(8, dtype=np.float32) * 3 * 2 + 1).astype(np.float32)
    np.testing.assert_array_equal(launch(loaded)[0], expected)
    assert loaded._compiled().from_disk_cache
    loaded.py_func.__globals__["SCALE"] = 7.0
    try:
        with pytest.raises(ws.LaunchError, match="has changed since"):
            loaded.inspect_ir(after="dce")
        assert loaded.inspect_ir() and loaded.inspect_asm()  # (the loaded program's own texts)
        np.testing.assert_array_equal(launch(loaded)[0], expected)  # read at the first compile, and kept
    finally:
        loaded.py_func.__globals__["SCALE"] = 2.0
    assert loaded.inspect_ir(after="dce") == first.inspect_ir(after="dce")


def test_a_kept_source_is_read_once_and_the_key_is_what_reading_it_again_gives(tmp_path, monkeypatch):
    # `warm_up` (ws.init) reads the source of every @ws.jit function defined so far; a key made from those
    # facts equals one made by reading the source afresh, and a changed global still changes it.
    from wafersim.compiler import sources

    mod = module(tmp_path)
    monkeypatch.setattr(kernel_cache, "_SOURCE_FACTS", type(kernel_cache._SOURCE_FACTS)())
    fresh = kernel_cache.program_key(mod.kernel.py_func, SIGNATURE, True)
    kernel_cache._SOURCE_FACTS.clear()
    kernel_cache.warm_up()
    assert mod.kernel.py_func in kernel_cache._SOURCE_FACTS and mod.helper.py_func in kernel_cache._SOURCE_FACTS
    reads = []
    original = sources.kept_source_lines
    monkeypatch.setattr(sources, "kept_source_lines", lambda func: reads.append(func) or original(func))
    assert kernel_cache.program_key(mod.kernel.py_func, SIGNATURE, True) == fresh
    assert reads == []  # (both functions' texts came from what warm_up read)
    monkeypatch.setattr(mod, "SCALE", 5.0)  # (values are looked up at every key: not kept)
    assert kernel_cache.program_key(mod.kernel.py_func, SIGNATURE, True) != fresh


def test_a_function_given_another_code_object_is_read_again(tmp_path, monkeypatch):
    mod = module(tmp_path)
    kernel = mod.kernel.py_func
    before = kernel_cache._source_facts(kernel)
    monkeypatch.setattr(kernel, "__code__", mod.helper.py_func.__code__)  # (another first line, other names)
    after = kernel_cache._source_facts(kernel)
    assert after != before and after[0].startswith("@ws.jit\ndef helper(v):") and "SCALE" not in after[2]
    kernel_cache._SOURCE_FACTS.clear()
    assert kernel_cache._source_facts(kernel) == after  # (what reading it afresh gives)


def test_a_source_read_from_the_file_is_not_kept(tmp_path):
    # A plain function a kernel calls: no text was kept when it was decorated, so its file is read every
    # time (it may change), and nothing is kept for it.
    folder = tmp_path / "plain"
    folder.mkdir()
    mod = load_source(folder, "def plain(v):\n    return v + 1\n")
    text, first, names = kernel_cache._source_facts(mod.plain)
    assert text == "def plain(v):\n    return v + 1\n" and first == 1 and names == frozenset()  # (v: a local)
    assert mod.plain not in kernel_cache._SOURCE_FACTS
