"""Export a decoder through ExecuTorch's LLM export: a KV cache, the custom SDPA op, XNNPACK with its extended
ops (without them only the dynamically quantized linears are delegated), and the schemes of issue 25."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from edgeq.errors import ExportError, summarize
from edgeq.llm.checkpoint import write_checkpoint

# scheme → (qmode, group size): int8 dynamic activations with int8 per-channel or int4 grouped weights
SCHEMES = {"fp32": (None, None), "8da8w": ("8da8w", 0), "8da4w": ("8da4w", 32)}


def export_llm(model: torch.nn.Module, scheme: str, path: Path, max_context: int = 128, group_size: int | None = None) -> Path:
    from executorch.examples.models.llama.export_llama_lib import _export_llama
    from executorch.extension.llm.export.config.llm_config import LlmConfig

    qmode, default_group = SCHEMES[scheme]
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
        try:
            _export_llama(config)
        except Exception as exc:  # noqa: BLE001 - the export raises many kinds
            raise ExportError(f"ExecuTorch's LLM export failed for {scheme}: {summarize(exc)}") from exc
    return path


def load_llm(path: Path):
    """The program's ``forward(tokens, input_pos)`` in this process's ExecuTorch runtime (its LLM ops loaded)."""
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401 - registers llama::custom_sdpa, update_cache
    from executorch.extension.pybindings import portable_lib

    module = portable_lib._load_for_executorch(str(path))
    return lambda tokens, position: module.forward((tokens, torch.tensor([position], dtype=torch.long)))[0]


def teacher_forced(forward, ids: torch.Tensor) -> torch.Tensor:
    """The last-position logits after each token of ``ids`` fed one at a time through the KV cache."""
    return torch.stack([forward(ids[:, pos:pos + 1], pos).reshape(-1) for pos in range(ids.shape[1])])
