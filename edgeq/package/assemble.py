"""``edgeq package``: every model of a release built for every target, measured, described and packed.

Each (model, target) goes through the pipeline's two halves on the packaging host: the target's own
quantization (its engine, its formats, the artifact cache keyed on its profile) and a measurement on
the host standing in for the device, which gives accuracy against fp32 and, when no better evidence
exists, a latency marked as the host's (``evidence``). What ships is chosen, among the variants within the
accuracy budget, from the target's own latencies when the lab store holds measurements of those exact
artifacts on a device of the target's profile; otherwise by accuracy alone — the scheme asked for, or with
``auto`` the first int8 variant of the search within the budget, else fp32 — and the summary says that the
choice was made on a stand-in. The same inputs (and store) always choose the same artifact.

A causal language model (``edgeq.llm.build.generates``) goes through the same two halves as ``edgeq run`` takes it:
its programs exported through ExecuTorch's LLM export, generated with on the host, judged by greedy-token agreement
with fp32. Its target records a prompt's token ids and the greedy tokens the shipped program generated for them
(what ``verify`` regenerates), its decode speed in tokens per second, and its agreement with fp32; its tokenizer
and the LLM runner travel in the bundle.
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

from edgeq.digest import file_sha256
from edgeq.errors import ConfigError, GateFailure
from edgeq.llm.task import CAUSAL_LM
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
                     "accuracy": target.get("accuracy"), "latency_p50_ms": target["evidence"]["latency_ms"]["p50"],
                     **_language_fields(target),
                     "measured_on": _where(target), "chosen_on": target["choice"]["made_on"],
                     "choice": choice_line(model["name"], target)}
                    for model in self.manifest["models"] for target in model["targets"]],
                "warnings": self.warnings}


def _language_fields(target: dict[str, Any]) -> dict[str, Any]:
    """A language model's target: its task, its agreement with fp32 (it has no accuracy) and its decode speed (its
    ``latency_p50_ms`` is the decode time per token)."""
    if target.get("task") != CAUSAL_LM:
        return {}
    return {"task": CAUSAL_LM, "agreement": target["agreement"],
            "decode_tokens_per_s": target["evidence"]["decode_tokens_per_s"]}


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
            if any(model.get("task") == CAUSAL_LM for model in models):
                copy_file(layout.llm_runner_source(), folder / layout.LLM_RUNNER)
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
    language = _is_language_model(config, entry, loaded, profiles)
    targets = []
    for profile in profiles:
        say(f"{entry.name} for {profile.name}")
        targets.append(_package_target(config, entry, loaded, profile, folder, store, recorded, say, language))
    model = {"name": entry.name, "source": _portable_source(config, entry.source), "description": entry.description
             or loaded.description, "limits": list(entry.limits), **layout.source_hashes(loaded), "targets": targets}
    if language:
        model.update(task=CAUSAL_LM, tokenizer=_ship_tokenizer(entry, entry.tokenizer or loaded.tokenizer, folder))
    return model


def _is_language_model(config: ReleaseConfig, entry: ModelEntry, loaded: Any, profiles: list[DeviceProfile]) -> bool:
    """Whether ``entry``'s model ships as a language model (as ``edgeq run`` would take it); a key that does not apply
    to the model's kind is a ``ConfigError`` naming the file, the key and the fix."""
    from edgeq.llm.build import generates
    from edgeq.metrics import LANGUAGE_MODEL_METRICS
    from edgeq.quantize.spec import LANGUAGE_MODEL_SCHEMES

    where = f"{config.path}: [[models]] {entry.source}"
    language, _ = generates(loaded)
    if not language:
        only_for_language = [key for key, value in (("new_tokens", entry.new_tokens), ("tokenizer", entry.tokenizer))
                             if value is not None]
        if entry.scheme in LANGUAGE_MODEL_SCHEMES:
            raise ConfigError(f"{where}: key 'scheme' is {entry.scheme!r}, a language model's scheme, and "
                              f"{loaded.name} is not one", hint="use auto, none, dynamic, static, qat or fp16")
        if only_for_language:
            raise ConfigError(f"{where}: key {only_for_language[0]!r} applies to language models, and {loaded.name} is "
                              "not one", hint=f"remove {only_for_language[0]}")
        return False
    if entry.scheme not in ("auto", "none", *LANGUAGE_MODEL_SCHEMES):
        raise ConfigError(f"{where}: key 'scheme' is {entry.scheme!r}, which does not apply to a language model",
                          hint=f"use auto, none, or one of: {', '.join(LANGUAGE_MODEL_SCHEMES)}")
    if entry.format not in (None, "pte"):
        raise ConfigError(f"{where}: key 'format' is {entry.format!r}, and a language model ships as a .pte "
                          "(ExecuTorch's LLM export)", hint='set format = "pte", or remove it')
    if entry.metric not in (None, *LANGUAGE_MODEL_METRICS):
        raise ConfigError(f"{where}: key 'metric' is {entry.metric!r}, which does not judge a language model",
                          hint=f"use one of: {', '.join(LANGUAGE_MODEL_METRICS)}, or remove it")
    if entry.reference_inputs is not None:
        raise ConfigError(f"{where}: key 'reference_inputs' does not apply to a language model: its reference is a "
                          "prompt of its own and the tokens the shipped program generates for it",
                          hint="remove reference_inputs")
    for profile in profiles:
        if "pte" not in profile.formats:
            raise ConfigError(f"{where}: target {profile.name!r} does not run .pte, and a language model ships as one",
                              hint=f"remove it from targets (it runs: {', '.join(profile.formats)})")
        if profile.runtime == "executor_runner":
            raise ConfigError(f"{where}: target {profile.name!r} runs the native executor_runner, which times one "
                              "forward call and cannot generate: a language model needs ExecuTorch's Python runtime",
                              hint="remove it from targets, or use a profile of that device whose runtime is python")
    if entry.tokenizer is None and loaded.tokenizer is None:
        raise ConfigError(f"{where}: {loaded.name} is a language model, and its bundle ships its tokenizer, but the "
                          "model names none", hint='add tokenizer = "path/to/tokenizer.json" (relative to the config)')
    return True


