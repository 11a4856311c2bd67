"""Messages are text: what comes from a message, a path, a config or a model reaches the person unchanged, through
every way edgeq prints (errors, hints, warnings, tables, the live progress, --json), markup characters included."""

import sys

import pytest
from edgeq_cli import edgeq
from terminal import run_in_terminal

pytestmark = pytest.mark.slow


def squeezed(text: str) -> str:
    """``text`` with every run of whitespace as one space: a long line wrapped at a space still reads whole."""
    return " ".join(text.split())


def test_a_release_config_without_a_version_names_its_release_table(tmp_path):
    config = tmp_path / "r.toml"
    config.write_text('[release]\nname = "digits"\n\n[[models]]\nsource = "zoo:digits-cnn"\ntargets = ["host"]\n')
    proc = edgeq("package", "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == f"error: {config}: [release]: key 'version' is required"


def test_an_error_and_its_hint_keep_their_brackets_and_markup(tmp_path, markup):
    folder = tmp_path / markup
    folder.mkdir(parents=True)
    config = folder / "release.toml"
    config.write_text('[release]\nname = "digits"\nversion = "1.0"\n')
    proc = edgeq("package", "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {config}: no [[models]]",
                                        'hint: add [[models]] with source = "zoo:…" and targets = ["host"]']


def test_a_profile_table_shows_a_name_and_description_full_of_markup_as_they_are(tmp_path, markup):
    path = tmp_path / "board.toml"
    path.write_text(f'name = "{markup}"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "ssh"\n'
                    f'description = "a board: {markup}"\n')
    proc = edgeq("profiles", "show", str(path))
    assert proc.returncode == 0, proc.stderr
    assert f"profile {markup}" in proc.stdout and f"a board: {markup}" in squeezed(proc.stdout)


def test_a_run_prints_a_model_source_full_of_markup_unchanged_in_progress_table_and_warnings(vanishing, vanishing_name):
    screen = run_in_terminal([sys.executable, "-m", "edgeq", "run", vanishing, "--runs", "3", "--warmup", "1"], 200)
    assert screen.returncode == 0, screen.text
    assert any(frame.endswith(f"loading {vanishing}") for frame in screen.frames)  # the spinner, on stderr
    shown = squeezed(screen.text)
    assert f"{vanishing_name} on host (" in shown  # the table's title
    assert f"warning: numerics cannot judge {vanishing_name} on these inputs" in shown


@pytest.mark.xdist_group("run-output")  # on the worker that runs vanishing_result for test_run_output.py
def test_json_carries_a_model_name_full_of_markup_unchanged(vanishing_name, vanishing_result):
    assert vanishing_result["model"] == vanishing_name
    assert any(warning.startswith(f"numerics cannot judge {vanishing_name} ") for warning in vanishing_result["warnings"])
