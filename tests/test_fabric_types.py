"""Type tags of fabric words (sim/wordtypes.py, the MSGS/MSGR `flags` field): a word received as another
type than it was sent as stops the kernel with a WordTypeError naming both PEs and both source lines;
`bitcast=True` reinterprets on purpose; the tags cost no cycles. Random exchanges (Hypothesis, budget
WAFERSIM_FUZZ_EXAMPLES) check that exactly the first misread word raises."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import line_of, load_source, run_on_one_block
from wafersim import collectives as wsc
from wafersim.isa.encoding import decode_at, encode
from wafersim.isa.opcodes import WORD_TAG


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@ws.jit
def int_received_as_float(out):
    i = ws.grid(1)
    if i == 0:
        ws.send(ws.EAST, 7)  # MARK-send
    else:
        out[i] = ws.recv(ws.WEST, dtype=np.float32)  # MARK-recv


def test_a_word_received_as_another_type_names_both_pes_and_lines(dev):
    with pytest.raises(ws.WordTypeError) as info:
        run_on_one_block(dev, int_received_as_float, np.zeros(2, np.float32), block=(2, 1))
    error = info.value
    assert isinstance(error, ws.WaferError)
    assert error.pe == (1, 0) and error.sender == (0, 0)
    assert error.source[1] == line_of(int_received_as_float, "MARK-recv")
    assert error.sender_source[1] == line_of(int_received_as_float, "MARK-send")
    assert (error.sent_type, error.received_type) == ("int32", "float32")
    assert "bitcast=True" in str(error)


@ws.jit
def bitcasts(values, out):
    i = ws.grid(1)
    buf = ws.local.array(4, np.float32)
    ints = ws.local.array(4, np.int32)
    if i == 0:
        ws.send(ws.EAST, values[0])
        buf[0:4] = values[0:4]
        ws.send(ws.EAST, buf[0:4], channel=1)
    else:
        out[0] = ws.recv(ws.WEST, dtype=np.int32, bitcast=True)
        ws.recv(ws.WEST, out=ints[0:4], channel=1, bitcast=True)
        for k in range(4):
            out[1 + k] = ints[k]


def test_bitcast_reads_the_bits_as_numpy_view_does(dev):
    values = np.array([1.5, -0.0, np.inf, 3.1e-39], np.float32)
    _, out = run_on_one_block(dev, bitcasts, values, np.zeros(5, np.int32), block=(2, 1))
    assert out[0] == values[:1].view(np.int32)[0]
    assert (out[1:] == values.view(np.int32)).all()


@ws.jit
def vector_mismatch(out):
    i = ws.threadIdx.y
    ints = ws.local.array(3, np.int32)
    floats = ws.local.array(3, np.float32)
    if i == 0:
        ints[0:3] = 5
        ws.send(ws.SOUTH, ints[0:3], channel=2)  # MARK-send
    else:
        ws.recv(ws.NORTH, out=floats[0:3], channel=2)  # MARK-recv
        out[0] = floats[0]


def test_vector_words_are_checked(dev):
    with pytest.raises(ws.WordTypeError) as info:
        run_on_one_block(dev, vector_mismatch, np.zeros(1, np.float32), block=(1, 2))
    assert info.value.pe == (0, 1) and info.value.sender == (0, 0)
    assert info.value.source[1] == line_of(vector_mismatch, "MARK-recv")
    assert info.value.sender_source[1] == line_of(vector_mismatch, "MARK-send")


@ws.jit
def routed_mismatch(out, wrong):
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 41, channel=2)  # MARK-send
    elif wrong:
        out[x] = ws.recv(ws.RAMP, channel=2, dtype=np.float32)  # MARK-recv
    else:
        out[x] = ws.recv(ws.RAMP, channel=2, dtype=np.int32)


def test_routed_words_are_checked_and_name_the_sender(dev):
    route = ws.routes.row_broadcast(2, root=0)
    out = dev.to_device(np.zeros(3, np.float32))
    routed_mismatch[1, (3, 1)](out, 0, routes=[route])  # an int32, converted on the store
    assert out.copy_to_host().tolist() == [0.0, 41.0, 41.0]
    with pytest.raises(ws.WordTypeError) as info:
        routed_mismatch[1, (3, 1)](out, 1, routes=[route])
    assert info.value.sender == (0, 0) and info.value.pe in ((1, 0), (2, 0))
    assert info.value.sender_source[1] == line_of(routed_mismatch, "MARK-send")


RING = """.name ring
.sram 0
    sreg r1, tid.x
    li r2, 1078530011
    bnz r1, receiver
    send{tag} east, 0, r2
    send{tag} east, 0, r2
    halt
