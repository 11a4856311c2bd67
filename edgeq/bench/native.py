"""Drive ExecuTorch's native ``executor_runner`` on devices without Python (most phones).

The binary takes raw input files (``--inputs a.bin,b.bin``), runs the model
``--num_executions`` times, logs ``Iteration i of N: X ms`` per run (older
builds log only the total), and writes each output as raw bytes to
``--output_file BASE`` → ``BASE-0.bin``…. The host knows every shape and dtype
from the fp32 model, so it rebuilds the outputs for the numeric checks.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import BenchResult, stage_file
from edgeq.bench.stats import latency_stats
from edgeq.errors import BenchError
from edgeq.transport import Transport

_LOADED = re.compile(r"Model loaded in ([\d.]+) ms")
_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([\d.]+) ms")
_TOTAL = re.compile(r"Model executed successfully (\d+) time\(s\) in ([\d.]+) ms")


def raw_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().contiguous().cpu().numpy().tobytes()


def parse_log(text: str, warmup: int) -> tuple[float | None, list[float], bool]:
    """``(load_ms, per-run latencies after warmup, per_run)`` from the runner's log.

    Builds without per-iteration lines give one mean (``per_run`` False).
    """
    loaded = _LOADED.search(text)
    load_ms = float(loaded.group(1)) if loaded else None
    iterations = [float(m.group(3)) for m in _ITERATION.finditer(text)]
    if iterations:
        return load_ms, iterations[warmup:] or iterations, True
    total = _TOTAL.search(text)
    if total is None:
        tail = (text.strip().splitlines() or ["(no output)"])[-1][:300]
        raise BenchError(f"executor_runner did not report a successful run: {tail}",
                         hint="check the binary matches the device and was built with the XNNPACK backend")
    count, total_ms = int(total.group(1)), float(total.group(2))
    return load_ms, [total_ms / max(count, 1)], False


def _taskset(cpus: Sequence[int]) -> list[str]:
    return ["taskset", format(sum(1 << cpu for cpu in cpus), "x")] if cpus else []


class NativeRunner:
    """One artifact on one device through ``executor_runner``; inputs are pushed once, named by content."""

    def __init__(self, transport: Transport, binary: str, workdir: str) -> None:
        self.transport, self.binary, self.workdir = transport, binary, workdir

    def _push_inputs(self, sample: tuple[Any, ...]) -> list[str]:
        """Each input tensor as a raw file on the device, named by its content (pushed once)."""
        remote = []
        with tempfile.TemporaryDirectory(prefix="edgeq-native-") as scratch:
            for leaf in torch.utils._pytree.tree_flatten(sample)[0]:
                data = raw_bytes(leaf)
                digest = hashlib.sha256(data).hexdigest()
                local = Path(scratch) / f"{digest}.bin"
                local.write_bytes(data)
                remote.append(stage_file(self.transport, local, self.workdir, "inputs", digest, ".bin").path)
        return remote

    def _argv(self, artifact: str, inputs: list[str], executions: int, threads: int, cpus: Sequence[int]) -> list[str]:
        return [*_taskset(cpus), self.binary, f"--model_path={artifact}", f"--inputs={','.join(inputs)}",
                f"--num_executions={executions}", f"--cpu_threads={threads}"]

    def time(self, artifact: str, example: tuple[Any, ...], *, warmup: int, runs: int, threads: int,
             cpus: Sequence[int], timeout_s: float) -> dict[str, Any]:
        inputs = self._push_inputs(example)
        result = self.transport.run(self._argv(artifact, inputs, warmup + runs, threads, cpus), timeout_s=timeout_s,
                                    check=False)
        if not result.ok:
            tail = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1][:300]
            raise BenchError(f"executor_runner failed on the device: {tail}")
        load_ms, latencies, per_run = parse_log(result.stdout + "\n" + result.stderr, warmup)
        return {"load_ms": load_ms, "latencies_ms": latencies, "per_run": per_run}

    def outputs(self, artifact: str, samples: Sequence[tuple[Any, ...]], like: Sequence[Sequence[torch.Tensor]], *,
                threads: int, timeout_s: float) -> list[list[torch.Tensor]]:
        """Run each sample once and rebuild its outputs with the shapes and dtypes of ``like``."""
        found = []
        self.transport.run(["mkdir", "-p", f"{self.workdir}/outputs"], timeout_s=30.0)
        with tempfile.TemporaryDirectory(prefix="edgeq-native-out-") as scratch:
            for index, (sample, reference) in enumerate(zip(samples, like)):
                inputs = self._push_inputs(sample)
                base = f"{self.workdir}/outputs/native-{index}"
                argv = [self.binary, f"--model_path={artifact}", f"--inputs={','.join(inputs)}", "--num_executions=1",
                        f"--cpu_threads={threads}", f"--output_file={base}"]
                self.transport.run(argv, timeout_s=timeout_s)
                tensors = []
                for position, ref in enumerate(reference):
                    local = Path(scratch) / f"{index}-{position}.bin"
                    self.transport.pull(f"{base}-{position}.bin", local)
                    data = bytearray(local.read_bytes())
                    expected = ref.numel() * ref.element_size()
                    if len(data) != expected:
                        raise BenchError(f"executor_runner wrote {len(data)} bytes for output {position}, "
                                         f"expected {expected} ({tuple(ref.shape)} {ref.dtype})")
                    tensors.append(torch.frombuffer(data, dtype=ref.dtype).reshape(ref.shape).clone())
                found.append(tensors)
        return found


def native_bench_result(timing: dict[str, Any], *, arch: str, threads: int, binary: str,
                        check_outputs: list[list[torch.Tensor]] | None) -> BenchResult:
    latencies = timing["latencies_ms"]
    return BenchResult(latency=latency_stats(latencies), load_ms=timing["load_ms"] or 0.0, first_run_ms=latencies[0],
                       peak_rss_mb=None, arch=arch, threads=threads, versions={"executor_runner": binary},
                       outputs=[], check_outputs=check_outputs)
