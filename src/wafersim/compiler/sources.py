"""The source text a kernel or device function is compiled from: the text Python compiled it from.

The front end compiles a function from its source, not its bytecode, and `inspect` reads the source from
the file as it is now. A file edited while a process runs (a notebook importing a module that is being
worked on, without reloading it) then gives the old function object the new text, at the old function's
line numbers: a kernel that does something other than the Python function it was launched as, or parts of
two functions. `@ws.jit` therefore keeps the file's lines as they are when it decorates the function
(just after Python compiled it, on import), and the compiler and the kernel cache's key read the
function's text from those lines (`source_lines`)."""
from __future__ import annotations

import inspect
import linecache
import re
import weakref
from typing import Callable

#: The lines of each `@ws.jit` function's file when it was decorated (the first decoration of a function).
_SNAPSHOTS: "weakref.WeakKeyDictionary[Callable, list[str]]" = weakref.WeakKeyDictionary()

#: Each function's source block as `kept_source_lines` last cut it from the kept lines: (code object, kept
#: lines, block, first line number). Cutting the block (`inspect.getblock` tokenizes the text) is most of
#: reading a device function's source, which every compile that inlines it does again.
_BLOCKS: "weakref.WeakKeyDictionary[Callable, tuple]" = weakref.WeakKeyDictionary()

#: Where a function's source starts: a decorator or its `def` (as `inspect.findsource` looks for it).
_START = re.compile(r"^\s*(@|def\s|async\s+def\s)")


def remember_source(func: Callable) -> None:
    """Keep the lines of `func`'s file as they are now (`@ws.jit` calls this when it decorates `func`). A
    function without a readable file (exec() of a string, the interactive prompt) keeps nothing: the
    compiler says then that it cannot read its source."""
    if func in _SNAPSHOTS:  # (decorated again, maybe after the file changed: the first text is the function's)
        return
    try:
        filename = inspect.getsourcefile(func)
    except TypeError:
        return
    if not filename:
        return
    linecache.checkcache(filename)  # (an entry read before the file last changed would be stale)
    lines = linecache.getlines(filename, func.__globals__)
    if lines:
        _SNAPSHOTS[func] = lines  # (linecache replaces the list when the file changes; it never edits it)


def source_lines(func: Callable) -> tuple[list[str], int]:
    """The lines of `func`'s source and the number of the first, as `inspect.getsourcelines` gives them but
    from the text `remember_source` kept, where it kept one (else from the file as it is now). `OSError`
    or `TypeError` if there is no source, as from `inspect`."""
    kept = kept_source_lines(func)
    return kept if kept is not None else inspect.getsourcelines(func)


def kept_source_lines(func: Callable) -> tuple[list[str], int] | None:
    """`source_lines(func)` where it comes from the text `remember_source` kept -- the same for as long as
    `func` keeps its code object, whatever happens to the file -- else None (read from the file as it is now)."""
    try:
        lines = _SNAPSHOTS.get(func)
    except TypeError:  # (an object that cannot be weakly referenced: never decorated)
        lines = None
    code = getattr(func, "__code__", None)
    if lines is not None and code is not None:
        cut = _BLOCKS.get(func)
        if cut is not None and cut[0] is code and cut[1] is lines:  # (the same code and the same kept text)
            return list(cut[2]), cut[3]
        start = code.co_firstlineno - 1  # (a decorated function's code starts at its first decorator)
        if 0 <= start < len(lines) and _START.match(lines[start]):
            block = inspect.getblock(lines[start:])
            _BLOCKS[func] = (code, lines, block, start + 1)
            return list(block), start + 1
    return None


def kept_functions() -> list[Callable]:
    """The functions whose source `remember_source` kept (every `@ws.jit` function defined so far)."""
    return list(_SNAPSHOTS.keys())
