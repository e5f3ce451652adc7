"""Execution strategies of the engine, switchable for differential testing.

The fast strategies must give results, cycle counts and per-PE statistics bit-identical to the
reference ones (per-word vector transfers, every blocked group re-tested after any progress, one NumPy
call per instruction and group);
tests/test_engine_strategies.py runs kernels both ways and compares. Only tests and benchmarks should
force a strategy.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Iterator


@dataclasses.dataclass(frozen=True)
class Strategy:
    #: sendv/recvv and the stream ops (vaddx, ...) move every word that FIFO room and data allow in one
    #: vectorised step, and a dense group at a stream op none of whose lanes has a word waits as it came
    #: (else one word per step across the lanes, the group split into index sets).
    bulk_streams: bool = True
    #: a blocked group is re-tested only after a push (recv) or pop (send) on a FIFO it waits on at one
    #: of its PEs (else every blocked group is re-tested after any progress).
    event_wakeup: bool = True
    #: small and divergent groups run in the compiled (Numba) per-PE interpreter, `sim.compiled` (else
    #: every group runs one NumPy call per instruction).
    compiled: bool = True
    #: a float32 rank-1 update (`vger`) runs as one compiled pass over its lanes, whatever their addresses
    #: (`sim.descriptor_kernels`; else one NumPy call per distinct tuple of operand addresses).
    compiled_descriptors: bool = True
    #: a bulk step of background receives (`recva`) runs as one compiled pass over its lanes
    #: (`sim.background_kernels`; else NumPy calls over lane-sized arrays). Only with `bulk_streams`.
    compiled_background: bool = True
    #: the lockstep path: dense groups whose lanes all move one word number of a FIFO use unmasked row
    #: operations (`exchange`, "lockstep rows"); a scalar send or receive takes the issue cycles its
    #: lanes owe into its own cost and merging groups settle only the smaller one's difference; branches
    #: on has_neighbor (`sim.branches`) and neighbour checks are memoized per lane set (else: masked puts
    #: and temporaries, every owed amount written back before each send or receive and at every merge,
    #: every branch and check read from the registers).
    lockstep: bool = True
    #: the compiled interpreter also runs neighbour send/recv/sendv/recvv, parking PEs on full or empty
    #: FIFOs (else its PEs stop at every transfer and the NumPy executors run it). Only with `compiled`.
    compiled_fabric: bool = True
    #: programs with routed channels run in the compiled interpreter too when `sim.routed_senders` proves
    #: that at most one PE per block sends routed words (else they stay on the NumPy path). Only with
    #: `compiled`.
    compiled_routed: bool = True
    #: a lockstep vector transfer of a large group (`sim.stream_rows`), with whole cycle times, writes each
    #: FIFO row once, waits included (else word by word as whole-row scalar sends and receives).
    stream_rows: bool = True
    #: full waves run several at a time in one simulation where it provably gives the same results,
    #: cycles and statistics as one by one (`sim.batching`: start times predicted and checked, no PE
    #: touching a word another PE of the batch stored, off-wafer bandwidth never the limit; else the
    #: batch is undone and its waves run one by one).
    batched_waves: bool = True
    #: the compiled interpreter's fast paths for segments (PEs at one pc, `sim.compiled.interpreter`):
    #: register-only instructions (and SRAM loads and stores, bounds checks, PE constants, kernel arguments)
    #: run as one loop per operation over the segment (`simple_ops`), segments
    #: side by side in its lane order merge in place, a split whose lanes are already in order moves none,
    #: and each segment keeps a bound of its lanes' times (else: the dispatch and bookkeeping per PE, merges
    #: copy every lane, every split reorders, the bound is recomputed per run). Only with `compiled`.
    compiled_loops: bool = True
    #: the compiled interpreter runs the PEs that neighbour transfers wake in batches, as segments by the pc
    #: each resumes at (parallel pipelines, a scan's rows, as wavefronts; else one woken PE at a time, each
    #: alone). Only with `compiled_fabric`.
    compiled_wavefronts: bool = True
    #: a scalar routed send from one PE (a block's broadcast) runs as compiled passes over its receivers and
    #: links (`sim.routed_one`; else NumPy gathers and scatters over their expanded index arrays).
    routed_one: bool = True
    #: a scalar routed `send` from a PE whose path the NumPy path has checked (its first send on the channel's
    #: routes: `routed_one`), and a scalar routed `recv`, run in the compiled interpreter, which delivers the word,
    #: wakes the receivers parked there and stops each sender and receiver right after (`compiled.routed_words`;
    #: else the interpreter stops before them and the NumPy path runs them). Only with `compiled_fabric`.
    compiled_broadcast: bool = True
    #: a converged group of a region of up to `compiled.stepper.FABRIC_GROUP` PEs that reaches the split of a chain
    #: reduction (a conditional branch both ways of which reach a stream op such as `vaddx` within a few scalar
    #: instructions, `ProgramTable.chain_entries`: a block all-reduce's chain root, middle and end) runs
    #: from there in the compiled interpreter, in one call (else NumPy splits it, runs the root's first receive,
    #: and the interpreter takes the chain's end and middle in a call each). Only with `compiled_fabric`.
    compiled_chains: bool = True
    #: a dense group's vfma computes its products in cache-sized blocks of PEs, each added in as it is made
    #: (`sim.compute`; else into one scratch array over the region, at wafer scale a few hundred MiB of
    #: fresh memory per launch, written and read back once more).
    blocked_vfma: bool = True
    #: a strided bulk store (`gstv`, `sim.offwafer`) transposes in blocks of PEs, on the engine's threads, and
    #: its undo record (`GlobalMemory.undo_on_error`) of words that are all zero is a zero array that maps
    #: no memory until read (else one transposing copy of the whole range, and a copy of the old words).
    lean_bulk_stores: bool = True
    #: bulk copies with gaps: a load (`gldv`) by a group with gaps between its PEs (every PE but a column of
    #: them, say) whose global addresses step by one stride per PE copies each run of consecutive PEs as one
    #: strided block, and a strided store (`gstv`) of rows with gaps between them inside an undo record
    #: (`GlobalMemory.undo_on_error`) keeps the block from its first row to its last (`sim.offwafer`; else the
    #: 2-D gathers and scatters of the general path, some hundred MiB of index arrays at wafer scale).
    gapped_bulk_copies: bool = True
    #: consecutive vector instructions of a large dense group (only register instructions and loads of
    #: words they do not write between them) run together, block of PEs by block (`sim.vector_batch`;
    #: else one NumPy call over the whole group per instruction).
    fused_vectors: bool = True
    #: a routed vector send's step keeps the books of its receivers and links (their room, the arrival
    #: order, the words pushed, the links' reservations) in compiled passes (`sim.fifo_kernels`:
    #: `routed_room`, `routed_arrivals`, `share_links`; else NumPy over the expanded receivers and links),
    #: each lane's receivers in PE order, and a merging channel's (a bus's) sender sets cut from one trace of
    #: all its sources (`sim.routing`; else traced set by set).
    routed_steps: bool = True
    #: a lockstep send or receive notes the FIFO count its group's PEs now share (`Fifo.note_uniform`), and
    #: the next one over the same PEs reads it instead of reducing the counters (else three reductions
    #: over the group each time).
    uniform_counts: bool = True
    #: a route that works is traced by one compiled loop per source (`sim.trace_kernels`; else level by
    #: level in NumPy, as a route with a fault always is, to name its PEs): a broadcast over a wafer-wide
    #: block, traced once per process, takes milliseconds instead of some 0.4 s.
    compiled_trace: bool = True
    #: consecutive float32 rank-1 updates (`vger`) of a group into one destination, with only register
    #: instructions between them, run as one compiled pass over the destination (`sim.rank1_queue`; else one
    #: pass per update). Only with `compiled_descriptors`.
    fused_rank1: bool = True
    #: a routed vector send's step (with whole-cycle times, FIFO fields in one block, no trace) runs as one
    #: compiled call: the passes of `routed_steps` and the NumPy between them (`sim.routed_step_kernels`; else
    #: those passes called one by one from Python). Only with `routed_steps`.
    fused_routed_step: bool = True
    #: at a barrier of a one-block wave, a FIFO every PE has emptied gives its slot-time rows back to a pool
    #: that its next rows come from (`Fifo.note_popped_at_barrier`): a stencil cycles one row per FIFO instead
    #: of touching `fifo_depth` rows of fresh memory (else every slot keeps a row of its own). Only with
    #: `uniform_counts` (it reads the counts noted there).
    recycled_slot_rows: bool = True
    #: after a routed background send's step (`senda` through the ramp), the following steps of its receivers'
    #: background receives and its own run alternately in one compiled call while the scheduler would run
    #: nothing else between them and no lane finishes (`sim.stream_pump`; else one trip through the scheduler
    #: per step of each side). Only with `fused_routed_step` and `compiled_background`.
    stream_pump: bool = True
    #: in a stream pump's steady pairs, where the receivers take a whole FIFO, the pass that delivers and takes
    #: their words also finds the slot times the senders' next step waits for (the most, per sender, of each
    #: slot's take time less its latency), so those slots are read once, as they are written
    #: (`stream_pump_steps.deliver_receive`; else the senders' step reads them again). Only with `stream_pump`.
    pump_slot_free: bool = True
    #: in a stream pump, runs of steady pairs of a uniform multicast (every receiver takes a whole FIFO of its
    #: sender's words each pair, into the same SRAM row) in closed form per sender: the receivers' clocks,
    #: counters and arrival books and the senders' links touched once per run, not once per pair
    #: (`stream_pump_panel`; else every pair's steps). Only with `pump_slot_free`.
    pump_panel: bool = True
    #: the words of a routed background send's step that a stream pump may follow are delivered by the pump,
    #: not by the step: where its receivers take exactly those words at the first word of their transfers,
    #: the pump's first receive then runs in closed form (and its runs of steady pairs from it), not as a
    #: general receive of the words just stored (`stream_pump_kernels.start_receives`; else the step stores
    #: them and the pump's first pair reads them back). Only with `stream_pump`.
    pump_first_step: bool = True
    #: a straight run of integer register instructions (`li`, `add`, `addi`, ...), scalar loads and stores, and
    #: (in a group by index) float32 vector arithmetic and copies of a group runs as one compiled pass over its
    #: lanes, where Numba is loaded (`sim.register_blocks`; else one NumPy call and one trip through the
    #: scheduler's loop per instruction).
    register_blocks: bool = True
    #: a lockstep scalar send or receive of a whole group that no lane waits for leaves its lanes' clocks as they
    #: were, and the group owes the cycles it took like issue cycles (`exchange`, "owed clocks and counts"; else
    #: each one writes the clocks). Only with `lockstep`.
    owed_transfers: bool = True
    #: the FIFO word counters of such a send or receive are advanced when next read, or when other PEs move
    #: words of that FIFO (`Fifo.count_one`; else at every transfer). Only with `lockstep`.
    deferred_counts: bool = True
    #: the float16 vector instructions (`vhadd` ... `vhfma`, `vwfma`, `vcvth`, `vcvtf`; bfloat16 ones not) run as
    #: one compiled pass over the group's words, written in place (`sim.half_vector_kernels`; else NumPy's
    #: float16 casts and ufuncs, a few temporaries the size of the operands).
    compiled_half_vectors: bool = True
    #: a bulk receive step (`exchange._stream_bulk`, with whole-cycle times and FIFO fields in one block) runs as
    #: one compiled pass over its lanes: their words taken, clocks, stalls, progress and FIFO counts written
    #: (`fifo_kernels.bulk_receive_step`; else NumPy around the compiled pass over the slots). Only with
    #: `bulk_streams`.
    fused_bulk_receive: bool = True
    #: a lockstep scalar receive of a whole dense group into a register runs as one compiled pass, where Numba is
    #: loaded: slot times, the word copied, whether a lane waited (`lockstep_kernels.receive_row`; else NumPy
    #: passes: two reductions, the slot times, the copy). Only with `lockstep`.
    fused_receive_rows: bool = True
    #: a whole lockstep vector transfer (`sendv` / `recvv`) of a dense group that one thread moves, with whole
    #: cycle times and FIFO fields in one block, runs as one compiled call: its tests (one base, length and word
    #: number, room or words for all) and its moves, clocks, stalls and counts (`sim.stream_whole_kernels`; else
    #: NumPy around the row kernels of `stream_rows`). Only with `stream_rows`.
    fused_stream_rows: bool = True
    #: a routed vector send's lanes asleep for want of room wake, at a pop of the channel, only where every
    #: receiver of their words has room again, the only lanes whose retry moves a word (`RoutedExchangeMixin.
    #: _senders_with_room`; else every lane asleep at that send wakes at any pop of the channel: a multicast to
    #: 4 receivers woke up to 4 times a step, the routed 25-point stencil's senders some 2,300 times a launch
    #: for nothing). Only with `event_wakeup`.
    routed_wake_room: bool = True
    #: a NumPy group run, at its end, takes the scheduler's next step itself where the scheduler would run the
    #: lowest runnable group in NumPy with nothing else to decide (`WaveSim._hand_on`: no global load held, no
    #: bandwidth to settle, no clock to look at): that group's run goes on in the same call, the same groups
    #: in the same order, without a trip through the scheduler's loop (bicgstab7's ~7,000 runs a launch).
    runs_on: bool = True
    #: where a converged group's run splits at a forward branch with no other group waiting and the part that
    #: falls through has only a plain vector transfer to run (an `li`, a `sendv` / `recvv`), the run takes the
    #: scheduler's next two steps itself (`SplitRunsMixin._run_split`): that part, then the group met again at the
    #: target, the same groups in the same order without two hand-ons (a halo exchange's `if has_neighbor(d)`:
    #: bicgstab7's ~5,100 of ~5,500 NumPy runs a launch). Only with `runs_on`.
    split_runs: bool = True
    #: a vector op or reduction of a group of every PE of a region below `parallel.PARALLEL_LANES` tests its
    #: register operands (SRAM addresses, length) for one common value in one pass over their rows, and a vector
    #: op runs as one call on the SRAM rows (a `vfma`'s product, where one block of `compute._vfma_blocked`
    #: holds it, into the wave's scratch array), without the views, exclusions and parts of a complement or
    #: windowed group (`ComputeMixin._whole_region`; else each operand's row is tested alone and the op runs
    #: through `Lanes.apply` / `_vfma_blocked`): bicgstab7's ~1,100 vector ops a launch on 32 x 32 PEs.
    whole_vectors: bool = True
    #: a float32 `vredsum` or `vdot`, where Numba is loaded, sums its lanes' words (products) in one compiled
    #: pass (`sim/sum_kernels.py`: the same roundings in the same order; a NaN total computed again from the
    #: operands, as after the NumPy path), not one NumPy call per word (`compute._left_to_right`).
    compiled_sums: bool = True
    # (How many threads the engine uses is `sim.parallel.threads`, not a strategy: results never depend on it.)


FAST = Strategy()
REFERENCE = Strategy(bulk_streams=False, event_wakeup=False, compiled=False, compiled_descriptors=False,
                     compiled_background=False, lockstep=False, compiled_fabric=False,
                     compiled_routed=False, stream_rows=False, batched_waves=False,
                     compiled_loops=False, compiled_wavefronts=False, routed_one=False, compiled_broadcast=False,
                     compiled_chains=False,
                     blocked_vfma=False, lean_bulk_stores=False, gapped_bulk_copies=False, fused_vectors=False,
                     routed_steps=False,
                     uniform_counts=False, compiled_trace=False, fused_rank1=False, fused_routed_step=False,
                     recycled_slot_rows=False, stream_pump=False, pump_slot_free=False, pump_panel=False,
                     pump_first_step=False, register_blocks=False, owed_transfers=False,
                     deferred_counts=False, compiled_half_vectors=False, fused_bulk_receive=False,
                     fused_receive_rows=False, fused_stream_rows=False, routed_wake_room=False,
                     runs_on=False, split_runs=False, whole_vectors=False, compiled_sums=False)
# The strategies `forced` blocks entered, innermost last, in this thread (a context variable: a module-wide
# stack let one host thread's `forced(REFERENCE)` run another thread's launches under it, and the first of two
# threads to leave its block popped the other's strategy, leaving it under the first's). The engine's own
# threads run in a copy of the launching thread's context (`sim.parallel.run`), and so does the debugger's.
_active: contextvars.ContextVar[tuple[Strategy, ...]] = contextvars.ContextVar("wafersim_strategy",
                                                                              default=(FAST,))


def active() -> Strategy:
    """The strategy new waves of this thread's launches use."""
    return _active.get()[-1]


@contextlib.contextmanager
def forced(strategy: Strategy) -> Iterator[Strategy]:
    """Run launches inside the `with` block under `strategy` (for differential tests and benchmarks): those
    this thread makes; other host threads keep theirs."""
    token = _active.set(_active.get() + (strategy,))
    try:
        yield strategy
    finally:
        _active.reset(token)
