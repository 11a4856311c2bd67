#!/usr/bin/env python3
"""Host-side runner for the language-model runtimes edgeq does not ship: llama.cpp (a GGUF, through
llama-cpp-python's bindings to its C API) and ONNX Runtime GenAI (a model folder).

It is ``runners/edgeq_llm_runner.py`` with other loaders: the same arguments, the same generation and
teacher-forcing code (imported from it), the same one JSON line, so every runtime generates and is timed the same
way: the prompt in one call (time to first token), then one call per greedy token, each timed with
``time.perf_counter``; the check prompts fed one token at a time through the cache.

    python llm_host_runner.py --runtime llama.cpp --artifact MODEL.gguf --prompt 1,2,3 --new-tokens 32 \
        --generations 2 --threads 1 [--check PROMPTS.json --check-out LOGITS.pt]
"""

import json
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runners"))

import edgeq_llm_runner  # noqa: E402 - found through the path set just above

CONTEXT = 128  # positions, as edgeq's programs hold (edgeq.llm.export.MAX_CONTEXT)


def _load_llama_cpp(path, threads):
    """``forward(tokens, position)`` over llama.cpp's C API: a context of ``CONTEXT`` positions, its defaults
    otherwise; position 0 clears the cache."""

    import llama_cpp
    import numpy as np
    import torch

    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(path.encode(), llama_cpp.llama_model_default_params())
    if not model:
        raise RuntimeError(f"llama.cpp could not load {path}")
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = CONTEXT
    if threads:
        params.n_threads = params.n_threads_batch = threads
    context = llama_cpp.llama_init_from_model(model, params)
    if not context:
        raise RuntimeError("llama.cpp could not make a context")
    vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    memory = llama_cpp.llama_get_memory(context)

    def forward(tokens, position):
        if position == 0:
            llama_cpp.llama_memory_clear(memory, True)
        ids = (llama_cpp.llama_token * len(tokens))(*tokens)
        status = llama_cpp.llama_decode(context, llama_cpp.llama_batch_get_one(ids, len(tokens)))
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status} at position {position}")
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(context, -1), shape=(vocab,))
        return torch.from_numpy(logits.copy())

    forward.keep = (model, context)  # the C objects live as long as the function
    return forward


def _load_genai(path, threads):
    """``forward(tokens, position)`` over an ONNX Runtime GenAI generator; position 0 starts a new one."""
    import numpy as np
    import onnxruntime_genai as og
    import torch

    config = og.Config(path)
    if threads:
        options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
    model = og.Model(config)
    state = {}

    def forward(tokens, position):
        if position == 0:
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=CONTEXT)
            state["generator"] = og.Generator(model, params)
        generator = state["generator"]
        generator.append_tokens(np.array([tokens], dtype=np.int32))
        logits = generator.get_output("logits")
        return torch.from_numpy(np.array(logits, dtype=np.float32).reshape(-1, logits.shape[-1])[-1])

    return forward


LOADERS = {"llama.cpp": (_load_llama_cpp, "llama_cpp_python"), "onnxruntime-genai": (_load_genai, "onnxruntime-genai")}


def _versions(package):
    found = {"python": platform.python_version()}
    for name in (package, "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    if package == "llama_cpp_python":
        import llama_cpp

        found["llama.cpp system info"] = llama_cpp.llama_print_system_info().decode().strip()
    return found


def main(argv=None):
    parser = edgeq_llm_runner.argument_parser()
    parser.add_argument("--runtime", required=True, choices=sorted(LOADERS))
    args = parser.parse_args(argv)
    report = edgeq_llm_runner._report
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        load, package = LOADERS[args.runtime]
        __import__({"llama.cpp": "llama_cpp", "onnxruntime-genai": "onnxruntime_genai"}[args.runtime])
        prompt = [int(token) for token in args.prompt.split(",") if token]
        baseline = edgeq_llm_runner._rss_mb()
        loading = time.perf_counter()
        forward = load(args.artifact, args.threads)
        load_ms = (time.perf_counter() - loading) * 1000
        first_run_ms = None
        for _ in range(args.warmup):
            started = time.perf_counter()
            edgeq_llm_runner.generate(forward, prompt, args.new_tokens)
            first_run_ms = first_run_ms or (time.perf_counter() - started) * 1000
        runs = [edgeq_llm_runner.generate(forward, prompt, args.new_tokens) for _ in range(args.generations)]
        check_count = 0
        if args.check and args.check_out:
            with open(args.check) as handle:
                prompts = json.load(handle)
            os.makedirs(os.path.dirname(os.path.abspath(args.check_out)), exist_ok=True)
            torch.save([edgeq_llm_runner.teacher_forced(forward, ids) for ids in prompts], args.check_out)
            check_count = len(prompts)
        after = edgeq_llm_runner._rss_mb()
    except Exception as exc:  # noqa: BLE001 - reported to the host, which says what failed
        report({"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:2000]}})
        return 1
    tokens = [run[0] for run in runs]
    report({
        "ok": True, "runtime": args.runtime, "arch": platform.machine(), "threads": args.threads,
        "versions": _versions(package), "load_ms": load_ms,
        "first_run_ms": first_run_ms if first_run_ms is not None else runs[0][1] * 1000,
        "prompt_tokens": len(prompt), "new_tokens": args.new_tokens,
        "first_token_ms": [run[1] * 1000 for run in runs],
        "latencies_ms": [seconds * 1000 for run in runs for seconds in run[2]],
        "tokens": tokens[0], "same_tokens": all(t == tokens[0] for t in tokens),
        "baseline_rss_mb": baseline, "model_rss_mb": None if baseline is None or after is None else after - baseline,
        "peak_rss_mb": edgeq_llm_runner._peak_rss_mb(), "check_count": check_count,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
