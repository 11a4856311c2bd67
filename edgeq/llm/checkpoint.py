"""A Hugging Face causal LM as the checkpoint and params ExecuTorch's Llama export reads (Meta's layout).

The export's transformer (``executorch.examples.models.llama.llama_transformer``) covers Llama, Qwen2 and the
other Llama-shaped decoders. With ``use_hf_rope`` it applies rotary embeddings as transformers does (halves,
not interleaved pairs), so the weights are renamed, never permuted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ModelError

SUPPORTED = ("LlamaForCausalLM", "Qwen2ForCausalLM")
_TOP = {"model.embed_tokens.weight": "tok_embeddings.weight", "model.norm.weight": "norm.weight",
        "lm_head.weight": "output.weight"}
_LAYER = {"self_attn.q_proj.weight": "attention.wq.weight", "self_attn.k_proj.weight": "attention.wk.weight",
          "self_attn.v_proj.weight": "attention.wv.weight", "self_attn.o_proj.weight": "attention.wo.weight",
          "self_attn.q_proj.bias": "attention.wq.bias", "self_attn.k_proj.bias": "attention.wk.bias",
          "self_attn.v_proj.bias": "attention.wv.bias",
          "input_layernorm.weight": "attention_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
          "mlp.gate_proj.weight": "feed_forward.w1.weight", "mlp.down_proj.weight": "feed_forward.w2.weight",
          "mlp.up_proj.weight": "feed_forward.w3.weight"}


def architecture(model: torch.nn.Module) -> str:
    return type(model).__name__


def meta_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under Meta's names; a tied output layer gets the embedding table."""
    if architecture(model) not in SUPPORTED:
        raise ModelError(f"{architecture(model)} is not a decoder ExecuTorch's LLM export takes",
                         hint=f"bring one of: {', '.join(SUPPORTED)}")
    converted = {}
    for name, tensor in model.state_dict().items():
        if name in _TOP:
            converted[_TOP[name]] = tensor.detach().float().clone()
            continue
        parts = name.split(".")
        if parts[:2] != ["model", "layers"] or ".".join(parts[3:]) not in _LAYER:
            if name.endswith("rotary_emb.inv_freq"):
                continue
            raise ModelError(f"{architecture(model)}: no place in the export's transformer for weight {name!r}")
        converted[f"layers.{parts[2]}.{_LAYER['.'.join(parts[3:])]}"] = tensor.detach().float().clone()
    converted.setdefault("output.weight", converted["tok_embeddings.weight"])
    return converted


def meta_params(config: Any) -> dict[str, Any]:
    """The export's ``ModelArgs`` for a transformers config."""
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ModelError(f"rope scaling {rope.get('rope_type')!r} is not mapped to the export yet")
    heads = config.num_attention_heads
    params = {"dim": config.hidden_size, "n_layers": config.num_hidden_layers, "n_heads": heads,
              "n_kv_heads": getattr(config, "num_key_value_heads", None) or heads, "vocab_size": config.vocab_size,
              "hidden_dim": config.intermediate_size, "norm_eps": config.rms_norm_eps,
              "rope_theta": float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))), "use_hf_rope": True}
    head_dim = getattr(config, "head_dim", None)
    if head_dim and head_dim != config.hidden_size // heads:
        params["head_dim"] = head_dim
    if getattr(config, "attention_bias", False) or architecture_of_config(config) == "Qwen2ForCausalLM":
        params["attention_qkv_bias"] = True
    return params


def architecture_of_config(config: Any) -> str:
    return (getattr(config, "architectures", None) or [""])[0]


def write_checkpoint(model: torch.nn.Module, folder: Path) -> tuple[Path, Path]:
    """``consolidated.pth`` and ``params.json`` in ``folder``, for ``LlmConfig.base``."""
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, params = folder / "consolidated.pth", folder / "params.json"
    torch.save(meta_state_dict(model), checkpoint)
    params.write_text(json.dumps(meta_params(model.config), indent=2) + "\n", encoding="utf-8")
    return checkpoint, params
