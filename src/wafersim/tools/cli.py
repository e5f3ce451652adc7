"""The `wafersim` command line: info, run, debug, demo, bench, asm, disasm, trace."""
from __future__ import annotations

import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import NamedTuple

import click

from ..arch.spec import PRESET_SIZES, resolve_spec
from ..arch.values import plural
from ..errors import AssemblyError, WaferError, output_path
from ..isa import binary
from ..isa.assembler import assemble, disassemble
from ..isa.opcodes import opcode_cycles
from ..runtime import device as runtime_device
from ..sim import trace as trace_format
from ..sim.stats import LaunchStats, energy_text, unit_text
from .arguments import folder_problem


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """wafersim: a CUDA-like toolchain and simulator for a wafer-scale engine (our own ISA design)."""


@main.command()
@click.option("--spec", "spec_name", default="wse2", show_default=True,
              help=f"a preset ({', '.join(PRESET_SIZES)}) or a WaferSpec TOML file")
@click.option("--spare-cols", type=int, help="override the spec's spare columns (docs/defects.md)")
@click.option("--spare-rows", type=int, help="override the spec's spare rows")
@click.option("--defect-rate", type=float, help="override the spec's defect rate (probability a physical PE is dead)")
@click.option("--defect-seed", type=int, help="override the seed of the defect draw")
def info(spec_name: str, spare_cols: int | None, spare_rows: int | None, defect_rate: float | None,
         defect_seed: int | None) -> None:
    """The machine: its figures and peak rates, defects, spares and the usable rectangle."""
    spec = _spec(spec_name)
    overrides = {name: value for name, value in (("spare_cols", spare_cols), ("spare_rows", spare_rows),
                                                  ("defect_rate", defect_rate), ("defect_seed", defect_seed))
                 if value is not None}
    if overrides:
        spec = _guard(lambda: spec.replace(**overrides))
    click.echo(spec.summary())
    rows = [("mesh", f"{spec.width} x {spec.height} = {plural(spec.n_pes, 'PE')}"),
            ("SRAM per PE", f"{spec.sram_bytes:,} bytes"), ("registers", str(spec.registers)),
            ("vector lanes", f"{spec.vector_lanes} float32, {spec.vector_lanes_half} 16-bit (float16, bfloat16)"),
            ("clock", f"{spec.clock_hz / 1e9:g} GHz"),
            ("hop latency", f"{plural(spec.hop_latency, 'cycle', 'g')}, plus {spec.ramp_latency:g} up and down "
                            f"each ramp"),
            ("link bandwidth", f"{spec.link_words_per_cycle:g} words/cycle/direction "
                               f"= {spec.link_words_per_cycle * 4 * spec.clock_hz / 1e9:g} GB/s"),
            ("channels x FIFO depth", f"{spec.channels} x {plural(spec.fifo_depth, 'word')}"),
            ("global memory", f"{spec.global_bytes / 1e12:g} TB, {spec.global_bytes_per_s / 1e9:g} GB/s, "
                              f"{plural(spec.global_latency, 'cycle', 'g')} + hops to the edge"),
            ("peak fp32", f"{spec.peak_flops / 1e12:,.1f} TFLOP/s"),
            ("peak 16-bit", f"{spec.peak_flops_half / 1e12:,.1f} TFLOP/s (float16, bfloat16 vector instructions)"),
            ("aggregate link bandwidth", unit_text(spec.n_links * spec.link_words_per_cycle * 4 * spec.clock_hz,
                                                  (("PB/s", 1e15), ("TB/s", 1e12), ("GB/s", 1e9)), 3)),
            ("barrier", f"{spec.barrier_base_cycles:g} + {spec.barrier_cycles_per_hop:g} x diameter cycles"),
            *defect_rows(spec)]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"  {name:<{width}}  {value}")
    costs = opcode_cycles(spec)
    classes = sorted(spec.cost_cycles.items())
    click.echo("  issue cycles by class: " + ", ".join(f"{k} {v:g}" for k, v in classes)
               + (f" (+ {len(spec.op_cycles)} per-opcode overrides)" if spec.op_cycles else "")
               + f"; {len(costs)} opcodes")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--heatmap", "metrics", multiple=True, help="also draw this per-PE metric of every launch as a PNG "
              "(busy, stall, instructions, words_sent, link_utilization, routed_words, routed_words_<channel>; "
              "repeatable)")
