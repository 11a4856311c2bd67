"""A pretend device for ``FakeTransport``: it answers the commands edgeq sends a device.

``FakeTransport(FakeDevice(latency_ms=2.0, work_s=1.0))`` probes as an x86_64 box with torch and
ExecuTorch, and "runs" the benchmark runner by sleeping ``work_s`` and reporting latencies drawn
around ``latency_ms``. Tests and users exercise schedulers, stores and reports with it at the speed
of Python, with the runner protocol and the probe exactly as a real device answers them.

    lab = run_lab(inventory, request, transport_factory=lambda entry, profile: FakeTransport(FakeDevice()))
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass

from edgeq.transport.fence import LEASE_COMMAND, unwrap

RUNNER_VERSION = 4


@dataclass
class FakeDevice:
    machine: str = "x86_64"
    python: str = "3.11.7"
    torch: str | None = "2.13.0"
    executorch: str | None = "1.4.1"
    latency_ms: float = 1.0
    spread: float = 0.02  # relative standard deviation of the reported latencies
    work_s: float = 0.0  # how long one benchmark takes on the device
    governor: str | None = None
    temperature_c: float | None = None
    free_bytes: int = 10 << 30
    seed: int = 0
    # the optional kernels its ExecuTorch runtime has registered (int8 embedding lookups)
    kernels: tuple[str, ...] = ("quantized_decomposed::embedding_byte.out",)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self.benchmarks = 0  # how many times the runner ran

    def __call__(self, argv: tuple[str, ...]) -> tuple[int, str, str]:
        if len(argv) > 3 and argv[:2] == ("sh", "-c") and argv[3] == LEASE_COMMAND:
            return 0, "", ""  # the lab's worker telling the device its lease is held
        argv = unwrap(argv)  # a command under the lease's watchdog: the command is what it answers
        command = argv[0].rsplit("/", 1)[-1]
        if command == "uname":
            return 0, self.machine + "\n", ""
        if command == "df":
            blocks = self.free_bytes // 1024
            return 0, f"Filesystem 1024-blocks Used Available Capacity Mounted on\nfake {blocks} 0 {blocks} 0% /\n", ""
        if command == "cat":
            return self._cat(argv[1])
        if command in ("mkdir", "rm", "mv", "test", "chmod", "true"):
            return 0, "", ""
        if len(argv) >= 3 and argv[1] == "-c" and "_get_operator_names" in argv[2]:  # the kernel probe
            return 0, json.dumps(sorted(self.kernels)) + "\n", ""
        if len(argv) >= 3 and argv[1] == "-c":  # the Python probe
            found = {"python": self.python, "machine": self.machine, "torch": self.torch, "executorch": self.executorch}
            return 0, json.dumps(found) + "\n", ""
        if "--artifact" in argv:
            return self._bench(argv)
        return 127, "", f"{command}: not found on the fake device\n"

    def _cat(self, path: str) -> tuple[int, str, str]:
        if path.endswith("scaling_governor") and self.governor:
            return 0, self.governor + "\n", ""
        if path.endswith("thermal_zone0/temp") and self.temperature_c is not None:
            return 0, f"{int(self.temperature_c * 1000)}\n", ""
        return 1, "", f"cat: {path}: No such file or directory\n"

    def _bench(self, argv: tuple[str, ...]) -> tuple[int, str, str]:
        runs = int(argv[argv.index("--runs") + 1])
        threads = int(argv[argv.index("--threads") + 1])
        with self._lock:
            self.benchmarks += 1
            latencies = [max(0.001, self._random.gauss(self.latency_ms, self.latency_ms * self.spread)) for _ in range(runs)]
        time.sleep(self.work_s)
        report = {"runner": RUNNER_VERSION, "ok": True, "latencies_ms": latencies, "load_ms": 1.0,
                  "first_run_ms": latencies[0], "peak_rss_mb": 50.0, "model_rss_mb": 1.5, "baseline_rss_mb": 48.5,
                  "arch": self.machine, "threads": threads,
                  "versions": {"python": self.python, "torch": self.torch, "executorch": self.executorch},
                  "outputs": [], "check_count": 0}
        return 0, json.dumps(report) + "\n", ""
