"""wafersim as a package: `python -m build` makes an sdist and a wheel (the wheel built from the sdist, so
the sdist holds what a build needs) without deprecation warnings; the wheel installed into a fresh venv
gives a working `wafersim` command and `import wafersim` from outside the checkout.

Offline and quick: the build runs without isolation (the `dev` extra installs `build` and a recent
setuptools), the fresh venv has no pip of its own (the test environment's pip installs into it with
`--no-deps --no-index`), and it sees the test environment's site-packages for numpy, matplotlib and the
rest through a path file; that path file adds the directory only, so the checkout's editable install
(activated by a .pth file there) stays out and the venv imports the wheel's copy.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

import wafersim

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "Makefile", "CHANGELOG.md", "src", "docs", "examples",
           "bench", "scripts", "tests")


def setuptools_version() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in importlib.metadata.version("setuptools").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return (0,)


pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(importlib.util.find_spec("build") is None or setuptools_version() < (77,),
                       reason="building offline needs the `build` package and setuptools>=77 in the test "
                              "environment (the dev extra installs both: pip install -e '.[dev]')"),
]


def run(*command, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300,
                            **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel, build output, the package's .py files) built from a copy of the checkout's sources,
    so the build writes nothing into the checkout."""
    work = tmp_path_factory.mktemp("package")
    tree = work / "tree"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(source, tree / name)
    modules = sorted(str(p.relative_to(tree / "src")) for p in (tree / "src").rglob("*.py"))
    result = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", work / "dist", tree, cwd=work)
    (sdist,), (wheel,) = (work / "dist").glob("*.tar.gz"), (work / "dist").glob("*.whl")
    return sdist, wheel, result.stdout + result.stderr, modules


def test_build_makes_an_sdist_and_a_wheel_without_deprecation_warnings(built):
    sdist, wheel, output, modules = built
    version = wafersim.__version__
    assert sdist.name == f"wafersim-{version}.tar.gz" and wheel.name == f"wafersim-{version}-py3-none-any.whl"
    assert "deprecat" not in output.lower(), output

    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "src/wafersim/py.typed"} <= in_sdist
    # the whole source release: the tests and what they read (docs' code blocks, examples, bench scripts)
    assert {"Makefile", "CHANGELOG.md", "docs/api.md", "tests/test_guide.py", "bench/workloads.py"} <= in_sdist
    assert {f"examples/{p.name}" for p in (ROOT / "examples").iterdir() if p.suffix in (".py", ".ipynb")} <= in_sdist
    assert not any("__pycache__" in name or name.endswith((".nbc", ".nbi")) for name in in_sdist)
    assert {f"src/{module}" for module in modules} <= in_sdist

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        metadata = archive.read(f"wafersim-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"wafersim-{version}.dist-info/entry_points.txt").decode()
    assert "wafersim/py.typed" in in_wheel
    assert set(modules) <= in_wheel
    assert f"wafersim-{version}.dist-info/licenses/LICENSE" in in_wheel
    assert "License-Expression: MIT" in metadata.splitlines()
    assert f"Version: {version}" in metadata.splitlines()
    assert "wafersim = wafersim.tools.cli:main" in entry_points


def test_the_wheel_installed_in_a_fresh_venv_gives_the_command_and_the_module(built, tmp_path):
    _, wheel, _, _ = built
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
                .stdout.strip())
    # the test environment's dependencies (numpy, matplotlib, ...), as a plain directory: its .pth files,
    # among them the checkout's editable install, are not run
    (site / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel,
        cwd=tmp_path)

    info = run(env_dir / "bin" / "wafersim", "info", "--spec", "dev", cwd=tmp_path).stdout
    assert "64 x 64" in info and "4,096" in info

    script = tmp_path / "tiny_launch.py"
    script.write_text(
        "import numpy as np, wafersim as ws\n"
        "@ws.jit\n"
        "def triple(x, out):\n"
        "    i = ws.grid(1)\n"
        "    out[i] = 3.0 * x[i]\n"
        "dev = ws.Device(ws.WaferSpec(width=8, height=8))\n"
        "x = dev.to_device(np.arange(16, dtype=np.float32))\n"
        "out = dev.device_array(16)\n"
        "triple[2, 8](x, out)\n"
        "print(ws.__file__)\n"
        "print(ws.__version__)\n"
        "print(' '.join(str(v) for v in out.copy_to_host()))\n")
    lines = run(python, script, cwd=tmp_path).stdout.splitlines()
    module_file, version, values = lines[-3:]
    assert Path(module_file).is_relative_to(site) and not Path(module_file).is_relative_to(ROOT)
    assert (Path(module_file).parent / "py.typed").exists()
    assert version == wafersim.__version__
    assert np.array_equal(np.array(values.split(), dtype=np.float32), 3.0 * np.arange(16, dtype=np.float32))