@click.option("--whole-wafer", is_flag=True, help="draw heatmaps over the whole wafer, not the launched blocks")
@click.option("--out", "out_dir", help="folder for the heatmaps, created if missing  [default: heatmaps]")
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
def run(script: str, script_args: tuple[str, ...], metrics: tuple[str, ...], whole_wafer: bool,
        out_dir: str | None) -> None:
    """Run a host script, then print a summary table of its launches (and draw heatmaps if asked).

    wafersim's options may come after SCRIPT too; arguments for the script that look like them go after
    `--` (wafersim run job.py -- --out pics)."""
    # Everything that can be refused is refused before the script runs, not after it (a long run lost).
    if not metrics and (out_dir is not None or whole_wafer):
        # (`--out` meant for the script, after its name, was taken here and silently dropped)
        given = [name for name, value in (("--out", out_dir), ("--whole-wafer", whole_wafer)) if value]
        example = " ".join(["--out", out_dir] if out_dir is not None else []) or "--whole-wafer"
        raise click.UsageError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for --heatmap "
                               f"pictures, and no --heatmap is given; to pass {' and '.join(given)} to the script, "
                               f"put {'it' if len(given) == 1 else 'them'} after `--` "
                               f"(wafersim run {script} -- {example})")
    unknown = [m for m in metrics if not LaunchStats.is_metric(m)]
    if unknown:
        raise click.UsageError(f"unknown metric {unknown[0]!r} for --heatmap; known: "
                               f"{', '.join(LaunchStats.HEATMAP_METRICS)}, routed_words_<channel>")
    out_dir = out_dir or "heatmaps"
    problem = folder_problem(out_dir)
    if problem:
        raise click.UsageError(f"--out {problem}")
    launches, status = _run_script(script, script_args)
    click.echo(launch_table(launches))
    if metrics:  # (the command's own output folder; the library's writers create none)
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot create --out {out_dir!r}: {exc.strerror}") from None
    for k, (_, stats) in enumerate(launches, start=1):
        if isinstance(stats, FailedLaunch):
            continue  # (numbered as in the table)
        for metric in metrics:
            path = Path(out_dir) / f"launch{k}_{stats.program}_{metric}.png"
            click.echo(f"wrote {_guard(lambda: stats.heatmap(metric, path, whole_wafer=whole_wafer))}")
    _exit_as_script(status)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("-o", "--output", default="trace.json", show_default=True, help="trace file to write")
def trace(script: str, script_args: tuple[str, ...], output: str) -> None:
    """Run a host script with every launch traced; write one Perfetto/Chrome JSON trace."""
    _guard(lambda: output_path(output, "--output"))  # (a folder or a missing one: said before the script runs)
    previous = os.environ.get("WAFERSIM_TRACE")
    os.environ["WAFERSIM_TRACE"] = "1"
    try:
        launches, status = _run_script(script, script_args)
    finally:
        if previous is None:
            os.environ.pop("WAFERSIM_TRACE", None)
        else:
            os.environ["WAFERSIM_TRACE"] = previous
    devices = list(dict.fromkeys(device for device, _ in launches))
    events, notes = [], []
    for k, device in enumerate(devices):
        more, note = device.trace_events(pid_base=1000 * k, label=f"device {k}: " if len(devices) > 1 else "")
        events += more
        notes += note
    path = _guard(lambda: trace_format.write(output, events, {"wafersim": "; ".join(notes) or "no launches"}))
    click.echo(launch_table(launches))
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(events):,} events); open it in "
               f"https://ui.perfetto.dev")
    _exit_as_script(status)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("-b", "--break", "breaks", multiple=True, type=int, help="a breakpoint at this source line (repeatable)")
def debug(script: str, script_args: tuple[str, ...], breaks: tuple[int, ...]) -> None:
    """Run a host script with a debugger prompt before each launch and at each stop (`help` lists the
    commands: break, cont, step, barrier, where, locals, print, fifo, quit)."""
    from .debug_repl import ReplDebugger

    debugger = ReplDebugger(sys.stdin, lambda text: click.echo(text, nl=not text.endswith(" ")))
    for line in breaks:
        _guard(lambda: debugger.break_at(line))  # checked against each launch's lines when it starts
    runtime_device.launch_debuggers.append(debugger)
    try:
        launches, status = _run_script(script, script_args, on_error=debugger.post_mortem)
    finally:
        runtime_device.launch_debuggers.remove(debugger)
    click.echo(launch_table(launches))
    _exit_as_script(status)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("demo_args", nargs=-1, type=click.UNPROCESSED)
