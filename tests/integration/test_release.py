"""Release bundles end to end: `edgeq package` twice (the second from a fresh copy of the source with an empty
cache) gives the same bytes; `edgeq verify` and the independent `model_signing` CLI accept the bundle and
reject it after tampering; `edgeq verify --device` checks it on a loopback sshd device and on the emulated
aarch64 board with its older runtime.

One bundle is packaged per module (three targets: this host, a board on loopback SSH, the ARM board with
.ptl) and copied by the tests that tamper with it.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from arm_board import EXECUTORCH_VERSION, TORCH_VERSION, BoardError, build_board, default_cache_dir
from edgeq_cli import edgeq

from edgeq.package import verify

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")
BUNDLE = "digits-1.0.0"


@pytest.fixture(scope="module")
def board():
    try:
        return build_board(default_cache_dir())
    except BoardError as exc:
        pytest.fail(f"cannot build the emulated ARM board: {exc} (or deselect these tests with -m 'not arm')")


def _profiles(folder: Path, board_python: str) -> None:
    from edgeq.profiles import describe_host

    host = describe_host()
    (folder / "loopback-board.toml").write_text(
        f'name = "loopback-board"\narch = "{host["arch"]}"\nengine = "{host["engine"]}"\ntransport = "ssh"\n'
        f'formats = ["pte"]\nthreads = 1\npython = "{sys.executable}"\nworkdir = "{folder / "loopback-workdir"}"\n')
    (folder / "arm-board.toml").write_text(
        'name = "arm-board"\ndescription = "Emulated aarch64 board (qemu-user): torch 2.9.1, executorch 1.0.1"\n'
        'arch = "aarch64"\nengine = "qnnpack"\ntransport = "ssh"\nformats = ["ptl", "pte"]\nthreads = 1\n'
        f'python = "{board_python}"\nworkdir = "{folder / "arm-workdir"}"\n')


RELEASE = """[release]
name = "digits"
version = "1.0.0"
description = "Digit classifiers for the handheld scanner"
runs = 10

