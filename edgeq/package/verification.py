"""``edgeq verify``: is this bundle the one that was packaged and signed, and does it still compute what it
computed then — on this host and, through a transport, on the device itself?

Every problem is a ``Check`` that failed, naming the file and the reason; the caller decides what a
failure means (the CLI exits 1). Only an unreachable device raises (a ``TransportError``, exit 3).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.digest import file_sha256
from edgeq.errors import BenchError, ConfigError
from edgeq.package import layout
from edgeq.package.archive import extract
from edgeq.profiles import DeviceProfile

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Check:
    """One thing verified: ``ok`` True, False (a problem), or None (not checked, and why)."""

    kind: str  # checksum, manifest, signature, outputs, profile, device
    subject: str  # the file or target it is about
    ok: bool | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "ok": self.ok, "detail": self.detail}


@dataclass
class Verification:
    bundle: str
    checks: list[Check] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)  # per target: where it was run and what came out

    @property
    def ok(self) -> bool:
        return all(check.ok is not False for check in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [check for check in self.checks if check.ok is False]

    def add(self, kind: str, subject: str, ok: bool | None, detail: str) -> None:
        self.checks.append(Check(kind, subject, ok, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "ok": self.ok, "problems": [c.to_dict() for c in self.problems],
                "checks": [c.to_dict() for c in self.checks], "targets": self.targets}


def verify(path: Path, *, signature: Path | None = None, public_key: Path | None = None,
           profile: DeviceProfile | None = None, device: Any = None, transport: Any = None,
           progress: Progress | None = None) -> Verification:
    """Check ``path`` (a ``.tar.gz`` bundle or its unpacked folder): checksums, manifest, signature, the
    artifacts' outputs on the host, compatibility with ``profile``, and with ``device``/``transport`` the
    same outputs on the device."""
    say = progress or (lambda message: None)
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"bundle {path} does not exist", hint="pass the NAME-VERSION.tar.gz edgeq package wrote")
    with tempfile.TemporaryDirectory(prefix="edgeq-verify-") as scratch:
        if path.is_dir():
            folder = path
        else:
            say(f"unpacking {path.name}")
            try:
                folder = extract(path, Path(scratch) / "bundle")
            except ValueError as exc:
                result = Verification(path.name)
                result.add("checksum", path.name, False, str(exc))
                return result
        result = Verification(folder.name)
        intact = _checksums(folder, result)
        manifest = _manifest(folder, intact, result)
        _signature(folder, path, signature, public_key, result)
        if manifest is None:
            return result
        targets = _targets(manifest, profile, result)
        say("running the artifacts on this host")
        for model, target in targets:
            result.targets.append(_on_host(folder, model, target, intact, result))
        if device is not None or transport is not None:
            if profile is None:
                raise ConfigError("--device needs the device's profile", hint="pass --profile, or name an inventory device")
            _on_device(folder, manifest, targets, profile, device, transport, intact, result, Path(scratch), say)
    return result


def _checksums(folder: Path, result: Verification) -> set[str]:
    """Every file against SHA256SUMS; the files that match."""
    sums_path = folder / layout.SUMS
    try:
        listed = layout.read_sha256sums(sums_path)
    except FileNotFoundError:
        result.add("checksum", layout.SUMS, False, "missing: nothing says what the bundle should hold")
        return set()
    except (ValueError, UnicodeDecodeError) as exc:
        result.add("checksum", layout.SUMS, False, f"unreadable: {exc}")
        return set()
    present = set(layout.all_files(folder)) - {layout.SUMS}
    intact = set()
    for name in sorted(set(listed) | present):
        if name not in present:
            result.add("checksum", name, False, "missing: listed in SHA256SUMS but not in the bundle")
        elif name not in listed:
            result.add("checksum", name, False, "added: in the bundle but not in SHA256SUMS")
        elif (actual := file_sha256(folder / name)) != listed[name]:
            result.add("checksum", name, False, f"changed: sha256 {actual[:16]}…, SHA256SUMS says {listed[name][:16]}…")
        else:
            intact.add(name)
    if intact == set(listed) == present:
        result.add("checksum", layout.SUMS, True, f"{len(intact)} files match")
    return intact


def _manifest(folder: Path, intact: set[str], result: Verification) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / layout.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.add("manifest", layout.MANIFEST, False, f"unreadable: {exc}")
        return None
    if manifest.get("format") != layout.FORMAT:
        result.add("manifest", layout.MANIFEST, False, f"format {manifest.get('format')!r}, not {layout.FORMAT!r}")
        return None
    listed = {entry["path"]: entry["sha256"] for entry in manifest.get("files", [])}
    bad = [name for name, digest in sorted(listed.items())
           if not (folder / name).is_file() or (name not in intact and file_sha256(folder / name) != digest)]
    for name in bad:
        result.add("manifest", name, False, "does not match the sha256 manifest.json records")
    if not bad:
        result.add("manifest", layout.MANIFEST, True, f"{len(listed)} files as recorded")
    return manifest


def _signature(folder: Path, path: Path, signature: Path | None, public_key: Path | None, result: Verification) -> None:
    default = path.with_name(f"{folder.name}.sig") if not path.is_dir() else path.with_name(f"{path.name}.sig")
    signature = signature or (default if default.is_file() else None)
    if signature is None:
        result.add("signature", folder.name, None if public_key is None else False,
                   "no signature found" + (f" (looked for {default.name})" if public_key else ": the bundle is unsigned"))
        return
    if not signature.is_file():
        result.add("signature", signature.name, False, "missing")
        return
    if public_key is None:
        result.add("signature", signature.name, None, "not checked: pass --public-key")
        return
    from edgeq.package.signing import check_signature

    problem = check_signature(folder, signature, public_key)
    result.add("signature", signature.name, problem is None,
               problem or f"valid: OpenSSF model signing, signed with the key matching {public_key.name}")


def _targets(manifest: dict[str, Any], profile: DeviceProfile | None,
             result: Verification) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    every = [(model, target) for model in manifest["models"] for target in model["targets"]]
    if profile is None:
        return every
    chosen = [(m, t) for m, t in every if t["profile"]["name"] == profile.name]
    if not chosen:
        names = sorted({t["profile"]["name"] for _, t in every})
        result.add("profile", profile.name, False, f"the bundle has no target for profile {profile.name!r} "
                                                   f"(it has: {', '.join(names)})")
    for model, target in chosen:
        built = target["profile"]
        subject = f"{model['name']}/{profile.name}"
        problems = []
        if target["format"] not in profile.formats:
            problems.append(f".{target['format']} is not among the profile's formats ({', '.join(profile.formats)})")
        if built["arch"] != profile.arch:
            problems.append(f"built for arch {built['arch']}, the profile is {profile.arch}")
        if target["format"] == "ptl" and target["quantization"]["engine"] != profile.engine:
            problems.append(f".ptl quantized for engine {target['quantization']['engine']}, the profile runs {profile.engine}")
        result.add("profile", subject, not problems, "; ".join(problems) or
                   f".{target['format']} for {profile.arch}, engine {target['quantization']['engine']}: compatible")
    return chosen


def _on_host(folder: Path, model: dict[str, Any], target: dict[str, Any], intact: set[str],
             result: Verification) -> dict[str, Any]:
    import torch

    from edgeq.export.host_runtime import load_forward
    from edgeq.numerics import flatten_outputs

    subject = f"{model['name']}/{target['profile']['name']}"
    report: dict[str, Any] = {"model": model["name"], "target": target["profile"]["name"], "format": target["format"],
                              "host": None, "device": None}
    needed = [target["artifact"], target["reference"]["reference_inputs"], target["reference"]["reference_outputs"]]
    broken = [name for name in needed if name not in intact]
    if broken:
        result.add("outputs", subject, None, f"not run on this host: {', '.join(broken)} failed the checksums")
        return report
    try:
        forward = load_forward(folder / target["artifact"], target["format"], target["quantization"]["engine"])
        samples = torch.load(folder / target["reference"]["reference_inputs"], weights_only=True)
        with torch.no_grad():
            outputs = [flatten_outputs(forward(*sample)) for sample in samples]
    except Exception as exc:  # noqa: BLE001 - the runtime raises many kinds for an artifact it cannot run
        result.add("outputs", subject, False, f"{target['artifact']} does not run on this host: {exc}")
        return report
    report["host"] = _match(folder, target, outputs, subject, "this host", result)
    return report


def _match(folder: Path, target: dict[str, Any], outputs: list[Any], subject: str, where: str,
           result: Verification) -> dict[str, Any]:
    import torch

    from edgeq.numerics import compare_outputs

    expected = torch.load(folder / target["reference"]["reference_outputs"], weights_only=True)
    minimum = target["reference"]["min_cosine"]
    try:
        numbers = compare_outputs(expected, outputs)
    except ValueError as exc:
        result.add("outputs", subject, False, f"on {where}: {exc}")
        return {"match": False, "reason": str(exc)}
    ok = numbers["cosine"] >= minimum
    result.add("outputs", subject, ok, f"on {where}: cosine {numbers['cosine']:.6f} to the recorded outputs "
                                       f"({'≥' if ok else '<'} {minimum}), max error {numbers['max_abs_err']:.3g}, "
                                       f"{numbers['samples']} samples")
    return {"match": ok, **numbers}


def _on_device(folder: Path, manifest: dict[str, Any], targets: list[tuple[dict[str, Any], dict[str, Any]]],
               profile: DeviceProfile, device: Any, transport: Any, intact: set[str], result: Verification,
               scratch: Path, say: Progress) -> None:
    from edgeq.bench import BenchSpec, run_bench, stage_file
    from edgeq.measure import reach
    from edgeq.transport import open_transport

    if profile.runtime != "python":
        result.add("device", profile.name, None, "not run: the device check uses the bundle's Python runner, and this "
                                                 "profile runs the native executor_runner")
        return
    if not targets:
        return
    owned = transport is None
    if owned:
        say(f"connecting to {device}")
    transport = transport or open_transport(profile.transport, device)
    try:
        runner_name = manifest["runner"]["path"]
        if runner_name not in intact:
            result.add("device", profile.name, False, f"not run: {runner_name} failed the checksums")
            return
        for model, target in targets:
            subject = f"{model['name']}/{profile.name}"
            files = [target["artifact"], target["reference"]["inputs"], target["reference"]["reference_inputs"]]
            report = next(r for r in result.targets if (r["model"], r["target"]) == (model["name"], profile.name))
            if any(name not in intact for name in files):
                result.add("device", subject, None, "not run on the device: its files failed the checksums")
                continue
            where = reach(transport, profile, target["format"], device, say)
            for warning in where.warnings:
                result.add("device", subject, None, warning)

            def staged(name: str, kind: str) -> str:
                local = folder / name
                return stage_file(transport, local, where.workdir, kind, file_sha256(local), local.suffix).path

            say(f"pushing {subject} to {where.name}")
            runner = staged(runner_name, "runner")
            artifact = staged(target["artifact"], "artifacts")
            inputs = staged(target["reference"]["inputs"], "inputs")
            check = staged(target["reference"]["reference_inputs"], "inputs")
            say(f"running {subject} on {where.name}")
            try:
                bench = run_bench(transport, python=profile.python, runner=runner, artifact=artifact,
                                  fmt=target["format"], engine=target["quantization"]["engine"], inputs=inputs,
                                  spec=BenchSpec(runs=10, warmup=2, threads=profile.default_threads, timeout_s=900),
                                  check=check, check_out=f"{where.workdir}/outputs/verify-{target['sha256'][:16]}.pt",
                                  local_check_out=scratch / f"device-{target['sha256'][:16]}.pt")
            except BenchError as exc:
                result.add("device", subject, False, f"{target['artifact']} does not run on {where.name}: {exc.message}")
                continue
            match = _match(folder, target, bench.check_outputs or [], subject, where.name, result)
            report["device"] = {"name": where.name, "arch": bench.arch, "torch": bench.versions.get("torch"),
                                "executorch": bench.versions.get("executorch"), "threads": bench.threads,
                                "latency_p50_ms": round(bench.latency.p50, 4), "latency_cv": round(bench.latency.cv, 4),
                                **match}
            result.add("device", subject, match["match"], f"ran on {where.name} ({bench.arch}, torch "
                       f"{bench.versions.get('torch')}, executorch {bench.versions.get('executorch')}): p50 "
                       f"{bench.latency.p50:.3f} ms")
    finally:
        if owned:
            transport.close()
