"""`wafersim.compiler.sources`: a kernel compiles from the text Python compiled the function from, even when
its file has been edited since (a module changed on disk but not reloaded): never the new text at the old
function's line numbers."""
from __future__ import annotations

import importlib.util
import os

import numpy as np

import wafersim as ws
from wafersim.compiler.sources import source_lines

from conftest import load_source

HELPERS = '''
import wafersim as ws

SCALE = 2.0


@ws.jit
def helper(v):
    return v * SCALE + 1.0
'''

EDITED = '''
import wafersim as ws

SCALE = 2.0
# a line more: the old line numbers now point one line higher in the function


@ws.jit
def helper(v):
    return v * 3.0 + 1000.0
'''


def run(kernel, value: float) -> float:
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(1, np.float32)
    kernel[1, 1](out, value)
    return float(out.copy_to_host()[0])


def edit(path, text: str) -> None:
    """Rewrite a file with a later modification time (else a same-size edit within the clock's step is unseen)."""
    stat = os.stat(path)
    path.write_text(text)
    os.utime(path, (stat.st_atime + 10, stat.st_mtime + 10))


def test_an_edited_file_does_not_change_a_function_defined_from_it(tmp_path):
    helpers = load_source(tmp_path, HELPERS)
    helper = helpers.helper

    @ws.jit
    def kernel(out, a):
        out[0] = helper(a)

    edit(tmp_path / f"{helpers.__name__}.py", EDITED)
    # The function object still computes v * 2 + 1 (Python's bytecode); so must the kernel that inlines it.
    assert run(kernel, 3.0) == 3.0 * 2.0 + 1.0
    assert "v * SCALE + 1.0" in "".join(source_lines(helper.py_func)[0])
    # Decorating the old function again (after the edit) keeps the text it was first decorated with.
    again = ws.jit(helper.py_func)
    assert "v * SCALE + 1.0" in "".join(source_lines(again.py_func)[0])
    # Importing the module again (a reload) is what makes the edit count: its new function compiles the new text.
    spec = importlib.util.spec_from_file_location(helpers.__name__, tmp_path / f"{helpers.__name__}.py")
    reloaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reloaded)

    @ws.jit
    def kernel2(out, a):
        out[0] = reloaded.helper(a)

    assert run(kernel2, 3.0) == 3.0 * 3.0 + 1000.0


def test_undecorated_functions_read_their_source_as_inspect_does(tmp_path):
    module = load_source(tmp_path, "def plain(v):\n    return v + 1\n")
    lines, first = source_lines(module.plain)
    assert (lines, first) == (["def plain(v):\n", "    return v + 1\n"], 1)


def test_the_cut_source_is_reused_only_for_the_same_code_and_text(tmp_path):
    """`source_lines` keeps each function's cut block (tokenizing the file is most of reading a device
    function's source): asked again it gives the same lines as `inspect` (a list of the caller's own), and a
    function given another code object (another `def` in the same file) is cut again."""
    import inspect

    helpers = load_source(tmp_path, HELPERS + '''

@ws.jit
def other(v):
    return v - 1.0
''')
    func = helpers.helper.py_func
    first, again = source_lines(func), source_lines(func)
    assert first == again == inspect.getsourcelines(func) and first[0] is not again[0]
    first[0].append("# the caller's list")
    assert source_lines(func) == inspect.getsourcelines(func)
    func.__code__ = helpers.other.py_func.__code__
    assert source_lines(func) == inspect.getsourcelines(helpers.other.py_func)
    assert "v - 1.0" in "".join(source_lines(func)[0])
