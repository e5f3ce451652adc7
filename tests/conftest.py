"""Helpers shared by the tests."""
from __future__ import annotations

import importlib.util
import inspect
import itertools
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _write_the_package_bytecode() -> None:
    """Where Python may not write bytecode (`PYTHONDONTWRITEBYTECODE=1`, as on the machines the suite has run
    on), every Python process the tests start (~40: the CLI, first launches, Numba's and the kernel cache's
    fresh processes) compiled all of wafersim's ~220 modules from source again, ~0.5 s of CPU each (`import
    wafersim; ws.init()` 1.4 -> 0.8 s). Writing the package's own bytecode once here, explicitly, lets them read
    it; the processes still write none, so a module a test writes and edits is never read from a stale .pyc."""
    if not sys.dont_write_bytecode:
        return  # (Python writes it itself)
    import compileall
    spec = importlib.util.find_spec("wafersim")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            compileall.compile_dir(folder, quiet=2)  # (up-to-date files are only looked at)
        except OSError:  # (a read-only install: the processes compile it, as before)
            pass


_write_the_package_bytecode()

import wafersim as ws  # noqa: E402  (after its bytecode is written)
from wafersim.compiler import passes as _passes
from wafersim.runtime import kernel_cache as _kernel_cache
from wafersim.sim.compiled import stepper as _stepper
# Modules whose compiled kernels call other kernels bind them when imported: import them before any test
# patches one with a Python wrapper (tests count calls so), else a module first imported under the patch
# keeps the wrapper, and on a machine without Numba's cache its kernels fail to compile ("Untyped global
# name 'background_receive_step'" in the stream pump, seen when test order put it there).
from wafersim.sim import stream_pump_kernels as _stream_pump_kernels  # noqa: F401

# The test suite verifies the IR after every optimisation pass (outside it, once after the last: see
# `wafersim.compiler.passes.VERIFY_EACH_PASS`), and compiles every kernel instead of loading it from the
# on-disk kernel cache (tests/test_kernel_cache.py tests that cache, in directories of its own).
_passes.VERIFY_EACH_PASS = True
_kernel_cache.ENABLED = False
# Small groups take the compiled path from their first run, whatever earlier tests in this process loaded
# (outside the tests, after 20,000 runs in NumPy: `stepper.SMALL_RUNS_BEFORE_LOADING`, tested on its own),
# so that which path a test exercises does not depend on the order tests run in.
_stepper.SMALL_RUNS_BEFORE_LOADING = 0
os.environ.setdefault("WAFERSIM_VERIFY_PASSES", "1")  # (and in the processes the tests start)
os.environ.setdefault("WAFERSIM_KERNEL_CACHE", "0")

_modules = itertools.count()


def load_source(directory: Path, source: str) -> ModuleType:
    """Write `source` to a fresh .py file in `directory` and import it: generated kernels need a source file,
    because the compiler reads a kernel's source with `inspect`."""
    name = f"_wafersim_generated_{next(_modules)}"
    path = Path(directory) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def line_of(kernel, marker: str) -> int:
    """The source line of a `@ws.jit` kernel that contains `marker` (a comment such as `# MARK-x`)."""
    lines, first = inspect.getsourcelines(kernel.py_func)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def int32_wrap(value: int) -> int:
    """A Python int wrapped to int32, as the machine's 32-bit registers hold it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def truncated_division(a: int, b: int) -> int:
    """a / b rounded toward zero, as the ISA's `div` (b != 0; Python's // floors)."""
    quotient = abs(a) // abs(b)
    return -quotient if (a < 0) != (b < 0) else quotient


def run_on_one_block(dev, kernel, *args, block=(1, 1)) -> list[np.ndarray]:
    """Launch one block; NumPy arrays are copied to the device and back (returned in order)."""
    return launch(dev, kernel, *args, block=block)


def compile_error(dev, kernel, *args, block=(1, 1)) -> ws.CompileError:
    """The CompileError a launch of `kernel` raises (the test fails if it compiles)."""
    with pytest.raises(ws.CompileError) as info:
        run_on_one_block(dev, kernel, *args, block=block)
    return info.value