receiver:
    recv{tag} r3, west, 0
    recv{tag} r3, west, 0
    halt
"""


def test_tags_cost_no_cycles_and_round_trip_in_assembly(dev):
    """The same program with typed and with untagged (raw) messages: identical cycle counts."""
    cycles = {}
    for tag in ("", ".f32", ".i32"):
        program = ws.assemble(RING.format(tag=tag))
        if tag:
            assert f"send{tag} east, 0, r2" in ws.disassemble(program)
        cycles[tag] = dev.launch(program, grid=1, block=(2, 1)).cycles
    assert cycles[""] == cycles[".f32"] == cycles[".i32"]
    for op in ("send", "sendv", "recv", "recvv"):
        for name, tag in WORD_TAG.items():
            instr = ws.assemble(f"{op}.{name} east, 1, r2{', r3' if op.endswith('v') else ''}"
                                if op != "recv" else f"recv.{name} r2, east, 1")
            word = decode_at(instr.code, 0)
            assert word.flags == tag and encode(word) == instr.code.tolist()


@ws.jit
def mistyped(out):
    if ws.threadIdx.x == 0:
        ws.send(ws.EAST, 5)
    else:
        out[0] = ws.recv(ws.WEST, dtype=np.float32)


def test_assembly_typed_receive_of_another_type_is_an_error(dev):
    """An assembly program's error gives the fix-it in assembly too (a typed or a raw `recv`), and the
    raw receive it suggests does run."""
    source = RING.replace("send{tag}", "send.i32").replace("recv{tag}", "recv.f32")
    program = ws.assemble(source)
    assert program.from_assembly
    with pytest.raises(ws.WordTypeError) as info:
        dev.launch(program, grid=1, block=(2, 1))
    assert "in assembly: `recv.i32`, or a raw `recv` with no type modifier" in str(info.value)
    dev.launch(ws.assemble(RING.replace("send{tag}", "send.i32").replace("recv{tag}", "recv")), grid=1,
               block=(2, 1))
    with pytest.raises(ws.WordTypeError) as info:  # a kernel's error gives the Python fix-it only
        mistyped[1, (2, 1)](dev.to_device(np.zeros(1, np.float32)))
    assert "bitcast=True to ws.recv" in str(info.value) and "in assembly" not in str(info.value)


@ws.jit
def two_collectives_one_channel(ints, floats, out_i, out_f):
    x = ws.threadIdx.x
    buf = ws.local.array(4, np.float32)
    buf[0:4] = floats[0:4]
    buf[0:4] = buf[0:4] + x                                 # each PE's own until the broadcast
    out_i[x] = wsc.row_broadcast(ints[x], 1, channel=1)  # int32 words on the row bus of channel 1
    wsc.row_broadcast_array(buf, 2, channel=1)             # then float32 words on the same channel
    out_f[x, 0:4] = buf[0:4]


def test_collectives_of_two_types_share_a_routed_channel():
    """The routed FIFOs carry both tags (per-slot tags), each word is received as what it is."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    ints = np.array([10, 20, 30, 40], np.int32)
    floats = np.array([0.5, -1.5, 2.25, 8.0], np.float32)
    out_i, out_f = dev.device_array(4, dtype=np.int32), dev.device_array((4, 4))
    two_collectives_one_channel[1, (4, 1)](dev.to_device(ints), dev.to_device(floats), out_i, out_f)
    assert out_i.copy_to_host().tolist() == [20] * 4
    np.testing.assert_array_equal(out_f.copy_to_host(), np.tile(floats + np.float32(2), (4, 1)))  # the root's


