"""``zoo:tiny-llama``: a small Llama-architecture language model and its tokenizer, both made by edgeq from text
it ships (the 134 sentences ``zoo:minilm`` embeds), so that a language model can be taken to a device without a
download.

The tokenizer (a byte-level BPE of 512 tokens, ``tokenizers``) ships as ``tokenizer.json`` and the model's weights
(a transformers ``LlamaForCausalLM``: dim 128, 4 layers, grouped-query attention with 4/2 heads, 0.9 M parameters)
as ``weights.pt`` in fp16, 1.8 MB: training takes 2-4 minutes on 2 cores, too long to pay on every fresh machine.
``python -m edgeq.llm.tiny_llama`` makes both again. The shipped prompts are sentences of the corpus: the model
knows them, as a deployed model knows its domain, so its next-token choices are confident and a scheme that changes
them has changed the model.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

log = logging.getLogger(__name__)

_DATA = Path(__file__).resolve().parent.parent / "models" / "data" / "tiny_llama"
CONFIG = {"vocab_size": 512, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
          "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
END_OF_TEXT = "<|endoftext|>"
_STEPS, _BATCH, _SEQUENCE, _LEARNING_RATE = 1000, 16, 32, 3e-3


def corpus() -> str:
    return (_DATA.parent / "sentences.txt").read_text(encoding="utf-8")


def tokenizer_path() -> Path:
    return _DATA / "tokenizer.json"


def make_tokenizer(path: Path) -> None:
    """Train the byte-level BPE on the corpus and write it (how the shipped ``tokenizer.json`` was made)."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(corpus().splitlines(), vocab_size=CONFIG["vocab_size"], min_frequency=2,
                                  special_tokens=[END_OF_TEXT], show_progress=False)
    tokenizer.save(str(path))


def load_tokenizer(path: Path | None = None):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path or tokenizer_path()))


def prompts() -> list[str]:
    return [line for line in (_DATA / "prompts.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text).ids


def _token_stream(tokenizer) -> torch.Tensor:
    end = tokenizer.token_to_id(END_OF_TEXT)
    ids: list[int] = []
    for line in corpus().splitlines():
        ids += encode(tokenizer, line) + [end]
    return torch.tensor(ids, dtype=torch.long)


def build():
    """The trained model (eval mode, fp32) and its tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(**CONFIG, architectures=["LlamaForCausalLM"]))
    weights = torch.load(_DATA / "weights.pt", weights_only=True)
    model.load_state_dict({name: tensor.float() for name, tensor in weights.items()})
    return model.eval(), load_tokenizer()


def make(folder: Path = _DATA) -> None:
    """Train the tokenizer and the model from the corpus and write both (how the shipped files were made)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    make_tokenizer(folder / "tokenizer.json")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG, architectures=["LlamaForCausalLM"]))
    _train(model, _token_stream(load_tokenizer(folder / "tokenizer.json")))
    torch.save({name: tensor.half() for name, tensor in model.state_dict().items()}, folder / "weights.pt")


def _train(model: torch.nn.Module, stream: torch.Tensor) -> None:
    log.info("training zoo:tiny-llama on %d tokens", len(stream))
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=_LEARNING_RATE, weight_decay=0.01)
    model.train()
    for step in range(_STEPS):
        for group in optimizer.param_groups:  # cosine decay to a tenth
            group["lr"] = _LEARNING_RATE * (0.1 + 0.45 * (1 + math.cos(math.pi * step / _STEPS)))
        starts = torch.randint(0, len(stream) - _SEQUENCE, (_BATCH,), generator=generator)
        batch = torch.stack([stream[start:start + _SEQUENCE] for start in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == _STEPS - 1:
            log.info("tiny-llama step %d: loss %.3f", step, loss.item())
    model.eval()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make()
