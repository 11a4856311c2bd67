"""Decoder language models on the device: ExecuTorch's LLM export (KV cache, 4-bit weights) from a Hugging Face
causal LM, and tokens per second measured where they run. Work in progress (issue 25): the export and the
teacher-forced comparison are here; the runner, the table and the lab are not yet."""