@ws.jit
def across_a_barrier(out, wrong):
    i = ws.grid(1)
    if i == 0:
        ws.send(ws.EAST, 5)
        ws.send(ws.EAST, 2.5)
    ws.syncthreads()  # both words are in flight when the checkpoint is written here
    if i == 1:
        out[0] = ws.recv(ws.WEST, dtype=np.int32)
        if wrong:
            out[1] = ws.recv(ws.WEST, dtype=np.int32)
        else:
            out[1] = ws.recv(ws.WEST, dtype=np.float32)


@pytest.mark.parametrize("wrong", [0, 1])
def test_checkpoints_keep_the_tags_of_words_in_flight(tmp_path, wrong):
    from wafersim.runtime.resume import resume_launch

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(2)
    path = tmp_path / "run.npz"
    launch = across_a_barrier[(1, 1), (2, 1)]
    if wrong:
        with pytest.raises(ws.WordTypeError):
            launch(out, wrong, checkpoint_every=1, checkpoint=path)
        with pytest.raises(ws.WordTypeError):
            resume_launch(path)  # the float word is still tagged float32 after the resume
        return
    launch(out, wrong, checkpoint_every=1, checkpoint=path)
    resumed, _ = resume_launch(path)
    assert out.copy_to_host().tolist() == [5.0, 2.5]
    assert next(iter(resumed.arrays().values())).copy_to_host().tolist() == [5.0, 2.5]


# ---------------------------------------------------------------------- fuzzing the checks
WORDS_MAX = 6


@st.composite
def exchanges(draw):
    """A sequence of words PE 0 sends east (each an int32 or a float32), and how PE 1 receives each: as
    int32 or float32, with or without bitcast."""
    n = draw(st.integers(1, WORDS_MAX))
    sent = draw(st.lists(st.sampled_from(["i32", "f32"]), min_size=n, max_size=n))
    received = draw(st.lists(st.sampled_from(["i32", "f32"]), min_size=n, max_size=n))
    bitcast = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return sent, received, bitcast


def exchange_kernel(tmp_path, sent, received, bitcast):
    sends = [f"        ws.send(ws.EAST, {'ints' if t == 'i32' else 'floats'}[{k}])" for k, t in enumerate(sent)]
    recvs = [f"        {'out_i' if t == 'i32' else 'out_f'}[{k}] = ws.recv(ws.WEST, dtype="
             f"{'np.int32' if t == 'i32' else 'np.float32'}{', bitcast=True' if cast else ''})  # WORD-{k}"
             for k, (t, cast) in enumerate(zip(received, bitcast))]
    source = "\n".join(["import numpy as np", "import wafersim as ws", "", "", "@ws.jit",
                        "def kern(ints, floats, out_i, out_f):", "    if ws.grid(1) == 0:", *sends, "    else:",
                        *recvs, ""])
    return load_source(tmp_path, source).kern


@settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(exchange=exchanges(), seed=st.integers(0, 2**32 - 1))
def test_random_exchanges_raise_exactly_at_the_first_misread_word(dev, tmp_path, exchange, seed):
    """Reference: each word's bits are NumPy's `.view` of what was sent; the first word received as another
    type without bitcast is the error, on its line."""
    sent, received, bitcast = exchange
    rng = np.random.default_rng(seed)
    ints = rng.integers(-2**31, 2**31, WORDS_MAX, dtype=np.int64).astype(np.int32)
    floats = (rng.standard_normal(WORDS_MAX) * 1e3).astype(np.float32)
    kern = exchange_kernel(tmp_path, sent, received, bitcast)
    out_i, out_f = np.zeros(WORDS_MAX, np.int32), np.zeros(WORDS_MAX, np.float32)
    wrong = [k for k in range(len(sent)) if sent[k] != received[k] and not bitcast[k]]
    if wrong:
        with pytest.raises(ws.WordTypeError) as info:
            run_on_one_block(dev, kern, ints, floats, out_i, out_f, block=(2, 1))
        assert info.value.source[1] == line_of(kern, f"WORD-{wrong[0]}")
        return
    _, _, got_i, got_f = run_on_one_block(dev, kern, ints, floats, out_i, out_f, block=(2, 1))
    for k, (s, r) in enumerate(zip(sent, received)):
        bits = (ints if s == "i32" else floats)[k:k + 1].view(np.int32)[0]
        got = got_i[k] if r == "i32" else got_f[k:k + 1].view(np.int32)[0]
        assert got == bits, (k, s, r)


