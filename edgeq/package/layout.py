"""What a bundle folder holds and where: the file names, the manifest and the checksum list.

```
NAME-VERSION/
  manifest.json                 what everything is (below), every other file's sha256 and size
  MODEL_CARD.md                 for people
  SHA256SUMS                    every file but itself, for `sha256sum -c`
  runner/edgeq_runner.py        the device-side runner (standard library + torch or the ExecuTorch runtime)
  models/MODEL/TARGET/model.pte the artifact that ships for that target (.pte or .ptl)
  models/MODEL/TARGET/inputs.pt             example inputs, what the runner times
  models/MODEL/TARGET/reference-inputs.pt   inputs to check the artifact on
  models/MODEL/TARGET/reference-outputs.pt  the artifact's outputs on them, as recorded when packaged
```

A language model's target holds its program alone: its reference (a prompt's token ids and the greedy tokens the
program generated for it) is in the manifest. Beside its targets, the model's tokenizer
(``models/MODEL/tokenizer.json``), and beside the runner, the LLM runner (``runner/edgeq_llm_runner.py``).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from edgeq.digest import file_sha256
from edgeq.profiles import DeviceProfile

FORMAT = "edgeq-release/1"
MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"
SUMS = "SHA256SUMS"
RUNNER = "runner/edgeq_runner.py"
LLM_RUNNER = "runner/edgeq_llm_runner.py"  # in a bundle that holds a language model
_DIGITS = 6


def runner_source() -> Path:
    from edgeq._resources import resource_dir
    from edgeq.bench import RUNNER_NAME

    return resource_dir("runners") / RUNNER_NAME


def llm_runner_source() -> Path:
    from edgeq.llm.bench import runner_path

    return runner_path()


def target_dir(model: str, target: str) -> str:
    return f"models/{model}/{target}"


def artifact_path(model: str, target: str, fmt: str) -> str:
    return f"{target_dir(model, target)}/model.{fmt}"


def tokenizer_path(model: str, source: Path) -> str:
    """A language model's tokenizer, under its own file name, beside the model's targets (one for all of them)."""
    return f"models/{model}/{source.name}"


def rounded(value: float | int | None) -> float | int | None:
    """Floats to 6 significant digits: what a manifest says must not hinge on the last bit of a sum."""
    if value is None or isinstance(value, (bool, int)):
        return value
    return float(f"{value:.{_DIGITS}g}")


def source_hashes(loaded: Any) -> dict[str, str]:
    """The model's source file (for file.py and .pt2 sources) and its weights and structure, hashed."""
    from edgeq.export.cache import model_digest

    kind, _, rest = loaded.fingerprint.partition(":")
    source = rest.split(":", 1)[0] if kind in ("file", "pt2") else hashlib.sha256(loaded.fingerprint.encode()).hexdigest()
    return {"source_sha256": source, "weights_sha256": model_digest(loaded.model)}


def profile_facts(profile: DeviceProfile) -> dict[str, Any]:
    """The profile the target was built for, without where its TOML lives on this machine. For ``host``
    (detected at run time) only what decides the artifacts: the CPU model and its flags would make two
    packaging machines of one kind write different manifests."""
    facts = {"name": profile.name, "arch": profile.arch, "engine": profile.engine, "formats": list(profile.formats),
             "runtime": profile.runtime, "transport": profile.transport, "description": profile.description}
    if profile.name != "host":
        facts.update(isa=list(profile.isa), cpu=profile.cpu)
    return facts


def write_references(folder: Path, entry: Any, target: str, loaded: Any, artifact: Any,
                     count: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The runner's timing inputs and the reference inputs with the artifact's own outputs on them:
    (their paths in the bundle, the outputs' shapes and dtypes)."""
    import torch

    from edgeq.export.host_runtime import load_forward
    from edgeq.numerics import flatten_outputs

    base = folder / target_dir(entry.name, target)
    base.mkdir(parents=True, exist_ok=True)
    if entry.reference_inputs is not None:
        samples = [tuple(s) if isinstance(s, (list, tuple)) else (s,)
                   for s in torch.load(entry.reference_inputs, weights_only=True)]
    else:
        from edgeq.build import MAX_CHECK_SAMPLES
        from edgeq.inspection import check_samples

        samples = list(check_samples(loaded, MAX_CHECK_SAMPLES))
    samples = samples[:count]
    forward = load_forward(artifact.path, artifact.format, artifact.manifest.data.get("engine"))
    with torch.no_grad():
        outputs = [[t.detach().clone() for t in flatten_outputs(forward(*sample))] for sample in samples]
    names = {"inputs": "inputs.pt", "reference_inputs": "reference-inputs.pt", "reference_outputs": "reference-outputs.pt"}
    torch.save(tuple(loaded.example_inputs), base / names["inputs"])
    torch.save(samples, base / names["reference_inputs"])
    torch.save(outputs, base / names["reference_outputs"])
    from edgeq.export.manifest import tensor_specs

    return ({key: f"{target_dir(entry.name, target)}/{name}" for key, name in names.items()},
            tensor_specs(outputs[0]) if outputs else [])


def manifest(config: Any, models: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    from edgeq.export.manifest import toolchain_versions
    from edgeq.package.archive import source_date_epoch

    return {
        "format": FORMAT,
        "release": {"name": config.name, "version": config.version, "description": config.description},
        "source_date_epoch": source_date_epoch(),
        "toolchain": {**toolchain_versions(), "python": ".".join(platform.python_version_tuple()[:2])},
        "runner": {"path": RUNNER, "sha256": file_sha256(folder / RUNNER)},
        **({"llm_runner": {"path": LLM_RUNNER, "sha256": file_sha256(folder / LLM_RUNNER)}}
           if (folder / LLM_RUNNER).is_file() else {}),
        "determinism": {
            "pte": "byte-stable: the same model, inputs, spec and toolchain give the same bytes",
            "ptl": "byte-stable once edgeq drops TorchScript's *.debug_pkl records, which hold the absolute paths "
                   "of the Python files the model was traced through; the lite interpreter does not read them",
            "signature": "not reproducible: ECDSA signatures are randomized, so the signature is a separate file",
        },
        "models": models,
        "files": [{"path": path, "sha256": file_sha256(folder / path), "size_bytes": (folder / path).stat().st_size}
                  for path in _payload(folder)],
    }


def _payload(folder: Path) -> list[str]:
    """Every file the manifest lists: all but the manifest itself, the card and SHA256SUMS (which list it)."""
    return [path for path in all_files(folder) if path not in (MANIFEST, CARD, SUMS)]


def all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                   encoding="utf-8")


def write_sha256sums(folder: Path) -> None:
    lines = [f"{file_sha256(folder / path)}  {path}\n" for path in all_files(folder) if path != SUMS]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")


def read_sha256sums(path: Path) -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256}; raises ``ValueError`` on a line ``sha256sum -c`` would reject."""
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ValueError(f"{path.name} line {number} is not 'SHA256  PATH'")
        found[name] = digest
    return found
