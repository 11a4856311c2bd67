"""Decoder language models on the device: ExecuTorch's LLM export (KV cache, 4-bit weights and embedding tables)
from a Hugging Face causal LM, generated with in fresh runner processes on the device (time to first token, tokens
per second, memory) and judged on their logits against fp32, teacher-forced (``edgeq run``; docs/language-models.md).

``build.LlmBuild`` is the building half that ``edgeq run``, ``edgeq deploy`` and the lab share (the lab gates on
decode tokens per second); ``inspection`` ranks the linear layers 4-bit weights hurt; release bundles ship a
language model's program with its tokenizer and the tokens it must generate (``edgeq.package``)."""
