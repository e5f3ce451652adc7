"""The on-disk cache of compiled `@ws.jit` kernels (like Numba's `cache=True` or CUDA's compute cache).

A process compiles each kernel specialisation on its first launch (0.1-0.5 s for the benchmarks'
kernels); this cache keeps the result (`compiler.Compiled`, pickled) in a file per specialisation, so a
later process on the same machine loads it instead (a few milliseconds). A file also holds its program's
SHA-256, so that a damaged one is compiled again, never run (`load`).

Where: `$WAFERSIM_CACHE_DIR` if set, else `$XDG_CACHE_HOME/wafersim/kernels`, else
`~/.cache/wafersim/kernels`. Off: `WAFERSIM_KERNEL_CACHE=0` (or `ENABLED = False` here; the test suite
turns it off). Nothing is ever evicted: delete the directory to empty it. The same folder, under the same
switch, keeps large route traces (`sim.trace_store`: `<key>.routes` files, bounded, least recently used
out) and programs' static analyses (`sim.facts_store`: `<hash>.facts` files, keyed by `compiler_version`, never
evicted). A directory that cannot be written, or a file that cannot be read, only means compiling as without
the cache.

The key (`key`) holds everything a compilation depends on, so that a cached program is never stale:

- the compiler's own version: a hash of every source file of the wafersim package (the compiler, and
  any library module a kernel reads constants from or calls device functions of; 4 ms per process) and
  the package version, with the Python and NumPy versions (pickles and dtypes);
- the kernel: its file name, first line and source text (line numbers go into the debug information),
  and, for every name its code mentions (annotations included: `acc: ACC = 0` is never evaluated by
  Python, yet types `acc`), the value that name has in its globals or closure, fingerprinted
  by value: numbers (floats and NumPy scalars by their bits too: every nan's repr is "nan"), strings,
  tuples, dtypes and arrays (their bytes), the modules the front end reads attributes of (NumPy, `math`,
  wafersim's), and functions and `@ws.jit` device functions it calls (their own source and names,
  recursively). A name bound to anything else -- an object of a user
  class, a user module whose attributes could change -- makes the kernel uncacheable: it is compiled
  every time, as without the cache;
- the specialisation: the argument types and `ws.constant` values (`KernelSignature`) and `boundscheck`;
- the machine as the compilation read it (`compiler.spec_reads`): the fields it read, with their values,
  so that a machine differing only in fields the compiler never reads (a clock, a latency, a cost table)
  loads the program, as `@ws.jit` reuses one in memory; a compilation that read the spec whole (a method,
  a private attribute) is keyed by every field (`WaferSpec.cache_key`), as before.
- the optimisation pipeline, `compiler.passes.PASSES`, pass by pass (bench/compiler.py swaps in another
  list to measure before and after: a program the default pipeline made must not stand in for it). A pass
  from outside the package, whose source the compiler version does not hash, makes every kernel uncacheable.

All but the machine is `program_key`, known before compiling; which fields a compilation reads is known only
after it. So each program key has an index, `<program key>.fields`: the lists of field names its compilations
read, one a line. A lookup (`find`) tries each list with the machine's values of those fields, then the whole
spec; a file found holds its reads, and is taken only if the machine has their values (`reads_match`).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import struct
import sys
import types
import weakref
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..arch.spec import WaferSpec
from ..compiler.backend import Compiled
from ..compiler.spec_reads import SpecReads, reads_match, reads_of
from ..envvars import env_flag
from ..errors import ArgumentError
from ..sim import facts_store, trace_store
from ..sim.cache_files import read_checked, write_checked

#: Use the cache (`WAFERSIM_KERNEL_CACHE=0` turns it off at import; the tests set this to False).
ENABLED: bool = env_flag("WAFERSIM_KERNEL_CACHE", True, at_import=True)

#: Modules whose attributes a kernel may read and stay cacheable: they change only with their versions
#: (NumPy's is in the key; wafersim's sources are).
_STABLE_MODULES = ("numpy", "math", "cmath", "ml_dtypes", "wafersim")
_MAX_DEPTH = 16  # device functions calling device functions: deeper than this is not cached


class Uncacheable(Exception):
    """A kernel whose compilation depends on something the key cannot fingerprint."""


def directory() -> Path:
    """Where the cache's files are (see the module's docstring). A `WAFERSIM_CACHE_DIR` that names a file,
    or a folder inside one, is an `ArgumentError` naming the variable: the cache could never be written
    there, and every process would compile every kernel again without a word."""
    chosen = os.environ.get("WAFERSIM_CACHE_DIR")
    if chosen:
        path = Path(chosen)
        try:  # the nearest part that exists, which mkdir would create the rest under
            existing = next((p for p in (path, *path.parents) if p.exists()), None)
        except OSError:  # (a folder that cannot be read: the cache is not written, as for any unwritable one)
            existing = None
        if existing is not None and not existing.is_dir():
            raise ArgumentError(f"WAFERSIM_CACHE_DIR={chosen!r} is not a folder: {str(existing)!r} is a file; set "
                                f"it to a folder for the kernel cache (created if missing), or unset it for the "
                                f"default", variable="WAFERSIM_CACHE_DIR", value=chosen)
        return path
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wafersim" / "kernels"


@functools.lru_cache(maxsize=1)
def compiler_version() -> str:
    """A hash of the compiler's sources and the versions the pickled programs depend on."""
    import wafersim

    root = os.path.realpath(os.path.dirname(wafersim.__file__))
    digest = hashlib.sha256()
    digest.update(f"{wafersim.__version__}|{sys.version}|{np.__version__}".encode())
    # (os.walk and open, not Path.rglob and read_bytes: the same files, ~4 ms of a process's first compile
    # instead of ~6.5, which pathlib spent making and sorting 245 Path objects)
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names if name.endswith(".py"))
    for path in paths:
        digest.update(path[len(root) + 1:].encode())  # (its path inside the package)
        with open(path, "rb") as file:
            digest.update(file.read())
    return digest.hexdigest()