def demo(demo_args: tuple[str, ...]) -> None:
    """Heat diffusion on a whole wafer (options: --preset, --steps, --out)."""
    from .demo import main as demo_main

    demo_main(list(demo_args))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED)
def bench(bench_args: tuple[str, ...]) -> None:
    """The engine benchmark (options: --preset, --steps, --write)."""
    from .bench import main as bench_main

    sys.exit(bench_main(list(bench_args)))


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", help="program file to write (default: SOURCE with .wsb)")
def asm(source: str, output: str | None) -> None:
    """Assemble a text program into a .wsb program file."""
    program = _guard(lambda: assemble(_assembly_text(Path(source)), name=Path(source).stem, file=str(source)))
    path = _guard(lambda: binary.save(program, output or Path(source).with_suffix(".wsb")))
    click.echo(f"wrote {path}: {program.name}, {len(program.code)} words, {program.data_words} data words")


def _assembly_text(source: Path) -> str:
    """The text of an assembly source file; a program file or other binary file is an `AssemblyError` that
    says what it is (reading it as text raised a bare UnicodeDecodeError)."""
    data = source.read_bytes()
    if data[:3] == binary.MAGIC[:3]:
        raise AssemblyError(f"{source}: a program file (.wsb), not assembly text: `wafersim disasm {source}` "
                            f"prints it as assembly")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssemblyError(f"{source}: not assembly text (byte {exc.start} is not UTF-8): give a text file of "
                            f"instructions (docs/isa.md)") from None


@main.command()
@click.argument("program_file", type=click.Path(exists=True, dir_okay=False))
def disasm(program_file: str) -> None:
    """Print a .wsb program file as assembly text."""
    program = _guard(lambda: binary.load(program_file))
    click.echo(disassemble(program), nl=False)


def defect_rows(spec) -> list[tuple[str, str]]:
    """(name, value) rows of `info` on dead PEs, spares and the usable rectangle (docs/defects.md)."""
    if not spec.has_physical_layout:
        return [("defects", "none: a perfect wafer, no spares (docs/defects.md)")]
    drawn = f", rate {spec.defect_rate:g} (seed {spec.defect_seed})" if spec.defect_rate else ""
    rows = [("physical array", f"{spec.physical_width} x {spec.physical_height} "
                               f"({plural(spec.spare_cols, 'spare column')}, {plural(spec.spare_rows, 'spare row')})"),
            ("dead PEs", f"{spec.n_dead:,} ({len(spec.defects)} listed{drawn})")]
    repair = spec.repair()
    if repair is not None:
        bent = int((repair.extra_hops > 0).sum())
        rows += [("spares used", f"up to {repair.spare_cols_used} of {plural(spec.spare_cols, 'spare column')} in a "
                                 f"row, {repair.spare_rows_used} of {plural(spec.spare_rows, 'spare row')}; "
                                 f"{int(repair.used.sum() - repair.used[:spec.height, :spec.width].sum()):,} "
                                 f"spare PEs carry logical PEs"),
                 ("usable rectangle", f"{spec.width} x {spec.height}: the whole logical mesh"),
                 ("detours", f"{bent:,} of {spec.n_links:,} directed links span more than one physical hop, "
                             f"+{plural(spec.detour_cycles_per_hop, 'cycle', 'g')} per extra hop")]
    else:
        usable = spec.usable_rectangle
        rows += [("spares used", "all: the spares cannot cover the defects"),
                 ("usable rectangle", f"{usable[0]} x {usable[1]} (the logical mesh shrinks: grids of "
                                      f"blocks run in more waves; a block that fits nowhere fails with "
                                      f"LaunchError)")]
    return rows


class FailedLaunch(NamedTuple):
    """A launch that started and raised (`runtime.device.launch_failure_observers`), listed in the table."""

    program: str
    grid: tuple
    block: tuple
    error: WaferError


