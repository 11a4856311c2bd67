"""``edgeq package``, ``edgeq verify`` and ``edgeq keygen``: release bundles, built, checked and signed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from edgeq.cli.device import DeviceAddress, DeviceProfile, device_options
from edgeq.cli.output import print_json, stderr, stdout
from edgeq.errors import GateFailure
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
    with stderr.status("starting", spinner="dots") as status:
        bundle = build(config, out_dir, sign_key=sign_key, require_device_evidence=require_device_evidence,
                       progress=lambda message: status.update(message))
    if as_json:
        print_json(bundle.to_dict())
    else:
        _print_bundle(bundle)


def _print_bundle(bundle: Bundle) -> None:
    data = bundle.to_dict()
    table = Table(title=f"{bundle.name}", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column in ("model", "target", "ships", "size", "accuracy", "p50", "measured on"):
        table.add_column(column, justify="left" if column in ("model", "target", "ships", "measured on") else "right")
    for row in data["targets"]:
        accuracy = row["accuracy"]
        shown = "—" if accuracy["shipped"] is None else f"{accuracy['shipped']:g} (fp32 {accuracy['fp32']:g})"
        table.add_row(row["model"], row["profile"], f"{row['variant']} .{row['format']}", human_bytes(row["size_bytes"]),
                      shown, f"{row['latency_p50_ms']:.3f} ms", row["measured_on"])
    stdout.print(table)
    for row in data["targets"]:
        stand_in = row["chosen_on"] == "stand-in"
        stdout.print(("[yellow]stand-in:[/] " if stand_in else "chosen: ") + escape(row["choice"]))
    for warning in data["warnings"]:
        stdout.print(f"[yellow]warning:[/] {warning}")
    stdout.print(f"wrote {bundle.path}")
    if bundle.signature:
        stdout.print(f"signed: {bundle.signature}")
    else:
        stdout.print("[dim]unsigned: pass --sign-key to sign it (edgeq keygen makes a key)[/]")


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

    with stderr.status("starting", spinner="dots") as status:
        result = verify_bundle(bundle, signature=signature, public_key=public_key, profile=profile, device=device,
                               progress=lambda message: status.update(message))
    if as_json:
        print_json(result.to_dict())
    else:
        _print_verification(result)
    if not result.ok:
        first = result.problems[0]
        raise GateFailure(f"{result.bundle}: {len(result.problems)} check(s) failed; first: {first.subject}: {first.detail}")


def _print_verification(result: Verification) -> None:
    table = Table(title=f"verify {result.bundle}", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column in ("check", "subject", "result", "detail"):
        table.add_column(column, overflow="fold")
    marks = {True: "[green]ok[/]", False: "[red]FAILED[/]", None: "[yellow]not checked[/]"}
    for check in result.checks:
        table.add_row(check.kind, check.subject, marks[check.ok], check.detail)
    stdout.print(table)
    if not result.ok:
        stdout.print(f"[red]{len(result.problems)} problem(s)[/]")
    elif result.origin_checked:
        stdout.print("[green]bundle verified[/], its signature included")
    else:
        stdout.print("[green]bundle verified[/] [yellow]but its origin was not checked[/]: pass --public-key to check "
                     "the signature")


@click.command()
@click.option("-o", "--out", "path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Private key file to write; the public key goes to PATH.pub.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(path: Path, force: bool) -> None:
    """Make an ECDSA P-256 key pair for signing bundles (OpenSSF model signing)."""
    from edgeq.package import keygen as make_keys

    private, public = make_keys(path, force=force)
    stdout.print(f"private key: {private} (keep it secret; mode 0600)\npublic key:  {public} (give it to verifiers)")