def _ship_tokenizer(entry: ModelEntry, source: Path, folder: Path) -> dict[str, str]:
    """The tokenizer in the bundle, once per model: (its path there, its sha256) for the manifest."""
    relative = layout.tokenizer_path(entry.name, Path(source))
    copy_file(Path(source), folder / relative)
    return {"path": relative, "sha256": file_sha256(folder / relative)}


def _package_target(config: ReleaseConfig, entry: ModelEntry, loaded: Any, profile: DeviceProfile, folder: Path,
                    store: Any, recorded: MeasurementsFile, say: Progress, language: bool) -> dict[str, Any]:
    from edgeq.pipeline import RunOptions, run

    options = RunOptions(scheme=entry.scheme, format="pte" if language else entry.format, runs=config.runs, warmup=3,
                         threads=1, max_drop=entry.max_drop, metric=entry.metric,
                         task=CAUSAL_LM if language else "auto",
                         **({"new_tokens": entry.new_tokens} if entry.new_tokens is not None else {}))
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
    evidence = evidence_of(shipped)
    common = {"profile": layout.profile_facts(profile), "format": artifact.format, "choice": made,
              "artifact": relative, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes}
    if language:
        return {**common, **_language_target(loaded, result, fp32, shipped, why, evidence_of(fp32), evidence,
                                             profile.name)}
    references, outputs = layout.write_references(folder, entry, profile.name, loaded, artifact,
                                         config.reference_samples)
    budget = result.budget
    return {
        **common,
        "inputs": artifact.manifest.data.get("inputs", []), "outputs": outputs,
        "variant": shipped.spec.variant, "scheme": shipped.spec.scheme,
        "quantization": {**shipped.spec.key(), "why": why, "search": list(result.search),
                         "notes": artifact.notes, "backend": artifact.manifest.data.get("backend")},
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


def _language_target(loaded: Any, result: Any, fp32: Any, shipped: Any, why: str, fp32_evidence: Evidence,
                     evidence: Evidence, target: str) -> dict[str, Any]:
    """What a language model's target records beyond any target's: the program's scheme, its agreement with fp32
    (teacher-forced, on the model's prompts), its decode speed, and the reference ``verify`` regenerates — the timing
    prompt's token ids and the greedy tokens the shipped program generated for them on the packaging host."""
    from edgeq.llm.task import prompts_of

    data = shipped.artifact.manifest.data
    budget = result.budget
    return {
        "task": CAUSAL_LM, "variant": shipped.scheme, "scheme": shipped.scheme,
        "quantization": {"scheme": shipped.scheme, "flow": "llm-export", "engine": None,
                         "precision": data.get("precision"), "group_size": data.get("group_size"),
                         "embedding": data.get("embedding"), "max_context": data.get("max_context"), "why": why,
                         "search": list(result.search), "notes": shipped.artifact.notes, "backend": data.get("backend")},
        "fp32": {"sha256": fp32.artifact.sha256, "size_bytes": fp32.artifact.size_bytes,
                 "evidence": _decode_speed(fp32_evidence.to_dict())},
        "agreement": {"metric": budget.metric.name, "unit": budget.metric.unit, "max_drop": budget.max_drop,
                      **_rounded_values({"fp32": fp32.quality, "shipped": shipped.quality,
                                         "drop": None if shipped.quality is None or fp32.quality is None
                                         else fp32.quality - shipped.quality}),
                      "within_budget": shipped.within_budget,
                      "prompts": result.prompts["count"], "positions": budget.samples,
                      "vs_eager_fp32": {"fp32": _rounded_values(fp32.agreement),
                                        "shipped": _rounded_values(shipped.agreement)}},
        "reference": {"prompt": prompts_of(loaded)[0], "tokens": list(shipped.bench.tokens),
                      "new_tokens": shipped.bench.new_tokens},
        "evidence": {**_decode_speed(evidence.to_dict()), "note": evidence.note_for(target)},
    }


def _decode_speed(evidence: dict[str, Any]) -> dict[str, Any]:
    """A language model's evidence with its decode speed: its latency is the decode time per token."""
    return {**evidence, "decode_tokens_per_s": layout.rounded(1000.0 / evidence["latency_ms"]["p50"])}


def _rounded_values(numbers: dict[str, Any] | None) -> dict[str, Any]:
    """Agreement to a millionth, not to significant digits: fp32's KL against the eager model (and its cosine's
    distance from 1) is noise of 1e-13 whose digits move with the runtime's threads, and would make two packaging
    runs write different manifests."""
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in (numbers or {}).items()}


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
    measured = {r.label: r for r in eligible if r.artifact.sha256 in found.samples_ms}
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
    quantized = [r for r in result.results if not r.is_float]
    if entry.scheme != "auto":
        if not quantized:
            failed = "; ".join(f"{f.label} at {f.stage}: {f.error}" for f in result.failures if not f.is_float)
            raise GateFailure(f"{where}: {entry.scheme} {'' if _generated(result) else 'int8 '}could not be built or "
                              f"run ({failed or 'no candidate'})",
                              hint='set scheme = "auto" to search, or scheme = "none" to ship fp32')
        chosen = quantized[0]
        if entry.max_drop is not None and not chosen.within_budget:
            raise GateFailure(f"{where}: {_variant(chosen)} misses the budget: {chosen.budget_note}",
                              hint='raise max_drop, set scheme = "auto" (' + (
                                  "8da8w" if _generated(result) else "mixed precision, QAT") + "), or ship fp32")
        return fp32, chosen, f"scheme = \"{entry.scheme}\" asked for; {chosen.budget_note}"
    if _generated(result):  # a language model's programs, the one expected to decode fastest first
        from edgeq.llm.build import EXPECTED_FASTEST

        quantized.sort(key=lambda r: r.scheme != EXPECTED_FASTEST)
    within = [r for r in quantized if r.within_budget]
    if within:
        chosen = within[0]
        first = ("the first program within the budget, in the order they are expected to decode fastest "
                 f"({', then '.join(r.scheme for r in quantized)})" if _generated(result)
                 else "the first int8 variant of the search within the budget")
        return fp32, chosen, f"auto: {first} ({chosen.budget_note})"
    best = max((r for r in quantized if r.quality is not None), key=lambda r: r.quality, default=None)
    return fp32, fp32, (f"auto: no {'quantized' if _generated(result) else 'int8'} variant met the budget, so fp32 ships"
                        + (f" (best: {_variant(best)}, {best.budget_note})" if best else " (none could be built)"))


def _generated(result: Any) -> bool:
    """A language model's run (``LlmRunResult``): its variants are programs named by their scheme."""
    from edgeq.llm.results import LlmRunResult

    return isinstance(result, LlmRunResult)


def _variant(variant: Any) -> str:
    """How a manifest names a variant: ``int8-static`` (its ``QuantSpec``'s), or a language model's scheme."""
    from edgeq.llm.results import LlmVariant

    return variant.scheme if isinstance(variant, LlmVariant) else variant.spec.variant


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

