import json

from click.testing import CliRunner

from edgeq.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_profiles_list_json_lists_every_profile_validated():
    result = invoke("profiles", "list", "--json")
    assert result.exit_code == 0
    profiles = json.loads(result.output)
    assert len(profiles) >= 7 and all({"name", "arch", "engine", "transport"} <= set(p) for p in profiles)


def test_profiles_show_fills_in_the_host():
    result = invoke("profiles", "show", "host", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["arch"]


def test_a_broken_profile_exits_2_naming_file_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "b"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "carrier-pigeon"\n')
    result = invoke("profiles", "show", str(path))
    assert result.exit_code == 2
    assert str(path) in result.output and "'transport'" in result.output and "Traceback" not in result.output


def test_run_with_a_missing_model_file_exits_2_without_traceback():
    result = invoke("run", "missing.py:make")
    assert result.exit_code == 2
    assert "missing.py does not exist" in result.output and "Traceback" not in result.output


def test_run_rejects_a_format_the_profile_cannot_run(tmp_path):
    path = tmp_path / "phone.toml"
    path.write_text('name = "phone"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "local"\nformats = ["pte"]\n')
    result = invoke("run", "zoo:digits-cnn", "--profile", str(path), "--format", "ptl")
    assert result.exit_code == 2 and "does not run .ptl" in result.output


def test_a_remote_profile_without_a_device_is_a_usage_error():
    result = invoke("run", "zoo:digits-cnn", "--profile", "rpi5")
    assert result.exit_code == 2 and "needs a device address" in result.output
