"""Decoder language models on the device: ExecuTorch's LLM export (KV cache, 4-bit weights) from a Hugging Face
causal LM, generated with in fresh runner processes on the device (time to first token, tokens per second,
memory) and judged on their logits against fp32, teacher-forced (``edgeq run``; docs/language-models.md). The
lab, releases and ``edgeq inspect`` do not treat language models apart yet (issue 25)."""
