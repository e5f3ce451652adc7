"""Odd Python constructs in a kernel are `CompileError`s at their own line (never a raw Python exception or an
AssemblyError), with a message that says what to write instead."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_compiler_diagnostics import launch


# ----------------------------------------------------------------------------- odd constructs
# Each body is compiled as a kernel `odd(out, x, n, buf_source)` (out: 1-D float32, x: float32, n: int32);
# the line marked `# HERE` must be reported by a CompileError (never a raw Python exception or an
# AssemblyError) whose message contains the text given.
ODD_CONSTRUCTS = [
    ("y = None  # HERE", "NoneType cannot be used"),
    ("y = 'text'  # HERE", "str cannot be used"),
    ("y = 1j  # HERE", "complex cannot be used"),
    ("y = [1, 2]  # HERE", "a list cannot be made in a kernel: write a tuple for a few numbers"),
    ("y = {1: 2}  # HERE", "a dict cannot be made in a kernel"),
    ("y = {n, 2}  # HERE", "a set cannot be made in a kernel"),
    ("y = lambda: 1  # HERE", "a lambda is not supported in a kernel"),
    ("y = f'{n}'  # HERE", "unsupported expression"),
    ("y = (z := 3)  # HERE", "assignment expression `z := ...` is not supported in a kernel"),
    ("y = 10000000000  # HERE", "does not fit in int32"),
    ("y = 2 ** 100  # HERE", "does not fit in int32"),
    ("y = 1 << -1  # HERE", "cannot evaluate"),
    ("y = 1 // 0  # HERE", "cannot evaluate"),
    ("y = 1.0 / 0.0  # HERE", "gives inf or nan, with a warning): write math.inf, -math.inf or math.nan"),
    ("y = 7 % 0  # HERE", "stops the kernel with KernelZeroDivisionError"),
    ("y = int(2147483647.0)  # HERE", "int() of the constant 2147483648.0 (a float32) is 2147483648, which does not fit"),
    ("y = 1.0 % 0.0  # HERE", "cannot evaluate"),
    ("y = (-8.0) ** 0.5  # HERE", "cannot evaluate the constant expression (-8.0) ** 0.5"),
    ("y = 10.0 ** 400  # HERE", "cannot evaluate"),
    ("y = int(1e30)  # HERE", "does not fit in int32"),
    ("y = int(math.inf)  # HERE", "cannot convert"),
    ("y = int(n, 2)  # HERE", "takes 1 argument"),
    ("y = n ** n  # HERE", "constant whole exponent"),
    ("y = math.frexp(x)  # HERE", "cannot be called"),
    ("b = ws.local.array(4)\ny = np.sum(b[0:4])  # HERE", "'sum' cannot be called in a kernel: write the builtin sum(v[a:b])"),
    ("b = ws.local.array(4)\ny = np.max(b)  # HERE", "write the builtin max(v[a:b]) (or max(v) of a whole 1-D local array)"),
    ("b = ws.local.array(4)\ny = np.amin(b[0:2])  # HERE", "write the builtin min(v[a:b])"),
    ("b = ws.local.array(4)\nb[0:4] = np.maximum(b[0:4], b[0:4])  # HERE", "`w[0:n] = max(u[0:n], v[0:n])`"),
    ("y = np.minimum(x, x)  # HERE", "write the builtin min(a, b)"),
    ("y = n ** -2  # HERE", "negative power"),
    ("y = n >> -1  # HERE", "negative shift count -1: Python raises ValueError"),
    ("y = n << -3  # HERE", "negative shift count -3"),
    ("y = ~x  # HERE", "Invert on a float32"),
    ("y = n // 0  # HERE", "division by zero"),
    ("y = math.log(x, 2.0)  # HERE", "takes one number"),
    ("y = out + 1  # HERE", "cannot compute with a global array"),
    ("y = out[0:4] + 1.0  # HERE", "slices compute only in an assignment"),
    ("y = out is n  # HERE", "expected a number"),
    ("b = ws.local.array(4)\nws.recv(ws.WEST, out=b[0:4]) if n > 0 else ws.recv(ws.WEST, out=b[0:2])  # HERE",
     "got None (no value: a call that returns nothing, such as ws.send or ws.recv(..., out=...): call it as a "
     "statement"),
    ("y = ws.send(ws.EAST, x) + 1.0  # HERE", "with None (no value: a call that returns nothing"),
    ("y = n in out  # HERE", "tests a number against a tuple of numbers"),
    ("y = out[0][0]  # HERE", "cannot index"),
    ("y = out[0, 0]  # HERE", "1 dimension but 2 indexes were given"),
    ("y = out[1.5]  # HERE", "must be an int32"),
    ("y = out[None]  # HERE", "NoneType cannot be used"),
    ("y = out[0:4:2]  # HERE", "with a step"),
    ("y = out.itemsize  # HERE", "unsupported attribute .itemsize"),
    ("y = out.shape[3]  # HERE", "tuple index must be a constant"),
    ("y = ws.threadIdx.z  # HERE", "has .x and .y"),
    ("y = ws.no_such_thing  # HERE", "has no attribute"),
    ("ws.syncthread()  # HERE", "'wafersim' has no attribute 'syncthread'; did you mean 'syncthreads'?"),
    ("y = wsc.block_allreduce(x, wsc.SUM)  # HERE", "has no attribute 'block_allreduce'; did you mean 'block_all_reduce'?"),
    ("y = math.sqr(x)  # HERE", "'math' has no attribute 'sqr'; did you mean 'sqrt'?"),
    ("y = outt[0]  # HERE", "unknown name 'outt'; did you mean 'out'?"),
    ("ws.atomic.add(out, 0, 1.0)  # HERE", "there are no atomic operations"),
    ("b = ws.shared.array(4, np.float32)  # HERE", "no shared memory"),
    ("y = ws.shfl_down_sync(0, x, 1)  # HERE", "no warps"),
    ("ws.threadfence()  # HERE", "no fence is needed"),
    ("y = math.ldexp(x, 2)  # HERE", "cannot be called"),
    ("y = len(n)  # HERE", "len() of a number"),
    ("y = out.sum()  # HERE", ".sum() is a method of a value known only at run time: numbers and arrays have no "
     "methods in a kernel: write sum(out[0:n]) for out.sum() (a slice of a local array: copy a global array's "
     "words into one first)"),
    ("b = ws.local.array(4)\ny = b.max()  # HERE", "write max(b[0:n]) for b.max()"),
    ("y = x.astype(np.int32)  # HERE", "convert a number with float(x) or int(x), an array element by element"),
    ("y = max(x, key=abs)  # HERE", "no keyword argument 'key'"),
    ("y = min(x)  # HERE", "at least two"),
    ("y = sum(out[0:4])  # HERE", "global slice"),
    ("y = ws.dot(x, x)  # HERE", "takes slices of local arrays"),
    ("y = abs()  # HERE", "takes 1 argument"),
    ("y = ws.grid()  # HERE", "ws.grid(n) takes n = 1 or 2, got no argument"),
    ("y = ws.grid(True)  # HERE", "ws.grid(n) takes n = 1 or 2, got True"),
    ("y, z = ws.gridsize(1, 2)  # HERE", "ws.gridsize(n) takes n = 1 or 2, got 2 arguments"),
    ("y, z, w = ws.gridsize(3)  # HERE", "got 3 (no 3-D grids: the wafer is a 2-D mesh of PEs; fold a third axis"),
    ("y = ws.fma(1.0, 2.0)  # HERE", "takes 3 argument"),
    ("ws.syncthreads(1)  # HERE", "takes 0 argument"),
    ("y = ws.has_neighbor()  # HERE", "takes 1 argument"),
    ("ws.send(ws.EAST, 1.0, channel=99)  # HERE", "99 is not a channel: a channel is an int constant from 0 to 31"),
    ("ws.send(ws.EAST, 1.0, channel=n)  # HERE", "the channel must be an int constant from 0 to 31; `n` is "
     "known only when the kernel runs"),
    ("for i in range(2):\n    ws.send(ws.RAMP, 1.0, channel=2 * i + 1)  # HERE",  # (said nothing of the loop)
     "`2 * i + 1` is known only when the kernel runs (a `range` loop's variable is one): loop over a tuple "
     "instead, `for i in (0, 1, 2, 3):`"),
    ("ws.send(ws.EAST, 1.0, channel=1.0)  # HERE",  # (said "must be a constant": 1.0 is one, of the wrong type)
     "1.0 is not a channel: a channel is an int constant (a whole number, not a float) from 0 to 31"),
    ("y = ws.recv(ws.EAST, channel=True)  # HERE", "True is not a channel: a channel is an int constant"),
    ("ws.send(1.0, 1.0)  # HERE", "1.0 is not a direction: a direction is an int constant (a whole number, not a "
     "float), one of ws.NORTH"),
    ("y = ws.recv(2.0)  # HERE", "2.0 is not a direction: a direction is an int constant"),
    ("ws.send(d=ws.EAST, value=1.0)  # HERE", "no keyword argument 'd'"),
    ("ws.send(ws.EAST, out)  # HERE", "cannot send a global array: copy it into a local array and send a slice"),
    ("b = ws.local.array(4)\nws.send(ws.EAST, b)  # HERE", "cannot send a local array: send a slice of it, `buf[0:n]`"),
    ("ws.send(ws.EAST, out[0:4])  # HERE", "only slices of local arrays"),
    ("ws.send(5, 1.0)  # HERE", "5 is not a direction: a direction is one of ws.NORTH"),
    ("y = ws.recv(ws.EAST, dtype=np.float64)  # HERE", "dtype= must be np.float32 or np.int32"),
    ("y = ws.recv(ws.EAST, dtype=5)  # HERE", "dtype= must be np.float32 or np.int32"),
    ("ws.recv(ws.EAST, out=out)  # HERE", "needs a slice of a local array"),
    ("b = ws.local.array(4)\nws.recv(ws.WEST, b[0:4])  # HERE",  # (said only "takes one direction")
     "takes one direction; a slice to fill goes by name: ws.recv(direction, out=buf[i:j])"),
    ("ws.print('a', 'b')  # HERE", "str cannot be used"),
    ("y = ws.syncthreads() + 1  # HERE", "cannot compute with None"),
    ("y = ws.syncthreads()  # HERE", "ws.syncthreads() gives no value (None), so it cannot be assigned"),
    ("y = ws.send(ws.EAST, 1.0)  # HERE", "gives no value"),
    ("b = ws.local.array((2, 2, 2, 2))  # HERE", "shape (2, 2, 2, 2) is not a valid shape: an int or a tuple of 1 to 3 ints"),
    ("b = ws.local.array(n)  # HERE", "`n` is not one (a value known only when the kernel runs"),
    ("b = ws.local.array(ws.blockDim.x, np.float32)  # HERE",
     "`ws.blockDim.x` is not one (a value known only when the kernel runs, or a variable assigned more than once): "
     "pass the size as a constant, a literal or module constant (`ws.local.array(64, np.float32)`) or a ws.constant "
     "parameter (`def kern(..., n: ws.constant)`"),
    ("b = ws.local.array((2, ws.grid(1)))  # HERE", "`ws.grid(1)` is not one"),
    ("y = float('one')  # HERE", "float('one'): Python cannot read 'one' as a number"),
    ("y = np.float32('1.5.')  # HERE", "float32('1.5.'): Python cannot read"),
    ("y = int('1.5')  # HERE", "int('1.5'): Python's int() cannot read '1.5' as a base-10 int"),
    ("y = int('0x10')  # HERE", "int('0x10'): Python's int() cannot read"),
    ("y = np.int32('3000000000')  # HERE", "int32('3000000000'): does not fit in int32"),
    ("y = int('3000000000')  # HERE", "the integer constant 3000000000 does not fit in int32"),
    ("b = ws.local.array(4, dtype='x')  # HERE", "dtype must be"),
    ("b = ws.local.array(4, np.float64)  # HERE", "dtype must be"),
    ("b = ws.local.array(4, order='C')  # HERE", "takes (shape, dtype"),
    ("y = ws.local.array(4) + 1  # HERE", "must be assigned to a name"),
    ("b = ws.local.array((2, 4))\nb[0:n, 0:2] = 1.0  # HERE", "number of rows must be known"),
    ("b = ws.local.array((2, 4))\nb[1] = 1.0  # HERE", "2 dimensions but 1 index was given"),
    # a row copied as `c[0:4] = t[1]` (NumPy's row): the message shows the row as a slice
    ("t = ws.local.array((2, 4))\nc = ws.local.array(4)\nc[0:4] = t[1]  # HERE", "a row, as a vector, is a slice, t[i, 0:n]"),
    ("t = ws.local.array((2, 3, 4))\nc = ws.local.array(4)\nc[0:4] = t[1, 2]  # HERE", "is a slice, t[i, j, 0:n]"),
    ("b = ws.local.array(4)\nb[0:4] = out  # HERE", "cannot assign a global array to a slice"),
    ("b = ws.local.array(4)\nb[0:4] = b[0:4] // 2  # HERE", "FloorDiv is not supported on slices"),
    ("b = ws.local.array(4)\nb[0:4] = b[0:4] % 2.0  # HERE", "not supported on slices"),
    ("b = ws.local.array(4)\nb[0:4] = out[0:4] * 2.0  # HERE", "slices of local arrays"),
    ("b = ws.local.array(4)\nc = ws.local.array(4, np.int32)\nb[0:4] = c[0:4]  # HERE",
     "cannot copy an int32 slice into a float32 slice"),
    ("b = ws.local.array(4)\nc = ws.local.array(4, np.int32)\nc[0:4] = b[0:4]  # HERE",
     "convert element by element, `for k in range(n): dst[k] = int(src[k])`"),
    ("b = ws.local.array(4)\nc = ws.local.array(4, np.int32)\nb[0:4] = c[0:4] * 2  # HERE",
     "convert element by element into a float32 array first, `for k in range(n): tmp[k] = float(src[k])`"),
    ("c = ws.local.array((2, 4), np.int32)\nb = ws.local.array(2)\nb[0:2] = c[0:2, 1]  # HERE",
     "cannot copy an int32 slice into a float32 slice: slice copies convert only between float32 and"),
    ("b = ws.local.array(4)\nb[0:4] = ~b[0:4]  # HERE", "Invert is not supported on slices"),
    ("out[0:4] = out[4:8]  # HERE", "between two global arrays"),
    ("out[0:4] = 1.0  # HERE", "a global slice can only be assigned"),
    ("ws.print(f'x={x}', x)  # HERE", "not an f-string"),
    ("ws.print('x=%d' % n)  # HERE", "ws.print does not format strings: ws.print(\"x\", x) prints the label"),
    ("ws.print('x', 'n={}'.format(n))  # HERE", "ws.print does not format strings"),
    ("ws.print('a', x, 'b', n)  # HERE", "prints one value: call it once per value: ws.print(\"a\", x) then "
                                        "ws.print(\"b\", n)"),
    # CUDA's printf habit: a format and several values; the calls that print them, labelled by their source
    ("ws.print('x=%d n=%d\\n', x, n + 1)  # HERE", "ws.print does not format strings, as CUDA's printf does: the "
     "label \"x=%d n=%d\\n\" is printed as it is, before one value (an int32 or float32); call it once per value: "
     "ws.print(\"x\", x) then ws.print(\"n + 1\", n + 1)"),
    ("ws.print(n, 'n')  # HERE", "takes its label first and then one value: ws.print(\"n\", n)"),
    ("ws.print(x, n)  # HERE", "call it once per value: ws.print(\"x\", x) then ws.print(\"n\", n)"),
    ("ws.print('done')  # HERE", "ws.print(\"done\") has a label and no value: ws.print prints one value (an int32 "
     "or float32) after its label, ws.print(\"done\", value)"),
    ("ws.print()  # HERE", "ws.print() needs a value to print"),
    ("print(x)  # HERE", "print() cannot be called in a kernel: write ws.print(\"label\", value)"),
    ("t = ws.local.array((4, 4))\nt[0:4, 1] = out[0:4]  # HERE", "works between local arrays only"),
    ("out[0] = out  # HERE", "cannot store a global array"),
    ("t = (1, 2)\nt[0] = 3  # HERE", "tuples cannot be changed"),
    ("t = (1, 2)\ny = t[n]  # HERE", "tuple index must be a constant"),
    ("a, b = 1  # HERE", "cannot unpack"),
    ("a, b = (1, 2, 3)  # HERE", "cannot unpack a tuple of 3 items into 2 targets"),
    ("*a, b = (1, 2)  # HERE", "starred assignment (*a) is not supported in a kernel: unpack every item"),
    ("h, *rest = (1, 2, 3)  # HERE", "starred assignment (*rest) is not supported in a kernel"),
    ("out.x = 1  # HERE", "cannot assign to an attribute (out.x)"),
    ("y: int  # HERE", "a declaration without a value"),
    ("y: str = 1  # HERE", "annotation must be int, float"),
    ("y: int = 1.5  # HERE", "float32 value for an int"),
    ("y = 0\ny = 0.5  # HERE", "cannot assign a float32 value to an int32"),
    ("for i in range(10, step=2):  # HERE\n    pass", "range(...)"),
    ("for i in range(0.5):  # HERE\n    pass", "range() takes int32 arguments, not a float32: convert it with int(...)"),
    ("for i in range(n, x):  # HERE\n    pass", "range() takes int32 arguments, not a float32"),
    ("for i in range(0, n, 1, 2):  # HERE\n    pass", "range() takes 1 to 3 int32 arguments, got 4"),
    ("for i in range(0, 10, 0):  # HERE\n    pass", "must not be zero"),
    ("for i, j in range(3):  # HERE\n    pass", "single name"),
    ("for v in out:  # HERE\n    pass", "range(...) or a tuple"),
    ("for d in (ws.EAST, n):\n    ws.send(d, 1.0)  # HERE", "direction must be an int constant"),
    ("ws.send(ws.EAST if n > 0 else ws.WEST, 1.0)  # HERE", "one chosen when the kernel runs cannot be: branch, "
                                                         "`if c: ws.send(ws.EAST, v)` `else: ws.send(ws.WEST, v)`"),
    ("for d in ('a', 'b'):\n    y = d + 1  # HERE", "cannot compute with 'a'"),
    ("while n:  # HERE\n    pass\nelse:\n    pass", "while ... else"),
    ("assert n  # HERE", "unsupported statement in a kernel: Assert"),
    ("del n  # HERE", "unsupported statement in a kernel: Delete"),
    ("import os  # HERE", "unsupported statement in a kernel: Import"),
    ("def inner():  # HERE\n    pass", "unsupported statement in a kernel: FunctionDef"),
    ("raise ValueError  # HERE", "unsupported statement in a kernel: Raise"),
    ("try:  # HERE\n    pass\nexcept Exception:\n    pass", "unsupported statement in a kernel: Try"),
    ("y = no_return(x) + 1  # HERE", "cannot compute with None"),
    ("y = some_paths(x)  # HERE", "returns a value on some paths"),
    ("y = no_return(x)  # HERE", "no_return(x) gives no value (None)"),
    ("y = varargs(x)  # HERE", "*args or **kwargs"),
    ("y = no_return(*(x,))  # HERE", "*args and **kwargs"),
    ("y = plain_python(x)  # HERE", "cannot be called"),
    ("q, r = divmod(n, 3)  # HERE", "'divmod' cannot be called in a kernel: write (a // b, a % b)"),
    ("y = odd(out, x, n)  # HERE", "recursive call"),
    ("y = GLOBAL_ARRAY[0]  # HERE", "cannot index array"),
    ("y = GLOBAL_LIST[0]  # HERE", "cannot index [1, 2]"),
    # an augmented assignment reads its target: an error in that read is at the statement, not the def
    ("b = ws.local.array(8)\nb[8] += 1.0  # HERE", "b axis 0: index 8 is out of bounds for size 8"),
    ("t = ws.local.array((2, 3))\nt[1] += 1.0  # HERE", "t has 2 dimensions but 1 index was given"),
    ("b = ws.local.array(8)\nc = ws.local.array(4)\nb[0:8:2] += c[0:4]  # HERE", "a slice with a step is supported only"),
    ("t = ws.local.array((4, 4))\nc = ws.local.array(4)\nt[0:4, 1] *= c[0:4]  # HERE", "a column of the 2-D local array t"),
    ("zz -= 1.0  # HERE", "'zz' may be used before assignment"),
    ("t = ws.local.array((3, 4))\ny = sum(t)  # HERE", "sum() of the 2-D local array t: reduce a row, sum(t[i, 0:4])"),
    ("b = ws.local.array(4)\nfor v in b:  # HERE\n    pass", "loop over the indices, `for k in range(len(a)):`"),
    ("b = ws.local.array(4)\nfor k, v in enumerate(b[0:2]):  # HERE\n    pass", "`for k in range(len(a)):` reading"),
]

ODD_PRELUDE = '''
import math
import numpy as np
import wafersim as ws
from conftest import load_source
from wafersim import collectives as wsc

GLOBAL_ARRAY = np.ones(3)
GLOBAL_LIST = [1, 2]


def plain_python(v):
    return v


@ws.jit
def no_return(v):
    v = v + 1.0


@ws.jit
def some_paths(v):
    if v > 0.0:
        return v


@ws.jit
def varargs(*values):
    return 1.0

'''


@pytest.mark.parametrize("body,text", ODD_CONSTRUCTS)
def test_odd_constructs_are_compile_errors_at_their_line(tmp_path, body, text):
    lines = "\n".join("    " + line for line in body.splitlines())
    source = ODD_PRELUDE + f"@ws.jit\ndef odd(out, x, n):\n{lines}\n    out[0] = 0.0\n"
    module = load_source(tmp_path, source)
    with pytest.raises(ws.CompileError) as info:
        launch(module.odd, np.float32(1.5), 3)
    err = info.value
    expected_line = next(k for k, line in enumerate(source.splitlines(), 1) if "# HERE" in line)
    assert err.file == module.__file__ and err.line == expected_line, str(err)
    assert text in str(err), str(err)
