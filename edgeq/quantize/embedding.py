"""int8 embedding tables for .pte: weight-only int8, one scale per row, looked up by ExecuTorch's quantized kernel.

XNNPACK has no int8 lookup, so an ``nn.Embedding`` stays fp32 in the quantized graph; in a transformer the
word-embedding table is most of the model (MiniLM: 30522 × 384, 45 MiB of 87). ``Int8Embedding`` keeps the
table as int8 rows with per-row symmetric scales and looks rows up with
``quantized_decomposed::embedding_byte``, which ExecuTorch runs outside the delegate with the kernels of
``executorch.kernels.quantized``; the runner loads them, and a device whose runtime lacks them is refused
before the artifact is pushed (``edgeq.device.probe.missing_kernels``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from edgeq.quantize.module_paths import replace_module

# The operator the exported program calls for each lookup, as the runtime registers it.
EMBEDDING_KERNEL = "quantized_decomposed::embedding_byte.out"


class Int8Embedding(nn.Module):
    """An ``nn.Embedding``'s table as int8 rows (symmetric, one scale per row), dequantized at lookup."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        import executorch.exir.passes  # noqa: F401 - defines quantized_decomposed::embedding_byte for export

        table = embedding.weight.detach().float()
        scales = (table.abs().amax(dim=1) / 127.0).clamp(min=torch.finfo(torch.float32).tiny)
        self.register_buffer("weight", torch.round(table / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales)
        self.register_buffer("zero_points", torch.zeros_like(scales))
        self.num_embeddings, self.embedding_dim = table.shape

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized_decomposed.embedding_byte.default(self.weight, self.scales, self.zero_points,
                                                                      -127, 127, indices)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8 per row"


def _quantizable(embedding: nn.Embedding) -> bool:
    """Only what a plain row lookup computes: no max_norm (it renormalizes rows at lookup), no sparse bags."""
    return embedding.max_norm is None and embedding.weight.dtype.is_floating_point


def quantize_embeddings(model: nn.Module, keep: Sequence[str] = ()) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` with each ``nn.Embedding`` outside ``keep`` (module paths) made ``Int8Embedding``;
    returns it and the paths replaced (none: ``model`` itself comes back)."""
    names = [name for name in quantizable_embeddings(model)
             if not any(name == kept or name.startswith(kept + ".") for kept in keep)]
    if not names:
        return model, []
    model = copy.deepcopy(model)
    for name in names:
        replace_module(model, name, Int8Embedding(model.get_submodule(name)))
    return model, names


def quantizable_embeddings(model: nn.Module) -> list[str]:
    """The module paths of the embedding tables a quantized variant would make int8."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Embedding) and _quantizable(module)]
