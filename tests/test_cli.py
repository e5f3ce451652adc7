"""The `wafersim` command line: exit codes and key output of every command."""
from __future__ import annotations

import json
import re
import textwrap

import sys

import numpy as np
import pytest
from click.testing import CliRunner

import wafersim as ws
from wafersim.isa import binary
from wafersim.tools.cli import main

SCRIPT = textwrap.dedent("""
    import numpy as np
    import wafersim as ws
    from wafersim.kernels.heat import heat_kernel

    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    u = np.ones((16, 16), np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    heat_kernel[(2, 2), (8, 8)](d_u, d_out, np.float32(0.1), 3)
    heat_kernel[(1, 1), (16, 16)](d_u, d_out, np.float32(0.1), 2)
    assert np.allclose(d_out.copy_to_host(), 1.0)  # a constant field stays constant
""")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_info_prints_the_machine_and_its_peak_rates(tmp_path):
    result = invoke("info", "--spec", "wse2")
    assert result.exit_code == 0
    spec = ws.WaferSpec.preset("wse2")
    assert "757 x 996 = 753,972 PEs" in result.output
    assert f"{spec.peak_flops / 1e12:,.1f} TFLOP/s" in result.output
    links = 2 * ((757 - 1) * 996 + 757 * (996 - 1))  # neighbour pairs, one link each way
    assert f"{links * spec.link_words_per_cycle * 4 * spec.clock_hz / 1e15:.3g} PB/s" in result.output  # 10.2
    path = tmp_path / "small.toml"
    ws.WaferSpec(width=5, height=7, clock_hz=1e9).save(path)
    result = invoke("info", "--spec", str(path))
    assert result.exit_code == 0 and "5 x 7 = 35 PEs" in result.output and "1 GHz" in result.output
    links = 2 * (4 * 7 + 5 * 6)  # 58 links of 4 GB/s at 1 GHz, one word a cycle: 232 GB/s (was "0.00 PB/s")
    assert f"aggregate link bandwidth  {links * 4 * 1e9 / 1e9:.3g} GB/s" in result.output
    result = CliRunner().invoke(main, ["info", "--spec", "nonsense"])
    assert result.exit_code != 0 and "unknown spec" in result.output


def test_info_prints_the_16_bit_peak_that_utilization_uses():
    """`wafersim info` printed only the float32 peak, though `LaunchStats.utilization` counts 16-bit FLOPs
    against a peak of `vector_lanes_half` lanes; the 16-bit peak, by hand: 2 FLOPs x lanes x clock x PEs."""
    for preset, lanes in (("wse2", 4), ("wse3", 8)):
        out = invoke("info", "--spec", preset).output
        spec = ws.WaferSpec.preset(preset)
        by_hand = 2 * lanes * 0.85e9 * spec.width * spec.height
        assert spec.peak_flops_half == by_hand == spec.peak_flops * lanes
        line = next(row for row in out.splitlines() if row.strip().startswith("peak 16-bit"))
        assert f"{by_hand / 1e12:,.1f} TFLOP/s" in line  # 5,127.3 on wse2, 12,145.7 on wse3


def test_info_writes_one_cycle_word_and_pe_in_the_singular(tmp_path):
    """`wafersim info` printed "hop latency 1 cycles": counts of 1 are singular, others plural."""
    path = tmp_path / "one.toml"
    ws.WaferSpec(width=1, height=1, hop_latency=1, global_latency=1, fifo_depth=1).save(path)
    out = invoke("info", "--spec", str(path)).output
    assert "1 x 1 = 1 PE\n" in out and "hop latency" in out and "  1 cycle, plus" in out
    assert "x 1 word\n" in out and "1 cycle + hops to the edge" in out and " 1 cycles" not in out
    ws.WaferSpec(width=2, height=1, hop_latency=2, global_latency=1.5).save(path)
    out = invoke("info", "--spec", str(path)).output
    assert "1 = 2 PEs\n" in out and "  2 cycles, plus" in out and "1.5 cycles + hops" in out


def test_run_prints_a_table_of_the_scripts_launches(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    result = invoke("run", str(script))
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:4] == ["#", "kernel", "grid", "block"]
    assert lines[2].split()[:5] == ["1", "heat_kernel", "2x2", "8x8", "1"]
    assert lines[3].split()[:4] == ["2", "heat_kernel", "1x1", "16x16"]


