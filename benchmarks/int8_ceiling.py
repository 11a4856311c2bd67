"""``python -m benchmarks.int8_ceiling``: how much faster int8 matrix products are than fp32 on this CPU, in
XNNPACK and in ONNX Runtime, at MiniLM's shapes.

Most of MiniLM's time is its 36 Linear layers, so its int8 .pte can gain over its fp32 .pte no more than its int8
Linears gain over fp32 ones. This measures that ceiling with the rest of the model taken away: per layer four
384→384 Linears, 384→1536, GELU, 1536→384 and the residual add, six layers, 32 tokens, random weights. Each
runtime's int8 is compared with its own fp32, timed by the same runners and protocol as ``make bench``. Results go to
``benchmarks/results/int8-ceiling.json``; ``benchmarks/report.py`` renders them.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import click
import torch
from rich.console import Console
from torch import nn

from benchmarks.rounds import Rounds, Timed, rounds_options, time_in_rounds, write_results
from benchmarks.run import machine, versions
from edgeq.bench import BenchSpec
from edgeq.export.pte import write_pte
from edgeq.quantize.pt2e import quantize_pt2e
from edgeq.quantize.spec import QuantSpec

DEFAULTS = Rounds(runs=30, warmup=5, processes=5)
RESULTS = Path(__file__).resolve().parent / "results" / "int8-ceiling.json"
TOKENS, WIDTH, FEED_FORWARD, LAYERS = 32, 384, 1536, 6

# (runtime, variant, scheme): scheme "none" is fp32
VARIANTS = (("executorch", "fp32", "none"), ("executorch", "dynamic int8 (edgeq's scheme for MiniLM)", "dynamic"),
            ("executorch", "static int8", "static"), ("onnxruntime", "fp32", "none"),
            ("onnxruntime", "dynamic int8 (quantize_dynamic)", "dynamic"))


class _EncoderLinears(nn.Module):
    """One encoder layer's Linears in a chain: the attention's four, then the feed-forward pair."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.Sequential(*(nn.Linear(WIDTH, WIDTH) for _ in range(4)))
        self.up, self.down = nn.Linear(WIDTH, FEED_FORWARD), nn.Linear(FEED_FORWARD, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(x)
        return self.down(nn.functional.gelu(self.up(x))) + x


def _build(runtime: str, scheme: str, model: nn.Module, example: tuple[torch.Tensor], path: Path) -> None:
    if runtime == "onnxruntime":
        fp32 = path.with_suffix(".fp32.onnx") if scheme != "none" else path
        torch.onnx.export(model, example, str(fp32), dynamo=False, opset_version=17)
        if scheme != "none":
            from onnxruntime.quantization import quantize_dynamic

            quantize_dynamic(str(fp32), str(path))
        return
    if scheme != "none":
        generator = torch.Generator().manual_seed(1)
        calibration = [(torch.randn(example[0].shape, generator=generator),) for _ in range(8)]
        model = quantize_pt2e(model, example, calibration, QuantSpec(scheme=scheme, engine="qnnpack", format="pte")).model
    write_pte(model, example, path)


def measure(runs: int, warmup: int, processes: int, console: Console) -> dict[str, Any]:
    started = time.monotonic()
    torch.manual_seed(0)
    model = nn.Sequential(*(_EncoderLinears() for _ in range(LAYERS))).eval()
    example = (torch.randn(1, TOKENS, WIDTH),)
    with tempfile.TemporaryDirectory(prefix="edgeq-ceiling-") as scratch_name:
        scratch = Path(scratch_name)
        torch.save(example, scratch / "inputs.pt")
        timed = []
        for index, (runtime, variant, scheme) in enumerate(VARIANTS):
            console.log(f"building {runtime} {variant}")
            path = scratch / f"{index}.{'pte' if runtime == 'executorch' else 'onnx'}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _build(runtime, scheme, model, example, path)
            row = {"runtime": runtime, "variant": variant, "scheme": scheme, "size_bytes": path.stat().st_size}
            timed.append(Timed(row, path, "pte" if runtime == "executorch" else "onnx"))
        time_in_rounds(timed, inputs=scratch / "inputs.pt", spec=BenchSpec(runs=runs, warmup=warmup, threads=1),
                       processes=processes, scratch=scratch, say=console.log)
    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "versions": versions(), "settings": {"runs": runs, "warmup": warmup, "processes": processes, "threads": 1},
            "shape": {"tokens": TOKENS, "width": WIDTH, "feed_forward": FEED_FORWARD, "layers": LAYERS},
            "wall_s": round(time.monotonic() - started, 1), "rows": [item.row for item in timed]}


@click.command()
@rounds_options(DEFAULTS, RESULTS)
def main(runs: int, warmup: int, processes: int, out: Path) -> None:
    """Time MiniLM-shaped Linears in fp32 and int8, in ExecuTorch (XNNPACK) and ONNX Runtime, on this machine."""
    console = Console(stderr=True, highlight=False, log_path=False)
    document = measure(runs, warmup, processes, console)
    write_results(document, out)
    for row in document["rows"]:
        console.log(f"{row['runtime']:<12} {row['variant']:<42} p50 {row['latency_ms']['p50']:.3f} ms")
    console.log(f"wrote {out}")


if __name__ == "__main__":
    main()
