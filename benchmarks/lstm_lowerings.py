"""``python -m benchmarks.lstm_lowerings``: zoo:digits-lstm's dynamic int8 LSTM lowered several ways, timed
against ONNX Runtime's fused ``DynamicQuantizeLSTM``.

Each lowering rewrites the model's ``nn.LSTM`` as ``nn.Linear`` gates, goes through edgeq's dynamic PT2E
quantization and XNNPACK lowering, and runs in ``runners/edgeq_runner.py`` exactly as ``make bench`` runs every
.pte: fresh processes in interleaved rounds, one thread, samples pooled. Two of them are edgeq's today
(``WavefrontLSTM`` for this model, ``LinearLSTM`` for wide or bidirectional LSTMs), one is edgeq's until December
2026, the others are attempts that lost, kept so that the figures in ``docs/benchmarks.md`` can be measured again,
and one probe is not an LSTM at all: the wavefront with its gate math removed, which shows how much of the time
the GEMMs take. Results go to
``benchmarks/results/lstm-lowerings.json``; ``benchmarks/report.py`` renders them.
"""

from __future__ import annotations

import copy
import datetime as _dt
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import torch
from rich.console import Console
from torch import nn

from benchmarks.onnx_variants import build_onnx
from benchmarks.rounds import Rounds, Timed, rounds_options, time_in_rounds, write_results
from benchmarks.run import machine, versions
from benchmarks.scoring import check_set, reference_outputs, score
from edgeq.bench import BenchSpec
from edgeq.bench.verdict import compare_samples
from edgeq.export import ArtifactCache
from edgeq.export.pte import write_pte
from edgeq.models import load_model
from edgeq.quantize.lstm import LinearLSTM, WavefrontLSTM
from edgeq.quantize.pt2e import quantize_pt2e
from edgeq.quantize.spec import QuantSpec

DEFAULTS = Rounds(runs=500, warmup=50, processes=5)
RESULTS = Path(__file__).resolve().parent / "results" / "lstm-lowerings.json"
SHIPPED = "wavefront"
BASELINE = "onnxruntime int8"
_DYNAMIC = QuantSpec(scheme="dynamic", engine="qnnpack", format="pte")