def assembled_reference(compiled) -> ws.Program:
    """What the compiler's former text path made of a compiled kernel's allocated instructions: each one
    rendered as assembly text (`Op.text`, labels by name, the program's directives) and assembled, with
    the line table taken from the instructions in order. The reference the direct `Instr` encoding must
    match bit for bit (tests/test_compiler_encode.py)."""
    from wafersim.compiler.ir import Label, SourceLine, place_of
    from wafersim.isa.assembler import assemble

    program = compiled.program
    header = [f".name {program.name}", f".sram {program.data_words}", f".args {program.arg_count}"]
    header += [f'.string {i} "{s}"' for i, s in enumerate(program.strings) if i > 0]
    header += [f".route {channel} {name}" for channel, name in program.routes]
    body = [f"{item.name}:" if isinstance(item, Label) else f"    {item.text()}" for item in compiled.machine_code]
    reference = assemble("\n".join(header + body) + "\n")
    instructions = [item for item in compiled.machine_code if not isinstance(item, Label)]
    # (the kernel's file: that of a line of the kernel's own, not of a device function inlined)
    filename = next((program.lines[pc][0] for (pc, _), op in zip(reference.instructions(), instructions)
                     if isinstance(op.line, int)), "<kernel>")
    lines = {pc: place_of(op.line, filename) for (pc, _), op in zip(reference.instructions(), instructions)
             if op.line is not None}
    callers = {pc: op.line.callers for (pc, _), op in zip(reference.instructions(), instructions)
               if isinstance(op.line, SourceLine) and op.line.callers}
    return reference.__class__(**{**reference.__dict__, "lines": lines, "callers": callers})


def assert_same_program(program: ws.Program, reference: ws.Program) -> None:
    """Bit-identical code and the same directives, labels and line table."""
    assert program.code.dtype == reference.code.dtype and (program.code == reference.code).all()
    for field in ("name", "data_words", "arg_count", "strings", "labels", "routes", "lines", "callers"):
        assert getattr(program, field) == getattr(reference, field), field


@pytest.fixture(autouse=True, scope="session")
def _every_compile_matches_the_text_path():
    """Every kernel any test compiles (the library kernels included) is also assembled from text, the way
    the compiler did before it encoded `Instr`s directly, and must come out identical."""
    import wafersim.compiler as compiler

    direct = compiler.emit

    def checked(*args, **kwargs):
        compiled = direct(*args, **kwargs)
        assert_same_program(compiled.program, assembled_reference(compiled))
        return compiled

    compiler.emit = checked
    yield
    compiler.emit = direct


