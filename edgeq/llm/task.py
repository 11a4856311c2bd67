"""Which models are causal language models, and the prompts a language model is judged and timed on.

Importing it does not import torch: release bundles and ``verify`` read ``CAUSAL_LM`` before any model is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeq.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import torch

CAUSAL_LM = "causal-lm"
FORWARD = "forward"
TASKS = ("auto", CAUSAL_LM, FORWARD)


def causal_lm_class(model: torch.nn.Module) -> str | None:
    """The class name when ``model`` is a transformers causal language model (``LlamaForCausalLM``,
    ``GPT2LMHeadModel``…), else None. Only a model from transformers makes transformers be imported."""
    if not type(model).__module__.startswith("transformers."):
        return None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    name = type(model).__name__
    return name if name in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()) else None


def resolve_task(task: str, loaded: Any) -> str:
    """``causal-lm`` or ``forward`` for ``loaded``; ``auto`` detects. Asking for ``causal-lm`` on a model that is
    not one is a ``ConfigError`` (exit 2) naming what it is."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", hint=f"use one of: {', '.join(TASKS)}")
    found = causal_lm_class(loaded.model)
    if task == CAUSAL_LM and found is None and loaded.task != CAUSAL_LM:
        raise ConfigError(f"{loaded.name} ({type(loaded.model).__name__}) is not a causal language model, so it has "
                          "no tokens to generate",
                          hint="bring a transformers *ForCausalLM, or drop --task to measure its forward pass")
    if task != "auto":
        return task
    return CAUSAL_LM if found is not None or loaded.task == CAUSAL_LM else FORWARD


def prompts_of(loaded: Any) -> list[list[int]]:
    """The token ids a language model is judged on: the zoo's shipped prompts, else the example input ids and each
    check input's."""
    import torch

    if loaded.prompts:
        return [list(map(int, prompt)) for prompt in loaded.prompts]
    samples = [loaded.example_inputs, *loaded.check_inputs]
    prompts = []
    for sample in samples:
        ids = sample[0]
        if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32) or ids.dim() != 2 or ids.shape[0] != 1:
            raise ModelError(f"{loaded.name}: a language model's example inputs start with the prompt's token ids, "
                             f"a [1, T] integer tensor; got {_described(ids)}",
                             hint="return (model, tokenizer(text, return_tensors='pt').input_ids) from the factory")
        prompts.append(ids[0].tolist())
    return prompts


def _described(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"a {list(value.shape)} {str(value.dtype).removeprefix('torch.')} tensor"
    return type(value).__name__