@ws.jit
def float32_words_into_a_half_slice(x, out):
    i = ws.grid(1)
    words = ws.local.array(4, np.float32)
    halves = ws.local.array(4, np.float16)
    halves[0:4] = 0.0
    if i == 0:
        words[0:4] = x[0:4]
        ws.send(ws.EAST, words[0:4])
    else:
        ws.recv(ws.WEST, out=halves[0:4], bitcast=True)
        out[0:4] = halves[0:4]


def test_a_bitcast_into_a_16_bit_slice_keeps_each_word_s_low_half(dev):
    """As python-supported.md says: a 16-bit value travels in a word's low half, so 32-bit words bitcast into
    a float16 slice keep their low 16 bits."""
    x = np.array([1.0, -2.5, 65504.0, 1e-8], np.float32)
    out = dev.device_array(4, np.float16)
    float32_words_into_a_half_slice[1, 2](dev.to_device(x), out)
    want = (x.view(np.uint32) & 0xFFFF).astype(np.uint16).view(np.float16)
    np.testing.assert_array_equal(out.copy_to_host().view(np.uint16), want.view(np.uint16))


@ws.jit
def halves_sent(out, scalar):
    x = ws.threadIdx.x
    h = ws.local.array(4, np.float16)
    f = ws.local.array(4, np.float32)
    if x == 0:
        h[0:4] = 1.5
        ws.send(ws.EAST, h[0:4])
    elif scalar:
        out[0] = ws.recv(ws.WEST, dtype=np.float32)
    else:
        ws.recv(ws.WEST, out=f[0:4])
        out[0:4] = f[0:4]


@pytest.mark.parametrize("scalar", [0, 1])
def test_the_hint_for_a_misread_16_bit_word_says_how_to_receive_one(dev, scalar):
    """dtype= cannot take a float16 word (a scalar receive is int32 or float32; a slice takes its array's
    dtype), so the error says to receive it into a slice of a float16 array; a 32-bit word's hint is dtype=."""
    with pytest.raises(ws.WordTypeError) as info:
        halves_sent[1, 2](dev.device_array(4, np.float32), scalar)
    text = str(info.value)
    assert info.value.sent_type == "float16" and info.value.received_type == "float32"
    assert "(dtype=)" not in text
    assert ("receive it as float16 (into a slice of a float16 local array" if scalar else
            "receive it as float16 (out= a slice of a float16 local array)") in text
    with pytest.raises(ws.WordTypeError) as info:
        run_on_one_block(dev, int_received_as_float, np.zeros(2, np.float32), block=(2, 1))
    assert "receive it as int32 (dtype=)" in str(info.value)


@pytest.mark.parametrize("taken", ["v = ws.recv(ws.WEST)\n        out[0] = v * 2.0",  # typed by default
                                   "out[0] = ws.recv(ws.WEST)",  # by where it goes: a float32 element
                                   "iv = 0\n        iv = ws.recv(ws.WEST)\n        out[0] = iv",  # an int32
                                   "out[0] = ws.recv(ws.RAMP, channel=1)",  # routed
                                   "for i in range(ws.recv(ws.WEST)):\n            out[i] = 1.0"])  # int32 retry
