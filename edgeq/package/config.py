"""The release config: what a bundle holds, read from TOML and validated before anything is built.

```toml
[release]
name = "digits"
version = "1.2.0"
description = "Handwritten digit classifiers"   # optional, for the model card
store = "lab.db"                                 # optional: a lab store whose measurements of the exact
                                                 # artifacts give the latencies (path or database URL)
measurements = "digits.measurements.json"        # optional: where host measurements are kept between runs
                                                 # [default: NAME-OF-THIS-FILE.measurements.json beside it]
runs = 30                                        # timed runs when an artifact is measured on the host

[[models]]
source = "zoo:digits-cnn"                        # zoo:NAME, path/file.py:factory (relative to this file), .pt2
targets = ["host", "rpi5"]                       # device profiles: names or .toml paths
scheme = "static"                                # none | dynamic | static | qat | fp16 | auto (language
                                                 # models: none | auto | 8da8w | 8da4w | … edgeq.llm.export.SCHEMES)
max_drop = 0.5                                   # the budget (auto: what it searches for; else: a check)
format = "pte"                                   # optional: pte | ptl [default: each target's first]
metric = "accuracy"                              # optional: what max_drop measures
reference_inputs = "samples.pt"                  # optional: torch.save'd list of input tuples
limits = ["trained on 8x8 digits only"]          # optional: known limits, for the model card
new_tokens = 32                                  # optional, language models: tokens each generation makes
tokenizer = "tokenizer.json"                     # optional, language models: the tokenizer file to ship
                                                 # [default: the model's own, e.g. a zoo model's]
```

Whether a model is a language model is known once it is loaded; what applies only to one kind is checked then
(``edgeq.package.assemble``), still naming this file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.errors import ConfigError
from edgeq.metrics import METRICS
from edgeq.profiles import FORMATS
from edgeq.quantize.spec import LANGUAGE_MODEL_SCHEMES, RUN_SCHEME_CHOICES

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_RELEASE_KEYS = {"name", "version", "description", "store", "measurements", "runs", "reference_samples"}
_MODEL_KEYS = {"source", "targets", "scheme", "max_drop", "format", "metric", "name", "description",
               "reference_inputs", "limits", "new_tokens", "tokenizer"}


@dataclass(frozen=True)
class ModelEntry:
    """One ``[[models]]`` table: a model and the targets it ships for."""

    source: str
    targets: tuple[str, ...]
    name: str
    scheme: str = "auto"
    max_drop: float | None = None
    format: str | None = None
    metric: str | None = None
    description: str = ""
    reference_inputs: Path | None = None
    limits: tuple[str, ...] = ()
    new_tokens: int | None = None  # a language model's tokens per generation [default: LlmSettings']
    tokenizer: Path | None = None  # a language model's tokenizer file [default: the loaded model's]


@dataclass(frozen=True)
class ReleaseConfig:
    """A whole ``release.toml``; paths in it are resolved against its folder."""

    path: Path
    name: str
    version: str
    models: tuple[ModelEntry, ...]
    description: str = ""
    store: str | None = None
    measurements: Path | None = None
    runs: int = 30
    reference_samples: int = 16

    @property
    def bundle_name(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def measurements_path(self) -> Path:
        return self.measurements or self.path.with_name(f"{self.path.stem}.measurements.json")


def load_config(path: Path) -> ReleaseConfig:
    """Read and check ``path``; every problem is a ``ConfigError`` naming the file, the key and the fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"release config {path} does not exist",
                          hint="write one: see docs/release.md (a [release] table and [[models]] tables)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"release", "models"})
    if unknown:
        raise ConfigError(f"{path}: unknown table {unknown[0]!r}", hint="a release config has [release] and [[models]]")
    release = data.get("release")
    if not isinstance(release, dict):
        raise ConfigError(f"{path}: no [release] table", hint='add [release] with name = "…" and version = "…"')
    _no_unknown(path, "[release]", release, _RELEASE_KEYS)
    name = _label(path, "[release]", release, "name")
    version = _label(path, "[release]", release, "version")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: no [[models]]", hint='add [[models]] with source = "zoo:…" and targets = ["host"]')
    entries = tuple(_model(path, index, table) for index, table in enumerate(models))
    names = [entry.name for entry in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: two [[models]] are named {twice[0]!r}",
                          hint="give one of them its own name = \"…\" (it names the bundle's folder)")
    store = release.get("store")
    if store is not None and (not isinstance(store, str) or not store):
        raise ConfigError(f"{path}: [release]: key 'store' must be a path or a database URL, got {store!r}")
    if store is not None and "://" not in store and not store.startswith("sqlite:"):
        store = str((path.parent / store).resolve())
    measurements = release.get("measurements")
    if measurements is not None and (not isinstance(measurements, str) or not measurements):
        raise ConfigError(f"{path}: [release]: key 'measurements' must be a file path, got {measurements!r}")
    return ReleaseConfig(
        path=path, name=name, version=version, models=entries,
        description=_text(path, "[release]", release, "description"), store=store,
        measurements=path.parent / measurements if measurements else None,
        runs=_count(path, "[release]", release, "runs", 30, 3),
        reference_samples=_count(path, "[release]", release, "reference_samples", 16, 1))


