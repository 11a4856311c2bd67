"""Export a decoder through ExecuTorch's LLM export: a KV cache, the custom SDPA op, XNNPACK with its extended
ops (without them only the dynamically quantized linears are delegated), and the schemes of issue 25; each
artifact cached by content like every other edgeq artifact."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from edgeq.errors import ExportError, summarize
from edgeq.export import Artifact, ArtifactCache, Manifest, file_sha256, read_artifact
from edgeq.export.cache import model_digest
from edgeq.export.manifest import toolchain_versions
from edgeq.llm.checkpoint import write_checkpoint

class LlmScheme(NamedTuple):
    """How ExecuTorch's LLM export quantizes a scheme: its ``qmode`` and group size (0: per channel) for the linear
    layers, and its ``embedding_quantize`` ("bits,group") for the embedding table (None: kept fp32)."""

    qmode: str | None
    group_size: int | None
    about: str
    embedding: str | None = None

    def group(self, profile_group: int | None) -> int | None:
        """The weights' group size: the profile's for grouped (4-bit) weights, else the scheme's own (0: per
        channel; None: not quantized)."""
        return profile_group if self.group_size and profile_group else self.group_size

    @property
    def precision(self) -> str:
        return "fp32" if self.qmode is None else "int4" if self.qmode == "8da4w" else "int8"


# int8 dynamic activations with int8 per-channel or int4 grouped weights, the embedding table fp32 or quantized
SCHEMES = {
    "fp32": LlmScheme(None, None, "fp32 weights"),
    "8da8w": LlmScheme("8da8w", 0, "int8 weights per channel, int8 dynamic activations"),
    "8da4w": LlmScheme("8da4w", 32, "int4 weights in groups of 32, int8 dynamic activations"),
    "8da8w-emb8": LlmScheme("8da8w", 0, "int8 weights per channel and an int8 embedding table (per row), int8 dynamic "
                            "activations", "8,0"),
    "8da4w-emb4": LlmScheme("8da4w", 32, "int4 weights and a 4-bit embedding table, both in groups of 32, int8 "
                            "dynamic activations", "4,32"),
}
MAX_CONTEXT = 128  # tokens the KV cache holds: prompt and generated


def export_llm(model: torch.nn.Module, scheme: str, path: Path, max_context: int = MAX_CONTEXT,
               group_size: int | None = None) -> Path:
    from executorch.examples.models.llama.export_llama_lib import _export_llama
    from executorch.extension.llm.export.config.llm_config import LlmConfig

    qmode, default_group, _, embedding = SCHEMES[scheme]
    # The checkpoint goes to a folder of its own with a neutral name: the export reads a checkpoint whose path
    # says "8da4w" as one already quantized (found the hard way: "Expected: torch.int8, got: torch.float32").
    with tempfile.TemporaryDirectory(prefix="edgeq-llm-") as folder:
        checkpoint, params = write_checkpoint(model, Path(folder))
        config = LlmConfig()
        config.base.checkpoint, config.base.params = str(checkpoint), str(params)
        config.model.use_kv_cache = config.model.use_sdpa_with_kv_cache = config.model.enable_dynamic_shape = True
        config.export.max_seq_length = config.export.max_context_length = max_context
        config.export.output_dir, config.export.output_name = str(path.parent), str(path)
        config.backend.xnnpack.enabled = config.backend.xnnpack.extended_ops = True
        if qmode:
            config.quantization.qmode = qmode
            config.quantization.group_size = default_group if group_size is None else group_size
        if embedding:
            config.quantization.embedding_quantize = embedding
        try:
            _export_llama(config)
        except Exception as exc:  # noqa: BLE001 - the export raises many kinds
            raise ExportError(f"ExecuTorch's LLM export failed for {scheme}: {summarize(exc)}") from exc
    return path


@functools.cache
def _code_digest() -> str:
    """The source of what writes the program (this module and the checkpoint's renaming)."""
    digest = hashlib.sha256()
    for path in (Path(__file__).resolve().parent / "checkpoint.py", Path(__file__).resolve()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_llm_artifact(name: str, fingerprint: str, model: torch.nn.Module, scheme: str, cache: ArtifactCache,
                       profile_name: str, say: Callable[[str], None] | None = None,
                       max_context: int = MAX_CONTEXT, group_size: int | None = None) -> Artifact:
    """The ``.pte`` of ``scheme``, from the cache when this model was exported that way before; ``group_size``:
    the profile's for 4-bit weights (the scheme's default when None)."""
    group = SCHEMES[scheme].group(group_size)
    spec = {"task": "causal-lm", "scheme": scheme, "group_size": group,
            "embedding": SCHEMES[scheme].embedding, "max_context": max_context}
    key = hashlib.sha256(json.dumps({"model": model_digest(model), "spec": spec, "toolchain": toolchain_versions(),
                                     "code": _code_digest(), "layout": 1}, sort_keys=True).encode()).hexdigest()
    hit = cache.lookup(key, "pte")
    if hit is not None:
        return read_artifact(hit, "pte", cached=True)
    if say:
        say(f"exporting {scheme} .pte through ExecuTorch's LLM export (KV cache, XNNPACK)")
    staging = cache.staging()
    try:
        path = export_llm(model, scheme, staging / "model.pte", max_context, group)
        Manifest({"cache_key": key, "model": name, "fingerprint": fingerprint, "variant": scheme, "format": "pte",
                  "precision": SCHEMES[scheme].precision,
                  **spec, "engine": None, "sha256": file_sha256(path), "size_bytes": path.stat().st_size,
                  "backend": _backend(path), "notes": [], "profile": profile_name, "versions": toolchain_versions(),
                  "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
                 ).write(staging / "manifest.json")
        entry = cache.commit(staging, key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_artifact(entry / "model.pte", "pte", cached=False)


def _backend(path: Path) -> dict[str, Any]:
    """What the program needs from the runtime: XNNPACK, and the LLM operators it calls outside it."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    from edgeq.export.pte import optional_kernels

    program = deserialize_pte_binary(path.read_bytes())
    program = getattr(program, "program", program)
    forward = [plan for plan in program.execution_plan if plan.name == "forward"]
    return {"name": "xnnpack", "delegates": sum(len(plan.delegates) for plan in forward),
            "needs_kernels": optional_kernels(program)}


def load_llm(path: Path):
    """The program's ``forward(tokens, input_pos)`` in this process's ExecuTorch runtime (its LLM ops loaded)."""
    import executorch.kernels.quantized  # noqa: F401 - registers the quantized embedding tables' lookups
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401 - registers llama::custom_sdpa, update_cache
    from executorch.extension.pybindings import portable_lib

    module = portable_lib._load_for_executorch(str(path))
    return lambda tokens, position: module.forward((tokens, torch.tensor([position], dtype=torch.long)))[0]


def teacher_forced(forward, ids: torch.Tensor) -> torch.Tensor:
    """The last-position logits after each token of ``ids`` fed one at a time through the KV cache."""
    return torch.stack([forward(ids[:, pos:pos + 1], pos).reshape(-1) for pos in range(ids.shape[1])])


def greedy(forward, prompt: list[int], new_tokens: int) -> list[int]:
    """The program's greedy continuation of ``prompt``: the whole prompt in one call, then one token a call through
    the KV cache, as the LLM runner generates on a device."""
    def next_token(tokens: list[int], position: int) -> int:
        with torch.no_grad():
            logits = forward(torch.tensor([tokens], dtype=torch.long), position)
        return int(logits.reshape(-1, logits.shape[-1])[-1].argmax())

    tokens = [next_token(prompt, 0)]
    for position in range(len(prompt), len(prompt) + new_tokens - 1):
        tokens.append(next_token([tokens[-1]], position))
    return tokens