@pytest.mark.parametrize("half", ["np.float16", "ml_dtypes.bfloat16"])
def test_a_scalar_receive_of_16_bit_words_is_refused_at_its_line(dev, tmp_path, taken, half):
    """Every send toward the receive sends a 16-bit slice: a scalar receive cannot read such a word (it
    once crashed the compiler: a KeyError, or an internal error at layout), so it is a CompileError at the
    receive's line saying to receive into a 16-bit slice. Received so, the words arrive intact."""
    send = "ws.send(ws.RAMP, h[0:4], channel=1)" if "RAMP" in taken else "ws.send(ws.EAST, h[0:4])"
    source = f"""
import ml_dtypes
import numpy as np
import wafersim as ws

@ws.jit
def k(out):
    x = ws.threadIdx.x
    h = ws.local.array(4, {half})
    if x == 0:
        h[0:4] = 1.5
        {send}
    else:
        {taken}  # MARK-recv
"""
    kernel = load_source(tmp_path, source).k
    with pytest.raises(ws.CompileError) as info:
        kernel[1, 2](dev.device_array(4, np.float32), routes=[ws.routes.row_broadcast(1, 0)])
    name = half.split(".")[1]
    assert f"every ws.send toward this ws.recv() sends {name} words" in str(info.value)
    assert f"receive them into a slice of a {name} local array" in str(info.value)
    assert info.value.line == line_of(kernel, "MARK-recv") - ("\n" in taken)


@pytest.mark.parametrize("before, sent, want", [("0.0", "2.5", 2.5), ("0", "7", 7.0), ("0.0", "7", None),
                                                ("0", "2.5", None)])
def test_a_variable_that_holds_a_number_types_a_receive_assigned_to_it(dev, tmp_path, before, sent, want):
    """python-supported.md, words on the fabric, rule 1: `s = ws.recv(d)` after `s = 0.0` reads a float32
    word, after `s = 0` an int32 one; a send of the other type is refused at the receive, with dtype= as
    the fix (Python would rebind `s`; the kernel never reinterprets the word)."""
    kernel = load_source(tmp_path, f"""
import numpy as np
import wafersim as ws

@ws.jit
def k(out):
    x = ws.threadIdx.x
    s = {before}
    if x == 0:
        ws.send(ws.EAST, {sent})
    else:
        s = ws.recv(ws.WEST)  # MARK-recv
        out[0] = s * 2
""").k
    out = dev.device_array(1, np.float32)
    if want is None:
        with pytest.raises(ws.CompileError, match="say which with dtype=") as info:
            kernel[1, 2](out)
        assert info.value.line == line_of(kernel, "MARK-recv")
    else:
        kernel[1, 2](out)
        assert out.copy_to_host()[0] == np.float32(2 * want)


def test_the_refusal_rule_and_its_compiled_copy_are_the_documented_rule_for_every_pair_of_tags():
    """review52b: chain52's one rule (`wordtypes.refuses`, scalar and elementwise) and the compiled interpreter's
    copy (`compiled.fabric_ops.refuses`, whose chain bounds are numbers) against docs/python-supported.md's rule
    written from the tags' names: a typed receive takes its type's words and raw ones, a raw receive any word,
    but no word crosses the line between a collective's chain words (the `c` types) and the kernel's own."""
    from wafersim.isa.opcodes import WORD_TYPES
    from wafersim.sim.compiled.fabric_ops import refuses as compiled_refuses
    from wafersim.sim.wordtypes import refuses

    def documented(tag: int, got: int) -> bool:
        if WORD_TYPES[tag].startswith("c") != WORD_TYPES[got].startswith("c"):
            return True
        return not (got == tag or "raw" in (WORD_TYPES[tag], WORD_TYPES[got]))

    tags = range(len(WORD_TYPES))
    for tag in tags:
        want = [documented(tag, got) for got in tags]
        assert [bool(refuses(tag, got)) for got in tags] == want, WORD_TYPES[tag]
        assert refuses(tag, np.array(tags, dtype=np.uint8)).tolist() == want, WORD_TYPES[tag]
        assert [bool(compiled_refuses(tag, got)) for got in tags] == want, WORD_TYPES[tag]
        assert not compiled_refuses(tag, -1)  # (no word pushed yet: nothing to refuse)