def launch_table(launches: list) -> str:
    """A text table of (device, LaunchStats or FailedLaunch) pairs, in launch order; a failed launch (one the
    script caught: else the command stops at its error) is a row marked failed and a line naming its error."""
    if not launches:
        return "no launches"
    head = ("#", "kernel", "grid", "block", "waves", "cycles", "time (us)", "PE-instructions", "words moved",
            "global bytes", "energy")
    devices = _device_labels([device for device, _ in launches])
    if devices is not None:  # (a script on several devices: which ran where, as cycles differ between specs)
        head = head[:1] + ("device",) + head[1:]
    rows, notes = [], []
    for k, (device, s) in enumerate(launches, start=1):
        dims = (str(k),) + ((devices[id(device)],) if devices is not None else ()) + (
            s.program, "x".join(map(str, s.grid)), "x".join(map(str, s.block)))
        if isinstance(s, FailedLaunch):
            rows.append(dims + ("failed",) + ("-",) * (len(head) - len(dims) - 1))
            first_line = str(s.error).splitlines()[0] if str(s.error) else ""
            notes.append(f"launch {k} ({s.program}) failed, and the script caught the error: "
                         f"{type(s.error).__name__}: {first_line}")
            continue
        rows.append(dims + (str(s.waves), f"{s.cycles:,}", f"{s.seconds * 1e6:,.2f}", f"{s.instructions:,}",
                            f"{s.words_moved:,}", f"{s.global_bytes:,}", energy_text(s.energy_j)))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    left = 2 if devices is None else 3  # (#, device and kernel read as text: left-aligned)
    line = lambda r: "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows] + notes)


def _device_labels(devices: list) -> dict[int, str] | None:
    """"1 (dev)", "2 (wse2)", ... by `id` of each device, numbered in the order of their first launch, where the
    launches ran on more than one device; None where they ran on one (the table then has no device column)."""
    labels: dict[int, str] = {}
    for device in devices:
        if id(device) not in labels:
            labels[id(device)] = f"{len(labels) + 1} ({device.spec.name})"
    return labels if len(labels) > 1 else None


def _run_script(script: str, script_args: tuple[str, ...], on_error=None) -> tuple[list, object]:
    """Run `script` as `python script.py ARGS` would: its launches, as (device, LaunchStats) pairs (a
    `FailedLaunch` for one that failed and was caught by the script), and the
    status of a `sys.exit` it called (None if it ended without one). A script that ends with
    `sys.exit(main())` has finished, not failed: the command still prints its table, writes its trace, and
    then exits with that status (`_exit_as_script`), where it used to exit at once, with nothing."""
    status = None
    launches: list = []
    observer = lambda device, stats: launches.append((device, stats))  # noqa: E731
    failed = lambda device, *failure: launches.append((device, FailedLaunch(*failure)))  # noqa: E731
    runtime_device.launch_observers.append(observer)
    runtime_device.launch_failure_observers.append(failed)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script.py` does: its modules import
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        status = exc.code
    except WaferError as exc:
        if on_error is not None:  # (the debugger's look at the failed launch first)
            on_error(exc)
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 (the script's own error: shown as `python script.py` shows it)
        click.echo(script_traceback(exc, script), err=True, nl=False)
        raise click.exceptions.Exit(1) from None
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        runtime_device.launch_observers.remove(observer)
        runtime_device.launch_failure_observers.remove(failed)
    return launches, status


def _exit_as_script(status: object) -> None:
    """Exit as Python exits for `sys.exit(status)`: 0 for None or 0, an int as it is, anything else printed
    (to stderr) with status 1."""
    if status is None or status == 0:
        return
    if not isinstance(status, int):
        click.echo(str(status), err=True)
        status = 1
    raise click.exceptions.Exit(status)


def script_traceback(exc: BaseException, script: str) -> str:
    """The traceback of an error a script raised, as `python script.py` prints it: from the script's own
    frame on, without the frames of this command line, click and runpy around it (which said nothing
    about the script and buried its error); a syntax error is its file, line and caret alone."""
    tb, here = exc.__traceback__, os.path.abspath(script)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != here:
        tb = tb.tb_next
    return "".join(traceback.TracebackException(type(exc), exc, tb).format())


def _spec(name: str):
    return _guard(lambda: resolve_spec(name))


def _guard(make):
    try:
        return make()
    except WaferError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
