"""The language models ``make bench`` generates with: zoo:tiny-llama, where a decode step costs the runtime's
per-call overhead, and ``llama-94m``, a Llama large enough that reading its weights dominates each step, built in
code from a fixed seed (random weights: its speed is what matters, and its logits are judged against its own fp32).
"""

from __future__ import annotations

import hashlib
import json

import torch

from edgeq.models import LoadedModel, load_model

LLAMA_94M = {"vocab_size": 2048, "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 8,
             "num_attention_heads": 16, "num_key_value_heads": 4, "max_position_embeddings": 256,
             "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}
SEED = 0
PROMPTS, PROMPT_TOKENS = 8, (24, 48)  # seeded random prompts for the random model: how many, shortest and longest


def tiny_llama() -> LoadedModel:
    return load_model("zoo:tiny-llama")


def llama_94m() -> LoadedModel:
    """A ``LlamaForCausalLM`` of 94 M parameters (dim 1024, 8 layers, grouped-query attention 16/4, vocab 2048),
    its weights drawn by transformers' initialisation from ``SEED``, and seeded random prompts."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    model = LlamaForCausalLM(LlamaConfig(**LLAMA_94M, architectures=["LlamaForCausalLM"])).eval()
    generator = torch.Generator().manual_seed(SEED)
    lengths = torch.randint(PROMPT_TOKENS[0], PROMPT_TOKENS[1] + 1, (PROMPTS,), generator=generator).tolist()
    prompts = [torch.randint(3, LLAMA_94M["vocab_size"], (length,), generator=generator).tolist() for length in lengths]
    fingerprint = "bench:llama-94m:" + hashlib.sha256(json.dumps([LLAMA_94M, SEED]).encode()).hexdigest()[:16]
    return LoadedModel(name="llama-94m", model=model, example_inputs=(torch.tensor([prompts[0]]),),
                       fingerprint=fingerprint, task="causal-lm", prompts=prompts,
                       description="Llama (94 M parameters: dim 1024, 8 layers, grouped-query attention 16/4, "
                                   f"vocab 2048), random weights from seed {SEED}, seeded random prompts")


MODELS = {"tiny-llama": tiny_llama, "llama-94m": llama_94m}
