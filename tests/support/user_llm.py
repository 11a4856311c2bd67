"""A user's language model as transformers hands it over: ``LlamaForCausalLM.from_pretrained`` of a folder (written
by the test from zoo:tiny-llama with ``save_pretrained``, so its artifacts are shared with the zoo's), and a prompt
from the tokenizer saved beside it."""

import os

# the folder the test saved the model and tokenizer to
FOLDER = os.environ.get("EDGEQ_TEST_LLAMA_DIR", "")


def llama_from_pretrained():
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(FOLDER)
    tokenizer = AutoTokenizer.from_pretrained(FOLDER)
    prompt = tokenizer("Python is a popular first programming language because", return_tensors="pt")
    return model, prompt.input_ids
