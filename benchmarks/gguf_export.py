"""A transformers Llama as llama.cpp's GGUF, the same weights edgeq exports: written in F32 with the ``gguf``
package (llama architecture; the model's own byte-level BPE where it has one, else a placeholder vocabulary, since
the benchmark feeds token ids), then quantized by llama.cpp's own ``llama_model_quantize`` to Q8_0 or Q4_0.

llama.cpp's Llama rotates interleaved pairs of each head (Meta's layout); transformers' checkpoints hold q and k
permuted for rotating halves. The q and k projections are permuted back here as llama.cpp's
``convert_hf_to_gguf.py`` does; the F32 file's logits matching the eager model's is the check that they are right.
"""

from __future__ import annotations

import ctypes
import json
import logging
from collections import Counter
from pathlib import Path

import torch

from benchmarks.peer_artifacts import PeerArtifact, cached_peer
from edgeq.export import ArtifactCache
from edgeq.llm.checkpoint import meta_params, meta_state_dict

KINDS = ("F32", "Q8_0", "Q4_0")
_FILE_TYPES = {"F32": 0, "Q8_0": 7, "Q4_0": 2}  # llama.cpp's llama_ftype: ALL_F32, MOSTLY_Q8_0, MOSTLY_Q4_0
_TOP = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
        "output.weight": "output.weight"}
_LAYER = {"attention.wq.weight": "attn_q.weight", "attention.wk.weight": "attn_k.weight",
          "attention.wv.weight": "attn_v.weight", "attention.wo.weight": "attn_output.weight",
          "attention_norm.weight": "attn_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
          "feed_forward.w1.weight": "ffn_gate.weight", "feed_forward.w2.weight": "ffn_down.weight",
          "feed_forward.w3.weight": "ffn_up.weight"}
_NORMAL, _CONTROL, _BYTE = 1, 3, 6  # llama.cpp's token types


def build_gguf(model: torch.nn.Module, kind: str, cache: ArtifactCache, tokenizer: Path | None = None) -> PeerArtifact:
    """The GGUF of ``kind`` (F32, Q8_0, Q4_0), from the cache when it was written before."""
    from importlib.metadata import version

    spec = {"runtime": "llama.cpp", "kind": kind, "gguf": version("gguf"),
            "llama_cpp_python": version("llama_cpp_python"),
            "tokenizer": tokenizer.read_text(encoding="utf-8") if tokenizer else None, "layout": 1}

    def write(path: Path) -> dict[str, object]:
        if kind == "F32":
            write_f32(model, path, tokenizer)
        else:
            source = build_gguf(model, "F32", cache, tokenizer)
            quantize(source.path, path, kind)
        return {"tensor_types": tensor_types(path)}

    return cached_peer(cache, model, spec, write)


def write_f32(model: torch.nn.Module, path: Path, tokenizer: Path | None = None) -> None:
    import gguf

    params = meta_params(model.config)
    heads, kv_heads = params["n_heads"], params["n_kv_heads"]
    head_dim = params.get("head_dim", params["dim"] // heads)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(type(model).__name__)
    writer.add_context_length(model.config.max_position_embeddings)
    writer.add_embedding_length(params["dim"])
    writer.add_block_count(params["n_layers"])
    writer.add_feed_forward_length(params["hidden_dim"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(params["rope_theta"])
    writer.add_layer_norm_rms_eps(params["norm_eps"])
    writer.add_vocab_size(params["vocab_size"])
    writer.add_file_type(_FILE_TYPES["F32"])
    _add_vocabulary(writer, params["vocab_size"], tokenizer)
    for name, tensor in meta_state_dict(model).items():
        gguf_name = _gguf_name(name)
        if gguf_name.endswith("attn_q.weight"):
            tensor = _permute(tensor, heads)
        elif gguf_name.endswith("attn_k.weight"):
            tensor = _permute(tensor, kv_heads)
        writer.add_tensor(gguf_name, tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(source: Path, path: Path, kind: str, threads: int = 0) -> None:
    """llama.cpp's own quantization, as ``llama-quantize SOURCE PATH KIND`` does it (its default tensor mix)."""
    import llama_cpp

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's line per tensor, through its logger
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FILE_TYPES[kind]
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(path).encode(), ctypes.byref(params))
    if status != 0:
        raise RuntimeError(f"llama_model_quantize to {kind} returned {status}")


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each type the file holds (llama.cpp's Q4_0 keeps some tensors at higher precision)."""
    import gguf

    return dict(Counter(tensor.tensor_type.name for tensor in gguf.GGUFReader(str(path)).tensors).most_common())


def _gguf_name(meta_name: str) -> str:
    if meta_name in _TOP:
        return _TOP[meta_name]
    _, layer, rest = meta_name.split(".", 2)
    return f"blk.{layer}.{_LAYER[rest]}"


def _permute(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """transformers' rotate-half rows of each head back to Meta's interleaved pairs (convert_hf_to_gguf's
    ``LlamaModel.permute``)."""
    return (weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _add_vocabulary(writer, size: int, tokenizer: Path | None) -> None:
    """The model's byte-level BPE (llama.cpp's ``gpt2`` tokenizer model) or, without one, a SentencePiece-style
    placeholder of ``size`` tokens: control tokens, the 256 byte tokens llama.cpp looks up, then fillers."""
    if tokenizer is not None:
        data = json.loads(tokenizer.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"]
        tokens = sorted(vocab, key=vocab.get)
        special = {added["id"] for added in data.get("added_tokens", []) if added.get("special")}
        merges = [" ".join(merge) if isinstance(merge, list) else merge for merge in data["model"]["merges"]]
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_types([_CONTROL if index in special else _NORMAL for index in range(len(tokens))])
        writer.add_token_merges(merges)
        end = min(special) if special else 0
        writer.add_bos_token_id(end)
        writer.add_eos_token_id(end)
        return
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{byte:02X}>" for byte in range(256))]
    types = [2, _CONTROL, _CONTROL, *([_BYTE] * 256)]
    tokens += [f"\u2581t{index}" for index in range(size - len(tokens))]
    types += [_NORMAL] * (size - len(types))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_scores([0.0] * 259 + [-float(index) for index in range(size - 259)])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
