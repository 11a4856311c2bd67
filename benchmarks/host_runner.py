#!/usr/bin/env python3
"""Host-side runner for the two runtimes edgeq does not ship: PyTorch eager and ONNX Runtime.

It is ``runners/edgeq_runner.py`` with two more loaders: the same arguments,
the same timing loop and the same one JSON line, so every runtime is timed the
same way (a fresh process, warmup runs, then ``time.perf_counter`` around each
call, the garbage collector paused).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runners"))

import edgeq_runner  # noqa: E402 - found through the path set just above


def _import_eager(args):
    import torch  # noqa: F401


def _load_eager(args):
    """A whole pickled ``nn.Module`` (its classes must be importable here, as they are in edgeq's venv)."""
    import torch

    model = torch.load(args.artifact, weights_only=False).eval()

    def forward(inputs):
        with torch.inference_mode():
            return [t for t in edgeq_runner._flatten(model(*inputs)) if isinstance(t, torch.Tensor)]

    return forward


def _import_onnx(args):
    import onnxruntime  # noqa: F401


def _load_onnx(args):
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads or 0
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(args.artifact, options, providers=["CPUExecutionProvider"])
    names = [arg.name for arg in session.get_inputs()]

    def forward(inputs):
        feeds = dict(zip(names, [t.numpy() for t in edgeq_runner._flatten(inputs)], strict=True))
        return [torch.from_numpy(out) for out in session.run(None, feeds)]

    return forward


LOADERS = {"eager": (_import_eager, _load_eager), "onnx": (_import_onnx, _load_onnx)}

if __name__ == "__main__":
    sys.exit(edgeq_runner.main(loaders=LOADERS))
