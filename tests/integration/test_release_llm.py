"""A language model's release bundle end to end: `edgeq package` ships zoo:tiny-llama's 8da4w program with its
tokenizer and the LLM runner, all covered by SHA256SUMS, the manifest and the signature, and records the greedy
tokens the program generated for a prompt; packaging again gives the same bytes; `edgeq verify` generates those
tokens again on this host and, with `--device`, on a loopback sshd device through the bundle's own LLM runner;
a changed tokenizer or changed recorded tokens fail, naming the file or the position where the tokens part.

One bundle is packaged per module (two targets: this host, and a board on loopback SSH) and copied by the tests
that tamper with it. The module runs on the language-model tests' worker, so the tiny Llama's programs are exported
once (the artifact cache keys them on the weights, not on the profile).
"""

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from edgeq_cli import edgeq
from release_profiles import loopback_board

from edgeq.digest import file_sha256
from edgeq.package import layout, verify

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore"), pytest.mark.xdist_group("language-models")]

BUNDLE = "chat-0.1.0"
TOKENIZER = "models/tiny-llama/tokenizer.json"
NEW_TOKENS = 8

RELEASE = f"""[release]
name = "chat"
version = "0.1.0"
description = "An on-device assistant's language model"
runs = 3

[[models]]
source = "zoo:tiny-llama"
targets = ["host", "loopback-board.toml"]
scheme = "8da4w"
max_drop = 5.0
new_tokens = {NEW_TOKENS}
limits = ["knows only the 134 sentences it was trained on"]
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release folder (config, profile, key pair) and the signed bundle `edgeq package` wrote into dist/."""
    folder = tmp_path_factory.mktemp("release-llm")
    loopback_board(folder, folder / "loopback-workdir")
    (folder / "release.toml").write_text(RELEASE)
    assert edgeq("keygen", "-o", str(folder / "keys" / "release.key")).returncode == 0
    proc = edgeq("package", "--config", str(folder / "release.toml"), "--sign-key", str(folder / "keys" / "release.key"),
                 "--json", timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, json.loads(proc.stdout)


def unpacked(release, into: Path) -> Path:
    folder, _ = release
    with tarfile.open(folder / "dist" / f"{BUNDLE}.tar.gz") as tar:
        tar.extractall(into, filter="data")
    return into / BUNDLE


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / layout.MANIFEST).read_text())


def test_the_bundle_ships_the_program_its_tokenizer_and_the_llm_runner_each_under_checksum(release, tmp_path):
    from edgeq.llm.tiny_llama import tokenizer_path

    bundle = unpacked(release, tmp_path)
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    sums = layout.read_sha256sums(bundle / layout.SUMS)
    manifest = _manifest(bundle)
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    (model,) = manifest["models"]
    assert model["task"] == "causal-lm" and model["tokenizer"]["path"] == TOKENIZER
    assert (bundle / TOKENIZER).read_bytes() == tokenizer_path().read_bytes()
    assert sums[TOKENIZER] == listed[TOKENIZER] == model["tokenizer"]["sha256"] == file_sha256(tokenizer_path())
    assert manifest["llm_runner"]["path"] == layout.LLM_RUNNER and layout.LLM_RUNNER in sums
    assert listed[layout.LLM_RUNNER] == manifest["llm_runner"]["sha256"]
    for target in model["targets"]:
        assert (target["task"], target["variant"], target["format"]) == ("causal-lm", "8da4w", "pte")
        assert sums[target["artifact"]] == target["sha256"] and target["size_bytes"] < 0.35 * target["fp32"]["size_bytes"]
        assert sorted(p.name for p in (bundle / target["artifact"]).parent.iterdir()) == ["model.pte"]


def test_the_manifest_records_the_prompt_the_greedy_tokens_decode_speed_and_agreement(release, tmp_path):
    from edgeq.models.zoo import load_zoo

    folder, written = release
    targets = _manifest(unpacked(release, tmp_path))["models"][0]["targets"]
    assert [t["profile"]["name"] for t in targets] == ["host", "loopback-board"]
    prompt = [int(token) for token in load_zoo("tiny-llama").prompts[0]]
    for target in targets:
        reference = target["reference"]
        assert reference["prompt"] == prompt and reference["new_tokens"] == NEW_TOKENS
        assert len(reference["tokens"]) == NEW_TOKENS and all(0 <= token < 512 for token in reference["tokens"])
        evidence = target["evidence"]
        assert evidence["decode_tokens_per_s"] == pytest.approx(1000 / evidence["latency_ms"]["p50"], rel=1e-5)
        assert evidence["first_token_ms"]["p50"] > 0 and evidence["measured_on"]["where"] == "host"
        agreement = target["agreement"]
        assert agreement["metric"] == "greedy_agreement" and agreement["within_budget"]
        assert agreement["vs_eager_fp32"]["fp32"]["greedy_agreement"] == 1.0
        assert agreement["vs_eager_fp32"]["shipped"]["greedy_agreement"] >= 0.95
        assert agreement["vs_eager_fp32"]["shipped"]["kl_mean"] > 0 and agreement["positions"] >= 300
        assert "accuracy" not in target
    # both targets ran the same program on this host: the same bytes generate the same tokens
    assert targets[0]["sha256"] == targets[1]["sha256"] and targets[0]["reference"] == targets[1]["reference"]
    assert [row["decode_tokens_per_s"] > 0 and row["accuracy"] is None for row in written["targets"]] == [True, True]
    assert (folder / "release.measurements.json").is_file()


