"""Release bundles end to end: `edgeq package` twice (the second from a fresh copy of the source with an empty
cache) gives the same bytes; `edgeq verify` and the independent `model_signing` CLI accept the bundle and
reject it after tampering, and a bundle whose signature fails pushes and runs nothing; `edgeq verify --device`
checks it on a loopback sshd device, on a phone with only the native executor_runner (the emulated adb
device) and on the emulated aarch64 board with its older runtime; a release packaged from a lab store ships
what the target's own measurements favour.

One bundle is packaged per module (four targets: this host, a board on loopback SSH, a phone over adb with
the native runner, the ARM board with .ptl) and copied by the tests that tamper with it.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from adb_fixtures import adb_address
from arm_board import EXECUTORCH_VERSION, TORCH_VERSION, BoardError, build_board, default_cache_dir
from edgeq_cli import edgeq
from release_profiles import loopback_board

from edgeq.digest import file_sha256
from edgeq.lab.records import Measurement
from edgeq.lab.store import open_store
from edgeq.package import verify
from edgeq.package import layout
from edgeq.package.archive import write_tar_gz
from edgeq.package.signing import sign_folder

# one worker runs the module (make test: --dist loadgroup), so the bundle and the lab store are made once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("release")]

REPO = Path(__file__).resolve().parents[2]
FAKE_EXECUTOR_RUNNER = REPO / "tests" / "support" / "fake_executor_runner.py"
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
    loopback_board(folder, folder / "loopback-workdir")
    (folder / "phone.toml").write_text(
        f'name = "phone"\narch = "{host["arch"]}"\nengine = "{host["engine"]}"\ntransport = "adb"\nformats = ["pte"]\n'
        'threads = 1\nruntime = "executor_runner"\nworkdir = "/data/local/tmp/edgeq"\n')
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
targets = ["host", "loopback-board.toml", "phone.toml", "arm-board.toml"]
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
        ("host", "pte"), ("loopback-board", "pte"), ("phone", "pte"), ("arm-board", "ptl")]
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
    for name in ("host", "loopback-board", "phone", "arm-board"):
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert "int8-static" in row and "packaging host (" in row and " ms " in row
        assert ("standing in for" in row) == (name != "host")
    assert "arm-board: latency measured on the packaging host (" in card and "standing in for arm-board" in card
    from edgeq.profiles import describe_host

    cpu = describe_host()["cpu"]
    for name, runs_on in (("host", "ExecuTorch, XNNPACK"), ("phone", "ExecuTorch, XNNPACK"),
                          ("arm-board", "lite interpreter, torch.ao qnnpack")):
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {runs_on} |" in row and f"packaging host ({cpu}, " in row
    choices = {line.split("**")[1]: line for line in card.splitlines() if line.startswith("- **")}
    assert "lowered to XNNPACK (ExecuTorch)" in choices["host"] and "engine" not in choices["host"]
    assert "torch.ao engine qnnpack" in choices["arm-board"]
    assert "Chosen on a stand-in" not in choices["host"] and "As the config asks" in choices["phone"]
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


def _rewrite_runner_and_rehash(bundle: Path, marker: Path) -> None:
    """The attack: a runner that leaves a marker wherever it runs, with SHA256SUMS and the manifest re-hashed so
    that only the signature can tell."""
    runner = bundle / layout.RUNNER
    runner.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + runner.read_text())
    manifest = json.loads((bundle / layout.MANIFEST).read_text())
    digest = file_sha256(runner)
    manifest["runner"]["sha256"] = digest
    for entry in manifest["files"]:
        if entry["path"] == layout.RUNNER:
            entry["sha256"], entry["size_bytes"] = digest, runner.stat().st_size
    layout.write_manifest(bundle, manifest)
    layout.write_sha256sums(bundle)


@pytest.mark.parametrize("signed_by", ["the release key, before the change", "another key, after it"])
def test_a_bundle_whose_signature_fails_pushes_and_runs_nothing_though_its_checksums_were_rewritten(
        release, sshd, tmp_path, signed_by):
    folder, _ = release
    bundle = unpacked(release, tmp_path / "unpacked")
    marker = tmp_path / "the-altered-runner-ran"
    _rewrite_runner_and_rehash(bundle, marker)
    assert subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=bundle, capture_output=True).returncode == 0
    signature, target = folder / "dist" / f"{BUNDLE}.sig", bundle
    if signed_by.startswith("another"):
        assert edgeq("keygen", "-o", str(tmp_path / "attacker.key")).returncode == 0
        signature = tmp_path / f"{BUNDLE}.sig"
        sign_folder(bundle, signature, str(tmp_path / "attacker.key"))
        target = tmp_path / f"{BUNDLE}.tar.gz"  # as it would sit on a mirror
        write_tar_gz(bundle, target)
    workdir = tmp_path / "device-workdir"
    profile = tmp_path / "board.toml"
    profile.write_text((folder / "loopback-board.toml").read_text().replace(str(folder / "loopback-workdir"), str(workdir)))
    proc = edgeq("verify", str(target), "--signature", str(signature), "--public-key",
                 str(folder / "keys" / "release.key.pub"), "--profile", str(profile), *_ssh(sshd, tmp_path), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert [(c["kind"], c["subject"]) for c in result["problems"]] == [("signature", f"{BUNDLE}.sig")]
    later = {c["kind"]: c for c in result["checks"] if c["kind"] in ("profile", "outputs", "device")}
    assert set(later) == {"profile", "outputs", "device"}
    assert all(c["ok"] is None and c["detail"].startswith("not checked: the signature failed") for c in later.values())
    assert not result["origin_checked"] and result["targets"] == []
    assert not marker.exists()  # the altered runner ran neither on the device nor on this host
    assert not workdir.exists()  # and nothing was pushed


def test_a_bundle_verified_without_a_public_key_says_its_origin_was_not_checked(release):
    folder, _ = release
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--profile", "host")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "its origin was not checked" in proc.stdout and "pass --public-key" in proc.stdout
    assert not verify(folder / "dist" / f"{BUNDLE}.tar.gz", profile=None).origin_checked


def test_verify_on_a_phone_runs_the_artifact_through_its_native_executor_runner(release, adb_server, adb_devices):
    folder, _ = release
    phone = adb_devices()  # an Android device over the real adb client; no Python is used on it
    binary = phone.root / "edgeq" / "bin" / "executor_runner"  # /data/local/tmp/edgeq/bin/executor_runner
    binary.parent.mkdir(parents=True)
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_EXECUTOR_RUNNER} "$@"\n')
    binary.chmod(0o755)
    address = adb_address(adb_server, phone)
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key", str(folder / "keys" / "release.key.pub"),
                 "--profile", str(folder / "phone.toml"), "--device",
                 f"adb://{address.serial}?server={address.options['server']}", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (target,) = json.loads(proc.stdout)["targets"]
    device = target["device"]
    assert device["runtime"] == "executor_runner" and device["executor_runner"] == "/data/local/tmp/edgeq/bin/executor_runner"
    assert device["match"] and device["cosine"] >= 0.999 and device["samples"] >= 1 and device["latency_p50_ms"] > 0
    pushed = list((phone.root / "edgeq" / "artifacts").iterdir())
    assert [path.name for path in pushed] == [f"{target_sha(folder, 'phone')}.pte"]
    assert not (phone.root / "edgeq" / "runner").exists()  # the native path pushes no Python runner


def target_sha(folder: Path, profile: str) -> str:
    manifest = json.loads(_read_member(folder / "dist" / f"{BUNDLE}.tar.gz", f"{BUNDLE}/manifest.json"))
    return next(t["sha256"] for t in manifest["models"][0]["targets"] if t["profile"]["name"] == profile)


def _read_member(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read().decode()


LAB_RELEASE = """[release]
name = "digits-lab"
version = "1.0.0"
runs = 10
store = "{store}"

