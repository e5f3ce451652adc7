"""The engine's size thresholds, lowered for the differential fuzzers (tests/test_fuzz_engine_strategies.py and
its `_ops.py`), so that blocks of a few PEs take the paths that otherwise only large groups and long launches
take."""
from __future__ import annotations

import contextlib
from unittest import mock


def small_thresholds() -> dict:
    """(module, name) -> a value far below the engine's size thresholds, so that blocks of a few PEs take
    the paths that otherwise only large groups take: the lockstep NumPy path instead of the interpreter, row
    transfers, batched vector instructions, FIFO rows kept row by row, parts on threads, wave batches, queued
    rank-1 updates split over threads; and the Python-side bounds that only large or long launches pass: the
    lockstep bound's runs and its whole-window retries (`_BOUND_RUN`), dense groups' row transfers, the store
    log's commits, the bandwidth ledger's and the route watch's settles, the sleepers' least cycle by runs, the
    stream pump split by senders over threads, shrinking wake batches, blocked `vfma` and bulk copies."""
    from wafersim.sim import (asleep, background, bandwidth, batching, compute, exchange, fabric, lanes,
                              lockstep_rows, offwafer, parallel, racecheck_routes, rank1_queue, stream_pump,
                              vector_batch)
    from wafersim.sim.compiled import stepper

    return {(stepper, "SMALL_GROUP"): 2, (stepper, "SMALL_REGION"): 2, (stepper, "FABRIC_GROUP"): 2,
            (stepper, "WAKE_BATCH"): 2, (stepper, "ALONE_BELOW"): 2, (stepper, "CHUNK_LANES"): 2,
            (stepper, "PARALLEL_MIN"): 4, (exchange, "BULK_MAX_LANES"): 2,
            (background, "BULK_MAX_LANES"): 2, (vector_batch, "BATCH_LANES"): 8,
            (vector_batch, "MIN_BLOCK_PES"): 2, (vector_batch, "BLOCK_BYTES"): 1, (fabric, "BLOCK_BYTES"): 0,
            (parallel, "PARALLEL_LANES"): 2, (parallel, "ROW_TRANSFER_LANES"): 2, (batching, "FIRST_BATCH"): 2,
            (rank1_queue, "PARALLEL_ELEMENTS"): 1, (rank1_queue, "FIRST_CAPACITY"): 1,
            (lockstep_rows, "_BOUND_RUN"): 2, (exchange, "ROWS_MIN_LANES"): 2, (offwafer, "LOG_COMMIT_WORDS"): 4,
            (bandwidth, "SETTLE_ENTRIES"): 4, (racecheck_routes, "SETTLE_AT"): 1, (asleep, "CHUNK"): 2,
            (lanes, "STRIDED_LANES"): 2, (stream_pump, "PARALLEL_RECEIVERS"): 1, (stepper, "WAKE_WORDS"): 1,
            (compute, "VFMA_BLOCK_BYTES"): 4, (offwafer, "TRANSPOSE_BLOCK"): 2, (offwafer, "LOAD_ROW_BYTES"): 1,
            (lanes, "SPARSE_FRACTION"): 0.45}  # (a group short of a block's edge in complement form: lockstep)


def _importers(module, name: str) -> list:
    """`module` and the engine's modules that imported `name` from it (`from .lanes import SPARSE_FRACTION`),
    so that a patched threshold is one value everywhere."""
    import sys

    value = getattr(module, name)
    return [module] + [other for key, other in sorted(sys.modules.items())
                       if key.startswith("wafersim.sim.") and other is not module and other is not None
                       and getattr(other, name, None) is value and not isinstance(value, (bool, int))]


@contextlib.contextmanager
def thresholds(which: dict, threads: int = 3):
    """The engine's thresholds set to `which` (some of `small_thresholds()`) and, when any is, `threads`
    threads inside the block."""
    from wafersim.sim import parallel

    with contextlib.ExitStack() as stack:
        for (module, name), value in which.items():
            for holder in _importers(module, name):
                stack.enter_context(mock.patch.object(holder, name, value))
        if which:
            stack.enter_context(parallel.threads(threads))
        yield
