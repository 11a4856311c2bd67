"""``edgeq verify``: is this bundle the one that was packaged and signed, and does it still compute what it
computed then — on this host and, through a transport, on the device itself?

The checks run in an order, and a failure stops the checks that would trust the bundle: the signature first
(when a public key is given: is this the signer's bundle?), then every file against ``SHA256SUMS`` and the
manifest (is it whole?). Hashing reads bytes and trusts nothing, so the checksums are still reported after a
bad signature, to name what changed. Only a bundle that passed all of them is loaded on the host, pushed to a
device or run anywhere; otherwise each later check is reported "not checked" with the first failure as its
reason. This answers a bundle altered in transit or on a mirror: whoever rewrote a file can rewrite
``SHA256SUMS`` and the manifest too, but not the signature.

A language model's target is checked by what it generates: its program, loaded in this host's ExecuTorch runtime
(and with ``--device`` run by the LLM runner on the device), must generate for the recorded prompt the greedy tokens
recorded when it was packaged; its tokenizer must be where the manifest says, with the sha256 it records.

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
from edgeq.llm.task import CAUSAL_LM
from edgeq.package import layout
from edgeq.package.archive import extract
from edgeq.profiles import DeviceProfile

Progress = Callable[[str], None]
DEVICE_RUNS, DEVICE_WARMUP = 10, 2  # enough runs to report a p50 beside the numeric check
DEVICE_GENERATIONS = 2  # a language model's timed generations on the device, in one runner process
ORDER = ("signature", "checksum", "manifest")  # the checks that decide whether anything else may trust the bundle


@dataclass(frozen=True)
class Check:
    """One thing verified: ``ok`` True, False (a problem), or None (not checked, and why)."""

    kind: str  # signature, checksum, manifest, tokenizer, profile, outputs, device
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

    @property
    def origin_checked(self) -> bool:
        """The signature was checked against a public key and holds: the bundle is the signer's."""
        return any(check.kind == "signature" and check.ok for check in self.checks)

    @property
    def untrusted_because(self) -> str | None:
        """``the signature failed`` (or the checksums, or the manifest): why nothing from the bundle may be
        loaded or run; None when those checks passed."""
        for kind in ORDER:
            if any(check.kind == kind and check.ok is False for check in self.checks):
                return f"the {kind if kind != 'checksum' else 'checksums'} failed"
        return None

    def add(self, kind: str, subject: str, ok: bool | None, detail: str) -> None:
        self.checks.append(Check(kind, subject, ok, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "ok": self.ok, "origin_checked": self.origin_checked,
                "problems": [c.to_dict() for c in self.problems], "checks": [c.to_dict() for c in self.checks],
                "targets": self.targets}


def verify(path: Path, *, signature: Path | None = None, public_key: Path | None = None,
           profile: DeviceProfile | None = None, device: Any = None, transport: Any = None,
           progress: Progress | None = None) -> Verification:
    """Check ``path`` (a ``.tar.gz`` bundle or its unpacked folder): the signature, the checksums and the manifest;
    then, only if they hold, compatibility with ``profile``, the artifacts' outputs on the host, and with
    ``device``/``transport`` the same outputs on the device, measured by the measuring half ``edgeq run`` uses."""
    say = progress or (lambda message: None)
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"bundle {path} does not exist", hint="pass the NAME-VERSION.tar.gz edgeq package wrote")
    if (device is not None or transport is not None) and profile is None:
        raise ConfigError("--device needs the device's profile", hint="pass --profile, or name an inventory device")
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
                _not_checked(result, "the archive could not be unpacked", profile, device or transport)
                return result
        result = Verification(folder.name)
        say("checking the signature")
        _signature(folder, path, signature, public_key, result)
        say("checking the checksums")
        intact = _checksums(folder, result)
        manifest = _manifest(folder, intact, result)
        blocked = result.untrusted_because or (None if manifest is not None else "the manifest failed")
        if blocked is not None:
            _not_checked(result, blocked, profile, device or transport)
            return result
        for model in manifest["models"]:
            if model.get("tokenizer"):
                _tokenizer(folder, model, result)
        targets = _targets(manifest, profile, result)
        say("running the artifacts on this host")
        for model, target in targets:
            result.targets.append(_on_host(folder, model, target, result))
        if device is not None or transport is not None:
            _on_device(folder, manifest, targets, profile, device, transport, result, Path(scratch), say)
    return result


