"""``edgeq doctor``, ``edgeq deploy`` and ``edgeq clean``: a device's health, pushing artifacts, and tidying up."""

from __future__ import annotations

import click
from rich.text import Text

from edgeq.cli.device import DeviceAddress, DeviceProfile, device_options
from edgeq.cli.output import line, print_json, progress
from edgeq.cli.tables import Column, print_table
from edgeq.units import human_bytes
from edgeq.errors import ConnectError, GateFailure
from edgeq.quantize.spec import RUN_SCHEME_CHOICES

# The library calls are imported inside each command, once its options are parsed: they import torch.

_MARK = {"ok": Text("ok", "green"), "warn": Text("warn", "yellow"), "fail": Text("fail", "red")}
_CHECKS = (Column("check", kind="label"), Column("", kind="label"), Column("detail", kind="prose"),
           Column("fix", kind="prose"))


@click.command()
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON on stdout.")
def doctor(profile: DeviceProfile, device: DeviceAddress | None, as_json: bool) -> None:
    """Check that a device is ready: reachable, right arch, runtimes, space, governor, temperature.

    Each problem comes with the command that fixes it. Exit 0 when nothing
    failed (warnings allowed), 1 when a check failed, 3 when the device
    cannot be reached.
    """
    from edgeq.device.doctor import diagnose

    with progress(f"examining {device or profile.name}"):
        diagnosis = diagnose(profile, device)
    if as_json:
        print_json(diagnosis.to_dict())
    else:
        print_table(_CHECKS, [{"check": check.name, "": _MARK[check.status], "detail": check.detail, "fix": check.fix or ""}
                              for check in diagnosis.checks],
                    title=f"{diagnosis.device} (profile {diagnosis.profile})", pad_edge=False)
    failed = [check for check in diagnosis.checks if check.status == "fail"]
    if not diagnosis.reachable:
        raise ConnectError(f"{diagnosis.device} is not reachable: {failed[0].detail}", hint=failed[0].fix)
    if failed:
        raise GateFailure(f"{len(failed)} check(s) failed on {diagnosis.device}: {', '.join(c.name for c in failed)}",
                          hint="run the fixes above, then edgeq doctor again")


@click.command()
@click.argument("model")
@device_options
@click.option("--scheme", type=click.Choice(RUN_SCHEME_CHOICES), default="auto", show_default=True,
              help="The int8 variant to push next to fp32 (auto: the one edgeq run would try first; 8da4w for a "
                   "language model, pushed with its tokenizer and the LLM runner).")
@click.option("--format", "fmt", type=click.Choice(["pte", "ptl"]), default=None,
              help="Artifact format [default: the profile's first].")
@click.option("--json", "as_json", is_flag=True, help="Print what was deployed as JSON on stdout.")
def deploy(model: str, profile: DeviceProfile, device: DeviceAddress | None, scheme: str, fmt: str | None,
           as_json: bool) -> None:
    """Build MODEL's artifacts for a device and push them there, verified by SHA-256; run nothing."""
    from edgeq.pipeline import RunOptions, deploy as deploy_model

    with progress() as say:
        result = deploy_model(model, profile, RunOptions(scheme=scheme, format=fmt), device=device, progress=say)
    if as_json:
        print_json(result.to_dict())
        return
    for artifact in result.artifacts:
        state = "pushed" if artifact["pushed"] else "already there"
        line(f"{artifact['label']:<19} {human_bytes(artifact['size_bytes']):>10}  {state:<13}  {artifact['remote']}",
             soft_wrap=True)
    for failure in result.failed:
        line((f"{failure.label} not deployed:", "red"), f" failed at {failure.stage}: {failure.error}", soft_wrap=True)
    line(f"runner: {result.runner}")
    tokenizers = {artifact["tokenizer"] for artifact in result.artifacts if artifact.get("tokenizer")}
    for tokenizer in tokenizers:
        line(f"tokenizer: {tokenizer}")
    for warning in result.warnings:
        line(("warning:", "yellow"), " ", warning)


@click.command()
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON on stdout.")
def clean(profile: DeviceProfile, device: DeviceAddress | None, as_json: bool) -> None:
    """Remove what edgeq left on a device (runner, artifacts, inputs, outputs in its work dir)."""
    from edgeq.device.cleanup import clean as clean_device

    result = clean_device(profile, device)
    if as_json:
        print_json(result.to_dict())
        return
    if not result.removed:
        line(f"nothing of edgeq's in {result.workdir}")
        return
    freed = "" if result.freed_bytes is None else f", {human_bytes(result.freed_bytes)} freed"
    line(f"removed {', '.join(result.removed)}{freed}")