def warm_up() -> None:
    """Do ahead (`wafersim.init`) what a process's first `key` pays for whatever the kernel: Python compiles the
    regular expressions that `inspect` and `tokenize` read a function's source with on their first use, some
    0.3-0.5 ms of a small first launch (a one-row scan's ~5 ms). Reads this function's own source. Then, as
    CUDA's eager module loading loads every kernel of the modules loaded, it reads the source of every
    `@ws.jit` function defined so far (`_source_facts`: ~0.2 ms each, which their first launches then skip)."""
    import inspect

    try:
        lines, _ = inspect.getsourcelines(warm_up)
        _names(warm_up.__code__, "".join(lines))
    except (OSError, TypeError, Uncacheable):  # (no sources installed: `key` finds none either)
        pass
    from ..compiler.sources import kept_functions

    for func in kept_functions():
        try:
            _source_facts(func)
        except (OSError, TypeError, Uncacheable):  # (its launch finds it uncacheable the same way)
            pass


#: Per function whose source `@ws.jit` kept (`compiler.sources.kept_source_lines`): (its code object, its
#: source text, first line, the names it mentions). The kept text never changes, so this is read once per
#: process (`warm_up` reads it for every such function at `wafersim.init`); a function given another code
#: object is read again.
_SOURCE_FACTS: "weakref.WeakKeyDictionary[Callable, tuple]" = weakref.WeakKeyDictionary()


def _source_facts(func: Callable) -> tuple[str, int, frozenset[str]]:
    """(source text, first line number, the names the code and its annotations mention) of `func`."""
    from ..compiler.sources import kept_source_lines, source_lines

    code = func.__code__
    try:
        known = _SOURCE_FACTS.get(func)
    except TypeError:  # (cannot be weakly referenced: read every time)
        known = None
    if known is not None and known[0] is code:
        return known[1:]
    kept = kept_source_lines(func)
    lines, first = kept if kept is not None else source_lines(func)
    text = "".join(lines)
    facts = (text, first, frozenset(_names(code, text)))
    if kept is not None:  # (a text read from the file as it is now may change: read again next time)
        try:
            _SOURCE_FACTS[func] = (code, *facts)
        except TypeError:
            pass
    return facts


def _names(code: types.CodeType, source: str) -> set[str]:
    """Every name the code (and the code of functions, lambdas, comprehensions inside it) mentions, and
    every name in the annotations of its source: Python never evaluates a local variable's annotation
    (`acc: ACC = 0`), so `ACC` is in no code object, yet the compiler reads it to type `acc`."""
    found = set(code.co_names) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const, "")
    if source:
        import ast
        import textwrap

        try:
            tree = ast.parse(textwrap.dedent(source))
        except SyntaxError as exc:  # (a source the compiler cannot read either)
            raise Uncacheable("source does not parse") from exc
        found |= {node.id for annotation in _annotations(tree) for node in ast.walk(annotation)
                  if isinstance(node, ast.Name)}
    return found


def _annotations(tree: Any) -> list:
    """Every annotation in a parsed source: of assignments (`acc: ACC = 0`), parameters and return types.
    Only statements are visited (annotations are found in no expression: a lambda's parameters take none),
    which is what makes this a fraction of `ast.walk` over every node, ~0.1 ms of a small first launch."""
    import ast

    found, statements = [], list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            found += [arg.annotation for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                                 arguments.vararg, arguments.kwarg)
                      if arg is not None and arg.annotation is not None]
            if node.returns is not None:
                found.append(node.returns)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):  # (statements hold statements only here)
            for child in getattr(node, field, None) or ():
                statements.extend(child.body if isinstance(child, (ast.excepthandler, ast.match_case)) else [child])
    return found


