"""Help, profile listing and bad arguments answer without importing torch or the other heavy packages.

Each check runs in a fresh interpreter, because this test session has imported
torch long before. How long start-up takes is ``benchmarks/cli_startup.py``'s business.
"""

import json
import subprocess
import sys

import pytest

import edgeq

HEAVY = ("torch", "executorch", "torchao", "paramiko", "numpy", "sklearn")

# An expression, run in the fresh interpreter: the heavy packages it has imported.
_HEAVY_LOADED = f"sorted({{name.split('.')[0] for name in sys.modules}} & {set(HEAVY)!r})"

# Invoke the click group as the console script would, then report the exit and the heavy packages loaded.
_INVOKE = f"""
import json, sys
from edgeq.cli.main import cli
try:
    code = cli.main(sys.argv[1:], prog_name="edgeq", standalone_mode=False) or 0  # None: the command returned
except Exception as exc:  # click's usage errors, raised instead of printed when standalone_mode is off
    code = type(exc).__name__
print(json.dumps({{"exit": code, "heavy": {_HEAVY_LOADED}}}))
"""


def _in_fresh_python(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _edgeq(*args: str) -> dict:
    return _in_fresh_python(_INVOKE, *args)


def test_import_edgeq_loads_no_heavy_package():
    assert _in_fresh_python(f"import json, sys, edgeq; print(json.dumps({{'heavy': {_HEAVY_LOADED}}}))")["heavy"] == []


@pytest.mark.parametrize("args", [("--help",), ("profiles", "list"), ("profiles", "show", "host"), ("run", "--help"),
                                  ("deploy", "--help"), ("doctor", "--help"), ("clean", "--help")],
                         ids=" ".join)
def test_help_and_profiles_load_no_heavy_package(args):
    assert _edgeq(*args) == {"exit": 0, "heavy": []}


@pytest.mark.parametrize("args", [("run", "zoo:digits-cnn", "--scheme", "bogus"), ("run", "zoo:digits-cnn", "--runs", "x")],
                         ids=" ".join)
def test_a_bad_option_value_is_reported_without_heavy_packages(args):
    assert _edgeq(*args) == {"exit": "BadParameter", "heavy": []}


def test_an_unknown_profile_is_reported_before_the_model_is_loaded():
    assert _edgeq("run", "zoo:nope", "--profile", "nosuch") == {"exit": 2, "heavy": []}


def test_the_public_api_resolves_on_first_use():
    from edgeq import run
    from edgeq.pipeline import run as pipeline_run

    assert run is pipeline_run
    assert set(edgeq.__all__) <= set(dir(edgeq))
    assert all(getattr(edgeq, name) is not None for name in edgeq.__all__)


def test_an_unknown_attribute_of_edgeq_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        edgeq.no_such_name  # noqa: B018 - the look-up is the test