def _not_checked(result: Verification, why: str, profile: DeviceProfile | None, device: Any) -> None:
    """The checks that would load, push or run the bundle, each reported as not done and why."""
    if profile is not None:
        result.add("profile", profile.name, None, f"not checked: {why}")
    result.add("outputs", "this host", None, f"not checked: {why}; nothing from the bundle was loaded")
    if device is not None:
        name = str(getattr(device, "name", None) or device)
        result.add("device", name, None, f"not checked: {why}; nothing was pushed to the device or run there")


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
    unchecked = "its origin was not checked: anyone who can change the bundle can also rewrite its checksums"
    if public_key is None:
        found = f"{signature.name} not checked" if signature is not None else "the bundle is unsigned"
        result.add("signature", signature.name if signature else folder.name, None,
                   f"{found}: no --public-key, so {unchecked}")
        return
    if signature is None:
        result.add("signature", folder.name, False, f"no signature found (looked for {default.name}): {unchecked}")
        return
    if not signature.is_file():
        result.add("signature", signature.name, False, "missing")
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
        language = target.get("task") == CAUSAL_LM
        if language and profile.runtime == "executor_runner":
            problems.append("a language model generates through ExecuTorch's Python runtime, and the profile runs the "
                            "native executor_runner")
        runs_on = "a language model" if language else f"engine {target['quantization']['engine']}"
        result.add("profile", subject, not problems, "; ".join(problems) or
                   f".{target['format']} for {profile.arch}, {runs_on}: compatible")
    return chosen


def _tokenizer(folder: Path, model: dict[str, Any], result: Verification) -> None:
    """A language model's tokenizer is in the bundle, as the manifest records it (the prompts' ids mean nothing
    without it)."""
    recorded = model["tokenizer"]
    path = folder / recorded["path"]
    if not path.is_file():
        result.add("tokenizer", recorded["path"], False, f"missing: {model['name']}'s tokenizer, which manifest.json "
                                                         "records")
    elif (actual := file_sha256(path)) != recorded["sha256"]:
        result.add("tokenizer", recorded["path"], False,
                   f"changed: sha256 {actual[:16]}…, manifest.json records {recorded['sha256'][:16]}…")
    else:
        result.add("tokenizer", recorded["path"], True, f"{model['name']}'s tokenizer, as recorded")


def _on_host(folder: Path, model: dict[str, Any], target: dict[str, Any], result: Verification) -> dict[str, Any]:
    import torch

    from edgeq.export.host_runtime import load_forward
    from edgeq.numerics import compare_outputs, flatten_outputs

    subject = f"{model['name']}/{target['profile']['name']}"
    report: dict[str, Any] = {"model": model["name"], "target": target["profile"]["name"], "format": target["format"],
                              "host": None, "device": None}
    if target.get("task") == CAUSAL_LM:
        report["task"] = CAUSAL_LM
        report["host"] = _generated_on_host(folder, target, subject, result)
        return report
    workload = _workload(folder, target)
    try:
        forward = load_forward(folder / target["artifact"], target["format"], target["quantization"]["engine"])
        with torch.no_grad():
            outputs = [flatten_outputs(forward(*sample)) for sample in workload.check]
    except Exception as exc:  # noqa: BLE001 - the runtime raises many kinds for an artifact it cannot run
        result.add("outputs", subject, False, f"{target['artifact']} does not run on this host: {exc}")
        return report
    try:
        numbers = compare_outputs(workload.reference, outputs)
    except ValueError as exc:
        result.add("outputs", subject, False, f"on this host: {exc}")
        report["host"] = {"match": False, "reason": str(exc)}
        return report
    report["host"] = _match(target, numbers, subject, "this host", result)
    return report


