"""``edgeq package``: every model of a release built for every target, measured, described and packed.

Each (model, target) goes through the pipeline's two halves on the packaging host: the target's own
quantization (its engine, its formats, the artifact cache keyed on its profile) and a measurement on
the host standing in for the device, which gives accuracy against fp32 and, when no better evidence
exists, a latency marked as the host's (``evidence``). What ships is chosen, among the variants within the
accuracy budget, from the target's own latencies when the lab store holds measurements of those exact
artifacts on a device of the target's profile; otherwise by accuracy alone — the scheme asked for, or with
``auto`` the first int8 variant of the search within the budget, else fp32 — and the summary says that the
choice was made on a stand-in. The same inputs (and store) always choose the same artifact.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import ConfigError, GateFailure
from edgeq.package import layout
from edgeq.package.archive import copy_file, write_tar_gz
from edgeq.package.card import choice_line, model_card
from edgeq.package.config import ModelEntry, ReleaseConfig
from edgeq.package.evidence import Evidence, MeasurementsFile, from_host_run, from_store, on_target_device
from edgeq.profiles import DeviceProfile, load_profile

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
REFERENCE_COSINE = 0.999  # what verify accepts between an artifact's outputs and the recorded ones


@dataclass(frozen=True)
class Bundle:
    """A written release: the reproducible ``.tar.gz``, its signature (when signed), and what it holds."""

    path: Path
    signature: Path | None
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".tar.gz")

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": str(self.path), "signature": str(self.signature) if self.signature else None,
                "name": self.name, "targets": [
                    {"model": model["name"], "profile": target["profile"]["name"],
                     **{k: target[k] for k in ("variant", "format", "sha256", "size_bytes")},
                     "accuracy": target["accuracy"], "latency_p50_ms": target["evidence"]["latency_ms"]["p50"],
                     "measured_on": _where(target), "chosen_on": target["choice"]["made_on"],
                     "choice": choice_line(model["name"], target)}
                    for model in self.manifest["models"] for target in model["targets"]],
                "warnings": self.warnings}


def _where(target: dict[str, Any]) -> str:
    """Where the shipped artifact's latency was taken, in a few words: ``lab b1``, ``this host``, or the host as a
    stand-in."""
    on = target["evidence"]["measured_on"]
    if on["where"] == "lab":
        return f"lab {on['device']}"
    return "this host" if target["profile"]["name"] == "host" else "this host (stand-in)"


def build(config: ReleaseConfig, out_dir: Path | None = None, *, sign_key: str | None = None,
          require_device_evidence: bool = False, progress: Progress | None = None) -> Bundle:
    """Build ``config``'s bundle into ``out_dir`` (default: ``dist`` beside the config) and sign it with
    ``sign_key`` (a P-256 PEM path or a ``pkcs11:`` URI) when given.

    ``require_device_evidence``: raise ``GateFailure`` (and write nothing) when a target's variant was chosen
    and timed on a stand-in instead of a device of its own profile — for pipelines that must not ship
    unmeasured targets."""
    say = progress or (lambda message: None)
    out_dir = Path(out_dir) if out_dir is not None else config.path.parent / "dist"
    profiles = _profiles(config)
    store = _open_store(config.store) if config.store else None
    recorded = MeasurementsFile(config.measurements_path)
    warnings: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="edgeq-package-") as scratch:
            folder = Path(scratch) / config.bundle_name
            folder.mkdir()
            models = [_package_model(config, entry, [profiles[t] for t in entry.targets], folder, store, recorded, say)
                      for entry in config.models]
            if require_device_evidence:
                _require_device_evidence(models)
            copy_file(layout.runner_source(), folder / layout.RUNNER)
            manifest = layout.manifest(config, models, folder)
            (folder / layout.CARD).write_text(model_card(manifest), encoding="utf-8")
            layout.write_manifest(folder, manifest)
            layout.write_sha256sums(folder)
            out_dir.mkdir(parents=True, exist_ok=True)
            archive = out_dir / f"{config.bundle_name}.tar.gz"
            say(f"writing {archive.name}")
            write_tar_gz(folder, archive)
            signature = None
            if sign_key is not None:
                from edgeq.package.signing import sign_folder

                signature = out_dir / f"{config.bundle_name}.sig"
                say(f"signing {folder.name} in the OpenSSF model signing format")
                sign_folder(folder, signature, sign_key)
            elif (out_dir / f"{config.bundle_name}.sig").exists():
                stale = out_dir / f"{config.bundle_name}.sig"
                stale.unlink()  # an older bundle's signature would now fail to verify, and mislead
                warnings.append(f"removed {stale.name}: it signed an earlier bundle of this name")
        recorded.save()
    finally:
        if store is not None:
            store.close()
    return Bundle(archive, signature, manifest, warnings)


def _profiles(config: ReleaseConfig) -> dict[str, DeviceProfile]:
    found = {}
    for entry in config.models:
        for target in entry.targets:
            if target in found:
                continue
            path = config.path.parent / target
            try:
                found[target] = load_profile(path if target.endswith(".toml") else target)
            except ConfigError as exc:
                raise ConfigError(f"{config.path}: [[models]] {entry.source}: targets: {exc.message}",
                                  hint=exc.hint or "edgeq profiles list shows the profiles") from exc
            if entry.format is not None and entry.format not in found[target].formats:
                raise ConfigError(f"{config.path}: [[models]] {entry.source}: format {entry.format!r} does not run on "
                                  f"target {target!r}", hint=f"it runs: {', '.join(found[target].formats)}")
    return found


def _open_store(url: str) -> Any:
    from edgeq.lab.store import open_store

    if "://" not in url and not url.startswith("sqlite:") and not Path(url).is_file():
        raise ConfigError(f"the lab store {url} does not exist", hint="fix [release] store, or remove it to measure on "
                          "the host")
    return open_store(url, default_path=None)


def _package_model(config: ReleaseConfig, entry: ModelEntry, profiles: list[DeviceProfile], folder: Path, store: Any,
                   recorded: MeasurementsFile, say: Progress) -> dict[str, Any]:
    from edgeq.models import load_model

    say(f"loading {entry.source}")
    loaded = load_model(entry.source)
    targets = []
    for profile in profiles:
        say(f"{entry.name} for {profile.name}")
        targets.append(_package_target(config, entry, loaded, profile, folder, store, recorded, say))
    return {"name": entry.name, "source": _portable_source(config, entry.source), "description": entry.description
            or loaded.description, "limits": list(entry.limits), **layout.source_hashes(loaded), "targets": targets}


def _package_target(config: ReleaseConfig, entry: ModelEntry, loaded: Any, profile: DeviceProfile, folder: Path,
                    store: Any, recorded: MeasurementsFile, say: Progress) -> dict[str, Any]:
    from edgeq.pipeline import RunOptions, run

    options = RunOptions(scheme=entry.scheme, format=entry.format, runs=config.runs, warmup=3, threads=1,
                         max_drop=entry.max_drop, metric=entry.metric)
    result = run(loaded, _host_stand_in(profile), options, progress=say)
    fp32, shipped, why = _shipped(entry, profile, result)
    choice = _lab_choice(store, entry, profile, result) if store is not None else None
    on_device: dict[str, Evidence] = {}
    if choice is not None:
        shipped, why, made, on_device = choice
    elif entry.scheme != "auto":
        made = {"made_on": "config", "scheme": entry.scheme}
    else:
        made = {"made_on": "target" if profile.name == "host" else "stand-in", "device": "packaging host"}

    def evidence_of(variant: Any) -> Evidence:  # the choosing device's measurement first, so the two agree
        sha256 = variant.artifact.sha256
        return on_device.get(sha256) or _evidence(store, recorded, sha256, profile.name, variant)

    artifact = shipped.artifact
    relative = layout.artifact_path(entry.name, profile.name, artifact.format)
    copy_file(artifact.path, folder / relative)
    references, outputs = layout.write_references(folder, entry, profile.name, loaded, artifact,
                                         config.reference_samples)
    evidence = evidence_of(shipped)
    budget = result.budget
    return {
        "profile": layout.profile_facts(profile),
        "inputs": artifact.manifest.data.get("inputs", []), "outputs": outputs,
        "variant": shipped.spec.variant, "scheme": shipped.spec.scheme, "format": artifact.format,
        "quantization": {**shipped.spec.key(), "why": why, "search": list(result.search),
                         "notes": artifact.notes, "backend": artifact.manifest.data.get("backend")},
        "choice": made,
        "artifact": relative, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes,
        "fp32": {"sha256": fp32.artifact.sha256, "size_bytes": fp32.artifact.size_bytes,
                 "evidence": evidence_of(fp32).to_dict()},
        "accuracy": {"metric": budget.metric.name, "unit": budget.metric.unit,
                     "fp32": layout.rounded(fp32.quality), "shipped": layout.rounded(shipped.quality),
                     "drop": layout.rounded(None if shipped.quality is None or fp32.quality is None
                                            else fp32.quality - shipped.quality),
                     "max_drop": budget.max_drop, "within_budget": shipped.within_budget,
                     "samples": (shipped.accuracy or {}).get("samples") or len(result.results[0].bench.check_outputs or []),
                     "numerics_vs_fp32": {k: layout.rounded(v) for k, v in (shipped.numerics or {}).items()}},
        "reference": {**references, "min_cosine": REFERENCE_COSINE},
        "evidence": {**evidence.to_dict(), "note": evidence.note_for(profile.name)},
    }


def _lab_choice(store: Any, entry: ModelEntry, profile: DeviceProfile,
                result: Any) -> tuple[Any, str, dict[str, Any], dict[str, Evidence]] | None:
    """With ``scheme = "auto"``: the variant the lab's measurements on one device of the target's profile favour,
    among fp32 and the variants within the accuracy budget (the same choice ``edgeq run`` makes, on the target's
    latencies); ``(variant, why, how the choice was made, that device's evidence by sha256)``, or None when no
    such device measured them."""
    if entry.scheme != "auto":
        return None
    from edgeq.bench.stats import latency_stats
    from edgeq.selection import Candidate, choose

    eligible = [result.results[0]] + [r for r in result.results[1:] if r.within_budget]
    found = on_target_device(store, profile.name, [r.artifact.sha256 for r in eligible])
    if found is None:
        return None
    measured = {r.spec.label: r for r in eligible if r.artifact.sha256 in found.samples_ms}
    chosen, reason = choose([Candidate(name, latency_stats(found.samples_ms[r.artifact.sha256]), r.artifact.size_bytes,
                                       True, r.budget_note or "fp32") for name, r in measured.items()])
    cpu = next((e.cpu for e in found.evidence.values() if e.cpu), None)
    made = {"made_on": "lab", "device": found.device, "profile": found.profile, "cpu": cpu,
            "p50_ms": {name: layout.rounded(latency_stats(found.samples_ms[r.artifact.sha256]).p50)
                       for name, r in measured.items()}}
    why = (f"auto: chosen from the latencies lab device {found.device} (profile {found.profile}) measured of "
           f"{len(measured)} variant(s) within the accuracy budget: {chosen}: {reason}")
    return measured[chosen], why, made, found.evidence


def _require_device_evidence(models: list[dict[str, Any]]) -> None:
    missing = [f"{model['name']}/{target['profile']['name']}" for model in models for target in model["targets"]
               if target["choice"]["made_on"] == "stand-in"
               or not Evidence.from_dict(target["evidence"]).on_target(target["profile"]["name"])]
    if missing:
        raise GateFailure(f"--require-device-evidence: {len(missing)} target(s) chosen or timed on a stand-in, not on "
                          f"a device of their own profile: {', '.join(missing)}; no bundle was written",
                          hint="run edgeq lab run --models … on those targets' devices, then package with "
                               "[release] store pointing at the lab's store")


def _host_stand_in(profile: DeviceProfile) -> DeviceProfile:
    """The target's profile run on this machine: its engine, formats and name (so its artifacts and their
    cache entries are the target's), the host's architecture, Python and transport, one thread."""
    if profile.transport == "local" and profile.name == "host":
        return dataclasses.replace(profile, threads=1, cooldown_s=0.0)
    host = load_profile("host")
    engine = profile.engine if profile.engine in _host_engines(host) else host.engine
    return dataclasses.replace(profile, arch=host.arch, engine=engine, transport="local", python=sys.executable,
                               runtime="python", workdir=str(_standin_workdir()), threads=1, cpus=(), cooldown_s=0.0,
                               isa=profile.isa if profile.arch == host.arch else host.isa)


def _host_engines(host: DeviceProfile) -> tuple[str, ...]:
    from edgeq.profiles import _ARCH_ENGINES

    return _ARCH_ENGINES[host.arch]


def _standin_workdir() -> Path:
    from edgeq.cache import cache_dir

    return cache_dir() / "package-host"


def _shipped(entry: ModelEntry, profile: DeviceProfile, result: Any) -> tuple[Any, Any, str]:
    """(fp32, the variant that ships, why): decided by accuracy, never by a latency measured here."""
    where = f"{entry.source} for {profile.name}"
    fp32 = result.results[0]
    if entry.scheme == "none":
        return fp32, fp32, "scheme = \"none\": fp32 asked for"
    quantized = [r for r in result.results if r.spec.scheme != "none"]
    if entry.scheme != "auto":
        if not quantized:
            failed = "; ".join(f"{f.label} at {f.stage}: {f.error}" for f in result.failures if f.spec.scheme != "none")
            raise GateFailure(f"{where}: {entry.scheme} int8 could not be built or run ({failed or 'no candidate'})",
                              hint='set scheme = "auto" to search, or scheme = "none" to ship fp32')
        chosen = quantized[0]
        if entry.max_drop is not None and not chosen.within_budget:
            raise GateFailure(f"{where}: {chosen.spec.variant} misses the budget: {chosen.budget_note}",
                              hint='raise max_drop, set scheme = "auto" (mixed precision, QAT), or ship fp32')
        return fp32, chosen, f"scheme = \"{entry.scheme}\" asked for; {chosen.budget_note}"
    within = [r for r in quantized if r.within_budget]
    if within:
        chosen = within[0]
        return fp32, chosen, f"auto: the first int8 variant of the search within the budget ({chosen.budget_note})"
    best = max((r for r in quantized if r.quality is not None), key=lambda r: r.quality, default=None)
    return fp32, fp32, ("auto: no int8 variant met the budget, so fp32 ships"
                        + (f" (best: {best.spec.variant}, {best.budget_note})" if best else " (none could be built)"))


def _evidence(store: Any, recorded: MeasurementsFile, sha256: str, profile: str, shipped: Any) -> Evidence:
    if store is not None:
        found = from_store(store, sha256, profile)
        if found is not None:
            return found
    found = recorded.get(sha256)
    if found is not None:
        return found
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    evidence = from_host_run(shipped.bench, now)
    recorded.put(sha256, evidence)
    return evidence


def _portable_source(config: ReleaseConfig, source: str) -> str:
    """The source as the config names it: a file relative to the config, never this machine's absolute path."""
    if source.startswith("zoo:"):
        return source
    try:
        return str(Path(source).relative_to(config.path.parent.resolve()))
    except ValueError:
        try:
            return str(Path(source).relative_to(config.path.parent))
        except ValueError:
            return Path(source).name

