"""Keeping Numba's on-disk cache of the engine's compiled code consistent with its sources.

Numba re-compiles a cached function when the file that defines it changes, but not when a file it calls
into or takes constants from changes (its machine code has them inlined): the stream pump's `pump` has the
steps of `stream_pump_steps`, `stream_pump_closed` and `stream_pump_panel` compiled in, the interpreter spans
`kinds`, `table`, `arith`, `fabric_ops` and `simple_ops`. A checkout updated in place (`git pull` into an editable install)
would then run stale machine code: wrong results or a crash inside Numba. So this module keeps a hash of
every compiled source (`ENGINE_SOURCES`, and the modules whose constants they read) next to each cache
folder, and when any of them changed drops the cached machine code of all of them in that folder, before
the first cached function of the folder is defined (`compiled.jit.njit` calls `drop_if_stale`).

It also makes sure Numba has somewhere to keep that cache (`choose_cache_dir`): Numba refuses to define a
`cache=True` function at all ("cannot cache function ...: no locator available") where neither the
package's `__pycache__` folders nor the user's cache folder can be written -- a read-only install run by
a user without a writable home, as in many containers. And a damaged cache file (truncated by a full
disk or a crash) makes Numba raise a bare `pickle` error on every call that loads it: `damage_reported`
turns such an error into an `EngineCacheError` and empties that function's cache, so that the next call
compiles it again. And it lets the engine's cached functions load without Numba's target registries, which
their machine code never uses (`load_before_registries`: most of a process's Numba start-up), and without
parsing the LLVM module each keeps for linking into functions compiled later that call it, until one is
(`unserialize_lazily`: most of the time a load took), and without importing the modules of Numba's own whose
implementations their machine code has inlined (`environments_kept_unimported`: `numba.np.arrayobj`, ~0.035 s),
or starting Numba's third-party extensions, which only its compiler uses.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ...errors import EngineCacheError, WaferError

HERE = Path(__file__).resolve().parent
SIM = HERE.parent
#: The engine's files with cached Numba functions, relative to `sim/` (tests/test_numba_cache.py checks that
#: this lists every file that defines one).
ENGINE_SOURCES = (
    "background_kernels.py", "bandwidth_kernels.py", "descriptor_kernels.py", "fifo_kernels.py",
    "half_vector_kernels.py", "lockstep_kernels.py",
    "register_block_kernels.py", "routed_step_kernels.py", "stream_op_kernels.py", "stream_pump_closed.py",
    "stream_row_kernels.py", "stream_whole_kernels.py", "sum_kernels.py",
    "stream_pump_kernels.py", "stream_pump_panel.py", "stream_pump_steps.py", "trace_kernels.py",
    "compiled/arith.py", "compiled/fabric_ops.py", "compiled/interpreter.py", "compiled/scalar_transfers.py",
    "compiled/segments.py", "compiled/settle.py", "compiled/simple_ops.py", "compiled/half_arith.py",
    "compiled/routed_words.py", "compiled/transfers.py",
    "compiled/wake.py",
)
#: Files whose constants compiled code reads (inlined into its machine code) without defining a cached function.
CONSTANT_SOURCES = ("compiled/jit.py", "compiled/kinds.py", "compiled/table.py")
STAMP = "wafersim-engine.sha256"
_checked: set[Path] = set()  # cache folders checked in this process


@functools.cache  # (once a process: each cache folder's check asks for it)
def sources_hash() -> str:
    """A hash of every compiled source of the engine (`ENGINE_SOURCES`, `CONSTANT_SOURCES`)."""
    digest = hashlib.sha256()
    for name in ENGINE_SOURCES + CONSTANT_SOURCES:
        digest.update(name.encode() + b"\0" + (SIM / name).read_bytes())
    return digest.hexdigest()


def drop_if_stale(dispatcher) -> None:
    """Remove the engine's cached machine code (of every file of `ENGINE_SOURCES` whose cache lives there)
    from the cache folder of `dispatcher` (a `cache=True` function of the engine) unless it was written from
    the current sources; once per folder and process. Does nothing where the folder cannot be found or
    written (Numba then compiles in memory)."""
    try:
        directory = Path(dispatcher._cache._cache_path)  # (Numba's locator: __pycache__, NUMBA_CACHE_DIR, ...)
    except AttributeError:
        return
    if directory in _checked:
        return
    _checked.add(directory)
    stamp, current = directory / STAMP, sources_hash()
    try:
        if stamp.exists() and stamp.read_text() == current:
            return
        if directory.exists():
            stems = tuple(Path(name).stem + "." for name in ENGINE_SOURCES)
            for path in directory.iterdir():
                if path.name.startswith(stems) and path.suffix in (".nbi", ".nbc"):
                    path.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        stamp.write_text(current)
    except OSError:
        return


def _writable(directory: Path) -> bool:
    """Whether a file can be made in `directory` (created if missing), as Numba's cache locators test it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def choose_cache_dir() -> str | None:
    """Give Numba a cache folder of its own in the system's temporary folder (`NUMBA_CACHE_DIR`) where it
    has none: the package's `__pycache__` cannot be written, nor the user's cache folder, and the user set
    none. Returns the folder chosen, or None (nothing changed). Called before any `cache=True` function
    is defined (`wafersim.sim` imports it first); cheap, and it never imports Numba."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if _writable(HERE.parent / "__pycache__"):
        return None
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    if _writable(user_cache):
        return None
    chosen = Path(tempfile.gettempdir()) / f"wafersim-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    os.environ["NUMBA_CACHE_DIR"] = str(chosen)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # (Numba imported already: it read the variable at its import)
        numba_config.CACHE_DIR = str(chosen)
    return str(chosen)


def empty_damaged_cache(error: BaseException) -> bool:
    """Whether `error` was raised while Numba read a cache file (its `caching` module is on the traceback: a
    damaged file, not a fault of the kernel or the engine); if so, that function's cache index is emptied
    (Numba compiles it again on its next call and writes a fresh cache)."""
    traceback, damaged = error.__traceback__, False
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_filename.replace("\\", "/").endswith("numba/core/caching.py"):
            damaged = True
            cache = frame.f_locals.get("self")  # (the `Cache` whose file was being read)
            if hasattr(cache, "_cache_file") and hasattr(cache, "flush"):
                try:
                    cache.flush()
                except OSError:
                    pass
                return True
        traceback = traceback.tb_next
    return damaged


def load_cached(dispatcher) -> int:
    """Load every machine code of `dispatcher` (a `cache=True` function) that Numba's on-disk cache holds for
    its current source, as its first call of each signature would; never compiles. Returns how many it loaded.
    Only about when the loading happens (`startup.start`): it uses Numba's cache index, not a public API, so
    anything unexpected there (another Numba, a damaged file) loads nothing and leaves it to the calls."""
    try:
        cache = dispatcher._cache
        codegen = dispatcher.targetctx.codegen()
        loaded = 0
        for key, data_name in cache._cache_file._load_index().items():
            signature = key[0]
            # (written from this source, for this machine, its data file there: an index entry whose file is
            # gone makes Numba's `compile` compile it, seconds to minutes that `init` must not spend)
            if cache._index_key(signature, codegen) == key \
                    and os.path.exists(cache._cache_file._data_path(data_name)):
                dispatcher.compile(signature)
                loaded += 1
        return loaded
    except Exception:  # noqa: BLE001 (see the docstring: a launch loads it, or reports the damage, itself)
        return 0


#: Names of symbols that Numba's target registries give LLVM (`llvmlite.binding.add_symbol`) as they load:
#: machine code that refers to one cannot be linked before them. `numba.cpython.hashing`'s hash secret is the
#: only one (tests/test_numba_cache.py checks Numba's sources for others).
REGISTRY_SYMBOLS = (b"_numba_hashsecret_",)
#: Numba releases (major, minor) whose sources were checked for other registry symbols (tests/test_numba_cache.py
#: does it for the one installed): with any other release `load_before_registries` leaves Numba's own loading.
VERIFIED_NUMBA = ((0, 68),)


def numba_verified() -> bool:
    """Whether the installed Numba is one of `VERIFIED_NUMBA` (its registries give LLVM no symbol but
    `REGISTRY_SYMBOLS`), so that machine code may load before them. (Numba as `jit` imported it: the engine's
    one module that imports Numba, tests/test_compiled_jit.py; not imported yet, nothing loads either.)"""
    numba = sys.modules.get("numba")
    try:
        return tuple(int(part) for part in numba.__version__.split(".")[:2]) in VERIFIED_NUMBA
    except (AttributeError, ValueError):
        return False


def needs_registries(payload) -> bool:
    """Whether cached machine code (`payload`: what Numba's cache file holds for one signature, a reduced
    `CompileResult`) may need Numba's target registries loaded: anything but plain nopython machine code
    (object code, and bitcode shared with callers) free of `REGISTRY_SYMBOLS`, or a layout not known here."""
    try:
        (_, kind, (object_code, shared_bitcode)), _, _, _, objectmode, lifted, _, reload_init, _ = payload
        return (kind != "object" or objectmode or bool(lifted) or bool(reload_init)
                or any(symbol in code for symbol in REGISTRY_SYMBOLS for code in (object_code, shared_bitcode)))
    except (TypeError, ValueError):
        return True


def load_before_registries(dispatcher, runtime) -> None:
    """Make Numba load `dispatcher`'s cached machine code (a `cache=True` function of the engine) without
    first loading its target registries, as it does for any cached function otherwise (~0.35 s of CPU on the
    reference VM, SciPy's `scipy.linalg` among them: most of a small first launch's start-up). Registries are
    what Numba compiles with (its implementations of Python and NumPy); machine code compiled already needs only
    Numba's runtime (NRT: `runtime`, its `rtsys`, initialized here) and the symbols it links to, none of which the
    registries give but `REGISTRY_SYMBOLS` (code referring to one, or anything unusual: `needs_registries`, gets
    them first). A signature the cache lacks compiles as before (Numba's compiler loads the registries itself). It
    uses Numba's cache internals, as `load_cached` does; where they differ, or with a Numba release not checked
    (`numba_verified`), Numba's own loading stays."""
    if not numba_verified():
        return
    cache = getattr(dispatcher, "_cache", None)
    impl = getattr(cache, "_impl", None)
    if not (callable(getattr(cache, "_load_overload", None)) and callable(getattr(impl, "rebuild", None))
            and hasattr(cache, "_guard_against_spurious_io_errors") and hasattr(cache, "load_overload")):
        return
    rebuild = impl.rebuild

    def load_overload(signature, target_context):  # (Numba's `Cache.load_overload` without its `refresh()`)
        runtime.initialize(target_context)  # (what loading the registries starts with; once per process)
        with cache._guard_against_spurious_io_errors(), environments_kept_unimported():
            return cache._load_overload(signature, target_context)
        return None  # (the guard swallowed an error, as Numba's own method returns then)

    def rebuild_with_registries_if_needed(target_context, payload):
        if needs_registries(payload):
            target_context.refresh()
            return rebuild(target_context, payload)
        codegen = target_context.codegen()
        try:
            fndesc = payload[1]
            names = (fndesc.llvm_func_name, fndesc.llvm_cpython_wrapper_name, target_context.get_env_name(fndesc))
            symbols = codegen._engine._defined_symbols
        except (AttributeError, IndexError, TypeError):
            return rebuild(target_context, payload)
        # (Numba's rebuild takes the library from `codegen.unserialize_library`: this call's, for this load only,
        # under Numba's compiler lock, which `Dispatcher.compile` holds)
        codegen.unserialize_library = lambda state: unserialize_lazily(codegen, state, names, symbols)
        try:
            return rebuild(target_context, payload)
        finally:
            del codegen.unserialize_library

    cache.load_overload = load_overload
    impl.rebuild = rebuild_with_registries_if_needed
    if callable(getattr(dispatcher, "_compilation_chain_init_hook", None)):
        # Numba's first call of any function starts its third-party extensions (`entrypoints.init_all`: a scan of
        # every installed package's entry points, 3-3.5 ms of CPU on the stop-55 VM with 76 packages), which only
        # its compiler uses: the engine's functions leave that to the first function that Numba compiles (its
        # registries start them) or that is not the engine's.
        dispatcher._compilation_chain_init_hook = _extensions_left_to_the_compiler


def _extensions_left_to_the_compiler() -> None:
    """An engine function's `_compilation_chain_init_hook` (`load_before_registries`): nothing."""


def rebuild_environment_unimported(original):
    """Numba's `numba.core.environment._rebuild_env` (`original`: what unpickling cached machine code calls for each
    environment the code refers to, its own and those of the functions compiled into it), except that an
    environment of one of Numba's own modules not imported yet (`numba.np.arrayobj`, whose implementations of
    `np.empty` and array slicing the engine's code inlines: ~0.035 s of CPU to import, with `numba.cpython.unicode`
    and `charseq`) gets a stand-in for that module's globals, a dict holding only its name, instead of the module's
    own. An environment's globals are read only by code compiled in object mode (`numba.core.pylowering`), never
    by nopython code such as Numba's implementations; its constants, which nopython code does read, are the cached
    ones either way. Any other environment: `original`."""
    environment = sys.modules["numba.core.environment"]

    def rebuild(modname, consts, env_name):
        if not (isinstance(modname, str) and modname.startswith("numba.")) or modname in sys.modules:
            return original(modname, consts, env_name)
        env = environment.lookup_environment(env_name)
        if env is None:
            env = environment.Environment({"__name__": modname})
            env.consts[:] = consts
            env.env_name = env_name
            environment.Environment._memo[env_name] = env
        return env
    return rebuild


@contextlib.contextmanager
def environments_kept_unimported() -> Iterator[None]:
    """Within the block, unpickled environments of Numba's modules not imported yet leave them unimported
    (`rebuild_environment_unimported`): for loading the engine's cached machine code, under Numba's compiler lock
    (`Dispatcher.compile` holds it), as `unserialize_lazily` is. Where Numba's module lacks the function, nothing."""
    environment = sys.modules.get("numba.core.environment")
    original = getattr(environment, "_rebuild_env", None)
    if original is None:
        yield
        return
    environment._rebuild_env = rebuild_environment_unimported(original)
    try:
        yield
    finally:
        environment._rebuild_env = original


_LAZY_CLASSES: dict[type, type] = {}


def lazily_linked(library_class: type) -> type:
    """A subclass of `library_class` (Numba's code library) whose module for linking into other libraries
    (`_shared_module`) is parsed from the cached bitcode (`_wafersim_bitcode`) when something asks for it: a
    function compiled later that calls this one, an `inspect_llvm`. (One class per base, made once.)"""
    lazy = _LAZY_CLASSES.get(library_class)
    if lazy is None:
        def shared_module(self):
            bitcode = self.__dict__.pop("_wafersim_bitcode", None)
            if bitcode is not None:
                self.__dict__["_wafersim_shared"] = sys.modules["llvmlite.binding"].parse_bitcode(bitcode)
            return self.__dict__.get("_wafersim_shared")

        def set_shared_module(self, module):
            self.__dict__.pop("_wafersim_bitcode", None)
            self.__dict__["_wafersim_shared"] = module

        lazy = _LAZY_CLASSES[library_class] = type(library_class.__name__, (library_class,), {
            "_shared_module": property(shared_module, set_shared_module), "__doc__": lazily_linked.__doc__})
    return lazy


def unserialize_lazily(codegen, state, names: tuple[str, ...], symbols: set):
    """Numba's `CPUCodeLibrary._unserialize` of cached machine code (`state`: name, "object", (object code, shared
    bitcode)) without parsing the shared bitcode, an LLVM module as large as the function with all it inlines
    (the interpreter's: 0.4 MB, most of its 0.07-0.08 s load): the library parses it if something links to it
    (`lazily_linked`), and the engine learns the symbols the dispatcher looks up (`names`: the function, its
    CPython wrapper, its environment) instead of every symbol of that module. Any other state: Numba's own."""
    name, kind, data = state
    if kind != "object":
        return type(codegen)._library_class._unserialize(codegen, state)
    object_code, shared_bitcode = data
    library = codegen.create_library(name)
    library.__class__ = lazily_linked(type(library))
    library.enable_object_caching()
    library._set_compiled_object(object_code)
    library.__dict__["_wafersim_bitcode"] = shared_bitcode
    library._finalize_final_module()
    symbols.update(names)
    return library


@contextlib.contextmanager
def damage_reported() -> Iterator[None]:
    """Run the block; an error it raises reading a damaged cache file of Numba's becomes an
    `EngineCacheError` (that function's cache emptied: the next launch compiles it again)."""
    try:
        yield
    except WaferError:
        raise
    except Exception as error:
        if empty_damaged_cache(error):
            raise EngineCacheError(f"a file of Numba's on-disk cache of the engine's compiled code could not be read "
                                   f"({type(error).__name__}: {error}); that cache was emptied: launch again (the "
                                   f"next launch compiles the function again, which can take a minute)") from error
        raise