def _model(path: Path, index: int, table: Any) -> ModelEntry:
    where = f"[[models]] #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table", hint="write it as [[models]] followed by its keys")
    _no_unknown(path, where, table, _MODEL_KEYS)
    source = table.get("source")
    if not isinstance(source, str) or not source:
        raise ConfigError(f"{path}: {where}: key 'source' is required",
                          hint='e.g. source = "zoo:digits-cnn" or "models/net.py:make_model"')
    where = f"{where} ({source})"
    targets = table.get("targets")
    if (not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets)):
        raise ConfigError(f"{path}: {where}: key 'targets' must list device profiles",
                          hint='e.g. targets = ["host", "rpi5"] (edgeq profiles list shows them)')
    if len(set(targets)) != len(targets):
        raise ConfigError(f"{path}: {where}: key 'targets' names a profile twice")
    scheme = table.get("scheme", "auto")
    if scheme not in RUN_SCHEME_CHOICES:
        raise ConfigError(f"{path}: {where}: key 'scheme' is {scheme!r}",
                          hint=f"use one of: {', '.join(RUN_SCHEME_CHOICES)} ({', '.join(LANGUAGE_MODEL_SCHEMES)} for "
                               "language models)")
    max_drop = table.get("max_drop")
    if max_drop is not None and (isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or max_drop < 0):
        raise ConfigError(f"{path}: {where}: key 'max_drop' must be a number ≥ 0, got {max_drop!r}",
                          hint="points of accuracy (or of top-1 agreement); absolute for cosine")
    fmt = table.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"{path}: {where}: key 'format' is {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    metric = table.get("metric")
    if metric is not None and metric not in METRICS:
        raise ConfigError(f"{path}: {where}: key 'metric' is {metric!r}", hint=f"use one of: {', '.join(METRICS)}")
    name = table.get("name", _default_name(source))
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{path}: {where}: key 'name' is {name!r}: it names a folder in the bundle",
                          hint="use letters, digits, '.', '_', '+' or '-' (at most 64)")
    reference = table.get("reference_inputs")
    if reference is not None and (not isinstance(reference, str) or not (path.parent / reference).is_file()):
        raise ConfigError(f"{path}: {where}: key 'reference_inputs' must name an existing file, got {reference!r}",
                          hint="torch.save a list of input tuples, relative to the config's folder")
    limits = table.get("limits", [])
    if not isinstance(limits, list) or not all(isinstance(item, str) for item in limits):
        raise ConfigError(f"{path}: {where}: key 'limits' must be a list of sentences")
    tokenizer = table.get("tokenizer")
    if tokenizer is not None and (not isinstance(tokenizer, str) or not (path.parent / tokenizer).is_file()):
        raise ConfigError(f"{path}: {where}: key 'tokenizer' must name an existing file, got {tokenizer!r}",
                          hint="the language model's tokenizer (e.g. tokenizer.json), relative to the config's folder")
    new_tokens = _count(path, where, table, "new_tokens", None, 2) if "new_tokens" in table else None
    return ModelEntry(source=_resolve_source(path, source), targets=tuple(targets), name=name, scheme=scheme,
                      max_drop=None if max_drop is None else float(max_drop), format=fmt, metric=metric,
                      description=_text(path, where, table, "description"),
                      reference_inputs=path.parent / reference if reference else None, limits=tuple(limits),
                      new_tokens=new_tokens, tokenizer=path.parent / tokenizer if tokenizer else None)


def _resolve_source(path: Path, source: str) -> str:
    """A file source is relative to the config's folder (so the release builds from anywhere)."""
    if source.startswith("zoo:"):
        return source
    file, sep, factory = source.rpartition(":") if not source.endswith(".pt2") else (source, "", "")
    candidate = path.parent / file
    if not Path(file).is_absolute() and candidate.exists():
        return f"{candidate}{sep}{factory}"
    return source


def _default_name(source: str) -> str:
    """zoo:digits-cnn → digits-cnn; models/net.py:make_model → net; model.pt2 → model."""
    if source.startswith("zoo:"):
        return source[4:]
    return Path(source.rpartition(":")[0] if ".py:" in source else source).stem


def _no_unknown(path: Path, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key {unknown[0]!r}", hint=f"allowed keys: {', '.join(sorted(allowed))}")


def _label(path: Path, where: str, table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if value is None:
        raise ConfigError(f"{path}: {where}: key {key!r} is required", hint=f'e.g. {key} = "{"1.2.0" if key == "version" else "digits"}"')
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(f"{path}: {where}: key {key!r} is {value!r}: it names the bundle file",
                          hint="use letters, digits, '.', '_', '+' or '-' (at most 64), starting with a letter or digit")
    return value


def _text(path: Path, where: str, table: dict[str, Any], key: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {where}: key {key!r} must be text, got {value!r}")
    return value


def _count(path: Path, where: str, table: dict[str, Any], key: str, default: int | None, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{path}: {where}: key {key!r} must be a whole number ≥ {minimum}, got {value!r}")
    return value