def test_run_reports_a_kernel_error_and_fails(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("import wafersim as ws\n"
                      "ws.Device(ws.WaferSpec(width=4, height=4)).launch(ws.assemble('send east, 0, r0'), 1, (4, 1))\n")
    result = CliRunner().invoke(main, ["run", str(script)])
    assert result.exit_code == 1 and "MeshBoundaryError" in result.output and "(3, 0)" in result.output


@pytest.mark.parametrize("command", ["run", "trace"])
def test_a_launch_whose_failure_the_script_caught_is_listed_as_failed(tmp_path, command):
    """It was "no launches": the table listed only launches that finished. Rows stay in launch order."""
    script = tmp_path / "caught.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import wafersim as ws
        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        try:
            dev.launch(ws.assemble(".name edge\\nsend east, 0, r0"), 1, (4, 1))
        except ws.MeshBoundaryError:
            print("caught")
        d = dev.to_device(np.zeros(4, np.float32))
        dev.launch(ws.assemble(".name done\\nhalt"), 1, (2, 1))
    """))
    result = invoke(command, str(script), *(["-o", str(tmp_path / "t.json")] if command == "trace" else []))
    assert result.exit_code == 0 and "caught" in result.output and "no launches" not in result.output
    lines = result.output.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("#"))):]
    assert table[2].split()[:5] == ["1", "edge", "1x1", "4x1", "failed"]
    assert table[3].split()[:5] == ["2", "done", "1x1", "2x1", "1"]
    assert table[4].startswith("launch 1 (edge) failed, and the script caught the error: MeshBoundaryError: ")


def test_run_names_the_device_of_each_launch_where_a_script_uses_several(tmp_path):
    """A new user's script launched the same kernel on a `dev` and a `wse2` device: the table listed two rows
    alike, with nothing to say which ran where. A device column, numbered by first launch and naming the spec,
    appears where the launches ran on more than one device (a failed launch's row too); one device, none."""
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent("""
        import wafersim as ws
        small = ws.Device(ws.WaferSpec.preset("wse2", width=4, height=4))
        big = ws.Device(ws.WaferSpec(width=4, height=4))
        small.launch(ws.assemble(".name one\\nhalt"), 1, (2, 1))
        big.launch(ws.assemble(".name two\\nhalt"), 1, (3, 1))
        try:
            small.launch(ws.assemble(".name edge\\nsend east, 0, r0"), 1, (4, 1))
        except ws.MeshBoundaryError:
            pass
    """))
    lines = invoke("run", str(script)).output.splitlines()
    assert lines[0].split()[:5] == ["#", "device", "kernel", "grid", "block"]
    assert lines[2].split()[:7] == ["1", "1", "(wse2)", "one", "1x1", "2x1", "1"]
    assert lines[3].split()[:7] == ["2", "2", "(custom)", "two", "1x1", "3x1", "1"]
    assert lines[4].split()[:7] == ["3", "1", "(wse2)", "edge", "1x1", "4x1", "failed"]
    assert lines[4].split()[7:] == ["-"] * 6  # (every figure of a failed launch: none)
    script.write_text(SCRIPT)
    assert "device" not in invoke("run", str(script)).output.splitlines()[0]


def test_trace_writes_a_perfetto_trace_of_every_launch(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    out = tmp_path / "trace.json"
    result = invoke("trace", str(script), "-o", str(out))
    assert result.exit_code == 0 and "wrote" in result.output
    events = json.loads(out.read_text())["traceEvents"]
    processes = {e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert processes == {"host streams", "launch 1: heat_kernel", "launch 2: heat_kernel"}
    assert {"send", "recv", "barrier", "global load", "compute"} <= {e["name"] for e in events if e["ph"] == "X"}


def test_trace_refuses_a_folder_or_a_missing_folder_before_running_the_script(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("open(__file__ + '.ran', 'w').close()\n")
    for output, message in [(tmp_path, "it is a folder"), (tmp_path / "missing" / "t.json", "does not exist")]:
        result = CliRunner().invoke(main, ["trace", str(script), "-o", str(output)])
        assert result.exit_code != 0 and message in result.output and str(output) in result.output
    assert not (tmp_path / "job.py.ran").exists() and not (tmp_path / "missing").exists()


def test_run_creates_its_heatmap_folder(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    out = tmp_path / "maps" / "here"
    result = invoke("run", str(script), "--heatmap", "busy", "--out", str(out))
    assert result.exit_code == 0 and (out / "launch1_heat_kernel_busy.png").is_file()


def test_asm_and_disasm_round_trip_through_a_program_file(tmp_path):
    source = tmp_path / "k.s"
    source.write_text(".sram 8\n.args 1\nloop:\n    addi r1, r1, 1\n    slti r2, r1, 10\n    bnz r2, loop\n"
                      "    print r1, 0\n    halt\n")
    result = invoke("asm", str(source))
    assert result.exit_code == 0 and "wrote" in result.output
    program = binary.load(source.with_suffix(".wsb"))
    assert program.data_words == 8 and program.arg_count == 1
    np.testing.assert_array_equal(program.code, ws.assemble(source.read_text()).code)
    result = invoke("disasm", str(source.with_suffix(".wsb")))
    assert result.exit_code == 0
    assert np.array_equal(ws.assemble(result.output).code, program.code)
    bad = tmp_path / "bad.wsb"
    bad.write_bytes(b"nonsense")
    result = CliRunner().invoke(main, ["disasm", str(bad)])
    assert result.exit_code != 0 and "not a wafersim program file" in result.output


def test_asm_of_a_program_file_or_binary_file_is_one_error_line(tmp_path):
    """`wafersim asm` given a .wsb (or any non-UTF-8 file) was a UnicodeDecodeError traceback."""
    source = tmp_path / "k.s"
    source.write_text("    li r1, 7\n    halt\n")
    assert invoke("asm", str(source)).exit_code == 0
    result = CliRunner().invoke(main, ["asm", str(source.with_suffix(".wsb"))])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert "a program file (.wsb), not assembly text: `wafersim disasm" in result.output
    latin = tmp_path / "latin.s"
    latin.write_bytes("    li r1, 7  # caf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["asm", str(latin)])
    assert result.exit_code == 1 and "not assembly text (byte 19 is not UTF-8)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["demo", "bench"])
@pytest.mark.parametrize("option, value, message", [
    ("--steps", "0", "0 steps: give at least 1"), ("--steps", "-3", "-3 steps: give at least 1"),
    ("--steps", "two", "'two' is not a whole number of steps"), ("--preset", "nosuch", "unknown spec 'nosuch'")])
def test_demo_and_bench_refuse_bad_options(command, option, value, message):
    """A usage error naming the option (--steps -1 ran and printed -27 instructions per step; 0 was a
    ZeroDivisionError traceback; an unknown preset a SpecError traceback)."""
    result = CliRunner().invoke(main, [command, option, value])
    assert result.exit_code == 2 and f"argument {option}: {message}" in result.output


def test_demo_and_bench_run_on_a_small_wafer(tmp_path):
    result = invoke("demo", "--preset", "dev", "--steps", "3", "--out", str(tmp_path))
    assert result.exit_code == 0 and "matches NumPy exactly: True" in result.output
    assert (tmp_path / "heat_field.png").exists() and (tmp_path / "heat_stall.png").exists()
    result = CliRunner().invoke(main, ["bench", "--preset", "dev", "--steps", "3"])
    assert result.exit_code == 0 and "| dev | 4,096 | 3 | first |" in result.output


def test_info_reports_defects_spares_and_the_usable_rectangle(tmp_path):
    path = tmp_path / "defective.toml"
    ws.WaferSpec(width=8, height=6, spare_cols=1, defects=[(3, 2), (4, 2)]).save(path)
    result = invoke("info", "--spec", str(path))
    assert result.exit_code == 0
    assert "physical array            9 x 6 (1 spare column, 0 spare rows)" in result.output
    assert "dead PEs                  2 (2 listed)" in result.output
    # Row 2 has 7 live PEs: 8 x 5 or 7 x 6 fit, and 7 x 6 is larger.
    assert "usable rectangle          7 x 6 (the logical mesh shrinks" in result.output
    # A spare row retires row 2: logical rows 1 and 2 are two physical rows apart, 8 links each way.
    result = invoke("info", "--spec", str(path), "--spare-rows", "1")
    assert result.exit_code == 0
    assert "usable rectangle          8 x 6: the whole logical mesh" in result.output
    assert "up to 0 of 1 spare column in a row, 1 of 1 spare row" in result.output
    # 8 x 6 PEs: 7 x 6 horizontal and 8 x 5 vertical neighbour pairs, a link each way: 164 (not 4 per PE)
    assert "16 of 164 directed links span more than one physical hop" in result.output
    assert "none: a perfect wafer" in invoke("info", "--spec", "dev").output
    result = CliRunner().invoke(main, ["info", "--spec", "dev", "--defect-rate", "2"])
    assert result.exit_code != 0 and "WaferSpec.defect_rate" in result.output


def test_run_lets_the_script_import_modules_next_to_it(tmp_path):
    (tmp_path / "helper_of_job.py").write_text("VALUE = 41\n")
    script = tmp_path / "job.py"
    script.write_text("import helper_of_job\nprint('value', helper_of_job.VALUE + 1)\n")
    result = invoke("run", str(script))
    assert result.exit_code == 0 and "value 42" in result.output
    assert str(tmp_path) not in sys.path  # (put back as it was)


@pytest.mark.parametrize("name", ["wse2", "wse3", "dev"])
def test_info_shows_the_16_bit_lanes(name):
    spec = ws.WaferSpec.preset(name)                     # 4 16-bit lanes on wse2, 8 on wse3
    result = invoke("info", "--spec", name)
    assert result.exit_code == 0
    assert re.search(rf"vector lanes +{spec.vector_lanes} float32, {spec.vector_lanes_half} 16-bit", result.output)


def test_asm_refuses_an_output_it_cannot_write_with_a_message(tmp_path):
    """`asm -o` into a missing folder, or a folder, is one `Error:` line and exit 1 (was an AssemblyError
    traceback through click)."""
    source = tmp_path / "k.s"
    source.write_text("    halt\n")
    for output, message in [(tmp_path / "missing" / "k.wsb", "does not exist"), (tmp_path, "it is a folder")]:
        result = invoke("asm", str(source), "-o", str(output))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.startswith("Error: cannot write program file") and message in result.output
    assert not (tmp_path / "missing").exists() and not source.with_suffix(".wsb").exists()


def test_run_shows_a_scripts_own_error_as_python_would(tmp_path):
    """A script's syntax error, or an error of its own (not a WaferError), is shown as `python script.py`
    shows it, exit 1: the script's frames, none of the command line's, click's or runpy's around it."""
    script = tmp_path / "job.py"
    script.write_text("import wafersim as ws\nx = (1,\n")
    result = invoke("run", str(script))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f'  File "{script}", line 2' and "SyntaxError" in result.stderr
    assert "Traceback" not in result.stderr and "runpy" not in result.stderr and "cli.py" not in result.stderr
    (tmp_path / "helper_that_fails.py").write_text("def fail():\n    raise RuntimeError('boom')\n")
    script.write_text("import helper_that_fails\n\nhelper_that_fails.fail()\n")
    result = invoke("run", str(script))
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{script}", line 3, in <module>' and lines[-1] == "RuntimeError: boom"
    assert f'"{tmp_path / "helper_that_fails.py"}", line 2, in fail' in result.stderr  # (the frames it called kept)
    assert "runpy" not in result.stderr and "click" not in result.stderr and "cli.py" not in result.stderr


def test_run_refuses_heatmap_options_it_cannot_use_before_running_the_script(tmp_path):
    """An unknown metric or an `--out` that is a file was found only after the whole script had run (the
    file: a FileExistsError traceback); `--out`/`--whole-wafer` without `--heatmap`, usually an option of the
    script's own after its name, were taken and silently dropped. Each is a usage error before the script
    runs; after `--` they are the script's."""
    script = tmp_path / "job.py"
    script.write_text("import sys\nopen(__file__ + '.ran', 'w').close()\nprint('argv', sys.argv[1:])\n")
    a_file = tmp_path / "afile"
    a_file.write_text("")
    for args, message in [(["--heatmap", "zzz"], "unknown metric 'zzz' for --heatmap"),
                          (["--heatmap", "busy", "--out", str(a_file)], f"--out '{a_file}' is not a folder"),
                          (["--heatmap", "busy", "--out", str(a_file / "sub")], "is a file"),
                          (["--out", "pics"], "--out is for --heatmap pictures, and no --heatmap is given"),
                          (["--whole-wafer"], "--whole-wafer is for --heatmap"),
                          (["--out", "pics", "--whole-wafer"], "put them after `--`")]:
        result = invoke("run", str(script), *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not (tmp_path / "job.py.ran").exists() and not (tmp_path / "pics").exists()
    result = invoke("run", str(script), "--", "--out", "pics", "--whole-wafer")
    assert result.exit_code == 0 and "argv ['--out', 'pics', '--whole-wafer']" in result.output
    result = invoke("run", "--heatmap", "routed_words_1", "--out", str(tmp_path / "maps"), str(script))
    assert result.exit_code == 0 and (tmp_path / "maps").is_dir()  # (a known metric; the folder created)


@pytest.mark.parametrize("command, option, value, message", [
    ("demo", "--out", "afile", "argument --out: '{tmp}/afile' is not a folder"),
    ("demo", "--out", "afile/sub", "(its folder '{tmp}/afile' is a file)"),
    ("bench", "--write", "missing/r.md", "argument --write: cannot write file '{tmp}/missing/r.md': the folder"),
    ("bench", "--write", ".", "it is a folder")])
def test_demo_and_bench_refuse_an_output_they_cannot_write_before_running(tmp_path, command, option, value,
                                                                             message):
    """Was a FileExistsError / FileNotFoundError / IsADirectoryError traceback after the whole run."""
    (tmp_path / "afile").write_text("")
    value = value if value == "." else str(tmp_path / value)
    result = CliRunner().invoke(main, [command, "--preset", "dev",
                                       "--steps", "1", option, value], catch_exceptions=False)
    assert result.exit_code == 2 and message.format(tmp=tmp_path) in result.output, result.output
    assert "Device(" not in result.output and "machine:" not in result.output  # (nothing ran)


@pytest.mark.parametrize("ending, status", [("sys.exit(0)", 0), ("sys.exit(main())", 3),
                                            ("raise SystemExit('result differs')", 1)])
def test_a_script_that_calls_sys_exit_still_gets_its_table_and_trace(tmp_path, ending, status):
    """`sys.exit(main())` ends a script, it does not fail it: `run` printed no table and `trace` wrote no
    trace, exiting 0 with nothing (a silent loss); now both finish, then exit with the script's status."""
    script = tmp_path / "job.py"
    script.write_text(SCRIPT + "import sys\ndef main():\n    return 3\n" + ending + "\nprint('not reached')\n")
    result = CliRunner().invoke(main, ["run", str(script)], catch_exceptions=False)
    assert result.exit_code == status and "not reached" not in result.output
    assert [line.split()[:2] for line in result.stdout.splitlines()[2:]] == [["1", "heat_kernel"], ["2", "heat_kernel"]]
    assert ("result differs" in result.stderr) == (status == 1)
    out = tmp_path / "t.json"
    result = CliRunner().invoke(main, ["trace", str(script), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == status
    processes = {e["args"]["name"] for e in json.loads(out.read_text())["traceEvents"] if e["name"] == "process_name"}
    assert {"launch 1: heat_kernel", "launch 2: heat_kernel"} <= processes


def test_python_dash_m_wafersim_is_the_command_line(tmp_path):
    """`python -m wafersim` was "No module named wafersim.__main__"; it runs the same commands as `wafersim`."""
    import os
    import subprocess
    from pathlib import Path

    source = tmp_path / "k.s"
    source.write_text("    li r1, 7\n    halt\n")
    package = str(Path(ws.__file__).resolve().parents[1])  # this checkout's package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package, *sys.path]))
    run = subprocess.run([sys.executable, "-m", "wafersim", "asm", str(source)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"wrote {source.with_suffix('.wsb')}: k, 3 words")
    assert np.array_equal(binary.load(source.with_suffix(".wsb")).code, ws.assemble(source.read_text()).code)
    run = subprocess.run([sys.executable, "-m", "wafersim", "--help"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("Usage: wafersim [OPTIONS] COMMAND")