def test_the_model_card_gives_tokens_per_second_and_greedy_agreement_not_milliseconds_and_accuracy(release, tmp_path):
    card = (unpacked(release, tmp_path) / layout.CARD).read_text()
    header = next(line for line in card.splitlines() if line.startswith("| target |"))
    assert "greedy agreement fp32" in header and "decode shipped" in header and "accuracy" not in header
    for name in ("host", "loopback-board"):
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert "8da4w .pte" in row and "| 100.00 % |" in row and " tokens/s (cv " in row and " ms (cv " not in row
        assert ("standing in for loopback-board" in row) == (name == "loopback-board")
    assert f"`{TOKENIZER}`" in card and f"the {NEW_TOKENS} tokens the shipped program generated" in card
    assert "int4 weights in groups of 32" in card and "knows only the 134 sentences" in card


def test_packaging_the_language_model_again_gives_the_same_bytes(release, tmp_path):
    folder, _ = release
    again = tmp_path / "release"
    shutil.copytree(folder, again, ignore=shutil.ignore_patterns("dist", "*-workdir"))
    proc = edgeq("package", "--config", str(again / "release.toml"), "-o", str(tmp_path / "out"), timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / f"{BUNDLE}.tar.gz").read_bytes() == (folder / "dist" / f"{BUNDLE}.tar.gz").read_bytes()


def test_verify_generates_the_recorded_tokens_again_on_this_host_and_checks_the_tokenizer(release):
    folder, _ = release
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key",
                 str(folder / "keys" / "release.key.pub"), "--profile", "host", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    kinds = {(c["kind"], c["subject"], c["ok"]) for c in result["checks"]}
    assert {("signature", f"{BUNDLE}.sig", True), ("tokenizer", TOKENIZER, True), ("outputs", "tiny-llama/host", True),
            ("profile", "tiny-llama/host", True)} <= kinds
    (target,) = result["targets"]
    recorded = _recorded_tokens(folder)
    assert target["task"] == "causal-lm" and target["host"] == {"match": True, "tokens": recorded}


def _recorded_tokens(folder: Path) -> list[int]:
    with tarfile.open(folder / "dist" / f"{BUNDLE}.tar.gz") as tar:
        manifest = json.loads(tar.extractfile(f"{BUNDLE}/{layout.MANIFEST}").read())
    return manifest["models"][0]["targets"][0]["reference"]["tokens"]


def _ssh(sshd, tmp_path) -> list[str]:
    return ["--device", f"ssh://{sshd.user}@127.0.0.1:{sshd.port}", "--identity", str(sshd.client_key),
            "--known-hosts", str(sshd.write_known_hosts(tmp_path / "known_hosts"))]


