"""The release's parts that need no model: the config, the reproducible archive, keys and signatures, and the
lab store as a source of latency evidence."""

import gzip
import os
import tarfile
from pathlib import Path

import pytest

from edgeq.errors import ConfigError
from edgeq.lab.records import Measurement
from edgeq.lab.store import open_store
from edgeq.package.archive import extract, write_tar_gz
from edgeq.package.config import load_config
from edgeq.package.evidence import MeasurementsFile, from_store
from edgeq.package.signing import _readable, check_signature, check_signing_key, keygen, sign_folder

GOOD = '[release]\nname = "digits"\nversion = "1.2.0"\n\n[[models]]\nsource = "zoo:digits-cnn"\ntargets = ["host", "rpi5"]\n'


def write(tmp_path, text, name="release.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_release_config_names_the_bundle_and_defaults_the_rest(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.bundle_name == "digits-1.2.0"
    (model,) = config.models
    assert (model.name, model.scheme, model.targets) == ("digits-cnn", "auto", ("host", "rpi5"))
    assert config.measurements_path == tmp_path / "release.measurements.json"


@pytest.mark.parametrize("text, says", [
    ('[release]\nversion = "1"\n[[models]]\nsource = "zoo:x"\ntargets = ["host"]\n', "[release]: key 'name' is required"),
    (GOOD.replace('version = "1.2.0"', 'version = "1.2 beta"'), "key 'version' is '1.2 beta'"),
    (GOOD + 'scheme = "int4"\n', "key 'scheme' is 'int4'"),
    (GOOD + 'max_drop = -1\n', "key 'max_drop' must be a number ≥ 0"),
    (GOOD + 'colour = "red"\n', "unknown key 'colour'"),
    (GOOD.replace('targets = ["host", "rpi5"]', 'targets = []'), "key 'targets' must list device profiles"),
    (GOOD + 'reference_inputs = "missing.pt"\n', "key 'reference_inputs' must name an existing file"),
    (GOOD + 'new_tokens = 1\n', "key 'new_tokens' must be a whole number ≥ 2"),
    (GOOD + 'tokenizer = "missing.json"\n', "key 'tokenizer' must name an existing file"),
    ('[release]\nname = "d"\nversion = "1"\n', "no [[models]]"),
    ("[release\n", "not valid TOML"),
])
def test_a_bad_config_names_the_file_and_the_key(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and says in caught.value.message


def test_two_models_with_one_folder_name_are_refused(tmp_path):
    text = GOOD + '\n[[models]]\nsource = "zoo:digits-cnn"\ntargets = ["host"]\n'
    with pytest.raises(ConfigError, match="two \\[\\[models\\]\\] are named 'digits-cnn'"):
        load_config(write(tmp_path, text))


def _tree(root: Path, order: list[str]) -> Path:
    folder = root / "bundle-1.0"
    for name in order:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 100)
    return folder


def test_the_archive_is_byte_identical_whatever_the_files_mtimes_modes_and_creation_order(tmp_path):
    first = _tree(tmp_path / "a", ["b/y.bin", "a.txt", "b/x.bin"])
    second = _tree(tmp_path / "b", ["b/x.bin", "a.txt", "b/y.bin"])
    os.utime(second / "a.txt", (1_000_000, 1_000_000))
    (second / "b" / "x.bin").chmod(0o600)
    write_tar_gz(first, tmp_path / "1.tar.gz")
    write_tar_gz(second, tmp_path / "2.tar.gz")
    data = (tmp_path / "1.tar.gz").read_bytes()
    assert data == (tmp_path / "2.tar.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0" and not data[3] & 0x08  # gzip: no mtime, no file name
    with tarfile.open(tmp_path / "1.tar.gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["bundle-1.0", "bundle-1.0/a.txt", "bundle-1.0/b", "bundle-1.0/b/x.bin",
                                             "bundle-1.0/b/y.bin"]
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
        assert {m.mode for m in members if m.isfile()} == {0o644} and not any(m.pax_headers for m in members)


def test_source_date_epoch_sets_every_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    write_tar_gz(_tree(tmp_path, ["a.txt"]), tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_extracting_refuses_a_link_out_of_the_bundle(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with gzip.open(evil, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        link = tarfile.TarInfo("bundle/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ValueError, match="bundle/passwd: not a plain file"):
        extract(evil, tmp_path / "out")


def test_keygen_writes_a_p256_pair_that_signs_and_verifies_a_folder(tmp_path):
    private, public = keygen(tmp_path / "release.key")
    assert private.stat().st_mode & 0o777 == 0o600 and public.name == "release.key.pub"
    folder = _tree(tmp_path, ["a.txt", "models/m.pte"])
    sign_folder(folder, tmp_path / "bundle.sig", str(private))
    assert check_signature(folder, tmp_path / "bundle.sig", public) is None
    (folder / "models" / "m.pte").write_bytes(b"changed")
    assert check_signature(folder, tmp_path / "bundle.sig", public) == (
        "the files differ from what was signed: changed since signing: models/m.pte")
    with pytest.raises(ConfigError, match="not overwriting"):
        keygen(tmp_path / "release.key")


def test_a_mismatch_names_every_file_even_when_a_digest_holds_a_double_quote():
    # model-signing reports the repr of a list: an item whose digest bytes hold a `"` is quoted with \'…\'.
    message = str(["Extra files found in model 'b': extra.bin", "Missing files in model 'b': sub/m.pte",
                   "Hash mismatch for 'manifest.json': Expected 'Digest(digest_value=b'X\"')'",
                   "Hash mismatch for 'model.pte': Expected 'Digest(digest_value=b'Y')'"])
    assert "\\'manifest.json\\'" in message
    assert _readable("Signature mismatch: " + message) == (
        "the files differ from what was signed: added since signing: extra.bin; missing since signing: sub/m.pte; "
        "changed since signing: manifest.json, model.pte")


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_ed25519_and_rsa_keys_are_refused_with_the_reason(tmp_path, kind):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    path = tmp_path / f"{kind}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="Ed25519 and RSA are refused by the model-signing library") as caught:
        check_signing_key(str(path))
    assert "edgeq keygen" in caught.value.hint


def test_the_lab_store_gives_the_newest_measurement_of_those_bytes_on_the_targets_profile(tmp_path):
    sha = "a" * 64
    store = open_store(str(tmp_path / "lab.db"), default_path=None)
    store.sync_devices([("pi-1", "rpi5", []), ("x86-1", "x86-server", [])])
    store.put_artifact(sha, "digits-cnn", "rpi5", "int8-static", "static", "pte", 100, {})
    run_id = store.create_run("nightly", {})
    for device, samples in (("pi-1", (2.0, 2.2, 2.4)), ("x86-1", (1.0, 1.1, 1.2))):
        job_id = store.add_job(run_id, "digits-cnn", "rpi5", "static", "pte", "int8-static", device)
        token = store.acquire_lease(device, "host:1", ttl_s=30)
        number = store.start_attempt(job_id, device, token)
        store.record_measurement(job_id, number, Measurement(
            result_key=f"key-{device}", artifact_sha256=sha, device=device, samples_ms=samples,
            measured_at="2026-12-01T10:00:00+00:00", size_bytes=100,
            versions={"torch": "2.9.1", "executorch": "1.0.1", "arch": "aarch64", "threads": 4}), token)
    on_pi = from_store(store, sha, "rpi5")
    assert (on_pi.where, on_pi.device, on_pi.arch, on_pi.threads, on_pi.latency_ms["p50"]) == ("lab", "pi-1", "aarch64", 4, 2.2)
    assert on_pi.note_for("rpi5") == "" and from_store(store, "b" * 64, "rpi5") is None
    elsewhere = from_store(store, sha, "jetson-orin-nano")
    assert elsewhere.device == "x86-1" and "no measurement of these bytes on a jetson-orin-nano" in elsewhere.note_for("jetson-orin-nano")
    store.close()


def test_a_damaged_measurements_file_is_a_config_error_with_the_way_out(tmp_path):
    path = write(tmp_path, '{"format": "something-else"}', "release.measurements.json")
    with pytest.raises(ConfigError, match="not an edgeq measurements file") as caught:
        MeasurementsFile(path)
    assert "move it away" in caught.value.hint