def _function(func: Callable, depth: int, seen: set[int]) -> tuple:
    """The fingerprint of a kernel or device function: where it is, its source, and its names' values."""
    import inspect

    from ..compiler.core import closure_globals

    if depth > _MAX_DEPTH:
        raise Uncacheable("device functions nested too deeply")
    if id(func) in seen:  # (recursion: the compiler refuses it, but the key must not loop)
        return ("seen", func.__module__, func.__qualname__)
    seen = seen | {id(func)}
    try:
        text, first, names = _source_facts(func)  # (the text the compiler reads: see compiler/sources.py)
        filename = inspect.getsourcefile(func) or "<kernel>"
    except (OSError, TypeError) as exc:
        raise Uncacheable(f"no source for {func!r}") from exc
    visible = closure_globals(func)
    values = []
    for name in sorted(names):
        if name in visible:
            values.append((name, _value(visible[name], depth + 1, seen)))
    defaults = (_value(func.__defaults__, depth + 1, seen),
                _value(tuple(sorted((func.__kwdefaults__ or {}).items())), depth + 1, seen))
    return ("function", filename, first, text, tuple(values), defaults)


def _value(value: Any, depth: int, seen: set[int]) -> Any:
    """A picklable, comparable stand-in for a value a kernel's name is bound to (`Uncacheable` if none)."""
    # Floats by their bits as well: repr gives "nan" for every nan, and a kernel can read a nan's sign
    # (`math.copysign(1.0, G)` of G = -math.nan is -1.0): a program compiled for one must not stand in for another
    if isinstance(value, float):
        return ("float", repr(value), struct.pack("<d", value).hex())
    if isinstance(value, complex):
        return ("complex", repr(value), struct.pack("<dd", value.real, value.imag).hex())
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return (type(value).__name__, repr(value))
    if isinstance(value, np.generic):
        return ("numpy", type(value).__name__, repr(value), str(value.dtype), value.tobytes().hex())
    if isinstance(value, np.dtype):
        return ("numpy", type(value).__name__, repr(value), str(value))
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, (tuple, list, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, frozenset) else value
        return (type(value).__name__, tuple(_value(item, depth + 1, seen) for item in items))
    if isinstance(value, types.ModuleType):
        if value.__name__.split(".")[0] in _STABLE_MODULES:
            return ("module", value.__name__)
        raise Uncacheable(f"module {value.__name__}")
    if getattr(value, "__wafersim_jit__", False) and hasattr(value, "py_func"):
        return ("jit", bool(getattr(value, "boundscheck", True)), _function(value.py_func, depth, seen))
    if isinstance(value, types.FunctionType):
        module = getattr(value, "__module__", "") or ""
        if module.startswith("wafersim.compiler") and not value.__closure__:  # (intrinsics: their sources are in the key)
            return ("compiler", module, value.__qualname__)
        return _function(value, depth, seen)
    module = getattr(type(value), "__module__", "") or ""
    if isinstance(value, type):
        if (value.__module__ or "").split(".")[0] in _STABLE_MODULES or value.__module__ == "builtins":
            return ("type", value.__module__, value.__qualname__)
        raise Uncacheable(f"class {value.__qualname__}")
    if module.startswith("wafersim.compiler") or module.startswith("wafersim.isa"):
        # An intrinsic object (`ws.local`, `ws.threadIdx`, ...), defined by the package's sources: known by
        # the name its module gives it (a repr may hold an address, which differs from process to process).
        names = [name for name, item in vars(sys.modules[module]).items() if item is value]
        if names:
            return ("intrinsic", module, type(value).__qualname__, min(names))
        if " at 0x" not in repr(value):
            return ("intrinsic", module, type(value).__qualname__, repr(value))
        raise Uncacheable(f"a {type(value).__qualname__} without a stable name")
    if isinstance(value, (types.BuiltinFunctionType, np.ufunc)):
        owner = getattr(value, "__module__", None) or getattr(getattr(value, "__self__", None), "__name__", "")
        if (owner or "numpy").split(".")[0] in _STABLE_MODULES + ("builtins",):
            return ("builtin", owner, getattr(value, "__qualname__", getattr(value, "__name__", repr(value))))
    raise Uncacheable(f"a {type(value).__qualname__}")


