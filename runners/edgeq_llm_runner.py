#!/usr/bin/env python3
"""edgeq device-side runner for language models: an ExecuTorch LLM program (.pte with a KV cache) generates and
is timed on the device.

Standalone like edgeq_runner.py (pushed beside the artifact; imports only the device's torch and ExecuTorch):

    python edgeq_llm_runner.py --artifact MODEL.pte --prompt 1,2,3 --new-tokens 32 --generations 2 --threads 2 \
        [--check PROMPTS.json --check-out LOGITS.pt]

Each generation feeds the prompt in one call (prefill; the time to first token) and then decodes greedily one token
per call. The first ``--warmup`` generations are not timed. ``--check`` feeds each prompt of a JSON list one token at
a time (teacher-forced) and saves the logits after each token, so the host compares them with the eager model's.
Prints exactly one JSON line on stdout: the greedy tokens, the time to first token of each timed generation, the
decode time of each new token (``latencies_ms``, what edgeq's statistics and the lab's gate read), and memory.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

RUNNER_VERSION = 1


def _versions():
    found = {"python": platform.python_version()}
    from importlib.metadata import version

    for package in ("torch", "executorch"):
        try:
            found[package] = version(package)
        except Exception:  # noqa: BLE001 - absent package
            found[package] = None
    return found


def _rss_mb():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def _report(payload):
    sys.stdout.write(json.dumps({"runner": "edgeq_llm_runner", "runner_version": RUNNER_VERSION, **payload}) + "\n")
    sys.stdout.flush()


class _Environment(Exception):
    """The device's runtime cannot run language models (no ExecuTorch, or no LLM operators)."""


def _runtime():
    """ExecuTorch's bindings with the LLM operators registered (imported before the memory baseline).

    The operators' library is loaded directly rather than through ``custom_ops.py``, which also registers their
    export-time Python kernels and so needs what a lean device's torch may lack (sympy, on the emulated board)."""
    try:
        from executorch.extension.pybindings import _portable_lib as runtime
    except ImportError as exc:
        raise _Environment(f"no ExecuTorch runtime: {exc}") from exc
    try:
        import glob

        import torch
        import executorch.extension.llm.custom_ops as operators

        libraries = glob.glob(os.path.join(os.path.dirname(operators.__file__), "libcustom_ops_aot_lib*"))
        if not libraries:
            raise ImportError("no libcustom_ops_aot_lib beside it")
        torch.ops.load_library(libraries[0])
    except (ImportError, OSError, RuntimeError) as exc:
        raise _Environment(f"ExecuTorch here has no LLM operators (executorch.extension.llm.custom_ops): {exc}") from exc
    try:  # the quantized embedding tables' lookups; a runtime without them is refused by the probe when a program needs them
        import executorch.kernels.quantized  # noqa: F401
    except ImportError:
        pass
    return runtime


def _load(runtime, path):
    import torch

    module = runtime._load_for_executorch(path)

    def forward(tokens, position):
        logits = module.forward((torch.tensor([tokens], dtype=torch.long), torch.tensor([position], dtype=torch.long)))[0]
        return logits.reshape(-1, logits.shape[-1])[-1]

    return forward


def generate(forward, prompt, new_tokens):
    """(tokens, seconds to the first token, seconds of each later token)."""
    started = time.perf_counter()
    token = int(forward(prompt, 0).argmax())
    first = time.perf_counter() - started
    tokens, decode = [token], []
    for position in range(len(prompt), len(prompt) + new_tokens - 1):
        started = time.perf_counter()
        token = int(forward([token], position).argmax())
        decode.append(time.perf_counter() - started)
        tokens.append(token)
    return tokens, first, decode


def teacher_forced(forward, prompt):
    import torch

    return torch.stack([forward([token], position).clone() for position, token in enumerate(prompt)])


def argument_parser():
    """The runner's arguments (benchmarks/llm_host_runner.py takes the same, and a runtime)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--prompt", required=True, help="comma-separated token ids")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--generations", type=int, default=2, help="timed generations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed generations first")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--check", help="JSON list of prompts (token id lists) to feed teacher-forced")
    parser.add_argument("--check-out", help="where to save their logits (torch.save of a list of [T, vocab])")
    return parser


def main(argv=None):
    args = argument_parser().parse_args(argv)
    try:
        import torch
    except ImportError as exc:
        _report({"ok": False, "error": {"type": "ImportError", "message": f"no torch: {exc}", "environment": True}})
        return 1
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        prompt = [int(token) for token in args.prompt.split(",") if token]
        runtime = _runtime()
        if args.threads:  # ExecuTorch's own threadpool (XNNPACK's threads) starts with every core, whatever torch's
            runtime._unsafe_reset_threadpool(args.threads)
        baseline = _rss_mb()
        loading = time.perf_counter()
        forward = _load(runtime, args.artifact)
        load_ms = (time.perf_counter() - loading) * 1000
        first_run_ms = None
        for _ in range(args.warmup):
            started = time.perf_counter()
            generate(forward, prompt, args.new_tokens)
            first_run_ms = first_run_ms or (time.perf_counter() - started) * 1000
        runs = [generate(forward, prompt, args.new_tokens) for _ in range(args.generations)]
        check_count = 0
        if args.check and args.check_out:
            with open(args.check) as handle:
                prompts = json.load(handle)
            os.makedirs(os.path.dirname(os.path.abspath(args.check_out)), exist_ok=True)
            torch.save([teacher_forced(forward, ids) for ids in prompts], args.check_out)
            check_count = len(prompts)
        after = _rss_mb()
    except _Environment as exc:
        _report({"ok": False, "error": {"type": "Environment", "message": str(exc), "environment": True}})
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the host, which says what failed
        _report({"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:2000]}})
        return 1
    tokens = [run[0] for run in runs]
    _report({
        "ok": True, "arch": platform.machine(), "threads": torch.get_num_threads(), "versions": _versions(),
        "load_ms": load_ms, "first_run_ms": first_run_ms if first_run_ms is not None else runs[0][1] * 1000,
        "prompt_tokens": len(prompt), "new_tokens": args.new_tokens,
        "first_token_ms": [run[1] * 1000 for run in runs],
        "latencies_ms": [seconds * 1000 for run in runs for seconds in run[2]],
        "tokens": tokens[0], "same_tokens": all(t == tokens[0] for t in tokens),
        "baseline_rss_mb": baseline, "model_rss_mb": None if baseline is None or after is None else after - baseline,
        "peak_rss_mb": _peak_rss_mb(), "check_count": check_count,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
