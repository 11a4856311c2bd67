#!/usr/bin/env python3
"""edgeq device-side benchmark runner.

Runs on the device with only the standard library and torch or the ExecuTorch
runtime (never edgeq). Loads one .pte or .ptl, runs warmup then timed runs,
optionally runs check inputs and saves their outputs, and prints exactly one
JSON line on stdout. Everything else goes to stderr.
"""

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import sys
import tempfile
import time

# 2: --min-time-s, --cpus, "cpus" in the report; 3: "baseline_rss_mb", "model_rss_mb";
# 4: an error says whether the environment refused ("environment"); temporary files are unique per process
RUNNER_VERSION = 4


def _flatten(tree):
    """Leaves in torch.utils._pytree order: tuples/lists in order, dicts by insertion order."""
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _flatten(item)]
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _flatten(value)]
    return [tree]


def _versions():
    found = {"python": platform.python_version()}
    try:
        from importlib.metadata import version

        for package in ("torch", "executorch"):
            try:
                found[package] = version(package)
            except Exception:  # noqa: BLE001 - absent package
                found[package] = None
    except ImportError:
        pass
    return found


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def _rss_mb():
    """This process's resident memory now (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _reset_peak_rss():
    """Start the kernel's peak-RSS mark (VmHWM) again from now; False where it cannot (not Linux, old kernel)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _window_peak_rss_mb():
    """VmHWM: the peak resident memory since ``_reset_peak_rss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


class _ModelMemory:
    """Resident memory the artifact adds: from just before load to the end of the timed runs.

    The runtime's own memory (Python, torch, the ExecuTorch runtime, imported before the clock) is the
    baseline; the model's is the peak above it while loading and running. Where the peak mark cannot be
    reset, the highest of the readings taken after load and after the timed runs stands in for it.
    """

    def __init__(self):
        gc.collect()
        self.baseline = _rss_mb()
        self.peak_reset = self.baseline is not None and _reset_peak_rss()
        self.readings = []

    def read(self):
        self.readings.append(_rss_mb())

    def report(self):
        if self.baseline is None:
            return {"baseline_rss_mb": None, "model_rss_mb": None}
        peak = _window_peak_rss_mb() if self.peak_reset else None
        if peak is None:
            peak = max([r for r in self.readings if r is not None], default=self.baseline)
        return {"baseline_rss_mb": self.baseline, "model_rss_mb": max(0.0, peak - self.baseline)}


def _portable_lib():
    """The ExecuTorch runtime bindings; the bare extension skips seconds of exir imports on slow devices.

    The quantized kernels (int8 embedding lookups) are registered beside them when the runtime ships them:
    their library links against the bindings, so it loads only after them.
    """
    import torch  # noqa: F401 - the bindings need torch loaded first

    try:
        from executorch.extension.pybindings import _portable_lib as bindings
    except ImportError:
        from executorch.extension.pybindings import portable_lib as bindings
    try:
        import executorch.kernels.quantized  # noqa: F401 - registers quantized_decomposed::*.out, or logs why not
    except ImportError:
        pass
    return bindings


def _import_pte(args):
    """Import the runtime before the clock starts: load_ms is the model's load, not Python's imports."""
    _portable_lib()


def _load_pte(args):
    portable_lib = _portable_lib()
    if args.threads:
        portable_lib._unsafe_reset_threadpool(args.threads)
    module = portable_lib._load_for_executorch(args.artifact)
    return lambda inputs: list(module.forward(tuple(_flatten(inputs))))


def _import_ptl(args):
    from torch.jit.mobile import _load_for_lite_interpreter  # noqa: F401


def _load_ptl(args):
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    if args.engine:
        torch.backends.quantized.engine = args.engine
    module = _load_for_lite_interpreter(args.artifact)
    return lambda inputs: _flatten(module(*inputs))


# --format → (import the runtime, load the artifact into forward(inputs) -> list of tensors).
# Host-side tools may pass their own (benchmarks/host_runner.py times eager PyTorch and ONNX Runtime this way).
LOADERS = {"pte": (_import_pte, _load_pte), "ptl": (_import_ptl, _load_ptl)}


def _pin(cpus):
    """Pin this process to ``cpus`` ("4,5,6,7") where the OS allows it; returns the CPUs it runs on."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def _describe(tensor):
    data = tensor.detach().contiguous()
    info = {"shape": list(data.shape), "dtype": str(data.dtype).replace("torch.", "")}
    info["sha256"] = hashlib.sha256(data.numpy().tobytes()).hexdigest()
    if data.numel() <= 64:
        info["values"] = data.reshape(-1).tolist()
    return info