[[models]]
source = "zoo:digits-cnn"
targets = ["host", "loopback-board.toml", "arm-board.toml"]
scheme = "static"
max_drop = 2.0
limits = ["trained on 8x8 grey digits only"]
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory, board):
    """A release folder (config, profiles, key pair) and the signed bundle `edgeq package` wrote into dist/."""
    folder = tmp_path_factory.mktemp("release")
    _profiles(folder, str(board.python))
    (folder / "release.toml").write_text(RELEASE)
    keys = edgeq("keygen", "-o", str(folder / "keys" / "release.key"))
    assert keys.returncode == 0, keys.stderr
    proc = edgeq("package", "--config", str(folder / "release.toml"), "--sign-key", str(folder / "keys" / "release.key"),
                 "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, json.loads(proc.stdout)


def unpacked(release, tmp_path) -> Path:
    folder, _ = release
    with tarfile.open(folder / "dist" / f"{BUNDLE}.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / BUNDLE


def test_the_bundle_holds_each_targets_artifact_evidence_and_a_model_card(release, tmp_path):
    folder, written = release
    assert [(t["profile"], t["format"]) for t in written["targets"]] == [
        ("host", "pte"), ("loopback-board", "pte"), ("arm-board", "ptl")]
    bundle = unpacked(release, tmp_path)
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["toolchain"]["executorch"] == "1.4.1" and manifest["toolchain"]["torch"].startswith("2.13.0")
    for target in manifest["models"][0]["targets"]:
        assert (bundle / target["artifact"]).is_file() and target["scheme"] == "static"
        assert target["accuracy"]["fp32"] - target["accuracy"]["shipped"] <= 2.0
        assert target["size_bytes"] < 0.4 * target["fp32"]["size_bytes"]
        assert target["evidence"]["measured_on"]["where"] == "host" and target["evidence"]["measured_at"]
    card = (bundle / "MODEL_CARD.md").read_text()
    for name in ("host", "loopback-board", "arm-board"):
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert "int8-static" in row and "packaging host" in row and " ms " in row
    assert "arm-board: latency measured on the packaging host, not on a arm-board device" in card
    assert "trained on 8x8 grey digits only" in card
    assert (folder / "release.measurements.json").is_file()


def test_packaging_again_from_a_fresh_copy_with_an_empty_cache_gives_the_same_bytes(release, tmp_path):
    folder, _ = release
    source = tmp_path / "checkout"  # the source tree at another path: a .ptl would carry it if not made portable
    for part in ("edgeq", "runners", "device_profiles"):
        shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    again = tmp_path / "release"
    shutil.copytree(folder, again, ignore=shutil.ignore_patterns("dist", "*-workdir"))
    env = {**os.environ, "PYTHONPATH": str(source), "EDGEQ_CACHE_DIR": str(tmp_path / "empty-cache")}
    proc = subprocess.run([sys.executable, "-m", "edgeq", "package", "--config", str(again / "release.toml"), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=1200, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = (folder / "dist" / f"{BUNDLE}.tar.gz").read_bytes()
    assert (tmp_path / "out" / f"{BUNDLE}.tar.gz").read_bytes() == first
    assert not (tmp_path / "out" / f"{BUNDLE}.sig").exists()  # unsigned this time: the payload is the same


def test_a_fresh_bundle_verifies_with_edgeq_and_with_model_signing(release, tmp_path):
    folder, _ = release
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key",
                 str(folder / "keys" / "release.key.pub"), "--profile", str(folder / "arm-board.toml"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    kinds = {(c["kind"], c["ok"]) for c in result["checks"]}
    assert {("checksum", True), ("manifest", True), ("signature", True), ("outputs", True), ("profile", True)} <= kinds
    assert [t["target"] for t in result["targets"]] == ["arm-board"] and result["targets"][0]["host"]["match"]
    independent = model_signing_verify(unpacked(release, tmp_path), folder)
    assert independent.returncode == 0 and "Verification succeeded" in independent.stdout + independent.stderr


def model_signing_verify(bundle: Path, folder: Path, public_key: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(MODEL_SIGNING), "verify", "key", str(bundle), "--signature",
                           str(folder / "dist" / f"{BUNDLE}.sig"), "--public_key",
                           str(public_key or folder / "keys" / "release.key.pub")], capture_output=True, text=True)


def _flip_a_byte(bundle: Path) -> str:
    name = "models/digits-cnn/host/model.pte"
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    return name


def _remove(bundle: Path) -> str:
    name = "models/digits-cnn/arm-board/reference-outputs.pt"
    (bundle / name).unlink()
    return name


def _add(bundle: Path) -> str:
    (bundle / "models" / "digits-cnn" / "host" / "extra.pte").write_bytes(b"not from the release")
    return "models/digits-cnn/host/extra.pte"


def _edit_manifest(bundle: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"][0]["targets"][0]["accuracy"]["shipped"] = 100.0
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return "manifest.json"


@pytest.mark.parametrize("tamper", [_flip_a_byte, _remove, _add, _edit_manifest])
def test_a_tampered_bundle_fails_naming_the_file_in_edgeq_and_in_model_signing(release, tmp_path, tamper):
    folder, _ = release
    bundle = unpacked(release, tmp_path)
    name = tamper(bundle)
    result = verify(bundle, signature=folder / "dist" / f"{BUNDLE}.sig", public_key=folder / "keys" / "release.key.pub")
    assert not result.ok
    assert any(check.kind == "checksum" and check.subject == name for check in result.problems)
    signature = next(check for check in result.checks if check.kind == "signature")
    assert signature.ok is False and name in signature.detail
    independent = model_signing_verify(bundle, folder)
    assert independent.returncode != 0 and name in independent.stdout + independent.stderr


def test_a_wrong_public_key_fails_in_edgeq_with_exit_1_and_in_model_signing(release, tmp_path):
    folder, _ = release
    assert edgeq("keygen", "-o", str(tmp_path / "other.key")).returncode == 0
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key", str(tmp_path / "other.key.pub"))
    assert proc.returncode == 1
    assert f"{BUNDLE}.sig" in proc.stderr and "public key" in proc.stderr
    assert model_signing_verify(unpacked(release, tmp_path), folder, tmp_path / "other.key.pub").returncode != 0


def _ssh(sshd, tmp_path) -> list[str]:
    return ["--device", f"ssh://{sshd.user}@127.0.0.1:{sshd.port}", "--identity", str(sshd.client_key),
            "--known-hosts", str(sshd.write_known_hosts(tmp_path / "known_hosts"))]


def test_verify_on_a_device_over_ssh_runs_the_bundles_runner_there(release, sshd, tmp_path):
    folder, _ = release
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--profile", str(folder / "loopback-board.toml"),
                 *_ssh(sshd, tmp_path), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (target,) = json.loads(proc.stdout)["targets"]
    device = target["device"]
    assert device["match"] and device["cosine"] >= 0.999 and device["executorch"] == "1.4.1"
    assert device["latency_p50_ms"] > 0 and device["name"].startswith("ssh://")


@pytest.mark.arm
def test_verify_on_the_emulated_arm_board_with_its_older_runtime(release, sshd, tmp_path):
    folder, _ = release
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key",
                 str(folder / "keys" / "release.key.pub"), "--profile", str(folder / "arm-board.toml"),
                 *_ssh(sshd, tmp_path), "--json", timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (target,) = json.loads(proc.stdout)["targets"]
    device = target["device"]
    assert (device["arch"], device["torch"], device["executorch"]) == ("aarch64", TORCH_VERSION, EXECUTORCH_VERSION)
    assert target["format"] == "ptl" and device["match"] and device["cosine"] >= 0.999


def test_a_bad_release_config_is_exit_2_naming_the_file_and_key(tmp_path):
    config = tmp_path / "release.toml"
    config.write_text('[release]\nname = "digits"\nversion = "1.0"\n[[models]]\nsource = "zoo:digits-cnn"\n'
                      'targets = ["host"]\nscheme = "int4"\n')
    proc = edgeq("package", "--config", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(config) in proc.stderr and "'scheme'" in proc.stderr and "auto, none, dynamic" in proc.stderr
