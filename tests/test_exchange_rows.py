"""Vector transfers of dense groups from `exchange.ROWS_MIN_LANES` (256) PEs up as whole FIFO rows (halo46,
`ExchangeMixin._stream` -> `StreamRowsMixin._stream_lockstep`): blocks whose `has_neighbor` groups are just
below, at and just above 256 PEs, FIFOs of one to five words, chunks of a transfer shorter than the FIFO,
receives in another order than the sends (FIFOs partly full when a transfer starts), int32 and float32,
against NumPy's shifted copies under several strategies (review47)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_engine_strategies import run_every_strategy
from wafersim.sim import exchange, stream_rows
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy

STRATEGIES = [REFERENCE, FAST, Strategy(stream_rows=False), Strategy(bulk_streams=False), Strategy(compiled=False),
              Strategy(lockstep=False), Strategy(event_wakeup=False), Strategy(fused_stream_rows=False)]

KERNEL = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)
ORDER = {order}


@ws.jit
def halo(cols, out, nz: ws.constant, chunk: ws.constant):
    """Each PE's nz words to each neighbour it has, `chunk` words at a time (all four sent, then received in
    `ORDER`); out: what came from each direction."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine = ws.local.array(nz, np.{dtype})
    got = ws.local.array((4, nz), np.{dtype})
    got[0:4, 0:nz] = 0
    mine[0:nz] = cols[pe, 0:nz]
    for c in range(0, nz, chunk):
        for d in DIRS:
            if ws.has_neighbor(d):
                ws.send(d, mine[c:c + chunk])
        for k in ORDER:
            if ws.has_neighbor(DIRS[k]):
                ws.recv(DIRS[k], out=got[k, c:c + chunk])
    for k in (0, 1, 2, 3):
        out[pe, k * nz:(k + 1) * nz] = got[k, 0:nz]
'''


def halo_under_every_strategy(halo, spec: ws.WaferSpec, cols: np.ndarray, chunk: int, strategies) -> np.ndarray:
    """The `halo` kernel (KERNEL's) of `cols` (height, width, nz) on a fresh device of `spec` under each of
    `strategies` (the same results and statistics under all): what each PE received, (height, width, 4, nz)."""
    height, width, nz = cols.shape

    def launch():
        device = ws.Device(spec)
        d_out = device.device_array((height * width, 4 * nz), cols.dtype)
        stats = halo[1, (width, height)](device.to_device(cols.reshape(-1, nz)), d_out, nz, chunk)
        return d_out.copy_to_host().reshape(height, width, 4, nz), stats

    return run_every_strategy(launch, strategies)[0]


@pytest.mark.parametrize("width, height, depth, chunk, nz, dtype, order, link", [
    (17, 16, 3, 3, 6, "float32", (3, 2, 1, 0), 1),    # east and west groups of 256 PEs, north and south of 255
    (16, 17, 2, 1, 3, "int32", (0, 1, 2, 3), 1),      # north and south 256, east and west 255, one-word chunks
    (18, 16, 5, 4, 8, "int32", (2, 0, 3, 1), 1),      # 270 and 272: above, FIFOs deeper than a chunk
    (17, 16, 1, 1, 2, "float32", (1, 3, 0, 2), 0.5),  # one-word FIFOs, half-rate links (whole times still)
])
def test_halo_exchanges_of_groups_around_the_row_threshold_give_numpys_shifted_copies(
        tmp_path, monkeypatch, width, height, depth, chunk, nz, dtype, order, link):
    halo = load_source(tmp_path, KERNEL.format(order=order, dtype=dtype)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    rows = []
    lockstep = stream_rows.StreamRowsMixin._stream_lockstep
    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_stream_lockstep",
                        lambda self, ins, cost, lanes, *args: rows.append(
                            (lanes.count, lockstep(self, ins, cost, lanes, *args))) or rows[-1][1])
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth, link_words_per_cycle=link)
    cols = np.random.default_rng(width * height + nz).integers(-1000, 1000, (height, width, nz)).astype(dtype)

    out = halo_under_every_strategy(halo, spec, cols, chunk, STRATEGIES)
    padded = np.pad(cols, ((1, 1), (1, 1), (0, 0)))
    from_neighbour = [padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]]  # W, E, N, S
    x, y = np.arange(width)[None, :, None], np.arange(height)[:, None, None]
    has = [x > 0, x < width - 1, y > 0, y < height - 1]
    for k in range(4):
        np.testing.assert_array_equal(out[:, :, k], np.where(has[k], from_neighbour[k], 0), err_msg=f"direction {k}")
    moved = {count for count, done in rows if done}
    assert moved and min(moved) >= exchange.ROWS_MIN_LANES  # (whole rows, for groups from 256 PEs only)


MISTYPED = """
.sram 8
    li r4, 0
    li r5, 3
    hasnb r3, east
    bz r3, receive
    sendv.{sent} east, 0, r4, r5
receive:
    hasnb r3, west
    bz r3, done
    recvv.{taken} west, 0, r4, r5
done:
    halt
"""


@pytest.mark.parametrize("sent, taken", [("f32", "i32"), ("i32", "f32")])
def test_a_mistyped_receive_by_a_row_moving_group_fails_as_everywhere(monkeypatch, sent, taken):
    """Groups of 256 PEs that move whole rows check the words' types as the other movers do: the same
    WordTypeError, at the same PE, under every strategy."""
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    rows = []
    lockstep = stream_rows.StreamRowsMixin._stream_lockstep
    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_stream_lockstep",
                        lambda self, *args: rows.append(lockstep(self, *args)) or rows[-1])
    names = {"f32": "a float32", "i32": "an int32"}

    def launch():
        dev = ws.Device(ws.WaferSpec(width=17, height=16, fifo_depth=4))
        return None, dev.launch(ws.assemble(MISTYPED.format(sent=sent, taken=taken)), (1, 1), (17, 16), ())

    with pytest.raises(ws.WordTypeError, match=rf"PE \(16, 0\) received {names[sent]} word as "):
        run_every_strategy(launch, STRATEGIES)
    assert any(rows)