def _save_atomically(value, path):
    """``torch.save`` to ``path`` through a temporary file of this process alone, renamed into place: runners on
    devices that share a home directory each write their own, and a reader never sees half a file."""
    import torch

    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(value, out)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None, loaders=None):
    loaders = loaders or LOADERS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--format", choices=sorted(loaders), required=True)
    parser.add_argument("--engine", default=None, help="quantized engine for .ptl (qnnpack, fbgemm, x86)")
    parser.add_argument("--inputs", required=True, help="torch.save'd tuple of example inputs")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--min-time-s", type=float, default=0.0, help="time at least this long, past --runs")
    parser.add_argument("--cpus", default="", help="comma-separated CPUs to pin to (Linux)")
    parser.add_argument("--check", default=None, help="torch.save'd list of input tuples to run once each")
    parser.add_argument("--check-out", default=None, help="where to torch.save the check outputs")
    args = parser.parse_args(argv)
    # numpy's OpenBLAS pool (loaded with torch) spins beside the model; the runtime has its own threads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        pinned = _pin(args.cpus)
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        inputs = torch.load(args.inputs, weights_only=True)
        import_runtime, load = loaders[args.format]
        import_runtime(args)
        memory = _ModelMemory()
        start = time.perf_counter()
        forward = load(args)
        load_ms = (time.perf_counter() - start) * 1000.0
        memory.read()
        start = time.perf_counter()
        outputs = forward(inputs)
        first_run_ms = (time.perf_counter() - start) * 1000.0
        gc.collect()
        gc.disable()  # a collection inside the timed loop is noise, not the model's latency
        try:
            for _ in range(args.warmup):
                forward(inputs)
            latencies = []
            deadline = time.perf_counter() + args.min_time_s
            while len(latencies) < args.runs or time.perf_counter() < deadline:
                start = time.perf_counter()
                forward(inputs)
                latencies.append((time.perf_counter() - start) * 1000.0)
        finally:
            gc.enable()
        memory.read()
        model_memory = memory.report()  # before the check inputs are loaded: they are not the model's
        checked = 0
        if args.check and args.check_out:
            samples = torch.load(args.check, weights_only=True)
            results = [[t.clone() for t in forward(sample)] for sample in samples]
            _save_atomically(results, args.check_out)
            checked = len(results)
        report = {
            "runner": RUNNER_VERSION,
            "ok": True,
            "versions": _versions(),
            "arch": platform.machine(),
            "threads": args.threads or torch.get_num_threads(),
            "cpus": pinned,
            "format": args.format,
            "load_ms": load_ms,
            "first_run_ms": first_run_ms,
            "latencies_ms": latencies,
            "peak_rss_mb": _peak_rss_mb(),
            **model_memory,
            "outputs": [_describe(t) for t in outputs],
            "check_count": checked,
        }
    except Exception as exc:  # noqa: BLE001 - reported to the host as one JSON line
        import traceback

        traceback.print_exc(file=sys.stderr)
        # OSError: the operating system refused (disk full, permission denied, a file gone), not the model
        error = {"type": type(exc).__name__, "message": str(exc)[:2000], "environment": isinstance(exc, OSError)}
        report = {"runner": RUNNER_VERSION, "ok": False, "error": error, "arch": platform.machine(),
                  "versions": _versions()}
        print(json.dumps(report), flush=True)
        return 1
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
