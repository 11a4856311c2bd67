#!/usr/bin/env python3
"""Host-side runner for the two runtimes edgeq does not ship: PyTorch eager and ONNX Runtime.

It speaks the protocol of ``runners/edgeq_runner.py`` (same arguments, same one
JSON line on stdout, same ``--check``/``--check-out``), so ``edgeq.bench.run_bench``
times every runtime the same way: a fresh process, warmup runs, then timed runs
with ``time.perf_counter`` around each call.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

RUNNER_VERSION = 1


def _flatten(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _flatten(item)]
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _flatten(value)]
    return [tree]


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _load_eager(path):
    """A whole pickled ``nn.Module`` (its classes must be importable here, as they are in edgeq's venv)."""
    import torch

    model = torch.load(path, weights_only=False).eval()

    def forward(inputs):
        with torch.inference_mode():
            return [t for t in _flatten(model(*inputs)) if isinstance(t, torch.Tensor)]

    return forward


def _load_onnx(path, threads):
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [arg.name for arg in session.get_inputs()]

    def forward(inputs):
        feeds = dict(zip(names, [t.numpy() for t in _flatten(inputs)], strict=True))
        return [torch.from_numpy(out) for out in session.run(None, feeds)]

    return forward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--format", choices=("eager", "onnx"), required=True)
    parser.add_argument("--engine", default=None, help="accepted for protocol compatibility; unused")
    parser.add_argument("--inputs", required=True, help="torch.save'd tuple of example inputs")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--check", default=None, help="torch.save'd list of input tuples to run once each")
    parser.add_argument("--check-out", default=None, help="where to torch.save the check outputs")
    args = parser.parse_args(argv)
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        inputs = torch.load(args.inputs, weights_only=True)
        if args.format == "onnx":
            import onnxruntime  # noqa: F401 - imported before the clock starts, as the ExecuTorch runner does
        start = time.perf_counter()
        forward = _load_eager(args.artifact) if args.format == "eager" else _load_onnx(args.artifact, args.threads)
        load_ms = (time.perf_counter() - start) * 1000.0
        start = time.perf_counter()
        outputs = forward(inputs)
        first_run_ms = (time.perf_counter() - start) * 1000.0
        for _ in range(args.warmup):
            forward(inputs)
        latencies = []
        for _ in range(args.runs):
            start = time.perf_counter()
            forward(inputs)
            latencies.append((time.perf_counter() - start) * 1000.0)
        checked = 0
        if args.check and args.check_out:
            samples = torch.load(args.check, weights_only=True)
            results = [[t.clone() for t in forward(sample)] for sample in samples]
            tmp = args.check_out + ".tmp"
            torch.save(results, tmp)
            os.replace(tmp, args.check_out)
            checked = len(results)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = {
            "runner": RUNNER_VERSION,
            "ok": True,
            "versions": _versions(),
            "arch": platform.machine(),
            "threads": args.threads or torch.get_num_threads(),
            "format": args.format,
            "load_ms": load_ms,
            "first_run_ms": first_run_ms,
            "latencies_ms": latencies,
            "peak_rss_mb": peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0),
            "outputs": [{"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")} for t in outputs],
            "check_count": checked,
        }
    except Exception as exc:  # noqa: BLE001 - reported to the host as one JSON line
        import traceback

        traceback.print_exc(file=sys.stderr)
        report = {"runner": RUNNER_VERSION, "ok": False,
                  "error": {"type": type(exc).__name__, "message": str(exc)[:2000]}, "arch": platform.machine()}
        print(json.dumps(report), flush=True)
        return 1
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
