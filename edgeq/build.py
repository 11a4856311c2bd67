"""The building half of a run: one model for one device profile.

A ``ModelBuild`` holds what does not depend on which device runs the artifacts: the model prepared
for tracing, the samples its outputs are checked on and the eager model's outputs for them (the
reference every artifact is compared with), and the artifacts themselves, built once per
``QuantSpec`` and cached by content. ``edgeq run`` measures them on one device; the lab on every
device of the profile (``edgeq.measure``, which takes the build's ``workload``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import BenchSpec
from edgeq.cache import cache_dir
from edgeq.errors import ConfigError, ModelError, summarize
from edgeq.export import Artifact, ArtifactCache, build_artifact
from edgeq.inspection import check_samples
from edgeq.measure import DeviceBench, Target, Workload
from edgeq.metrics import Metric, resolve_metric
from edgeq.models import LoadedModel
from edgeq.models.tracing import prepare_for_tracing
from edgeq.numerics import cannot_judge, flatten_outputs
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec, choose_scheme
from edgeq.quantize.embedding import quantizable_embeddings
from edgeq.quantize.spec import LANGUAGE_MODEL_SCHEMES

MAX_CHECK_SAMPLES = 512
_MAX_NATIVE_CHECK_SAMPLES = 128  # the native runner takes one process per sample


class ModelBuild:
    """A model's references and artifacts for one profile; the artifacts are shared by all its devices."""

    def __init__(self, loaded: LoadedModel, profile: DeviceProfile, *, observer: str = "histogram",
                 metric: str | None = None, int8_embeddings: bool = True,
                 say: Callable[[str], None] | None = None) -> None:
        self.loaded, self.profile, self.observer, self.int8_embeddings = loaded, profile, observer, int8_embeddings
        self.say = say or (lambda message: None)
        self.prepared = prepare_for_tracing(loaded.model, loaded.keywords)
        self.cache = ArtifactCache(cache_dir() / "artifacts")
        with torch.no_grad():
            try:
                example_outputs = flatten_outputs(self.prepared(*loaded.example_inputs))
            except Exception as exc:  # noqa: BLE001 - user model code
                raise ModelError(f"{loaded.name}: the model fails on its own example inputs: {summarize(exc)}",
                                 hint="check that the example inputs match forward()") from exc
        if not example_outputs:
            raise ModelError(f"{loaded.name}: the model returns no tensors")
        limit = MAX_CHECK_SAMPLES if loaded.eval_set or loaded.check_inputs else 32
        if profile.runtime == "executor_runner":
            limit = min(limit, _MAX_NATIVE_CHECK_SAMPLES)
        self.check_inputs = check_samples(loaded, limit)
        with torch.no_grad():
            self.reference = [flatten_outputs(self.prepared(*sample)) for sample in self.check_inputs]
        self.metric: Metric = resolve_metric(metric, loaded, self.reference)
        # a comparison with fp32's outputs that cannot tell variants apart on these samples, and why
        self.cannot_judge = None if self.metric.name == "accuracy" else cannot_judge(self.reference)
        self.embedding_tables = quantizable_embeddings(self.prepared)  # what an int8 .pte variant looks up in int8

    @property
    def judged_samples(self) -> int | None:
        """How many samples the budget's metric is measured on; None when the model's own evaluation function
        measures it (on data edgeq does not see)."""
        if self.metric.name == "accuracy" and self.loaded.eval_set is None:
            return None
        return len(self.check_inputs)

    def resolve(self, scheme: str) -> str:
        """A scheme as asked (``auto`` or a named one) → the one built; a language model's scheme is a
        ``ConfigError`` naming the schemes this model takes."""
        if scheme in LANGUAGE_MODEL_SCHEMES:
            raise ConfigError(f"{self.loaded.name} is not run as a language model: scheme {scheme!r} does not apply to it",
                              hint="use none, auto, dynamic, static, qat or fp16")
        return choose_scheme(self.prepared)[0] if scheme == "auto" else scheme

    def device_bench(self, target: Target, spec: BenchSpec, scratch: Path) -> DeviceBench:
        """This build's workload staged on a device, timed as ``spec`` says; every measurement kept as taken."""
        return DeviceBench(target, self.workload, spec, scratch, remeasure_noisy=False)

    def spec(self, scheme: str, fmt: str, **overrides: Any) -> QuantSpec:
        """The variant ``scheme`` in ``fmt`` for this profile's engine."""
        overrides.setdefault("int8_embeddings", self.int8_embeddings)
        return QuantSpec(scheme=scheme, engine=self.profile.engine, format=fmt, reduce_range=self.profile.reduce_range,
                         observer=self.observer, **overrides)

    def artifact(self, spec: QuantSpec) -> Artifact:
        """``spec``'s artifact, from the cache when this model was built that way before."""
        self.say(f"building {spec.label}")
        return build_artifact(self.loaded, self.prepared, spec, self.cache, self.profile.name, say=self.say)

    @property
    def workload(self) -> Workload:
        """What the measuring half runs this model's artifacts on: its example inputs, the check samples and the
        eager model's outputs on them."""
        return Workload(tuple(self.loaded.example_inputs), self.check_inputs, self.reference)

    def score(self, outputs: list[list[Any]], artifact: Artifact) -> tuple[dict[str, Any] | None, float | None]:
        """``(accuracy, quality)`` of an artifact from its outputs on the check samples: the accuracy on the model's
        evaluation set (or its evaluation function, run on the host), and the value the budget judges in this
        build's metric."""
        accuracy = self._accuracy(outputs, artifact)
        if self.metric.name == "accuracy":
            return accuracy, accuracy["value"] if accuracy else None
        if self.cannot_judge is not None or not outputs:
            return accuracy, None
        from edgeq import metrics

        return accuracy, metrics.score_outputs(self.metric, self.loaded, self.reference, outputs)

    def _accuracy(self, outputs: list[list[Any]], artifact: Artifact) -> dict[str, Any] | None:
        loaded = self.loaded
        if loaded.eval_set is not None and outputs:
            return {"metric": loaded.eval_set.metric, "value": loaded.eval_set.score(outputs), "samples": len(outputs)}
        if loaded.evaluator is not None:
            from edgeq.export.host_runtime import load_forward

            engine = artifact.manifest.data.get("engine")
            try:
                value = float(loaded.evaluator(load_forward(artifact.path, artifact.format, engine)))
            except Exception as exc:  # noqa: BLE001 - user evaluation code
                raise ModelError(f"{loaded.name}: the evaluation function raised {summarize(exc)}") from exc
            return {"metric": "user", "value": value, "evaluated_on": "host"}
        return None
