"""Both cores for a fabric call: a group whose neighbour transfers all stay inside their row of PEs runs as parts
of whole rows, one per thread (`stepper._run_compiled`, `parallel.run`; the interpreter releases the GIL).

A part is safe to run beside the others when nothing one part's run writes is read or written by another's:
- every transfer goes from a PE to a PE of the same part: every FIFO the program uses comes from the east or the
  west (a row chain; `region.offset` of those is +-1, and the interpreter refuses a transfer across the block's
  edge, `transfers.transfer`), so a part of whole rows holds both ends of each, and the PEs its transfers wake
  (resident sleepers too) are its own;
- the per-PE arrays (clocks, counts, registers, SRAM, FIFO slots and counters, parked codes, resume pcs, progress,
  stall) are written only at the running PE and the owner of the FIFO it pushes into, both in the part;
- the per-call state is the part's own: its work list, joined sleepers, vector-word count, per-FIFO `meta` row
  (merged into the FIFOs' after the call: pushes and pops seen, the deepest queue a refused push wanted) and its
  `pc_counts` and `stats` (summed, as the threaded call without transfers does);
- no FIFO can change how it tags its words: its tags are one uniform tag, and every instruction that pushes into it
  pushes that tag (or the FIFO holds none yet and they all push the same one). A tag of another kind would turn the
  FIFO's tags per slot, a write over every PE's slots (`transfers.transfer`) and a count over all of them.
The fabric model is timestamp-based (`fabric_ops`): a PE's results and cycles depend only on the words it finds,
not on when, in host order, it runs, so the parts' interleaving changes neither (`test_fabric_parts`).
"""
from __future__ import annotations

import numpy as np

from ...isa.opcodes import EAST, WEST
from .fabric_ops import MOVED, PER_SLOT, UNIFORM, WANTS_ROOM
from .kinds import K_SEND, K_SENDV, K_VADDX
from .table import FIFO, KIND, OUT_FIFO, TAG

MIXED = -2  # `push_tags`: pushes of more than one tag into the FIFO
_PAD = 8  # entries before and after each part's small arrays: no two parts' hot counters share a cache line


def push_tags(fields: np.ndarray, fifos: int) -> np.ndarray:
    """Per FIFO number: the one tag every instruction pushing into it pushes, -1 where none does, `MIXED`."""
    kinds, code = fields[KIND], np.arange(fields.shape[1])
    sends = (kinds == K_SEND) | (kinds == K_SENDV)
    streams = (kinds >= K_VADDX) & (fields[OUT_FIFO] >= 0)
    targets = np.concatenate([fields[FIFO, code[sends]], fields[OUT_FIFO, code[streams]]])
    tags = np.concatenate([fields[TAG, code[sends]], fields[TAG, code[streams]]])
    result = np.full(fifos, -1, dtype=np.int64)
    for f, tag in zip(targets.tolist(), tags.tolist()):
        result[f] = tag if result[f] in (-1, tag) else MIXED
    return result


def row_parts(fabric, idx: np.ndarray, threads: int, tags: np.ndarray) -> list[np.ndarray] | None:
    """`idx` (sorted region indices) cut into up to `threads` parts of whole rows, or None where the call must run
    on one thread (a FIFO from the north, south or a router; tags that could turn per slot; fewer than two parts
    with lanes). `fabric.meta` must be this call's (`FabricState.arrays` first: the NumPy engine's pushes between
    calls may have changed a FIFO's tags)."""
    if any(incoming not in (EAST, WEST) for incoming, _ in fabric.keys):
        return None
    meta = fabric.meta
    for f in range(len(fabric.keys)):
        if meta[f, PER_SLOT] != 0 or tags[f] == MIXED or (tags[f] != -1 and meta[f, UNIFORM] not in (-1, tags[f])):
            return None
    region = fabric.wave.region
    rows = min(threads, region.height)
    bounds = [round(k * region.height / rows) * region.width for k in range(rows + 1)]
    cuts = np.searchsorted(idx, bounds)
    parts = [idx[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]
    return parts if len(parts) > 1 else None


def _padded(shape: tuple, dtype) -> np.ndarray:
    """A C-contiguous array of `shape` with `_PAD` rows of its own before and after."""
    buffer = np.zeros((shape[0] + 2 * _PAD, *shape[1:]), dtype=dtype)
    return buffer[_PAD:_PAD + shape[0]]


def part_fabrics(fabric, arrays: tuple, parts: int) -> list[tuple]:
    """`run_group`'s `fabric` tuple for each part: `arrays` (`FabricState.arrays`) with a work list, joined
    sleepers, vector-word count and `meta` of the part's own (the first part's lists are the fabric's)."""
    kept = fabric.part_buffers
    if kept is None or len(kept) < parts or kept[0][0] is not fabric.ready:
        n = fabric.ready.shape[0]
        kept = [(fabric.ready, fabric.joined, _padded((1,), np.int64), _padded((1,), np.int64),
                 _padded((1,), np.int64))]
        kept += [(np.empty(n, dtype=np.int64), np.empty((2, n), dtype=np.int64), _padded((1,), np.int64),
                  _padded((1,), np.int64), _padded((1,), np.int64)) for _ in range(1, parts)]
        fabric.part_buffers = kept
    fabrics = []
    for ready, joined, ready_top, joined_top, vector_words in kept[:parts]:
        meta = _padded(fabric.meta.shape, np.int64)
        meta[:] = fabric.meta
        ready_top[0] = 0
        joined_top[0] = fabric.joined_top[0] if joined is fabric.joined else 0  # (the first part's list goes on)
        fabrics.append((*arrays[:5], meta, *arrays[6:12], ready, ready_top, joined, joined_top, vector_words))
    return fabrics


def merge_parts(fabric, fabrics: list[tuple]) -> None:
    """After the parts ran: their FIFO facts into the fabric's `meta`, their joined sleepers (part by part, each in
    its wake order) into its list, as one call's (`FabricState.finish`, `take_joined`)."""
    meta, top = fabric.meta, 0
    for part in fabrics:
        part_meta, joined, joined_top = part[5], part[14], int(part[15][0])
        meta[:, MOVED] |= part_meta[:, MOVED]
        meta[:, WANTS_ROOM] = np.maximum(meta[:, WANTS_ROOM], part_meta[:, WANTS_ROOM])
        meta[:, UNIFORM] = np.where(meta[:, UNIFORM] == -1, part_meta[:, UNIFORM], meta[:, UNIFORM])
        if joined is not fabric.joined:
            fabric.joined[:, top:top + joined_top] = joined[:, :joined_top]
        top += joined_top
    fabric.joined_top[0] = top
