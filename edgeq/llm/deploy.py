"""``edgeq deploy`` for a language model: its fp32 program and the scheme asked for (``auto``: 8da4w), the LLM
runner and the tokenizer, pushed and verified by SHA-256 on the device; nothing is run."""

from __future__ import annotations

from collections.abc import Callable

from edgeq.bench import stage_file
from edgeq.digest import file_sha256
from edgeq.errors import BenchError, ExportError
from edgeq.llm.bench import check_runtime, runner_path
from edgeq.llm.build import LlmBuild
from edgeq.measure import Target, push_artifact
from edgeq.models.types import LoadedModel
from edgeq.results import DeployResult, FailedVariant


def deploy_language_model(loaded: LoadedModel, target: Target, scheme: str,
                          say: Callable[[str], None]) -> DeployResult:
    """Push ``loaded``'s fp32 program and ``scheme``'s with what generating needs beside them. The fp32 program must
    make it; another scheme that cannot be built or pushed is a failure in the result, as for any model."""
    profile, transport, workdir = target.profile, target.transport, target.workdir
    check_runtime(profile)
    build = LlmBuild(loaded, profile, say=say)
    runner = runner_path()
    remote_runner = stage_file(transport, runner, workdir, "runner", file_sha256(runner), ".py").path
    tokenizer = None
    if loaded.tokenizer is not None:
        say(f"pushing the tokenizer ({loaded.tokenizer.name})")
        tokenizer = stage_file(transport, loaded.tokenizer, workdir, "inputs", file_sha256(loaded.tokenizer),
                               loaded.tokenizer.suffix).path
    asked = build.resolve(scheme)
    schemes = ["fp32"] + ([] if asked == "fp32" else [asked])
    artifacts, failed = [], []
    for name in schemes:
        spec = build.spec(name)
        try:
            artifact = build.artifact(spec)
            say(f"pushing {spec.label} ({artifact.size_bytes / 1024:.0f} KiB)")
            staged = push_artifact(target, artifact)
        except (ExportError, BenchError) as exc:
            if name == "fp32":  # without fp32 there is nothing to deploy
                raise
            failed.append(FailedVariant(spec, "export" if isinstance(exc, ExportError) else "run", exc.message,
                                        f"--scheme {scheme}"))
            continue
        artifacts.append({"variant": spec.variant, "format": spec.format, "label": spec.label,
                          "local": str(artifact.path), "remote": staged.path, "sha256": artifact.sha256,
                          "size_bytes": artifact.size_bytes, "pushed": staged.pushed, "tokenizer": tokenizer})
    return DeployResult(target.name, workdir, remote_runner, artifacts, target.warnings, failed)