def launch(dev, kernel, *args, grid=(1, 1), block=(16, 1)):
    """Launch with NumPy arrays copied to the device; returns the host copies of every array argument."""
    dargs = [dev.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel[grid, block](*dargs)
    return [d.copy_to_host() for d in dargs if isinstance(d, ws.DeviceArray)]


def backward_branches(asm: str) -> list[str]:
    """Branch instructions whose target label comes earlier in the listing (i.e. loops)."""
    lines = [l.strip() for l in asm.splitlines()]
    labels = {l[:-1]: k for k, l in enumerate(lines) if l.endswith(":")}
    found = []
    for k, line in enumerate(lines):
        words = line.replace(",", " ").split()
        if words and words[0] in ("jmp", "bz", "bnz") and words[-1] in labels and labels[words[-1]] <= k:
            found.append(line)
    return found


def opcodes(asm: str) -> list[str]:
    return [l.split()[0].split(".")[0] for l in asm.splitlines()
            if l.startswith("    ") and l.strip() and not l.strip().endswith(":")]


def pytest_sessionstart(session) -> None:
    """Each xdist worker compiles its share of the engine's Numba code first when the cache is cold
    (tests/numba_warmup.py: else every worker compiled all of it)."""
    import numba_warmup
    numba_warmup.warm_up_this_worker()


#: The tests that take longest (seconds, summed over their parameters, on 2 shared cores under `make test`;
#: from `--durations` and per-test CPU runs at stop 44, Ray's module by its wall: its actors are processes
#: of their own), by node id without `tests/` and parameters, or a whole file. Only the order tests start in
#: depends on it (`pytest_collection_modifyitems`): a test missing here, or timed wrong, costs time, not checks.
SLOW_TESTS: dict[str, int] = {
    "test_cluster_ray.py": 150,
    "test_guide.py::test_code_block_runs": 83,
    "test_startup.py::test_init_in_a_fresh_process_loads_numba_before_any_launch": 40,  # (wall: fresh processes)
    "test_startup.py::test_a_launch_after_init_loads_no_engine_machine_code": 40,
    "test_kernels_solvers_columns.py::test_reduction_rounds_pick_the_measured_cheaper_block_sum": 68,
    "test_train_checkpoint.py::test_resumed_run_is_the_uninterrupted_one_bit_for_bit": 56,
    "test_stream_pump_steps.py::test_deliver_receive_in_closed_form_is_the_word_by_word_passes": 50,
    "test_kernels_solvers.py::test_solvers_on_a_wafer_with_the_trees_channels_match_scipy_in_fewer_cycles": 45,
    "test_collectives.py::test_array_reduce_to_any_root_gives_every_element": 44,
    "test_numba_cache.py::test_a_damaged_cache_file_is_an_engine_cache_error_and_the_next_launch_runs": 40,
    "test_stream_pump_panel.py::test_runs_in_closed_form_in_summa_launches": 39,
    "test_collectives_lines.py::test_short_16_bit_arrays_go_word_by_word_in_16_bits_in_the_chain_s_order": 35,
    "test_trace_store.py::test_a_later_process_loads_the_traces_and_computes_the_same_to_the_cycle": 27,
    "test_reproduce.py::test_stencil25_step_grows_linearly_with_the_column_and_moves_with_the_spec": 27,
    "test_train_checkpoint.py::test_a_checkpoint_converts_exactly_between_modes": 27,
    "test_reproduce.py::test_stencil25_equals_numpy_bit_for_bit": 24,
    "test_train.py::test_pipelined_micro_batches_match_numpy_and_send_fewer_longer_messages": 24,
    "test_compiler_fuzz.py::test_branching_kernels_match_python": 23,
    "test_compiler_encode.py::test_library_kernels_are_bit_identical_to_the_text_path": 20,
    "test_reproduce.py::test_localized_broadcasts_scale_flat_and_beat_relays": 20,
    "test_reproduce.py::test_stencil25_with_localized_broadcasts_equals_numpy_bit_for_bit": 19,
    "test_train.py::test_weight_streaming_on_too_little_sram_fails_when_the_trainer_is_made": 17,
    "test_train_precision.py::test_pipelined_layer_norms_stay_float32_between_16_bit_dense_layers": 15,
    "test_train_checkpoint.py::test_numpy_sizes_and_hyperparameters_train_save_and_resume": 14,
    "test_engine_strategies.py::test_gemm_is_identical_under_every_strategy": 13,
    "test_kernels_solvers.py::test_a_right_hand_side_far_from_norm_1_is_solved_as_a_scaled_one": 13,
    "test_cluster_data_parallel.py::test_several_systems_in_mixed_precision_follow_one_system": 13,
    "test_kernels_solvers_setup.py::test_a_2d_poisson_problem_is_one_z_layer_with_shift_minus_two": 12,
    "test_kernels_stencil25.py::test_the_default_chunk_follows_a_shallow_fifo": 12,
    "test_engine_strategies.py::test_random_vector_exchanges_are_identical_under_every_strategy": 12,
    "test_train_precision.py::test_pipelined_bfloat16_matches_numpy_and_streaming_from_the_same_init": 12,
    "test_collectives_trees_apart.py::test_stages_apart_are_exact_everywhere_when_rows_arrive_late": 12,
    "test_collectives.py::test_scalar_all_reduces_match_numpy": 12,
    "test_compiler_fuzz_collectives.py::test_collectives_in_branches_and_loops_match_numpy": 12,  # (CPU, 6 examples)
    "test_stream_pump_steps.py::test_steady_send_then_deliver_is_routed_send_step": 11,
    "test_defects.py::test_dead_pes_on_edges_corners_and_side_by_side_are_repaired": 11,
    "test_train_pipelined.py::test_an_interrupted_step_is_not_applied": 11,
    "test_vector.py::test_vector_op": 11,
    "test_train.py::test_pipelined_layer_norm_matches_numpy": 11,
    "test_defects.py::test_random_defect_maps_give_bit_identical_results_or_a_clear_error": 11,
    "test_engine_strategies.py::test_random_exchange_kernels_are_identical_under_every_strategy": 10,
    "test_train_precision.py::test_float16_values_beyond_its_range_are_refused_in_every_mode_not_made_inf": 10,
    "test_numba_cache.py::test_load_cached_loads_what_the_cache_holds_and_compiles_nothing": 10,
    "test_numba_cache.py::test_engine_functions_load_without_numbas_registries_unless_their_code_needs_them": 10,
    "test_train_precision.py::test_a_float16_product_that_outgrows_its_range_rounds_to_inf_in_every_mode": 10,
    "test_collectives.py::test_array_reduce_propagates_nans_and_infinities_on_every_path": 10,
    "test_kernels_solvers_setup.py::test_a_tolerance_below_float32_rounding_does_not_report_convergence": 10,
    "test_compiler_fuzz_mixed.py::test_branching_mixed_kernels_match_the_reference": 10,
    "test_cluster_backends.py::test_a_system_that_fails_mid_step_is_rebuilt_and_nothing_is_lost": 9,
    "test_train.py::test_streaming_loss_curve_matches_numpy_over_50_steps": 9,
    "test_compiler_for_loops.py::test_ranges_run_as_python_whatever_is_known_when_compiling": 9,
    "test_train_precision.py::test_bfloat16_loss_curve_matches_numpy_rounding_at_the_same_places": 9,
    "test_stream_pump_panel.py::test_times_off_whole_cycles_run_pair_by_pair": 9,
    "test_train_pipelined_transformer.py::test_a_step_interrupted_between_its_stages_updates_is_not_applied": 9,
    "test_cluster_checkpoint.py::test_single_trainer_and_cluster_checkpoints_load_into_each_other": 8,
    "test_debuginfo.py::test_every_value_shown_at_every_line_is_the_one_plain_python_has": 8,
    "test_trace.py::test_wafer_scale_trace_stays_under_its_bound": 8,
    "test_train_precision.py::test_16_bit_products_take_fewer_cycles_on_wse2": 8,
    "test_train.py::test_gelu_tanh_layer_norm_and_momentum_match_numpy": 8,
    "test_cluster_data_parallel.py::test_a_transformer_block_trains_data_parallel_like_on_one_system": 8,
    "test_compiler_fuzz_slices.py::test_slice_expression_trees_match_numpy": 8,
    "test_fuzz_kernels.py::test_random_exchange_kernels_match_a_numpy_model": 8,
    "test_compiler_fuzz_control.py::test_control_kernels_spilling_every_register_match_the_reference": 8,
    "test_compiled_jit.py::test_loading_from_numbas_cache_is_not_announced": 8,
}


def _xdist_shares(count: int, workers: int) -> list[int]:
    """How many tests xdist's `worksteal` scheduler hands each worker at the start: the collection cut into
    `workers` consecutive shares, the later ones taking the remainder. Steals then take from a share's end."""
    sizes: list[int] = []
    for remaining_workers in range(workers, 0, -1):
        sizes.append((count - sum(sizes)) // remaining_workers)
    return sizes


def _slow_entry(nodeid: str) -> str | None:
    """The key of `SLOW_TESTS` a test falls under (its function's, else its file's), or None."""
    function = nodeid.removeprefix("tests/").split("[")[0]
    file = function.split("::")[0]
    return function if function in SLOW_TESTS else file if file in SLOW_TESTS else None


def pytest_collection_modifyitems(config, items) -> None:
    """Under `pytest -n N` (`make test`: `--dist worksteal`): every worker starts with its share of `SLOW_TESTS`.
    In collection order a long test could start last and keep one worker busy alone at the end (Ray's module,
    ~2.5 min on 2 cores, or a solver sweep), and the slow ones fell unevenly on the workers. Here their files
    are dealt, longest first, to the worker with the least so far (a file's slow tests stay together: module
    fixtures and kernels compiled for one are reused by the next), each share starting with its slow tests,
    longest file first; the rest follow in collection order, so what is stolen from a share's end is short.
    Every worker computes the same order, as xdist requires."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # (set in xdist's workers, which collect)
    if workers < 2:
        return
    by_file: dict[str, list] = {}
    rest = []
    for item in items:
        entry = _slow_entry(item.nodeid)
        if entry is None:
            rest.append(item)
        else:
            by_file.setdefault(entry.split("::")[0], []).append(item)
    seconds = {file: sum(SLOW_TESTS[e] for e in {_slow_entry(i.nodeid) for i in group})
               for file, group in by_file.items()}
    shares: list[list] = [[] for _ in range(workers)]
    loads = [0] * workers
    for file in sorted(by_file, key=lambda f: (-seconds[f], f)):
        least = loads.index(min(loads))
        shares[least] += by_file[file]
        loads[least] += seconds[file]
    ordered = []
    for share, size in zip(shares, _xdist_shares(len(items), workers)):
        take = max(0, size - len(share))
        ordered += share + rest[:take]
        del rest[:take]
    items[:] = ordered + rest