def _generated_on_host(folder: Path, target: dict[str, Any], subject: str, result: Verification) -> dict[str, Any] | None:
    """A language model's program loaded in this host's ExecuTorch runtime, generating for the recorded prompt."""
    from edgeq.llm.export import greedy, load_llm

    reference = target["reference"]
    try:
        tokens = greedy(load_llm(folder / target["artifact"]), reference["prompt"], reference["new_tokens"])
    except Exception as exc:  # noqa: BLE001 - the runtime raises many kinds for a program it cannot run
        result.add("outputs", subject, False, f"{target['artifact']} does not run on this host: {exc}")
        return None
    return _same_tokens(reference["tokens"], tokens, subject, "this host", result)


def _same_tokens(recorded: list[int], generated: list[int], subject: str, where: str,
                 result: Verification) -> dict[str, Any]:
    """Whether the greedy tokens generated ``where`` are the recorded ones; a mismatch names the first position where
    they part and both tokens there."""
    position = next((i for i, (a, b) in enumerate(zip(recorded, generated)) if a != b), None)
    if position is None and len(recorded) != len(generated):
        position = min(len(recorded), len(generated))
    if position is None:
        result.add("outputs", subject, True, f"on {where}: generated the {len(recorded)} recorded greedy tokens for the "
                                             "recorded prompt")
        return {"match": True, "tokens": generated}

    def at(tokens: list[int]) -> str:
        return f"token {tokens[position]}" if position < len(tokens) else "no token"

    reason = (f"on {where}: the greedy tokens part from the recorded ones at position {position} of "
              f"{len(recorded)}: recorded {at(recorded)}, generated {at(generated)}")
    result.add("outputs", subject, False, reason)
    return {"match": False, "tokens": generated, "first_difference": position, "reason": reason}


def _workload(folder: Path, target: dict[str, Any]) -> Any:
    """The target's timing inputs, reference inputs and the outputs recorded for them when it was packaged."""
    import torch

    from edgeq.measure import Workload

    files = target["reference"]

    def load(key: str) -> Any:
        return torch.load(folder / files[key], weights_only=True)

    return Workload(tuple(load("inputs")), [tuple(sample) for sample in load("reference_inputs")], load("reference_outputs"))


def _artifact(folder: Path, target: dict[str, Any]) -> Any:
    """The target's artifact as the measuring half takes it: its file, and what the manifest records of its build."""
    from edgeq.export import Artifact, Manifest

    path = folder / target["artifact"]
    quantization = target["quantization"]
    return Artifact(path=path, format=target["format"], sha256=file_sha256(path), size_bytes=path.stat().st_size,
                    manifest=Manifest({"variant": target["variant"], "engine": quantization["engine"],
                                       "backend": quantization.get("backend") or {}}), cached=False)


def _match(target: dict[str, Any], numbers: dict[str, Any] | None, subject: str, where: str,
           result: Verification) -> dict[str, Any]:
    """Whether the outputs measured ``where`` are the recorded ones (cosine at least the bundle's minimum)."""
    minimum = target["reference"]["min_cosine"]
    if numbers is None:
        result.add("outputs", subject, False, f"on {where}: no outputs came back to compare")
        return {"match": False, "reason": "no outputs came back"}
    ok = numbers["cosine"] >= minimum
    result.add("outputs", subject, ok, f"on {where}: cosine {numbers['cosine']:.6f} to the recorded outputs "
                                  f"({'≥' if ok else '<'} {minimum}), max error {numbers['max_abs_err']:.3g}, "
                                  f"{numbers['samples']} samples")
    return {"match": ok, **numbers}


