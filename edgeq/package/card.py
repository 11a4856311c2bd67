"""The model card: the manifest told to a person — what ships, how accurate and fast it is, and where
each number was measured."""

from __future__ import annotations

from typing import Any

from edgeq.units import human_bytes


def model_card(manifest: dict[str, Any]) -> str:
    release = manifest["release"]
    lines = [f"# {release['name']} {release['version']}", ""]
    if release.get("description"):
        lines += [release["description"], ""]
    tools = manifest["toolchain"]
    lines += [f"Built with edgeq {tools['edgeq']}, torch {tools['torch']}, executorch {tools['executorch']}, "
              f"torchao {tools['torchao']} (Python {tools['python']}). Check it with `edgeq verify` or, without edgeq, "
              "`sha256sum -c SHA256SUMS` and `model_signing verify key` (see docs/release.md).", ""]
    for model in manifest["models"]:
        lines += _model(model)
    return "\n".join(lines).rstrip() + "\n"


def _model(model: dict[str, Any]) -> list[str]:
    lines = [f"## {model['name']}", "", f"Source: `{model['source']}` (weights sha256 `{model['weights_sha256'][:16]}…`)."]
    if model.get("description"):
        lines += ["", model["description"]]
    first = model["targets"][0]
    metric, unit = first["accuracy"]["metric"], first["accuracy"]["unit"]
    lines += ["", "### Inputs and outputs", ""]
    lines += [f"- input {i}: `{spec['dtype']}` {spec['shape']}" for i, spec in enumerate(first["inputs"])]
    lines += [f"- output {i}: `{spec['dtype']}` {spec['shape']}" for i, spec in enumerate(first["outputs"])]
    lines += ["", "### Per target", "",
              f"| target | ships | format | size | ×fp32 size | {metric} fp32 | {metric} shipped | drop | p50 fp32 | p50 shipped | measured on |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target in model["targets"]:
        accuracy, evidence = target["accuracy"], target["evidence"]
        on = evidence["measured_on"]
        where = f"lab device {on['device']} ({on['arch']}), {evidence['measured_at']}" if on["where"] == "lab" else (
            f"packaging host, {on['arch']}, {on['threads']} thread(s), {evidence['measured_at']}")
        lines.append(
            f"| {target['profile']['name']} | {target['variant']} | .{target['format']} | {human_bytes(target['size_bytes'])} "
            f"| {target['size_bytes'] / target['fp32']['size_bytes']:.2f} | {_value(accuracy['fp32'], unit)} "
            f"| {_value(accuracy['shipped'], unit)} | {_value(accuracy['drop'], unit)} "
            f"| {_latency(target['fp32']['evidence'])} | {_latency(evidence)} | {where} |")
    lines += ["", f"Accuracy ({metric}) was measured on the packaging host on {first['accuracy']['samples']} samples, "
              "fp32 and the shipped artifact on the same inputs.", "", "### Quantization choices", ""]
    for target in model["targets"]:
        q = target["quantization"]
        settings = f"engine {q['engine']}, flow {q['flow']}" + (f", observer {q['observer']}" if q["scheme"] == "static" else "")
        if q.get("float_layers"):
            settings += f", kept fp32: {', '.join(q['float_layers'])}"
        lines.append(f"- **{target['profile']['name']}**: {target['variant']} ({settings}). Why: {q['why']}.")
    limits = list(model.get("limits", []))
    for target in model["targets"]:
        note = target["evidence"].get("note")
        if note:
            limits.append(f"{target['profile']['name']}: latency {note}")
        if target["scheme"] == "none" and target["quantization"].get("search"):
            limits.append(f"{target['profile']['name']}: ships fp32 — {target['quantization']['why']}")
    lines += ["", "### Known limits", ""]
    lines += [f"- {limit}" for limit in limits] or ["- none recorded"]
    return lines + [""]


def _latency(evidence: dict[str, Any]) -> str:
    latency = evidence["latency_ms"]
    return f"{latency['p50']:.3f} ms (cv {latency['cv']:.0%})"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if unit == "points" else f"{value:.4f}"
