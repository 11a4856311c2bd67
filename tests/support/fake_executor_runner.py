"""A stand-in for ExecuTorch's native ``executor_runner``: the same flags, log lines and output files.

It runs the model for real through the ExecuTorch Python bindings, so the
numbers it writes are the model's; only the process is Python instead of C++.
``EDGEQ_FAKE_RUNNER_TOTAL_ONLY=1`` logs only the total, like older builds.
"""

import os
import sys
import time

import numpy as np
import torch
from executorch.extension.pybindings import _portable_lib as bindings

import executorch.kernels.quantized  # noqa: F401,E402 - as a binary built with the quantized kernels

_DTYPES = {6: np.float32, 7: np.float64, 4: np.int64, 3: np.int32, 1: np.int8, 0: np.uint8, 11: np.bool_}


def _log(message):
    sys.stderr.write(f"I 00:00:00.000000 executorch:executor_runner.cpp:1] {message}\n")


def main(argv):
    flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    extra = [arg for arg in argv if not (arg.startswith("--") and "=" in arg)]
    if extra:
        _log(f"Extra commandline args: {' '.join(extra)}")
        return 1
    start = time.perf_counter()
    module = bindings._load_for_executorch(flags.get("model_path", "model.pte"))
    _log(f"Model loaded in {(time.perf_counter() - start) * 1000:f} ms.")
    meta = module.method_meta("forward")
    files = [path for path in flags.get("inputs", "").split(",") if path]
    inputs = []
    for index in range(meta.num_inputs()):
        info = meta.input_tensor_meta(index)
        data = np.fromfile(files[index], dtype=_DTYPES[info.dtype()]) if index < len(files) else None
        inputs.append(torch.from_numpy(data.reshape(info.sizes())) if data is not None else torch.ones(info.sizes()))
    count = int(flags.get("num_executions", "1"))
    total = 0.0
    for iteration in range(count):
        begin = time.perf_counter()
        outputs = module.forward(tuple(inputs))
        elapsed = (time.perf_counter() - begin) * 1000
        total += elapsed
        if not os.environ.get("EDGEQ_FAKE_RUNNER_TOTAL_ONLY"):
            _log(f"Iteration {iteration + 1} of {count}: {elapsed:f} ms")
    _log(f"Model executed successfully {count} time(s) in {total:f} ms.")
    base = flags.get("output_file")
    if base:
        for index, output in enumerate(outputs):
            with open(f"{base}-{index}.bin", "wb") as handle:
                handle.write(output.contiguous().numpy().tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
