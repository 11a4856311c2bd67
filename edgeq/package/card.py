"""The model card: the manifest told to a person — what ships, how accurate and fast it is, and where
each number was measured. A language model's card says how fast it decodes (tokens per second) and how often its
greedy next-token choices are fp32's, where another model's says milliseconds and accuracy."""

from __future__ import annotations

from typing import Any

from edgeq.llm.task import CAUSAL_LM
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


def _heading(model: dict[str, Any]) -> list[str]:
    lines = [f"## {model['name']}", "", f"Source: `{model['source']}` (weights sha256 `{model['weights_sha256'][:16]}…`)."]
    if model.get("description"):
        lines += ["", model["description"]]
    return lines


def _model(model: dict[str, Any]) -> list[str]:
    if model.get("task") == CAUSAL_LM:
        return _language_model(model)
    lines = _heading(model)
    first = model["targets"][0]
    metric, unit = first["accuracy"]["metric"], first["accuracy"]["unit"]
    lines += ["", "### Inputs and outputs", ""]
    lines += [f"- input {i}: `{spec['dtype']}` {spec['shape']}" for i, spec in enumerate(first["inputs"])]
    lines += [f"- output {i}: `{spec['dtype']}` {spec['shape']}" for i, spec in enumerate(first["outputs"])]
    lines += ["", "### Per target", "",
              f"| target | ships | runs on | size | ×fp32 size | {metric} fp32 | {metric} shipped | drop | p50 fp32 "
              "| p50 shipped | measured on |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target in model["targets"]:
        accuracy, name = target["accuracy"], target["profile"]["name"]
        where = _measured_on(target["evidence"], name)
        fp32_where = _measured_on(target["fp32"]["evidence"], name)
        if fp32_where != where:
            where += f"; fp32: {fp32_where}"
        lines.append(
            f"| {name} | {target['variant']} .{target['format']} | {runtime(target)} | {human_bytes(target['size_bytes'])} "
            f"| {target['size_bytes'] / target['fp32']['size_bytes']:.2f} | {_value(accuracy['fp32'], unit)} "
            f"| {_value(accuracy['shipped'], unit)} | {_value(accuracy['drop'], unit)} "
            f"| {_latency(target['fp32']['evidence'])} | {_latency(target['evidence'])} | {where} |")
    lines += ["", f"Accuracy ({metric}) was measured on the packaging host on {first['accuracy']['samples']} samples, "
              "fp32 and the shipped artifact on the same inputs."]
    return lines + _choices_and_limits(model)


def _language_model(model: dict[str, Any]) -> list[str]:
    """A language model: prompt in, tokens out; per target its decode speed and its greedy agreement with fp32."""
    lines = _heading(model)
    first = model["targets"][0]
    agreement, reference = first["agreement"], first["reference"]
    lines += ["", "### Inputs and outputs", "",
              f"- a causal language model: token ids in, made with its tokenizer `{model['tokenizer']['path']}`; the "
              f"next token's logits out, one call per token through a KV cache of "
              f"{first['quantization']['max_context']} positions (prompt and generated tokens)",
              f"- reference: a prompt of {len(reference['prompt'])} tokens and the {reference['new_tokens']} tokens the "
              "shipped program generated for it greedily when packaged; `edgeq verify` generates them again",
              "", "### Per target", "",
              "| target | ships | runs on | size | ×fp32 size | greedy agreement fp32 | greedy agreement shipped | KL "
              "| decode fp32 | decode shipped | first token | measured on |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for target in model["targets"]:
        name, vs_fp32 = target["profile"]["name"], target["agreement"]["vs_eager_fp32"]
        where = _measured_on(target["evidence"], name)
        fp32_where = _measured_on(target["fp32"]["evidence"], name)
        if fp32_where != where:
            where += f"; fp32: {fp32_where}"
        first_token = target["evidence"].get("first_token_ms")
        first_token_p50 = "—" if first_token is None else f"{first_token['p50']:.2f} ms"
        lines.append(
            f"| {name} | {target['variant']} .{target['format']} | {runtime(target)} | {human_bytes(target['size_bytes'])} "
            f"| {target['size_bytes'] / target['fp32']['size_bytes']:.2f} | {_percent(vs_fp32['fp32'])} "
            f"| {_percent(vs_fp32['shipped'])} | {vs_fp32['shipped'].get('kl_mean', 0):.3g} "
            f"| {_speed(target['fp32']['evidence'])} | {_speed(target['evidence'])} "
            f"| {first_token_p50} | {where} |")
    budget = (f"at most {_value(agreement['max_drop'], agreement['unit'])} {'points ' if agreement['unit'] == 'points' else ''}"
              f"of {agreement['metric']} below fp32's")
    lines += ["", f"Agreement was measured on the packaging host over {agreement['positions']} positions of "
              f"{agreement['prompts']} prompt(s), each fed one token at a time: greedy agreement is the share of positions "
              "whose most likely next token is the eager fp32 model's, KL the mean divergence of the next-token "
              f"distribution from it (nats). The budget: {budget}. Decode speed is 1000 over the median time of one "
              "decode call; first token is the whole prompt in one call to the first new token."]
    return lines + _choices_and_limits(model)


def _choices_and_limits(model: dict[str, Any]) -> list[str]:
    lines = ["", "### Quantization choices", ""]
    for target in model["targets"]:
        lines.append(f"- **{target['profile']['name']}**: {target['variant']}, {_settings(target)}. "
                     f"{_capitalized(_how_chosen(target))}. Why: {target['quantization']['why']}.")
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


def runtime(target: dict[str, Any]) -> str:
    """What runs the artifact: the ExecuTorch backend of a .pte, the torch.ao engine of a .ptl."""
    if target["format"] == "pte":
        backend = str((target["quantization"].get("backend") or {}).get("backend") or "xnnpack")
        return f"ExecuTorch, {'XNNPACK' if backend == 'xnnpack' else backend}"
    return f"lite interpreter, torch.ao {target['quantization']['engine']}"


def _settings(target: dict[str, Any]) -> str:
    q = target["quantization"]
    if target.get("task") == CAUSAL_LM:
        return (f"ExecuTorch's LLM export: {_llm_weights(q)}, KV cache of {q['max_context']} positions, lowered to "
                f"{runtime(target).split(', ', 1)[1]}")
    if target["format"] == "pte":
        settings = f"lowered to {runtime(target).split(', ', 1)[1]} (ExecuTorch)"
        if q["scheme"] != "none":
            settings += f", {q['scheme']} int8 through the {q['flow']} flow" if q["scheme"] != "fp16" else ", fp16 weights"
    else:
        settings = f"TorchScript lite interpreter, {q['scheme']} int8 for the torch.ao engine {q['engine']}" if q[
            "scheme"] != "none" else "TorchScript lite interpreter"
    if q["scheme"] in ("static", "qat"):
        settings += f", observer {q['observer']}"
    if q.get("float_layers"):
        settings += f", kept fp32: {', '.join(q['float_layers'])}"
    return settings


def _llm_weights(q: dict[str, Any]) -> str:
    """A language model's weights as the export quantized them: ``int4 weights in groups of 32, int8 dynamic
    activations, fp32 embedding table``."""
    if q["precision"] == "fp32":
        return "fp32 weights"
    grouping = f"in groups of {q['group_size']}" if q.get("group_size") else "per channel"
    bits, _, group = (q.get("embedding") or "").partition(",")
    embedding = ("fp32 embedding table" if not bits else
                 f"{bits}-bit embedding table " + (f"in groups of {group}" if group not in ("", "0") else "per row"))
    return f"{q['precision']} weights {grouping}, int8 dynamic activations, {embedding}"


def _measured_on(evidence: dict[str, Any], target: str) -> str:
    """The device (or the packaging host, standing in for ``target``) and the CPU a latency was measured on."""
    on = evidence["measured_on"]
    cpu = on.get("cpu") or "CPU not recorded"
    if on["where"] == "lab":
        return f"lab device {on['device']} ({cpu}, {on['arch']}), {evidence['measured_at']}"
    stand_in = "" if target == "host" else f", standing in for {target}"
    return f"packaging host ({cpu}, {on['arch']}, {on['threads']} thread(s)){stand_in}, {evidence['measured_at']}"


def choice_line(model: str, target: dict[str, Any]) -> str:
    """``MODEL/TARGET: VARIANT .FMT chosen …``: the package summary's line for a target."""
    return f"{model}/{target['profile']['name']}: {target['variant']} .{target['format']} {_how_chosen(target)}"


def _how_chosen(target: dict[str, Any]) -> str:
    """Whether what ships was chosen, and timed, on a device of the target's own profile or on the packaging host
    standing in for one."""
    made, name, on = target["choice"], target["profile"]["name"], target["evidence"]["measured_on"]
    if made["made_on"] == "lab":
        return f"chosen from lab measurements on {made['device']} ({made.get('cpu') or 'CPU not recorded'})"
    if made["made_on"] == "target":
        return "chosen and timed on this host, the target itself"
    cpu = on.get("cpu") or on["arch"]
    timed = (f"timed on lab device {on['device']} ({cpu})" if on["where"] == "lab"
             else f"timed on the packaging host ({cpu})" + ("" if name == "host" else f", standing in for {name}"))
    if made["made_on"] == "config":
        return f"as the config asks (scheme = \"{made['scheme']}\"), {timed}"
    return (f"chosen on a stand-in (the packaging host): the lab holds no measurement of these variants on a {name} "
            f"device; {timed}")


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _speed(evidence: dict[str, Any]) -> str:
    """A language model's decode speed, with the spread of its decode times."""
    return f"{evidence['decode_tokens_per_s']:.0f} tokens/s (cv {evidence['latency_ms']['cv']:.0%})"


def _percent(numbers: dict[str, Any]) -> str:
    value = numbers.get("greedy_agreement")
    return "—" if value is None else f"{100 * value:.2f} %"


def _latency(evidence: dict[str, Any]) -> str:
    latency = evidence["latency_ms"]
    return f"{latency['p50']:.3f} ms (cv {latency['cv']:.0%})"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if unit == "points" else f"{value:.4f}"
