"""The compiled build (README, "A compiled build") against the plain one:
the modules it compiles, and which build a test run is testing."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import msgspec
from click.testing import CliRunner

from fleetsim import build
from fleetsim.cli import main

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_hot_modules_are_what_the_build_compiles() -> None:
    hook = tomllib.loads(PYPROJECT.read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    compiled = [path.removesuffix(".py").replace("/", ".") for path in hook["include"]]
    assert compiled == list(build.HOT_MODULES)


def test_no_hot_module_defines_a_struct() -> None:
    # mypyc compiles a Struct subclass without its options (gc=False,
    # frozen=True, kw_only=True): those live in modules that stay plain.
    for name in build.HOT_MODULES:
        module = importlib.import_module(name)
        structs = [cls.__name__ for _, cls in inspect.getmembers(module, inspect.isclass)
                   if cls.__module__ == name and issubclass(cls, msgspec.Struct)]
        assert not structs, (name, structs)


def test_this_run_tests_the_build_it_means_to() -> None:
    # `make test` tests the plain build; CI tests the compiled one as well,
    # with FLEETSIM_EXPECT_BUILD=compiled. A compiled file left in the source
    # tree (a build in place) would otherwise shadow the source under test,
    # and a compiled run that loaded the source would test nothing compiled.
    expected = os.environ.get("FLEETSIM_EXPECT_BUILD", "plain")
    assert build.kind() == expected, build.compiled_modules()


def test_fleetsim_says_which_build_it_is() -> None:
    result = CliRunner().invoke(main, ["--version"], prog_name="fleetsim")
    assert result.exit_code == 0
    assert result.output.strip().endswith(f", {build.kind()} build"), result.output


def test_asking_which_build_imports_nothing_of_the_engine() -> None:
    # summary.json asks (fleetsim.metrics.results): a pure module must not
    # pull in the engine, and trio with it, to know.
    watched = {"trio", *build.HOT_MODULES}
    code = f"import sys; from fleetsim import build; build.kind(); print(sorted(set(sys.modules) & {watched!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
