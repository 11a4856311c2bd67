"""``edgeq package``, ``edgeq verify`` and ``edgeq keygen``: release bundles, built, checked and signed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from edgeq.cli.device import DeviceAddress, DeviceProfile, device_options
from edgeq.cli.output import line, print_json, progress
from edgeq.cli.tables import Column, print_table
from edgeq.errors import GateFailure
from edgeq.quantize.spec import artifact_label
from edgeq.units import human_bytes

if TYPE_CHECKING:
    from edgeq.package import Bundle, Verification


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("release.toml"),
              show_default=True, help="The release config (docs/release.md).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where NAME-VERSION.tar.gz (and .sig) go [default: dist/ beside the config].")
@click.option("--sign-key", default=None,
              help="Sign with this ECDSA P-256 private key (PEM, from edgeq keygen) or pkcs11: URI.")
@click.option("--require-device-evidence", is_flag=True,
              help="Fail (exit 1, nothing written) when a target's variant was chosen or timed on the packaging host "
                   "standing in for it, not on a lab device of its profile ([release] store).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def package(config_path: Path, out_dir: Path | None, sign_key: str | None, require_device_evidence: bool,
            as_json: bool) -> None:
    """Build a reproducible release bundle: every model for every target, with its evidence and model card."""
    from edgeq.package import build, load_config

    config = load_config(config_path)
    if sign_key is not None:
        from edgeq.package.signing import check_signing_key

        check_signing_key(sign_key)  # before minutes of building, not after
    with progress() as say:
        bundle = build(config, out_dir, sign_key=sign_key, require_device_evidence=require_device_evidence,
                       progress=say)
    if as_json:
        print_json(bundle.to_dict())
    else:
        _print_bundle(bundle)


# a narrow terminal leaves out the size; where each latency was measured wraps
_TARGETS = (Column("model", kind="label"), Column("target", kind="label"), Column("ships", kind="label"),
            Column("size", drop=1), Column("accuracy", "acc"), Column("p50"), Column("measured on", kind="prose"))


def _print_bundle(bundle: Bundle) -> None:
    data = bundle.to_dict()
    rows = []
    for row in data["targets"]:
        rows.append({"model": row["model"], "target": row["profile"], "ships": artifact_label(row["variant"], row["format"]),
                     "size": human_bytes(row["size_bytes"]), **_quality_and_speed(row), "measured on": row["measured_on"]})
    print_table(_TARGETS, rows, title=bundle.name, padding=(0, 1), pad_edge=False)
    for row in data["targets"]:
        line(("stand-in:", "yellow") if row["chosen_on"] == "stand-in" else "chosen:", " ", row["choice"])
    for warning in data["warnings"]:
        line(("warning:", "yellow"), " ", warning)
    line(f"wrote {bundle.path}")
    if bundle.signature:
        line(f"signed: {bundle.signature}")
    else:
        line(("unsigned: pass --sign-key to sign it (edgeq keygen makes a key)", "dim"))


def _quality_and_speed(row: dict) -> dict[str, str]:
    """The accuracy and p50 columns: a language model's greedy agreement and decode speed in tokens per second."""
    if "agreement" in row:
        greedy = row["agreement"]["vs_eager_fp32"]
        return {"accuracy": f"greedy {100 * greedy['shipped']['greedy_agreement']:.2f}% "
                            f"(fp32 {100 * greedy['fp32']['greedy_agreement']:.2f}%)",
                "p50": f"{row['decode_tokens_per_s']:.0f} tok/s"}
    accuracy = row["accuracy"]
    return {"accuracy": "—" if accuracy["shipped"] is None else f"{accuracy['shipped']:g} (fp32 {accuracy['fp32']:g})",
            "p50": f"{row['latency_p50_ms']:.3f} ms"}


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The bundle's signature [default: NAME-VERSION.sig beside it].")
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The signer's public key (PEM); without it the signature is not checked.")
@device_options(default_profile=None)
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON.")
def verify(bundle: Path, signature: Path | None, public_key: Path | None, profile: DeviceProfile | None,
           device: DeviceAddress | None, as_json: bool) -> None:
    """Check BUNDLE (.tar.gz or its unpacked folder): checksums, signature, outputs on this host, and with
    --profile/--device compatibility and the same outputs on the device. Exit 1 names what failed."""
    from edgeq.package import verify as verify_bundle

    with progress() as say:
        result = verify_bundle(bundle, signature=signature, public_key=public_key, profile=profile, device=device,
                               progress=say)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_verification(result)
    if not result.ok:
        first = result.problems[0]
        raise GateFailure(f"{result.bundle}: {len(result.problems)} check(s) failed; first: {first.subject}: {first.detail}")


# every column stays: a check's detail is prose and wraps
_CHECKS = (Column("check", kind="label"), Column("subject", kind="prose"), Column("result", kind="label"),
           Column("detail", kind="prose"))
_MARKS = {True: Text("ok", "green"), False: Text("FAILED", "red"), None: Text("not checked", "yellow")}


def _print_verification(result: Verification) -> None:
    print_table(_CHECKS, [{"check": check.kind, "subject": check.subject, "result": _MARKS[check.ok], "detail": check.detail}
                          for check in result.checks],
                title=f"verify {result.bundle}", padding=(0, 1), pad_edge=False)
    if not result.ok:
        line((f"{len(result.problems)} problem(s)", "red"))
    elif result.origin_checked:
        line(("bundle verified", "green"), ", its signature included")
    else:
        line(("bundle verified", "green"), " ", ("but its origin was not checked", "yellow"),
             ": pass --public-key to check the signature")


@click.command()
@click.option("-o", "--out", "path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Private key file to write; the public key goes to PATH.pub.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(path: Path, force: bool) -> None:
    """Make an ECDSA P-256 key pair for signing bundles (OpenSSF model signing)."""
    from edgeq.package import keygen as make_keys

    private, public = make_keys(path, force=force)
    line(f"private key: {private} (keep it secret; mode 0600)\npublic key:  {public} (give it to verifiers)")