[[models]]
source = "zoo:digits-cnn"
targets = {targets}
scheme = "auto"
max_drop = 2.0
"""


@pytest.fixture(scope="module")
def lab_store(release, sshd, tmp_path_factory):
    """A real lab run of zoo:digits-cnn (fp32 and the scheme auto picks) on one loopback-board device, b1, in a
    SQLite store: what a release pipeline packages from."""
    folder, _ = release
    lab = tmp_path_factory.mktemp("lab")
    (lab / "edgeq-lab.toml").write_text(
        f'[devices.b1]\nprofile = "{folder / "loopback-board.toml"}"\naddress = "ssh://{sshd.user}@127.0.0.1:{sshd.port}"\n'
        f'identity = "{sshd.client_key}"\nknown_hosts = "{sshd.write_known_hosts(lab / "known_hosts")}"\n')
    proc = edgeq("lab", "run", "--models", "zoo:digits-cnn", "--inventory", str(lab / "edgeq-lab.toml"), "--store",
                 f"sqlite:///{lab / 'lab.db'}", "--runs", "20", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return lab / "lab.db"


def _lab_release(folder: Path, tmp_path: Path, store: Path, targets: list[str]) -> Path:
    tmp_path.mkdir(exist_ok=True)
    config = tmp_path / "release.toml"
    config.write_text(LAB_RELEASE.format(store=store, targets=json.dumps(targets)))
    return config


def _package(config: Path, *flags: str) -> subprocess.CompletedProcess:
    return edgeq("package", "--config", str(config), *flags, timeout=1200)


def _shipped(config: Path) -> tuple[dict, str]:
    archive = config.parent / "dist" / "digits-lab-1.0.0.tar.gz"
    manifest = json.loads(_read_member(archive, "digits-lab-1.0.0/manifest.json"))
    return manifest["models"][0]["targets"][0], _read_member(archive, "digits-lab-1.0.0/MODEL_CARD.md")


def test_a_release_from_a_lab_store_ships_what_the_targets_own_measurements_favour(release, lab_store, tmp_path):
    from edgeq.bench.stats import latency_stats
    from edgeq.selection import Candidate, choose

    folder, _ = release
    config = _lab_release(folder, tmp_path, lab_store, [str(folder / "loopback-board.toml")])
    proc = _package(config, "--require-device-evidence", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    target, card = _shipped(config)
    store = open_store(f"sqlite:///{lab_store}", default_path=None)
    measured = {f"{job.variant} .{job.format}": job for job in store.latest_run().jobs if job.state == "done"}
    store.close()
    assert set(measured) == {"fp32 .pte", "int8-static .pte"}
    favoured, _ = choose([Candidate(name, latency_stats(job.measurement.samples_ms), job.measurement.size_bytes, True, "")
                          for name, job in sorted(measured.items())])  # fp32 first: the baseline
    assert f"{target['variant']} .{target['format']}" == favoured
    assert target["sha256"] == measured[favoured].artifact_sha256  # the lab measured these very bytes
    assert target["choice"]["made_on"] == "lab" and target["choice"]["device"] == "b1"
    assert set(target["choice"]["p50_ms"]) == set(measured)
    on = target["evidence"]["measured_on"]
    assert (on["where"], on["device"], on["profile"]) == ("lab", "b1", "loopback-board") and on["cpu"]
    assert target["fp32"]["evidence"]["measured_on"]["device"] == "b1"
    assert "chosen from the latencies lab device b1 (profile loopback-board) measured" in target["quantization"]["why"]
    row = next(line for line in card.splitlines() if line.startswith("| loopback-board |"))
    assert f"lab device b1 ({on['cpu']}, " in row and "ExecuTorch, XNNPACK" in row and "standing in" not in row
    assert "Chosen from lab measurements on b1" in card
    assert f"digits-cnn/loopback-board: {favoured} chosen from lab measurements on b1" in json.loads(proc.stdout)["targets"][0]["choice"]
    again = _package(_lab_release(folder, tmp_path / "again", lab_store, [str(folder / "loopback-board.toml")]))
    assert again.returncode == 0, again.stderr[-3000:]
    assert ((tmp_path / "again" / "dist" / "digits-lab-1.0.0.tar.gz").read_bytes()
            == (tmp_path / "dist" / "digits-lab-1.0.0.tar.gz").read_bytes())


def test_when_the_targets_device_measured_fp32_faster_the_release_ships_fp32(release, lab_store, tmp_path):
    folder, _ = release
    store_path = tmp_path / "lab.db"
    shutil.copy(lab_store, store_path)
    store = open_store(f"sqlite:///{store_path}", default_path=None)
    jobs = {job.variant: job for job in store.latest_run().jobs if job.state == "done"}
    store.sync_devices([("b2", "loopback-board", [])])  # a second board of the profile, where int8 is slower
    run_id = store.create_run("b2", {})
    for variant, p50 in (("fp32", 0.02), ("int8-static", 0.06)):
        job = jobs[variant]
        job_id = store.add_job(run_id, "digits-cnn", "loopback-board", job.scheme, "pte", variant, "b2")
        token = store.acquire_lease("b2", "test", ttl_s=60)
        number = store.start_attempt(job_id, "b2", token)
        store.record_measurement(job_id, number, Measurement(
            result_key=f"b2-{variant}", artifact_sha256=job.artifact_sha256, device="b2",
            samples_ms=tuple(p50 * (1 + 0.01 * (i % 5)) for i in range(20)), measured_at="2030-01-01T00:00:00+00:00",
            size_bytes=job.measurement.size_bytes, versions={"arch": "aarch64", "threads": 1, "cpu": "4x Cortex-A55"}),
            token)
        store.release_lease("b2", token)
    store.close()
    config = _lab_release(folder, tmp_path, store_path, [str(folder / "loopback-board.toml")])
    proc = _package(config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    target, card = _shipped(config)
    assert (target["variant"], target["choice"]["made_on"], target["choice"]["device"]) == ("fp32", "lab", "b2")
    assert target["evidence"]["measured_on"]["cpu"] == "4x Cortex-A55"
    assert "lab device b2 (4x Cortex-A55, aarch64)" in card and "Chosen from lab measurements on b2" in card


def test_require_device_evidence_fails_naming_each_target_chosen_on_a_stand_in(release, lab_store, tmp_path):
    folder, _ = release
    config = _lab_release(folder, tmp_path, lab_store, [str(folder / "loopback-board.toml"), "rpi5"])
    proc = _package(config, "--require-device-evidence")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not on a device of their own profile: digits-cnn/rpi5; no bundle was written" in proc.stderr
    assert "digits-cnn/loopback-board" not in proc.stderr  # its variant was chosen on its own device
    assert "Traceback" not in proc.stderr and not (tmp_path / "dist").exists()