def _on_device(folder: Path, manifest: dict[str, Any], targets: list[tuple[dict[str, Any], dict[str, Any]]],
               profile: DeviceProfile, device: Any, transport: Any, result: Verification, scratch: Path,
               say: Progress) -> None:
    """Each target measured on the device by the measuring half ``edgeq run`` and the lab use — the same probe,
    kernel check, push and runner (the bundle's own on a Python device, the device's ``executor_runner`` on a
    native one) — and its outputs compared with the recorded ones."""
    from edgeq.bench import BenchSpec
    from edgeq.measure import DeviceBench, reach
    from edgeq.transport import open_transport

    if not targets:
        return
    owned = transport is None
    if owned:
        say(f"connecting to {device}")
    transport = transport or open_transport(profile.transport, device)
    try:
        spec = BenchSpec(runs=DEVICE_RUNS, warmup=DEVICE_WARMUP, threads=profile.default_threads, timeout_s=900.0,
                         cpus=profile.cpus)
        for index, (model, target) in enumerate(targets):
            subject = f"{model['name']}/{profile.name}"
            report = next(r for r in result.targets if (r["model"], r["target"]) == (model["name"], profile.name))
            where = reach(transport, profile, target["format"], device, say)
            for warning in where.warnings:
                result.add("device", subject, None, warning)
            staging = scratch / f"device-{index}"
            staging.mkdir()
            say(f"measuring {subject} on {where.name}")
            if target.get("task") == CAUSAL_LM:
                _generated_on_device(folder, manifest, target, where, subject, report, result, staging)
                continue
            try:
                bench = DeviceBench(where, _workload(folder, target), spec, staging, say, remeasure_noisy=False,
                                    runner=folder / manifest["runner"]["path"])
                measured = bench.measure(_artifact(folder, target))
            except BenchError as exc:
                result.add("device", subject, False, f"{target['artifact']} does not run on {where.name}: {exc.message}")
                continue
            found = measured.bench
            facts = where.facts
            runtime = ({"runtime": "executor_runner", "executor_runner": found.versions.get("executor_runner")}
                       if profile.runtime == "executor_runner" else
                       {"runtime": "python", "torch": found.versions.get("torch"),
                        "executorch": found.versions.get("executorch")})
            report["device"] = {"name": where.name, "arch": found.arch, **runtime, "threads": found.threads,
                                "latency_p50_ms": round(found.latency.p50, 4), "latency_cv": round(found.latency.cv, 4),
                                **_match(target, measured.numerics, subject, where.name, result)}
            on = (f"the executor_runner {found.versions.get('executor_runner')}" if profile.runtime == "executor_runner"
                  else f"torch {found.versions.get('torch')}, executorch {found.versions.get('executorch') or facts.executorch}")
            result.add("device", subject, report["device"]["match"],
                       f"ran on {where.name} ({found.arch}, {on}): p50 {found.latency.p50:.3f} ms")
    finally:
        if owned:
            transport.close()


def _generated_on_device(folder: Path, manifest: dict[str, Any], target: dict[str, Any], where: Any, subject: str,
                         report: dict[str, Any], result: Verification, staging: Path) -> None:
    """A language model's program generating on the device, through the measuring half ``edgeq run`` uses for one
    (``measure_llm``: the kernel check, the verified push, the LLM runner — the bundle's own), for the recorded
    prompt: its greedy tokens must be the recorded ones; its decode speed is reported."""
    from edgeq.llm.bench import LlmSettings, measure_llm

    reference = target["reference"]
    settings = LlmSettings(new_tokens=reference["new_tokens"], processes=1, generations=DEVICE_GENERATIONS,
                           threads=where.profile.default_threads, timeout_s=900.0)
    runner = manifest.get("llm_runner")
    try:
        bench = measure_llm(where, _artifact(folder, target), reference["prompt"], [], settings, staging,
                            runner=folder / runner["path"] if runner else None)
    except BenchError as exc:
        result.add("device", subject, False, f"{target['artifact']} does not run on {where.name}: {exc.message}")
        return
    versions = bench.versions
    report["device"] = {"name": where.name, "arch": bench.arch, "runtime": "python", "torch": versions.get("torch"),
                        "executorch": versions.get("executorch"), "threads": bench.threads,
                        "decode_tokens_per_s": round(bench.decode_tokens_per_s, 1),
                        "first_token_ms": round(bench.first_token.p50, 3), "latency_p50_ms": round(bench.decode.p50, 4),
                        "latency_cv": round(bench.decode.cv, 4),
                        **_same_tokens(reference["tokens"], bench.tokens, subject, where.name, result)}
    repeated = "" if bench.same_tokens else "; its generations gave different tokens"
    result.add("device", subject, report["device"]["match"],
               f"ran on {where.name} ({bench.arch}, torch {versions.get('torch')}, executorch "
               f"{versions.get('executorch')}): decode {bench.decode_tokens_per_s:.0f} tokens/s, first token "
               f"{bench.first_token.p50:.2f} ms{repeated}")