class _PerLayerSplit(nn.Module):
    """edgeq's lowering until December 2026: one layer at a time in torch's gate order, each step's gates split
    into four (a portable ``split``), three sigmoids and two tanh, the step taken by index (a portable ``select``).
    Unidirectional, zero state."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.batch_first = lstm.hidden_size, lstm.num_layers, lstm.batch_first
        self.input_gates = nn.ModuleList(_copied(lstm, "ih", layer) for layer in range(lstm.num_layers))
        self.hidden_gates = nn.ModuleList(_copied(lstm, "hh", layer) for layer in range(lstm.num_layers))

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        x = x.transpose(0, 1) if self.batch_first else x
        for layer in range(self.num_layers):
            gates_in = self.input_gates[layer](x)
            h = c = x.new_zeros(x.shape[1], self.hidden_size)
            outputs = []
            for t in range(x.shape[0]):
                i, f, g, o = (gates_in[t] + self.hidden_gates[layer](h)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            x = torch.stack(outputs)
        return (x.transpose(0, 1) if self.batch_first else x), None


def _copied(lstm: nn.LSTM, kind: str, layer: int) -> nn.Linear:
    weight, bias = getattr(lstm, f"weight_{kind}_l{layer}"), getattr(lstm, f"bias_{kind}_l{layer}")
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    return linear


class _JointGemm(_PerLayerSplit):
    """Per layer, one GEMM per step on ``[x_t, h]`` (input and hidden weights side by side), no input matmul up
    front. Unidirectional, batch-first, zero state."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__(lstm)
        self.joint = nn.ModuleList()
        for into, hidden_gates in zip(self.input_gates, self.hidden_gates, strict=True):
            joint = nn.Linear(into.in_features + hidden_gates.in_features, into.out_features)
            with torch.no_grad():
                joint.weight.copy_(torch.cat([into.weight, hidden_gates.weight], dim=1))
                joint.bias.copy_(into.bias + hidden_gates.bias)
            self.joint.append(joint)
        del self.input_gates, self.hidden_gates

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        batch, steps = x.shape[0], x.shape[1]
        x = x.transpose(0, 1)
        for layer in range(self.num_layers):
            h = c = x.new_zeros(batch, self.hidden_size)
            outputs = []
            for t in range(steps):
                i, f, g, o = self.joint[layer](torch.cat([x[t], h], dim=-1)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            x = torch.stack(outputs)
        return x.transpose(0, 1), None


class _BlockWavefront(WavefrontLSTM):
    """The wavefront with one GEMM per wave for both layers: ``[[W_hh0, 0], [W_ih1, W_hh1]]``, a zero block.
    Two layers, batch-first, zero state."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__(lstm)
        if self.num_layers != 2:
            raise ValueError("the block wavefront is written for two layers")
        hidden = self.hidden_size
        self.block = nn.Linear(2 * hidden, 8 * hidden)
        with torch.no_grad():
            self.block.weight.zero_()
            self.block.bias.zero_()
            self.block.weight[:4 * hidden, :hidden] = self.hidden_gates.weight
            self.block.weight[4 * hidden:] = self.layer_gates[0].weight
            self.block.bias[4 * hidden:] = self.layer_gates[0].bias
        del self.hidden_gates, self.layer_gates

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, (batch, steps) = self.hidden_size, x.shape[:2]
        inputs = self.input_gates(x)
        first = inputs[:, 0:1]
        sig, cell = torch.sigmoid(first[..., :3 * hidden]), torch.tanh(first[..., 3 * hidden:])
        c = sig[..., :hidden] * cell
        h = sig[..., 2 * hidden:] * torch.tanh(c)
        h, c = torch.cat([h, torch.zeros_like(h)], dim=-1), torch.cat([c, torch.zeros_like(c)], dim=1)
        outputs = []
        for wave in range(1, steps + 1):
            gates = self.block(h).reshape(batch, 2, 4 * hidden)
            if wave < steps:
                gates = gates + torch.cat([inputs[:, wave:wave + 1], torch.zeros_like(first)], dim=1)
            sig, cell = torch.sigmoid(gates[..., :3 * hidden]), torch.tanh(gates[..., 3 * hidden:])
            c = sig[..., hidden:2 * hidden] * c + sig[..., :hidden] * cell
            both = sig[..., 2 * hidden:] * torch.tanh(c)
            outputs.append(both[:, 1:2])
            h = both.reshape(batch, 1, 2 * hidden)
        return torch.cat(outputs, dim=1), None


class _GemmsOnly(WavefrontLSTM):
    """A probe, not an LSTM: the wavefront's GEMMs, their dynamic quantization and its state plumbing, with the
    cell's gate math replaced by two slices."""

    def _cell(self, gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return gates[..., :self.hidden_size], gates[..., self.hidden_size:2 * self.hidden_size]


@dataclass(frozen=True)
class Lowering:
    name: str
    description: str
    rewrite: Callable[[nn.LSTM], nn.Module] | None  # None: ONNX Runtime, or the model as it is
    precision: str = "int8"
    probe: bool = False  # not an LSTM: timed to see where the time goes, not scored


LOWERINGS = (
    Lowering("per layer", "edgeq until December 2026: one layer at a time; per step a GEMM, an add, a split into "
             "the four gates, three sigmoids and two tanh", _PerLayerSplit),
    Lowering("per layer, fused gates", "edgeq today above 128 hidden units or bidirectional (`LinearLSTM`): gate "
             "rows reordered (i, f, o, g), one sigmoid and one tanh per step; slices instead of split/select; both "
             "biases in the input matmul; no hidden GEMM on the first step", LinearLSTM),
    Lowering("joint GEMM", "one GEMM per step on `[x_t, h]` instead of an input matmul up front plus a hidden GEMM",
             _JointGemm),
    Lowering(SHIPPED, "edgeq today up to 128 hidden units, unidirectional (`WavefrontLSTM`): layer l does step t "
             "in wave t + l, one GEMM per layer per wave, one set of gate operators for both layers; 9 waves instead "
             "of 16 steps", WavefrontLSTM),
    Lowering("wavefront, one GEMM", "both layers in one GEMM per wave, `[[W_hh0, 0], [W_ih1, W_hh1]]` "
             "(a zero block: a third more hidden weights)", _BlockWavefront),
    Lowering("wavefront GEMMs only", "probe, not an LSTM: the wavefront with its gate math removed", _GemmsOnly,
             probe=True),
    Lowering("executorch fp32", "the model as it is (`aten.lstm` decomposed by ExecuTorch), fp32", None, "fp32"),
    Lowering(BASELINE, "ONNX `LSTM` quantized by `quantize_dynamic`: `DynamicQuantizeLSTM`, one fused kernel per "
             "layer", None),
    Lowering("onnxruntime fp32", "ONNX `LSTM`, fp32", None, "fp32"),
)


def _with(model: nn.Module, rewrite: Callable[[nn.LSTM], nn.Module]) -> nn.Module:
    rewritten = copy.deepcopy(model)
    rewritten.lstm = rewrite(rewritten.lstm)
    return rewritten


def _build(lowering: Lowering, loaded: Any, scratch: Path, cache: ArtifactCache) -> Timed:
    started = time.monotonic()
    row: dict[str, Any] = {"name": lowering.name, "description": lowering.description,
                           "precision": lowering.precision, "probe": lowering.probe}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if lowering.name.startswith("onnxruntime"):
            onnx = build_onnx(loaded, loaded.model, "dynamic" if lowering.precision == "int8" else "none", cache)
            path, fmt = onnx.path, "onnx"
        else:
            model = loaded.model if lowering.rewrite is None else _with(loaded.model, lowering.rewrite)
            if lowering.precision == "int8":
                model = quantize_pt2e(model, loaded.example_inputs, loaded.calibration, _DYNAMIC).model
            path, fmt = scratch / f"{len(list(scratch.glob('*.pte')))}.pte", "pte"
            info = write_pte(model, loaded.example_inputs, path)
            row.update(xnnpack_subgraphs=info["delegated_subgraphs"], delegated_nodes=info["delegated_nodes"],
                       nodes_outside=info["non_delegated_nodes"], ops_outside=info["ops_outside_backend"])
    row.update(build_s=round(time.monotonic() - started, 1), size_bytes=path.stat().st_size)
    return Timed(row, path, fmt, check=not lowering.probe)


def _warm_up(scratch: Path) -> None:
    """One small quantize-and-lower first, so the first lowering's build time is not also the imports' and caches'."""
    model, example = nn.Sequential(nn.Linear(8, 8)).eval(), (torch.randn(1, 8),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_pte(quantize_pt2e(model, example, [example], _DYNAMIC).model, example, scratch / "warm-up.pte")


def measure(runs: int, warmup: int, processes: int, console: Console) -> dict[str, Any]:
    """Build every lowering, time them all in ``processes`` interleaved rounds, and score them on the held-out set."""
    started = time.monotonic()
    loaded = load_model("zoo:digits-lstm")
    loaded.model.eval()
    checks = check_set(loaded)
    reference = reference_outputs(loaded.model, checks.inputs)
    with tempfile.TemporaryDirectory(prefix="edgeq-lstm-") as scratch_name:
        scratch = Path(scratch_name)
        _warm_up(scratch)
        torch.save(loaded.example_inputs, scratch / "inputs.pt")
        torch.save(checks.inputs, scratch / "check.pt")
        cache = ArtifactCache(scratch / "onnx")
        built = []
        for lowering in LOWERINGS:
            console.log(f"building {lowering.name}")
            built.append(_build(lowering, loaded, scratch, cache))
        outputs = time_in_rounds(built, inputs=scratch / "inputs.pt", check_inputs=scratch / "check.pt",
                                 spec=BenchSpec(runs=runs, warmup=warmup, threads=1), processes=processes,
                                 scratch=scratch, say=console.log)
    for index, check_outputs in outputs.items():
        built[index].row["accuracy"] = score(loaded, checks, reference, check_outputs)
    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "versions": versions(), "settings": {"runs": runs, "warmup": warmup, "processes": processes, "threads": 1},
            "model": "digits-lstm", "check": checks.description, "shipped": SHIPPED, "baseline": BASELINE,
            "wall_s": round(time.monotonic() - started, 1), "lowerings": [timed.row for timed in built]}


def _pooled(row: dict[str, Any]) -> list[float]:
    return [value for process in row["latencies_ms"] for value in process]


@click.command()
@rounds_options(DEFAULTS, RESULTS)
def main(runs: int, warmup: int, processes: int, out: Path) -> None:
    """Time zoo:digits-lstm's int8 LSTM lowered several ways, and ONNX Runtime's, on this machine."""
    console = Console(stderr=True, highlight=False, log_path=False)
    document = measure(runs, warmup, processes, console)
    write_results(document, out)
    baseline = next(row for row in document["lowerings"] if row["name"] == BASELINE)
    for row in document["lowerings"]:
        versus = compare_samples(_pooled(row), _pooled(baseline))
        console.log(f"{row['name']:<24} p50 {row['latency_ms']['p50']:.4f} ms  build {row['build_s']:5.1f} s  "
                    f"{row['size_bytes'] / 1e3:7.1f} kB  vs {BASELINE} {versus.speedup:.2f}× {versus.verdict}")
    console.log(f"wrote {out}")


if __name__ == "__main__":
    main()