def test_verify_on_a_device_over_ssh_generates_the_recorded_tokens_with_the_bundles_llm_runner(release, sshd, tmp_path):
    folder, _ = release
    workdir = tmp_path / "device-workdir"
    profile = loopback_board(tmp_path, workdir)
    proc = edgeq("verify", str(folder / "dist" / f"{BUNDLE}.tar.gz"), "--public-key",
                 str(folder / "keys" / "release.key.pub"), "--profile", str(profile), *_ssh(sshd, tmp_path), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    (target,) = result["targets"]
    device = target["device"]
    assert device["match"] and device["tokens"] == _recorded_tokens(folder) and device["executorch"] == "1.4.1"
    assert device["decode_tokens_per_s"] > 0 and device["name"].startswith("ssh://")
    assert any(c["kind"] == "device" and c["ok"] and "tokens/s" in c["detail"] for c in result["checks"])
    bundle = unpacked(release, tmp_path / "unpacked")
    runner_sha = file_sha256(bundle / layout.LLM_RUNNER)
    assert [p.name for p in (workdir / "runner").iterdir()] == [f"{runner_sha}.py"]  # the bundle's own LLM runner
    assert [p.name for p in (workdir / "artifacts").iterdir()] == [f"{target_sha(bundle)}.pte"]


def target_sha(bundle: Path) -> str:
    return _manifest(bundle)["models"][0]["targets"][1]["sha256"]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tokenizer_changed_by_one_byte_fails_naming_it_and_nothing_is_loaded(release, tmp_path):
    folder, _ = release
    bundle = unpacked(release, tmp_path)
    _flip_a_byte(bundle / TOKENIZER)
    result = verify(bundle, signature=folder / "dist" / f"{BUNDLE}.sig", public_key=folder / "keys" / "release.key.pub")
    assert not result.ok
    signature = next(check for check in result.checks if check.kind == "signature")
    assert signature.ok is False and TOKENIZER in signature.detail
    assert [(c.kind, c.subject) for c in result.problems if c.kind == "checksum"] == [("checksum", TOKENIZER)]
    outputs = next(check for check in result.checks if check.kind == "outputs")
    assert outputs.ok is None and outputs.detail.startswith("not checked: the signature failed")
    assert result.targets == []


def test_a_tokenizer_dropped_from_every_checksum_list_fails_the_tokenizer_check(release, tmp_path):
    bundle = unpacked(release, tmp_path)
    (bundle / TOKENIZER).unlink()
    manifest = _manifest(bundle)
    manifest["files"] = [entry for entry in manifest["files"] if entry["path"] != TOKENIZER]
    layout.write_manifest(bundle, manifest)
    layout.write_sha256sums(bundle)  # self-consistent again: only the signature, or the manifest's record, tells
    result = verify(bundle, profile=None)
    assert [(c.kind, c.subject) for c in result.problems] == [("tokenizer", TOKENIZER)]
    assert "missing: tiny-llama's tokenizer" in result.problems[0].detail


def _change_a_recorded_token(bundle: Path, position: int) -> tuple[int, int]:
    """The recorded tokens rewritten at ``position`` in every target: (the generated token, the one now recorded)."""
    manifest = _manifest(bundle)
    for target in manifest["models"][0]["targets"]:
        tokens = target["reference"]["tokens"]
        generated, tokens[position] = tokens[position], (tokens[position] + 1) % 512
    layout.write_manifest(bundle, manifest)
    return generated, tokens[position]


def test_changed_recorded_tokens_fail_the_checksums_and_the_signature_naming_the_manifest(release, tmp_path):
    folder, _ = release
    bundle = unpacked(release, tmp_path)
    _change_a_recorded_token(bundle, 3)
    result = verify(bundle, signature=folder / "dist" / f"{BUNDLE}.sig", public_key=folder / "keys" / "release.key.pub")
    assert ("checksum", layout.MANIFEST) in [(c.kind, c.subject) for c in result.problems]
    signature = next(check for check in result.checks if check.kind == "signature")
    assert signature.ok is False and layout.MANIFEST in signature.detail and result.targets == []


def test_changed_recorded_tokens_with_rewritten_checksums_fail_on_the_host_and_the_device_naming_the_position(
        release, sshd, tmp_path):
    bundle = unpacked(release, tmp_path / "unpacked")
    generated, recorded = _change_a_recorded_token(bundle, 3)
    layout.write_sha256sums(bundle)  # without the public key, only generating the tokens again can tell
    proc = edgeq("verify", str(bundle), "--profile", str(loopback_board(tmp_path, tmp_path / "device-workdir")),
                 *_ssh(sshd, tmp_path), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = json.loads(proc.stdout)["problems"]
    says = (f"the greedy tokens part from the recorded ones at position 3 of {NEW_TOKENS}: recorded token {recorded}, "
            f"generated token {generated}")
    assert [(p["kind"], p["subject"]) for p in problems] == [("outputs", "tiny-llama/loopback-board")] * 2 + [
        ("device", "tiny-llama/loopback-board")]
    assert problems[0]["detail"] == f"on this host: {says}" and problems[1]["detail"].endswith(says)
    assert problems[1]["detail"].startswith("on ssh://")


PHONE = 'name = "phone"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "adb"\nformats = ["pte"]\nruntime = "executor_runner"\n'


@pytest.mark.parametrize("keys, says, hint", [
    ('targets = ["host"]\nscheme = "static"\n', "key 'scheme' is 'static'", "8da4w"),
    ('targets = ["host"]\nformat = "ptl"\n', "key 'format' is 'ptl'", 'format = "pte"'),
    ('targets = ["phone.toml"]\n', "target 'phone' runs the native executor_runner", "runtime is python"),
])
def test_what_does_not_apply_to_a_language_model_is_exit_2_naming_the_file_and_key(tmp_path, keys, says, hint):
    (tmp_path / "phone.toml").write_text(PHONE)
    config = tmp_path / "release.toml"
    config.write_text(f'[release]\nname = "chat"\nversion = "0.1"\n[[models]]\nsource = "zoo:tiny-llama"\n{keys}')
    proc = edgeq("package", "--config", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(config) in proc.stderr and says in proc.stderr and hint in proc.stderr
    assert not (tmp_path / "dist").exists()
