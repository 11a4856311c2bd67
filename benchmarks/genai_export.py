"""A transformers Llama as ONNX Runtime GenAI's int4 model: saved as a Hugging Face folder, then converted by
GenAI's own model builder (``python -m onnxruntime_genai.models.builder -p int4 -e cpu``), int4 weights in blocks
of 32 with int8 activations (accuracy level 4), the nearest thing it has to edgeq's 8da4w."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import torch

from benchmarks.peer_artifacts import PeerArtifact, cached_peer
from edgeq.export import ArtifactCache

OPTIONS = {"int4_block_size": "32", "int4_accuracy_level": "4"}


def build_genai(model: torch.nn.Module, cache: ArtifactCache, tokenizer: Path | None = None) -> PeerArtifact:
    """The int4 model folder, from the cache when it was built before."""
    spec = {"runtime": "onnxruntime-genai", "precision": "int4", "options": OPTIONS,
            "onnxruntime_genai": version("onnxruntime-genai"), "onnxruntime": version("onnxruntime"),
            "tokenizer": tokenizer.read_text(encoding="utf-8") if tokenizer else None, "layout": 1}

    def write(path: Path) -> dict[str, object]:
        with tempfile.TemporaryDirectory(prefix="edgeq-genai-") as scratch:
            source = Path(scratch) / "hf"
            model.save_pretrained(source)
            _save_tokenizer(source, model.config.vocab_size, tokenizer)
            argv = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(path),
                    "-p", "int4", "-e", "cpu", "-c", str(Path(scratch) / "cache"),
                    "--extra_options", *(f"{key}={value}" for key, value in OPTIONS.items())]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
                raise RuntimeError(f"onnxruntime_genai's model builder failed: {tail}")
        return {"notes": [f"onnxruntime_genai.models.builder -p int4 -e cpu {' '.join(f'{k}={v}' for k, v in OPTIONS.items())}"]}

    return cached_peer(cache, model, spec, write)


def _save_tokenizer(folder: Path, vocab_size: int, tokenizer: Path | None) -> None:
    """The builder copies the model's tokenizer beside it: the model's own, or a placeholder of ``vocab_size``
    tokens where it has none (the benchmark feeds token ids)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    if tokenizer is not None:
        fast = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer))
    else:
        vocabulary = {f"t{index}": index for index in range(vocab_size)}
        fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocabulary, unk_token="t0")))
    fast.save_pretrained(folder)