def _pipeline() -> tuple:
    """The passes a compilation runs now (`compiler.passes.PASSES`, a list that can be changed in place), each
    by its name and the function it runs; `Uncacheable` for a pass defined outside the package."""
    from ..compiler.passes import PASSES

    named = []
    for name, run in PASSES:
        run = getattr(run, "__wrapped__", run)
        module = getattr(run, "__module__", "") or ""
        if module.split(".")[0] != "wafersim":
            raise Uncacheable(f"pass {name!r} from {module or 'nowhere'}")
        named.append((name, module, getattr(run, "__qualname__", repr(run))))
    return tuple(named)


def program_key(func: Callable, signature_args: tuple, boundscheck: bool) -> str | None:
    """The key of everything one specialisation's compilation depends on but the machine (a hex digest), or
    None if it cannot be cached: `@ws.jit` reuses a program for another machine only under the same one."""
    try:
        fingerprint = _function(func, 0, set())
        pipeline = _pipeline()
    except (Uncacheable, RecursionError):
        return None
    text = repr((compiler_version(), fingerprint, signature_args, bool(boundscheck), pipeline))
    return hashlib.sha256(text.encode()).hexdigest()


def entry_key(program: str, reads: SpecReads, spec: WaferSpec) -> str:
    """The on-disk key of a compiled specialisation: its `program_key` and what its compilation read of the
    machine, the fields with their values (`compiler.spec_reads`), or every field where it read the spec whole
    (`reads` None)."""
    machine = ("whole", spec.cache_key) if reads is None else ("reads", reads)
    return hashlib.sha256(f"{program}|{machine!r}".encode()).hexdigest()


def _read_lists(program: str) -> list[tuple[str, ...]]:
    """The lists of field names that compilations of `program` read (its index; a bad line is skipped)."""
    try:
        text = (directory() / f"{program}.fields").read_text()
    except (OSError, UnicodeDecodeError):  # (none yet, or unreadable: only the whole-spec entry is tried)
        return []
    found = []
    for line in text.splitlines():
        try:
            names = tuple(json.loads(line))
        except (ValueError, TypeError, RecursionError):  # (a line cut short by a full disk, or damaged: nested
            continue  # past the parser's depth, a RecursionError; its entry is compiled again)
        if names not in found and all(isinstance(name, str) for name in names):
            found.append(names)
    return found


def find(program: str, spec: WaferSpec) -> Any | None:
    """The stored `Compiled` of `program` whose compilation read fields that `spec` has the values of (or
    read the whole spec, equal to `spec`); None if there is none."""
    for names in _read_lists(program):
        reads = reads_of(spec, names)
        if reads is None:  # (a field this spec lacks, or a value of another kind)
            continue
        compiled = load(entry_key(program, reads, spec))
        if compiled is not None and reads_match(compiled.spec_reads, spec):
            return compiled
    compiled = load(entry_key(program, None, spec))
    return compiled if compiled is not None and compiled.spec_reads is None else None


def store(program: str, spec: WaferSpec, compiled: Any) -> None:
    """Keep `compiled` (compiled from `program` for `spec`) under the key of what it read of `spec`, and list
    the fields it read in `program`'s index, unless listed already."""
    reads = compiled.spec_reads
    if not _write(entry_key(program, reads, spec), compiled) or reads is None:
        return
    names = [name for name, _ in reads]
    if tuple(names) in _read_lists(program):
        return
    try:  # (one write of one line, appended: processes adding theirs at once interleave whole lines)
        handle = os.open(directory() / f"{program}.fields", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(handle, (json.dumps(names) + "\n").encode())
        finally:
            os.close(handle)
    except OSError:  # (the entry is there, but unlisted: the next process compiles again)
        return


def load(digest: str) -> Compiled | None:
    """The `Compiled` stored under `digest`, or None (not there, or unreadable: compile instead). A file holds
    (its key, the SHA-256 of the pickled program, those bytes): damage that still unpickles -- a changed byte of an
    immediate or a register number -- would otherwise load another program and run it without a word (found by
    review45: 281 of 3,393 single-byte changes of a small kernel's file loaded a different program, 13 of them
    launching with wrong results); with the checksum it means compiling."""
    found, compiled = read_checked(directory() / f"{digest}.pkl", digest)  # (missing, another key, damage: compile)
    if not found or not isinstance(compiled, Compiled):
        return None
    compiled.from_disk_cache = True
    return compiled


def _write(digest: str, compiled: Any) -> bool:
    """Write `compiled` under `digest` (atomically: a reader never sees half a file); False on an error."""
    # (without the IR after each pass: most of the size; `Dispatcher.inspect_ir` recompiles for it)
    return write_checked(directory(), f"{digest}.pkl", digest, dataclasses.replace(compiled, passes=None))


def _trace_folder() -> Path | None:
    """The route traces' folder (`sim.trace_store`): this cache's, under the same switch."""
    return directory() if ENABLED else None


trace_store.folder = _trace_folder
facts_store.version = compiler_version  # (a program's kept analyses: the same folder, keyed by every source)
