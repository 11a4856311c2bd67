"""Generate with an ExecuTorch LLM program (.pte from ExecuTorch's LLM export) and time it, on the device.

Standalone like edgeq_runner.py (pushed beside the artifact, imports only the device's torch and executorch):

    python edgeq_llm_runner.py MODEL.pte --prompt 1,2,3 --new-tokens 32 --repeats 5 --threads 2

prints one JSON object: the greedy tokens, and per repeat the time to first token (the prompt's prefill in one
call, as the KV-cache program takes it with dynamic shapes) and the decode time of each new token, so the host
computes p50/p90 of time to first token, prefill tokens/s and decode tokens/s. Greedy decoding, so every repeat
must give the same tokens: a difference is reported, never hidden.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _load(path: str):
    import torch
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401 - llama::custom_sdpa, llama::update_cache
    from executorch.extension.pybindings import portable_lib

    module = portable_lib._load_for_executorch(path)

    def step(tokens: list[int], position: int) -> int:
        logits = module.forward((torch.tensor([tokens], dtype=torch.long), torch.tensor([position], dtype=torch.long)))[0]
        return int(logits.reshape(-1, logits.shape[-1])[-1].argmax())

    return step


def generate(step, prompt: list[int], new_tokens: int) -> tuple[list[int], float, list[float]]:
    started = time.perf_counter()
    token = step(prompt, 0)
    first = time.perf_counter() - started
    tokens, decode = [token], []
    for position in range(len(prompt), len(prompt) + new_tokens - 1):
        started = time.perf_counter()
        token = step([token], position)
        decode.append(time.perf_counter() - started)
        tokens.append(token)
    return tokens, first, decode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--prompt", required=True, help="comma-separated token ids")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    prompt = [int(token) for token in args.prompt.split(",") if token]
    loading = time.perf_counter()
    step = _load(args.model)
    load_ms = (time.perf_counter() - loading) * 1000
    runs = []
    for _ in range(args.repeats):
        tokens, first, decode = generate(step, prompt, args.new_tokens)
        runs.append({"tokens": tokens, "first_token_ms": first * 1000, "decode_ms": [d * 1000 for d in decode]})
    json.dump({"load_ms": load_ms, "prompt_tokens": len(prompt), "runs": runs,
               "same_tokens": all(run["tokens"] == runs[0]["tokens"] for run in runs),
               "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
